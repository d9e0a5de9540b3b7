"""The third rater regime, the regimes' corpus keys, and the ambiguity map and report on fabricated run trees."""
import numpy as np, pandas as pd, pytest
from sermeta.core import CLASSES
from sermeta.annotators import majority
from sermeta.corpora import load_corpus
from sermeta.crowd import load_crowd
from sermeta.synthetic import plan_corpus, generate_corpus, regime_corpus
from sermeta.reproduce import synthetic_folder
from sermeta.ambiguity import (REGIMES, LW_ROLES, map_runs, regime_table, ambiguity_map, ambiguity_sentence,
                               alike_seeds)
from ambiguity_fixture import fake_table, fake_run

WORDS = {'Happiness': 0, 'Sadness': 1, 'Neutral': 2, 'Anger': 3}  # any other word is the fifth answer


def test_half_the_raters_round_up_and_keep_two():
    full, half = load_crowd('cremad'), load_crowd('cremad_half')
    expected = {max(2, -(-n // 2)) for n in full.n_raters}
    assert set(half.n_raters) == expected == {2, 3, 4, 5, 6}
    plan = plan_corpus(scale=0.01, seed=0, raters='cremad_half')
    assert set(plan.n_raters) <= expected and plan.n_raters.mean() < 5
    answers = [[WORDS.get(w, 4) for w in votes] + [-1] * (6 - len(votes)) for votes in plan.votes]
    gold = [CLASSES[g] if g >= 0 else '' for g in majority(answers)]      # gold labels follow from the fewer votes
    assert gold == [g if g in CLASSES else '' for g in plan.gold_label]


def test_each_regime_has_its_corpus_key_and_folder(tmp_path):
    folder = synthetic_folder(tmp_path, 0.005, raters='cremad_half')
    generate_corpus(folder, scale=0.005, seed=0, raters='cremad_half', audio=False, progress=False)
    table = load_corpus('synthetic_cremad_half', folder, missing_audio='keep')
    assert {'true_label', 'votes_happiness'} <= set(table.columns) and len(table)
    with pytest.raises(ValueError, match=r"a corpus rated by 'cremad_half', not 'cremad'.*--corpus synthetic_cremad_half"):
        load_corpus('synthetic_cremad', folder, missing_audio='keep')
    with pytest.raises(ValueError, match="unknown corpus 'synthetic_crowd'"):
        load_corpus('synthetic_crowd', folder)


@pytest.fixture
def tree(tmp_path):
    "Two regimes; Lw (Table 3) far better only in the noisy one; one soft_target seed on another schedule."
    rng = np.random.default_rng(1)
    tables = {'designed': fake_table('d', rng, gold_right=0.9), 'cremad': fake_table('c', rng, gold_right=0.6)}
    runs = tmp_path/'runs'
    for regime, table in tables.items():
        for role in ('baseline', LW_ROLES[1], 'soft_target', 'pencil'):
            for seed in (10, 11, 12):
                lw = role == LW_ROLES[1]
                fake_run(runs, regime_corpus(regime), map_runs()[role], seed, table,
                         0.8 if lw and regime == 'cremad' else 0.55, rng, fixes=0.5 if lw or role == 'pencil' else 0.0,
                         schedule=(20, 3) if role == 'soft_target' and seed == 11 else (0, 0))
    return runs, tables


def test_the_map_reads_what_exists_and_lists_the_rest(tree):
    runs, tables = tree
    result = ambiguity_map(runs, tables=tables, n_boot=300)
    table = result['map'].set_index(['regime', 'role'])
    assert sorted(table.index) == sorted((r, role) for r in tables for role in ('baseline', LW_ROLES[1], 'soft_target', 'pencil'))
    noisy = table.loc[('cremad', LW_ROLES[1])]
    assert noisy.UA_vs_baseline_ci_low > 0 and noisy.UA_vs_soft_target_ci_low > 0
    assert noisy.net > 0 and noisy.broken == 0 and 35 < noisy.fixed < 65
    assert np.isnan(table.loc[('cremad', 'soft_target'), 'net'])
    # soft_target's seed 11 ran another schedule: left out of its pairs, which keep seeds 10 and 12
    left = result['left_out']
    assert set(zip(left.run, left.reference)) == {('soft_target', 'baseline'), (map_runs()[LW_ROLES[1]], 'soft_target'),
                                                  ('pencil', 'soft_target')}
    assert len(left) == 6 and all(s == [11] for s in left.seeds_left_out)
    vs_soft = result['intervals'][result['intervals'].reference_role == 'soft_target']
    assert set(vs_soft.seeds) == {2}
    assert set(result['intervals'].regime) == {'designed', 'cremad'}
    missing = result['missing']
    never = {LW_ROLES[0], LW_ROLES[2], 'control', 'w', 'cleanlab'}
    assert set(missing[missing.regime == 'designed'].role) == never                  # three seeds wanted there
    cremad = missing[missing.regime == 'cremad'].set_index('role').seeds_missing     # five seeds wanted there
    assert cremad.to_dict() == {role: [10, 11, 12, 13, 14] if role in never else [13, 14] for role in map_runs()}


def test_the_sentence_follows_the_intervals(tree):
    runs, tables = tree
    intervals = ambiguity_map(runs, tables=tables, n_boot=300)['intervals']
    sentence = ambiguity_sentence(intervals)
    assert sentence.startswith('Over the regimes with paired runs (designed, cremad), learning l and w beats the baseline in cremad')
    assert 'beats training on the votes (soft_target) in cremad' in sentence and sentence.endswith('Not yet run: cremad_half.')
    worse = intervals.assign(diff=-intervals['diff'])
    assert 'beats the baseline in no regime and loses to it in cremad' in ambiguity_sentence(worse)


def test_runs_of_another_corpus_are_refused(tree):
    runs, tables = tree
    other = {'designed': tables['designed'].iloc[:100], 'cremad': tables['cremad']}
    with pytest.raises(ValueError, match=r'synthetic/baseline: predicts 200 utterance\(s\) its regime.s corpus lacks'):
        ambiguity_map(runs, tables=other, n_boot=100)


def test_pairs_need_the_same_device(tmp_path):
    rng = np.random.default_rng(2)
    table = fake_table('x', rng)
    fake_run(tmp_path, 'synthetic', 'baseline', 10, table, 0.5, rng)
    fake_run(tmp_path, 'synthetic', 'Lw', 10, table, 0.5, rng, device='cuda: NVIDIA H200')
    fake_run(tmp_path, 'synthetic', 'baseline', 11, table, 0.5, rng)
    fake_run(tmp_path, 'synthetic', 'Lw', 11, table, 0.5, rng)
    fake_run(tmp_path, 'synthetic', 'Lw', 3, table, 0.5, rng)   # not a fresh seed
    assert alike_seeds(tmp_path, 'synthetic', 'Lw', 'baseline') == ([11], [10])


def test_the_report_runs_on_a_fabricated_tree(tmp_path):
    from sermeta.reports import run_reports
    rng = np.random.default_rng(3)
    runs = tmp_path/'runs'
    for regime in ('designed', 'cremad'):
        table = regime_table(regime, scale=0.1, data_dir=tmp_path/'data')   # the campaign's corpora, labels only
        for role in ('baseline', LW_ROLES[0], LW_ROLES[1], 'soft_target'):
            for seed in (10, 11):
                fake_run(runs, regime_corpus(regime), map_runs()[role], seed, table, 0.6, rng)
    run_reports('synthetic', None, runs=runs, out=tmp_path/'out', names=['ambiguity'], smoke=True, progress=False)
    out = tmp_path/'out'
    for name in ('ambiguity_map.csv', 'ambiguity_map.md', 'ambiguity_gain_vs_agreement.png',
                 'ambiguity_gain_vs_agreement.csv', 'ambiguity_sentence.md', 'ambiguity_table.csv', 'ambiguity_missing.csv',
                 'ambiguity_agreement.csv'):
        assert (out/name).is_file(), name
    figure = pd.read_csv(out/'ambiguity_gain_vs_agreement.csv')
    assert set(figure.regime) == {'designed', 'cremad'} and set(figure.metric) == {'WA', 'UA'}
    agreement = pd.read_csv(out/'ambiguity_agreement.csv', index_col='regime')
    assert list(agreement.index) == list(REGIMES) and agreement.loc['designed', 'pairwise agreement'] > 0.8
    assert (out/'ambiguity_sentence.md').read_text().startswith('Over the regimes with paired runs (designed, cremad)')
    said = pd.read_csv(out/'ambiguity_table.csv')
    assert said[['regime', 'scored against']].values.tolist() == [['designed', 'gold labels'], ['designed', 'true emotions'],
                                                                  ['cremad', 'gold labels'], ['cremad', 'true emotions']]
    assert said.iloc[:, 2:].stack().str.match(r'(beats|loses) \(|no difference shown$').all()
    assert '/tmp' not in (out/'notebooks'/'ambiguity.ipynb').read_text()
