# sermeta: the two commands of the README, and what they need.
PY ?= python3
SCALE ?= 0.1
# run records (checkpoints aside) are kept in git beside the reports made from them
RUNS ?= reports/runs

.PHONY: install reproduce test outputs docs check-sync

install:  ## the CPU build of torch first, so nothing pulls the CUDA one; then sermeta with its dev tools
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,ray]"

reproduce: install  ## the main job on the embedded synthetic corpus
	sermeta_reproduce --scale $(SCALE) --max_epochs 20 --patience 3 --runs $(RUNS)

test: install  ## the whole suite: every notebook runs (its checks, its committed outputs) and the tests/ files
	$(PY) -m pytest -q --durations=15 tests  # the slowest 15 printed: CI has 30 min on 2 cores

outputs: install  ## re-execute the notebooks and store what their quick cells show (commit the result)
	$(PY) tests/notebook_outputs.py

docs: install  ## the static site in _site/ (not committed): README, notebooks and reports as linked pages
	sermeta_site --out _site

check-sync:  ## notebooks are clean and sermeta/ is exactly what they export
	nbdev_clean --fname nbs
	nbdev_export
	git diff --exit-code --stat -- nbs sermeta || (echo "nbs/ and sermeta/ are out of sync: run nbdev_clean && nbdev_export and commit both"; exit 1)
