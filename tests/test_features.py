"Features: 32 IS09 LLD+delta columns per 10 ms frame, the content-keyed cache, and refusal of unusable audio."
import json, re, shutil, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from scipy.signal import resample_poly
import sermeta.features as F
from sermeta.core import write_json
from sermeta.corpora import load_corpus
from sermeta.features import extract_features, extract_signal, feature_names


@pytest.fixture(scope='module')
def few(emodb_root):
    "Three short EmoDB utterances (the table rows) with their durations."
    t = load_corpus('emodb', emodb_root)
    t = t.assign(dur=[sf.info(p).duration for p in t.path]).sort_values('dur').head(3).reset_index(drop=True)
    return t


def _table(paths, ids=None):
    return pd.DataFrame({'utt_id': ids or [Path(p).stem for p in paths], 'path': [str(p) for p in paths]})


def _npys(cache): return sorted(Path(cache).glob('*/*.npy'))


def _no_opensmile(path): raise AssertionError(f'openSMILE was called for {path}')


def _count_calls(monkeypatch):
    "Patch the single-process worker to record the files it extracts."
    calls, real = [], F._extract_file
    monkeypatch.setattr(F, '_extract_file', lambda p, *rest: calls.append(Path(p).name) or real(p, *rest))
    return calls


def test_feature_names():
    names = feature_names()
    assert len(names) == 32
    assert names[:16] == ['pcm_RMSenergy_sma'] + [f'pcm_fftMag_mfcc_sma[{i}]' for i in range(1, 13)] + \
                         ['pcm_zcr_sma', 'voiceProb_sma', 'F0_sma']
    assert names[16:] == [n.replace('_sma', '_sma_de') for n in names[:16]]


def test_shape_frames_and_delta_alignment(few, tmp_path):
    feats = extract_features(few, cache_dir=tmp_path, n_jobs=1, progress=False)
    assert list(feats) == few.utt_id.tolist()
    for u, dur in zip(few.utt_id, few.dur):
        y = feats[u]
        assert y.dtype == np.float32 and y.ndim == 2 and y.shape[1] == 32
        assert abs(len(y) - dur * 100) <= 3, (u, len(y), dur)  # one frame per 10 ms
        assert np.isfinite(y).all()
        # column 16+i is the delta (regression over +-2 frames) of column i, frame by frame
        c = y[:, :16].astype(np.float64)
        d = ((c[3:-1] - c[1:-3]) + 2 * (c[4:] - c[:-4])) / 10
        assert (np.abs(y[2:-2, 16:] - d) <= 1e-4 * (np.abs(c).max(0) + 1e-6)).all(), u
    # F0 is in a speech range where voiced, energy is non-negative
    y = np.concatenate(list(feats.values()))
    assert (y[:, 0] >= 0).all() and 50 < np.median(y[y[:, 15] > 0, 15]) < 500


def test_cache_second_call_reads_only_the_cache(few, tmp_path, monkeypatch):
    a = extract_features(few, cache_dir=tmp_path, n_jobs=1, progress=False)
    assert len(_npys(tmp_path)) == 3
    index = json.loads((tmp_path/'index.json').read_text())
    assert sorted(index) == sorted(str(Path(p).resolve()) for p in few.path)
    monkeypatch.setattr(F, '_extract_file', _no_opensmile)
    b = extract_features(few, cache_dir=tmp_path, n_jobs=1, progress=False)
    assert list(a) == list(b) and all(np.array_equal(a[u], b[u]) and b[u].dtype == np.float32 for u in a)


def test_cache_key_is_the_content(few, tmp_path, monkeypatch):
    src = Path(few.path[0])
    cache = tmp_path/'cache'
    a = extract_features(_table([src]), cache_dir=cache, n_jobs=1, progress=False)[src.stem]
    copy = tmp_path/'moved'/'renamed.wav'
    copy.parent.mkdir()
    shutil.copy(src, copy)
    calls = _count_calls(monkeypatch)
    b = extract_features(_table([copy]), cache_dir=cache, n_jobs=1, progress=False)['renamed']
    assert np.array_equal(a, b)
    index = json.loads((cache/'index.json').read_text())
    assert index[str(src.resolve())][2] == index[str(copy.resolve())][2]  # same key
    assert len(_npys(cache)) == 1
    # one changed byte in the samples: new key, recomputed
    data = bytearray(copy.read_bytes())
    data[2000] ^= 0x01
    copy.write_bytes(bytes(data))
    st = copy.stat()
    import os; os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    calls.clear()
    c = extract_features(_table([copy]), cache_dir=cache, n_jobs=1, progress=False)['renamed']
    assert calls == ['renamed.wav']
    assert len(_npys(cache)) == 2 and not np.array_equal(a, c)
    assert json.loads((cache/'index.json').read_text())[str(copy.resolve())][2] != index[str(src.resolve())][2]


def test_cache_hit_for_moved_file_skips_opensmile(few, tmp_path, monkeypatch):
    src = Path(few.path[0])
    a = extract_features(_table([src]), cache_dir=tmp_path/'cache', n_jobs=1, progress=False)[src.stem]
    copy = tmp_path/'renamed.wav'
    shutil.copy(src, copy)
    monkeypatch.setattr(F, '_extract_file', _no_opensmile)
    b = extract_features(_table([copy]), cache_dir=tmp_path/'cache', n_jobs=1, progress=False)['renamed']
    assert np.array_equal(a, b)


def _corrupt_third(few, tmp_path):
    bad = tmp_path/'bad.wav'
    bad.write_bytes(b'RIFF\x24\x00\x00\x00WAVEgarbage that is not a wav file')
    return _table(list(few.path[:2]) + [bad]), bad


def _keeps_first_two(few, cache, monkeypatch):
    index = json.loads((cache/'index.json').read_text())
    assert sorted(index) == sorted(str(Path(p).resolve()) for p in few.path[:2])
    assert len(_npys(cache)) == 2
    monkeypatch.setattr(F, '_extract_file', _no_opensmile)
    assert len(extract_features(few.head(2), cache_dir=cache, n_jobs=1, progress=False)) == 2


def test_interrupted_run_keeps_what_it_computed(few, tmp_path, monkeypatch):
    table, bad = _corrupt_third(few, tmp_path)
    with pytest.raises(ValueError, match=re.escape(f'{bad}: cannot read audio')):
        extract_features(table, cache_dir=tmp_path/'cache', n_jobs=1, progress=False)
    _keeps_first_two(few, tmp_path/'cache', monkeypatch)


def test_interrupted_parallel_run_keeps_what_it_computed(few, tmp_path, monkeypatch):
    monkeypatch.setattr(F, 'IN_PROCESS_FILES', 0)   # three files go to the worker pool too
    table, bad = _corrupt_third(few, tmp_path)
    with pytest.raises(ValueError, match=re.escape(f'{bad}: cannot read audio')):
        extract_features(table, cache_dir=tmp_path/'cache', n_jobs=2, progress=False)
    _keeps_first_two(few, tmp_path/'cache', monkeypatch)


def test_stereo_44k_is_mixed_and_resampled(few, tmp_path):
    x, sr = sf.read(few.path[0], dtype='float32')
    assert sr == 16000 and x.ndim == 1
    y = resample_poly(x, 441, 160).astype(np.float32)
    st = tmp_path/'stereo44k.wav'
    sf.write(st, np.stack([y, 0.8 * y], 1), 44100, subtype='PCM_16')
    with pytest.warns(UserWarning) as rec:
        f = extract_features(_table([st]), cache_dir=tmp_path, n_jobs=1, progress=False)['stereo44k']
    msgs = [str(w.message) for w in rec]
    assert any(m.startswith(f'{st}: 2 channels, averaged to mono') for m in msgs), msgs
    assert any(m.startswith(f'{st}: 44100 Hz, resampled to 16000 Hz') for m in msgs), msgs
    ref = extract_features(few.head(1), cache_dir=tmp_path, n_jobs=1, progress=False)[few.utt_id[0]]
    assert f.shape[1] == 32 and abs(len(f) - len(ref)) <= 1
    n = min(len(f), len(ref))
    assert np.corrcoef(f[:n, 1], ref[:n, 1])[0, 1] > 0.9  # MFCC 1 follows the same speech


@pytest.mark.parametrize('kind, message', [('empty', 'empty audio (0 samples)'),
                                           ('corrupt', 'cannot read audio'),
                                           ('short', 'shorter than one 25 ms frame')])
def test_unusable_audio_is_refused_naming_the_file(kind, message, tmp_path):
    p = tmp_path/f'{kind}.wav'
    if kind == 'empty': sf.write(p, np.zeros((0, 1), np.int16), 16000)
    elif kind == 'corrupt': p.write_bytes(b'RIFF\x00\x00garbage')
    else: sf.write(p, (0.1 * np.random.default_rng(0).standard_normal(300)).astype(np.float32), 16000)  # 18.75 ms
    with pytest.raises(ValueError, match=re.escape(f'{p}: ') + r'(\S+ ms of audio, )?' + re.escape(message)):
        extract_features(_table([p]), cache_dir=tmp_path/'cache', n_jobs=1, progress=False)
    assert not _npys(tmp_path/'cache')


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f'{tmp_path}/gone.wav: audio of utterance u1 is missing')):
        extract_features(_table([tmp_path/'gone.wav'], ['u1']), cache_dir=tmp_path/'cache', n_jobs=1, progress=False)


def test_nan_features_are_refused(few, tmp_path, monkeypatch):
    real = F._smile()

    class NaNSmile:
        feature_names = real.feature_names
        def process_signal(self, x, sr):
            df = real.process_signal(x, sr)
            df.iloc[3, 17] = np.nan
            return df

    monkeypatch.setattr(F, '_smile', lambda: NaNSmile())
    path = few.path[0]
    with pytest.raises(ValueError, match=re.escape(f"{path}: NaN or inf in feature pcm_fftMag_mfcc_sma_de[1] at frame 3")):
        extract_features(few.head(1), cache_dir=tmp_path, n_jobs=1, progress=False)
    assert not _npys(tmp_path)
    with pytest.raises(ValueError, match=r'<signal>: NaN or inf'):
        extract_signal(np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32))


def test_features_console_script(emodb_root, tmp_path):
    exe = shutil.which('sermeta_features')
    cmd = [exe] if exe else [sys.executable, '-c', 'import sys; from sermeta.features import features_cli; sys.exit(features_cli())']
    r = subprocess.run(cmd + ['--corpus', 'emodb', '--root', str(emodb_root), '--cache_dir', str(tmp_path), '--n_jobs', '2'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert re.search(r'^339 utterances, [\d.]+ min of audio, [\d.]+ s, real-time factor \d+x$', r.stdout, re.M), r.stdout
    index = json.loads((tmp_path/'index.json').read_text())
    assert len(index) == 339 and len(_npys(tmp_path)) == 339
    # the parallel workers computed what one process computes
    path = str((emodb_root/'wav'/'03a01Fa.wav').resolve())
    key = index[path][2]
    one = extract_features(_table([path]), cache_dir=tmp_path/'one', n_jobs=1, progress=False)['03a01Fa']
    assert np.array_equal(np.load(tmp_path/key[:2]/f'{key}.npy'), one)
    assert one.shape == (189, 32)


def test_a_plain_script_extracts_over_worker_processes(tmp_path):
    "A researcher's script without `if __name__ == '__main__':`, run with `python`: the pool's workers do not run it again."
    rng, n = np.random.default_rng(0), F.IN_PROCESS_FILES + 4   # more than a handful of files: the worker pool is used
    for i in range(n): sf.write(tmp_path/f'u{i:02d}.wav', rng.normal(0, 0.1, 8000).astype(np.float32), 16000)
    script = tmp_path/'script.py'
    script.write_text(
        "import glob, pandas as pd\n"
        "import sermeta.features as F\n"
        "from sermeta.features import extract_features\n"
        "print('the script runs')\n"
        "read_here, read_audio = [], F.read_audio\n"
        "F.read_audio = lambda path: read_here.append(path) or read_audio(path)  # counts the files read in this process\n"
        "t = pd.DataFrame({'path': sorted(glob.glob('u*.wav'))}).assign(utt_id=lambda t: t.path.str[:3])\n"
        "f = extract_features(t, frontend='egemaps', cache_dir='cache', n_jobs=2)\n"
        "print(len(f), sorted({x.shape[1] for x in f.values()}), 'files read in this process:', len(read_here))\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ['the script runs', f'{n} [25] files read in this process: 0'], (r.stdout, r.stderr[-2000:])
    assert 'features egemaps: 100%' in r.stderr   # its progress bar
    assert len(_npys(tmp_path/'cache')) == n


def _silent(path, seconds=2.0):
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


def _caught(table, cache, **kw):
    "The features of `table` and the messages of the warnings raised while extracting them."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        feats = extract_features(table, cache_dir=cache, n_jobs=1, progress=False, **kw)
    return feats, [str(w.message) for w in caught]


def test_a_silent_file_is_named_once(few, tmp_path):
    silent = _silent(tmp_path/'silent.wav')   # two seconds of zeros, used by two utterances
    table = pd.concat([few[['utt_id', 'path']], _table([silent, silent], ['s1', 's2'])], ignore_index=True)
    expected = [f'{silent}: silent audio (no sample above -80 dBFS); check the recording, '
                'or drop its utterances s1, s2 from the table']
    for source in ('extracted', 'read from the cache'):
        feats, messages = _caught(table, tmp_path/'cache')
        assert messages == expected, source
        assert len(feats) == 5 and all(np.isfinite(feats[u]).all() for u in feats)
    index = json.loads((tmp_path/'cache'/'index.json').read_text())   # an index from before peaks were kept
    write_json({path: row[:4] for path, row in index.items()}, tmp_path/'cache'/'index.json')
    assert _caught(table, tmp_path/'cache')[1] == expected
    assert all(len(row) == 5 for row in json.loads((tmp_path/'cache'/'index.json').read_text()).values())


@pytest.mark.parametrize('frontend', ['is09', 'logmel'])
def test_only_silent_files_is_an_error(tmp_path, frontend):
    table = _table([_silent(tmp_path/'a.wav'), _silent(tmp_path/'b.wav', 1.0)])
    for source in ('extracted', 'read from the cache'):
        with pytest.raises(ValueError, match=re.escape('every one of the 2 audio file(s) is silent (no sample above '
                                                       f'-80 dBFS), e.g. {tmp_path}/a.wav; check the recordings')):
            extract_features(table, frontend=frontend, cache_dir=tmp_path/'cache', n_jobs=1, progress=False)
    quiet = tmp_path/'quiet.wav'   # speech-level noise far below full scale is not silence
    sf.write(quiet, np.random.default_rng(0).normal(0, 0.001, 16000).astype(np.float32), 16000)
    assert _caught(_table([quiet]), tmp_path/'cache', frontend=frontend)[1] == []


def test_features_cli_lists_every_frontend_and_takes_ssl_flags():
    from sermeta.features import FRONTENDS, features_cli
    help_text = ' '.join(features_cli.parser('sermeta_features').format_help().split())
    assert 'the frame features: is09 | egemaps | compare | logmel | ssl (with --ssl_layer, --ssl_model)' in help_text
    assert list(FRONTENDS) == ['is09', 'egemaps', 'compare', 'logmel', 'ssl']
    assert '--ssl_model SSL_MODEL' in help_text and '--ssl_layer SSL_LAYER' in help_text
