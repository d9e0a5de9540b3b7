"""How long a sweep's seed keeps the cores busy: its runs one pool each, or all in one pool (longest folds first).

Replays the folds that committed runs trained, with the seconds each fold's `metrics.json` records, on `--jobs`
workers that each take the next fold as soon as they are free (as `sermeta.experiment` hands folds to its pool):
once with every run in a pool of its own, run after run (how `sermeta_sweep` trained a seed before it put a
seed's runs in one grid), and once with the seed's runs in one pool, in the order `sermeta.experiment.order_tasks`
gives (pretraining runs, then alternating ones, then the rest). Per seed it prints the fold-seconds over the
workers (the least wall time possible), both replays' wall and idle share, and their ratio. A replay leaves out
what a pool costs to start (workers import torch and receive the features), which only one pool per seed saves
more of. Not a test: it prints figures.

    python bench/bench_schedule.py [--runs reports/runs] [--corpus synthetic] [--sweep verdict] [--jobs 2]
"""
import argparse, heapq
import pandas as pd
from sermeta.experiment import order_tasks
from sermeta.reproduce import reproduce_config
from sermeta.runs import finished_seeds, fold_records
from sermeta.sweeps import SWEEPS, sweep_grid


def replay(seconds, jobs) -> float:
    "Wall seconds of `seconds` (fold durations, in the order handed out) on `jobs` workers that take the next when free."
    free = [0.0] * jobs
    for s in seconds: heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def seed_folds(runs, corpus, grid) -> list:
    "(seconds, method, config, run name, fold) of every fold of a seed's `grid`, in its order: tasks `order_tasks` sorts."
    tasks = []
    for method, config, folder in grid:
        folds = fold_records(runs, corpus, folder.parent.name)
        folds = folds[folds.seed == config.seed].sort_values('fold')
        tasks += [(f.seconds, method, config, folder.parent.name, f.fold) for f in folds.itertuples()]
    return tasks


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', default='reports/runs'); p.add_argument('--corpus', default='synthetic')
    p.add_argument('--sweep', default='verdict'); p.add_argument('--jobs', type=int, default=2)
    a = p.parse_args()
    grid = lambda seed: sweep_grid(SWEEPS[a.sweep], a.corpus, [seed], a.runs, lambda s: reproduce_config(seed=s))
    names = [folder.parent.name for _, _, folder in grid(0)]
    seeds = sorted(set.intersection(*(set(finished_seeds(a.runs, a.corpus, n)) for n in names)))
    rows = []
    for seed in seeds:
        tasks = seed_folds(a.runs, a.corpus, grid(seed))
        if any(pd.isna(task[0]) for task in tasks): continue   # a fold without its seconds: cannot replay
        per_run = sum(replay([task[0] for task in tasks if task[3] == name], a.jobs) for name in names)
        one_pool = replay([task[0] for task in order_tasks(tasks)], a.jobs)   # the order the grid hands folds out
        least = sum(task[0] for task in tasks) / a.jobs
        rows.append(dict(seed=seed, folds=len(tasks), least_min=least / 60, per_run_min=per_run / 60,
                         per_run_idle=1 - least / per_run, one_pool_min=one_pool / 60, one_pool_idle=1 - least / one_pool,
                         ratio=per_run / one_pool))
    table = pd.DataFrame(rows).set_index('seed')
    print(f"{a.corpus}, sweep {a.sweep} ({', '.join(names)}), {a.jobs} workers; minutes of wall per seed:")
    print(table.round(3).to_string())
    print(f"median ratio (runs a pool each / one pool): {table.ratio.median():.3f}")


if __name__ == '__main__':
    main()
