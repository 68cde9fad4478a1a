"""The survival analysis knows nothing of the phantom; the 05 notebook only tells."""

from __future__ import annotations

import ast
import json

from analysis.paths import NOTEBOOKS_DIR, REPO_ROOT

ANALYSIS_FILES = ["analysis/survival/tables.py", "analysis/survival/competing.py",
                  *[f"analysis/stats/{m}.py" for m in ("survdata", "km", "group_tests", "cox",
                                                      "ph", "competing", "gray",
                                                      "finegray")],
                  "analysis/survival/plots.py"]


def _imports(path) -> set[str]:
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_survival_modules_never_import_the_phantom():
    """Fault check: adding ``from analysis.phantom import outcomes`` to survival.py makes
    this fail (it names the file)."""
    bad = {p: sorted(n for n in _imports(p) if n.startswith("analysis.phantom"))
           for p in ANALYSIS_FILES}
    assert not any(bad.values()), bad


def test_05_notebook_has_at_most_three_branches():
    """if / for / while / try / conditional expressions over all code cells <= 3."""
    nb = json.loads((NOTEBOOKS_DIR / "05_survival.ipynb").read_text(encoding="utf-8"))
    kinds = (ast.If, ast.For, ast.While, ast.Try, ast.IfExp)
    n = sum(isinstance(node, kinds) for c in nb["cells"] if c["cell_type"] == "code"
            for node in ast.walk(ast.parse("".join(c["source"]))))
    assert n <= 3, n
