"""Damaged files heal where sermeta can rebuild them, and a run directory has one trainer at a time."""
import json, os, re, shutil, signal, subprocess, sys, textwrap, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.core import CLASSES, FolderBusy
from sermeta.experiment import run_method
from sermeta.features import extract_features
from sermeta.runs import read_run, run_dir
from sermeta.train import train_fold
from tiny_data import tiny_config, tiny_fold

CL = list(CLASSES)
RESULTS = ('predictions.csv.gz', 'learned.csv.gz', 'history.csv.gz', 'metrics.json')


def _caught(call):
    "(result of `call`, the messages of the warnings it raised)."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = call()
    return result, [str(w.message) for w in caught]


def _same_results(a, b, names=RESULTS):
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in names)


def _same_outcome(a, b):
    "Same predictions and learned values (a fold trained again differs only in its timings)."
    return _same_results(a, b, ('predictions.csv.gz', 'learned.csv.gz'))


@pytest.fixture
def tones(tmp_path):
    "Three short tone recordings and their utterance table."
    t = np.arange(8000) / 16000
    rows = []
    for i, f0 in enumerate((180, 220, 260)):
        path = tmp_path / f'tone{i}.wav'
        sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), 16000)
        rows.append(dict(utt_id=f'tone{i}', path=str(path), speaker=f's{i}', label=CL[i]))
    return pd.DataFrame(rows)


def test_damaged_cache_entry_is_named_once_and_extracted_again(tones, tmp_path):
    cache = tmp_path / 'cache'
    first = extract_features(tones, cache_dir=cache, n_jobs=1, progress=False)
    entries = sorted(cache.glob('*/*.npy'))
    assert len(entries) == 3
    entries[1].write_bytes(b'\x93NUMPY short')   # a header and nothing after it
    again, messages = _caught(lambda: extract_features(tones, cache_dir=cache, n_jobs=1, progress=False))
    assert len(messages) == 1 and messages[0].startswith(f'{entries[1]}: damaged feature-cache entry of ')
    assert all(np.array_equal(first[u], again[u]) for u in first)
    _, messages = _caught(lambda: extract_features(tones, cache_dir=cache, n_jobs=1, progress=False))
    assert messages == []   # healed: the next run reads it silently


def test_damaged_cache_entry_from_the_command_line(tones, tmp_path):
    "From a console script the warning is one line, the run goes on and ends well."
    manifest = tmp_path / 'm.csv'
    tones[['path', 'speaker', 'label']].to_csv(manifest, index=False)
    env = {**os.environ, 'SERMETA_CACHE': str(tmp_path / 'home')}
    cmd = [sys.executable, '-c', 'import sys; sys.argv[0] = "sermeta_features"; from sermeta.features import features_cli; '
           'sys.exit(features_cli())', '--corpus', 'manifest', '--root', str(manifest)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    entry = next((tmp_path / 'home' / 'features').glob('*/*.npy'))
    entry.write_bytes(entry.read_bytes()[:-40])    # cut short
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and 'Traceback' not in r.stderr
    assert f'sermeta_features: warning: {entry}: damaged feature-cache entry of ' in r.stderr


def test_truncated_checkpoint_of_an_unfinished_fold_starts_it_afresh(tiny, tmp_path):
    table, feats = tiny
    f, cfg = tiny_fold(table), tiny_config(max_epochs=4)
    train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'clean', classes=CL, progress=False)
    assert train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'cut', classes=CL, progress=False, max_epochs_run=2) is None
    checkpoint = tmp_path / 'cut' / 'checkpoint.pt'
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    _, messages = _caught(lambda: train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'cut', classes=CL, progress=False))
    assert any(m.startswith(f'{checkpoint}: checkpoint not used: it cannot be read') for m in messages), messages
    assert _same_outcome(tmp_path / 'clean', tmp_path / 'cut')


def test_damaged_finished_fold_is_made_again(tiny, tmp_path):
    "From its kept checkpoint without training an epoch; without one, by training it again. Same files."
    table, feats = tiny
    f, cfg, out = tiny_fold(table), tiny_config(max_epochs=4), tmp_path / 'fold'
    train_fold(f, table, feats, 'Lw', cfg, out, classes=CL, progress=False)
    shutil.copytree(out, tmp_path / 'clean')
    checkpoint = (out / 'checkpoint.pt').read_bytes()
    (out / 'predictions.csv.gz').write_bytes(b'')
    metrics, messages = _caught(lambda: train_fold(f, table, feats, 'Lw', cfg, out, classes=CL, progress=False))
    assert messages == [f'{out}/predictions.csv.gz: its content changed since it was written; fold {out} counts as '
                        'unfinished and is made again (from its checkpoint where one is kept)']
    assert (out / 'checkpoint.pt').read_bytes() == checkpoint           # no epoch was trained
    assert _same_results(tmp_path / 'clean', out) and not (out / 'done.damaged').exists()
    assert metrics == json.loads((tmp_path / 'clean' / 'metrics.json').read_text())
    (out / 'checkpoint.pt').unlink()
    (out / 'metrics.json').write_text('{"WA": 1')
    _caught(lambda: train_fold(f, table, feats, 'Lw', cfg, out, classes=CL, progress=False))
    assert _same_outcome(tmp_path / 'clean', out)


def test_damaged_fold_of_a_run_is_made_again_before_pooling(tiny, tmp_path):
    table, feats = tiny
    cfg = tiny_config(max_epochs=2)
    first = run_method(table, feats, 'baseline', cfg, tmp_path, classes=CL, folds='0,1', progress=False)
    (tmp_path / 'fold1' / 'learned.csv.gz').write_bytes(b'\x1f\x8b cut')
    again, messages = _caught(lambda: run_method(table, feats, 'baseline', cfg, tmp_path, classes=CL, folds='0,1',
                                                 progress=False))
    assert again == first
    assert [m.split(';')[0] for m in messages] == [f'{tmp_path}/fold1/learned.csv.gz: its content changed since it was written']


def test_damaged_pooled_results_are_pooled_again_for_a_report(tiny, tmp_path):
    table, feats = tiny
    out = run_dir(tmp_path, 'tiny', 'baseline', 0)
    run_method(table, feats, 'baseline', tiny_config(max_epochs=2), out, classes=CL, folds='0,1', progress=False)
    before = read_run(tmp_path, 'tiny', 'baseline', 0)
    (out / 'metrics.json').write_text('{"WA":')
    after, messages = _caught(lambda: read_run(tmp_path, 'tiny', 'baseline', 0))
    assert [m.split(' (')[0] for m in messages] == [f'{out}: its pooled results cannot be read']
    for a, b in zip(before, after): pd.testing.assert_frame_equal(a, b)
    (out / 'fold0' / 'metrics.json').write_text('{}')
    (out / 'predictions.csv.gz').write_bytes(b'')
    with pytest.raises(ValueError, match=re.escape("fold(s) ['fold0'] are damaged or unfinished; make it with")):
        _caught(lambda: read_run(tmp_path, 'tiny', 'baseline', 0))


_HOLDER = textwrap.dedent('''
    import sys, time
    from sermeta.core import folder_lock
    with folder_lock(sys.argv[1], 'this run directory'):
        print('held', flush=True); time.sleep(120)
''')


def test_a_second_trainer_of_a_run_directory_is_refused(tiny, tmp_path):
    "Refused while the owner lives, naming it; its lock is taken over once it is dead (SIGKILL leaves the file)."
    table, feats = tiny
    owner = subprocess.Popen([sys.executable, '-c', _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == 'held'
        with pytest.raises(FolderBusy, match=rf'{tmp_path}: this run directory is in use by pid {owner.pid} on '):
            run_method(table, feats, 'baseline', tiny_config(max_epochs=1), tmp_path, classes=CL, folds='0', progress=False)
        assert not (tmp_path / 'fold0').exists()
    finally:
        owner.send_signal(signal.SIGKILL); owner.wait(); owner.stdout.close()
    assert f'pid {owner.pid} ' in (tmp_path / '.lock').read_text()
    metrics = run_method(table, feats, 'baseline', tiny_config(max_epochs=1), tmp_path, classes=CL, folds='0',
                         progress=False)
    assert metrics['folds'] == [0] and f'pid {os.getpid()} ' in (tmp_path / '.lock').read_text()
