"Corpora: IEMOCAP in the release layout, Berlin EmoDB from its real files, CSV manifests, the synthetic corpus, Table 1."
import re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from iemocap_fixture import FOUR, expected_table, write_iemocap_tree
from sermeta.corpora import load_corpus, table1, table1_cli, emodb_sessions

COLS = ['utt_id', 'speaker', 'session', 'path', 'label', 'code', 'dialog', 'improvised', 'start', 'end',
        'valence', 'activation', 'dominance', 'self_rating']


def _check_against(df, exp, classes=FOUR):
    "Loader output equals the ground truth, row for row (sorted by utt_id), votes included."
    got = df.sort_values('utt_id').reset_index(drop=True)
    assert got.utt_id.is_unique
    assert got.utt_id.tolist() == exp.utt_id.tolist()
    for c in COLS: assert got[c].tolist() == exp[c].tolist(), c
    vc = [f'votes_{c}' for c in classes]
    assert [c for c in got.columns if c.startswith('votes_')] == vc
    np.testing.assert_allclose(got[vc].to_numpy(float), exp[vc].to_numpy(float), atol=1e-12)


@pytest.fixture
def fresh_tree(tmp_path):
    "An IEMOCAP tree of this test's own, to damage."
    return write_iemocap_tree(tmp_path)


# ---------------------------------------------------------------- IEMOCAP
def test_iemocap_default_table(iemocap_tree):
    root, truth = iemocap_tree
    df = load_corpus('iemocap', root)
    exp = expected_table(truth)
    _check_against(df, exp)
    assert set(df.label) == set(FOUR)
    assert not set(df.code) & {'xxx', 'exc', 'fru', 'sur'}  # dropped by default
    assert all(Path(p).is_file() for p in df.path)
    assert df.columns[:5].tolist() == ['utt_id', 'speaker', 'session', 'path', 'label']


def test_iemocap_speaker_is_the_last_part_gender(iemocap_tree):
    root, _ = iemocap_tree
    df = load_corpus('iemocap', root)
    r = df.set_index('utt_id')
    assert r.loc['Ses01F_impro01_M000', 'speaker'] == 'Ses01M'
    assert r.loc['Ses03M_impro02_F000', 'speaker'] == 'Ses03F'
    assert r.loc['Ses05F_script01_1_M000', 'speaker'] == 'Ses05M'
    assert r.loc['Ses05F_script01_1_M000', 'session'] == 'Ses05'
    assert sorted(df.speaker.unique()) == [f'Ses0{k}{g}' for k in range(1, 6) for g in 'FM']
    assert (df.speaker.str[:5] == df.session).all()
    # the id's gender differs from the dialog's for some rows, and they are kept
    assert (df.utt_id.str[5] != df.speaker.str[5]).any()
    # scripted and improvised both present
    assert df.improvised.any() and (~df.improvised).any()
    assert not df[df.dialog.str.contains('script')].improvised.any()


def test_iemocap_multilabel_votes_split(iemocap_tree):
    root, _ = iemocap_tree
    df = load_corpus('iemocap', root).set_index('utt_id')
    # Ses01F_impro01_F000: E2 Happiness, E3 Happiness, E4 'Neutral; Frustration;' -> hap 2, neu 0.5
    r = df.loc['Ses01F_impro01_F000']
    assert (r.votes_happiness, r.votes_neutral, r.votes_sadness, r.votes_anger) == (2.0, 0.5, 0.0, 0.0)
    # Ses01F_impro01_M000: E4 'Happiness; Excited;' -> excited half not counted without merge
    assert df.loc['Ses01F_impro01_M000', 'votes_happiness'] == 2.5


def test_iemocap_merge_excited(iemocap_tree):
    root, truth = iemocap_tree
    df = load_corpus('iemocap', root, merge_excited=True)
    _check_against(df, expected_table(truth, merge_excited=True))
    exc = df[df.code == 'exc']
    assert len(exc) == (truth.code == 'exc').sum() and (exc.label == 'happiness').all()
    # E1 Excited, E2 'Excited; Happiness;', E3 Happiness: three full happiness votes once merged
    assert (exc.votes_happiness == 3.0).all()
    m = df.set_index('utt_id')
    assert m.loc['Ses01F_impro01_M000', 'votes_happiness'] == 3.0
    assert len(df) == len(load_corpus('iemocap', root)) + len(exc)
    with pytest.raises(ValueError, match=r"unknown class name\(s\) \['excited'\]"):
        load_corpus('iemocap', root, merge_excited=True, classes=['happiness', 'excited'])


def test_iemocap_improvised_only(iemocap_tree):
    root, truth = iemocap_tree
    df = load_corpus('iemocap', root, improvised_only=True)
    _check_against(df, expected_table(truth, improvised_only=True))
    assert df.improvised.all() and df.dialog.str.contains('_impro').all()


def test_iemocap_self_ratings(iemocap_tree):
    root, truth = iemocap_tree
    off, on = load_corpus('iemocap', root), load_corpus('iemocap', root, self_ratings=True)
    _check_against(off, expected_table(truth))
    _check_against(on, expected_table(truth, self_ratings=True))
    off, on = off.set_index('utt_id'), on.set_index('utt_id')
    vc = [f'votes_{c}' for c in FOUR]
    # Ses01M_impro02_F000 (neu): actor C-F1 says 'Anger; Sadness;' -> +0.5 each, only with self_ratings
    assert (on.loc['Ses01M_impro02_F000', vc] - off.loc['Ses01M_impro02_F000', vc]).tolist() == [0, 0.5, 0, 0.5]
    assert off.loc['Ses01M_impro02_F000', 'self_rating'] == on.loc['Ses01M_impro02_F000', 'self_rating'] == 'anger'
    # happiness (actor: Excited) and anger (actor: Frustration) self-ratings fall outside the four classes
    same = off.label.isin(['happiness', 'anger'])
    assert (on.loc[same, vc] == off.loc[same, vc]).all().all()
    assert (on[vc].sum(axis=1) >= off[vc].sum(axis=1)).all()


def test_iemocap_other_classes(iemocap_tree):
    root, truth = iemocap_tree
    cls = ('frustration', 'excited', 'neutral')
    df = load_corpus('iemocap', root, classes=cls)
    _check_against(df, expected_table(truth, classes=cls), classes=cls)


def test_iemocap_root_or_its_parent(iemocap_tree):
    root, _ = iemocap_tree
    assert root.name == 'IEMOCAP_full_release'
    a, b = load_corpus('iemocap', root), load_corpus('iemocap', root.parent)
    pd.testing.assert_frame_equal(a, b)


def test_iemocap_ignores_subfolders_and_macos_junk(iemocap_tree):
    root, _ = iemocap_tree
    emo = root/'Session1'/'dialog'/'EmoEvaluation'
    assert (emo/'._Ses01F_impro01.txt').is_file() and (emo/'Categorical').is_dir() and (emo/'Attribute').is_dir()
    assert any((emo/'Categorical').glob('*.txt'))
    load_corpus('iemocap', root)  # would fail on any of them


# --------------------------------------------------------- IEMOCAP: bad input
def test_iemocap_root_missing_or_wrong_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'not an IEMOCAP release.*Session1 \.\. Session5.*dialog/EmoEvaluation'):
        load_corpus('iemocap', tmp_path/'nope')
    (tmp_path/'flat'/'Session1'/'wav').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'flat: not an IEMOCAP release.*sentences/wav/<dialog>/<utterance>\.wav'):
        load_corpus('iemocap', tmp_path/'flat')


def _edit(path, old, new):
    "Replace `old` once in `path`; return the 1-based line number of the change."
    text = path.read_text()
    i = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text[:i].count('\n') + 1


def test_iemocap_malformed_header_names_file_and_line(fresh_tree):
    root, _ = fresh_tree
    f = root/'Session2'/'dialog'/'EmoEvaluation'/'Ses02M_impro02.txt'
    text = f.read_text()
    hdr = next(l for l in text.splitlines() if '\tSes02M_impro02_F000\t' in l)
    line = _edit(f, hdr, hdr.replace(' - ', ' '))
    with pytest.raises(ValueError, match=re.escape(f'{f}:{line}: malformed utterance header')):
        load_corpus('iemocap', root)


def test_iemocap_unknown_rater_word(fresh_tree):
    root, _ = fresh_tree
    f = root/'Session3'/'dialog'/'EmoEvaluation'/'Ses03F_script01_1.txt'
    line = _edit(f, 'Neutral;', 'Bored;')
    with pytest.raises(ValueError, match=re.escape(f"{f}:{line}: unknown rater label 'Bored'")):
        load_corpus('iemocap', root)


def test_iemocap_missing_audio(fresh_tree):
    root, truth = fresh_tree
    t = truth.set_index('utt_id')
    gone = ['Ses01F_impro01_F000', 'Ses04M_impro02_M001']  # hap, ang: labelled
    for u in gone + ['Ses02F_impro01_F002']: Path(t.loc[u, 'path']).unlink()  # the last is xxx: not counted
    with pytest.raises(FileNotFoundError, match=r"iemocap: 2 labelled utterance\(s\) have no wav file, e\.g\. .*Ses01F_impro01_F000\.wav.*missing_audio='skip'"):
        load_corpus('iemocap', root)
    with pytest.warns(UserWarning, match=r'2 labelled utterance\(s\) have no wav file.*dropped'):
        skipped = load_corpus('iemocap', root, missing_audio='skip')
    exp = expected_table(truth)
    _check_against(skipped, exp[~exp.utt_id.isin(gone)].reset_index(drop=True))
    kept = load_corpus('iemocap', root, missing_audio='keep')
    _check_against(kept, exp)
    assert sum(not Path(p).is_file() for p in kept.path) == 2
    with pytest.raises(ValueError, match=r"missing_audio='ignore': use 'error', 'skip' or 'keep'"):
        load_corpus('iemocap', root, missing_audio='ignore')


def test_bad_class_and_corpus_names(iemocap_tree):
    root, _ = iemocap_tree
    with pytest.raises(ValueError, match=r"iemocap: unknown class name\(s\) \['angry'\]"):
        load_corpus('iemocap', root, classes=['happiness', 'angry'])
    with pytest.raises(ValueError, match=r"unknown corpus 'timit'; choose one of \['cremad', 'emodb', 'iemocap', 'manifest', 'msp_podcast', 'synthetic'\]"):
        load_corpus('timit', root)
    with pytest.raises(ValueError, match=r"iemocap: class\(es\) \['fear'\] have no utterance"):
        load_corpus('iemocap', root, classes=['happiness', 'fear'])


# ---------------------------------------------------------------- EmoDB
def test_emodb_counts(emodb_root):
    e4, e7 = load_corpus('emodb', emodb_root), load_corpus('emodb', emodb_root, classes='all')
    assert len(e4) == 339 and len(e7) == 535
    assert e4.utt_id.is_unique and e7.utt_id.is_unique
    assert e4.label.value_counts().to_dict() == {'anger': 127, 'neutral': 79, 'happiness': 71, 'sadness': 62}
    assert e7.label.value_counts().to_dict() == {'anger': 127, 'boredom': 81, 'neutral': 79, 'happiness': 71,
                                                 'fear': 69, 'sadness': 62, 'disgust': 46}
    assert e4.speaker.nunique() == e7.speaker.nunique() == 10
    assert e7.speaker.value_counts().sort_index().to_dict() == {'03': 49, '08': 58, '09': 43, '10': 38, '11': 55,
                                                                '12': 35, '13': 61, '14': 69, '15': 56, '16': 71}
    assert all(Path(p).is_file() for p in e4.path)
    assert (e4.utt_id.str[:2] == e4.speaker).all()


def test_emodb_listener_results(emodb_root):
    e7 = load_corpus('emodb', emodb_root, classes='all')
    assert e7.recognition.dtype == float and e7.naturalness.dtype == float
    assert e7.recognition.notna().all() and e7.naturalness.notna().all()
    assert e7.recognition.min() >= 80 and e7.naturalness.min() == 45.0
    r = e7.set_index('utt_id')
    assert (r.loc['03a01Wa', 'recognition'], r.loc['03a01Wa', 'naturalness']) == (95.0, 90.0)
    # parse a few lines ourselves: latin-1, no-break-space padding, decimal commas
    lines = (emodb_root/'erkennung.txt').read_bytes().decode('latin-1').splitlines()
    for line in (lines[3], lines[300], lines[-1]):
        nr, wav, rec, nat = [f.strip('\t \xa0') for f in line.split('\t')]
        u = wav[:-4]
        if u in r.index:
            assert r.loc[u, 'recognition'] == float(rec.replace(',', '.'))
            assert r.loc[u, 'naturalness'] == float(nat.replace(',', '.'))
    assert r.loc['16b10Wb', 'naturalness'] == 75.0


def test_emodb_sessions_pair_one_man_one_woman(emodb_root):
    e7 = load_corpus('emodb', emodb_root, classes='all')
    pairs = {tuple(sorted(g.speaker.unique())) for _, g in e7.groupby('session')}
    assert pairs == {('03', '08'), ('09', '10'), ('11', '13'), ('12', '14'), ('15', '16')}
    for s, g in e7.groupby('session'):
        assert sorted(g.drop_duplicates('speaker').gender) == ['f', 'm'], s
    assert emodb_sessions()['10'] == emodb_sessions()['09']


def test_emodb_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'not an EmoDB folder.*wav/SSTTTEV\.wav'):
        load_corpus('emodb', tmp_path)


# ---------------------------------------------------------------- manifest
def _wav(path):
    import soundfile as sf
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(1600, np.int16), 16000)


def test_manifest(tmp_path):
    d = tmp_path/'corpus'
    for n in ('a', 'b', 'c'): _wav(d/'audio'/f'{n}.wav')
    pd.DataFrame({'path': ['audio/a.wav', 'audio/b.wav', str(d/'audio'/'c.wav')], 'speaker': ['s1', 's2', '07'],
                  'label': ['anger', 'neutral', 'anger'], 'vote_anger': [3, 0, 2], 'vote_neutral': [0, 3, 1]}
                 ).to_csv(d/'manifest.csv', index=False)
    for root in (d, d/'manifest.csv'):
        m = load_corpus('manifest', root)
        assert m.columns[:5].tolist() == ['utt_id', 'speaker', 'session', 'path', 'label']
        assert m.utt_id.tolist() == ['a', 'b', 'c']
        assert [Path(p) for p in m.path] == [d/'audio'/f'{n}.wav' for n in 'abc']
        assert m.speaker.tolist() == ['s1', 's2', '07']  # strings, leading zero kept
        assert m.session.tolist() == m.speaker.tolist()  # no session column: each speaker its own
        assert m.votes_anger.tolist() == [3, 0, 2] and m.votes_neutral.tolist() == [0, 3, 1]
        assert not [c for c in m.columns if c.startswith('vote_')]
    only = load_corpus('manifest', d, classes=['anger'])
    assert only.utt_id.tolist() == ['a', 'c']


def test_manifest_errors(tmp_path):
    _wav(tmp_path/'a.wav')
    pd.DataFrame({'path': ['a.wav'], 'label': ['anger']}).to_csv(tmp_path/'nospk.csv', index=False)
    with pytest.raises(ValueError, match=r"nospk\.csv: missing column\(s\) \['speaker'\]"):
        load_corpus('manifest', tmp_path/'nospk.csv')
    pd.DataFrame({'path': ['a.wav', 'x/a.wav'], 'speaker': ['s1', 's2'], 'label': ['anger', 'neutral']}
                 ).to_csv(tmp_path/'dup.csv', index=False)
    with pytest.raises(ValueError, match=r"dup\.csv: utterance id 'a' repeats"):
        load_corpus('manifest', tmp_path/'dup.csv', missing_audio='keep')
    pd.DataFrame({'path': ['a.wav', 'b.wav'], 'speaker': ['s1', 's2'], 'label': ['anger', 'neutral']}
                 ).to_csv(tmp_path/'gone.csv', index=False)
    with pytest.raises(FileNotFoundError, match=r'manifest: 1 labelled utterance\(s\) have no wav file'):
        load_corpus('manifest', tmp_path/'gone.csv')
    with pytest.raises(FileNotFoundError, match='no manifest'):
        load_corpus('manifest', tmp_path/'absent')


# ---------------------------------------------------------------- Table 1
def _run_script(name, module, func, *args):
    "A console script, or the same entry point through this interpreter where it is not on PATH."
    exe = shutil.which(name)
    cmd = [exe] if exe else [sys.executable, '-c', f'import sys; from {module} import {func}; sys.exit({func}())']
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=120)


def test_table1_console_script(iemocap_tree, tmp_path):
    root, truth = iemocap_tree
    out = tmp_path/'t.csv'
    r = _run_script('sermeta_table1', 'sermeta.corpora', 'table1_cli', '--corpus', 'iemocap', '--root', root, '--out', out)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out, index_col=0)
    assert t.columns.tolist() == list(FOUR) and t.index.name == 'speaker'
    body = t.drop(index='Total')
    assert t.loc['Total'].tolist() == body.sum().tolist()
    exp = pd.crosstab(expected_table(truth).speaker, expected_table(truth).label)[list(FOUR)]
    assert body.index.tolist() == exp.index.tolist()
    assert (body.to_numpy() == exp.to_numpy()).all()
    printed = r.stdout.splitlines()
    assert printed[-1].split() == ['Total'] + [str(v) for v in t.loc['Total']]
    assert printed[0].split() == list(FOUR)
    assert any(l.split()[0] == 'Ses03F' and l.split()[1:] == [str(v) for v in t.loc['Ses03F']] for l in printed)


def test_table1_counts(emodb_root):
    t = table1(load_corpus('emodb', emodb_root))
    assert t.loc['Total'].tolist() == [71, 62, 79, 127]
    assert len(t) == 11


def test_table1_cli_all_classes(emodb_root, tmp_path):
    table1_cli(corpus='emodb', root=str(emodb_root), classes='all', out=str(tmp_path/'t.csv'))
    t = pd.read_csv(tmp_path/'t.csv', index_col=0)
    assert t.loc['Total'].sum() == 535
    assert set(t.columns) == {'happiness', 'sadness', 'neutral', 'anger', 'boredom', 'disgust', 'fear'}


def test_table1_cli_needs_root():
    with pytest.raises(ValueError, match='give --root'):  # from Python the script raises; from the shell, test_cli
        table1_cli(corpus='iemocap')


# ---------------------------------------------------------------- synthetic
def test_synthetic_loader_adds_true_label(fresh_tree):
    root, truth = fresh_tree
    with pytest.raises(FileNotFoundError, match=r'no synthetic corpus here \(synthetic_truth\.csv is missing\)'):
        load_corpus('synthetic', root)
    flip = {'happiness': 'neutral', 'neutral': 'sadness', 'sadness': 'sadness', 'anger': 'anger'}
    t = truth.assign(true_label=truth.label.map(flip).fillna('neutral'))
    t[['utt_id', 'true_label']].to_csv(root/'synthetic_truth.csv', index=False)
    df = load_corpus('synthetic', root)
    _check_against(df, expected_table(truth))
    assert df.true_label.tolist() == df.label.map(flip).tolist()


def test_synthetic_loader_refuses_incomplete_truth(fresh_tree):
    root, truth = fresh_tree
    truth.assign(true_label=truth.label.fillna('neutral'))[['utt_id', 'true_label']].iloc[1:].to_csv(
        root/'synthetic_truth.csv', index=False)
    with pytest.raises(ValueError, match='Ses01F_impro01_F000'):
        load_corpus('synthetic', root)


def test_synthetic(tmp_path):
    synth = pytest.importorskip('sermeta.synthetic')
    synth.generate_corpus(tmp_path, scale=0.02, seed=0)
    df = load_corpus('synthetic', tmp_path)
    assert 'true_label' in df.columns and df.true_label.notna().all()
    assert len(df) > 0 and df.utt_id.is_unique
    assert set(df.true_label) <= set(FOUR) and set(df.label) <= set(FOUR)
