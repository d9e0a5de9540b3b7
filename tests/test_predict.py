"""A final model on all speakers, saved safely, and sermeta_predict on new wav files."""
import subprocess, sys
import numpy as np, pandas as pd, pytest, soundfile as sf, torch
from sermeta.corpora import load_corpus
from sermeta.features import extract_features
from sermeta.predict import train_final, load_model, predict_files
from sermeta.config import Config


@pytest.fixture(scope='module')
def model(emodb_root, tmp_path_factory):
    d = tmp_path_factory.mktemp('final')
    tab = load_corpus('emodb', emodb_root).groupby('label').head(6)
    feats = extract_features(tab, cache_dir=d / 'cache', progress=False)
    path = train_final(tab, feats, method='Lw', config=Config(max_epochs=2, fc_size=16, lstm_size=8), out=d / 'model.pt', progress=False)
    return path, tab


def test_model_file_loads_with_weights_only_and_predicts(model):
    path, tab = model
    state = torch.load(path, weights_only=True)
    assert state['classes'] == ['happiness', 'sadness', 'neutral', 'anger'] and state['method'] == 'Lw'
    m, norm, classes = load_model(path)
    assert not m.training and norm.mean.shape == (32,)
    pr = predict_files(path, list(tab.path[:4]))
    assert np.allclose(pr.filter(like='prob_').sum(axis=1), 1, atol=1e-5)
    assert set(pr.pred) <= set(classes)


def test_predict_cli_prints_and_writes_csv(model, tmp_path):
    path, tab = model
    r = subprocess.run(['sermeta_predict', str(path), *tab.path[:2], '--out', str(tmp_path / 'p.csv')], capture_output=True, text=True, check=True)
    assert 'prob_anger' in r.stdout
    assert len(pd.read_csv(tmp_path / 'p.csv')) == 2


def test_bad_model_and_bad_wav(model, tmp_path):
    path, tab = model
    state = torch.load(path, weights_only=True); state['format'] = 99
    torch.save(state, tmp_path / 'future.pt')
    with pytest.raises(ValueError, match='format 99, this sermeta reads format 1'):
        load_model(tmp_path / 'future.pt')
    (tmp_path / 'junk.pt').write_bytes(b'not a model')
    with pytest.raises(ValueError, match='not a sermeta model file'):
        load_model(tmp_path / 'junk.pt')
    (tmp_path / 'bad.wav').write_bytes(b'RIFFxxxxWAVE')
    with pytest.raises(ValueError, match='bad.wav: cannot read audio'):
        predict_files(path, [tmp_path / 'bad.wav'])
