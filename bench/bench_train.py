"""Training speed on one fold of the synthetic corpus: network epoch, l/w step, frames/s, padding.

Prints, for one leave-one-speaker-out fold of a `sermeta_synth` corpus (scale 1.0 by default):
seconds per network epoch and per l/w step, effective (non-padding) frames per second, the padding
fraction, and the ratio of the effective rate to a dense 32 x 450 batch of the same model measured
in the same run. Not a test: it prints figures.

    python bench/bench_train.py [--scale 1.0] [--epochs 2] [--bf16] [--lw_bf16] [--device cpu]
    python bench/bench_train.py --scale 0.1 --epochs 20 --compare_lw_bf16   # fp32 vs bf16 l/w pass, same fold and seed
"""
import argparse, json, os, platform, tempfile, time
from dataclasses import replace
from pathlib import Path
import pandas as pd, torch
from sermeta.core import CLASSES
from sermeta.reproduce import prepare_corpus
from sermeta.features import extract_features
from sermeta.folds import make_folds
from sermeta.config import Config, resolve_device
from sermeta.runs import read_record
from sermeta.train import train_fold, stack_utterances, predict_log_probs
from sermeta.folds import fold_normaliser
from sermeta.meta import LabelWeightState
from sermeta.model import EmotionClassifier


def _frames_per_second(step, frames, device, steps):
    "Frames/s of `step` (one warm-up call, then `steps` timed calls)."
    step()
    if device.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps): step()
    if device.type == 'cuda': torch.cuda.synchronize()
    return frames * steps / (time.perf_counter() - t)


def _dense_model(cfg, device, B, T):
    torch.manual_seed(0)
    m = EmotionClassifier.from_config(cfg, 32, 4).to(device)
    return m, torch.randn(B, T, 32, device=device), torch.full((B,), T, device=device)


def dense_rate(cfg, device, steps=5, B=32, T=450):
    "Training frames/s of the model on a dense (no padding) B x T batch: the ceiling."
    m, x, L = _dense_model(cfg, device, B, T)
    opt, y = torch.optim.Adam(m.parameters(), lr=cfg.lr), torch.randint(0, 4, (B,), device=device)
    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = m(x, L)
        loss = torch.nn.functional.cross_entropy(out.float(), y); opt.zero_grad(); loss.backward(); opt.step()
    return _frames_per_second(step, B * T, device, steps)


def inference_rate(cfg, device, steps=5, B=64, T=450, bf16=False):
    "Inference frames/s of the model on a dense B x T batch (the l/w pass's ceiling)."
    m, x, L = _dense_model(cfg, device, B, T)
    m.eval()
    def step():
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16): m(x, L)
    return _frames_per_second(step, B * T, device, steps)


def one_step_check(fold, table, feats, cfg, checkpoint, device):
    "The same l/w step from the same network and state, fed fp32 or bf16 log-probabilities: how far apart the results are."
    ck = torch.load(checkpoint, map_location=device, weights_only=False)
    norm = fold_normaliser(fold, feats)
    train = stack_utterances(list(fold.train_ids), table, feats, norm, CLASSES, device)
    m = EmotionClassifier.from_config(cfg, train.x.shape[1], len(CLASSES)).to(device)
    m.load_state_dict(ck['model'])
    out = []
    for bf16 in (False, True):
        t = time.perf_counter()
        logy = predict_log_probs(m, train, bf16=bf16).cpu()
        secs = time.perf_counter() - t
        st = LabelWeightState(ck['label_logits'].clone(), ck['weights'].clone()).step(logy, lr_label=cfg.lr_label, lr_weight=cfg.lr_weight)
        out.append((logy, st, secs))
    (l32, s32, t32), (l16, s16, t16) = out
    dw, dl = (s32.weights - s16.weights).abs(), (s32.targets - s16.targets).abs()
    print(f"one l/w step from the last checkpoint: inference {t32:.2f} s fp32, {t16:.2f} s bf16; "
          f"max |log y diff| {(l32 - l16).abs().max():.4f}; w moved by {(s32.weights - ck['weights']).abs().mean():.2e} on average, "
          f"bf16 - fp32 |diff| mean {dw.mean():.2e} max {dw.max():.2e}; s_n |diff| max {dl.max():.2e}; "
          f"argmax s_n agree {100 * (s32.targets.argmax(1) == s16.targets.argmax(1)).float().mean():.2f} %")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scale', type=float, default=1.0)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--method', default='Lw')
    ap.add_argument('--bf16', action='store_true', help='bfloat16 autocast for training and inference')
    ap.add_argument('--lw_bf16', action='store_true', help='bfloat16 autocast in the l/w pass only')
    ap.add_argument('--compare_lw_bf16', action='store_true',
                    help='train the fold twice (fp32 l/w pass, then bf16) and compare speed, learned l and w, and accuracy')
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
    cfg = Config(max_epochs=a.epochs, patience=a.epochs + 1, device=str(dev), bf16=a.bf16, lw_bf16=a.lw_bf16)
    ceiling, runs = dense_rate(cfg, dev), []
    print(f"dense 32x450 ceiling {ceiling:.0f} training frames/s, {inference_rate(cfg, dev):.0f} inference frames/s "
          f"(fp32), {inference_rate(cfg, dev, bf16=True):.0f} (bf16)")
    for c in ([replace(cfg, lw_bf16=False), replace(cfg, lw_bf16=True)] if a.compare_lw_bf16 else [cfg]):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            m = train_fold(fold, table, feats, a.method, c, d, classes=CLASSES, progress=False)
            wall = time.perf_counter() - t
            h, learned = read_record(d, 'history'), read_record(d, 'learned')
            if a.compare_lw_bf16 and not c.lw_bf16: one_step_check(fold, table, feats, c, Path(d)/'checkpoint.pt', dev)
        main = h[h.seconds_lw > 0] if (h.seconds_lw > 0).any() else h
        net, lw, eff = main.seconds_network.median(), main.seconds_lw.median(), h.frames_per_second.median()
        print(f"\n[{'bf16' if c.bf16 else 'fp32'} training, {'bf16' if c.bf16 or c.lw_bf16 else 'fp32'} l/w pass] "
              f"network epoch {net:.2f} s, l/w step {lw:.2f} s (ratio {lw / net:.3f}), "
              f"effective {eff:.0f} frames/s, padding {h.padding.mean():.3f}")
        print(f"effective / dense ceiling {eff / ceiling:.3f}; fold wall {wall:.1f} s for {len(h)} epochs; "
              f"test WA {m['WA']:.1f} UA {m['UA']:.1f}")
        runs.append(learned)
    if a.compare_lw_bf16:
        x, y = runs
        from scipy.stats import spearmanr
        print(f"\nfp32 vs bf16 l/w pass: Spearman of learned w {spearmanr(x.w, y.w).statistic:.3f}, "
              f"max |w diff| {(x.w - y.w).abs().max():.3f}, learned labels agree on {100 * (x.learned == y.learned).mean():.1f} % "
              f"(labels changed from gold: {100 * (x.learned != x.gold).mean():.1f} % / {100 * (y.learned != y.gold).mean():.1f} %)")

if __name__ == '__main__':
    main()
