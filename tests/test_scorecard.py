"""The headline scorecard: hand-made tables with known CIs give the hand-derived verdicts."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import paper
from analysis.outputs import names as on
from analysis.outputs.names import TRAIN_APPARENT, TRAIN_CV
from analysis.report import scorecard
from analysis.report.scorecard import NOT_COMPARABLE, OUTSIDE, WITHIN


def _write(tables, name, df):
    tables.mkdir(parents=True, exist_ok=True)
    df.to_csv(tables / f"{name}.csv", index=False)


@pytest.fixture
def run_dir(tmp_path):
    t = tmp_path / "tables"
    _write(t, on.OUTCOME_TABLE, pd.DataFrame({
        "quantity": ["patients", "events", "no event", "median follow-up, months (reverse KM)"],
        "ours": [10, 5, 5, 36.5], "paper": [180, 94, 86, 36], "lower": [None, None, None, 30],
        "upper": [None, None, None, 40]}))
    _write(t, on.PRESPECIFIED_COX_TABLE, pd.DataFrame({
        "variable": ["sex", "diameter_ge_5cm"], "level": ["male", "True"],
        "hr": [1.1, 2.0], "hr_lower": [0.5, 1.7], "hr_upper": [2.0, 2.5]}))
    _write(t, on.COX_TABLE, pd.DataFrame({
        "variable": ["diameter_ge_5cm"], "level": ["True"],
        "hr": [2.4], "hr_lower": [1.9], "hr_upper": [3.1]}))
    _write(t, on.LANDMARK_TABLE, pd.DataFrame({
        "group": ["<5cm", ">=5cm"], "survival": [0.8, 0.5], "lower": [0.7, 0.3],
        "upper": [0.9, 0.6]}))
    _write(t, on.TOP4_TABLE, pd.DataFrame({"share": [0.7], "share_lower": [0.6],
                                           "share_upper": [0.8]}))
    _write(t, on.TABLE7_TABLE, pd.DataFrame({
        "metric": ["accuracy", "auc"], TRAIN_APPARENT: [0.8, 0.9],
        f"{TRAIN_APPARENT}_lo": [0.7, 0.86], f"{TRAIN_APPARENT}_hi": [0.9, 0.95],
        TRAIN_CV: [0.7, 0.71], "valid": [0.7, 0.7], "valid_lo": [0.6, 0.6],
        "valid_hi": [0.8, 0.8]}))
    _write(t, on.DICE_TABLE, pd.DataFrame({
        "station": ["4R", "7", "3P"], "n": [100, 100, 1], "dice_mean": [0.80, 0.84, 0.78],
        "dice_sd": [0.1, 0.1, None]}))
    return tmp_path


def test_verdicts_by_hand(run_dir):
    """Fault injected: ``_verdict`` ignoring the upper bound (within when lo <= paper)
    -> ">=5cm" (0.611 above the CI 0.3-0.6) is called within: the test fails there."""
    rows = {r.quantity: r for r in scorecard.headlines(run_dir)}
    assert rows["patients (n)"].verdict == NOT_COMPARABLE
    ev = rows["events (share of patients)"]
    # Wilson 95% CI of 5/10: 0.2366 to 0.7634 (R: binom::binom.wilson(5, 10)); 0.522 inside
    assert ev.ci == "0.237 to 0.763" and ev.verdict == WITHIN and ev.ours == "5 of 10 (0.500)"
    assert rows["median follow-up, months (reverse KM)"].verdict == WITHIN  # 36 in 30-40
    cox = rows["diameter >= 5 cm: Cox HR"]
    # judged on the pre-specified model (1.7-2.5), never the selected one (1.9-3.1)
    assert cox.verdict == OUTSIDE and cox.ci == "1.7 to 2.5"  # 1.635 < 1.7
    assert "pre-specified" in cox.why and "selected on this data" in cox.why and "2.4" in cox.why
    assert rows["3-year local control, diameter <5cm"].verdict == WITHIN  # 0.867 in .7-.9
    assert rows["3-year local control, diameter >=5cm"].verdict == OUTSIDE  # 0.611 > 0.6
    assert rows[f"share of recurrences in {', '.join(paper.TOP4_STATIONS)}"].verdict == WITHIN
    assert rows["Table 7 AUC (training)"].verdict == OUTSIDE  # 0.85 < 0.86
    assert "cross-validated on the training patients: 0.71" in rows["Table 7 AUC (training)"].why
    assert rows["Table 7 AUC (validation)"].verdict == WITHIN  # 0.77 in 0.6-0.8
    # DSC CI: mean +- 1.96 * 0.1 / sqrt(100) = +- 0.0196
    assert rows["DSC 4R"].ci == "0.78 to 0.82" and rows["DSC 4R"].verdict == OUTSIDE
    assert rows["DSC 7"].verdict == WITHIN  # upper 0.8596 reaches the paper's > 0.85
    assert rows["DSC 10R"].verdict == NOT_COMPARABLE  # not in the table
    assert rows["DSC 3P"].verdict == NOT_COMPARABLE and rows["DSC 3P"].why == "no CI"


def test_missing_tables_are_not_comparable_and_say_why(tmp_path):
    rows = scorecard.headlines(tmp_path)
    assert rows and all(r.verdict == NOT_COMPARABLE for r in rows)
    assert any(r.why == "no table 05_outcome in this run" for r in rows)


def test_cox_without_diameter_says_so(run_dir):
    _write(run_dir / "tables", on.PRESPECIFIED_COX_TABLE,
           pd.DataFrame({"variable": ["sex"], "hr": [1.0], "hr_lower": [0.5],
                         "hr_upper": [2.0]}))
    cox = next(r for r in scorecard.headlines(run_dir) if "Cox" in r.quantity)
    assert cox.verdict == NOT_COMPARABLE and "not in this run's pre-specified" in cox.why


def test_html_has_one_row_per_headline_and_a_class_per_verdict(run_dir):
    rows = scorecard.headlines(run_dir)
    page = scorecard.scorecard_html(rows, phantom=True)
    assert page.count("<tr class=") == len(rows)
    assert 'class="v-outside"' in page and "synthetic phantom" in page
