"""Committed outputs read the same on every machine: no absolute path, home folder or host name in any of them."""
import json, re, socket, subprocess
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
# what a machine-specific path looks like: a home or temporary folder, a site-packages, a Windows drive
MACHINE_PATH = re.compile(r'(/root/|/home/[A-Za-z]|/Users/[A-Za-z]|/tmp/|/var/folders/|/work/|site-packages|dist-packages'
                          r'|[A-Z]:\\\\)')
OUTPUT_SUFFIXES = ('.md', '.csv', '.json', '.log', '.txt', '.html')  # written by code: reports, run records, logs


def _tracked(*patterns) -> list:
    out = subprocess.run(['git', 'ls-files', '-z', '--', *patterns], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO/p for p in out.stdout.split('\0') if p]


def _notebook_outputs(path) -> str:
    "The text of every output of a notebook (its sources are code, where paths may be meant)."
    cells = json.loads(path.read_text(encoding='utf-8'))['cells']
    return '\n'.join(json.dumps(c.get('outputs', [])) for c in cells)


def _machine_words(text) -> list:
    words = set(MACHINE_PATH.findall(text))
    host = socket.gethostname()
    if len(host) >= 6 and host in text: words.add(host)   # a short host name could be an ordinary word
    return sorted(words)


def test_the_scan_sees_a_path():
    assert _machine_words('IProgress not found in /usr/lib/python3/site-packages/tqdm') == ['site-packages']
    assert _machine_words('see /home/alice/runs and /tmp/x') == ['/home/a', '/tmp/']
    assert _machine_words('relative runs/emodb/Lw/seed0 and ../shared/data/emodb') == []


def test_no_machine_path_in_notebook_outputs():
    found = {str(p.relative_to(REPO)): words for p in _tracked('*.ipynb') if (words := _machine_words(_notebook_outputs(p)))}
    assert not found, f'notebook outputs name a machine (re-run them where the path does not print): {found}'


def test_no_machine_path_in_committed_outputs():
    files = [p for p in _tracked('reports', 'bench') if p.suffix in OUTPUT_SUFFIXES or p.name.endswith('.csv.gz')]
    assert len(files) > 100, 'the scan found too few committed outputs: is it looking in the right place?'
    found = {}
    for p in files:
        text = (__import__('gzip').decompress(p.read_bytes()) if p.name.endswith('.gz') else p.read_bytes()).decode('utf-8', 'replace')
        if words := _machine_words(text): found[str(p.relative_to(REPO))] = words
    assert not found, f'committed outputs name a machine: {dict(list(found.items())[:20])}'


def test_the_readme_results_are_the_committed_verdicts():
    "Each README's results block is exactly what the committed verdict CSVs give (never typed by hand)."
    import os
    from sermeta.reports import readme_results, README_MARKS
    readmes = {'README.md': ('synthetic', 'emodb'), 'reports/synthetic/README.md': ('synthetic',),
               'reports/emodb/README.md': ('emodb',)}
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        for readme, corpora in readmes.items():
            text = Path(readme).read_text(encoding='utf-8')
            block = text[text.index(README_MARKS[0]):text.index(README_MARKS[1]) + len(README_MARKS[1])]
            assert block == readme_results('reports', corpora, readme_dir=Path(readme).parent), \
                f'{readme}: its results block is stale: run sermeta.reports.write_readme_results on it'
    finally: os.chdir(cwd)


def test_the_readme_tables_are_the_committed_files():
    "Every table block of the committed READMEs is exactly the generated file it names (never typed by hand, never stale)."
    from sermeta.reports import fill_readme_tables, TABLE_BLOCK, TABLE_MARK
    report_readmes = sorted((REPO/'reports').glob('*/README.md'))
    assert report_readmes and all(TABLE_MARK in p.read_text(encoding='utf-8') for p in report_readmes), \
        'every report README shows its tables as table blocks (sermeta.reports.fill_readme_tables)'
    for readme in [REPO/'README.md', *report_readmes]:
        name, text = readme.relative_to(REPO).as_posix(), readme.read_text(encoding='utf-8')
        filled = fill_readme_tables(text, readme.parent, name)
        stale = [old['mark'] for old, new in zip(TABLE_BLOCK.finditer(text), TABLE_BLOCK.finditer(filled)) if old[0] != new[0]]
        assert not stale, f'{name}: the table block {stale[0]} is not its file: run sermeta.reports.write_readme_tables on it'


def _sentences(prose) -> list:
    "The sentences of `prose`: a full stop, question or exclamation mark, then a space and a capital or a backtick."
    return [s for s in re.split(r'(?<=[.!?])\s+(?=[A-Z`"])', ' '.join(prose.split())) if s]


def test_the_sentence_count_sees_sentences():
    assert len(_sentences('One with sermeta.intervals and 0.5 in it. `Lw` starts two.\nThree\nruns on! Four?')) == 4


def test_the_readme_results_are_the_verdict_and_at_most_five_sentences():
    "The README's results section: the generated verdict tables, their labelled lines and at most five sentences of prose."
    text = (REPO/'README.md').read_text(encoding='utf-8')
    section = text[text.index('## What it finds'):].split('\n## ', 1)[0].split('\n', 1)[1]
    prose = [line for line in section.splitlines()
             if not line.startswith(('|', '**', '<!--'))]   # table rows, the labelled lines of the results, markers
    sentences = _sentences('\n'.join(prose))
    assert len(sentences) <= 5, f'README.md: the results section has {len(sentences)} sentences besides its tables: {sentences}'
