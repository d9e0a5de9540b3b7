"""Train a corpus's Table 2 runs on a GPU machine that has neither the audio nor openSMILE, from a features bundle.

A GPU machine lent for a few minutes has no corpus and cannot install openSMILE. So the features are extracted
where the audio is, written once to a bundle (the utterance table and `{utt_id: (frames, 32)}`), and the GPU
machine trains from it with the same run directories, configs and resumable folds as `sermeta_reproduce`
(its config.json is identical, so the runs pool with ones trained on the CPU and any unfinished fold resumes
on either). It also prints the dense-batch training and inference rates of the paper's model on that device.

    python bench/gpu_runs.py bundle --corpus emodb --root ../shared/data/emodb --out .dev/emodb.npz   # where the audio is
    python bench/gpu_runs.py train --bundle .dev/emodb.npz --seeds 3,4 --jobs 8 \
        --max_epochs 60 --patience 10 --runs reports/runs                                           # on the GPU machine
    python bench/gpu_runs.py train --bundle .dev/emodb.npz --seeds 0,1,3,4,5 --together --jobs 14 \
        --methods w_within_class,Lw_within_class --max_epochs 60 --patience 10 --runs reports/runs  # few methods: seeds in one grid
    python bench/gpu_runs.py sweep --bundle .dev/emodb.npz --seeds 0 --jobs 14 \
        --max_epochs 60 --patience 10 --runs reports/runs                                        # the sensitivity grid (sermeta_sweep)
    python bench/gpu_runs.py sweep --bundle .dev/emodb.npz --sweep confirmation --seeds 3,4,5 --jobs 14 \
        --max_epochs 60 --patience 10 --runs reports/runs                                        # its confirmation (reads the screen)

A bundle holds one front-end's features (`bundle --frontend egemaps`); `sweep --bundle a.npz,b.npz` trains every run of
the sweep whose front-end is in one of the bundles and names the runs it leaves out (a ComParE bundle of EmoDB is
47 MiB: with the repository it does not fit the 64 MiB a device call carries, so its runs stay on the CPU).
Each fold keeps its checkpoint (`checkpoint.pt`, 8-12 MB, ignored by git; `sermeta_predict` reads it): copy the run directories
back without them (`tar czf runs.tgz --exclude='*.pt' reports/runs/...`), 20 EmoDB runs are then about 2 MB.
"""
import argparse, io, os, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sermeta.methods import TABLE2_ROWS, get_method
from sermeta.reproduce import reproduce_config, train_seeds
from sermeta.config import resolve_device, config_flags, config_overrides
from sermeta.runs import read_record


def bundle(a):
    from sermeta.corpora import load_corpus
    from sermeta.features import extract_features
    table = load_corpus(a.corpus, a.root)
    feats = extract_features(table, cache_dir=a.cache_dir, frontend=a.frontend)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix('.tmp.npz')  # numpy arrays and the table as JSON: no pickle, so any numpy/pandas reads it
    np.savez(tmp, __corpus__=np.array(a.corpus), __table__=np.array(table.to_json(orient='table')),
             __frontend__=np.array(a.frontend), **{f'f/{u}': x for u, x in feats.items()})
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.frontend}, {len(table)} utterances, {sum(len(x) for x in feats.values())} frames, "
          f"{Path(a.out).stat().st_size / 2**20:.1f} MiB")


def load_bundle(path, with_frontend=False):
    "(table, features, corpus name[, front-end]) of a bundle (one without a front-end holds is09)."
    from sermeta.features import Features
    with np.load(path) as z:
        table = pd.read_json(io.StringIO(str(z['__table__'])), orient='table')
        feats = Features({u: z[f'f/{u}'] for u in table.utt_id})
        feats.frontend, corpus = str(z['__frontend__']) if '__frontend__' in z else 'is09', str(z['__corpus__'])
    return (table, feats, corpus) + ((feats.frontend,) if with_frontend else ())


def rates(device):
    "Dense 32 x 450 training and 64 x 450 inference frames/s, fp32 and bf16 (bench_train's ceilings)."
    from bench_train import dense_rate, inference_rate
    from sermeta.config import Config
    out = {}
    for bf16 in (False, True):
        cfg = Config(device=str(device), bf16=bf16)
        out['bf16' if bf16 else 'fp32'] = (dense_rate(cfg, device, steps=10), inference_rate(cfg, device, steps=10, bf16=bf16))
    return out


def fold_speed(runs):
    "Median seconds per network epoch and effective frames/s over the folds of `runs` (directories)."
    h = pd.concat([read_record(d, 'history') for r in runs for d in Path(r).glob('fold*/') if (d/'done').is_file()], ignore_index=True)
    return h.seconds_network.median(), h.seconds_lw[h.seconds_lw > 0].median(), h.frames_per_second.median(), len(h)


def train(a):
    dev = resolve_device(a.device or 'auto')
    print(f"device {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == 'cuda' else '')
          + f", torch {torch.__version__}, {os.cpu_count()} cores, {a.jobs} folds at once", flush=True)
    for k, (tr, inf) in rates(dev).items():
        print(f"dense batch, {k}: training {tr:,.0f} frames/s, inference {inf:,.0f} frames/s", flush=True)
    table, feats, corpus = load_bundle(a.bundle)
    methods = [get_method(m).name for m in (a.methods.split(',') if a.methods else TABLE2_ROWS) if get_method(m).model == 'blstm']
    # the config sermeta_reproduce writes (device 'auto' unless given), so these runs pool and resume with CPU-trained ones
    config = lambda seed: reproduce_config(seed=seed, **config_overrides(vars(a)))
    seeds = [int(s) for s in a.seeds.split(',')]
    # one seed at a time, so a run cut short leaves whole seeds; or, with --together, every seed in one grid, which keeps
    # all workers busy when there are few methods (2 methods x 10 folds would leave 12 workers short of work per seed)
    for group in ([seeds] if a.together else [[s] for s in seeds]):
        t0 = time.perf_counter()
        dirs = train_seeds(table, feats, corpus, methods, group, config, a.runs, jobs=a.jobs)
        net, lw, fps, n = fold_speed(dirs)
        print(f"seeds {','.join(map(str, group))}: {time.perf_counter() - t0:.0f} s wall for {len(dirs)} runs; per epoch (median of {n}): "
              f"network {net:.2f} s, l/w step {lw:.2f} s, {fps:,.0f} effective frames/s per fold", flush=True)

def sweep(a):
    "A sweep or a confirmation (sermeta.sweeps) from bundles, each front-end's runs in one grid."
    from sermeta.core import CLASSES
    from sermeta.experiment import run_grid
    from sermeta.config import frontend_spec
    from sermeta.sweeps import get_sweep, sweep_grid, sweep_summary
    bundles = [load_bundle(path, with_frontend=True) for path in a.bundle.split(',')]
    corpus = bundles[0][2]
    if any(b[2] != corpus for b in bundles): sys.exit(f"--bundle {a.bundle}: the bundles hold different corpora")
    chosen = get_sweep(a.sweep, a.runs, corpus)
    base = lambda seed: reproduce_config(seed=seed, **config_overrides(vars(a)))
    grid = sweep_grid(chosen, corpus, [int(s) for s in a.seeds.split(',')], a.runs, base)
    t0 = time.perf_counter()
    made = {b[3] for b in bundles}
    for table, feats, _, frontend in bundles:
        part = [run for run in grid if frontend_spec(run[1]) == frontend]
        if part: run_grid(table, feats, part, classes=CLASSES, corpus=corpus, folds=a.folds, jobs=a.jobs)
    left = [str(run[2]) for run in grid if frontend_spec(run[1]) not in made]
    print(f"{len(grid) - len(left)} runs, {time.perf_counter() - t0:.0f} s wall"
          + (f"; left out, no bundle of their front-end: {left}" if left else ''), flush=True)
    names = list(dict.fromkeys(folder.parent.name for _, _, folder in grid))
    print(sweep_summary(chosen, corpus, a.runs, names).round(1).to_string())


def parser():
    "The command line of this script: `bundle` and `train` (with every Config field as a flag)."
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('bundle', help='write (table, features) of a corpus to one file')
    b.add_argument('--corpus', required=True); b.add_argument('--root', required=True)
    b.add_argument('--out', required=True); b.add_argument('--cache_dir')
    b.add_argument('--frontend', default='is09', help='a front-end of sermeta.features.FRONTENDS (not ssl)')
    t = sub.add_parser('train', help="train the corpus's runs from a bundle")
    t.add_argument('--bundle', required=True); t.add_argument('--seeds', required=True, help='comma-separated, e.g. 3,4')
    t.add_argument('--methods', help='comma-separated BLSTM methods (default: every Table 2 row)')
    t.add_argument('--runs', default='runs'); t.add_argument('--jobs', type=int, default=8)
    t.add_argument('--together', action='store_true', help='every seed in one grid (more folds at once; a cut-short run leaves seeds partial)')
    config_flags(t)  # every Config field: --max_epochs, --patience, --device, ...
    w = sub.add_parser('sweep', help="train a sweep of settings (default: the sensitivity grid) from a bundle")
    w.add_argument('--bundle', required=True, help='a bundle, or comma-separated bundles of other front-ends')
    w.add_argument('--seeds', required=True, help='comma-separated, e.g. 0')
    w.add_argument('--sweep', default='sensitivity', help='a sweep of SWEEPS or a confirmation (CONFIRMATIONS)')
    w.add_argument('--runs', default='runs'); w.add_argument('--folds', default='all', help="'all' or e.g. 0,1")
    w.add_argument('--jobs', type=int, default=8)
    config_flags(w)
    return ap


def main():
    a = parser().parse_args()
    {'bundle': bundle, 'train': train, 'sweep': sweep}[a.cmd](a)


if __name__ == '__main__':
    main()
