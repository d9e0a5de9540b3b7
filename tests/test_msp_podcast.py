"MSP-Podcast loader on trees written in each release format established from public code (nbs/01f_msp_podcast)."
import json, random, re, warnings
from collections import Counter
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.msp_podcast import load_msp_podcast, read_msp_consensus, read_msp_detailed

FOUR = ('happiness', 'sadness', 'neutral', 'anger')
EIGHT = FOUR + ('surprise', 'fear', 'disgust', 'contempt')
# the test's own reading of the release vocabulary (readme): consensus letter -> primary word -> class
WORD = {'A': 'Angry', 'S': 'Sad', 'H': 'Happy', 'U': 'Surprise', 'F': 'Fear', 'D': 'Disgust', 'C': 'Contempt',
        'N': 'Neutral'}
CLASS_OF_WORD = {'Angry': 'anger', 'Sad': 'sadness', 'Happy': 'happiness', 'Surprise': 'surprise', 'Fear': 'fear',
                 'Disgust': 'disgust', 'Contempt': 'contempt', 'Neutral': 'neutral'}
OTHERS = ['Other-confused', 'Other-bored', 'Other-tired', 'Other']
SECONDARY = ['Neutral', 'Concerned,Confused', 'Amused,Happy', 'Frustrated', 'Annoyed,Angry,Disgust', '']

# release -> (label folder, consensus file, detailed file and layout, its Split_Set values)
RELEASES = {
    '1.6': ('label', 'labels_concensus.csv', 'csv-Workers', ['Train', 'Validation', 'Test']),
    '1.8': ('Labels', 'labels_concensus.csv', 'csv-EmoDetail', ['Train', 'Development', 'Test1', 'Test2']),
    '1.9': ('labels', 'labels_concensus.csv', 'csv-EmoDetail', ['Train', 'Development', 'Test1', 'Test2']),
    '1.11': ('Labels', 'labels_consensus.csv', 'csv-EmoDetail', ['Train', 'Development', 'Test1', 'Test2']),
    '1.12-json': ('Labels', 'labels_consensus.json', 'json', ['Train', 'Development', 'Test1', 'Test2']),
    '1.6-json': ('Labels', 'labels_concensus.csv', 'json', ['Train', 'Validation', 'Test']),
    '2.0': ('Labels', 'labels_consensus.csv', 'csv-WorkerID', ['Train', 'Development', 'Test1', 'Test2']),
}


def make_turns(seed, splits, n=40):
    "Turns with consensus row and ratings; codes cycle so that every letter, X and O occur."
    rng, turns = random.Random(seed), []
    codes = 'NHASUFDCNXOHNSA'
    for i in range(n):
        code, podcast = codes[i % len(codes)], 1 + i // 6
        known = i % 4 != 3
        spkr = str(100 + podcast * 3 + i % 2) if known else 'Unknown'
        gender = rng.choice(['Male', 'Female']) if known else 'Unknown'
        k = rng.randint(5, 8)
        if code == 'X': primaries = ['Happy', 'Sad', 'Happy', 'Sad', 'Neutral']
        elif code == 'O': primaries = [rng.choice(OTHERS) for _ in range(3)] + ['Sad', 'Neutral']
        else:
            primaries = [WORD[code]] * (k // 2 + 1)
            primaries += [rng.choice(list(WORD.values()) + OTHERS) for _ in range(k - len(primaries))]
            rng.shuffle(primaries)
        ratings = [(f'WORKER{rng.randint(1, 99999):08d}', p, rng.choice(SECONDARY),
                    *(float(rng.randint(1, 7)) for _ in range(3))) for p in primaries]
        turns.append(dict(file=f'MSP-PODCAST_{podcast:04d}_{rng.randint(1, 9999):04d}.wav', code=code, spkr=spkr,
                          gender=gender, split=splits[i % len(splits)], act=round(rng.uniform(1, 7), 6),
                          val=round(rng.uniform(1, 7), 6), dom=round(rng.uniform(1, 7), 6), ratings=ratings))
    assert len({t['file'] for t in turns}) == n
    return turns


def _consensus_rows(turns):
    return [dict(FileName=t['file'], EmoClass=t['code'], EmoAct=t['act'], EmoVal=t['val'], EmoDom=t['dom'],
                 SpkrID=t['spkr'], Gender=t['gender'], Split_Set=t['split']) for t in turns]


def write_detailed(labels, turns, layout):
    "labels_detailed in `layout`: csv-EmoDetail (1.7-1.12), csv-WorkerID (2.0), csv-Workers (1.6) or json."
    if layout == 'json':
        data = {t['file']: {w: dict(EmoClass_Major=p, EmoClass_Second=s, EmoAct=a, EmoDom=d, EmoVal=v)
                            for w, p, s, a, v, d in t['ratings']} for t in turns}
        (labels/'labels_detailed.json').write_text(json.dumps(data, indent=1))
    elif layout == 'csv-EmoDetail':
        rows = [(t['file'], f'{w}; {p}; {s}; A:{a:.6f}; V:{v:.6f}; D:{d:.6f};')
                for t in turns for w, p, s, a, v, d in t['ratings']]
        pd.DataFrame(rows, columns=['FileName', 'EmoDetail']).to_csv(labels/'labels_detailed.csv', index=False)
    else:
        worker = layout.split('-')[1]
        rows = [{'FileName': t['file'], worker: w, 'EmoClass_Major': p, 'EmoClass_Second': s, 'EmoAct': a,
                 'EmoVal': v, 'EmoDom': d} for t in turns for w, p, s, a, v, d in t['ratings']]
        pd.DataFrame(rows).to_csv(labels/'labels_detailed.csv', index=False)


def write_release(root, release, turns, wavs=True):
    "A release tree: Audios/*.wav (0.1 s of silence, 16 kHz) and the label folder in the release's format."
    folder, consensus, detailed, _ = RELEASES[release]
    labels = root/folder
    labels.mkdir(parents=True)
    if consensus.endswith('.json'):
        data = {r.pop('FileName'): r for r in _consensus_rows(turns)}
        (labels/consensus).write_text(json.dumps(data, indent=1))
    else: pd.DataFrame(_consensus_rows(turns)).to_csv(labels/consensus, index=False)
    write_detailed(labels, turns, detailed)
    (root/'Audios').mkdir()
    if wavs:
        for t in turns: sf.write(root/'Audios'/t['file'], np.zeros(1600, np.float32), 16000)
    return root


def expected_votes(turns, classes):
    "Counts computed from the raw rating rows: the class of each primary word (Other-* counts for none)."
    out = {}
    for t in turns:
        counts = Counter(CLASS_OF_WORD.get(p) for _, p, *_ in t['ratings'])
        out[t['file'][:-4]] = [len(t['ratings'])] + [counts[c] for c in classes]
    return out


@pytest.fixture
def tree(tmp_path):
    "A 1.8-style release of 40 turns: (root, turns)."
    turns = make_turns(8, RELEASES['1.8'][3])
    return write_release(tmp_path/'MSP-PODCAST-Publish-1.8', '1.8', turns), turns


# ---------------------------------------------------------------- every release format
@pytest.mark.parametrize('release', list(RELEASES))
def test_table_matches_raw_rows(tmp_path, release):
    turns = make_turns(len(release), RELEASES[release][3])
    df = load_msp_podcast(write_release(tmp_path/f'MSP-PODCAST-Publish-{release}', release, turns))
    kept = [t for t in turns if t['code'] in 'HSNA']
    assert df.utt_id.tolist() == [t['file'][:-4] for t in kept]
    assert df.columns[:5].tolist() == ['utt_id', 'speaker', 'session', 'path', 'label']
    code = {'H': 'happiness', 'S': 'sadness', 'N': 'neutral', 'A': 'anger'}
    assert df.label.tolist() == [code[t['code']] for t in kept]
    assert df.split.tolist() == [t['split'] for t in kept]
    assert df.gender.tolist() == [{'Male': 'm', 'Female': 'f', 'Unknown': 'unknown'}[t['gender']] for t in kept]
    assert df.spkr_id.tolist() == [t['spkr'] for t in kept]
    np.testing.assert_allclose(df.valence, [t['val'] for t in kept])
    exp = expected_votes(kept, FOUR)
    got = df.set_index('utt_id')[['n_ratings'] + [f'votes_{c}' for c in FOUR]]
    assert {u: row.tolist() for u, row in got.iterrows()} == exp
    assert [c for c in df.columns if c.startswith('votes_')] == [f'votes_{c}' for c in FOUR]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df.path)
    assert (df.session == df.speaker).all()


def test_release_formats_give_one_table(tmp_path):
    turns = make_turns(3, RELEASES['1.8'][3])
    tables = [load_msp_podcast(write_release(tmp_path/r, r, turns)).drop(columns='path')
              for r in ('1.8', '1.11', '1.12-json', '2.0')]
    for t in tables[1:]: pd.testing.assert_frame_equal(t, tables[0])


def test_x_and_o_dropped_whatever_the_classes(tree):
    root, turns = tree
    for classes in (FOUR, 'all'):
        df = load_msp_podcast(root, classes=classes)
        assert not set(df.code) & {'X', 'O'}
        assert len(df) == sum(t['code'] not in 'XO' and (classes == 'all' or t['code'] in 'HSNA') for t in turns)
    with pytest.raises(ValueError, match=r"unknown class name\(s\) \['other'\]"):
        load_msp_podcast(root, classes=['anger', 'other'])


def test_all_classes(tree):
    root, turns = tree
    df = load_msp_podcast(root, classes='all')
    assert [c for c in df.columns if c.startswith('votes_')] == [f'votes_{c}' for c in EIGHT]
    assert set(df.label) == set(EIGHT)
    kept = [t for t in turns if t['code'] not in 'XO']
    got = df.set_index('utt_id')[['n_ratings'] + [f'votes_{c}' for c in EIGHT]]
    assert {u: row.tolist() for u, row in got.iterrows()} == expected_votes(kept, EIGHT)
    # the consensus class has a plurality of the votes in this fixture, as in the release
    assert all(r[f'votes_{r.label}'] == max(r[f'votes_{c}'] for c in EIGHT) for _, r in df.iterrows())


def test_class_subset_and_order(tree):
    root, turns = tree
    df = load_msp_podcast(root, classes=('anger', 'fear'))
    assert set(df.label) == {'anger', 'fear'} and list(df.columns[-2:]) == ['votes_anger', 'votes_fear']
    assert len(df) == sum(t['code'] in 'AF' for t in turns)


def test_unknown_speakers_one_per_podcast(tree):
    root, turns = tree
    df = load_msp_podcast(root, classes='all')
    unknown = df[df.spkr_id == 'Unknown']
    assert len(unknown) and (unknown.speaker == 'unknown_' + unknown.podcast).all()
    assert (df.podcast == df.utt_id.str.extract(r'MSP-PODCAST_(\d{4})_')[0]).all()
    # never merged with a known speaker, nor across podcasts
    assert not set(unknown.speaker) & set(df[df.spkr_id != 'Unknown'].speaker)
    assert unknown.groupby('speaker').podcast.nunique().max() == 1
    assert (df[df.spkr_id != 'Unknown'].speaker == df[df.spkr_id != 'Unknown'].spkr_id).all()


def test_unknown_speaker_of_an_odd_file_name_is_its_own(tmp_path):
    turns = make_turns(5, RELEASES['1.11'][3])
    turns[0].update(file='odd_name.wav', spkr='Unknown', gender='Unknown', code='N')
    df = load_msp_podcast(write_release(tmp_path/'r', '1.11', turns)).set_index('utt_id')
    assert df.loc['odd_name', 'speaker'] == 'unknown_odd_name' and pd.isna(df.loc['odd_name', 'podcast'])


# ---------------------------------------------------------------- audio
def test_missing_audio_error_skip_keep(tree):
    root, turns = tree
    gone = [t['file'] for t in turns if t['code'] == 'N'][:2] + [next(t['file'] for t in turns if t['code'] == 'X')]
    for f in gone: (root/'Audios'/f).unlink()
    with pytest.raises(FileNotFoundError, match=r"msp_podcast: 2 labelled utterance\(s\) have no wav file, e\.g\. "
                                                r".*missing_audio='skip'"):
        load_msp_podcast(root)
    full = load_msp_podcast(root, missing_audio='keep')
    with pytest.warns(UserWarning, match=r'dropped \(missing_audio=skip\)'):
        skipped = load_msp_podcast(root, missing_audio='skip')
    assert len(skipped) == len(full) - 2 and not set(skipped.utt_id) & {f[:-4] for f in gone}


def test_wavs_without_labels_are_ignored(tree):
    root, _ = tree
    sf.write(root/'Audios'/'MSP-PODCAST_9999_0001.wav', np.zeros(1600, np.float32), 16000)  # as Test3's audio
    assert 'MSP-PODCAST_9999_0001' not in set(load_msp_podcast(root).utt_id)


# ---------------------------------------------------------------- bad input
def test_not_a_release(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'not an MSP-Podcast release\. Expected .*Labels/ holding '
                                                r'labels_consensus\.csv .*licensed'):
        load_msp_podcast(tmp_path)
    (tmp_path/'Labels').mkdir()
    rows = _consensus_rows(make_turns(1, ['Train'], 3))
    pd.DataFrame(rows).to_csv(tmp_path/'Labels'/'labels_consensus.csv', index=False)
    with pytest.raises(FileNotFoundError, match=r'no labels_detailed\.csv \(or \.json\) beside labels_consensus\.csv'):
        load_msp_podcast(tmp_path)


def test_consensus_without_expected_columns(tree):
    root, _ = tree
    csv = root/'Labels'/'labels_concensus.csv'
    pd.read_csv(csv).rename(columns={'SpkrID': 'Speaker', 'Split_Set': 'Split'}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"labels_concensus\.csv: missing column\(s\) \['SpkrID', 'Split_Set'\] "
                                         r"\(found \['FileName', 'EmoClass'"):
        load_msp_podcast(root)


def _set_cells(csv, rows, column, value):
    "Write `value` into `column` of data rows `rows` of `csv` (0-based, after the header)."
    table = pd.read_csv(csv, dtype=str)
    table.loc[rows, column] = value
    table.to_csv(csv, index=False)


def test_unknown_class_letter_names_file_row_value(tree):
    root, turns = tree
    _set_cells(root/'Labels'/'labels_concensus.csv', [6, 9], 'EmoClass', 'Z')
    with pytest.raises(ValueError, match=r"labels_concensus\.csv, line 8, EmoClass 'Z': unknown class letter; "
                                         r"MSP-Podcast's are A, S, H, U, F, D, C, N, O, X \(2 row\(s\) like it\)"):
        load_msp_podcast(root)


def test_unknown_class_letter_in_json(tmp_path):
    turns = make_turns(2, RELEASES['1.12-json'][3])
    turns[4]['code'] = 'neu'
    with pytest.raises(ValueError, match=rf"labels_consensus\.json, entry '{turns[4]['file']}', EmoClass 'neu'"):
        load_msp_podcast(write_release(tmp_path/'r', '1.12-json', turns))


@pytest.mark.parametrize('release', ['1.8', '2.0', '1.12-json'])
def test_unknown_primary_emotion(tmp_path, release):
    turns = make_turns(4, RELEASES[release][3])
    w, _, *rest = turns[2]['ratings'][1]
    turns[2]['ratings'][1] = (w, 'Bored', *rest)
    where = (rf"entry '{turns[2]['file']}', worker '{w}'" if release.endswith('json')
             else f"line {len(turns[0]['ratings']) + len(turns[1]['ratings']) + 3}")
    with pytest.raises(ValueError, match=rf"labels_detailed\.(csv|json), {where}, EmoClass_Major 'Bored': "
                                         r"unknown primary emotion; annotators choose Angry"):
        load_msp_podcast(write_release(tmp_path/'r', release, turns))


def test_malformed_emodetail(tree):
    root, _ = tree
    _set_cells(root/'Labels'/'labels_detailed.csv', [4], 'EmoDetail', 'Neutral')
    with pytest.raises(ValueError, match=r"labels_detailed\.csv, line 6, EmoDetail 'Neutral': not one rating like "
                                         r"'WORKER00000001; Neutral;"):
        load_msp_podcast(root)


def test_detailed_csv_of_no_known_layout(tree):
    root, _ = tree
    csv = root/'Labels'/'labels_detailed.csv'
    pd.DataFrame({'FileName': ['a.wav'], 'Emotion': ['Happy']}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"labels_detailed\.csv: columns \['FileName', 'Emotion'\] are neither"):
        load_msp_podcast(root)


def test_detailed_json_of_wrong_structure(tmp_path):
    root = write_release(tmp_path/'r', '1.12-json', make_turns(6, ['Train']))
    (root/'Labels'/'labels_detailed.json').write_text(json.dumps({'MSP-PODCAST_0001_0001.wav': {'WORKER1': 'Happy'}}))
    with pytest.raises(ValueError, match=r"entry 'MSP-PODCAST_0001_0001\.wav', worker 'WORKER1': expected an object "
                                         r"with EmoClass_Major"):
        load_msp_podcast(root)
    (root/'Labels'/'labels_detailed.json').write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"labels_detailed\.json: expected a JSON object keyed by file name"):
        load_msp_podcast(root)


def test_ratings_of_unlisted_utterances_warn(tree):
    root, turns = tree
    csv = root/'Labels'/'labels_detailed.csv'
    extra = pd.DataFrame({'FileName': ['MSP-PODCAST_0999_0001.wav'] * 2,
                          'EmoDetail': ['WORKER00000001; Happy; ; A:3.0; V:4.0; D:3.0;'] * 2})
    pd.concat([pd.read_csv(csv), extra]).to_csv(csv, index=False)
    with pytest.warns(UserWarning, match=r"ratings of 1 utterance\(s\) that the consensus labels do not list, "
                                         r"e\.g\. \['MSP-PODCAST_0999_0001'\]; ignored"):
        df = load_msp_podcast(root)
    assert len(df) == sum(t['code'] in 'HSNA' for t in turns)


def test_kept_utterance_without_ratings_is_an_error(tree):
    root, turns = tree
    csv = root/'Labels'/'labels_detailed.csv'
    lost = [t['file'] for t in turns if t['code'] == 'A'][:2]
    table = pd.read_csv(csv)
    table[~table.FileName.isin(lost)].to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"labels_detailed\.csv: no rating for 2 utterance\(s\) of "
                                         rf"labels_concensus\.csv, e\.g\. \['{lost[0][:-4]}', '{lost[1][:-4]}'\]"):
        load_msp_podcast(root)
    # an X turn without ratings is no problem: it is not in the table
    x = [t['file'] for t in turns if t['code'] == 'X']
    table[~table.FileName.isin(x)].to_csv(csv, index=False)
    load_msp_podcast(root)


def test_consensus_file_checks(tree):
    root, _ = tree
    csv = root/'Labels'/'labels_concensus.csv'
    raw = pd.read_csv(csv, dtype=str)
    for change, message in [
            (lambda t: t.assign(Gender=t.Gender.where(t.index != 3, 'M')), r"line 5, Gender 'M': unknown gender"),
            (lambda t: t.assign(SpkrID=t.SpkrID.where(t.index != 0, '')), r"line 2, SpkrID '': empty"),
            (lambda t: t.assign(EmoVal=t.EmoVal.where(t.index != 2, 'high')), r"line 4, EmoVal 'high': not a number"),
            (lambda t: pd.concat([t, t.iloc[[1]]]), r"line 42, FileName '.*': listed twice")]:
        change(raw).to_csv(csv, index=False)
        with pytest.raises(ValueError, match=r'labels_concensus\.csv, ' + message):
            load_msp_podcast(root)


def test_csv_read_when_both_formats_exist(tree):
    root, _ = tree
    (root/'Labels'/'labels_consensus.json').write_text('not json')  # 1.10+ ship both; the CSV is read
    (root/'Labels'/'labels_detailed.json').write_text('not json')
    load_msp_podcast(root)


def test_readers_directly(tree):
    root, turns = tree
    consensus = read_msp_consensus(root/'Labels'/'labels_concensus.csv')
    assert consensus.utt_id.tolist() == [t['file'][:-4] for t in turns]
    assert consensus.EmoClass.tolist() == [t['code'] for t in turns]
    ratings = read_msp_detailed(root/'Labels'/'labels_detailed.csv')
    assert len(ratings) == sum(len(t['ratings']) for t in turns)
    assert ratings.worker.tolist() == [w for t in turns for w, *_ in t['ratings']]
    others = sum(p.startswith('Other') for t in turns for _, p, *_ in t['ratings'])
    assert (ratings.primary == 'other').sum() == others > 0


# ---------------------------------------------------------------- the official protocol
def test_official_folds_follow_split_set(tmp_path):
    "Split by podcast, as the release's partitions are: one fold per test set, no speaker in two roles."
    from sermeta.folds import make_folds, resolve_protocol
    turns = make_turns(3, ['Train'], n=120)
    split_of = {1: 'Development', 2: 'Test1', 3: 'Test2'}
    for t in turns: t['split'] = split_of.get(int(t['file'][12:16]) % 7, 'Train')
    table = load_msp_podcast(write_release(tmp_path/'MSP', '1.11', turns))
    assert resolve_protocol(table) == 'official'
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # no speaker shared between roles
        folds = make_folds(table)
    assert [f.test_speaker for f in folds] == ['Test1', 'Test2']
    split = table.set_index('utt_id').split
    speaker = table.set_index('utt_id').speaker
    for f in folds:
        assert set(split[list(f.test_ids)]) == {f.test_speaker} and set(split[list(f.valid_ids)]) == {'Development'}
        assert set(split[list(f.train_ids)]) == {'Train'}
        roles = [set(speaker[list(ids)]) for ids in (f.train_ids, f.valid_ids, f.test_ids)]
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
