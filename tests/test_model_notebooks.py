"""06_model and 07_model_eval tell, the package computes (issue 12): static AST checks."""

from __future__ import annotations

import ast

import nbformat
import pytest

from analysis import paths

MAX_BRANCHES = 3  # STYLE: at most 3 if/for/while/try/conditional expressions per notebook
_BRANCH = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.IfExp)


def _code(name: str) -> list[str]:
    nb = nbformat.read(paths.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def branch_count(sources: list[str]) -> int:
    """Number of if/for/while/try/conditional-expression nodes over all code cells."""
    return sum(isinstance(n, _BRANCH) for s in sources for n in ast.walk(ast.parse(s)))


def _setup_lines(sources: list[str], n: int = 20) -> list[str]:
    """First ``n`` code lines after the parameters and load-params cells, minus imports."""
    lines = [ln.strip() for s in sources[2:] for ln in s.splitlines()]
    # every notebook opens its store and its outputs: that is no work of 06 repeated
    opening = ("import ", "from ", "#", "store = CohortStore.for_params(", "out = Outputs.for_params(")
    lines = [ln for ln in lines if ln and not ln.startswith(opening)]
    return lines[:n]


@pytest.mark.parametrize("name", ["06_model", "07_model_eval"])
def test_branch_cap(name):
    assert branch_count(_code(name)) <= MAX_BRANCHES


def test_branch_count_counts_each_kind():
    """The counter sees one of each kind (a counter that sees nothing would pass the cap)."""
    src = ["if a:\n    pass\nfor i in x:\n    pass\nwhile b:\n    break\n",
           "try:\n    f()\nexcept ValueError:\n    pass\ny = 1 if c else 2\n"]
    assert branch_count(src) == 5


def test_07_loads_the_model_and_does_not_repeat_06():
    import inspect

    from analysis.model import run_model, run_model_eval

    s06, s07 = _code("06_model"), _code("07_model_eval")
    eval_src, fit_src = inspect.getsource(run_model_eval), inspect.getsource(run_model)
    assert "load_model(params)" in eval_src
    # 07 never refits the paper model, neither in its step nor in its notebook
    assert "fit_paper_model" not in eval_src + "\n".join(s07)
    assert "run_model(" not in "\n".join(s07)
    assert "save_model(model, params)" in fit_src
    shared = set(_setup_lines(s07)) & set(_setup_lines(s06))
    assert not shared, f"07 repeats 06's setup lines: {sorted(shared)}"
