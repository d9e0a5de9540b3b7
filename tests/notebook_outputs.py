"""Execute the notebooks of `nbs/` the way `nbdev_test` does and keep what their quick cells show.

    python tests/notebook_outputs.py nbs/*.ipynb     # `make outputs`: store the fresh outputs in the notebooks

The notebooks are committed with the outputs of their quick cells (checks, small tables, figures), so a
reader sees them without running anything; cells flagged `slow` or `notest` stay unexecuted.
`tests/test_notebooks.py` executes every notebook (its checks are tests) and fails when a fresh text
output differs from the committed one. Only text is compared (stdout, and the plain-text form of
results and displays): stderr (warnings, progress bars) is dropped, and images are stored but not
compared, since their bytes depend on the plotting library's version.

Some cells read a real corpus kept beside the checkout (`../shared/data/emodb`, `../shared/data/cremad`), guarded
by `if <its folder>.exists():`, and print nothing where it is absent: there their committed outputs are neither
compared nor overwritten (`cells_without_their_data`).
"""
import json, os, re, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_FLAGS = {'slow', 'notest'}
_ADDRESS = re.compile(r' at 0x[0-9a-f]+')


_DATA_FOLDER = re.compile(r"^(\w+) = Path\('([^']*shared/data/\w+)'\)", re.M)   # _emodb = Path('../../shared/data/emodb')
_GUARD = re.compile(r'^if (\w+(?:\(\))?)\.exists\(\):', re.M)                        # if _emodb.exists():


def cells_without_their_data(path) -> dict:
    """Cell index -> the absent folder it guards on, for the cells of notebook `path` whose real corpus is not
    here: a folder a cell names as `NAME = Path('../../shared/data/<corpus>')` (relative to the notebook), or
    CREMA-D's `default_cremad_root()`, tested at the top of a cell as `if NAME.exists():`."""
    from sermeta.raters import default_cremad_root
    path = Path(path).resolve()
    sources = [''.join(c['source']) if c['cell_type'] == 'code' else '' for c in json.loads(path.read_text())['cells']]
    folders = {'default_cremad_root()': default_cremad_root()}
    for source in sources: folders.update({name: (path.parent/rel).resolve() for name, rel in _DATA_FOLDER.findall(source)})
    absent = {}
    for i, source in enumerate(sources):
        missing = [folders[g] for g in _GUARD.findall(source) if g in folders and not folders[g].exists()]
        if missing: absent[i] = missing[0]
    return absent


def _skipped(cell) -> bool:
    "True for a cell nbdev_test would not run: markdown, export calls, cells flagged slow/notest."
    if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
    return bool(SKIP_FLAGS & set(getattr(cell, 'directives_', {}) or {}))


def execute(path) -> list:
    "Run notebook `path` as nbdev_test does (IN_TEST=1, in its folder, one torch thread); each cell's outputs."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    import torch
    path = Path(path).resolve()
    os.environ['IN_TEST'] = '1'
    torch.set_num_threads(1)  # the checks' tensors are tiny: one thread is fastest, and the same on every machine
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    for cell in nb.cells:  # the shell leaves a cell's stored outputs alone when it prints nothing: start from none
        if cell.cell_type == 'code': cell.outputs = []
    shell = CaptureShell(path)
    with working_directory(path.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=_skipped)
        except Exception:
            raise AssertionError(f'{path.name}: a cell failed:\n{shell.prettytb(fname=path)}') from None
    return [[_kept(o) for o in cell.get('outputs', []) if not _is_stderr(o)] if not _skipped(cell) else []
            for cell in nb.cells]


def _is_stderr(output) -> bool: return output.get('output_type') == 'stream' and output.get('name') == 'stderr'


def _kept(output) -> dict:
    "An output as stored in the notebook file: no execution count, no object addresses."
    out = {k: v for k, v in dict(output).items() if k != 'execution_count'}
    if 'data' in out: out['data'] = {k: _no_address(v) for k, v in dict(out['data']).items()}
    if 'text' in out: out['text'] = _no_address(out['text'])
    if out.get('output_type') == 'execute_result': out['execution_count'] = None
    out.setdefault('metadata', {}) if out.get('output_type') in ('execute_result', 'display_data') else None
    return out


def _no_address(value):
    text = ''.join(value) if isinstance(value, list) else value
    return _ADDRESS.sub('', text) if isinstance(text, str) else value


def text_of(outputs) -> str:
    "What a reader reads of a cell's outputs: stdout, and the plain text of results and displays."
    parts = []
    for o in outputs:
        if o.get('output_type') == 'stream': parts.append(_no_address(o.get('text', '')))
        elif 'text/plain' in o.get('data', {}): parts.append(_no_address(o['data']['text/plain']))
        elif o.get('output_type') == 'error': parts.append(f"{o.get('ename')}: {o.get('evalue')}")
    return '\n'.join(p.rstrip() for p in parts)


def committed_outputs(path) -> list:
    "The outputs stored in notebook `path`, cell by cell."
    return [c.get('outputs', []) for c in json.loads(Path(path).read_text())['cells']]


def write(path):
    "Execute `path` and store its fresh outputs in it (nbdev_clean keeps outputs, drops the rest)."
    fresh, absent = execute(path), cells_without_their_data(path)
    raw = json.loads(Path(path).read_text())
    assert len(raw['cells']) == len(fresh), f'{path}: cells changed while running'
    for i, (cell, outs) in enumerate(zip(raw['cells'], fresh)):
        if cell['cell_type'] == 'code' and i not in absent: cell['outputs'], cell['execution_count'] = outs, None
    if absent: print(f'  kept the stored outputs of cells {sorted(absent)}: their data is not here')
    Path(path).write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n')
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True, cwd=REPO)


if __name__ == '__main__':
    paths = sys.argv[1:] or sorted(str(p) for p in (REPO/'nbs').glob('*.ipynb'))
    for p in paths:
        print(p, flush=True)
        write(p)
