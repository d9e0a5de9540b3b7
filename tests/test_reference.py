"""The classical reference row: IS09 functionals + SVM through the same experiment runner as the network."""
import json, pandas as pd, pytest
from sermeta.core import CLASSES
from sermeta.experiment import run_method
from sermeta.folds import make_folds
from sermeta.train import train_fold
from tiny_data import tiny_corpus, tiny_config


def test_svm_runs_through_the_experiment_runner(tmp_path):
    table, feats = tiny_corpus()
    m = run_method(table, feats, 'svm', tiny_config(), tmp_path / 'svm' / 'seed0', classes=CLASSES, progress=False)
    assert len(m['folds']) == 6 and m['UA'] > 60  # the tiny corpus's class signal is in its frame means
    preds = pd.read_csv(tmp_path / 'svm' / 'seed0' / 'predictions.csv.gz')
    assert sorted(preds.utt_id) == sorted(table.utt_id)
    meta = json.loads((tmp_path / 'svm' / 'seed0' / 'config.json').read_text())
    assert meta['method']['model'] == 'svm'
    for d in (tmp_path / 'svm' / 'seed0').glob('fold*'):
        assert json.loads((d / 'metrics.json').read_text())['best_C'] > 0


def test_the_network_trainer_refuses_the_svm(tmp_path):
    table, feats = tiny_corpus()
    fold = make_folds(table, classes=CLASSES)[0]
    with pytest.raises(ValueError, match="'svm' model: run it with sermeta_train"):
        train_fold(fold, table, feats, 'svm', tiny_config(), tmp_path / 'f', classes=CLASSES, progress=False)


def test_svm_on_emodb_reaches_the_known_reference(emodb_root, tmp_path):
    """The whole real-speech pipeline (EmoDB reader, openSMILE features, speaker folds, pooled UA) lands
    where IS09 functionals + an SVM are known to land on EmoDB's 4 classes, leave-one-speaker-out (UA
    about 84 %). A broken stage (misaligned labels, leaking folds, bad features) moves it far off."""
    from sermeta.corpora import load_corpus
    from sermeta.features import extract_features
    table = load_corpus('emodb', emodb_root)
    feats = extract_features(table, progress=False)  # the user's feature cache: seconds when warm
    m = run_method(table, feats, 'svm', tiny_config(), tmp_path / 'svm', classes=CLASSES, progress=False)
    assert len(m['folds']) == 10
    assert 80 <= m['UA'] <= 90 and 80 <= m['WA'] <= 90
