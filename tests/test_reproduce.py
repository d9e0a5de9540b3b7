"""The main job end to end on a tiny synthetic corpus: generate, extract, Table 1, train, summarize."""
import pandas as pd, pytest
from sermeta.reproduce import reproduce, summarize_runs
from sermeta.core import CLASSES


def test_reproduce_end_to_end(tmp_path, capsys):
    s = reproduce('synthetic', scale=0.02, methods=['baseline', 'Lw'], quick=True, folds='0',
                  runs=tmp_path / 'runs', data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    out = capsys.readouterr().out
    assert 'Total' in out and 'synthetic Lw' in out
    assert list(s.index) == ['baseline', 'Lw']
    assert {'WA', 'UA', 'WA_true', 'UA_true', 'paper_WA', 'paper_UA'} <= set(s.columns)
    assert s.loc['baseline', 'paper_WA'] == 63.6
    assert 0 <= s.loc['Lw', 'fix_recall'] <= 100
    # a rerun trains nothing: the fold folders are finished
    stamp = (tmp_path / 'runs/synthetic/Lw/seed0/fold0/done').stat().st_mtime_ns
    reproduce('synthetic', scale=0.02, methods=['Lw'], quick=True, folds='0', runs=tmp_path / 'runs',
              data_dir=tmp_path / 'data', cache_dir=tmp_path / 'cache', progress=False)
    assert (tmp_path / 'runs/synthetic/Lw/seed0/fold0/done').stat().st_mtime_ns == stamp


def test_summary_without_runs_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='sermeta_reproduce --corpus emodb'):
        summarize_runs(tmp_path, 'emodb', ['baseline'], [0], CLASSES)


def test_iemocap_without_root_explains_where_to_get_it():
    with pytest.raises(ValueError, match='IEMOCAP is licensed'):
        reproduce('iemocap', None)
