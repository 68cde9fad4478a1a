"""The analysis ledger (issue 21): one decision of which patients and which station maps
every step after 02 analyses, on a hand-built store of 8 screened patients.

By hand (store below): X1, X2 excluded at ingest (no follow-up, no images); P1-P6
included. P2's prediction failed QC; P3 has no predicted map (02 wrote none); P4 has no
lc_time_months (no usable outcome); P5's CTV lies on another grid, so its partition
fails; P1 and P6 are analysed. Every screened patient is counted exactly once:
2 + 1 + 1 + 1 + 1 + 2 = 8.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import ledger as L
from analysis import partition as P
from analysis.grid import Grid
from analysis.io import write_nifti
from analysis.model.fit import skip_reason as model_skip_reason
from analysis.params import load_params
from analysis.report import scorecard
from analysis.store import CohortStore

GRID = Grid((3, 5, 5), (2.0, 1.5, 1.5), (0.0, 0.0, 0.0))
INCLUDED = ["P1", "P2", "P3", "P4", "P5", "P6"]


def _arrays():
    st = np.zeros((3, 5, 5), np.uint8)
    st[0:2, 1:3, 1:3] = 11  # station 7
    ctv = st > 0
    gtv = np.zeros(st.shape, bool)
    gtv[2, 4, 0:2] = True
    gtvnd = np.zeros(st.shape, bool)
    gtvnd[0, 1, 1] = True
    return ctv, gtv, gtvnd, st


def make_store(root: Path) -> CohortStore:
    store = CohortStore(root)
    ctv, gtv, gtvnd, st = _arrays()
    for pid in INCLUDED:
        store.write_meta(pid, {"grid": GRID.to_dict()})
        for name, arr in (("ctv", ctv), ("gtv", gtv), ("gtvnd", gtvnd),
                          ("stations_ref", st), ("stations_cv", st)):
            store.write(pid, name, arr, GRID)
        if pid != "P3":
            store.write(pid, "stations_pred", st, GRID)
    # P5: a CTV of another shape -> its partition fails (check_inputs)
    write_nifti(store.patient_dir("P5") / "ctv.nii.gz", np.zeros((2, 5, 5), np.uint8),
                Grid((2, 5, 5), GRID.spacing_mm, GRID.origin_mm))
    store.write_table("cohort", pd.DataFrame({
        "lc_time_months": [10.0, 12.0, 8.0, np.nan, 20.0, 30.0],
        "lc_event": [1, 0, 1, 0, 1, 0]}, index=pd.Index(INCLUDED, name="pid")))
    store.write_table("screening", pd.DataFrame({
        "pid": INCLUDED + ["X1", "X2"], "included": [True] * 6 + [False] * 2,
        "reason": [""] * 6 + ["no_followup: no row", "no_images: no CT"],
        "reason_code": [""] * 6 + ["no_followup", "no_images"]}))
    store.write_table("segment_qc", pd.DataFrame({
        "usable": [True, False, True, True, True, True],
        "reasons": ["", "lung_volume_ml = 9 outside the training range", "", "", "", ""]},
        index=pd.Index(INCLUDED, name="pid")))
    return store


def _params(stations="predicted", include=False, **analysis):
    p = load_params("params/ci.yaml")
    return p.model_copy(update={"scheduler": "serial", "analysis": p.analysis.model_copy(
        update={"stations": stations, "include_qc_failed": include, **analysis})})


def _run(store, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        return P.ledger_partition_table(store, params, cache=False)


def test_every_patient_once_with_step_and_reason(tmp_path):
    """The hand count of the module docstring. Injected fault (once, by hand): the
    outcome check removed from build_ledger -> P4 is analysed: ["P1", "P4", "P6"]."""
    store = make_store(tmp_path / "s")
    table = _run(store, _params())
    led = L.read_ledger(store, _params())
    t = led.table
    assert led.analysed == ["P1", "P6"] == list(table.features.index)
    assert t.loc[["X1", "X2"], "step"].tolist() == ["01_ingest", "01_ingest"]
    assert t.loc["P2", "step"] == "02_segment" and t.loc["P2", "qc"] == "flagged"
    assert "lung_volume_ml" in t.loc["P2", "reason"]
    assert t.loc["P3", "step"] == "03_partition"
    assert t.loc["P3", "reason"].startswith("no stations_pred in the cohort store")
    assert t.loc["P4", "step"] == "outcome" and "lc_time_months" in t.loc["P4", "reason"]
    assert t.loc["P5", "step"] == "03_partition"
    assert t.loc["P5", "reason_code"] == "partition_failed"
    assert "P5" not in t.loc["P5", "reason"]  # no identifier in the reason
    assert (t.loc[led.analysed, "station_volume"] == "stations_pred").all()
    f1 = P.figure1_after_qc(table)
    got = {(s, r): n for s, r, n in f1.itertuples(index=False)}
    assert got[("screened", "")] == 8
    assert got[(L.STEP_LABELS["01_ingest"], "no follow-up")] == 1
    assert got[(L.STEP_LABELS["01_ingest"], "no images")] == 1
    totals = [got[(L.STEP_LABELS[s], "total")] for s in L.STEPS]
    assert totals == [2, 1, 2, 1]
    assert sum(totals) + got[("analysed", "")] == 8
    assert L.KEPT_LABEL not in f1["step"].tolist()
    assert led.step_counts()["n"].sum() == 8


def test_kept_despite_qc_and_cv_maps(tmp_path):
    """include_qc_failed keeps P2 (kept_by the param, its own Figure 1 line, counted in
    analysed: 3); stations cv analyses stations_cv, which P3 has: P1, P2 (QC flag not
    kept: excluded), P3, P6 -> analysed P1, P3, P6."""
    store = make_store(tmp_path / "s")
    kept = _run(store, _params(include=True))
    assert kept.ledger.analysed == ["P1", "P2", "P6"]
    assert kept.ledger.table.loc["P2", "kept_by"] == L.KEEP_PARAM
    f1 = L.figure1_table(kept.ledger)
    row = f1[f1["step"] == L.KEPT_LABEL]
    assert row["n"].tolist() == [1]
    assert f1.loc[f1["step"] == "analysed", "n"].tolist() == [3]
    cv = _run(store, _params(stations="cv"))
    assert cv.ledger.analysed == ["P1", "P3", "P6"]
    assert (cv.ledger.table.loc[cv.ledger.analysed, "station_volume"] == "stations_cv").all()
    # a ledger built with other settings is refused by the later steps
    with pytest.raises(L.LedgerError, match="stations"):
        L.read_ledger(store, _params(stations="predicted"))
    ref = _run(store, _params(stations="reference"))
    # reference maps: the AI flag is recorded, the patient analysed (the map was drawn)
    assert ref.ledger.table.loc["P2", "qc"] == "flagged" and "P2" in ref.ledger.analysed


def test_skip_reasons_of_the_later_steps(tmp_path):
    """2 analysed patients (1 event): 05 needs min_patients_survival (default 10), the
    model min(class) >= max(min_per_class, cv_folds); each skip says how many and why."""
    store = make_store(tmp_path / "s")
    _run(store, _params())
    led = L.read_ledger(store, _params())
    why = L.survival_skip_reason(led, store, _params())
    assert why.startswith("2 analysed patient(s)") and "min_patients_survival" in why
    assert L.survival_skip_reason(led, store, _params(min_patients_survival=2)) is None
    why = model_skip_reason(store, _params(), led)
    assert "1 recurred, 1 did not (of 2 analysed)" in why and "min_per_class" in why
    assert L.recurrence_skip_reason(led) is None
    none = L.Ledger(led.table.assign(included=False), "predicted", False, True)
    assert "no analysed patient" in L.recurrence_skip_reason(none)


def test_ml_columns_and_voxel_size_warning(tmp_path):
    """CTV = 8 voxels of 2 x 1.5 x 1.5 = 4.5 mm^3 -> 0.036 ml; GTVnd 1 voxel -> 0.0045 ml.
    Voxel volumes 5 and 3 mm^3 differ 1.67-fold (> 1.10): warned, naming the voxel-count
    columns; 5 and 5.202 (1.02^2 x 5) are 1.04-fold apart: no warning."""
    store = make_store(tmp_path / "s")
    table = _run(store, _params())
    shown = P.features_with_ml(table)
    assert list(shown.columns[:110]) == list(table.features.columns)
    assert shown.loc["P1", "CTV_volume"] == 8
    assert shown.loc["P1", "CTV_volume_ml"] == pytest.approx(0.036, rel=1e-12)
    assert shown.loc["P1", "GTVnd_volume_ml"] == pytest.approx(0.0045, rel=1e-12)
    sp = pd.DataFrame([[5.0, 1.0, 1.0], [3.0, 1.0, 1.0]])
    msg = P.voxel_size_warning(sp)
    assert "1.67-fold" in msg and "CTV_volume, GTVnd_volume" in msg
    assert P.voxel_size_warning(pd.DataFrame([[5.0, 1.0, 1.0], [5.0, 1.02, 1.02]])) is None
    assert P.voxel_size_warning(P.cohort_spacings(store, table.features.index)) is None


def test_scorecard_reads_a_degenerate_cox_table_as_not_comparable(tmp_path):
    """A 4-patient cohort writes the Cox tables as one ``note`` (no model): the scorecard
    row says "not comparable" with that note. Before the fix: pandas.errors.IndexingError
    (Unalignable boolean Series)."""
    t = tmp_path / "tables"
    t.mkdir()
    pd.DataFrame({"note": ["no variable passed the univariate threshold"]}).to_csv(
        t / "table4_multivariable_cox.csv", index=False)
    pd.DataFrame({"note": ["the multivariable Cox model could not be fitted"]}).to_csv(
        t / "table4_prespecified_cox.csv", index=False)
    pd.DataFrame({"metric": ["auc"]}).to_csv(t / "table7_metrics.csv", index=False)
    rows = scorecard.headlines(tmp_path)
    cox = next(r for r in rows if r.quantity.startswith("diameter >= 5 cm"))
    assert cox.verdict == scorecard.NOT_COMPARABLE
    assert cox.why == ("no multivariable Cox model in this run: the multivariable Cox "
                       "model could not be fitted")
    assert all(r.verdict in (scorecard.WITHIN, scorecard.OUTSIDE, scorecard.NOT_COMPARABLE)
               for r in rows)


def test_nobody_analysed_when_every_prediction_is_flagged(tmp_path):
    """A real cohort under the phantom-trained model: every prediction flagged. 03 still
    writes an empty feature table and the ledger (6 left at 02, 2 at ingest), and each
    later step has its reason."""
    store = make_store(tmp_path / "s")
    qc = store.read_table("segment_qc")
    store.write_table("segment_qc", qc.assign(usable=False, reasons="phantom_model"))
    table = _run(store, _params())
    assert table.features.shape == (0, 110)
    led = L.read_ledger(store, _params())
    assert led.analysed == [] and led.step_counts().set_index("step")["n"].to_dict() == {
        "01_ingest": 2, "02_segment": 6, "03_partition": 0, "outcome": 0, "analysed": 0}
    assert store.partition_features().empty
    assert "no analysed patient" in L.recurrence_skip_reason(led)
    assert L.survival_skip_reason(led, store, _params()).startswith("0 analysed")
    assert "0 recurred, 0 did not" in model_skip_reason(store, _params(), led)
    assert P.voxel_size_warning(P.cohort_spacings(store, [])) is None


def test_scorecard_says_why_a_skipped_steps_headline_is_missing(tmp_path):
    """05 skipped by the ledger: the headlines of 05's tables give its skip reason."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "outputs").mkdir()
    why = "skipped: 4 analysed patient(s) (analysis ledger) but at least 10 needed"
    (tmp_path / "outputs" / "05_survival.json").write_text(json.dumps(
        {"notebook": "05_survival", "items": [], "skipped": why}))
    rows = scorecard.headlines(tmp_path)
    n = next(r for r in rows if r.quantity == "patients (n)")
    assert n.verdict == scorecard.NOT_COMPARABLE
    assert n.why == f"no table 05_outcome in this run: 05_survival {why}"
    auc = next(r for r in rows if r.quantity.startswith("Table 7 AUC"))
    assert auc.why == "no table table7_metrics in this run"  # 07 not skipped, only absent


def test_ledger_for_prefers_a_current_written_ledger(tmp_path):
    """ledger_for: 03's written ledger (with its partition failure P5) while current; the
    decision rebuilt (P5 analysed again: no partition ran) once 02's QC table is newer,
    e.g. 02 rerun before its station exports."""
    store = make_store(tmp_path / "s")
    _run(store, _params())
    assert L.ledger_for(store, _params()).analysed == ["P1", "P6"]
    qc = store.root / "segment_qc.parquet"
    later = (store.root / "analysis_ledger.parquet").stat().st_mtime + 10
    os.utime(qc, (later, later))
    assert L.ledger_for(store, _params()).analysed == ["P1", "P5", "P6"]


def test_a_duplicated_record_number_is_screened_twice_and_counted_twice(tmp_path):
    """01 excludes both rows of a duplicated record number under one pid (the ci
    phantom has one): the ledger keeps both rows, Figure 1 counts 9 screened, 3 at
    ingest. Before the fix: ValueError (truth value of a Series is ambiguous), 02's
    station export in the ci chain."""
    store = make_store(tmp_path / "s")
    scr = store.read_table("screening")
    dup = pd.DataFrame({"pid": ["X1"], "included": [False], "reason": ["duplicate_id: x"],
                        "reason_code": ["duplicate_id"]})
    store.write_table("screening", pd.concat([scr, dup], ignore_index=True))
    table = _run(store, _params())
    assert table.ledger.analysed == ["P1", "P6"]
    got = {(s, r): n for s, r, n in P.figure1_after_qc(table).itertuples(index=False)}
    assert got[("screened", "")] == 9
    assert got[(L.STEP_LABELS["01_ingest"], "duplicate patient ID")] == 1
    assert got[(L.STEP_LABELS["01_ingest"], "total")] == 3
    assert L.read_ledger(store, _params()).step_counts()["n"].sum() == 9
    assert L.ledger_for(store, _params()).analysed == ["P1", "P6"]


def test_figure1_flowchart_after_qc_draws_the_ledgers_counts():
    """The flowchart of 03 carries the numbers of its table, and only them: screened 30,
    one box per step that excluded anyone (01: 3 with two reasons, 02: 4), none for a
    step that excluded no one (03: 0), analysed 23 with the 2 kept despite a QC flag.
    Fault injected: a box for every step (total 0 included) -> three side boxes, not
    two, and the count assertion fails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f1 = pd.DataFrame([
        ("screened", "", 30), ("excluded at ingest (01)", "no CT", 2),
        ("excluded at ingest (01)", "no follow-up", 1), ("excluded at ingest (01)", "total", 3),
        ("excluded by segmentation QC (02)", "CT field of view too small", 4),
        ("excluded by segmentation QC (02)", "total", 4),
        ("excluded at the partition step (03)", "total", 0), ("analysed", "", 23),
        ("kept despite QC flag", "analysis.include_qc_failed: true (counted in analysed)", 2)],
        columns=["step", "reason", "n"])
    fig = P.figure1_flowchart_after_qc(f1)
    texts = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    assert "Patients screened\nn = 30" in texts
    assert "Patients analysed\nn = 23\nof whom kept despite QC flag: 2" in texts
    sides = [t for t in texts if t.startswith("Excluded")]
    assert sides == ["Excluded at ingest (01)  n = 3\n  no CT: 2\n  no follow-up: 1",
                     "Excluded by segmentation QC (02)  n = 4\n  CT field of view too small: 4"]
