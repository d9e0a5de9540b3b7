"""A tiny corpus of random features with a learnable class signal, for fast trainer tests."""
import numpy as np, pandas as pd
from sermeta.core import CLASSES
from sermeta.folds import make_folds
from sermeta.config import Config


def tiny_corpus(seed=0, n_per_speaker=16, n_features=32, with_votes=True):
    "Utterance table (6 speakers in 3 sessions, 4 classes) and {utt_id: (frames, F)} features."
    rng = np.random.default_rng(seed)
    rows, feats = [], {}
    centres = rng.normal(0, 1, (len(CLASSES), n_features))
    for s in range(6):
        spk, offset = f'spk{s}', rng.normal(0, 0.3, n_features)
        for i in range(n_per_speaker):
            c = i % len(CLASSES)
            uid = f'{spk}_{i:03d}'
            T = int(rng.integers(15, 60))
            feats[uid] = (centres[c] + offset + rng.normal(0, 1.5, (T, n_features))).astype(np.float32)
            votes = np.bincount(rng.choice(len(CLASSES), 3, p=np.eye(len(CLASSES))[c] * 0.7 + 0.075), minlength=len(CLASSES))
            row = dict(utt_id=uid, speaker=spk, session=f'sess{s // 2}', path=f'{uid}.wav', label=CLASSES[c])
            if with_votes: row.update({f'votes_{k}': float(v) for k, v in zip(CLASSES, votes)})
            rows.append(row)
    return pd.DataFrame(rows), feats


def tiny_config(**kw):
    "A model and schedule small enough to train a fold in about a second."
    return Config(**{**dict(fc_size=16, lstm_size=8, batch_size=8, max_epochs=6, patience=3, lr=3e-3), **kw})


def tiny_fold(table, i=0):
    "Fold `i` of the tiny corpus's leave-one-speaker-out folds."
    return make_folds(table, classes=list(CLASSES))[i]
