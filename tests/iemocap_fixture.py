"""A small IEMOCAP tree in the exact release layout, and the table a loader must read from it.

`write_iemocap_tree(base)` writes `base/IEMOCAP_full_release/Session{1..5}` with
`dialog/EmoEvaluation/<dialog>.txt` and `sentences/wav/<dialog>/<utt>.wav`, plus the release's
extras a loader must ignore. It returns the root and a ground-truth table built from the
specification it wrote (not by parsing the files), one row per utterance, every code included.
`expected_table(truth, ...)` turns that truth into what `load_iemocap(..., same options)` returns.
"""
from __future__ import annotations
from pathlib import Path
import numpy as np, pandas as pd, soundfile as sf

SR = 16000
FOUR = ('happiness', 'sadness', 'neutral', 'anger')
# Written independently of sermeta.corpora: gold code -> class name, rater word -> class name.
CODE_NAME = {'hap': 'happiness', 'sad': 'sadness', 'neu': 'neutral', 'ang': 'anger', 'exc': 'excited',
             'fru': 'frustration', 'sur': 'surprise', 'xxx': None}
WORD = {'happiness': 'Happiness', 'sadness': 'Sadness', 'neutral': 'Neutral', 'anger': 'Anger',
        'excited': 'Excited', 'frustration': 'Frustration', 'surprise': 'Surprise'}
ALL = tuple(WORD)

# Per session: (dialog suffix, [(speaker gender, gold code), ...]) in time order.
# Turns of the other actor sit in every dialog (Ses01F_impro01_M000 is speaker Ses01M).
PLAN = [('F_impro01', [('F', 'hap'), ('M', 'hap'), ('F', 'sad'), ('M', 'sad'), ('F', 'xxx'), ('M', 'exc'), ('F', 'fru')]),
        ('M_impro02', [('M', 'neu'), ('F', 'neu'), ('M', 'ang'), ('F', 'ang'), ('M', 'xxx'), ('F', 'exc'), ('M', 'sur')]),
        ('F_script01_1', [('F', 'neu'), ('M', 'ang'), ('F', 'hap'), ('M', 'sad'), ('F', 'ang'), ('M', 'fru'), ('F', 'exc')])]


def _raters(code, gender, n):
    "The `C-` lines of one utterance as [(rater, [class names], comment)]; evaluators first, then the actor."
    ev = [f'E{(n + j) % 6 + 1}' for j in range(3)]
    if code == 'xxx':  # no majority
        return [(ev[0], ['anger'], '()'), (ev[1], ['sadness'], '()'), (ev[2], ['neutral'], '(unclear)'),
                (f'{gender}1', ['frustration'], '()')]
    if code == 'exc':
        return [(ev[0], ['excited'], '()'), (ev[1], ['excited', 'happiness'], '(laughs)'), (ev[2], ['happiness'], '()'),
                (f'{gender}1', ['neutral'], '()')]
    if code == 'fru':
        return [(ev[0], ['frustration'], '()'), (ev[1], ['frustration', 'anger'], '()'), (ev[2], ['neutral'], '()'),
                (f'{gender}1', ['anger'], '()')]
    if code == 'sur':
        return [(ev[0], ['surprise'], '()'), (ev[1], ['surprise'], '()'), (ev[2], ['happiness'], '()'),
                (f'{gender}1', ['surprise'], '()')]
    gold = CODE_NAME[code]
    second = {'happiness': 'excited', 'sadness': 'neutral', 'neutral': 'frustration', 'anger': 'frustration'}[gold]
    other = {'happiness': 'neutral', 'sadness': 'anger', 'neutral': 'sadness', 'anger': 'neutral'}[gold]
    rows = [(ev[0], [gold], '()'),
            (ev[1], [gold, second] if n % 2 == 0 else [gold], '(tired; a bit bored)' if n % 3 == 0 else '()'),
            (ev[2], [other, 'frustration'] if n % 4 == 1 else [gold], '(tired)')]
    # the actor's self-rating disagrees with the evaluators
    self_label = {'happiness': ['excited'], 'sadness': ['neutral'], 'neutral': ['anger', 'sadness'], 'anger': ['frustration']}[gold]
    return rows + [(f'{gender}1', self_label, '(curious)')]


def _tone(rng, f0):
    t = np.arange(int(0.3 * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(len(t))
    return (x * 32767 * 0.8).astype(np.int16)


def _votes(raters, self_ratings):
    "Class name -> votes: a rater with k labels gives 1/k to each."
    v = {c: 0.0 for c in ALL}
    for r, labs, _ in raters:
        if r.startswith('E') or self_ratings:
            for lab in labs: v[lab] += 1 / len(labs)
    return v


def write_iemocap_tree(base) -> tuple[Path, pd.DataFrame]:
    "Write `base/IEMOCAP_full_release`; return it and the ground-truth table of every utterance."
    root = Path(base)/'IEMOCAP_full_release'
    rng, truth, n = np.random.default_rng(0), [], 0
    for k in range(1, 6):
        sess = root/f'Session{k}'
        emo = sess/'dialog'/'EmoEvaluation'
        for sub in ('Categorical', 'Attribute', 'Self-evaluation'): (emo/sub).mkdir(parents=True, exist_ok=True)
        (sess/'dialog'/'transcriptions').mkdir(parents=True, exist_ok=True)
        plan = list(PLAN)
        # Session k has k-1 extra neutral turns of its female actor in the script: per-speaker counts differ.
        plan[2] = (plan[2][0], plan[2][1] + [('F', 'neu')] * (k - 1))
        for suffix, turns in plan:
            dialog = f'Ses0{k}{suffix}'
            counters, blocks, t = {'F': 0, 'M': 0}, [], 1.0
            for gender, code in turns:
                utt = f'{dialog}_{gender}{counters[gender]:03d}'
                counters[gender] += 1
                n += 1
                start, end = round(t + 0.0101 * n, 4), round(t + 1.5 + 0.0173 * n, 4)
                t = end + 0.5
                v, a, d = 1.0 + (n % 9) * 0.5, 1.5 + (n % 7) * 0.5, 2.0 + (n % 5) * 0.5
                raters = _raters(code, gender, n)
                lines = [f'[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]']
                lines += [f'C-{r}:\t' + ' '.join(f'{WORD[lab]};' for lab in labs) + f'\t{c}' for r, labs, c in raters]
                lines += [f'A-{r}:\tval {1 + n % 5}; act {1 + (n + 1) % 5}; dom  {1 + (n + 2) % 5};\t()' for r, _, _ in raters[1:]]
                blocks.append('\n'.join(lines))
                wav = sess/'sentences'/'wav'/dialog/f'{utt}.wav'
                wav.parent.mkdir(parents=True, exist_ok=True)
                sf.write(wav, _tone(rng, 120 + 10 * n), SR, subtype='PCM_16')
                self_rating = [labs[0] for r, labs, _ in raters if not r.startswith('E')][0]
                truth.append(dict(utt_id=utt, speaker=f'Ses0{k}{gender}', session=f'Ses0{k}', dialog=dialog,
                                  improvised='_impro' in dialog, path=str(wav), code=code, label=CODE_NAME[code],
                                  start=start, end=end, valence=v, activation=a, dominance=d, self_rating=self_rating,
                                  **{f'ev_{c}': x for c, x in _votes(raters, False).items()},
                                  **{f'all_{c}': x for c, x in _votes(raters, True).items()}))
            header = '% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n'
            (emo/f'{dialog}.txt').write_text(header + '\n\n'.join(blocks) + '\n\n')
            # The release's extras: per-rater files in subfolders, in a format the main parser would refuse.
            first = f'{dialog}_{turns[0][0]}000'
            (emo/'Categorical'/f'{dialog}_e2_cat.txt').write_text(f'{first} :Neutral state; ()\n')
            (emo/'Attribute'/f'{dialog}_e3_atr.txt').write_text(f'{first} :act 2; val 3; dom  2; ()\n')
            (emo/'Self-evaluation'/f'{dialog}.anvil').write_text('<annotation/>\n')
            (sess/'dialog'/'transcriptions'/f'{dialog}.txt').write_text(f'{first} [006.2901-008.2357]: Hello.\n')
    # macOS AppleDouble junk, as shipped in the release: binary, not an EmoEvaluation file.
    junk = b'\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\xff\xfe' + bytes(64)
    (root/'Session1'/'dialog'/'EmoEvaluation'/'._Ses01F_impro01.txt').write_bytes(junk)
    (root/'Session1'/'sentences'/'wav'/'Ses01F_impro01'/'._Ses01F_impro01_F000.wav').write_bytes(junk)
    return root, pd.DataFrame(truth)


def expected_table(truth, *, classes=FOUR, merge_excited=False, improvised_only=False, self_ratings=False) -> pd.DataFrame:
    "What `load_iemocap` must return with these options, sorted by utt_id."
    t = truth.copy()
    if merge_excited: t['label'] = t.label.replace({'excited': 'happiness'})
    t = t[t.label.isin(classes)]
    if improvised_only: t = t[t.improvised]
    src = 'all_' if self_ratings else 'ev_'
    for c in classes:
        t[f'votes_{c}'] = t[src + c] + (t[src + 'excited'] if merge_excited and c == 'happiness' else 0.0)
    t = t.drop(columns=[c for c in t.columns if c.startswith(('ev_', 'all_'))])
    return t.sort_values('utt_id').reset_index(drop=True)
