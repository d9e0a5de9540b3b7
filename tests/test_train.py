"""The trainer: mechanics of Alg. 1, determinism, resuming after a real SIGKILL, and bad input."""
import dataclasses, json, os, re, signal, subprocess, sys, textwrap, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from sermeta.core import CLASSES
from sermeta.folds import make_folds
from sermeta.meta import LabelWeightState
from sermeta.methods import METHODS, ALL_METHODS, BATCH_LOSSES, get_method
from sermeta.model import EmotionClassifier
from sermeta.train import train_fold, NonFiniteLoss
from sermeta.runs import cpu_model
from sermeta.experiment import run_method
from tiny_data import tiny_corpus, tiny_config, tiny_fold

CL = list(CLASSES)


def test_padding_does_not_change_the_output():
    torch.manual_seed(1)
    m = EmotionClassifier().eval()
    x = torch.randn(4, 80, 32)
    lengths = torch.tensor([80, 33, 57, 5])
    full = m(x, lengths)
    for b in range(4):
        alone = m(x[b:b + 1, :lengths[b]], lengths[b:b + 1])
        assert torch.allclose(full[b], alone[0], atol=1e-5)
    x2 = x.clone(); x2[1, 33:] = 1e4  # garbage in the padding
    assert torch.allclose(m(x2, lengths), full, atol=1e-5)
    _, alpha = m(x, lengths, return_attention=True)
    assert alpha[3, 5:].abs().max() == 0


def test_lw_step_mechanics():
    st = LabelWeightState.init(torch.tensor([0, 0, 1, 2]), 4)
    log_probs = torch.log(torch.tensor([[.85, .05, .05, .05], [.1, .1, .7, .1], [.05, .85, .05, .05], [.2, .2, .2, .4]]))
    targets0 = st.targets.clone()
    for _ in range(3):
        st.step(log_probs, lr_label=1.0, lr_weight=0.1)
        assert (st.weights > 0).all()
        assert abs(st.weights.mean().item() - 1) < 1e-6
    # utterance 1 (gold 0, predicted 2): its target moves toward 2 and its weight rises above utterance 0's
    assert st.targets[1, 2] > targets0[1, 2] and st.targets[1, 0] < targets0[1, 0]
    assert st.weights[1] > st.weights[0]


def test_same_seed_same_metrics(tiny, tmp_path):
    table, feats = tiny
    f = tiny_fold(table)
    a = train_fold(f, table, feats, 'Lw', tiny_config(), tmp_path / 'a', classes=CL, progress=False)
    b = train_fold(f, table, feats, 'Lw', tiny_config(), tmp_path / 'b', classes=CL, progress=False)
    assert a['WA'] == b['WA'] and a['UA'] == b['UA']
    pa, pb = (pd.read_csv(tmp_path / d / 'predictions.csv.gz') for d in 'ab')
    pd.testing.assert_frame_equal(pa, pb)
    la, lb = (pd.read_csv(tmp_path / d / 'learned.csv.gz') for d in 'ab')
    pd.testing.assert_frame_equal(la, lb)


def test_frozen_l_and_w_equals_baseline(tiny, tmp_path):
    """The alternating machinery with l and w frozen trains exactly the baseline."""
    table, feats = tiny
    f = tiny_fold(table, 2)
    frozen = dataclasses.replace(METHODS['Lw'], name='Lw_frozen', targets='gold')
    cfg = tiny_config(lr_label=0.0, lr_weight=0.0)
    train_fold(f, table, feats, 'baseline', cfg, tmp_path / 'base', classes=CL, progress=False)
    train_fold(f, table, feats, frozen, cfg, tmp_path / 'frozen', classes=CL, progress=False)
    pb, pf = (pd.read_csv(tmp_path / d / 'predictions.csv.gz') for d in ('base', 'frozen'))
    pd.testing.assert_frame_equal(pb, pf)
    lf = pd.read_csv(tmp_path / 'frozen' / 'learned.csv.gz')
    assert np.allclose(lf.w, lf.w_init) and (lf.learned == lf.gold).all()


def test_label_smoothing_is_lw_with_the_update_off(tiny, tmp_path):
    """`label_smoothing` trains on the soft targets softmax(label_scale x one-hot) without the l/w pass: exactly
    what Lw learns with both step sizes 0, and not what the baseline learns on the one-hot labels."""
    table, feats = tiny
    f = tiny_fold(table, 2)
    for method, cfg in [('label_smoothing', {}), ('Lw', dict(lr_label=0.0, lr_weight=0.0)), ('baseline', {})]:
        m = train_fold(f, table, feats, method, tiny_config(label_scale=2.0, **cfg), tmp_path / method, classes=CL,
                       progress=False)
        assert m['device'] == 'cpu' and m['cpu'] == cpu_model()   # and the processor's model beside it
    ps, pc, pb = (pd.read_csv(tmp_path / d / 'predictions.csv.gz') for d in ('label_smoothing', 'Lw', 'baseline'))
    pd.testing.assert_frame_equal(ps, pc)
    assert not np.allclose(ps.filter(like='prob').values, pb.filter(like='prob').values)
    hs, hc = (pd.read_csv(tmp_path / d / 'history.csv.gz') for d in ('label_smoothing', 'Lw'))
    assert (hs.seconds_lw == 0).all() and (hc.seconds_lw > 0).all()
    gold_target = np.exp(2) / (np.exp(2) + 3)
    learned = pd.read_csv(tmp_path / 'label_smoothing' / 'learned.csv.gz')
    assert (learned.learned == learned.gold).all() and np.allclose(learned.w, learned.w_init)
    assert np.allclose(learned.filter(like='s_').max(axis=1), gold_target, atol=1e-6)


def test_lw_moves_labels_and_weights(tiny, tmp_path):
    table, feats = tiny
    train_fold(tiny_fold(table), table, feats, 'Lw', tiny_config(lr_label=3.0, lr_weight=0.5), tmp_path, classes=CL, progress=False)
    le = pd.read_csv(tmp_path / 'learned.csv.gz')
    assert abs(le.w.mean() - 1) < 1e-5 and (le.w > 0).all()
    assert not np.allclose(le.w, le.w_init)
    hist = pd.read_csv(tmp_path / 'history.csv.gz')
    assert (hist.seconds_lw > 0).all()


def test_within_class_weights_keep_the_class_means(tiny, tmp_path):
    """`w` trades the class weights away (eq. 6 over all utterances); `w_within_class` keeps every class's mean and
    still spreads the weights of one class apart."""
    table, feats = tiny
    i = table.utt_id.str[-3:].astype(int)  # utterance i of a speaker has class i % 4: keep 1, 2, 4, 4 per speaker
    table = table[(i < 4) | ((table.label == 'sadness') & (i < 9)) | table.label.isin(['neutral', 'anger'])]
    cfg = tiny_config(lr_weight=0.5)
    for name in ('w', 'w_within_class'):
        train_fold(tiny_fold(table), table, feats, name, cfg, tmp_path / name, classes=CL, progress=False)
    le = {n: pd.read_csv(tmp_path / n / 'learned.csv.gz') for n in ('w', 'w_within_class')}
    start = le['w'].groupby('gold').w_init.mean()
    kept = le['w_within_class'].groupby('gold').w.mean()
    np.testing.assert_allclose(kept.values, start.loc[kept.index].values, rtol=1e-5)
    assert le['w_within_class'].groupby('gold').w.std().min() > 1e-4           # weights move within a class (float noise: 1e-7)
    moved = (le['w'].groupby('gold').w.mean() - start).abs().max()
    assert moved > 0.05, moved                                                 # the literal `w` does trade them away


def test_every_method_runs(tiny, tmp_path):
    table, feats = tiny
    for name in [n for n, m in ALL_METHODS.items() if m.model == 'blstm']:  # the svm reference has its own trainer (test_reference)
        m = train_fold(tiny_fold(table, 1), table, feats, name, tiny_config(max_epochs=2, patience=1), tmp_path / name, classes=CL, progress=False)
        assert 0 <= m['UA'] <= 100
        assert (tmp_path / name / 'done').is_file()
    # pretrain: a pretrain phase then a main phase in the history
    h = pd.read_csv(tmp_path / 'Lw_pretrained' / 'history.csv.gz')
    assert list(dict.fromkeys(h.phase)) == ['pretrain', 'main']


def _flip_labels(table, share, seed=0):
    "A copy of `table` with `share` of the labels moved to another class; and which rows were flipped."
    rng = np.random.default_rng(seed)
    flip = rng.random(len(table)) < share
    new = [CL[(CL.index(c) + int(rng.integers(1, 4))) % 4] if f else c for c, f in zip(table.label, flip)]
    return table.assign(label=new), dict(zip(table.utt_id, flip))


def test_pencil_moves_labels_toward_the_truth(tiny, tmp_path):
    table, feats = tiny
    noisy, flipped = _flip_labels(table, 0.25)
    train_fold(tiny_fold(noisy), noisy, feats, 'pencil', tiny_config(max_epochs=8, patience=8), tmp_path, classes=CL, progress=False)
    le = pd.read_csv(tmp_path / 'learned.csv.gz')
    truth = table.set_index('utt_id').label
    changed = le.learned != le.gold
    assert changed.any() and list(dict.fromkeys(pd.read_csv(tmp_path / 'history.csv.gz').phase)) == ['pretrain', 'main']
    # labels PENCIL changed are mostly changed to the truth, far above chance (1/3)
    assert (le.learned[changed] == le.utt_id[changed].map(truth)).mean() > 0.6
    assert le.gold.tolist() == le.utt_id.map(noisy.set_index('utt_id').label).tolist()


def test_confident_learning_drops_or_relabels_flagged_utterances(tiny, tmp_path):
    table, feats = tiny
    noisy, flipped = _flip_labels(table, 0.25)
    fold = tiny_fold(noisy)
    train_fold(fold, noisy, feats, 'cleanlab', tiny_config(max_epochs=2), tmp_path / 'drop', classes=CL, progress=False)
    issues = pd.read_csv(tmp_path / 'drop' / 'label_issues.csv.gz')
    assert sorted(issues.utt_id) == sorted(fold.train_ids)
    assert issues.issue.any() and issues.utt_id[issues.issue].map(flipped).mean() > 0.5   # flags are mostly flipped labels
    learned = pd.read_csv(tmp_path / 'drop' / 'learned.csv.gz')
    assert set(learned.utt_id) == set(issues.utt_id[~issues.issue])                      # flagged ones left out
    train_fold(fold, noisy, feats, 'cleanlab_relabel', tiny_config(max_epochs=2), tmp_path / 'relabel', classes=CL, progress=False)
    le = pd.read_csv(tmp_path / 'relabel' / 'learned.csv.gz').set_index('utt_id')
    flagged = issues[issues.issue].set_index('utt_id')
    assert len(le) == len(fold.train_ids)
    assert (le.loc[flagged.index, 'learned'] == flagged.suggested).all()                 # trained on the suggested class
    assert (le.gold == le.index.map(noisy.set_index('utt_id').label)).all()              # gold stays the corpus's label


def test_run_method_pools_and_skips_finished_folds(tiny, tmp_path):
    table, feats = tiny
    cfg = tiny_config(max_epochs=2)
    m = run_method(table, feats, 'baseline', cfg, tmp_path, classes=CL, folds='0,1', progress=False)
    assert m['folds'] == [0, 1]
    preds = pd.read_csv(tmp_path / 'predictions.csv.gz')
    assert set(preds.fold) == {0, 1} and {'utt_id', 'gold', 'pred', 'prob_anger'} <= set(preds.columns)
    stamp = (tmp_path / 'fold0' / 'metrics.json').stat().st_mtime_ns
    run_method(table, feats, 'baseline', cfg, tmp_path, classes=CL, folds='0', progress=False)
    assert (tmp_path / 'fold0' / 'metrics.json').stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match='another setup'):
        run_method(table, feats, 'baseline', tiny_config(max_epochs=3), tmp_path, classes=CL, folds='0', progress=False)


_KILL_SCRIPT = textwrap.dedent('''
    import json, sys, time
    sys.path[:0] = [{tests!r}, {root!r}]  # this checkout's sermeta, not an installed one
    from tiny_data import tiny_corpus, tiny_config
    from sermeta.folds import make_folds
    from sermeta.train import train_fold
    import sermeta.train as T
    table, feats = tiny_corpus()
    slow = sys.argv[2] == 'slow'
    if slow:  # give the parent time to kill us after a checkpoint
        orig = T.save_checkpoint
        def save(*a, **k):
            orig(*a, **k); print('checkpoint', flush=True); time.sleep(0.5)
        T.save_checkpoint = save
    f = make_folds(table, classes=['happiness', 'sadness', 'neutral', 'anger'])[0]
    train_fold(f, table, feats, 'Lw', tiny_config(max_epochs=8, patience=8, **json.loads(sys.argv[3])), sys.argv[1],
               classes=['happiness', 'sadness', 'neutral', 'anger'], progress=False)
''')


@pytest.mark.parametrize('settings', [{}, {'lw_optimizer': 'adam', 'lr_label': 0.1, 'lr_weight': 0.1}], ids=['gd', 'adam'])
def test_resume_after_sigkill_gives_identical_results(tmp_path, settings):
    "Killed mid-run and resumed, a fold ends as an uninterrupted one; with Adam, its l/w state resumes too."
    script = tmp_path / 'run.py'
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent), root=str(Path(__file__).parents[1])))
    cfg = json.dumps(settings)
    subprocess.run([sys.executable, str(script), str(tmp_path / 'clean'), 'fast', cfg], check=True)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / 'killed'), 'slow', cfg], stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in p.stdout:
        seen += line.startswith('checkpoint')
        if seen == 3: p.send_signal(signal.SIGKILL); break
    p.wait()
    assert p.returncode == -signal.SIGKILL
    assert not (tmp_path / 'killed' / 'done').exists() and (tmp_path / 'killed' / 'checkpoint.pt').exists()
    subprocess.run([sys.executable, str(script), str(tmp_path / 'killed'), 'fast', cfg], check=True)
    for f in ('predictions.csv.gz', 'learned.csv.gz'):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'clean' / f), pd.read_csv(tmp_path / 'killed' / f))
    a, b = (json.loads((tmp_path / d / 'metrics.json').read_text()) for d in ('clean', 'killed'))
    assert (a['WA'], a['UA'], a['best_epoch']) == (b['WA'], b['UA'], b['best_epoch'])


def test_resume_with_other_config_is_refused(tiny, tmp_path):
    table, feats = tiny
    f = tiny_fold(table)
    assert train_fold(f, table, feats, 'Lw', tiny_config(), tmp_path, classes=CL, progress=False, max_epochs_run=1) is None
    with pytest.raises(ValueError, match=r"cannot resume: it was made with another config.*'lr'"):
        train_fold(f, table, feats, 'Lw', tiny_config(lr=1e-2), tmp_path, classes=CL, progress=False)
    with pytest.raises(ValueError, match="cannot resume: it was made with method 'Lw'"):
        train_fold(f, table, feats, 'L', tiny_config(), tmp_path, classes=CL, progress=False)


def test_bad_input(tiny, tmp_path):
    table, feats = tiny
    f = tiny_fold(table)
    with pytest.raises(ValueError, match="unknown method 'LW'"):
        get_method('LW')
    with pytest.raises(ValueError, match="have no utterance of class"):
        make_folds(table[~((table.label == 'anger') & ~table.speaker.isin(['spk0']))], classes=CL)
    bad = dict(feats); bad[f.train_ids[0]] = np.zeros((0, 32), np.float32)
    with pytest.raises(ValueError, match='empty feature matrix'):
        train_fold(f, table, bad, 'baseline', tiny_config(), tmp_path / 'e', classes=CL, progress=False)
    novotes = table.drop(columns=[c for c in table.columns if c.startswith('votes_')])
    with pytest.raises(ValueError, match=r"'votes' \(method soft_target\) need annotator votes"):
        train_fold(f, novotes, feats, 'soft_target', tiny_config(), tmp_path / 'v', classes=CL, progress=False)


def test_nan_loss_stops_with_epoch_and_utterances(tiny, tmp_path, monkeypatch):
    table, feats = tiny
    f = tiny_fold(table)
    train_fold(f, table, feats, 'baseline', tiny_config(max_epochs=6), tmp_path, classes=CL, progress=False, max_epochs_run=2)
    saved = (tmp_path / 'checkpoint.pt').read_bytes()
    soft_ce = BATCH_LOSSES['soft_ce']
    def poisoned(log_probs, targets, gold, weights):
        out = soft_ce.per_utterance(log_probs, targets, gold, weights).clone(); out[1] = float('nan'); return out
    monkeypatch.setitem(BATCH_LOSSES, 'soft_ce', dataclasses.replace(soft_ce, per_utterance=poisoned))
    with pytest.raises(NonFiniteLoss, match=r"fold 0, main epoch 3: non-finite loss in the batch of \['spk\d_\d+'\]"):
        train_fold(f, table, feats, 'baseline', tiny_config(max_epochs=6), tmp_path, classes=CL, progress=False)
    assert (tmp_path / 'checkpoint.pt').read_bytes() == saved  # the last good checkpoint is kept


def _as_format_1(saved):
    "A format-2 checkpoint written the way format 1 was: no format key, progress under 'state', best l and w as 'lw'."
    saved = dict(saved)
    del saved['format']
    progress = dict(saved.pop('progress'))
    best = {k: v for k, v in progress['best'].items() if k not in ('label_logits', 'weights')}
    progress['best'] = {**best, 'lw': (progress['best']['label_logits'], progress['best']['weights'])}
    return {**saved, 'state': progress}


def _cut_and_finish(f, table, feats, cfg, out, change):
    "Train 3 epochs into `out`, rewrite its checkpoint with `change(saved, path)`, then finish the fold."
    assert train_fold(f, table, feats, 'Lw_pretrained', cfg, out, classes=CL, progress=False, max_epochs_run=3) is None
    change(torch.load(out / 'checkpoint.pt', weights_only=True), out / 'checkpoint.pt')
    train_fold(f, table, feats, 'Lw_pretrained', cfg, out, classes=CL, progress=False)


def _same_files(a, b):
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in ('predictions.csv.gz', 'learned.csv.gz'))


def test_unusable_checkpoint_starts_afresh(tiny, tmp_path):
    """A file that is not a checkpoint, or one of an unknown format, is skipped with a warning naming it."""
    table, feats = tiny
    f, cfg = tiny_fold(table), tiny_config(max_epochs=4)
    train_fold(f, table, feats, 'Lw_pretrained', cfg, tmp_path / 'clean', classes=CL, progress=False)
    for case, change in [('garbage', lambda saved, path: path.write_bytes(b'not a checkpoint')),
                         ('unknown', lambda saved, path: torch.save({**saved, 'format': 99}, path))]:
        with pytest.warns(UserWarning, match=re.escape(f"{tmp_path / case / 'checkpoint.pt'}: checkpoint not used")):
            _cut_and_finish(f, table, feats, cfg, tmp_path / case, change)
        assert _same_files(tmp_path / 'clean', tmp_path / case), case


def test_format_1_checkpoint_resumes(tiny, tmp_path):
    table, feats = tiny
    f, cfg = tiny_fold(table), tiny_config(max_epochs=4)
    train_fold(f, table, feats, 'Lw_pretrained', cfg, tmp_path / 'clean', classes=CL, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        _cut_and_finish(f, table, feats, cfg, tmp_path / 'old', lambda saved, path: torch.save(_as_format_1(saved), path))
    assert _same_files(tmp_path / 'clean', tmp_path / 'old')


def test_unwritable_output(tiny, tmp_path):
    table, feats = tiny
    (tmp_path / 'afile').write_text('x')  # a folder cannot be made under a file, even by root
    with pytest.raises(NotADirectoryError, match=r'cannot create the output folder \(.*afile is a file, not a folder\)'):
        train_fold(tiny_fold(table), table, feats, 'baseline', tiny_config(), tmp_path / 'afile' / 'run', classes=CL, progress=False)


def test_grid_in_processes_matches_sequential(tiny, tmp_path):
    """Folds trained in 2 worker processes (1 thread each) give the files of a sequential 1-thread run."""
    from sermeta.experiment import run_grid
    table, feats = tiny
    cfg = tiny_config(max_epochs=3)
    runs = lambda root: [('baseline', cfg, root / 'baseline'), ('Lw', cfg, root / 'Lw')]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try: seq = run_grid(table, feats, runs(tmp_path / 'seq'), classes=CL, folds='0,1', progress=False)
    finally: torch.set_num_threads(threads)
    par = run_grid(table, feats, runs(tmp_path / 'par'), classes=CL, folds='0,1', jobs=2, progress=False)
    assert [m['WA'] for m in seq] == [m['WA'] for m in par]
    for m in ('baseline', 'Lw'):
        for f in ('predictions.csv.gz', 'learned.csv.gz'):
            pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'seq' / m / f), pd.read_csv(tmp_path / 'par' / m / f))


_GRID_SCRIPT = """
import sys; sys.path[:0] = [{tests!r}, {root!r}]  # this checkout's sermeta
from tiny_data import tiny_corpus, tiny_config
from sermeta.core import CLASSES
from sermeta.experiment import run_grid
if __name__ == '__main__':  # the workers import this file
    table, feats = tiny_corpus()
    run_grid(table, feats, [('baseline', tiny_config(max_epochs=100000, patience=100000), {out!r})],
             classes=list(CLASSES), folds='0,1', jobs=2, progress=False)
"""


def _tagged(tag):
    "Pids of the processes whose environment holds `tag` (the test's run and everything it started)."
    pids = []
    for d in Path('/proc').iterdir():
        try:
            if d.name.isdigit() and tag.encode() in (d / 'environ').read_bytes(): pids.append(int(d.name))
        except OSError: pass
    return pids


@pytest.mark.skipif(not Path('/proc/self/environ').exists(), reason='needs /proc')
def test_sigterm_of_the_parent_ends_its_fold_workers(tmp_path):
    """`kill` of a run with 2 fold workers ends the workers too (they used to train on as orphans); the folds stay resumable."""
    import uuid
    tag = f'SERMETA_TEST_TAG={uuid.uuid4().hex}'
    script = tmp_path / 'grid.py'
    script.write_text(_GRID_SCRIPT.format(tests=str(Path(__file__).parent), root=str(Path(__file__).parents[1]),
                                          out=str(tmp_path / 'run')))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', tag.split('=')[0]: tag.split('=')[1]}
    p = subprocess.Popen([sys.executable, str(script)], env=env)
    deadline = time.time() + 120
    while not all((tmp_path / 'run' / f'fold{i}' / 'checkpoint.pt').exists() for i in (0, 1)):  # both workers training
        assert p.poll() is None and time.time() < deadline, 'the grid did not start both folds'
        time.sleep(0.2)
    workers = [q for q in _tagged(tag) if q != p.pid]
    assert len(workers) >= 2
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) != 0
    deadline = time.time() + 30
    while _tagged(tag) and time.time() < deadline: time.sleep(0.2)
    assert _tagged(tag) == [], 'fold workers outlived their parent'
    assert not (tmp_path / 'run' / 'fold0' / 'done').exists() and (tmp_path / 'run' / 'fold0' / 'checkpoint.pt').exists()


def test_grid_on_local_ray_matches_local_executor(tiny, tmp_path):
    """The same small grid through a local Ray instance gives the local executor's metrics and files."""
    ray = pytest.importorskip('ray')
    from sermeta.experiment import run_grid
    table, feats = tiny
    cfg = tiny_config(max_epochs=3)
    runs = lambda root: [('Lw', cfg, root / 'Lw')]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try: local = run_grid(table, feats, runs(tmp_path / 'local'), classes=CL, folds='0,3', progress=False)
    finally: torch.set_num_threads(threads)
    try: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # Ray waits a fixed 30 s for its own node; on saturated cores it may not make it
        if 'timed out during startup' not in str(e): raise
        ray.shutdown(); pytest.skip(f'the local Ray node did not start in 30 s (cores busy?): {e}')
    try: remote = run_grid(table, feats, runs(tmp_path / 'ray'), classes=CL, folds='0,3', jobs=2, executor='ray', progress=False)
    finally: ray.shutdown()
    assert local[0]['WA'] == remote[0]['WA'] and local[0]['folds'] == remote[0]['folds'] == [0, 3]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / 'local/Lw/predictions.csv.gz'), pd.read_csv(tmp_path / 'ray/Lw/predictions.csv.gz'))
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        run_grid(table, feats, runs(tmp_path / 'x'), classes=CL, executor='dask')


def test_gd_reproduces_the_committed_numbers(tiny, tmp_path):
    "The full-batch l/w update (one step of 1.0 / 0.1) gives the numbers it gave before the other rules existed (1 thread)."
    table, feats = tiny
    gd = tiny_config(lw_optimizer='gd', lr_label=1.0, lr_weight=0.1)
    m = train_fold(tiny_fold(table, 1), table, feats, 'Lw', gd, tmp_path, classes=CL, progress=False)
    learned, preds = pd.read_csv(tmp_path / 'learned.csv.gz'), pd.read_csv(tmp_path / 'predictions.csv.gz')
    # to 1e-5: the last printed digit moves with the CPU's float kernels; any change of the update moves far more
    w = learned.groupby('gold').w.mean()
    np.testing.assert_allclose(w[['anger', 'happiness', 'neutral', 'sadness']], [1.013779, 1.019832, 0.966478, 0.999911], atol=1e-5)
    np.testing.assert_allclose(preds.filter(like="prob_").sum(), [3.599546, 3.821979, 4.627446, 3.95103], atol=1e-5)
    assert (m['WA'], m['best_epoch']) == (100.0, 6)


@pytest.mark.parametrize('settings', [dict(lw_optimizer='sgd'), dict(lw_optimizer='adam', lr_label=0.05, lr_weight=0.05),
                                      dict(lw_optimizer='adam', lw_rescale='epoch', lw_steps=2), dict(lw_start=2),
                                      dict(lw_dropout=True, label_scale=5.0)])
def test_every_lw_reading_trains(tiny, tmp_path, settings):
    "Each reading of the l/w update trains a fold: w positive with mean 1, w moved, lw_start delays the steps."
    table, feats = tiny
    cfg = tiny_config(max_epochs=4, patience=4, **settings)
    train_fold(tiny_fold(table), table, feats, 'Lw', cfg, tmp_path, classes=CL, progress=False)
    learned, history = pd.read_csv(tmp_path / 'learned.csv.gz'), pd.read_csv(tmp_path / 'history.csv.gz')
    assert (learned.w > 0).all() and abs(learned.w.mean() - 1) < 1e-5
    assert (learned.w != learned.w_init).any()
    waiting = settings.get('lw_start', 0)
    assert (history.seconds_lw[:waiting] == 0).all() and (history.seconds_lw[waiting:] > 0).all()


def test_a_diverging_lw_update_stops_the_fold_with_its_settings(tiny, tmp_path):
    table, feats = tiny
    cfg = tiny_config(lw_optimizer='sgd', lr_label=50.0, lr_weight=50.0, batch_size=2)
    with pytest.raises(NonFiniteLoss, match=r"fold 0, main epoch 1: the sgd l/w update .*'lr_weight': 50.0.* non-finite"):
        train_fold(tiny_fold(table), table, feats, 'Lw', cfg, tmp_path, classes=CL, progress=False)
