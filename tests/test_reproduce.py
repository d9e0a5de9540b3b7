"""The main job end to end on a tiny synthetic corpus: generate, extract, Table 1, train, summarize."""
import json
from pathlib import Path
import nbformat, numpy as np, pandas as pd, pytest
from sermeta.reproduce import reproduce, summarize_runs
from sermeta.core import CLASSES

REPO = Path(__file__).resolve().parents[1]


def test_reproduce_end_to_end(tmp_path, capsys):
    # a variant trained on request earlier joins the reports and the summary of later calls
    reproduce('synthetic', scale=0.02, methods=['w_within_class'], quick=True, folds='0', runs=tmp_path / 'runs', reports=False,
              data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    s = reproduce('synthetic', scale=0.02, methods=['baseline', 'Lw', 'cleanlab'], quick=True, folds='0', reports_dir=tmp_path / 'reports',
                  runs=tmp_path / 'runs', data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    out = capsys.readouterr().out
    assert 'Total' in out and 'synthetic Lw' in out
    assert list(s.index) == ['baseline', 'Lw', 'cleanlab', 'w_within_class']
    assert {'WA', 'UA', 'WA_true', 'UA_true', 'paper_WA', 'paper_UA'} <= set(s.columns)
    assert s.loc['baseline', 'paper_WA'] == 63.6
    assert 0 <= s.loc['Lw', 'fix_recall'] <= 100
    # a rerun trains nothing: the fold folders are finished
    stamp = (tmp_path / 'runs/synthetic/Lw/seed0/fold0/done').stat().st_mtime_ns
    reproduce('synthetic', scale=0.02, methods=['Lw'], quick=True, folds='0', runs=tmp_path / 'runs', reports=False,
              data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    assert (tmp_path / 'runs/synthetic/Lw/seed0/fold0/done').stat().st_mtime_ns == stamp
    # every report notebook ran in smoke mode and wrote its files, each of which parses
    rep = tmp_path / 'reports' / 'synthetic'
    for name in ('table1_and_model', 'table2', 'learned', 'balanced', 'claims'):
        assert 'SMOKE RUN' in (rep / 'html' / f'{name}.html').read_text()
        nbformat.validate(nbformat.read(rep / 'notebooks' / f'{name}.ipynb', as_version=4))
    for name in ('table1', 'table1_paper', 'table2', 'table2_per_class', 'table2_vs_truth', 'table2_vs_truth_per_class', 'table3', 'table4', 'balanced_wa_ua', 'truth_label_fixes',
                 'claims_gains', 'claims_label_correction', 'claims_agreement'):
        assert len(pd.read_csv(rep / f'{name}.csv')) > 0 and (rep / f'{name}.md').read_text().startswith('|')
    for name in ('figure1_model', 'figure2_framework', 'figure3_label_updates', 'figure4_label_updates_balanced',
                 'truth_gold_vs_true', 'truth_learned_vs_true', 'claims_gains_figure', 'claims_label_correction_figure', 'claims_w_vs_disagreement'):
        assert (rep / f'{name}.png').read_bytes()[:4] == b'\x89PNG' and len(pd.read_csv(rep / f'{name}.csv')) > 0
    t2 = pd.read_csv(rep / 'table2.csv', index_col=0)
    assert t2.loc['Lw', 'paper_WA'] == 65.9 and bool(t2.loc['cycle_gan', 'quoted'])
    assert t2.loc['Lw', ['devices', 'precision', 'nodes']].tolist() == ['cpu', 'fp32', 'local']   # where it trained: here
    assert pd.read_csv(rep / 'balanced_wa_ua.csv', index_col=0).nodes.eq('local').all()
    paired = pd.read_csv(rep / 'balanced_gains.csv')   # Lw against the baseline on their common seed
    assert paired.method.eq('Lw').all() and paired.verdict.eq('seed spread unknown').all() and (paired.seeds == 1).all()
    # table2.md: WA and UA first; the per-class scores apart, of the methods run here, equal to table2.csv's
    assert [c.strip() for c in (rep / 'table2.md').read_text().split('\n')[0].split('|')[2:4]] == ['WA', 'UA']
    per_class = pd.read_csv(rep / 'table2_per_class.csv', index_col=0)
    assert list(per_class.index) == list(s.index) and 'WA' not in per_class
    pd.testing.assert_frame_equal(per_class, t2.loc[per_class.index, per_class.columns], check_dtype=False)
    assert not t2.loc['cleanlab', 'in_paper'] and t2.loc['Lw', 'in_paper']
    gains = pd.read_csv(rep / 'claims_gains.csv')
    assert set(gains.method) == {'Lw', 'cleanlab', 'w_within_class'} and (gains.ci_low <= gains['diff']).all() and (gains['diff'] <= gains.ci_high).all()
    assert gains.paper_diff[gains.method.isin(['cleanlab', 'w_within_class'])].isna().all()  # rivals: not in the paper
    assert set(gains.verdict) == {'seed spread unknown'} and set(gains.setup) == {'alike'}  # one seed, trained here
    assert set(gains.resampling) == {gains.resampling.iloc[0]} and 'utterances (a single test fold)' in gains.resampling.iloc[0]
    corr = pd.read_csv(rep / 'claims_label_correction.csv', index_col=0)
    assert 0 <= corr.loc['Lw', 'fix_recall'] <= 100 and 0 <= corr.loc['Lw', 'AUROC_w_wrong'] <= 1 and 0 <= corr.loc['cleanlab', 'flag_recall'] <= 100
    assert set(pd.read_csv(rep / 'table1.csv').columns) >= {'speaker', 'happiness', 'anger'}


def test_summary_without_runs_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='sermeta_reproduce --corpus emodb'):
        summarize_runs(tmp_path, 'emodb', ['baseline'], CLASSES)


def test_summary_never_pools_fresh_and_committed_seeds():
    # the committed runs: the baseline has committed seeds (0-4) and the campaign's fresh ones (10 and up)
    from sermeta.runs import finished_seeds, FIRST_FRESH_SEED
    runs = REPO / 'reports' / 'runs'
    seeds = finished_seeds(runs, 'synthetic', 'baseline')
    fresh = [k for k in seeds if k >= FIRST_FRESH_SEED]
    assert fresh and len(fresh) < len(seeds)
    s = summarize_runs(runs, 'synthetic', ['baseline', 'oversample'], CLASSES)
    assert s.loc['baseline', 'seeds'] == len(fresh) and s.loc['baseline', 'seeds_from'] == 'fresh'
    assert s.loc['baseline', 'seed_span'].startswith(str(FIRST_FRESH_SEED))
    assert s.loc['oversample', 'seeds_from'] == 'committed' and s.loc['oversample', 'seed_span'].startswith('0')



def test_summary_reads_each_row_on_the_seeds_of_its_verdict_row():
    # soft_target has committed seeds (0-4) and fresh ones trained for the ambiguity map; its verdict row reads the committed
    from sermeta.runs import finished_seeds, FIRST_FRESH_SEED
    from sermeta.claims import seed_groups
    runs = REPO / 'reports' / 'runs'
    seeds = finished_seeds(runs, 'synthetic', 'soft_target')
    assert seed_groups()['soft_target'] == 'committed' and any(k >= FIRST_FRESH_SEED for k in seeds)
    s = summarize_runs(runs, 'synthetic', ['soft_target'], CLASSES)
    assert s.loc['soft_target', 'seeds_from'] == 'committed'
    assert s.loc['soft_target', 'seeds'] == sum(k < FIRST_FRESH_SEED for k in seeds)

def test_iemocap_without_root_explains_where_to_get_it():
    with pytest.raises(ValueError, match='IEMOCAP is licensed'):
        reproduce('iemocap', None)


def test_noise_sweep_scores_each_level(tmp_path):
    from sermeta.sweeps import noise_sweep
    from sermeta.reproduce import reproduce_config
    from sermeta.config import reading
    df = noise_sweep([0.5, 2.0], methods=('Lw',), folds='0', scale=0.02, runs=tmp_path / 'runs', data_dir=tmp_path / 'data',
                     cache_dir=tmp_path / 'cache', config=reproduce_config(quick=True), jobs=1, progress=False)
    assert list(df.annotator_noise) == [0.5, 2.0] and set(df.method) == {'Lw'}
    # the generator's knob works: more annotator noise, more wrong gold labels
    assert df.gold_wrong.iloc[1] > 2 * df.gold_wrong.iloc[0] > 0
    assert df[['fix_recall', 'broken']].apply(lambda c: c.between(0, 100)).all().all()
    assert df.AUROC_w_wrong.between(0, 1).all()
    saved = pd.read_csv(tmp_path / 'runs' / 'synthetic_noise_sweep.csv')
    pd.testing.assert_frame_equal(saved, df, check_dtype=False)
    assert (tmp_path / 'runs' / 'synthetic_noise2' / 'Lw' / 'seed0' / 'fold0' / 'done').is_file()
    # another reading of the l/w update: scored and named by its run name, which says which reading it is
    other = noise_sweep([0.5], methods=('Lw',), folds='0', scale=0.02, runs=tmp_path / 'runs', data_dir=tmp_path / 'data',
                        cache_dir=tmp_path / 'cache', config=reproduce_config(quick=True, **reading('table3')), jobs=1,
                        progress=False)
    assert other.method.tolist() == ['Lw@lr_label=1,lr_weight=0.1,lw_optimizer=sgd']
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):   # the executor flag reaches the grid
        noise_sweep([0.5], folds='0', scale=0.02, runs=tmp_path / 'runs', data_dir=tmp_path / 'data',
                    cache_dir=tmp_path / 'cache', config=reproduce_config(quick=True), executor='slurm', progress=False)


def test_reports_of_a_reference_only_run(tmp_path, capsys):
    "`--methods svm`: no baseline to measure gains against and nothing that learns labels: the reports still run and say so."
    reproduce('synthetic', scale=0.02, methods=['svm'], quick=True, folds='0', reports_dir=tmp_path / 'reports', runs=tmp_path / 'runs',
              data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    html = (tmp_path / 'reports/synthetic/html/claims.html').read_text()
    assert 'no finished baseline run' in html and 'nothing to score' in html
    assert not (tmp_path / 'reports/synthetic/claims_gains.csv').exists()
    assert (tmp_path / 'reports/synthetic/table2.csv').exists()
    err = capsys.readouterr().err  # the Lw-based reports are left out, saying why
    assert 'no learned report: it reads synthetic/Lw' in err and '--methods Lw)' in err
    assert 'no balanced report' in err and '--methods baseline,Lw)' in err
    assert not (tmp_path / 'reports/synthetic/html/learned.html').exists()


def test_sensitivity_sweep_trains_named_runs_and_resumes(tmp_path, monkeypatch, capsys):
    "A sweep's settings land in their own run folders, a diverging one is left out, and a second call trains nothing."
    import sermeta.sweeps as S
    small = S.Sweep('small', ('Lw',), ({}, dict(lw_optimizer='adam', lr_label=0.1, lr_weight=0.1),
                                       dict(lw_optimizer='sgd', lr_label=500.0, lr_weight=500.0)))
    monkeypatch.setitem(S.SWEEPS, 'small', small)
    kw = dict(sweep='small', folds='0', scale=0.02, runs=tmp_path / 'runs', data_dir=tmp_path / 'data', jobs=2,
              cache_dir=tmp_path / 'cache', progress=False, max_epochs=2, patience=2)  # the default model: the names the reports read
    summary = S.run_sweep('synthetic', **kw)
    assert list(summary.index) == ['Lw', 'Lw@lr_label=0.1,lr_weight=0.1']  # adam is the default rule
    assert 'left out, its l/w update diverges' in capsys.readouterr().out
    adam = tmp_path / 'runs' / 'synthetic' / 'Lw@lr_label=0.1,lr_weight=0.1' / 'seed0'
    assert json.loads((adam / 'config.json').read_text())['config']['lw_optimizer'] == 'adam'
    stamp = (adam / 'fold0' / 'metrics.json').stat().st_mtime_ns
    from sermeta.runs import diverged_settings
    assert list(diverged_settings(tmp_path / 'runs', 'synthetic')) == ['Lw@lr_label=500,lr_weight=500,lw_optimizer=sgd']
    pd.testing.assert_frame_equal(S.run_sweep('synthetic', **kw), summary)
    assert (adam / 'fold0' / 'metrics.json').stat().st_mtime_ns == stamp
    assert 'left out, it diverged before (delete diverged.json there to try again)' in capsys.readouterr().out
    # the confirmation: the screen's best finished setting (against the literal reading here) and the literal reading
    confirm = S.confirmation_sweep(tmp_path / 'runs', 'synthetic', n_best=1, screen=small, reference='Lw')
    assert confirm.settings == (dict(lw_optimizer='adam', lr_label=0.1, lr_weight=0.1), S.LITERAL, S.CONTROL)


def test_sensitivity_report_reads_a_sweep(tmp_path, monkeypatch, caplog, capfd):
    "The sensitivity report: gains per setting, against the control, and seed by seed where a run has seeds."
    import sermeta.sweeps as S
    from sermeta.reports import run_reports
    adam = dict(lw_optimizer='adam', lr_label=0.1, lr_weight=0.1)  # a setting of the real grid
    small = S.Sweep('small_sens', ('Lw',), ({}, adam), (('baseline', {}), ('Lw', S.CONTROL), ('label_smoothing', {}),
                                                      ('label_smoothing', dict(label_scale=2.0))))
    monkeypatch.setitem(S.SWEEPS, 'small_sens', small)
    runs = tmp_path / 'runs'
    kw = dict(sweep='small_sens', folds='0', scale=0.02, runs=runs, data_dir=tmp_path / 'data', jobs=1,
              cache_dir=tmp_path / 'cache', progress=False, max_epochs=2, patience=2)  # the default model: the names the reports read
    S.run_sweep('synthetic', seeds=[0, 1], **kw)
    [html] = run_reports('synthetic', tmp_path / 'data' / 'synthetic-scale0.02-seed0', runs=runs, out=tmp_path / 'out',
                         names=['sensitivity'], smoke=True, progress=False)
    assert 'SMOKE RUN' in html.read_text()
    assert 'IPKernelApp' not in capfd.readouterr().err   # the kernel starts without a warning on the console
    read = lambda name: pd.read_csv(tmp_path / 'out' / f'sensitivity_{name}.csv').set_index(
        'run' if name == 'per_seed' else 'method' if name == 'vs_control' else 'setting')
    gains = read('gains')
    assert set(gains.index) == {'literal (default)', 'lr_label=0.1, lr_weight=0.1', 'lr_label=0.0, lr_weight=0.0, lw_optimizer=gd'}
    assert (gains.seeds == 2).all() and (gains.fold_seconds > 0).all() and (gains.devices == 'cpu').all()
    assert (gains.precision == 'fp32').all() and (gains.nodes == 'local').all()
    vs_control = read('vs_control')
    assert {'baseline', 'Lw', 'Lw@lr_label=0.1,lr_weight=0.1'} <= set(vs_control.index)
    per_seed = read('per_seed')
    assert per_seed.index[:2].tolist() == ['baseline', 'Lw@lr_label=0,lr_weight=0,lw_optimizer=gd']
    assert list(per_seed.columns) == ['WA seed 0', 'WA seed 1', 'UA seed 0', 'UA seed 1']
    assert (tmp_path / 'out' / 'sensitivity_truth.csv').is_file()  # the synthetic corpus knows its true emotions
    smooth = pd.read_csv(tmp_path / 'out' / 'sensitivity_smoothing.csv').set_index('method')
    assert smooth.index.tolist() == ['label_smoothing', 'label_smoothing@label_scale=2']
    from sermeta.methods import smoothing_strength
    assert np.allclose(smooth.strength, [smoothing_strength(1, 4), smoothing_strength(2, 4)], atol=1e-3)
    assert (smooth.seeds == 2).all()
    control = gains.loc['lr_label=0.0, lr_weight=0.0, lw_optimizer=gd']   # the same targets, trained the same way: the same gains
    assert smooth.loc['label_smoothing', ['WA_diff', 'UA_diff']].round(2).tolist() == \
        control[['WA_diff', 'UA_diff']].round(2).tolist()
    assert (tmp_path / 'out' / 'sensitivity_smoothing_figure.png').is_file()
    # no clock in the executed notebook: a rerun on the same runs writes the same bytes
    notebook = tmp_path / 'out' / 'notebooks' / 'sensitivity.ipynb'
    first = notebook.read_bytes()
    assert b'start_time' not in first and b'iopub' not in first
    printed = json.dumps([cell.get('outputs', []) for cell in json.loads(first)['cells']])
    assert 'TqdmWarning' not in printed and 'site-packages' not in printed   # no notice naming this machine's paths
    assert 'unknown parameter' not in caplog.text   # papermill knows every parameter run_reports gives
    run_reports('synthetic', tmp_path / 'data' / 'synthetic-scale0.02-seed0', runs=runs, out=tmp_path / 'out',
                names=['sensitivity'], smoke=True, progress=False)
    assert notebook.read_bytes() == first


def test_frontend_sweep_and_its_report(tmp_path, monkeypatch):
    "A sweep over front-ends extracts each front-end once, trains its runs on it, and the frontends report reads them."
    import sermeta.sweeps as S
    from sermeta.reports import run_reports
    logmel = dict(frontend='logmel', norm='speaker')
    small = S.Sweep('small_frontends', ('svm', 'baseline'), ({}, logmel), (('Lw', {**logmel, **S.CONTROL}),))
    monkeypatch.setitem(S.SWEEPS, 'small_frontends', small)
    runs = tmp_path / 'runs'
    summary = S.run_sweep('synthetic', sweep='small_frontends', folds='0', scale=0.02, runs=runs, data_dir=tmp_path / 'data',
                          jobs=1, cache_dir=tmp_path / 'cache', progress=False, max_epochs=2, patience=2)
    names = ['svm', 'svm@frontend=logmel,norm=speaker', 'baseline', 'baseline@frontend=logmel,norm=speaker',
             'Lw@lr_label=0,lr_weight=0,lw_optimizer=gd,frontend=logmel,norm=speaker']  # the grid, then the extra run
    assert list(summary.index) == names
    config = json.loads((runs / 'synthetic' / names[-1] / 'seed0' / 'config.json').read_text())['config']
    assert (config['frontend'], config['norm'], config['lr_label'], config['lr_weight']) == ('logmel', 'speaker', 0, 0)
    # one cache index per front-end
    assert {p.name for p in (tmp_path / 'cache').glob('index*.json')} == {'index.json', 'index-logmel.json'}
    [html] = run_reports('synthetic', tmp_path / 'data', runs=runs, out=tmp_path / 'reports', names=['frontends'],
                         smoke=True, progress=False)
    assert 'SMOKE RUN' in html.read_text()
    scores = pd.read_csv(tmp_path / 'reports' / 'frontends_scores.csv').set_index('run')
    assert list(scores.index) == names
    assert scores.loc[names[3], 'frontend'] == 'logmel' and scores.loc[names[3], 'norm'] == 'speaker'
    assert scores.method.tolist() == ['svm', 'svm', 'baseline', 'baseline', 'control']  # Lw, l/w off: the control
    assert scores.loc[['baseline', names[3], names[-1]], 'UA_vs_svm'].notna().all()  # paired with its input's SVM
    assert scores.loc['svm', ['devices', 'precision', 'nodes']].tolist() == ['cpu', 'fp64', 'local']
    assert (tmp_path / 'reports' / 'frontends_figure.png').stat().st_size > 0


def test_gpu_runs_sweep_trains_each_frontend_from_its_bundle(tmp_path, monkeypatch, capsys):
    "bench/gpu_runs.py: one bundle per front-end; a sweep trains the runs whose front-end has a bundle, names the rest."
    import importlib.util, sermeta.sweeps as S
    from sermeta.reproduce import prepare_corpus
    spec = importlib.util.spec_from_file_location('gpu_runs', REPO / 'bench' / 'gpu_runs.py')
    gpu = importlib.util.module_from_spec(spec); spec.loader.exec_module(gpu)
    _, root = prepare_corpus('synthetic', scale=0.02, data_dir=tmp_path / 'data')
    bundles = []
    for frontend in ('is09', 'logmel'):
        bundles.append(tmp_path / f'{frontend}.npz')
        gpu.bundle(gpu.parser().parse_args(['bundle', '--corpus', 'synthetic', '--root', str(root), '--out',
                                            str(bundles[-1]), '--cache_dir', str(tmp_path / 'cache'), '--frontend', frontend]))
    assert gpu.load_bundle(bundles[1], with_frontend=True)[3] == 'logmel'
    small = S.Sweep('small_bundles', ('baseline',), ({}, dict(frontend='logmel', norm='speaker'), dict(frontend='egemaps')))
    monkeypatch.setitem(S.SWEEPS, 'small_bundles', small)
    runs = tmp_path / 'runs'
    gpu.sweep(gpu.parser().parse_args(['sweep', '--bundle', ','.join(map(str, bundles)), '--sweep', 'small_bundles',
                                       '--seeds', '0', '--folds', '0', '--runs', str(runs), '--jobs', '1',
                                       '--max_epochs', '2', '--patience', '2', '--fc_size', '16', '--lstm_size', '8']))
    out = capsys.readouterr().out
    small_model = 'fc_size=16,lstm_size=8'   # a run is named by every setting it changes, the model's size too
    assert "left out, no bundle of their front-end: ['" in out and f'baseline@{small_model},frontend=egemaps' in out
    logmel = runs / 'synthetic' / f'baseline@{small_model},frontend=logmel,norm=speaker' / 'seed0'
    assert (logmel / 'fold0' / 'done').is_file() and (runs / 'synthetic' / f'baseline@{small_model}' / 'seed0' / 'fold0' / 'done').is_file()
    assert json.loads((logmel / 'config.json').read_text())['config']['frontend'] == 'logmel'
    assert not (runs / 'synthetic' / f'baseline@{small_model},frontend=egemaps').exists()
