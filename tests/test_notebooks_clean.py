"""Every committed notebook is clean: no outputs, one ``parameters`` cell, no logic.

Static checks on ``notebooks/*.ipynb`` (fast; no kernel). Notebooks tell, the package
computes (STYLE.md 6): the ``parameters`` cell holds exactly
``params_file = "params/default.yaml"`` and no code cell defines a function or a class.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from analysis import paths
from analysis.params import ReportParams

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
PARAMETERS_SOURCE = 'params_file = "params/default.yaml"'
_DEFINITION = re.compile(r"^(async\s+def|def|class)\s", flags=re.MULTILINE)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


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
    for i, cell in enumerate(_code_cells(nb)):
        assert not cell.get("outputs"), f"{path.name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, \
            f"{path.name}: code cell {i} has an execution count"


def test_one_parameters_cell_first(notebook):
    path, nb = notebook
    code = _code_cells(nb)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert tagged[0] is code[0], f"{path.name}: the parameters cell is not the first code cell"
    assert tagged[0].source.strip() == PARAMETERS_SOURCE, \
        f"{path.name}: parameters cell is {tagged[0].source!r}"
    assert not any("injected-parameters" in c.get("metadata", {}).get("tags", [])
                   for c in nb.cells), f"{path.name}: committed with papermill's injected cell"


def test_loads_params_next(notebook):
    path, nb = notebook
    code = _code_cells(nb)
    assert len(code) >= 2 and "load_params(params_file)" in code[1].source, \
        f"{path.name}: the cell after 'parameters' must load the params"


def test_defines_no_function_or_class(notebook):
    path, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        m = _DEFINITION.search(cell.source)
        assert m is None, (f"{path.name}: code cell {i} defines {m.group(0).strip()!r}; "
                           "move it into analysis/ with a test")


def test_starts_with_a_markdown_cell_saying_what_it_produces(notebook):
    path, nb = notebook
    assert nb.cells and nb.cells[0].cell_type == "markdown", \
        f"{path.name}: the first cell must be markdown (what it produces)"
    assert "phantom" in nb.cells[0].source.lower(), \
        f"{path.name}: the first markdown cell must say phantom numbers are synthetic"


def test_the_checks_catch_a_dirty_notebook():
    """The checks above fail on a notebook with an output, a def and two tags."""
    nb = nbformat.v4.new_notebook()
    p1 = nbformat.v4.new_code_cell(PARAMETERS_SOURCE, metadata={"tags": ["parameters"]})
    p2 = nbformat.v4.new_code_cell("def f():\n    return 1",
                                   metadata={"tags": ["parameters"]})
    p2.outputs = [nbformat.v4.new_output("stream", text="1")]
    nb.cells = [p1, p2]
    assert _DEFINITION.search(p2.source)
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 2
    assert any(c.get("outputs") for c in _code_cells(nb))
