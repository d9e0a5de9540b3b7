"""Training on the CPU with and without freed memory kept (`sermeta.train.keep_freed_memory`): time, kernel time, memory.

Trains one leave-one-speaker-out fold of a `sermeta_synth` corpus twice, each in a fresh process, with
`SERMETA_KEEP_MEMORY=0` (the C library's malloc settings) and `=1` (the default: freed memory kept), in turn
`--repeats` times, and prints per process: median seconds per network epoch and per l/w step, the fold's wall,
user and kernel CPU seconds, peak resident memory, and whether the two wrote the same predictions, learned labels
and weights and losses. Not a test: it prints figures.

    python bench/bench_memory.py [--scale 0.1] [--epochs 4] [--method Lw] [--repeats 2] [--threads 1] [--growth 1.5]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd


def child(out, a):
    "Train the fold into `out`; write its wall and this process's resource use beside it."
    import torch
    from sermeta.core import CLASSES
    from sermeta.config import Config
    from sermeta.features import extract_features
    from sermeta.folds import make_folds
    from sermeta.reproduce import prepare_corpus
    from sermeta.train import train_fold
    import sermeta.train
    if a.growth: sermeta.train.KEEP_MEMORY_GROWTH = a.growth   # the bound to try
    torch.set_num_threads(a.threads)
    table, _ = prepare_corpus('synthetic', scale=a.scale, data_dir=a.data_dir)
    feats = extract_features(table)
    fold = make_folds(table, classes=CLASSES)[a.fold]
    t = time.perf_counter()
    train_fold(fold, table, feats, a.method, Config(max_epochs=a.epochs, patience=a.epochs + 1, device='cpu'),
               out, classes=CLASSES, progress=False)
    use = resource.getrusage(resource.RUSAGE_SELF)
    (Path(out)/'use.json').write_text(json.dumps(dict(wall=time.perf_counter() - t, user=use.ru_utime, sys=use.ru_stime,
                                                      peak_mib=use.ru_maxrss / 1024)))


def run(keep, out, a) -> dict:
    "One fold in a fresh process, freed memory kept or not; its figures."
    env = {**os.environ, 'SERMETA_KEEP_MEMORY': '1' if keep else '0'}
    args = [sys.executable, __file__, '--child', str(out)] + [f'--{k}={v}' for k, v in vars(a).items() if k != 'child']
    subprocess.run(args, env=env, check=True)
    h = pd.read_csv(out/'history.csv.gz')
    main = h[h.seconds_lw > 0] if (h.seconds_lw > 0).any() else h
    return dict(kept=keep, epoch_s=main.seconds_network.median(), lw_s=main.seconds_lw.median(),
                **json.loads((out/'use.json').read_text()))


def same_results(a, b) -> bool:
    "The same predictions, learned labels and weights, and losses (timings aside)."
    timing = ['seconds_network', 'seconds_lw', 'frames_per_second']
    read = lambda d, f: pd.read_csv(d/f)
    return (all(read(a, f).equals(read(b, f)) for f in ('predictions.csv.gz', 'learned.csv.gz'))
            and read(a, 'history.csv.gz').drop(columns=timing).equals(read(b, 'history.csv.gz').drop(columns=timing)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scale', type=float, default=0.1)
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--fold', type=int, default=1)
    ap.add_argument('--method', default='Lw')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data_dir', default='data')
    ap.add_argument('--growth', type=float, default=0, help='KEEP_MEMORY_GROWTH to try (0: the package\'s)')
    ap.add_argument('--child', default='')
    a = ap.parse_args()
    if a.child: return child(a.child, a)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for r in range(a.repeats):
            for keep in (False, True):
                rows.append(dict(repeat=r, **run(keep, Path(d)/f'{r}-{int(keep)}', a)))
        same = all(same_results(Path(d)/f'{r}-0', Path(d)/f'{r}-1') for r in range(a.repeats))
    table = pd.DataFrame(rows)
    print(f"{a.method}, fold {a.fold}, scale {a.scale}, {a.epochs} epochs, {a.threads} thread(s), {os.cpu_count()} cores")
    print(table.round(2).to_string(index=False))
    med = table.groupby('kept')[['epoch_s', 'lw_s', 'wall', 'sys', 'peak_mib']].median()
    print(f"\nmedians, C library's defaults / freed memory kept: network epoch {med.epoch_s[False] / med.epoch_s[True]:.2f}x, "
          f"l/w step {med.lw_s[False] / med.lw_s[True]:.2f}x, fold wall {med.wall[False] / med.wall[True]:.2f}x; "
          f"kernel seconds {med.sys[False]:.1f} vs {med.sys[True]:.1f}; peak {med.peak_mib[False]:.0f} vs {med.peak_mib[True]:.0f} MiB")
    print(f"same predictions, learned labels and weights, and losses: {same}")

if __name__ == '__main__':
    main()
