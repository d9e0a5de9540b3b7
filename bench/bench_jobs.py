"""Folds at once in processes, or one fold using every core: dense training rates of the paper's model.

Prints the training frames/s of one process using all cores' threads, and of one process per core
(one thread each) training at the same time, in fp32 and with bf16 autocast. `run_grid` gives each
of `jobs` processes `cores // jobs` threads because the second figure is the larger on the CPU:
the LSTM's step-by-step small matrix products do not keep several threads busy. Not a test: it
prints figures.

    python bench/bench_jobs.py [--steps 5]
"""
import argparse, os, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import multiprocessing as mp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _rate(threads, bf16, steps):
    "Dense 32 x 450 training frames/s in this process with `threads` threads."
    from bench_train import dense_rate
    from sermeta.config import Config
    torch.set_num_threads(threads)
    return dense_rate(Config(device='cpu', bf16=bf16), torch.device('cpu'), steps=steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=5)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores, torch {torch.__version__}")
    for bf16 in (False, True):
        one = _rate(cores, bf16, a.steps)
        with ProcessPoolExecutor(cores, mp_context=mp.get_context('spawn')) as ex:
            many = sum(ex.map(_rate, [1] * cores, [bf16] * cores, [a.steps] * cores))
        print(f"{'bf16' if bf16 else 'fp32'}: 1 process x {cores} threads {one:,.0f} frames/s; "
              f"{cores} processes x 1 thread {many:,.0f} frames/s together (ratio {many / one:.2f})")


if __name__ == '__main__':
    main()
