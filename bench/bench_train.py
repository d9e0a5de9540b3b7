"""Training speed on one fold of the synthetic corpus: network epoch, l/w step, frames/s, padding.

Prints, for one leave-one-speaker-out fold of a `sermeta_synth` corpus (scale 1.0 by default):
seconds per network epoch and per l/w step, effective (non-padding) frames per second, the padding
fraction, and the ratio of the effective rate to a dense 32 x 450 batch of the same model measured
in the same run. Not a test: it prints figures.

    python bench/bench_train.py [--scale 1.0] [--epochs 2] [--bf16] [--device cpu]
"""
import argparse, json, os, platform, tempfile, time
from pathlib import Path
import pandas as pd, torch
from sermeta.core import CLASSES
from sermeta.reproduce import prepare_corpus
from sermeta.features import extract_features
from sermeta.folds import make_folds
from sermeta.train import Config, train_fold, resolve_device
from sermeta.model import EmotionClassifier


def dense_rate(cfg, device, steps=5, B=32, T=450):
    "Training frames/s of the model on a dense (no padding) B x T batch: the ceiling."
    torch.manual_seed(0)
    m = EmotionClassifier(32, 4, fc_size=cfg.fc_size, lstm_size=cfg.lstm_size, dropout=cfg.dropout).to(device)
    opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
    x, L, y = torch.randn(B, T, 32, device=device), torch.full((B,), T, device=device), torch.randint(0, 4, (B,), device=device)
    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = m(x, L)
        loss = torch.nn.functional.cross_entropy(out.float(), y); opt.zero_grad(); loss.backward(); opt.step()
    step()
    if device.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps): step()
    if device.type == 'cuda': torch.cuda.synchronize()
    return B * T * steps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--method', default='Lw')
    ap.add_argument('--bf16', action='store_true')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--data_dir', default='data')
    a = ap.parse_args()
    dev = resolve_device(a.device)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == 'cuda' else f", {platform.processor() or platform.machine()}"))
    table, _ = prepare_corpus('synthetic', scale=a.scale, data_dir=a.data_dir)
    feats = extract_features(table)
    fold = make_folds(table, classes=CLASSES)[a.fold]
    frames = sum(len(feats[u]) for u in fold.train_ids)
    print(f"fold {fold.index}: {len(fold.train_ids)} training utterances, {frames} frames")
    cfg = Config(max_epochs=a.epochs, patience=a.epochs + 1, device=str(dev), bf16=a.bf16)
    ceiling = dense_rate(cfg, dev)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        train_fold(fold, table, feats, a.method, cfg, d, classes=CLASSES, progress=False)
        wall = time.perf_counter() - t
        h = pd.read_csv(Path(d)/'history.csv')
    net, lw = h.seconds_network.median(), h.seconds_lw.median()
    eff = h.frames_per_second.median()
    print(f"network epoch {net:.2f} s, l/w step {lw:.2f} s (ratio {lw / net:.3f}), "
          f"effective {eff:.0f} frames/s, padding {h.padding.mean():.3f}")
    print(f"dense {32}x{450} ceiling {ceiling:.0f} frames/s -> ratio {eff / ceiling:.3f}; fold wall {wall:.1f} s for {a.epochs} epochs")


if __name__ == '__main__':
    main()
