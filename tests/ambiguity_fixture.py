"""Fabricated run trees for the ambiguity map: predictions right with a set probability, learned labels that fix a set share."""
import json
from pathlib import Path
import numpy as np, pandas as pd
from sermeta.core import CLASSES


def fake_table(prefix, rng, n=30, speakers=10, gold_right=0.8):
    "A regime's utterance table: `speakers` x `n` utterances, true emotion, gold right with `gold_right`, 5 votes."
    true = rng.integers(0, 4, speakers * n)
    gold = np.where(rng.random(speakers * n) < gold_right, true, (true + rng.integers(1, 4, speakers * n)) % 4)
    votes = np.array([np.bincount(np.r_[g, rng.choice(4, 4, p=np.eye(4)[t] * 0.6 + 0.1)], minlength=4)
                      for t, g in zip(true, gold)])
    return pd.DataFrame({'utt_id': [f'{prefix}{i:03d}' for i in range(speakers * n)],
                         'speaker': np.repeat([f'S{k}' for k in range(speakers)], n),
                         'label': np.array(CLASSES)[gold], 'true_label': np.array(CLASSES)[true],
                         **{f'votes_{c}': votes[:, k] for k, c in enumerate(CLASSES)}})


def fake_run(runs, corpus, name, seed, table, right, rng, *, fixes=0.0, bf16=False, schedule=(0, 0), device='cpu'):
    """A finished run of `table` (its speakers the test folds): predictions right with probability `right`, learned labels
    fixing `fixes` of the wrong gold labels; config.json with `bf16` and `schedule` (max_epochs, patience)."""
    folder = Path(runs)/corpus/name/f'seed{seed}'
    (folder/'fold0').mkdir(parents=True)
    table = table[table.label.isin(CLASSES)]
    gold, true = (table[c].map(list(CLASSES).index).to_numpy() for c in ('label', 'true_label'))
    pred = np.where(rng.random(len(table)) < right, gold, (gold + 1) % 4)
    probs = np.full((len(table), 4), 0.1); probs[np.arange(len(table)), pred] = 0.7
    folds = table.speaker.map({s: k for k, s in enumerate(sorted(table.speaker.unique()))})
    pd.DataFrame({'utt_id': table.utt_id, 'fold': folds, 'gold': table.label, 'pred': np.array(CLASSES)[pred],
                  **{f'prob_{c}': probs[:, k] for k, c in enumerate(CLASSES)}}).to_csv(folder/'predictions.csv.gz', index=False)
    learned = np.where((gold != true) & (rng.random(len(table)) < fixes), true, gold)
    pd.DataFrame({'utt_id': table.utt_id, 'gold': table.label, 'learned': np.array(CLASSES)[learned], 'w': 1.0}
                 ).to_csv(folder/'learned.csv.gz', index=False)
    (folder/'metrics.json').write_text('{}')
    config = {'bf16': bf16, 'max_epochs': schedule[0], 'patience': schedule[1]}
    (folder/'config.json').write_text(json.dumps({'config': config}))
    (folder/'fold0'/'metrics.json').write_text(json.dumps({'seconds': 1.0, 'device': device}))
