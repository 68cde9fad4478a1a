"""Segmentation's layout rules (issue #12): 02_segment tells and does not compute (at
most 3 if / for / while / try / conditional expressions in all its code cells), the
segment modules import each other without cycles, and none imports ``analysis.phantom``."""

from __future__ import annotations

import ast

import nbformat

from analysis import paths

BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.IfExp)
SEGMENT = paths.REPO_ROOT / "analysis" / "segment"


def branch_count(source: str) -> int:
    """Number of if / for / while / try / conditional-expression nodes in ``source``."""
    return sum(isinstance(n, BRANCHES) for n in ast.walk(ast.parse(source)))


def _imports(path) -> set[str]:
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom) and n.module:
            out.add(n.module)
        elif isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
    return out


def test_branch_count_by_hand():
    """Injected fault (once): counting only ast.If -> 2 instead of 4 here: fails."""
    src = "if a:\n    pass\nfor i in x:\n    y = 1 if i else 2\ntry:\n    pass\nexcept E:\n    pass\n"
    assert branch_count(src) == 4


def test_02_segment_has_at_most_3_branches():
    nb = nbformat.read(paths.NOTEBOOKS_DIR / "02_segment.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert branch_count(code) <= 3


def test_no_segment_module_imports_the_phantom():
    """Issue 20: the phantom reaches segmentation only as an argument (its commands in
    analysis.phantom.segmentation pass make_patient). Fault that fails it: the old
    ``segment.data.phantom_make_patient`` (an import of analysis.phantom) -> ['data.py']."""
    offenders = [p.name for p in SEGMENT.glob("*.py")
                 if any(m.startswith("analysis.phantom") for m in _imports(p))]
    assert offenders == []


def test_segment_imports_have_no_cycle():
    """Module graph of analysis.segment (every import, lazy ones included) is acyclic."""
    graph = {p.stem: {m.rsplit(".", 1)[-1] for m in _imports(p)
                      if m.startswith("analysis.segment.")}
             for p in SEGMENT.glob("*.py")}
    state: dict[str, int] = {}

    def visit(n: str, stack: tuple) -> None:
        assert state.get(n) != 1, f"import cycle: {' -> '.join(stack + (n,))}"
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in graph.get(n, ()):
            visit(m, stack + (n,))
        state[n] = 2

    for n in graph:
        visit(n, ())
