"""The index states issue 25's verdict first under "Beyond the paper" (report_html)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from analysis.outputs.names import STATIONS_VERDICT_TABLE
from analysis.params import load_params
from analysis.report import html as report_html
from analysis.report.runner import PAPER_ITEMS


def test_index_puts_the_stations_verdict_first_under_beyond_the_paper(tmp_path):
    """A run whose 07 wrote the verdict table and one other output: the index shows the
    verdict text in bold under "Beyond the paper", before the other output, once.
    Fault injected: the verdict block removed from write_index -> no
    ``stations-verdict-text`` in the page, the test fails."""
    (tmp_path / "tables").mkdir()
    text = "Synthetic phantom: AI stations do not reproduce the reference analysis"
    pd.DataFrame({"criterion": ["recurrence sites"], "value": [0.5], "rule": [">= 0.8"],
                  "holds": ["no"], "verdict": [text]}).to_csv(
        tmp_path / "tables" / f"{STATIONS_VERDICT_TABLE}.csv", index=False)
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "tables" / "model_brier.csv", index=False)
    outputs = [{"name": "model_brier", "kind": "table", "caption": "Brier",
                "files": ["tables/model_brier.csv"]},
               {"name": STATIONS_VERDICT_TABLE, "kind": "table", "caption": "Verdict",
                "files": [f"tables/{STATIONS_VERDICT_TABLE}.csv"]}]
    results = [SimpleNamespace(notebook="07_model_eval", status="ran", seconds=1.0,
                               outputs=outputs, message="")]
    params = load_params("params/ci.yaml")
    page = report_html.write_index(tmp_path, params, results, PAPER_ITEMS).read_text()
    assert f'id="stations-verdict-text"><b>{text}</b>' in page
    beyond = page.index('id="others"')
    assert beyond < page.index('id="stations-verdict"') < page.index("tbl-model_brier")
    assert page.count(f'id="tbl-{STATIONS_VERDICT_TABLE}"') == 1


def test_the_verdict_line_gives_the_numbers_that_decided_it():
    """Issue 25 done-when: "the index states the verdict and the numbers behind it".
    The judged rows (holds yes / no) are stated with value and rule; a row shown but not
    judged and a criterion not measured are not. Fault injected: ``verdict_numbers``
    keeping every row -> 4 numbers, not 2 (one of them empty); the test fails."""
    table = pd.DataFrame({
        "criterion": ["110 parameters: share with ICC(A,1) >= 0.75 (of 104 with a defined "
                      "ICC)", "second observers' floor", "recurrence sites",
                      "model: nested-CV AUC, AI - reference"],
        "value": ["0.99038", "0.8", "", "-0.0012"],
        "rule": [">= 0.9", "shown, not judged", "not measured", "|difference| <= 0.05"],
        "holds": ["yes", "not judged", "not measured", "yes"],
        "verdict": ["AI stations reproduce the reference analysis"] * 4})
    assert report_html.verdict_numbers(table) == [
        "110 parameters: share with ICC(A,1) >= 0.75 (of 104 with a defined ICC): 0.99 "
        "(rule >= 0.9: holds)",
        "model: nested-CV AUC, AI - reference: -0.0012 (rule |difference| <= 0.05: holds)"]
