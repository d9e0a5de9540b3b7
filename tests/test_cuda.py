"""The CUDA path of the trainer. CI has no GPU, so these skip there; run them on a GPU machine:
`python -m pytest -q tests/test_cuda.py`."""
import numpy as np, pandas as pd, pytest, torch
from sermeta.core import CLASSES
from sermeta.folds import fold_normaliser
from sermeta.model import EmotionClassifier
from sermeta.config import resolve_device
from sermeta.train import train_fold, stack_utterances, predict_log_probs
from tiny_data import tiny_config, tiny_fold

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
CL = list(CLASSES)


def test_auto_picks_the_gpu():
    assert resolve_device('auto').type == 'cuda'


def test_gpu_inference_matches_cpu(tiny):
    "The same weights give the same log-probabilities on both devices (fp32), and nearly the same classes under bf16."
    table, feats = tiny
    f = tiny_fold(table)
    norm, ids = fold_normaliser(f, feats), list(f.train_ids)
    torch.manual_seed(0)
    m = EmotionClassifier(32, len(CL), fc_size=16, lstm_size=8).eval()
    cpu = predict_log_probs(m, stack_utterances(ids, table, feats, norm, CL, 'cpu'))
    gpu_data = stack_utterances(ids, table, feats, norm, CL, 'cuda')
    m.cuda()
    gpu = predict_log_probs(m, gpu_data).cpu()
    assert (cpu - gpu).abs().max() < 1e-3
    bf16 = predict_log_probs(m, gpu_data, bf16=True).cpu()
    assert (bf16.argmax(1) == cpu.argmax(1)).float().mean() >= 0.95


@pytest.mark.parametrize('method', ['baseline', 'Lw', 'Lw_pretrained', 'pencil'])
def test_methods_learn_on_gpu(tiny, tmp_path, method):
    "Every kind of trainer step runs on the GPU, learns the class signal, and keeps w mean-normalised."
    table, feats = tiny
    m = train_fold(tiny_fold(table), table, feats, method, tiny_config(device='cuda', max_epochs=12, patience=12),
                   tmp_path, classes=CL, progress=False)
    assert m['UA'] > 50  # chance is 25
    assert m['device'] == f'cuda: {torch.cuda.get_device_name()}'
    le = pd.read_csv(tmp_path / 'learned.csv.gz')
    assert np.isfinite(le.w).all() and abs(le.w.mean() - 1) < 1e-4


def test_bf16_training_on_gpu(tiny, tmp_path):
    table, feats = tiny
    m = train_fold(tiny_fold(table), table, feats, 'Lw', tiny_config(device='cuda', bf16=True, max_epochs=12, patience=12),
                   tmp_path, classes=CL, progress=False)
    assert m['UA'] > 50


def test_gpu_resume_matches_uninterrupted(tiny, tmp_path):
    "A GPU run stopped after 3 epochs and resumed from its checkpoint ends where an uninterrupted run ends."
    table, feats = tiny
    f, cfg = tiny_fold(table, 1), tiny_config(device='cuda')
    train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'whole', classes=CL, progress=False)
    assert train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'cut', classes=CL, progress=False, max_epochs_run=3) is None
    train_fold(f, table, feats, 'Lw', cfg, tmp_path / 'cut', classes=CL, progress=False)
    a, b = (pd.read_csv(tmp_path / d / 'predictions.csv.gz') for d in ('whole', 'cut'))
    probs = [c for c in a.columns if c.startswith('prob_')]
    assert (a.pred == b.pred).mean() >= 0.95
    assert np.abs(a[probs].to_numpy() - b[probs].to_numpy()).max() < 1e-3
    la, lb = (pd.read_csv(tmp_path / d / 'learned.csv.gz') for d in ('whole', 'cut'))
    assert np.abs(la.w - lb.w).max() < 1e-3


def test_gpu_checkpoint_resumes_on_the_cpu(tiny, tmp_path):
    "A fold begun on a GPU machine can be finished on one without: the checkpoint holds no device-bound state that breaks."
    table, feats = tiny
    f = tiny_fold(table, 2)
    assert train_fold(f, table, feats, 'Lw', tiny_config(device='cuda'), tmp_path, classes=CL, progress=False, max_epochs_run=2) is None
    saved = torch.load(tmp_path / 'checkpoint.pt', map_location='cpu', weights_only=True)
    saved['config']['device'] = 'cpu'  # the same run, moved: only the device differs
    torch.save(saved, tmp_path / 'checkpoint.pt')
    m = train_fold(f, table, feats, 'Lw', tiny_config(device='cpu'), tmp_path, classes=CL, progress=False)
    assert (tmp_path / 'done').is_file() and 0 <= m['UA'] <= 100
    assert len(pd.read_csv(tmp_path / 'history.csv.gz')) > 2
