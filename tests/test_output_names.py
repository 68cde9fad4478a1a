"""The output-name registry holds every name a notebook writes, exactly (issue 12).

The names are read from the code that writes them: every ``out.table(df, NAME, ...)`` /
``out.figure(fig, NAME, ...)`` call (receiver ``out`` or ``outputs``) in the notebooks and
in the analysis modules, found with ``ast``. A literal name must be registered; an
f-string name (``f"figure3_km_{group}"``) must match at least one registered name with
any text in place of each ``{...}``. ``tests/test_report_ci.py`` checks the names that a
real run recorded as well.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path

import pytest

from analysis import paths
from analysis.outputs import Outputs
from analysis.outputs import names as output_names
from analysis.outputs.names import OTHER, PAPER_LABELS, REGISTRY
from analysis.report.runner import PAPER_ITEMS

#: computed names that are checked elsewhere: 04_recurrence's outputs are built as
#: ``OutputItem`` records (names from module constants) and written in a loop; every name
#: a real run records is checked by ``test_report_ci::test_every_recorded_name_is_registered``
COMPUTED_OK = {("analysis/recurrence/run.py", "o.name")}


def _written_names(source: str, where: str) -> list[tuple[str, str, bool]]:
    """(where, name or regex, is_template) of every Outputs.table/figure call in source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"table", "figure"}
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"out", "outputs"} and len(node.args) >= 2):
            continue
        arg = node.args[1]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append((where, arg.value, False))
        elif isinstance(arg, ast.JoinedStr):
            parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+"
                     for v in arg.values]
            found.append((where, "".join(parts), True))
        else:
            found.append((where, ast.unparse(arg), None))  # a computed name: refused
    return found


def _all_written() -> list[tuple[str, str, bool]]:
    found = []
    for nb in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        src = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        found += _written_names(src, nb.name)
    for mod in sorted((paths.REPO_ROOT / "analysis").rglob("*.py")):
        found += _written_names(mod.read_text(), str(mod.relative_to(paths.REPO_ROOT)))
    return found


def test_the_scan_finds_names_and_templates():
    src = ('out.table(df, "table3", "c")\nout.figure(f, f"figure3_km_{g}", "c")\n'
           'outputs.table(df, name, "c")\nplt.figure(1, 2)\n')
    got = _written_names(src, "x")
    assert got == [("x", "table3", False), ("x", "figure3_km_.+", True),
                   ("x", "name", None)]


def test_every_name_the_code_writes_is_registered():
    """Fault injected: ``table3`` removed from the registry -> reported missing here
    (``01_ingest``'s writer in analysis/ingest/run.py)."""
    written = _all_written()
    assert len(written) > 40  # the seven notebooks and ingest write about 60 outputs
    computed = [(w, n) for w, n, t in written if t is None and (w, n) not in COMPUTED_OK]
    assert not computed, f"output names that are not a literal or an f-string: {computed}"
    missing = [(w, n) for w, n, t in written if t is False and n not in REGISTRY]
    assert not missing, f"written but not in analysis.outputs.names: {missing}"
    unmatched = [(w, n) for w, n, t in written
                 if t and not any(re.fullmatch(n, r) for r in REGISTRY)]
    assert not unmatched, f"templates matching no registered name: {unmatched}"


def test_paper_items_take_their_exact_names_from_the_registry():
    assert [p.label for p in PAPER_ITEMS] == list(PAPER_LABELS)
    for p in PAPER_ITEMS:
        assert p.stems == output_names.names_of(p.label) and p.stems, p.label
    assert output_names.names_of("Figure 3") == ("figure3_landmark_diameter_ge_5cm",
                                                 "figure3_km_diameter_ge_5cm")
    assert REGISTRY["figure3_km_sex"].paper_item == OTHER
    with pytest.raises(KeyError):
        output_names.names_of("Table 9")


def test_the_scorecard_reads_registered_tables():
    for attr in ("OUTCOME_TABLE", "COX_TABLE", "LANDMARK_TABLE", "TOP4_TABLE",
                 "TABLE7_TABLE", "DICE_TABLE", "FIGURE1_TABLE"):
        assert REGISTRY[getattr(output_names, attr)].kind == "table", attr


def test_an_unregistered_name_is_recorded_with_a_warning(tmp_path):
    import pandas as pd

    out = Outputs("r", "nb", phantom=False, root=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.table(pd.DataFrame({"a": [1]}), "table3", "registered: no warning")
    with pytest.warns(UserWarning, match="'tabel3' of nb is not in analysis.outputs.names"):
        out.table(pd.DataFrame({"a": [1]}), "tabel3", "a typo")
    assert [i["name"] for i in out.items] == ["table3", "tabel3"]
    assert Path(tmp_path / "r/tables/tabel3.csv").is_file()


def test_no_registered_name_is_stale():
    """Every registered name is written by some notebook or module (literal, template or
    one of 04_recurrence's OutputItem constants). Fault: 'model_optimism_auc' left in the
    registry after 07 renamed it to 'model_632plus_auc' was listed here."""
    from analysis.recurrence import run as recurrence_cohort

    written = _all_written()
    literal = {n for _, n, t in written if t is False}
    templates = [n for _, n, t in written if t]
    constants = {v for v in vars(recurrence_cohort).values() if isinstance(v, str)}
    stale = [r for r in REGISTRY if r not in literal and r not in constants
             and not any(re.fullmatch(t, r) for t in templates)]
    assert stale == []
