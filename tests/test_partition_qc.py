"""03_partition with 02_segment's QC (issues #16, #21): patients whose predicted stations
failed QC are left out by default (the analysis ledger), listed with their reasons, and
counted in Figure 1; out-of-fold predictions (``analysis.stations: cv``) are read from
``stations_cv``; a patient without the chosen map leaves the analysis at 03 with its
reason instead of stopping the step."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import ledger as LEDGER
from analysis import partition as P
from analysis.grid import Grid
from analysis.store import CohortStore, StoreError

SPACING = (2.0, 1.5, 1.5)
GRID = Grid((3, 5, 5), SPACING, (0.0, 0.0, 0.0))


def _patient(shift: int = 0):
    """3 x 5 x 5: LN_7 block of 8 voxels (label 11 = station 7); CTV = the block + one
    voxel; primary GTV a 2-voxel line; one GTVnd voxel; shifted ``shift`` along x."""
    st = np.zeros((3, 5, 5), np.uint8)
    st[0:2, 1:3, 1 + shift:3 + shift] = 11
    ctv = st > 0
    ctv[0, 0, 1 + shift] = True
    gtv = np.zeros(st.shape, bool)
    gtv[2, 4, shift:shift + 2] = True
    gtvnd = np.zeros(st.shape, bool)
    gtvnd[0, 1, 1 + shift] = True
    return ctv, gtv, gtvnd, st


def make_store(root, *, qc: pd.DataFrame | None, pred_for=("P001", "P002", "P003"),
               cv_for=()) -> CohortStore:
    """Three included patients P001-P003 (two more screened and excluded at ingest)."""
    store = CohortStore(root)
    pids = ["P001", "P002", "P003"]
    for k, pid in enumerate(pids):
        ctv, gtv, gtvnd, st = _patient(k % 2)
        store.write_meta(pid, {"grid": GRID.to_dict()})
        for name, arr in (("ctv", ctv), ("gtv", gtv), ("gtvnd", gtvnd),
                          ("stations_ref", st)):
            store.write(pid, name, arr, GRID)
        if pid in pred_for:
            store.write(pid, "stations_pred", st, GRID)
        if pid in cv_for:
            cv = st.copy()
            cv[2] = 11  # the out-of-fold map adds a slice to station 7
            store.write(pid, "stations_cv", cv, GRID)
    store.write_table("cohort", pd.DataFrame({"center": ["x"] * 3},
                                             index=pd.Index(pids, name="pid")))
    store.write_table("screening", pd.DataFrame({
        "pid": pids + ["X1", "X2"], "included": [True] * 3 + [False] * 2,
        "reason": [""] * 3 + ["no follow-up", "no follow-up"],
        "reason_code": [""] * 3 + ["no_followup", "no_followup"]}))
    if qc is not None:
        store.write_table("segment_qc", qc)
    return store


def _qc(**unusable) -> pd.DataFrame:
    pids = ["P001", "P002", "P003"]
    return pd.DataFrame({"usable": [p not in unusable for p in pids],
                         "reasons": [unusable.get(p, "") for p in pids]},
                        index=pd.Index(pids, name="pid"))


def _params(stations: str = "predicted", include: bool = False):
    from analysis.params import load_params

    p = load_params("params/ci.yaml")
    return p.model_copy(update={"scheduler": "serial", "analysis": p.analysis.model_copy(
        update={"stations": stations, "include_qc_failed": include})})


def _run(store, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        return P.ledger_partition_table(store, params, cache=False)


def test_failed_qc_is_left_out_listed_and_counted(tmp_path):
    """P002 fails QC with two reasons, P003 fails with none given and has no predicted
    map at all (a failed segmentation need not write one): both left out, no error.
    Figure 1 by hand: 5 screened, 2 excluded at ingest, 3 included, 2 excluded by QC,
    0 partition failures, 1 analysed. Fault injected once (build_ledger ignoring the QC
    table): features of ["P001", "P002"] (P003 then leaves at 03 for its missing map),
    so the test fails."""
    qc = _qc(P002="3 of 16 stations found; CT HU outside the training range", P003="")
    store = make_store(tmp_path / "s", qc=qc, pred_for=("P001", "P002"))
    table = _run(store, _params())
    assert list(table.features.index) == ["P001"]
    assert list(table.excluded.index) == ["P002", "P003"]
    assert table.excluded.loc["P003", "reasons"] == "failed segmentation QC"
    ex = P.qc_exclusion_table(table)
    assert ex["patient"].tolist() == [1, 2]
    assert ex["reasons"].tolist()[0].startswith("3 of 16 stations found")
    assert not ex.astype(str).apply(lambda c: c.str.contains("P00")).any().any()
    f1 = P.figure1_after_qc(table)
    got = {(s, r): n for s, r, n in f1.itertuples(index=False)}
    assert got[("screened", "")] == 5
    assert got[("excluded at ingest (01)", "no follow-up")] == 2
    assert got[("excluded at ingest (01)", "total")] == 2
    assert got[("excluded by segmentation QC (02)",
                "segmentation QC: failed segmentation QC")] == 1
    assert got[("excluded by segmentation QC (02)", "total")] == 2
    assert got[("excluded at the partition step (03)", "total")] == 0
    assert got[("analysed", "")] == 1
    assert ("kept despite QC flag", f"{LEDGER.KEEP_PARAM}: true (counted in analysed)") \
        not in got
    # the ledger written once into the store says the same, per patient
    led = LEDGER.read_ledger(store, _params())
    assert led.analysed == ["P001"]
    assert led.table.loc["P002", "step"] == "02_segment"
    assert led.table.loc["X1", "step"] == "01_ingest"
    # the read-back of the store table holds the analysed patient only
    assert list(store.partition_features().index) == ["P001"]


def test_override_absent_table_and_reference_maps_leave_nobody_out(tmp_path):
    qc = _qc(P002="volume outlier: 7")
    store = make_store(tmp_path / "s", qc=qc)
    kept = _run(store, _params(include=True))
    assert list(kept.features.index) == ["P001", "P002", "P003"] and kept.excluded.empty
    assert kept.ledger.table.loc["P002", "kept_by"] == LEDGER.KEEP_PARAM
    f1 = P.figure1_after_qc(kept)
    got = {(s, r): n for s, r, n in f1.itertuples(index=False)}
    assert got[("kept despite QC flag", f"{LEDGER.KEEP_PARAM}: true (counted in analysed)")] \
        == 1 and got[("analysed", "")] == 3
    ref = _run(store, _params(stations="reference"))
    assert len(ref.features) == 3 and ref.excluded.empty
    bare = make_store(tmp_path / "bare", qc=None)
    assert len(_run(bare, _params()).features) == 3
    # the override with a QC-failed patient lacking its map: it leaves at 03, named
    store2 = make_store(tmp_path / "s2", qc=_qc(P003="no stations"),
                        pred_for=("P001", "P002"))
    t2 = _run(store2, _params(include=True))
    assert list(t2.features.index) == ["P001", "P002"]
    assert t2.ledger.table.loc["P003", "step"] == "03_partition"
    assert "no stations_pred" in t2.ledger.table.loc["P003", "reason"]
    # a QC table without the agreed columns is an error naming them
    make_store(tmp_path / "s3", qc=pd.DataFrame({"ok": [True]}, index=pd.Index(
        ["P001"], name="pid")))
    with pytest.raises(StoreError, match="usable, reasons"):
        LEDGER.build_ledger(CohortStore(tmp_path / "s3"), _params())


def test_cv_reads_the_out_of_fold_maps(tmp_path):
    """``stations: cv`` computes from ``stations_cv``: there station 7 has 8 + 25 = 33
    voxels (one whole 5 x 5 slice added), so RctvLN_11 = |CTV ∩ LN_7| / 33 = 8 / 33
    for P001 (the CTV voxel at (0, 0, 1) lies outside the station in both maps)."""
    store = make_store(tmp_path / "s", qc=None, cv_for=("P001", "P002", "P003"))
    table = _run(store, _params(stations="cv"))
    assert table.features.loc["P001", "RctvLN_11"] == pytest.approx(8 / 33, abs=1e-12)
    pred = _run(store, _params(stations="predicted"))
    assert pred.features.loc["P001", "RctvLN_11"] == 1.0
    store2 = make_store(tmp_path / "s2", qc=None, cv_for=("P001",))
    t2 = _run(store2, _params(stations="cv"))
    assert list(t2.features.index) == ["P001"]
    why = t2.ledger.table.loc[["P002", "P003"], "reason"]
    assert why.str.contains("no stations_cv").all() and why.str.contains("cv_folds").all()
