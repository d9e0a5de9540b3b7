"""Tests of the synthetic corpus generator (sermeta.synthetic): layout, labels, determinism, resuming."""
import hashlib, json, re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sermeta.core import CLASSES
from sermeta.paper import PAPER_TABLE1
from sermeta.annotators import majority
from sermeta.synthetic import generate_corpus, synth_cli
from sermeta.voice import SR

TINY = dict(scale=0.005, seed=1)  # 40 utterances, about 3 minutes of audio
CODES = {'hap': 'happiness', 'sad': 'sadness', 'neu': 'neutral', 'ang': 'anger', 'xxx': None}
WORDS = {'Happiness': 0, 'Sadness': 1, 'Neutral': 2, 'Anger': 3}  # any other word is answer 4


def files(root):
    "Relative path -> bytes of every file under `root`."
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob('*')) if p.is_file()}


def parse(root):
    "A minimal EmoEvaluation reader: one dict per utterance with its code and C-E / self-rating words."
    recs = []
    for f in sorted(Path(root).glob('Session*/dialog/EmoEvaluation/*.txt')):
        lines = f.read_text().split('\n')
        assert lines[0] == '% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]' and lines[1] == ''
        for block in '\n'.join(lines[2:]).strip('\n').split('\n\n'):
            head, *rest = block.split('\n')
            m = re.fullmatch(r'\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses0\d[FM]_\w+_[FM]\d{3})\t(\w+)\t'
                             r'\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]', head)
            assert m, head
            utt = m[3]
            rec = dict(utt_id=utt, dialog=f.stem, start=float(m[1]), end=float(m[2]), code=m[4],
                       speaker=utt[:5] + utt.rsplit('_', 1)[1][0], votes=[], self=None, a_lines=0)
            for line in rest:
                r = re.fullmatch(r'C-([EFM])(\d):\t(\w+);\t\(\)', line)
                if r and r[1] == 'E': rec['votes'].append(r[3])
                elif r:
                    assert r[1] == rec['speaker'][-1] and r[2] == '1', line
                    rec['self'] = r[3]
                else:
                    assert re.fullmatch(r'A-(E\d|[FM]1):\tval [1-5]; act [1-5]; dom  [1-5];\t\(\)', line), line
                    rec['a_lines'] += 1
            recs.append(rec)
    return pd.DataFrame(recs)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny')/'corpus'
    generate_corpus(root, **TINY, n_jobs=1, progress=False)
    return root


def test_layout_and_wav_format(tiny):
    recs = parse(tiny)
    assert set(recs.speaker) == set(PAPER_TABLE1)
    assert (tiny/'DONE').is_file() and (tiny/'synthetic.json').is_file()
    for r in recs.itertuples():
        wav = tiny/f'Session{int(r.utt_id[3:5])}'/'sentences'/'wav'/r.dialog/f'{r.utt_id}.wav'
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 1, 'PCM_16', 'WAV')
        assert abs(info.duration - (r.end - r.start)) < 1e-3
    assert recs.dialog.str.contains('_impro').any() and recs.dialog.str.contains('_script').any()
    assert all(d.speaker.nunique() == 2 for _, d in recs.groupby('dialog') if len(d) >= 6)
    meta = json.loads((tiny/'synthetic.json').read_text())
    assert meta['params']['seed'] == TINY['seed'] and len(meta['annotators']['base_confusion']) == 4


def digest(root):
    "SHA-256 over the relative path and bytes of every file under `root` but synthetic.json (it names the version) and DONE."
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob('*')):
        if p.is_file() and p.name not in ('synthetic.json', 'DONE'):
            h.update(p.relative_to(root).as_posix().encode()); h.update(p.read_bytes())
    return h.hexdigest()


def test_the_designed_corpus_keeps_its_bytes(tiny, tmp_path):
    "New rater models leave the default corpus alone: its wavs and labels (and the labels at the default scale) as committed."
    assert digest(tiny) == 'b19f1119d22ff978ab029664ac60d5f18cdf109d63d72fd364c82af91f506056'
    generate_corpus(tmp_path/'labels', scale=0.1, seed=0, audio=False, progress=False)
    assert digest(tmp_path/'labels') == '750291f575eb687bd908abcc3876edfc383b7706194341418dd4760e5d2086b9'


def test_same_seed_same_bytes_any_n_jobs(tiny, tmp_path):
    generate_corpus(tmp_path/'b', **TINY, n_jobs=2, progress=False)
    assert files(tiny) == files(tmp_path/'b')


def test_other_seed_differs(tiny, tmp_path):
    generate_corpus(tmp_path/'c', scale=TINY['scale'], seed=2, n_jobs=1, progress=False)
    a, c = files(tiny), files(tmp_path/'c')
    shared = set(a) & set(c)
    assert sum(a[k] != c[k] for k in shared) > 0.9*len(shared)


def test_resume_regenerates_identical_bytes(tiny, tmp_path):
    import shutil
    root = tmp_path/'r'
    shutil.copytree(tiny, root)
    wavs = sorted(root.rglob('*.wav'))[::3]
    emo = sorted(root.rglob('EmoEvaluation/*.txt'))[0]
    for p in wavs + [emo, root/'DONE', root/'synthetic_truth.csv']: p.unlink()
    generate_corpus(root, **TINY, n_jobs=2, progress=False)
    assert files(root) == files(tiny)


def test_done_with_other_parameters_raises(tiny):
    before = files(tiny)
    with pytest.raises(ValueError, match=r'corpus.*seed=1, asked 7'):
        generate_corpus(tiny, scale=TINY['scale'], seed=7, progress=False)
    with pytest.raises(ValueError, match='annotator_noise=1.0, asked 0.5'):
        generate_corpus(tiny, **TINY, annotator_noise=0.5, progress=False)
    assert files(tiny) == before
    assert generate_corpus(tiny, **TINY, progress=False) == tiny  # same parameters: nothing to do


def test_refuses_foreign_folder(tmp_path):
    (tmp_path/'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match='not a synthetic corpus'):
        generate_corpus(tmp_path, **TINY, progress=False)


def test_gold_is_vote_majority_and_truth_matches(tiny):
    recs = parse(tiny)
    truth = pd.read_csv(tiny/'synthetic_truth.csv', keep_default_na=False).set_index('utt_id')
    assert list(truth.columns) == ['speaker', 'true_label', 'gold_label', 'expressiveness', 'n_raters', 'duration']
    for r in recs.itertuples():
        votes = [WORDS.get(w, 4) for w in r.votes]
        assert len(votes) in (3, 4) and 1 <= r.a_lines <= 3
        gold = majority([votes + [-1]*(4 - len(votes))])[0]
        assert gold == (CLASSES.index(CODES[r.code]) if CODES[r.code] else -1), r
        t = truth.loc[r.utt_id]
        assert t.gold_label == (CODES[r.code] or '') and t.speaker == r.speaker and t.n_raters == len(votes)
        assert t.true_label in CLASSES and 0 < t.expressiveness < 1


@pytest.fixture(scope='module')
def full_labels(tmp_path_factory):
    root = tmp_path_factory.mktemp('full')/'corpus'
    synth_cli(str(root), scale=1.0, seed=0, no_audio=True)
    return root


def test_scale_one_reproduces_table1(full_labels):
    recs = parse(full_labels)
    gold = recs[recs.code != 'xxx']
    counts = {s: tuple(int((d.code.map(CODES) == c).sum()) for c in CLASSES) for s, d in gold.groupby('speaker')}
    assert counts == PAPER_TABLE1
    assert len(gold) == 4490 and 0.03 < (recs.code == 'xxx').mean() < 0.07
    assert not list(full_labels.rglob('*.wav'))
    assert json.loads((full_labels/'DONE').read_text())['audio'] is False


def test_scale_one_label_noise(full_labels):
    t = pd.read_csv(full_labels/'synthetic_truth.csv', keep_default_na=False)
    g = t[t.gold_label != '']
    wrong = (g.gold_label != g.true_label).groupby(g.gold_label).mean()
    assert 0.15 <= (g.gold_label != g.true_label).mean() <= 0.25
    assert wrong.idxmax() == 'happiness' and 0.30 <= wrong['happiness'] <= 0.40
    assert 3.5 < t.duration.mean() < 5.5 and t.duration.min() >= 1.0 and t.duration.max() <= 15.0


def test_loader_reads_it(full_labels):
    corpora = pytest.importorskip('sermeta.corpora')
    if not hasattr(corpora, 'load_corpus'): pytest.skip('sermeta.corpora.load_corpus not available')
    df = corpora.load_corpus('synthetic', full_labels, missing_audio='keep')
    assert len(df) == 4490
    assert {s: tuple(int((d.label == c).sum()) for c in CLASSES) for s, d in df.groupby('speaker')} == PAPER_TABLE1
    assert (df.label != df.true_label).mean() > 0.1


def test_audio_can_be_added_later(tmp_path):
    root = tmp_path/'late'
    generate_corpus(root, **TINY, audio=False, progress=False)
    assert not list(root.rglob('*.wav'))
    generate_corpus(root, **TINY, n_jobs=1, progress=False)
    assert len(list(root.rglob('*.wav'))) == len(pd.read_csv(root/'synthetic_truth.csv'))
    assert json.loads((root/'DONE').read_text())['audio'] is True
