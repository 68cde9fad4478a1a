"""Every public formula carries its formula and its reference (issue 20), as pyradiomics
guards its feature docstrings (``tests/test_docstrings.py`` there).

Walks every public function of :mod:`analysis.stats`, :mod:`analysis.partition.formulas`
and :mod:`analysis.geometry`: its docstring must hold a ``.. math::`` block (or inline
``:math:``) and a reference: ``Reference``, a SPEC row or table, an author and year, an author
``et al.``, or R / a named R package.

Shown to fail: on the tree before issue 20, 33 functions lacked one or the other (for
example ``stats.group_tests.logrank`` had neither, ``partition.formulas.idea_ctv_vox`` had
a formula but no reference).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import analysis.stats

MODULES = sorted(
    [f"analysis.stats.{m.name}" for m in pkgutil.iter_modules(analysis.stats.__path__)]
    + ["analysis.partition.formulas", "analysis.geometry"])
#: public functions of those modules that compute no statistic (checks, row selection,
#: coding, table assembly): named here with what they do instead
PLUMBING = {
    "analysis.stats.survdata.validate_survival": "input checks",
    "analysis.stats.survdata.prepare_survival_data": "row selection with reasons",
    "analysis.stats.survdata.missing_group_exclusions": "row selection with reasons",
    "analysis.stats.competing.competing_coding": "event coding",
    "analysis.stats.competing.validate_competing": "input checks",
    "analysis.stats.cox.separating_columns": "a data check (complete separation)",
    "analysis.stats.ph.ph_test_table": "assembles zph_score_test's rows",
    "analysis.stats.cox.plain_problem": "translates an engine message into a sentence",
}
FORMULA = re.compile(r"\.\. math::|:math:`")
REFERENCE = re.compile(r"Reference|SPEC (row|Table)|et al\.|\bR\b|survival::|cmprsk|psych::"
                       r"|[A-Z][a-z]+(?:\s+(?:&|and)\s+[A-Z][a-z]+)?,?\s+\(?(?:1[89]|20)\d\d\b")


def _public_functions():
    for name in MODULES:
        mod = importlib.import_module(name)
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if (not fname.startswith("_") and fn.__module__ == name
                    and f"{name}.{fname}" not in PLUMBING):
                yield f"{name}.{fname}", inspect.getdoc(fn) or ""


def _missing(items) -> list[str]:
    out = []
    for qual, doc in items:
        lacks = [what for what, rx in (("formula", FORMULA), ("reference", REFERENCE))
                 if not rx.search(doc)]
        if lacks:
            out.append(f"{qual}: no {' and no '.join(lacks)}")
    return out


def test_every_public_formula_has_its_formula_and_reference():
    assert len(list(_public_functions())) > 40
    assert _missing(_public_functions()) == []


@pytest.mark.parametrize("doc, lacks", [
    ("Share of station i covered by the CTV.", ["formula", "reference"]),
    (".. math:: x = y", ["reference"]),
    ("Reference: SPEC row 4.", ["formula"]),
])
def test_the_guard_sees_a_missing_formula_or_reference(doc, lacks):
    assert _missing([("f", doc)]) == [f"f: no {' and no '.join(lacks)}"]
