"""The package's layout rules (issue 20), checked statically on the source.

The layout (docs/architecture.md): one package per notebook step, each importing only
the floor and the steps before it; the floor imports no step; scheduling and the viewers
sit between the floor and the steps; ``phantom`` and ``bench`` stand apart (no step, no
floor module and no viewer imports them).

How imports are read: every ``import`` / ``from ... import`` anywhere in a file, inside
functions too, exempting nothing. ``from analysis.partition import X`` is resolved to the
submodule that defines ``X`` (following the package's ``__init__``), so an import through
a package's public face counts as an import of the file behind it.

Shown to fail on the tree before the move (commit 1c1184d, checked by running these
functions on a worktree of it): 45 top-level parts against at most 26; the part graph had
the cycles ``ingest -> partition -> ingest`` (``ingest_patient`` took ``gtv_size_cm`` from
``partition``, ``partition.figures`` took ``figure1_table`` from ``ingest``) and
``segment <-> viewer``; 8 step packages were missing; ``segment.data`` imported the phantom.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from analysis import paths

PACKAGE = paths.REPO_ROOT / "analysis"
#: "no module over about 600 lines" (issue 12): a little slack for a docstring
MAX_LINES = 650
#: "analysis/ has at most 26 top-level parts" (issue 20), __init__.py not counted
MAX_PARTS = 26
#: "about a dozen names" per step's public face (issue 20): a little slack
MAX_FACE = 24

#: the notebook steps in chain order: a step imports only the floor and earlier steps
STEPS = ("ingest", "segment", "partition", "recurrence", "survival", "model", "report")
#: between the floor and the steps: each imports only the floor
MIDDLE = ("scheduling", "viewers")
#: stand apart: nothing outside them imports them
APART = ("phantom", "bench")


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(paths.REPO_ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = f
    return out


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _resolve(module: str, name: str, mods: dict[str, Path], depth: int = 0) -> str:
    """The module that defines ``name`` imported ``from module``: a submodule of that
    name, the submodule the package's ``__init__`` takes it from, or ``module`` itself."""
    if f"{module}.{name}" in mods:
        return f"{module}.{name}"
    path = mods.get(module)
    if path is None or path.name != "__init__.py" or depth > 8:
        return module
    lazy = _lazy_face(path)
    if name in lazy:
        return f"{module}.{lazy[name]}"
    for node in _tree(path).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if (a.asname or a.name) == name and node.module.startswith("analysis"):
                    return _resolve(node.module, a.name, mods, depth + 1)
    return module


def _lazy_face(init: Path) -> dict[str, str]:
    """A package face loaded on first use: ``_FACE = {name: submodule}`` in its
    ``__init__`` (``analysis.segment``, so that its light modules do not import torch)."""
    for node in _tree(init).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_FACE" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _known(t: str, mods: dict[str, Path]) -> str | None:
    while t and t not in mods:
        t = t.rpartition(".")[0]
    return t or None


def _imports(name: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(module of the package imported, line, inside a function) for every import."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for a in child.names:
                    t = _known(a.name, mods)
                    if t and t != name:
                        found.append((t, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                if not base.startswith("analysis"):
                    continue
                for a in child.names:
                    t = _known(_resolve(base, a.name, mods), mods)
                    if t and t != name:
                        found.append((t, child.lineno, in_function))
            visit(child, inner)

    visit(_tree(path), False)
    return found


@cache
def _graph() -> dict[str, tuple[tuple[str, int, bool], ...]]:
    mods = _modules()
    return {n: tuple(_imports(n, p, mods)) for n, p in mods.items()}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _parts() -> list[str]:
    return sorted(p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                  if (p.suffix == ".py" and p.name != "__init__.py")
                  or (p.is_dir() and (p / "__init__.py").exists()))


def _part_graph(graph) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        a = _part(mod)
        out.setdefault(a, set()).update(_part(d) for d, _, _ in deps if _part(d) != a)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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


def _layer_violations(part_graph: dict[str, set[str]]) -> list[str]:
    """Every part-level import that breaks the layering, as 'a -> b'."""
    floor = set(part_graph) - set(STEPS) - set(MIDDLE) - set(APART) - {"__init__"}
    bad = []
    for a, deps in sorted(part_graph.items()):
        if a in APART:
            continue
        for b in sorted(deps):
            if b in APART:
                bad.append(f"{a} -> {b}")
            elif a in floor and b not in floor:
                bad.append(f"{a} -> {b}")
            elif a in MIDDLE and b not in floor:
                bad.append(f"{a} -> {b}")
            elif a in STEPS and b in STEPS and STEPS.index(b) > STEPS.index(a):
                bad.append(f"{a} -> {b}")
    return bad


def test_at_most_26_top_level_parts_and_a_package_per_step():
    parts = _parts()
    assert len(parts) <= MAX_PARTS, parts
    for step in (*STEPS, *MIDDLE, *APART):
        assert (PACKAGE / step / "__init__.py").exists(), step
    assert [p for p in parts if p.startswith(("model_", "report_", "ingest_", "viewer"))
            and p != "viewers"] == []


def test_steps_form_a_chain_on_the_floor():
    assert _layer_violations(_part_graph(_graph())) == []


def test_no_import_cycle_between_parts_or_modules():
    graph = _graph()
    assert _cycles(_part_graph(graph)) == []
    module_graph = {m: {d for d, _, _ in deps if not d.startswith(m + ".")}
                    for m, deps in graph.items()}
    assert _cycles(module_graph) == []


def test_no_module_is_oversized():
    big = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in big.items() if k > MAX_LINES} == {}


def test_each_step_has_a_public_face_that_resolves():
    mods = _modules()
    for step in (*STEPS, *MIDDLE):
        init = PACKAGE / step / "__init__.py"
        names = sorted(_lazy_face(init)) or None
        for node in _tree(init).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets) \
                    and not isinstance(node.value, ast.Call):
                names = ast.literal_eval(node.value)
        assert names, f"analysis.{step}: no __all__"
        assert len(names) <= MAX_FACE, (step, len(names))
        for n in names:
            assert _resolve(f"analysis.{step}", n, mods) != f"analysis.{step}" or n in {
                node.name for node in _tree(init).body if hasattr(node, "name")}, (step, n)


def test_the_checks_see_planted_faults():
    """Faults planted in a copy of the graph, each caught: survival imports the phantom,
    the floor's store imports partition, partition imports model (a later step),
    parallel <-> distributed import each other."""
    graph = {k: list(v) for k, v in _graph().items()}
    graph["analysis.survival.tables"].append(("analysis.phantom.outcomes", 1, True))
    graph["analysis.store"].append(("analysis.partition.run", 1, True))
    graph["analysis.partition.figures"].append(("analysis.model.fit", 1, False))
    graph["analysis.scheduling.parallel"].append(("analysis.scheduling.distributed", 1, True))
    graph["analysis.scheduling.distributed"].append(("analysis.scheduling.parallel", 1, True))
    bad = _layer_violations(_part_graph(graph))
    assert {"survival -> phantom", "store -> partition", "partition -> model"} <= set(bad)
    module_graph = {m: {d for d, _, _ in deps if not d.startswith(m + ".")}
                    for m, deps in graph.items()}
    assert ["analysis.scheduling.distributed", "analysis.scheduling.parallel"] in \
        _cycles(module_graph)


def test_an_import_through_a_package_face_resolves_to_its_file():
    mods = _modules()
    assert _resolve("analysis.partition", "partition_parameters", mods) == \
        "analysis.partition.formulas"
    assert _resolve("analysis", "labels", mods) == "analysis.labels"


#: each notebook's step: its package, its ``run_<step>`` and the result it returns
STEP_RUNS = {
    "01_ingest": ("ingest", "run_ingest", "IngestResult"),
    "02_segment": ("segment", "run_segment", "SegmentResult"),
    "03_partition": ("partition", "run_partition", "PartitionResult"),
    "04_recurrence": ("recurrence", "run_recurrence", "RecurrenceResult"),
    "05_survival": ("survival", "run_survival", "SurvivalResult"),
    "06_model": ("model", "run_model", "ModelResult"),
    "07_model_eval": ("model", "run_model_eval", "ModelEvalResult"),
}


def _notebook_code(name: str) -> str:
    import json

    nb = json.loads((paths.REPO_ROOT / "notebooks" / f"{name}.ipynb").read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def _signature_faults(fn, result: str) -> list[str]:
    """How ``fn`` departs from ``run_<step>(store, params, *, extras=default) ->
    <Step>Result``; empty when it does not."""
    import inspect

    sig = inspect.signature(fn)
    ps = list(sig.parameters.values())
    bad = []
    if [p.name for p in ps[:2]] != ["store", "params"] or any(
            p.kind is not p.POSITIONAL_OR_KEYWORD for p in ps[:2]):
        bad.append(f"{fn.__name__}: first arguments {[p.name for p in ps[:2]]}, "
                   "not (store, params)")
    bad += [f"{fn.__name__}: {p.name} is not keyword-only with a default" for p in ps[2:]
            if p.kind is not p.KEYWORD_ONLY or p.default is p.empty]
    if sig.return_annotation != result:
        bad.append(f"{fn.__name__}: returns {sig.return_annotation!r}, not {result}")
    return bad


def test_every_notebook_step_has_one_signature_and_a_typed_result():
    """Issue 20 item 4: ``run_<step>(store, params) -> <Step>Result`` on each step's face,
    the result a dataclass with a ``report()``, and each notebook calling its step once.

    Shown to fail on the tree before (ce5cefe): only ``run_ingest`` existed, as
    ``run_ingest(params, progress, *, store_root)``; 03 called
    ``partition_table_for_params(params, store)`` and 05-07 several functions each."""
    import dataclasses
    import importlib

    faults = []
    for nb, (step, run, result) in STEP_RUNS.items():
        pkg = importlib.import_module(f"analysis.{step}")
        if run not in pkg.__all__ or result not in pkg.__all__:
            faults.append(f"analysis.{step}: {run} or {result} not on its face")
            continue
        faults += _signature_faults(getattr(pkg, run), result)
        cls = getattr(pkg, result)
        if not dataclasses.is_dataclass(cls) or not callable(getattr(cls, "report", None)):
            faults.append(f"{result}: not a dataclass with report()")
        if _notebook_code(nb).count(f"{run}(store, params") != 1:
            faults.append(f"{nb} does not call {run}(store, params) exactly once")
    assert faults == []


def test_the_signature_check_sees_a_departure():
    """The check above on planted departures: the old argument order, a positional
    extra, a missing return annotation."""
    def run_old(params, store, progress=True) -> OldResult:  # noqa: F821
        return None

    def run_extra(store, params, progress) -> XResult:  # noqa: F821
        return None

    def run_fine(store, params, *, known=None) -> XResult:  # noqa: F821
        return None

    assert len(_signature_faults(run_old, "OldResult")) == 2
    assert _signature_faults(run_extra, "XResult") == [
        "run_extra: progress is not keyword-only with a default"]
    assert _signature_faults(run_fine, "YResult") == [
        "run_fine: returns 'XResult', not YResult"]
    assert _signature_faults(run_fine, "XResult") == []
