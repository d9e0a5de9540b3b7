"""sermeta on a real two-node Ray cluster: a head and a second node as separate processes on this machine.

Folds spread over both nodes into one run directory and record their node; a worker killed mid-fold is retried and
resumes from the fold's checkpoint; two drivers on one cluster still train a run directory one at a time; a cluster
that cannot be reached is one message. The cluster is ended by its own processes' ids (`ray start --block` ends
its node's processes on SIGTERM), never with `ray stop`, which would end every Ray instance on the machine."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd, pytest, torch
from sermeta.core import CLASSES, FolderBusy
from sermeta.experiment import run_grid, KILL_ENV
from sermeta.runs import run_dir, read_record, fold_seconds
from tiny_data import tiny_config

ray = pytest.importorskip('ray')
CL = list(CLASSES)
REPO = Path(__file__).resolve().parents[1]
START_S = 240  # a node's start-up on 2 busy cores: Ray's daemons each import Ray first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _end(process):
    "End a `ray start --block` process, then anything left in its process group."
    if process.poll() is None:
        process.terminate()
        try: process.wait(timeout=60)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError: pass
    process.wait()


def _start_node(args, env, log, tries=3):
    "A `ray start --block` node (its own process group) once its log says it started; None if it never did."
    for _ in range(tries):  # on busy cores Ray's agents can miss the 15 s its raylet gives them, and the node dies
        with open(log, 'w') as out:
            node = subprocess.Popen([sys.executable, '-m', 'ray.scripts.scripts', 'start', '--block', '--num-cpus',
                                     '1', '--disable-usage-stats', *args], stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        deadline, up = time.time() + START_S, lambda: 'Ray runtime started' in log.read_text()
        while node.poll() is None and not up() and time.time() < deadline: time.sleep(1)
        if node.poll() is None and up(): return node
        _end(node)


def _alive_nodes(address) -> list:
    "The ids of the cluster's alive nodes."
    ray.init(address=address, log_to_driver=False)
    try: return [n['NodeID'] for n in ray.nodes() if n['Alive']]
    finally: ray.shutdown()


@pytest.fixture(scope='module')
def cluster():
    "(address, node ids) of a head and a second node of one CPU each; both ended after the module's tests."
    temp = Path(tempfile.mkdtemp(prefix='rc', dir='/tmp'))  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])),
           'RAY_AUTH_MODE': 'disabled'}  # `ray start` would ask drivers for its token (sermeta's error says how)
    address, nodes = f'127.0.0.1:{port}', []
    try:
        for args, name in ((['--head', '--port', str(port), '--temp-dir', str(temp), '--include-dashboard=false'],
                            'head'), (['--address', address], 'second node')):
            nodes.append(_start_node(args, env, temp/f'{name}.log'))
            if nodes[-1] is None:
                pytest.skip(f"the Ray {name} did not start in 3 tries (cores busy?): "
                            f"{(temp/f'{name}.log').read_text()[-500:]}")
        ids = _alive_nodes(address)
        assert len(ids) == 2, ids
        yield address, ids
    finally:
        if ray.is_initialized(): ray.shutdown()
        for process in reversed([n for n in nodes if n]): _end(process)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def driver(cluster, monkeypatch):
    "This process as a driver of the cluster, through RAY_ADDRESS as a user sets it; disconnected afterwards."
    monkeypatch.setenv('RAY_ADDRESS', cluster[0])
    yield cluster
    ray.shutdown()


def _fold_records(out, folds):
    return [json.loads((out/f'fold{i}'/'metrics.json').read_text()) for i in folds]


def test_folds_spread_over_both_nodes_into_one_run(driver, tiny, tmp_path):
    """Four folds through RAY_ADDRESS land on both nodes, in one run directory, with the local executor's results."""
    table, feats = tiny
    _, node_ids = driver
    cfg = tiny_config(max_epochs=1)
    out = run_dir(tmp_path, 'tiny', 'baseline', 0)
    remote = run_grid(table, feats, [('baseline', cfg, out)], classes=CL, folds='0,1,2,3', executor='ray',
                      corpus='tiny', progress=False)[0]
    records = _fold_records(out, range(4))
    assert sorted({r['node'] for r in records}) == sorted(node_ids)  # both nodes trained folds
    assert {r['host'] for r in records} == {socket.gethostname()}   # both run on this machine
    assert {(r['device'], r['precision']) for r in records} == {('cpu', 'fp32')}
    assert fold_seconds(tmp_path, 'tiny', 'baseline').node.tolist() == [r['node'] for r in records]
    local = run_grid(table, feats, [('baseline', cfg, tmp_path/'local')], classes=CL, folds='0,1,2,3',
                     progress=False)[0]
    assert (remote['WA'], remote['UA'], remote['folds']) == (local['WA'], local['UA'], [0, 1, 2, 3])
    assert {r['node'] for r in _fold_records(tmp_path/'local', range(4))} == {'local'}
    assert 'host' not in _fold_records(tmp_path/'local', [0])[0]


def test_a_killed_worker_is_retried_from_the_fold_checkpoint(cluster, tiny, tmp_path):
    """Each fold's first attempt kills its own worker after epoch 1; Ray retries it, it resumes: same results."""
    table, feats = tiny
    cfg, marks = tiny_config(max_epochs=3, patience=3), tmp_path/'marks'
    marks.mkdir()
    local = run_grid(table, feats, [('Lw', cfg, tmp_path/'local')], classes=CL, folds='0,1', progress=False)[0]
    ray.init(address=cluster[0], log_to_driver=False, runtime_env={'env_vars': {KILL_ENV: str(marks)}})
    try: remote = run_grid(table, feats, [('Lw', cfg, tmp_path/'ray')], classes=CL, folds='0,1', executor='ray',
                           progress=False)[0]
    finally: ray.shutdown()
    first_attempts = sorted(marks.iterdir())
    assert len(first_attempts) == 2  # each fold's first attempt died, leaving its epoch-1 checkpoint as the mark
    for fold in (0, 1):
        history = read_record(tmp_path/'ray'/f'fold{fold}', 'history')
        assert history.epoch.tolist() == [1, 2, 3]  # nothing lost, nothing trained twice
        marked = [torch.load(p, weights_only=True)['progress']['history'] for p in first_attempts]
        epoch1 = history.iloc[0].seconds_network
        # epoch 1 is the one the first attempt trained and checkpointed, not trained again
        assert any(h[0]['seconds_network'] == pytest.approx(epoch1, rel=1e-9) for h in marked)
    assert (remote['WA'], remote['UA']) == (local['WA'], local['UA'])
    pd.testing.assert_frame_equal(read_record(tmp_path/'ray', 'predictions'),
                                  read_record(tmp_path/'local', 'predictions'))


def test_a_sweep_seed_fans_out_in_one_grid(driver, tiny, tmp_path, capsys):
    """Under Ray a seed's settings train in one grid over both nodes; a diverging setting is marked, the rest finish."""
    from sermeta.sweeps import Sweep, sweep_grid, sweep_batches, train_runs
    from sermeta.runs import DIVERGED
    table, feats = tiny
    sweep = Sweep('small', ('Lw',), ({}, dict(lw_optimizer='adam', lr_label=0.1, lr_weight=0.1),
                                     dict(lw_optimizer='sgd', lr_label=500.0, lr_weight=500.0)))
    runs = sweep_grid(sweep, 'tiny', [0], tmp_path, lambda seed: tiny_config(seed=seed, max_epochs=2, patience=2))
    [batch] = sweep_batches(runs)
    train_runs(table, feats, batch, corpus='tiny', folds='0,1', executor='ray', progress=False)
    diverged, *finished = sorted(runs, key=lambda run: run[1].lw_optimizer != 'sgd')
    assert (diverged[2]/DIVERGED).is_file() and 'left out, its l/w update diverges' in capsys.readouterr().out
    records = [r for run in finished for r in _fold_records(run[2], [0, 1])]
    assert all((run[2]/'metrics.json').is_file() for run in finished)
    assert {r['node'] for r in records} <= set(driver[1])  # trained on the cluster's nodes


_DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from sermeta.core import CLASSES
from sermeta.experiment import run_grid
from tiny_data import tiny_corpus, tiny_config
table, feats = tiny_corpus()
run_grid(table, feats, [('baseline', tiny_config(max_epochs=2), {out!r})], classes=list(CLASSES), folds='0,1,2,3',
         executor='ray', progress=False)
"""


def test_two_drivers_on_one_cluster_train_a_run_one_at_a_time(driver, tiny, tmp_path):
    """While one driver trains a run directory on the cluster, a second driver is refused, naming the first."""
    table, feats = tiny
    out = tmp_path/'run'
    script = tmp_path/'driver.py'
    script.write_text(_DRIVER.format(tests=str(Path(__file__).parent), out=str(out)))
    first = subprocess.Popen([sys.executable, str(script)], env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        deadline = time.time() + 120
        while not ((out/'.lock').is_file() and (out/'.lock').read_text().strip()):
            assert first.poll() is None and time.time() < deadline, 'the first driver did not take the lock'
            time.sleep(0.05)
        with pytest.raises(FolderBusy, match=f'in use by pid {first.pid} '):
            run_grid(table, feats, [('baseline', tiny_config(max_epochs=2), out)], classes=CL, folds='0,1,2,3',
                     executor='ray', progress=False)
        assert first.wait(timeout=600) == 0
    finally:
        if first.poll() is None: first.kill()
    assert all((out/f'fold{i}'/'done').is_file() for i in range(4))
    assert {r['node'] for r in _fold_records(out, range(4))} <= set(driver[1])


@pytest.mark.parametrize('script', ['sermeta_train', 'sermeta_sweep', 'sermeta_reproduce'])
def test_an_unreachable_cluster_is_one_message(script, tmp_path):
    """`--executor ray` with RAY_ADDRESS where nothing answers: one line naming the address, exit 1, in seconds."""
    from test_cli import _script
    address = f'127.0.0.1:{_free_port()}'
    env = {**os.environ, 'RAY_ADDRESS': address}
    env.pop('SERMETA_TRACEBACK', None)
    t = time.time()
    result = subprocess.run(_script(script) + ['--root', str(tmp_path), '--executor', 'ray'], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'{script}: error: cannot reach the Ray cluster at {address} (RAY_ADDRESS): Connection refused'), result.stderr
    assert not any(tmp_path.iterdir())  # nothing was made
