"""The speaker-level paired bootstrap, Holm and the verdict rule (sermeta.intervals), the device check and where runs trained
(sermeta.claims, sermeta.reports), on small synthetic prediction tables and fake run folders."""
import json
import numpy as np, pandas as pd, pytest
from sermeta.core import CLASSES
from sermeta.paper import PAPER_TABLE2
from sermeta.intervals import (paired_bootstrap, variance_components, standard_error, detectable_difference, seeds_needed,
                               holm, verdict_word)
from sermeta.claims import verdict_table, gains_vs_baseline, training_setups


def predictions(right, folds, gold, seeds):
    "A pooled predictions table: utterance n of fold folds[n] predicted right where `right[s, n]`, else as the next class."
    wrong = [CLASSES[(CLASSES.index(g) + 1) % len(CLASSES)] for g in gold]
    return pd.concat([pd.DataFrame({'utt_id': np.arange(len(gold)), 'fold': folds, 'gold': gold, 'seed': s,
                                    'pred': np.where(right[i], gold, wrong)}) for i, s in enumerate(seeds)], ignore_index=True)


def pair(speaker_sd, rng, speakers=10, per_speaker=30, seeds=3, mean=0.0):
    "Two methods whose difference (`mean`) varies by speaker with sd `speaker_sd` (in probability); utterances alike."
    folds = np.repeat(np.arange(speakers), per_speaker)
    gold = rng.choice(list(CLASSES), len(folds))
    base = rng.random(len(folds)) < 0.7
    gain = np.clip(rng.normal(mean, speaker_sd, speakers), -0.6, 0.6)[folds]           # a speaker's own gain or loss
    flip = rng.random((seeds, len(folds)))
    a = np.where(gain > 0, base | (flip < gain), base & ~(flip < -gain))
    return predictions(a, folds, gold, range(seeds)), predictions(np.tile(base, (seeds, 1)), folds, gold, range(seeds))


def width(interval, metric='WA'): return interval.loc[metric, 'hi'] - interval.loc[metric, 'lo']


def test_clustering_widens_the_interval_when_speakers_share_errors():
    rng = np.random.default_rng(0)
    shared = pair(0.35, rng)                     # speakers gain or lose together
    independent = pair(0.0, rng, mean=0.15)      # every speaker alike: utterances and seeds differ alone
    for a, b in (shared, independent):
        assert paired_bootstrap(a, b).resampling.iloc[0] == '3 seeds x 10 test folds'
        assert paired_bootstrap(a, b, cluster='utt_id').resampling.iloc[0] == '3 seeds x 300 utterances'
    ratio = lambda a, b: width(paired_bootstrap(a, b)) / width(paired_bootstrap(a, b, cluster='utt_id'))
    assert ratio(*shared) > 2 * ratio(*independent)
    assert ratio(*shared) > 2 and ratio(*independent) < 1.3


def test_the_interval_and_the_p_value_agree():
    a, b = pair(0.35, np.random.default_rng(1))
    for kind in ('fold', 'utt_id'):
        ci = paired_bootstrap(a, b, n_boot=1000, cluster=kind)
        assert ((ci.lo > 0) | (ci.hi < 0) == (ci.p < 0.05)).all()
        assert (ci.p >= 1 / 1000).all() and (ci.p <= 1).all()
    same = paired_bootstrap(a, a)
    assert (same[['diff', 'lo', 'hi']].to_numpy() == 0).all() and (same.p == 1).all()


def test_the_standard_error_is_the_bootstraps_and_falls_with_seeds_to_the_speaker_floor():
    a, b = pair(0.35, np.random.default_rng(2), seeds=4)
    parts = variance_components(a, b)
    assert np.allclose(standard_error(parts, 4), paired_bootstrap(a, b).se)
    floor = np.sqrt(parts.cluster_var / parts.clusters)
    assert (standard_error(parts, 10**9) - floor).abs().max() < 1e-3
    assert (seeds_needed(parts, 2.8 * floor * 0.99) == np.inf).all()     # below what 10 speakers can show: never
    assert (seeds_needed(parts, detectable_difference(parts, 8) * (1 + 1e-9)) == 8).all()
    # planning for the spread's upper limit asks for more seeds, the more so the fewer seeds measured it
    target = detectable_difference(parts, 8) * (1 + 1e-9)
    assert (seeds_needed(parts, target, confidence=0.9) > 8).all()
    assert (seeds_needed(parts, target, confidence=0.9) <= seeds_needed(parts.assign(seeds=2), target, confidence=0.9)).all()


def test_a_single_test_fold_falls_back_to_utterances():
    a, b = pair(0.0, np.random.default_rng(3), mean=0.1)
    ci = paired_bootstrap(a.assign(fold=0), b.assign(fold=0))
    assert ci.resampling.iloc[0] == '3 seeds x 300 utterances (a single test fold)'


def test_holm_on_known_p_values():
    assert np.allclose(holm([0.01, 0.02, 0.03, 0.04, 0.05]), [0.05, 0.08, 0.09, 0.09, 0.09])
    assert np.allclose(holm([0.04, 0.001, 0.5]), [0.08, 0.003, 0.5])
    assert np.allclose(holm([0.3]), [0.3]) and np.allclose(holm([0.6, 0.6]), [1.0, 1.0])
    adjusted = holm([0.02, np.nan, 0.01])
    assert np.isnan(adjusted[1]) and np.allclose(adjusted[[0, 2]], [0.02, 0.02])


@pytest.mark.parametrize('diff, p_holm, paper, p_paper_holm, detectable, seeds, word', [
    (2.5, 0.001, 2.3, 0.80, 2.0, 5, 'reproduced'),
    (0.8, 0.001, 2.3, 0.001, 2.0, 5, "smaller than the paper's"),
    (6.0, 0.001, 2.3, 0.001, 2.0, 5, "larger than the paper's"),
    (-3.0, 0.001, 2.3, 0.001, 2.0, 5, 'contradicted'),
    (-1.0, 0.20, 2.3, 0.01, 2.0, 5, 'contradicted'),          # no difference shown, but the paper's gain is excluded
    (-1.0, 0.20, 2.3, 0.30, 2.0, 5, 'consistent, not shown'),  # the paper's gain excluded by its raw p only: not enough
    (-3.0, 0.001, 2.3, 0.06, 2.0, 5, 'contradicted'),          # a significant loss where the paper gains
    (0.5, 0.60, 2.3, 0.20, 5.0, 5, 'undetectable at these seeds'),
    (0.5, 0.60, 2.3, 0.20, 2.0, 5, 'consistent, not shown'),
    (-2.0, 0.001, -1.6, 0.50, 2.0, 5, 'reproduced'),           # a loss the paper reports, found
    (1.0, 0.001, -1.6, 0.001, 2.0, 5, 'contradicted'),
    (3.0, 0.01, np.nan, np.nan, 2.0, 5, 'gain'),
    (-3.0, 0.01, np.nan, np.nan, 2.0, 5, 'loss'),
    (3.0, 0.08, np.nan, np.nan, 2.0, 5, 'no difference shown'),    # the interval excludes 0, Holm does not
    (3.0, 0.001, 2.3, 0.80, np.nan, 1, 'seed spread unknown'),
])
def test_verdict_words_on_constructed_tests(diff, p_holm, paper, p_paper_holm, detectable, seeds, word):
    assert verdict_word(diff, p_holm, paper, p_paper_holm, detectable, seeds) == word


def fake_run(root, method, seed, preds, device=None, precision=None, bf16=False, node=None, host=None):
    "A finished run directory: pooled predictions, and one fold whose metrics.json records `device` (and `precision`, `node`, `host`)."
    folder = root / 'toy' / method / f'seed{seed}'
    (folder / 'fold0').mkdir(parents=True)
    preds.to_csv(folder / 'predictions.csv.gz', index=False)
    pd.DataFrame(columns=['utt_id', 'w']).to_csv(folder / 'learned.csv.gz', index=False)
    (folder / 'metrics.json').write_text('{}')
    (folder / 'config.json').write_text(json.dumps({'config': {'bf16': bf16}}))
    recorded = dict(device=device, precision=precision, node=node, host=host)
    fold = {'seconds': 1.0, **{k: v for k, v in recorded.items() if v}}   # a field left None: a fold from before it was recorded
    (folder / 'fold0' / 'metrics.json').write_text(json.dumps(fold))


@pytest.fixture
def runs(tmp_path):
    a, b = pair(0.2, np.random.default_rng(4), seeds=2)
    for seed in (0, 1):
        fake_run(tmp_path, 'baseline', seed, b[b.seed == seed], device='cpu')
        fake_run(tmp_path, 'Lw', seed, a[a.seed == seed], device='cpu' if seed == 0 else 'cuda: NVIDIA H200')
        fake_run(tmp_path, 'w', seed, a[a.seed == seed], device='cpu', bf16=True)
        fake_run(tmp_path, 'L', seed, a[a.seed == seed], device=None if seed == 0 else 'cpu', precision='fp32')
    return tmp_path


def test_a_pair_trained_on_different_devices_is_refused_or_marked(runs):
    with pytest.raises(ValueError, match=r'Lw and baseline were not trained alike \(seed 1: Lw on cuda: NVIDIA H200, '
                                         r"baseline on cpu\).*mixed='mark'"):
        verdict_table(runs, 'toy', [('Lw', 'baseline')])
    with pytest.raises(ValueError, match='seed 1: Lw on cuda'):
        gains_vs_baseline(runs, 'toy', ['Lw'])
    marked = verdict_table(runs, 'toy', [('Lw', 'baseline')], mixed='mark', n_boot=100)
    assert (marked.setup == 'mixed: seed 1: Lw on cuda: NVIDIA H200, baseline on cpu').all()
    assert (marked.devices == 'cpu, cuda: NVIDIA H200').all()
    assert verdict_table(runs, 'toy', [('Lw', 'baseline')], seeds=[0], n_boot=100).setup.eq('alike').all()
    with pytest.raises(ValueError, match="mixed must be one of"):
        verdict_table(runs, 'toy', [('Lw', 'baseline')], mixed='ignore')


def test_precision_comes_from_config_and_an_unrecorded_device_is_marked(runs):
    assert set(training_setups(runs, 'toy', 'w').precision) == {'bf16'}       # config.json bf16, folds silent
    with pytest.raises(ValueError, match='w in bf16, baseline in fp32'):
        verdict_table(runs, 'toy', [('w', 'baseline')])
    table = verdict_table(runs, 'toy', [('L', 'baseline')], n_boot=100)   # unrecorded vs cpu: unknown, not refused
    assert (table.setup == 'device unrecorded (seed 0)').all() and (table.precision == 'fp32').all()
    assert set(table.verdict) <= {'consistent, not shown', 'undetectable at these seeds', 'contradicted', 'reproduced',
                                  "smaller than the paper's", "larger than the paper's"}
    paper = PAPER_TABLE2.loc['L', ['WA', 'UA']] - PAPER_TABLE2.loc['baseline', ['WA', 'UA']]
    assert np.allclose(table.paper_diff, paper.to_numpy())



def test_the_svms_own_precision_is_by_design_not_a_mix(runs, tmp_path):
    "The SVM computes in float64 whatever its config: against a float32 network on one device it is a fair pair."
    a, _ = pair(0.2, np.random.default_rng(5), seeds=2)
    for seed in (0, 1):
        fake_run(tmp_path, 'svm', seed, a[a.seed == seed], device='cpu', precision='fp64')
    (tmp_path / 'toy' / 'svm' / 'seed0' / 'fold0' / 'metrics.json').write_text('{"seconds": 1.0, "device": "cpu"}')
    (tmp_path / 'toy' / 'svm' / 'seed0' / 'config.json').write_text(json.dumps({'config': {}, 'method': {'model': 'svm'}}))
    assert set(training_setups(runs, 'toy', 'svm').precision) == {'fp64'}     # an old fold: the model's own, not fp32
    table = verdict_table(runs, 'toy', [('svm', 'baseline')], n_boot=100)      # refused if it counted as a mix
    assert table.setup.eq('alike').all() and table.precision.eq('fp32, fp64').all()
    with pytest.raises(ValueError, match='w in bf16, baseline in fp32'):       # a network in bf16 still is one
        verdict_table(runs, 'toy', [('w', 'baseline')])

@pytest.fixture
def placed_runs(tmp_path):
    "baseline trained by a cluster's two GPU nodes (one a host name, one its id only), w on this machine's GPU, Lw before any was recorded."
    a, b = pair(0.2, np.random.default_rng(5), seeds=2)
    gpu = dict(device='cuda: NVIDIA H200', precision='bf16')
    fake_run(tmp_path, 'baseline', 0, b[b.seed == 0], **gpu, node='a3f9c2d1e0b4c5d6', host='gpu-a')
    fake_run(tmp_path, 'baseline', 1, b[b.seed == 1], **gpu, node='77b1e5c9d2a8f0e1')     # a Ray node whose host was not kept
    for seed in (0, 1):
        fake_run(tmp_path, 'w', seed, a[a.seed == seed], **gpu, node='local')
        fake_run(tmp_path, 'Lw', seed, a[a.seed == seed])                               # an old fold: no device, precision or node
    return tmp_path


def test_table2_says_where_each_run_trained(placed_runs, tmp_path):
    from sermeta.evaluate import classification_metrics
    from sermeta.reports import table2, headline_cells, write_table
    t2 = table2(placed_runs, 'toy', ['baseline', 'w', 'Lw'])
    where = t2[['devices', 'precision', 'nodes']]
    assert where.loc['baseline'].tolist() == ['cuda: NVIDIA H200', 'bf16', '2 nodes: 77b1e5c9, gpu-a']
    assert where.loc['w'].tolist() == ['cuda: NVIDIA H200', 'bf16', 'local']
    assert where.loc['Lw'].tolist() == ['unrecorded', 'fp32', 'unrecorded']    # precision: config.json's bf16 is off
    assert list(t2.columns[-3:]) == ['devices', 'precision', 'nodes']           # the scores' columns come first, as before
    preds = pd.read_csv(placed_runs / 'toy' / 'baseline' / 'seed1' / 'predictions.csv.gz')
    assert np.isclose(t2.loc['baseline', 'WA'], np.mean([classification_metrics(p.gold, p.pred, CLASSES)['WA'] for p in
                      (pd.read_csv(placed_runs / 'toy' / 'baseline' / 'seed0' / 'predictions.csv.gz'), preds)]))
    write_table(t2, tmp_path / 'report', 'table2', markdown=headline_cells(t2))
    lines = {line.split('|')[1].strip(): line for line in (tmp_path / 'report' / 'table2.md').read_text().splitlines()[2:]}
    assert '2 nodes: 77b1e5c9, gpu-a' in lines['baseline'] and lines['Lw'].count('unrecorded') == 2
    saved = pd.read_csv(tmp_path / 'report' / 'table2.csv', index_col=0)
    assert saved.loc['w', 'nodes'] == 'local' and np.isclose(saved.loc['w', 'UA'], t2.loc['w', 'UA'])


def test_run_tables_name_the_nodes_and_never_refuse_on_them(placed_runs):
    from sermeta.claims import sensitivity_table
    alike = verdict_table(placed_runs, 'toy', [('w', 'baseline')], n_boot=50)     # one device kind on other nodes: alike
    assert set(alike.setup) == {'alike'} and set(alike.nodes) == {'local; 2 nodes: 77b1e5c9, gpu-a'}
    old = verdict_table(placed_runs, 'toy', [('Lw', 'baseline')], n_boot=50, mixed='mark')
    assert set(old.nodes) == {'2 nodes: 77b1e5c9, gpu-a; unrecorded'} and set(old.devices) == {'cuda: NVIDIA H200, unrecorded'}
    assert old.setup.iloc[0] == 'mixed: seed 0: Lw in fp32, baseline in bf16; seed 1: Lw in fp32, baseline in bf16; device unrecorded (seed 0, 1)'
    sens = sensitivity_table(placed_runs, 'toy', ['w'], learned=False, n_boot=50)
    assert sens.loc['w', ['devices', 'precision', 'nodes']].tolist() == ['cuda: NVIDIA H200', 'bf16', 'local']


def test_the_screen_reads_only_the_seeds_it_is_given(tmp_path):
    # a setting with committed seeds 0-1 and a fresh seed 10: the screen (seeds below 10) never pools the fresh one
    from sermeta.claims import sensitivity_table
    a, b = pair(0.2, np.random.default_rng(7), seeds=3)
    for seed, s in ((0, 0), (1, 1), (10, 2)):
        fake_run(tmp_path, 'baseline', seed, b[b.seed == s], device='cpu'); fake_run(tmp_path, 'w', seed, a[a.seed == s], device='cpu')
    screen = sensitivity_table(tmp_path, 'toy', ['w'], learned=False, n_boot=50, seeds=range(10))
    every = sensitivity_table(tmp_path, 'toy', ['w'], learned=False, n_boot=50)
    assert screen.loc['w', 'seeds'] == 2 and every.loc['w', 'seeds'] == 3
    assert screen.loc['w', 'WA_diff'] != every.loc['w', 'WA_diff']
    assert sensitivity_table(tmp_path, 'toy', ['w'], learned=False, n_boot=50, seeds=[5]).empty   # none of its seeds: left out


def test_the_verdict_of_a_corpus_reads_each_runs_setups_once(tmp_path, monkeypatch):
    import collections
    import sermeta.claims as claims
    a, b = pair(0.2, np.random.default_rng(6), seeds=2)
    for seed, s in ((10, 0), (11, 1)):   # fresh seeds of the key contrast, and committed seed 0 of a row that keeps them
        fake_run(tmp_path, 'baseline', seed, b[b.seed == s], device='cpu'); fake_run(tmp_path, 'Lw', seed, a[a.seed == s], device='cpu')
    fake_run(tmp_path, 'baseline', 0, b[b.seed == 0], device='cpu'); fake_run(tmp_path, 'svm', 0, a[a.seed == 0], device='cpu')
    reads, setups = collections.Counter(), claims._seed_setups
    monkeypatch.setattr(claims, '_seed_setups', lambda runs, corpus, name: reads.update([name]) or setups(runs, corpus, name))
    table, waiting = claims.corpus_verdict(tmp_path, 'toy', n_boot=50)
    assert set(zip(table.run, table.seeds)) == {('Lw', 2), ('svm', 1)} and len(waiting) == len(claims.verdict_comparisons()) - 2
    assert reads['baseline'] == 1 and set(reads.values()) == {1}


def test_table2_reads_a_methods_fresh_seeds_where_it_has_them_and_never_pools_them_with_committed_ones(tmp_path):
    from sermeta.evaluate import classification_metrics
    from sermeta.reports import table2, headline_cells
    better, worse = pair(0.2, np.random.default_rng(6), seeds=2, mean=0.2)
    fake_run(tmp_path, 'Lw', 0, worse[worse.seed == 0], device='cuda: NVIDIA H200')     # the seed that chose the settings
    fake_run(tmp_path, 'Lw', 10, better[better.seed == 0].assign(seed=10), device='cpu')
    fake_run(tmp_path, 'Lw', 11, better[better.seed == 1].assign(seed=11), device='cpu')
    fake_run(tmp_path, 'pencil', 0, worse[worse.seed == 1], device='cpu')                # committed seeds only
    fresh, pooled = table2(tmp_path, 'toy', ['Lw', 'pencil'], fresh=True), table2(tmp_path, 'toy', ['Lw', 'pencil'])
    wa = lambda p: classification_metrics(p.gold, p.pred, CLASSES)['WA']
    assert np.isclose(fresh.loc['Lw', 'WA'], np.mean([wa(better[better.seed == s]) for s in (0, 1)]))
    assert fresh.loc['Lw', ['seeds', 'seed_span', 'seeds_from', 'devices']].tolist() == [2, '10-11', 'fresh', 'cpu']
    assert fresh.loc['pencil', ['seeds', 'seed_span', 'seeds_from']].tolist() == [1, '0', 'committed']
    assert pooled.loc['Lw', ['seeds', 'seed_span']].tolist() == [3, '0, 10-11'] and 'seeds_from' not in pooled
    assert pooled.loc['Lw', 'devices'] == 'cpu, cuda: NVIDIA H200'
    assert list(headline_cells(fresh).columns[:5]) == ['WA', 'UA', 'seeds', 'seed_span', 'seeds_from']
