"""Every notebook of nbs/ runs (its checks are tests), and what its quick cells show is what is committed (the
cells that read a real corpus absent here run, print nothing, and are not compared: a warning names them)."""
import difflib, json, warnings
from pathlib import Path
import pytest
from notebook_outputs import REPO, execute, committed_outputs, text_of, cells_without_their_data

NOTEBOOKS = sorted((REPO/'nbs').glob('*.ipynb'))


@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(path):
    fresh, saved, absent = execute(path), committed_outputs(path), cells_without_their_data(path)
    if absent:
        folders = sorted({folder.name for folder in absent.values()})
        warnings.warn(f'{path.name}: cells {sorted(absent)} read {", ".join(folders)}, not found beside the checkout '
                      f'(../shared/data); their committed outputs were not compared')
    changed = []
    for i, (new, old) in enumerate(zip(fresh, saved)):
        if i in absent: continue
        a, b = text_of(old), text_of(new)
        if a != b: changed.append(f'cell {i}:\n' + '\n'.join(difflib.unified_diff(a.splitlines(), b.splitlines(), 'committed', 'fresh', lineterm='')))
    assert not changed, (f'{path.name}: outputs differ from the committed ones; if the change is meant, '
                         f'run `make outputs` and commit the notebook\n' + '\n'.join(changed)[:4000])


def test_cells_that_read_an_absent_corpus_are_found(tmp_path, monkeypatch):
    "A notebook copied where no ../shared/data lies beside it: exactly its guarded cells are named, with their folder."
    nbs = tmp_path/'repo'/'nbs'
    nbs.mkdir(parents=True)
    for name in ('01c_emodb', '16a_raters'): (nbs/f'{name}.ipynb').write_text((REPO/'nbs'/f'{name}.ipynb').read_text())
    monkeypatch.setenv('SERMETA_CREMAD', str(tmp_path/'no_cremad'))
    emodb = cells_without_their_data(nbs/'01c_emodb.ipynb')
    assert emodb and set(emodb.values()) == {tmp_path/'shared'/'data'/'emodb'}
    cells = json.loads((nbs/'01c_emodb.ipynb').read_text())['cells']
    assert set(emodb) == {i for i, cell in enumerate(cells) if 'if _emodb.exists():' in ''.join(cell['source'])}
    raters = cells_without_their_data(nbs/'16a_raters.ipynb')
    assert raters and set(raters.values()) == {tmp_path/'no_cremad'}
    monkeypatch.setenv('SERMETA_CREMAD', str(tmp_path))     # a folder that exists: nothing left out
    assert cells_without_their_data(nbs/'16a_raters.ipynb') == {}
