"""Feature extraction speed: openSMILE alone, sermeta's first run (1 and all cores), the cached rerun, each front-end.

Prints seconds and real-time factors on Berlin EmoDB (all 535 files, 24.8 min of audio by default),
the ratio cached rerun / first run, and what checking each cache entry on load costs (CRC-32 and
content check against a plain `np.load`), and for every front-end of `sermeta.features.FRONTENDS` its
first run in one process (x real time per core) and its cached rerun. Not a test: it prints figures.

    python bench/bench_features.py [--root ../shared/data/emodb]
"""
import argparse, os, platform, tempfile, time
import numpy as np, soundfile as sf, torch
from sermeta.corpora import load_corpus
from sermeta.features import extract_features, _smile, _read_entry, _load_index, _npy, FRONTENDS


def entry_check_cost(cache, repeats=5):
    "Median seconds to read every entry of `cache` with `np.load`, and with sermeta's checked read."
    rows = list(_load_index(cache).values())
    def plain():
        for row in rows: np.load(_npy(cache, row[2]))
    def checked():
        for row in rows: _read_entry(_npy(cache, row[2]), row[3])
    times = {}
    for name, read in (('np.load', plain), ('checked', checked)) * repeats:
        t = time.perf_counter(); read(); times.setdefault(name, []).append(time.perf_counter() - t)
    return len(rows), float(np.median(times['np.load'])), float(np.median(times['checked']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default='../shared/data/emodb')
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}")
    table = load_corpus('emodb', a.root, classes='all')
    audio = [sf.read(p, dtype='float32')[0] for p in table.path]
    seconds = sum(len(x) for x in audio) / 16000
    smile = _smile(); smile.process_signal(audio[0], 16000)
    t = time.perf_counter()
    for x in audio: smile.process_signal(x, 16000)
    raw = time.perf_counter() - t
    print(f"{len(table)} files, {seconds / 60:.1f} min of audio")
    print(f"openSMILE alone, 1 core: {raw:.2f} s, {seconds / raw:.0f}x real time")
    for jobs in (1, os.cpu_count()):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter(); extract_features(table, cache_dir=cache, n_jobs=jobs, progress=False); first = time.perf_counter() - t
            t = time.perf_counter(); extract_features(table, cache_dir=cache, progress=False); again = time.perf_counter() - t
            print(f"sermeta first run, {jobs} process(es): {first:.2f} s, {seconds / first:.0f}x real time "
                  f"({seconds / first / jobs:.0f}x per core; {100 * (1 - raw / (first * jobs)):.0f}% lost to sermeta per core)")
            print(f"cached rerun: {again:.3f} s, ratio to first run {again / first:.4f}")
            if jobs == 1:
                n, plain, checked = entry_check_cost(cache)
                print(f"reading {n} cache entries (median of 5): np.load {1e6 * plain / n:.0f} us/entry, checked read "
                      f"(CRC-32 + content) {1e6 * checked / n:.0f} us/entry, ratio {checked / plain:.2f}")
    for name, frontend in FRONTENDS.items():  # one process each, the way a single-core user meets them
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter(); f = extract_features(table, frontend=name, cache_dir=cache, n_jobs=1, progress=False)
            first = time.perf_counter() - t
            t = time.perf_counter(); extract_features(table, frontend=name, cache_dir=cache, progress=False)
            again = time.perf_counter() - t
        width = next(iter(f.values())).shape[1]
        print(f"front-end {name:8s} ({width:3d} columns): {seconds / first:4.0f}x real time per core, "
              f"cached rerun {again:.3f} s (ratio {again / first:.4f})")


if __name__ == '__main__':
    main()
