"Folds: leave-one-speaker-out with the session partner validating, and normalisation fitted on training frames only."
import re
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.corpora import load_corpus
from sermeta.folds import Fold, Normaliser, fold_normaliser, make_folds, validation_speakers

EMODB_PAIRS = [('03', '08'), ('10', '09'), ('11', '13'), ('12', '14'), ('15', '16')]  # (man, woman), documented


def _check_folds(table, folds, partner):
    "Every invariant of leave-one-speaker-out folds; `partner` maps test speaker -> its validation speaker(s)."
    partner = {k: {v} if isinstance(v, str) else set(v) for k, v in partner.items()}
    speakers = sorted(table.speaker.unique())
    spk = dict(zip(table.utt_id, table.speaker))
    order = {u: i for i, u in enumerate(table.utt_id)}
    assert len(folds) == len(speakers)
    assert [f.index for f in folds] == list(range(len(folds)))
    assert [f.test_speaker for f in folds] == speakers  # each speaker tested exactly once, in sorted order
    for f in folds:
        assert isinstance(f, Fold)
        tr, va, te = f.train_ids, f.valid_ids, f.test_ids
        assert len(tr) + len(va) + len(te) == len(table)  # every utterance in exactly one role
        assert set(tr) | set(va) | set(te) == set(table.utt_id)
        assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
        roles = [{spk[u] for u in ids} for ids in (tr, va, te)]
        assert roles[2] == {f.test_speaker}
        assert roles[1] == set(f.valid_speakers) == partner[f.test_speaker]
        assert roles[0] == set(speakers) - {f.test_speaker} - partner[f.test_speaker]
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])  # no speaker in two roles
        for ids in (tr, va, te): assert [order[u] for u in ids] == sorted(order[u] for u in ids)  # table order
        assert set(table.set_index('utt_id').loc[list(tr), 'label']) == set(table.label)
    assert sum(len(f.test_ids) for f in folds) == len(table)


def test_iemocap_folds(iemocap_tree):
    root, _ = iemocap_tree
    t = load_corpus('iemocap', root)
    partner = {f'Ses0{k}{g}': f'Ses0{k}{h}' for k in range(1, 6) for g, h in ('FM', 'MF')}
    folds = make_folds(t)
    assert len(folds) == 10
    _check_folds(t, folds, partner)
    assert (folds[0].test_speaker, folds[0].valid_speakers) == ('Ses01F', ('Ses01M',))
    shuffled = t.sample(frac=1, random_state=0)  # index no longer 0..n-1: roles still follow the rows
    _check_folds(shuffled, make_folds(shuffled), partner)
    assert repr(folds[0]).startswith('Fold(0, test=Ses01F, valid=Ses01M, train/valid/test=')


def test_emodb_folds(emodb_root):
    for classes in (None, 'all'):
        t = load_corpus('emodb', emodb_root, **({} if classes is None else {'classes': classes}))
        partner = {a: b for m, w in EMODB_PAIRS for a, b in ((m, w), (w, m))}
        folds = make_folds(t)
        assert len(folds) == 10
        _check_folds(t, folds, partner)


def test_synthetic_folds(tmp_path):
    synth = pytest.importorskip('sermeta.synthetic')
    synth.generate_corpus(tmp_path, scale=0.02, seed=0)
    t = load_corpus('synthetic', tmp_path)
    sess = t.groupby('speaker').session.first()
    partner = {s: set(sess.index[sess == sess[s]]) - {s} for s in sess.index}
    assert all(partner.values())  # every synthetic speaker has a session partner
    _check_folds(t, make_folds(t), partner)


def test_manifest_without_sessions(tmp_path):
    speakers = ['spk_c', 'spk_a', 'spk_e', 'spk_b', 'spk_d']
    rows = [(f'{s}_{i}.wav', s, lab) for s in speakers for i, lab in enumerate(['anger', 'neutral', 'sadness'])]
    pd.DataFrame(rows, columns=['path', 'speaker', 'label']).to_csv(tmp_path/'manifest.csv', index=False)
    t = load_corpus('manifest', tmp_path, missing_audio='keep')
    assert (t.session == t.speaker).all()
    s = sorted(speakers)
    partner = {a: s[(i + 1) % len(s)] for i, a in enumerate(s)}  # the next speaker, cyclically
    folds = make_folds(t)
    assert len(folds) == 5
    _check_folds(t, folds, partner)


def test_fold_lacking_a_class_is_named(iemocap_tree):
    root, _ = iemocap_tree
    t = load_corpus('iemocap', root)
    t = t[(t.label != 'anger') | t.speaker.isin(['Ses03F', 'Ses03M'])].reset_index(drop=True)
    with pytest.raises(ValueError, match=re.escape("fold 4 (test speaker Ses03F): the training speakers have no "
                                                   "utterance of class(es) ['anger']")):
        make_folds(t)
    with pytest.raises(ValueError, match=re.escape("fold 0 (test speaker Ses01F): the training speakers have no "
                                                   "utterance of class(es) ['fear']")):
        make_folds(load_corpus('iemocap', root), classes=['anger', 'fear'])


def test_validation_speaker_errors():
    with pytest.raises(ValueError, match=r"at least 3 speakers .* \['a', 'b'\]"):
        validation_speakers(pd.DataFrame({'speaker': ['a', 'b'], 'session': ['1', '2']}))
    with pytest.raises(ValueError, match=r"speaker 'b' appears in sessions \['1', '2'\]"):
        validation_speakers(pd.DataFrame({'speaker': ['a', 'b', 'b', 'c'], 'session': ['1', '1', '2', '2']}))


# ---------------------------------------------------------------- normalisation
@pytest.fixture
def fold_and_features(iemocap_tree):
    "The first IEMOCAP fold and random (frames, 32) features whose level differs by speaker."
    root, _ = iemocap_tree
    t = load_corpus('iemocap', root)
    rng = np.random.default_rng(0)
    feats = {u: (rng.normal(0, 1 + 3 * (hash(s) % 3), (20 + i % 17, 32)) * np.arange(1, 33) + 10 * int(s[4])).astype(np.float32)
             for i, (u, s) in enumerate(zip(t.utt_id, t.speaker))}
    return make_folds(t)[0], feats


def test_normaliser_standardises_training_frames(fold_and_features):
    fold, feats = fold_and_features
    nz = fold_normaliser(fold, feats)
    assert nz.mean.shape == nz.std.shape == (32,) and nz.mean.dtype == nz.std.dtype == np.float32
    train = np.concatenate([feats[u] for u in fold.train_ids]).astype(np.float64)
    np.testing.assert_allclose(nz.mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(nz.std, train.std(0), rtol=1e-5)  # population std over all frames
    z = np.concatenate([nz(feats[u]) for u in fold.train_ids])
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    # not an average of per-utterance statistics: frames weigh equally
    assert not np.allclose(nz.mean, np.mean([feats[u].mean(0) for u in fold.train_ids], 0), rtol=1e-6)


def test_normaliser_ignores_valid_and_test_features(fold_and_features):
    fold, feats = fold_and_features
    nz = fold_normaliser(fold, feats)
    changed = dict(feats)
    for u in fold.valid_ids + fold.test_ids: changed[u] = feats[u] * 100 + 1e4
    nz2 = fold_normaliser(fold, changed)
    assert np.array_equal(nz.mean, nz2.mean) and np.array_equal(nz.std, nz2.std)
    for u in fold.test_ids[:2]: assert np.array_equal(nz(feats[u]), nz2(feats[u]))
    # and the test frames were not used: their normalised mean is off zero
    assert abs(np.concatenate([nz(feats[u]) for u in fold.test_ids]).mean()) > 1e-2


def test_constant_column_is_centred_only(fold_and_features):
    fold, feats = fold_and_features
    feats = {u: a.copy() for u, a in feats.items()}
    for u in fold.train_ids: feats[u][:, 5] = 7.25
    with pytest.warns(UserWarning, match=re.escape('feature column(s) [5] are constant over the training frames; centred, not scaled')):
        nz = fold_normaliser(fold, feats)
    assert nz.mean[5] == 7.25 and nz.std[5] == 1.0
    z = np.concatenate([nz(feats[u]) for u in fold.train_ids])
    assert (z[:, 5] == 0).all() and np.isfinite(z).all()
    np.testing.assert_allclose(np.delete(z, 5, 1).std(0), 1, atol=1e-4)
    x = feats[fold.test_ids[0]]
    np.testing.assert_allclose(nz(x)[:, 5], x[:, 5] - 7.25, rtol=1e-6)


def test_normaliser_needs_data():
    with pytest.raises(ValueError, match='cannot fit a normaliser on no utterance'):
        Normaliser.fit([])
