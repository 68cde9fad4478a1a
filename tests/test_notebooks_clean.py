"""Every committed notebook is clean: no outputs, one ``parameters`` cell, no logic.

Static checks on git's version of ``notebooks/*.ipynb`` (fast; no kernel;
:func:`analysis.report.lab.committed_notebook`): a Lab session that saved outputs into the
working copy gets one warning naming the file and the fix (``make strip``), not failures
(``make lab`` strips outputs on save anyway). Notebooks tell, the package
computes (STYLE.md 6): the ``parameters`` cell holds exactly :data:`PARAMETERS_SOURCE`
(``params_file = None``: the run ``make lab PARAMS=...`` selected, papermill's injected
path in ``make report``), no code cell defines a function or a class, and
all code cells together hold at most :data:`MAX_CONTROL_FLOW` ``if`` / ``for`` /
``while`` / ``try`` / conditional expressions (an AST count; IPython ``%`` and ``!``
lines are left out before parsing).

Each check is a function returning the list of problems it finds, so that
:func:`test_the_checks_catch_a_dirty_notebook` can prove that each one fires.
"""

from __future__ import annotations

import ast
import re
import warnings

import nbformat
import pytest

from analysis import paths
from analysis.params import ReportParams
from analysis.report import lab

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
PARAMETERS_SOURCE = ("params_file = None  # the run make lab selected (its PARAMS), else "
                     "params/default.yaml")
#: the most branches and loops a notebook may hold, all code cells together (issue 12)
MAX_CONTROL_FLOW = 3
_CONTROL_FLOW = (ast.If, ast.For, ast.While, ast.Try, ast.IfExp)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _tree(cell_source: str) -> ast.Module:
    lines = [ln for ln in cell_source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def output_problems(nb) -> list[str]:
    return [f"code cell {i} has outputs or an execution count"
            for i, c in enumerate(_code_cells(nb))
            if c.get("outputs") or c.get("execution_count") is not None]


def parameters_problems(nb) -> list[str]:
    code = _code_cells(nb)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    problems = []
    if len(tagged) != 1:
        problems.append(f"{len(tagged)} cells tagged 'parameters'")
    elif tagged[0] is not code[0]:
        problems.append("the parameters cell is not the first code cell")
    elif tagged[0].source.strip() != PARAMETERS_SOURCE:
        problems.append(f"parameters cell is {tagged[0].source!r}")
    if any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        problems.append("committed with papermill's injected cell")
    return problems


def definition_problems(nb) -> list[str]:
    return [f"code cell {i} defines {type(node).__name__} at line {node.lineno}; "
            "move it into analysis/ with a test"
            for i, c in enumerate(_code_cells(nb))
            for node in ast.walk(_tree(c.source)) if isinstance(node, _DEFINITIONS)]


def control_flow_count(nb) -> int:
    return sum(isinstance(node, _CONTROL_FLOW)
               for c in _code_cells(nb) for node in ast.walk(_tree(c.source)))


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    committed = lab.committed_notebook(request.param)
    message = lab.local_edit_message(request.param,
                                     nbformat.read(request.param, as_version=4), committed)
    if message:
        warnings.warn(message, stacklevel=1)
    return request.param, committed


def test_papermill_reads_the_parameters_cell():
    """papermill parses the committed parameters cell (else it prints "Unable to parse
    line 1" and "Passed unknown parameter" for every notebook of every run). Fault
    injected: the comment "# None: the run `make lab PARAMS=...` selected" -> papermill
    finds no parameter (measured) and the assertion fails."""
    from papermill.translators import PythonTranslator

    found = PythonTranslator.inspect({"source": PARAMETERS_SOURCE})
    assert [p.name for p in found] == ["params_file"] and found[0].default == "None"


def test_notebook_names_follow_the_chain():
    """Every notebook is NN_name.ipynb; the default chain names only such stems."""
    for p in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", p.stem), p.name
    for stem in ReportParams().notebooks:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", stem), stem


def test_no_outputs(notebook):
    path, nb = notebook
    assert output_problems(nb) == [], path.name


def test_one_parameters_cell_first(notebook):
    path, nb = notebook
    assert parameters_problems(nb) == [], path.name


def test_loads_params_next(notebook):
    path, nb = notebook
    code = _code_cells(nb)
    assert len(code) >= 2 and "load_params(params_file)" in code[1].source, \
        f"{path.name}: the cell after 'parameters' must load the params"


def test_defines_no_function_or_class(notebook):
    path, nb = notebook
    assert definition_problems(nb) == [], path.name


def test_holds_almost_no_control_flow(notebook):
    path, nb = notebook
    n = control_flow_count(nb)
    assert n <= MAX_CONTROL_FLOW, (f"{path.name}: {n} if/for/while/try (at most "
                                   f"{MAX_CONTROL_FLOW}); move the logic into analysis/")


def test_starts_with_a_markdown_cell_saying_what_it_produces(notebook):
    path, nb = notebook
    assert nb.cells and nb.cells[0].cell_type == "markdown", \
        f"{path.name}: the first cell must be markdown (what it produces)"
    assert "phantom" in nb.cells[0].source.lower(), \
        f"{path.name}: the first markdown cell must say phantom numbers are synthetic"


def test_the_checks_catch_a_dirty_notebook():
    """Each check above fires on a notebook with an output, a def, two parameters tags and
    four branches, and none fires on the same notebook cleaned."""
    p1 = nbformat.v4.new_code_cell(PARAMETERS_SOURCE, metadata={"tags": ["parameters"]})
    p2 = nbformat.v4.new_code_cell(
        "def f():\n    return 1\n%matplotlib inline\nfor i in range(2):\n"
        "    if i:\n        x = 1 if i else 2\n    while False:\n        pass",
        metadata={"tags": ["parameters"]})
    p2.outputs = [nbformat.v4.new_output("stream", text="1")]
    dirty = nbformat.v4.new_notebook(cells=[p1, p2])
    assert len(output_problems(dirty)) == 1
    assert parameters_problems(dirty) == ["2 cells tagged 'parameters'"]
    assert len(definition_problems(dirty)) == 1
    assert control_flow_count(dirty) == 4  # for, if, IfExp, while

    clean = nbformat.v4.new_notebook(cells=[
        p1, nbformat.v4.new_code_cell("%matplotlib inline\nx = [i for i in range(2)]")])
    assert output_problems(clean) == []
    assert parameters_problems(clean) == []
    assert definition_problems(clean) == []
    assert control_flow_count(clean) == 0


def test_a_lab_session_saves_without_outputs_and_is_named(tmp_path):
    """The save hook of ``make lab`` strips a notebook of notebooks/ (outputs, counts,
    papermill's injected cell, widget state) and leaves an executed copy under reports/
    alone; a working copy with outputs that git's version lacks is named with its fix.
    Fault injected: ``pre_save_hook`` returning at once -> the saved notebook keeps its
    output and ``output_problems`` finds 1 problem (the first assertion fails)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(PARAMETERS_SOURCE, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('params_file = "params/ci.yaml"',
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(1)", execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", text="1")])])
    nb.metadata["widgets"] = {"state": {"x": 1}}
    model = {"type": "notebook", "content": nbformat.from_dict(nb)}
    lab.pre_save_hook(model=model, path="notebooks/02_segment.ipynb")
    saved = nbformat.from_dict(model["content"])
    assert output_problems(saved) == [] and parameters_problems(saved) == []
    assert len(saved.cells) == 2 and "widgets" not in saved.metadata
    executed = {"type": "notebook", "content": nbformat.from_dict(nb)}
    lab.pre_save_hook(model=executed, path="reports/ci/notebooks/02_segment.ipynb")
    assert len(output_problems(nbformat.from_dict(executed["content"]))) == 1

    path = paths.NOTEBOOKS_DIR / "02_segment.ipynb"
    message = lab.local_edit_message(path, nb, saved)
    assert message.startswith("notebooks/02_segment.ipynb: your working copy holds outputs")
    assert "make strip" in message
    assert lab.local_edit_message(path, saved, saved) is None


def test_make_lab_uses_the_project_settings():
    """``make lab`` passes the run (SCLC_PARAMS), opens at the repository root and puts
    jupyter/ (save hook, no news) on the config path."""
    from analysis.params import PARAMS_ENV

    text = (paths.REPO_ROOT / "Makefile").read_text()
    target = text.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert f"{PARAMS_ENV}=$(PARAMS)" in target and "--ServerApp.root_dir=$(CURDIR)" in target
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter" in target
    config = (paths.REPO_ROOT / "jupyter" / "jupyter_server_config.py").read_text()
    assert "pre_save_hook = pre_save_hook" in config and "news_url = None" in config


def name_problems(path) -> list[str]:
    """Names a notebook's code uses but never defines or imports, and imports it never
    uses (ruff's F821 / F401 over the code cells; ``display`` is IPython's builtin)."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F821,F401",
         "--config", "builtins=['display']", "--output-format", "concise", str(path)],
        capture_output=True, text=True, cwd=paths.REPO_ROOT)
    assert run.returncode in (0, 1), run.stderr  # 2: ruff itself failed, checked nothing
    return [ln for ln in run.stdout.splitlines() if re.search(r"F(821|401)", ln)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_uses_only_names_it_defines(path):
    """A cell that reads a name no cell defines fails here, statically, not minutes into
    the ci chain: after the step calls (issue 20) 02 still read ``ck``, which the
    chain found as a NameError in its last cells."""
    assert name_problems(path) == []


def test_the_name_check_sees_an_undefined_name(tmp_path):
    """Fault planted: a notebook reading ``ck`` that no cell defines -> one F821."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("print(ck, x)")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = name_problems(path)
    assert len(problems) == 1 and "ck" in problems[0], problems
