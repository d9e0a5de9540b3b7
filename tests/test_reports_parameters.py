"""Every report template declares REPORT_PARAMETERS as papermill reads them: names, defaults and help."""
import ast, subprocess, sys
import papermill, pytest
from sermeta.reports import REPORTS, REPORT_PARAMETERS, REPORT_PARAMETER_HELP, report_templates

TEMPLATES = sorted(report_templates().glob('*.ipynb'))
FIX = "replace the template's `parameters` cell with the text of sermeta.reports.parameters_cell()"


def test_every_report_has_a_template():
    assert sorted(p.stem for p in TEMPLATES) == sorted(REPORTS)


@pytest.mark.parametrize('path', TEMPLATES, ids=[p.stem for p in TEMPLATES])
def test_papermill_infers_the_report_parameters(path):
    inferred = papermill.inspect_notebook(str(path))
    assert list(inferred) == list(REPORT_PARAMETERS), FIX
    assert {name: ast.literal_eval(p['default']) for name, p in inferred.items()} == REPORT_PARAMETERS, FIX
    assert {name: p['help'] for name, p in inferred.items()} == REPORT_PARAMETER_HELP, FIX


def test_help_notebook_lists_them():
    path = report_templates() / 'table2.ipynb'
    out = subprocess.run([sys.executable, '-m', 'papermill', '--help-notebook', str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "Can't infer" not in out
    for name, default in REPORT_PARAMETERS.items():
        assert f'  {name}: ' in out and f'(default {default!r})' in out and REPORT_PARAMETER_HELP[name] in out
