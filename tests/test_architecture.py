"""The package's structure rules (issue 12), checked statically on the source.

- Only :mod:`analysis.phantom` itself, the report runner, segmentation's phantom data
  source and the benchmarks (which build synthetic inputs) import ``analysis.phantom``:
  the analysis does not know the phantom exists.
- No module is over :data:`MAX_LINES` lines.
- No import cycle between modules, counting imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from analysis import paths

PACKAGE = paths.REPO_ROOT / "analysis"
#: "no module over about 600 lines" (issue 12): a little slack for a docstring
MAX_LINES = 650
#: modules allowed to import analysis.phantom, besides the phantom package itself
PHANTOM_IMPORTERS = {"analysis.report", "analysis.segment.data"}
PHANTOM_IMPORTER_PACKAGES = ("analysis.phantom", "analysis.bench")


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(paths.REPO_ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (anywhere in its body)."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {n: _imports(n, p, set(mods)) for n, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            # a package's __init__ importing its own submodules is not a cycle
            if w.startswith(v + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _phantom_importers(graph: dict[str, set[str]]) -> list[str]:
    return sorted(n for n, deps in graph.items()
                  if any(d == "analysis.phantom" or d.startswith("analysis.phantom.")
                         for d in deps)
                  and n not in PHANTOM_IMPORTERS
                  and not n.startswith(PHANTOM_IMPORTER_PACKAGES))


def test_only_the_runner_and_segmentation_data_import_the_phantom():
    assert _phantom_importers(_graph()) == []


def test_no_module_is_oversized():
    big = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in big.items() if k > MAX_LINES} == {}


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_checks_see_a_planted_cycle_and_a_phantom_import():
    """Faults planted in a copy of the graph: survival imports the phantom, and
    parallel <-> distributed import each other (the cycle issue 12 found)."""
    graph = {k: set(v) for k, v in _graph().items()}
    graph["analysis.survival"].add("analysis.phantom.outcomes")
    graph["analysis.parallel"].add("analysis.distributed")
    graph["analysis.distributed"].add("analysis.parallel")
    assert _phantom_importers(graph) == ["analysis.survival"]
    assert ["analysis.distributed", "analysis.parallel"] in _cycles(graph)
