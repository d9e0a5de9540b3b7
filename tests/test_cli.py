"""The console scripts: every Config field is a flag of the training commands, and a bad input ends in sermeta's
own one-line message with a non-zero exit status, never a Python traceback."""
import importlib.util, os, shutil, subprocess, sys
from dataclasses import fields
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from sermeta.config import Config, config_overrides
from sermeta.experiment import train_cli
from sermeta.reproduce import reproduce_cli

REPO = Path(__file__).resolve().parents[1]
CONFIG_FIELDS = {f.name for f in fields(Config)}


def _gpu_runs_parser():
    spec = importlib.util.spec_from_file_location('gpu_runs', REPO/'bench'/'gpu_runs.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod.parser()


@pytest.mark.parametrize('make_parser, argv', [
    (lambda: train_cli.parser(), []),
    (lambda: reproduce_cli.parser(), []),
    (_gpu_runs_parser, ['train', '--bundle', 'b.npz', '--seeds', '0']),
])
def test_every_config_field_is_a_flag(make_parser, argv):
    parser = make_parser()
    assert CONFIG_FIELDS <= set(vars(parser.parse_args(argv))), CONFIG_FIELDS - set(vars(parser.parse_args(argv)))
    given = vars(parser.parse_args(argv + ['--lr_weight', '0.25', '--lw_dropout', '--seed', '4']))
    assert config_overrides(given) == {'lr_weight': 0.25, 'lw_dropout': True, 'seed': 4}  # only what was given
    assert Config(**config_overrides(given)).patience == Config().patience


def _script(name):
    exe = shutil.which(name)
    if exe: return [exe]
    module, func = {'sermeta_table1': ('corpora', 'table1_cli'), 'sermeta_features': ('features', 'features_cli'),
                    'sermeta_train': ('experiment', 'train_cli'), 'sermeta_predict': ('predict', 'predict_cli'),
                    'sermeta_reproduce': ('reproduce', 'reproduce_cli'), 'sermeta_synth': ('synthetic', 'synth_cli'),
                    'sermeta_sweep': ('sweeps', 'sweep_cli')}[name]
    return [sys.executable, '-c', f'import sys; sys.argv[0] = {name!r}; from sermeta.{module} import {func}; sys.exit({func}())']


@pytest.fixture(scope='module')
def bad_inputs(tmp_path_factory):
    "Files a user might hand the scripts by mistake."
    d = tmp_path_factory.mktemp('bad')
    noise = np.random.default_rng(0).normal(0, 0.1, (4, 1600)).astype(np.float32)  # sound, not silence
    for i in range(4): sf.write(d/f'u{i}.wav', noise[i], 16000)
    pd.DataFrame({'path': ['u0.wav', 'u1.wav', 'u2.wav'], 'speaker': ['a', 'b', 'c']}).to_csv(d/'no_label.csv', index=False)
    pd.DataFrame({'path': ['u0.wav', 'u1.wav', 'u2.wav'], 'speaker': ['a', 'b', 'c'], 'label': ['anger', 'neutral', 'anger']}
                 ).to_csv(d/'manifest.csv', index=False)
    pd.DataFrame({'path': [f'u{i}.wav' for i in range(4)], 'speaker': ['a', 'b', 'c', 'd'],
                  'label': ['happiness', 'sadness', 'neutral', 'anger']}).to_csv(d/'four_classes.csv', index=False)
    good = pd.read_csv(d/'manifest.csv')
    good.assign(vote_anger=['2', 'two', '1'], vote_neutral=[0, 3, 1]).to_csv(d/'text_votes.csv', index=False)
    good.head(0).to_csv(d/'no_rows.csv', index=False)
    (d/'model.pt').write_bytes(b'not a model')
    return d


CASES = [  # script, arguments ({d}: the folder of bad inputs), what the message must say
    ('sermeta_table1', ['--corpus', 'emodb', '--root', '{d}/nowhere'], 'not an EmoDB folder'),
    ('sermeta_table1', ['--corpus', 'emodb'], 'give --root, the corpus folder'),
    ('sermeta_features', ['--corpus', 'manifest', '--root', '{d}/no_label.csv'], "missing column(s) ['label']"),
    ('sermeta_train', ['--corpus', 'manifest', '--root', '{d}/manifest.csv', '--classes', 'anger,joy'],
     "unknown class name(s) ['joy']"),
    ('sermeta_train', ['--corpus', 'emodb', '--root', '{d}', '--method', 'LW'], "unknown method 'LW'"),
    ('sermeta_predict', ['{d}/model.pt', '{d}/u0.wav'], 'not a sermeta model file'),
    ('sermeta_reproduce', ['--corpus', 'emodb', '--root', '{d}/nowhere'], 'not an EmoDB folder'),
    ('sermeta_synth', ['{d}/model.pt/corpus', '--scale', '0.01'], 'Not a directory'),
    ('sermeta_train', ['--corpus', 'manifest', '--root', '{d}/text_votes.csv'],
     "text_votes.csv, line 3, column vote_anger: not a vote count; votes are numbers >= 0 (found 'two'"),
    ('sermeta_features', ['--corpus', 'manifest', '--root', '{d}/no_rows.csv'], 'the manifest has a header and no rows'),
    ('sermeta_train', ['--corpus', 'manifest', '--root', '{d}/manifest.csv', '--protocol', 'lopo'],
     "Config: protocol must be one of ('auto', 'loso', 'kfold', 'official'), got 'lopo'"),
    ('sermeta_table1', ['--corpus', 'cremad', '--root', '{d}'], 'not a CREMA-D release folder'),
    ('sermeta_train', ['--corpus', 'manifest', '--root', '{d}/manifest.csv', '--out', '{d}/model.pt', '--max_epochs', '1'],
     'model.pt/manifest/baseline/seed0: cannot create this run directory ('),
    ('sermeta_reproduce', ['--corpus', 'manifest', '--root', '{d}/four_classes.csv', '--seed', '2'],
     '--seed 2: a reproduction trains the seeds of --seeds (a count, a range such as 3-5, or a list); '
     'train one seed with sermeta_train --seed'),
    ('sermeta_reproduce', ['--corpus', 'manifest', '--root', '{d}/four_classes.csv', '--seeds', '5-3'],
     '--seeds 5-3: give a count (3: seeds 0, 1, 2), a range (3-5) or a list of distinct seeds (3,4,5)'),
    ('sermeta_sweep', ['--corpus', 'manifest', '--root', '{d}/manifest.csv', '--sweep', 'frontend'],
     "unknown sweep 'frontend'; choose one of ['sensitivity', 'smoothing', 'verdict', 'table2_lw', 'ambiguity', 'frontends', "
     "'confirmation', 'frontends_confirmation']"),
    ('sermeta_sweep', ['--corpus', 'synthetic_crowd', '--sweep', 'ambiguity', '--data_dir', '{d}/data'],
     "unknown corpus 'synthetic_crowd'; choose one of ['cremad', 'emodb', 'iemocap', 'manifest', 'msp_podcast', 'synthetic'], "
     "or synthetic_<raters> for raters ['cremad', 'cremad_half']"),
]


@pytest.mark.parametrize('script, args, message', CASES, ids=[f'{c[0]}-{i}' for i, c in enumerate(CASES)])
def test_bad_input_ends_in_one_message(bad_inputs, script, args, message):
    env = {k: v for k, v in os.environ.items() if k != 'SERMETA_TRACEBACK'}
    r = subprocess.run(_script(script) + [a.format(d=bad_inputs) for a in args], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode != 0
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{script}: error: ') and message in last, r.stderr[-3000:]


def test_traceback_on_request(bad_inputs):
    r = subprocess.run(_script('sermeta_table1') + ['--corpus', 'emodb', '--root', str(bad_inputs/'nowhere')],
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'SERMETA_TRACEBACK': '1'})
    assert r.returncode != 0 and 'Traceback' in r.stderr and 'FileNotFoundError' in r.stderr


def test_train_runs_of_different_settings_share_an_out_folder(tmp_path):
    "sermeta_train names each run by its setting: two settings trained into one --out keep both runs."
    import json
    from sermeta.synthetic import generate_corpus
    root = generate_corpus(tmp_path / 'synth', scale=0.02, seed=0)
    base = [sys.executable, '-c', 'import sys; sys.argv[0] = "sermeta_train"; from sermeta.experiment import train_cli; '
            'sys.exit(train_cli())', '--corpus', 'synthetic', '--root', str(root), '--method', 'svm', '--folds', '0',
            '--out', str(tmp_path / 'runs'), '--cache_dir', str(tmp_path / 'cache')]
    for extra in ([], ['--norm', 'speaker'], ['--norm', 'speaker']):   # the third call finds its run finished
        r = subprocess.run(base + extra, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
    runs = sorted(p.name for p in (tmp_path / 'runs' / 'synthetic').iterdir())
    assert runs == ['svm', 'svm@norm=speaker']
    config = json.loads((tmp_path / 'runs/synthetic/svm@norm=speaker/seed0/config.json').read_text())['config']
    assert config['norm'] == 'speaker' and 'lr_label' not in config   # the SVM reads no l/w setting


def test_the_campaign_script_parses_and_runs_only_what_exists():
    import re
    from sermeta.sweeps import SWEEPS
    from sermeta.methods import get_method
    script = REPO / 'reports' / 'campaign.sh'
    assert subprocess.run(['bash', '-n', str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    sweeps = set(re.findall(r'--sweep (\w+)', text))
    assert sweeps == {'verdict', 'table2_lw'} and sweeps <= set(SWEEPS)
    for methods in re.findall(r'--methods (\S+)', text):
        [get_method(m) for m in methods.split(',')]   # an unknown name raises
    from sermeta.reproduce import parse_seeds
    reproductions = re.findall(r'^sermeta_reproduce .*$', text, flags=re.M)
    assert reproductions and all('--no_reports' in line for line in reproductions)   # a part of a grid leaves the reports be
    for line in reproductions: parse_seeds(re.search(r'--seeds (\S+)', line)[1])   # a bad spec raises
    assert 'campaign_commands' in text   # the ambiguity map's sweeps come from sermeta.ambiguity, not a copy
    # every sermeta command it runs is a function of the script calling this checkout's python, never an installed
    # script (a reinstall during the campaign removes those for a moment), and each function reaches its command
    commands = set(re.findall(r'\b(sermeta_\w+)', text))
    defined = set(re.findall(r'^(sermeta_\w+)\(\) \{', text, flags=re.M))
    assert commands == defined and defined >= {'sermeta_sweep', 'sermeta_reproduce'}
    functions = '\n'.join(l for l in text.splitlines() if re.match(r'(cli|sermeta_\w+)\(\) \{|\s+python -c', l))
    for command in defined:
        r = subprocess.run(['bash', '-c', functions + f'\n{command} --help'], capture_output=True, text=True, cwd=REPO)
        assert r.returncode == 0 and r.stdout.startswith(f'usage: {command}'), r.stderr[-1000:]
    # the verdict's sweeps train the fresh seeds sermeta.claims.SWEEP_SEEDS names, the ones the verdict tables count
    from sermeta.claims import SWEEP_SEEDS
    seeds_function = next(l for l in text.splitlines() if l.startswith('sweep_seeds() {'))
    for sweep, seeds in SWEEP_SEEDS.items():
        r = subprocess.run(['bash', '-c', seeds_function + f'\nsweep_seeds {sweep}'], capture_output=True, text=True, cwd=REPO)
        assert r.stdout.split() == [str(s) for s in seeds], r.stderr[-1000:]
        assert len(re.findall(rf'^for seed in \${sweep}_seeds; do .* --sweep {sweep} ', text, flags=re.M)) == 2  # both corpora
    assert not re.search(r'^for seed in \d', text, flags=re.M)   # no seed list typed beside them
    # each sweep it runs is the one both corpus READMEs document
    for corpus in ('synthetic', 'emodb'):
        readme = (REPO / 'reports' / corpus / 'README.md').read_text()
        assert '../campaign.sh' in readme and all(f'--sweep {s}' in readme for s in sweeps)
