"""Raters fitted to a crowd's vote table (sermeta.crowd) and the synthetic corpus they rate (`sermeta_synth --raters`)."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sermeta.core import CLASSES
from sermeta.annotators import gold_counts, majority
from sermeta.corpora import RATER_WORDS, load_corpus
from sermeta.crowd import (CREMAD_LEVELS, crowd_file, crowd_summary, crowd_to_dict, draw_crowd, fit_cremad_crowd,
                           fit_crowd, load_crowd, read_vote_table)
from sermeta.raters import cremad_voice_raters, default_cremad_root, rater_summary
from sermeta.synthetic import generate_corpus, plan_corpus

CREMAD_VOTES = default_cremad_root()/'processedResults'/'tabulatedVotes.csv'
needs_cremad = pytest.mark.skipif(not CREMAD_VOTES.is_file(), reason=f'CREMA-D vote table not found at {CREMAD_VOTES}')
ANSWERS = CLASSES + ('fear',)  # a drawn table names the fifth answer fear


def drawn_table(crowd, n, seed) -> pd.DataFrame:
    "A vote table of `n` utterances drawn from `crowd`: votes_<class>, intended_label, level."
    draws = draw_crowd(np.random.default_rng(seed), crowd, n)
    return pd.DataFrame({'utt_id': [f'u{i}' for i in range(n)],
                         **{f'votes_{a}': (draws['answers'] == k).sum(1) for k, a in enumerate(ANSWERS)},
                         'intended_label': np.array(crowd.classes)[draws['true']],
                         'level': np.array(crowd.levels)[draws['level']]})


@needs_cremad
def test_committed_parameters_are_the_fit_of_cremads_vote_table():
    assert crowd_to_dict(fit_cremad_crowd()) == json.loads(crowd_file('cremad').read_text())


@needs_cremad
def test_fitted_crowd_rates_like_cremads_crowd():
    cremad = cremad_voice_raters()
    cremad = cremad[cremad.intended_label.isin(CLASSES)]
    observed = rater_summary({'CREMA-D': (cremad, 'intended_label')}).iloc[0]
    drawn = crowd_summary(load_crowd('cremad'), 20000, seed=1).loc['every utterance']
    gap = (drawn - observed).abs()
    assert gap['pairwise agreement'] < 0.03 and gap['unanimous %'] < 5, gap
    assert (gap[[f'{c} -> {c} %' for c in CLASSES]] < 5).all(), gap


def test_fit_recovers_the_raters_it_was_drawn_from():
    crowd = load_crowd('cremad')
    fit = fit_crowd(drawn_table(crowd, 30000, 0), level='level', levels=CREMAD_LEVELS)
    cells = fit.utterances >= 400  # every level of every class present in the table
    assert cells.sum() == (crowd.level_shares > 0).sum()
    np.testing.assert_allclose(fit.answer_probs[cells], crowd.answer_probs[cells], atol=0.03)
    np.testing.assert_allclose(fit.concentration[cells], crowd.concentration[cells], rtol=0.3)
    np.testing.assert_allclose(fit.level_shares, crowd.level_shares, atol=0.01)
    np.testing.assert_allclose(fit.class_shares, crowd.class_shares, atol=0.01)
    assert fit.other_words == ('Fear',)*4


@pytest.fixture
def table_file(tmp_path):
    "Write a drawn vote table, changed by `change(table)`, to a CSV file; return its path."
    def write(change=lambda t: t):
        path = tmp_path/'votes.csv'
        change(drawn_table(load_crowd('cremad'), 400, 1).astype(object)).to_csv(path, index=False)
        return path
    return write


def _fit(path):
    return fit_crowd(read_vote_table(path), level='level', levels=CREMAD_LEVELS, source=path)


def _set(column, row, value):
    "A change of the table: `value` at (`row`, `column`)."
    def change(t):
        t.loc[row, column] = value
        return t
    return change


@pytest.mark.parametrize('change, message', [
    (lambda t: t.drop(columns=[c for c in t if c.startswith('votes_')]), ': no vote column (votes_<class>'),
    (_set('votes_anger', 5, -2), ', column votes_anger, line 7: not a vote count, a whole number >= 0 (found -2)'),
    (_set('votes_neutral', 0, 'many'), ", column votes_neutral, line 2: not a vote count, a whole number >= 0 (found 'many')"),
    (_set('intended_label', 3, 'calm'), ", column intended_label, line 5: class 'calm' has no vote column, so the fit "
                                        "has never seen it"),
    (_set('level', 2, 'high'), ", column level, line 4: level 'high' is not one of ['LO', 'MD', 'XX', 'HI']"),
    (lambda t: t.drop(index=t.index[t.intended_label == 'happiness'][30:]),
     ": only 30 utterance(s) whose intended_label is 'happiness'; a fit needs at least 50 of every class"),
], ids=['no vote column', 'negative count', 'not a number', 'unseen class', 'unseen level', 'too few'])
def test_bad_vote_table_gets_one_message_naming_file_column_and_row(table_file, change, message):
    path = table_file(change)
    with pytest.raises(ValueError) as e: _fit(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value), str(e.value)


def test_a_good_vote_table_file_fits(table_file):
    assert _fit(table_file()).utterances.sum() == 400


def _answers(words):
    "Answer indices 0-4 of a plan row's rater words, padded with -1 to twelve raters."
    return [CLASSES.index(RATER_WORDS[w]) if RATER_WORDS[w] in CLASSES else 4 for w in words] + [-1]*(12 - len(words))


def test_crowd_corpus_gold_is_the_majority_and_table1_sets_the_labelled_counts(tmp_path):
    plan = plan_corpus(scale=0.02, seed=2, raters='cremad')
    crowd = load_crowd('cremad')
    gold = majority([_answers(w) for w in plan.votes])
    expected = [CLASSES[g] if g >= 0 else '' if g == -1 else RATER_WORDS[crowd.other_words[CLASSES.index(t)]]
                for g, t in zip(gold, plan.true_label)]
    assert plan.gold_label.tolist() == expected
    assert plan.n_raters.max() > 6 and set(plan.code) >= {'neu', 'xxx'}
    root = generate_corpus(tmp_path/'crowd', scale=0.02, seed=2, raters='cremad', audio=False, progress=False)
    table = load_corpus('synthetic', root, missing_audio='keep')
    assert table.groupby('speaker').size().to_dict() == {s: sum(n[:4]) for s, n in gold_counts(0.02).items()}
    labelled = plan[plan.gold_label.isin(CLASSES)]
    assert table.set_index('utt_id').label.to_dict() == labelled.set_index('utt_id').gold_label.to_dict()
    meta = json.loads((root/'synthetic.json').read_text())
    assert meta['params']['raters'] == meta['annotators']['raters'] == 'cremad'


def test_a_folder_of_one_rater_model_refuses_the_other(tmp_path):
    root = generate_corpus(tmp_path/'crowd', scale=0.005, seed=0, raters='cremad', audio=False, progress=False)
    with pytest.raises(ValueError, match="raters='cremad', asked None"):
        generate_corpus(root, scale=0.005, seed=0, audio=False, progress=False)


def _command(name, module, func, *args, env=None):
    "Run console script `name` (sermeta.`module`.`func`) with `args` (and `env` added); its completed process."
    exe = shutil.which(name)
    cmd = [exe] if exe else [sys.executable, '-c', f"import sys; sys.argv[0] = {name!r}; "
                                                   f"from sermeta.{module} import {func}; sys.exit({func}())"]
    env = {**{k: v for k, v in os.environ.items() if k != 'SERMETA_TRACEBACK'}, **(env or {})}
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=300, env=env)


def _synth(*args, env=None): return _command('sermeta_synth', 'synthetic', 'synth_cli', *args, env=env)


@pytest.mark.parametrize('args, message', [
    (['--raters', 'crowd'], "unknown raters 'crowd'; choose one of ['designed', 'cremad', 'cremad_half']"),
    (['--raters', 'cremad', '--annotator_noise', '0.5'], 'a fitted crowd has none to scale (leave it at 1.0)'),
])
def test_synth_cli_bad_raters_end_in_one_message(tmp_path, args, message):
    r = _synth(tmp_path/'corpus', '--scale', '0.005', '--no_audio', *args)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    assert last.startswith('sermeta_synth: error: ') and message in last, r.stderr[-2000:]


def test_synth_cli_writes_a_crowd_corpus(tmp_path):
    r = _synth(tmp_path/'corpus', '--scale', '0.005', '--no_audio', '--raters', 'cremad')
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path/'corpus'/'DONE').read_text())['raters'] == 'cremad'


def _crowd(*args, env=None): return _command('sermeta_crowd', 'crowd', 'crowd_cli', *args, env=env)


def _vote_table(n_per_class=60, seed=1):
    "Votes of 10 raters per utterance of the four classes and two outside, each class heard as itself about 0.7 of the time."
    rng, rows = np.random.default_rng(seed), []
    names = [f'votes_{c}' for c in CLASSES + ('disgust', 'fear')]
    for i, c in enumerate(CLASSES):
        mean = np.full(6, 0.06); mean[i] = 0.7
        for k, p in enumerate(rng.dirichlet(6 * mean, n_per_class)):
            rows.append(dict(utt_id=f'{c}{k}', intended=c, intensity=['low', 'high'][k % 2], **dict(zip(names, rng.multinomial(10, p)))))
    return pd.DataFrame(rows)


def test_a_crowd_fitted_to_your_votes_rates_a_corpus(tmp_path):
    crowds = tmp_path/'crowds'
    _vote_table().to_csv(tmp_path/'my_votes.csv', index=False)
    r = _crowd(tmp_path/'my_votes.csv', '--name', 'mine', '--reference', 'intended', '--level', 'intensity',
               '--levels', 'low,high', env={'SERMETA_CROWDS': str(crowds)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'rated again by mine' in r.stdout and (crowds/'mine.json').is_file()
    saved = json.loads((crowds/'mine.json').read_text())
    assert saved['levels'] == ['low', 'high'] and saved['source'] == 'my_votes.csv, fitted by sermeta_crowd'
    r = _synth(tmp_path/'corpus', '--scale', '0.005', '--no_audio', '--raters', 'mine', env={'SERMETA_CROWDS': str(crowds)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path/'corpus'/'synthetic.json').read_text())['params']['raters'] == 'mine'


def test_a_refitted_crowd_never_mixes_with_what_its_old_fit_made(tmp_path, monkeypatch):
    from sermeta.runs import start_run
    from sermeta.synthetic import corpus_identity
    crowds, env = tmp_path/'crowds', {'SERMETA_CROWDS': str(tmp_path/'crowds')}
    monkeypatch.setenv('SERMETA_CROWDS', str(crowds))
    _vote_table(seed=1).to_csv(tmp_path/'mine.csv', index=False)
    assert _crowd(tmp_path/'mine.csv', '--reference', 'intended', env=env).returncode == 0
    assert _synth(tmp_path/'corpus', '--scale', '0.005', '--no_audio', '--raters', 'mine', env=env).returncode == 0
    run, old = tmp_path/'runs'/'synthetic_mine'/'baseline'/'seed0', corpus_identity('synthetic_mine')
    start_run(run, dict(config={'seed': 0}, corpus='synthetic_mine', **old))
    assert _crowd(tmp_path/'mine.csv', '--reference', 'intended', env=env).returncode == 0   # the same table: the same fit
    # another table under the same name: refused unless asked for, then what the old fit made is refused
    _vote_table(seed=2).to_csv(tmp_path/'mine.csv', index=False)
    r = _crowd(tmp_path/'mine.csv', '--reference', 'intended', env=env)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert "crowd 'mine' already holds another fit" in r.stderr and '--replace' in r.stderr
    assert _crowd(tmp_path/'mine.csv', '--reference', 'intended', '--replace', env=env).returncode == 0
    assert corpus_identity('synthetic_mine') != old
    with pytest.raises(ValueError, match="rated by crowd 'mine' as it was fitted before"):
        load_corpus('synthetic_mine', tmp_path/'corpus')
    with pytest.raises(ValueError, match=r"differs in \['crowd'\]"):
        start_run(run, dict(config={'seed': 0}, corpus='synthetic_mine', **corpus_identity('synthetic_mine')))


@pytest.mark.parametrize('change, message', [
    (lambda t: t.drop(columns=[c for c in t if c.startswith('votes_')]), 'my_votes.csv: no vote column'),
    (lambda t: t.assign(votes_anger=t.votes_anger.where(t.index != 3, -2)),
     'my_votes.csv, column votes_anger, line 5: not a vote count'),
    (lambda t: t.assign(intended=t.intended.where(t.index != 0, 'calm')), "column intended, line 2: class 'calm' has no vote column"),
    (lambda t: t[(t.intended != 'sadness') | (t.index % 3 == 0)], 'sadness'),
])
def test_a_vote_table_the_fit_cannot_read_ends_in_one_message(tmp_path, change, message):
    change(_vote_table()).to_csv(tmp_path/'my_votes.csv', index=False)
    r = _crowd(tmp_path/'my_votes.csv', '--reference', 'intended', env={'SERMETA_CROWDS': str(tmp_path/'crowds')})
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and 'Traceback' not in r.stderr and not (tmp_path/'crowds').exists()
    assert last.startswith('sermeta_crowd: error: ') and message in last, r.stderr[-2000:]
