"""Every notebook of nbs/ runs (its checks are tests), and what its quick cells show is what is committed."""
import difflib
from pathlib import Path
import pytest
from notebook_outputs import REPO, execute, committed_outputs, text_of

NOTEBOOKS = sorted((REPO/'nbs').glob('*.ipynb'))


@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(path):
    fresh, saved = execute(path), committed_outputs(path)
    changed = []
    for i, (new, old) in enumerate(zip(fresh, saved)):
        a, b = text_of(old), text_of(new)
        if a != b: changed.append(f'cell {i}:\n' + '\n'.join(difflib.unified_diff(a.splitlines(), b.splitlines(), 'committed', 'fresh', lineterm='')))
    assert not changed, (f'{path.name}: outputs differ from the committed ones; if the change is meant, '
                         f'run `make outputs` and commit the notebook\n' + '\n'.join(changed)[:4000])
