"""CREMA-D read as released: the real vote table, fixture audio under real clip ids, and the main job end to end."""
import csv
from collections import Counter
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.corpora import load_corpus
from sermeta.cremad import CREMAD_VOTES, load_cremad
from sermeta.folds import make_folds, resolve_protocol

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'cremad'
VOTES = SHARED / 'processedResults' / 'tabulatedVotes.csv'
pytestmark = pytest.mark.skipif(not VOTES.is_file(), reason=f'CREMA-D vote tables not found at {SHARED}')


def _voice_rows():
    "The voice-only rows of the real table, read with the csv module: (clip id, {letter: count}, agreement)."
    with open(VOTES, newline='') as f:
        rows = list(csv.DictReader(f))
    first = next(iter(rows[0]))
    return [(r['fileName'], {c: int(r[c]) for c in 'ADFHNS'}, float(r['agreement']))
            for r in rows if int(r[first]) // 100000 == 1]


def _tree(root, clips=(), votes=None):
    "A release folder: the real (or given) vote table, the real demographics, a wav per clip in `clips`."
    (root / 'AudioWAV').mkdir(parents=True)
    (root / 'processedResults').mkdir()
    if votes is None: (root / 'processedResults' / 'tabulatedVotes.csv').symlink_to(VOTES)
    else: votes.to_csv(root / 'processedResults' / 'tabulatedVotes.csv', index=False)
    (root / 'VideoDemographics.csv').symlink_to(SHARED / 'VideoDemographics.csv')
    pitch = {'ANG': 260, 'HAP': 300, 'NEU': 160, 'SAD': 120, 'DIS': 200, 'FEA': 340}
    t = np.arange(8000) / 16000
    for clip in clips:  # a short voiced tone whose pitch follows the intended emotion, a little noise
        rng = np.random.default_rng(abs(hash(clip)) % 2**32)
        x = 0.3 * np.sin(2 * np.pi * pitch[clip.split('_')[2]] * (1 + 0.05 * rng.standard_normal()) * t)
        sf.write(root / 'AudioWAV' / f'{clip}.wav', (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32), 16000)
    return root


def test_voice_majority_counts_match_an_independent_count(tmp_path):
    rows = _voice_rows()
    expected = Counter()
    for _, counts, _ in rows:
        top = max(counts.values())
        winners = [c for c, n in counts.items() if n == top]
        if len(winners) == 1: expected[CREMAD_VOTES[winners[0]]] += 1
    table = load_cremad(_tree(tmp_path / 'CREMA-D'), classes='all', missing_audio='keep')
    assert table.label.value_counts().to_dict() == dict(expected)
    assert len(table) == len(rows) - 644                                   # 644 clips tie
    agreement = {clip: share for clip, _, share in rows}
    assert np.allclose(table.agreement, table.utt_id.map(agreement))       # the release's own agreement column
    four = load_cremad(tmp_path / 'CREMA-D', missing_audio='keep')
    assert sorted(four.label.unique()) == ['anger', 'happiness', 'neutral', 'sadness']
    assert len(four) == sum(expected[c] for c in ('anger', 'happiness', 'neutral', 'sadness'))
    assert four.speaker.nunique() == 91 and set(four.gender) == {'m', 'f'}
    assert resolve_protocol(four) == 'kfold'
    folds = make_folds(four)
    assert len(folds) == 10
    for f in folds:  # no actor in two roles, every actor tested once
        roles = [set(four.set_index('utt_id').speaker[list(ids)]) for ids in (f.train_ids, f.valid_ids, f.test_ids)]
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
    assert sorted(s for f in folds for s in f.test_speaker.split('+')) == sorted(four.speaker.unique())


def test_ties_kept_under_the_intended_emotion(tmp_path):
    root = _tree(tmp_path / 'CREMA-D')
    dropped = load_cremad(root, classes='all', missing_audio='keep')
    kept = load_cremad(root, classes='all', ties='intended', missing_audio='keep')
    assert len(kept) == 7442 and len(dropped) == 7442 - 644
    tied = kept[~kept.utt_id.isin(dropped.utt_id)]
    assert (tied.label == tied.intended_label).all()
    with pytest.raises(ValueError, match="ties='first': use 'drop' or 'intended'"):
        load_cremad(root, ties='first')


def _fixture_clips(n_actors=24):
    "Real clip ids: for each of `n_actors` actors (half men) one clip per voice-majority class of the paper's four."
    table = load_cremad(_tree_cache(), missing_audio='keep')
    complete = table.groupby('speaker').label.nunique() == 4
    table = table[table.speaker.isin(complete[complete].index)]
    gender = table.groupby('speaker').gender.first()
    actors = sorted(gender[gender == 'm'].index)[:n_actors // 2] + sorted(gender[gender == 'f'].index)[:n_actors // 2]
    return table[table.speaker.isin(actors)].groupby(['speaker', 'label']).utt_id.first().tolist()


_CACHE = {}
def _tree_cache():
    if 'root' not in _CACHE:
        import tempfile
        _CACHE['root'] = _tree(Path(tempfile.mkdtemp()) / 'CREMA-D')
    return _CACHE['root']


def test_fixture_audio_missing_audio_and_unknown_clips(tmp_path):
    clips = _fixture_clips(6)
    root = _tree(tmp_path / 'CREMA-D', clips)
    with pytest.raises(FileNotFoundError, match=r'cremad: \d+ labelled utterance\(s\) have no wav file'):
        load_cremad(root)
    with pytest.warns(UserWarning, match='dropped'):
        table = load_corpus('cremad', root, missing_audio='skip')
    assert sorted(table.utt_id) == sorted(clips) and all(Path(p).is_file() for p in table.path)
    sf.write(root / 'AudioWAV' / '1099_IEO_ANG_HI.wav', np.zeros(800, np.float32), 16000)
    with pytest.raises(ValueError, match=r"1 wav\(s\) whose clip id is not in the vote table, e.g. \['1099_IEO_ANG_HI.wav'\]"):
        load_cremad(root, missing_audio='skip')


def _subset_votes(clips):
    "The real vote table's rows (all three modalities) of `clips`, in the release's format."
    raw = pd.read_csv(VOTES)
    return raw[raw.fileName.isin(clips)].rename(columns={raw.columns[0]: ''})


def test_reproduce_on_a_fixture_tree(tmp_path, capsys):
    "The main job end to end on 24 actors' real vote rows and fixture audio: kfold folds, votes, reports."
    from sermeta.reproduce import reproduce
    clips = _fixture_clips(24)
    root = _tree(tmp_path / 'CREMA-D', clips, votes=_subset_votes(clips))
    s = reproduce('cremad', root, methods=['baseline', 'soft_target', 'Lw'], quick=True, folds='0', protocol='kfold',
                  runs=tmp_path / 'runs', reports_dir=tmp_path / 'reports', cache_dir=tmp_path / 'cache', progress=False)
    assert {'baseline', 'soft_target', 'Lw'} <= set(s.index) and {'WA_true', 'UA_true'} <= set(s.columns)
    config = (tmp_path / 'runs/cremad/Lw/seed0/config.json').read_text()
    assert '"protocol": "kfold"' in config
    rep = tmp_path / 'reports' / 'cremad'
    assert len(pd.read_csv(rep / 'table2_vs_truth.csv')) > 0 and len(pd.read_csv(rep / 'claims_label_correction.csv')) > 0
    assert 'scored against intended_label' in (rep / 'html' / 'claims.html').read_text()
