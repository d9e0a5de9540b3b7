"""Local processes against Ray: the wall time of one small fixed job through each executor, idle and under load.

The job: folds 0 and 1 of an EmoDB-sized corpus of random features (10 speakers, 535 utterances, 100-500
frames of 32 features; the paper's model), one epoch each, two folds at once (`--jobs 2`). Each executor
runs it in a fresh Python process, so the figures include what a user waits for: imports, the fold
workers' start and, for `ray`, the start of a local Ray instance. `ray-up` joins a Ray instance that the
bench started beforehand (`ray start --head`, in the bench's own process group), as a cluster that is already up.
`--load N` starts N busy processes (one thread each, like other training processes, in the same process group)
after that instance and ends them afterwards. Prints, per executor: the process's wall time, `run_grid`'s,
the folds' own training seconds (metrics.json) and where each fold ran. Not a test: it prints figures.

    python bench/bench_ray.py                 # this machine as it is
    python bench/bench_ray.py --load 4        # with 4 more busy processes
    RAY_ADDRESS=host:6379 TMPDIR=/shared/tmp python bench/bench_ray.py --executors ray   # a cluster; TMPDIR shared
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path

_BUSY = "import torch\ntorch.set_num_threads(1)\nx = torch.randn(256, 256)\nwhile True: x = torch.tanh(x @ x)"


def corpus(seed=0, speakers=10, utterances=535, n_features=32):
    "An EmoDB-sized utterance table (speakers paired into sessions) and {utt_id: (frames, 32)} of random features."
    import numpy as np, pandas as pd
    from sermeta.core import CLASSES
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (len(CLASSES), n_features))
    rows, feats = [], {}
    for i in range(utterances):
        speaker, c = i % speakers, i % len(CLASSES)
        uid = f'spk{speaker}_{i:04d}'
        feats[uid] = (centres[c] + rng.normal(0, 2, (int(rng.integers(100, 500)), n_features))).astype(np.float32)
        rows.append(dict(utt_id=uid, speaker=f'spk{speaker}', session=f'sess{speaker // 2}', path=f'{uid}.wav',
                         label=CLASSES[c]))
    return pd.DataFrame(rows), feats


def job(executor, out, folds, epochs, jobs):
    "Train the fixed job through `executor` into `out`; print one JSON line of its figures."
    t0 = time.perf_counter()
    from sermeta.core import CLASSES
    from sermeta.config import Config
    from sermeta.experiment import run_grid
    table, feats = corpus()
    t1 = time.perf_counter()
    run_grid(table, feats, [('baseline', Config(max_epochs=epochs, patience=epochs), Path(out))], classes=CLASSES,
             folds=folds, jobs=jobs, executor=executor, progress=False)
    t2 = time.perf_counter()
    metrics = [json.loads(p.read_text()) for p in sorted(Path(out).glob('fold*/metrics.json'))]
    print(json.dumps(dict(setup=t1 - t0, run_grid=t2 - t1, fold_seconds=[round(m['seconds'], 1) for m in metrics],
                          nodes=[m.get('node', 'unrecorded')[:8] for m in metrics])))


def measure(executor, a, address=None):
    "Run the job in a fresh process (joining the Ray instance at `address` if given); (wall seconds, figures)."
    env = {**os.environ, **({'RAY_ADDRESS': address} if address else {})}
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, '--job', executor, '--out', out, '--folds', a.folds,
                                '--epochs', str(a.epochs), '--jobs', str(a.jobs)], capture_output=True, text=True,
                               env=env)
        wall = time.perf_counter() - t
    if child.returncode: return wall, dict(failed=child.stderr.strip().splitlines()[-1][:300])
    return wall, json.loads(child.stdout.strip().splitlines()[-1])


def ray_head(temp):
    "(process, address, seconds to answer) of `ray start --head --block` here, in its own process group."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    t = time.perf_counter()
    head = subprocess.Popen([sys.executable, '-m', 'ray.scripts.scripts', 'start', '--head', '--block', '--port',
                             str(port), '--temp-dir', temp, '--include-dashboard=false', '--disable-usage-stats'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0,
                            env={**os.environ, 'RAY_AUTH_MODE': 'disabled'})  # drivers need no token
    env = {**os.environ, 'RAY_ADDRESS': f'127.0.0.1:{port}'}
    probe = "import ray; ray.init(log_to_driver=False); print(ray.cluster_resources().get('CPU'))"
    while head.poll() is None and subprocess.run([sys.executable, '-c', probe], env=env, capture_output=True,
                                                 timeout=600).returncode:
        time.sleep(1)
    if head.poll() is not None: sys.exit(f'ray start --head failed (exit {head.returncode})')
    return head, f'127.0.0.1:{port}', time.perf_counter() - t


def end(process):
    "End `process` and its process group."
    process.terminate()
    try: process.wait(timeout=60)
    except subprocess.TimeoutExpired: pass
    try: os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError: pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--executors', default='local,ray,ray-up')
    ap.add_argument('--load', type=int, default=0, help='busy processes started beside the job')
    ap.add_argument('--folds', default='0,1')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--job', help=argparse.SUPPRESS)
    ap.add_argument('--out', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.job: return job(a.job, a.out, a.folds, a.epochs, a.jobs)
    executors, head, busy = a.executors.split(','), None, []
    temp = tempfile.mkdtemp(prefix='rb', dir='/tmp')  # short: Ray's socket paths must fit in 107 bytes
    try:
        if 'ray-up' in executors:
            head, address, seconds = ray_head(temp)
            print(f"ray start --head: answering after {seconds:.1f} s", flush=True)
        busy = [subprocess.Popen([sys.executable, '-c', _BUSY]) for _ in range(a.load)]
        if busy: time.sleep(5)  # their imports done: the load is the steady one
        print(f"{os.cpu_count()} cores, {a.load} busy processes added, load average {os.getloadavg()[0]:.1f}; "
              f"folds {a.folds} x {a.epochs} epoch(s), {a.jobs} at once", flush=True)
        for executor in executors:
            wall, figures = measure('ray' if executor == 'ray-up' else executor, a,
                                    address if executor == 'ray-up' else None)
            if 'failed' in figures: print(f"{executor:6s}: failed after {wall:.1f} s: {figures['failed']}", flush=True)
            else: print(f"{executor:6s}: wall {wall:6.1f} s, run_grid {figures['run_grid']:6.1f} s, "
                        f"fold training {figures['fold_seconds']} s, nodes {figures['nodes']}; "
                        f"load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for p in busy: p.kill(); p.wait()
        if head: end(head)
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == '__main__':
    main()
