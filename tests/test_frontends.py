"""Front-ends beyond the paper's 32 LLDs, per-speaker normalisation, and the model following the features."""
import re, subprocess, sys
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.core import CLASSES
from sermeta.features import FRONTENDS, extract_features, feature_names, frontend_hash, config_hash
from sermeta.folds import speaker_normalised
from sermeta.config import Config
from sermeta.experiment import run_method
from tiny_data import tiny_config

CL = list(CLASSES)


@pytest.fixture(scope='module')
def emodb_three(emodb_root):
    "Three EmoDB recordings of two speakers and their durations."
    wavs = [emodb_root / 'wav' / f for f in ('03a01Fa.wav', '03a01Nc.wav', '08a01Na.wav')]
    return pd.DataFrame({'utt_id': [w.stem for w in wavs], 'path': [str(w) for w in wavs],
                         'speaker': [w.stem[:2] for w in wavs], 'seconds': [sf.info(w).duration for w in wavs]})


@pytest.mark.parametrize('frontend, columns', [('is09', 32), ('egemaps', 25), ('compare', 130), ('logmel', 64)])
def test_each_frontend_shape_and_frame_rate(emodb_three, tmp_path, frontend, columns):
    feats = extract_features(emodb_three, frontend=frontend, cache_dir=tmp_path, n_jobs=1, progress=False)
    assert feats.frontend == frontend and len(feature_names(frontend)) == columns
    for utt, seconds in zip(emodb_three.utt_id, emodb_three.seconds):
        frames, width = feats[utt].shape
        assert width == columns and feats[utt].dtype == np.float32 and np.isfinite(feats[utt]).all()
        assert abs(frames - 100 * seconds) <= 6, (frontend, frames, seconds)   # a frame every 10 ms


def test_the_cache_keeps_frontends_apart(emodb_three, tmp_path):
    a = extract_features(emodb_three, frontend='is09', cache_dir=tmp_path, n_jobs=1, progress=False)
    b = extract_features(emodb_three, frontend='egemaps', cache_dir=tmp_path, n_jobs=1, progress=False)
    again = extract_features(emodb_three, frontend='is09', cache_dir=tmp_path, progress=False)
    assert all(np.array_equal(a[u], again[u]) for u in a) and all(b[u].shape[1] == 25 for u in b)
    entries = sorted(p.name for p in tmp_path.glob('*/*.npy'))
    assert len(entries) == 6 and sum(name.endswith(f'-{config_hash()}.npy') for name in entries) == 3
    assert frontend_hash('is09') == config_hash()   # the is09 entries of existing caches keep their keys
    assert {p.name for p in tmp_path.glob('index*.json')} == {'index.json', 'index-egemaps.json'}


def test_speaker_normalisation_reads_no_label(tiny):
    table, feats = tiny
    z = speaker_normalised(table, feats)
    shuffled = speaker_normalised(table.assign(label=table.label.sample(frac=1, random_state=1).to_numpy()), feats)
    assert all(np.array_equal(z[u], shuffled[u]) for u in z)
    frames = np.concatenate([z[u] for u in table.utt_id[table.speaker == 'spk2']])
    assert np.allclose(frames.mean(0), 0, atol=1e-4) and np.allclose(frames.std(0), 1, atol=1e-3)


def test_the_model_follows_the_features_and_speaker_norm_trains(tiny, tmp_path):
    table, feats = tiny
    from sermeta.features import Features
    narrow = Features((u, f[:, :25]) for u, f in feats.items())   # 25 columns, standing for eGeMAPS
    narrow.frontend = 'egemaps'
    m = run_method(table, narrow, 'Lw', tiny_config(max_epochs=2, frontend='egemaps', norm='speaker'), tmp_path / 'Lw',
                   classes=CL, folds='0', progress=False)
    assert m['folds'] == [0]
    svm = run_method(table, narrow, 'svm', tiny_config(frontend='egemaps', norm='speaker'), tmp_path / 'svm',
                     classes=CL, folds='0', progress=False)
    assert 0 <= svm['UA'] <= 100
    with pytest.raises(ValueError, match=r"the features were made by front-end 'egemaps', the config asks for \['is09'\]"):
        run_method(table, narrow, 'baseline', tiny_config(max_epochs=1), tmp_path / 'b', classes=CL, folds='0', progress=False)


def test_unknown_frontend_and_norm_are_refused():
    with pytest.raises(ValueError, match=r"Config: frontend must be one of \('is09', 'egemaps', 'compare', 'logmel', 'ssl'\), got 'mfcc'"):
        Config(frontend='mfcc')
    with pytest.raises(ValueError, match=r"Config: norm must be one of \('fold', 'speaker'\), got 'global'"):
        Config(norm='global')
    assert 'frontend' not in Config().to_dict() and Config(norm='speaker').to_dict()['norm'] == 'speaker'
    assert list(FRONTENDS) == ['is09', 'egemaps', 'compare', 'logmel', 'ssl']


def test_a_final_model_reads_wavs_with_its_own_frontend(emodb_root, tmp_path):
    from sermeta.corpora import load_corpus
    from sermeta.predict import train_final, predict_files
    table = load_corpus('emodb', emodb_root)
    table = table[table.speaker.isin(['03', '08'])].groupby('label').head(4).reset_index(drop=True)
    feats = extract_features(table, frontend='egemaps', cache_dir=tmp_path / 'cache', n_jobs=1, progress=False)
    path = train_final(table, feats, config=tiny_config(max_epochs=1, frontend='egemaps'), out=tmp_path / 'final.pt',
                       progress=False)
    probs = predict_files(path, table.path[:2])
    assert len(probs) == 2 and np.allclose(probs.filter(like='prob_').sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="trained on 'egemaps' features, not 'is09'"):
        predict_files(path, table.path[:1], frontend='is09')
    with pytest.raises(ValueError, match="norm='speaker' needs each test speaker's own statistics"):
        train_final(table, feats, config=tiny_config(frontend='egemaps', norm='speaker'), out=tmp_path / 'x.pt')


def _tiny_wavlm(folder):
    "A tiny random WavLM checkpoint and its feature extractor in `folder`, standing for a user's local model."
    import torch
    from transformers import WavLMConfig, WavLMModel, Wav2Vec2FeatureExtractor
    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, conv_dim=(8,) * 7,
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_buckets=16,
                         max_bucket_distance=50, feat_extract_norm='layer', do_stable_layer_norm=True)
    WavLMModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return folder


def _manifest(emodb_root, path, per_class=2, speakers=('03', '08', '09', '10')):
    from sermeta.corpora import load_corpus
    t = load_corpus('emodb', emodb_root)
    t = t[t.speaker.isin(speakers)].groupby(['speaker', 'label']).head(per_class)
    t[['path', 'speaker', 'label']].to_csv(path, index=False)
    return path


def test_ssl_frontend_end_to_end(emodb_root, emodb_three, tmp_path):
    "A local checkpoint's hidden states: 20 ms frames, cached apart per layer, and a fold trained from the CLI."
    from sermeta.features import get_frontend
    from sermeta.config import frontend_spec
    model = _tiny_wavlm(tmp_path / 'wavlm')
    spec = frontend_spec(Config(frontend='ssl', ssl_model=str(model)))
    assert spec == f'ssl:mean:{model.resolve()}' and get_frontend(spec).frame_rate == 50
    feats = extract_features(emodb_three, frontend=spec, cache_dir=tmp_path / 'cache', progress=False)
    assert feats.frontend == spec
    for utt, seconds in zip(emodb_three.utt_id, emodb_three.seconds):
        assert feats[utt].shape[1] == 16 and abs(feats[utt].shape[0] - 50 * seconds) <= 2   # a frame every 20 ms
    layer1 = extract_features(emodb_three, frontend=get_frontend('ssl', {'ssl_model': model, 'ssl_layer': 1}),
                              cache_dir=tmp_path / 'cache', progress=False)
    again = extract_features(emodb_three, frontend=spec, cache_dir=tmp_path / 'cache', progress=False)
    assert all(np.array_equal(feats[u], again[u]) and not np.array_equal(feats[u], layer1[u]) for u in feats)
    manifest = _manifest(emodb_root, tmp_path / 'm.csv')
    features = [sys.executable, '-c', 'import sys; sys.argv[0] = "sermeta_features"; from sermeta.features import '
                'features_cli; sys.exit(features_cli())', '--corpus', 'manifest', '--root', str(manifest),
                '--cache_dir', str(tmp_path / 'cli'), '--frontend', 'ssl', '--ssl_layer', '1']
    r = subprocess.run(features + ['--ssl_model', str(model)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    listed = pd.read_csv(manifest).path
    seconds = sum(sf.info(p).duration for p in listed)
    n, minutes = re.match(r'(\d+) utterances, ([\d.]+) min of audio', r.stdout).groups()
    assert int(n) == len(listed) and abs(float(minutes) - seconds / 60) <= 0.05, (r.stdout, seconds)   # 50 frames a second
    assert len(list((tmp_path / 'cli').glob('index-ssl-*.json'))) == 1
    r = subprocess.run(features, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines()[-1].startswith(
        'sermeta_features: error: the ssl front-end needs a local model folder: give --ssl_model DIR'), r.stderr[-2000:]
    cmd = [sys.executable, '-c', 'import sys; sys.argv[0] = "sermeta_train"; from sermeta.experiment import train_cli; '
           'sys.exit(train_cli())', '--corpus', 'manifest', '--root', str(manifest), '--out', str(tmp_path / 'runs'),
           '--folds', '0', '--max_epochs', '1', '--fc_size', '16', '--lstm_size', '8', '--frontend', 'ssl']
    env = {**__import__('os').environ, 'SERMETA_CACHE': str(tmp_path / 'home')}
    r = subprocess.run(cmd + ['--ssl_model', str(model)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    run = tmp_path / 'runs/manifest' / f'baseline@fc_size=16,lstm_size=8,frontend=ssl,ssl_model={model.name}' / 'seed0'  # named by its folder's name
    assert '"frontend": "ssl"' in (run / 'config.json').read_text()
    for folder, message in [(tmp_path / 'nowhere', 'no such folder'), (tmp_path / 'm.csv', 'no such folder')]:
        r = subprocess.run(cmd + ['--ssl_model', str(folder)], capture_output=True, text=True, env=env)
        assert r.returncode == 1 and 'Traceback' not in r.stderr and message in r.stderr.splitlines()[-1], r.stderr[-2000:]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert 'the ssl front-end needs a local model folder: give --ssl_model DIR' in r.stderr.splitlines()[-1]
