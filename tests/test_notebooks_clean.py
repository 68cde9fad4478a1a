"""Every committed notebook is clean: no outputs, one ``parameters`` cell, no logic.

Static checks on ``notebooks/*.ipynb`` (fast; no kernel). Notebooks tell, the package
computes (STYLE.md 6): the ``parameters`` cell holds exactly
``params_file = "params/default.yaml"``, no code cell defines a function or a class, and
all code cells together hold at most :data:`MAX_CONTROL_FLOW` ``if`` / ``for`` /
``while`` / ``try`` / conditional expressions (an AST count; IPython ``%`` and ``!``
lines are left out before parsing).

Each check is a function returning the list of problems it finds, so that
:func:`test_the_checks_catch_a_dirty_notebook` can prove that each one fires.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from analysis import paths
from analysis.params import ReportParams

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
PARAMETERS_SOURCE = 'params_file = "params/default.yaml"'
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
    return request.param, nbformat.read(request.param, as_version=4)


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
