"""partition_table: a cohort -> (patients x 110), from arrays or a cohort store; failures
reported, results cached by input hash, Parquet and CSV written."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import partition as P
from analysis.grid import Grid
from analysis.labels import FEATURE_NAMES, STATION_LABEL
from analysis.store import CohortStore

SPACING = (2.0, 1.5, 1.5)


def patient(shift: int = 0):
    """A 3 x 5 x 5 case: LN_7 block (8 voxels); CTV covers it and one voxel more;
    primary a 2-voxel line; the whole thing shifted ``shift`` voxels along x."""
    st = np.zeros((3, 5, 5), np.uint8)
    st[0:2, 1:3, 1 + shift:3 + shift] = STATION_LABEL["7"]
    ctv = st > 0
    ctv[0, 0, 1 + shift] = True
    gtv = np.zeros(st.shape, bool)
    gtv[2, 4, shift:shift + 2] = True
    gtvnd = np.zeros(st.shape, bool)
    gtvnd[0, 1, 1 + shift] = True
    return ctv, gtv, gtvnd, st, SPACING


def items():
    ctv, gtv, gtvnd, st, sp = patient()
    return {
        "P002": patient(1),
        "P001": patient(0),
        "P003": (ctv, gtv[:, :, :4], gtvnd, st, sp),  # a mask on another grid
    }


def test_mapping_source_rows_columns_and_failures():
    with pytest.warns(P.PartitionWarning, match="1 patient"):
        table = P.partition_table(items())
    assert list(table.features.columns) == list(FEATURE_NAMES)
    assert table.features.index.name == "pid"
    assert list(table.features.index) == ["P001", "P002"]  # sorted, failure left out ...
    assert list(table.failures.index) == ["P003"]  # ... but reported, with the reason
    assert "gtv" in table.failures.loc["P003", "error"]
    assert "(3, 5, 4)" in table.failures.loc["P003", "error"]
    # hand check: RctvLN_11 = 8 / 8; RgtvLN_11 = 1 GTVnd voxel / 8; CTV_volume 8 + 1
    for pid in ("P001", "P002"):
        row = table.features.loc[pid]
        assert row["RctvLN_11"] == 1.0
        assert row["RgtvLN_11"] == pytest.approx(1 / 8, abs=1e-12)  # exact ratio
        assert row["CTV_volume"] == 9
    # the same values as the function on one patient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        one = P.partition_parameters(*patient(1)[:4], SPACING)
    np.testing.assert_array_equal(table.features.loc["P002"].to_numpy(), one.to_numpy())
    # every station but 7 is absent: recorded per patient
    assert (table.warnings["pid"] == "P001").any()
    assert table.warnings["warning"].str.contains("absent").any()
    assert set(table.volumes.columns) >= {"CTV_cm3", "ideaCTV_cm3"}


def test_written_files_read_back(tmp_path):
    with pytest.warns(P.PartitionWarning):
        table = P.partition_table(items(), out_dir=tmp_path)
    back = P.read_partition_features(tmp_path)
    pd.testing.assert_frame_equal(back, table.features)
    csv = pd.read_csv(tmp_path / P.FEATURES_CSV, index_col="pid", float_precision="round_trip")
    np.testing.assert_array_equal(csv.to_numpy(), table.features.to_numpy())
    assert list(csv.columns) == list(FEATURE_NAMES)
    fails = pd.read_parquet(tmp_path / "partition_failures.parquet")
    assert list(fails.index) == ["P003"]


def test_cache_by_input_hash(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    good = {k: v for k, v in items().items() if k != "P003"}
    first = P.partition_table(good, cache_dir=cache)
    assert first.n_computed == 2 and first.n_loaded == 0

    def boom(*args, **kwargs):
        raise AssertionError("recomputed although the inputs did not change")

    monkeypatch.setattr(P.run, "partition_parameters", boom)
    second = P.partition_table(good, cache_dir=cache)
    assert second.n_loaded == 2 and second.n_computed == 0
    pd.testing.assert_frame_equal(second.features, first.features)
    # a changed input (one more CTV voxel) or another definition is computed again
    monkeypatch.undo()
    ctv, gtv, gtvnd, st, sp = good["P001"]
    ctv = ctv.copy()
    ctv[2, 0, 0] = True
    third = P.partition_table({**good, "P001": (ctv, gtv, gtvnd, st, sp)}, cache_dir=cache)
    assert third.n_computed == 1 and third.n_loaded == 1
    assert third.features.loc["P001", "CTV_volume"] == 10
    fourth = P.partition_table(good, cache_dir=cache, gtv_definition="primary")
    assert fourth.n_computed == 2


def test_job_hash_depends_on_content_spacing_definition():
    ctv, gtv, gtvnd, st, sp = patient()
    base = P.PartitionJob("union", "P1", arrays=(ctv, gtv, gtvnd, st, sp))
    same = P.PartitionJob("union", "P1", arrays=(ctv.copy(), gtv, gtvnd, st, list(sp)))
    assert P.run.job_hash(base) == P.run.job_hash(same)
    other_sp = P.PartitionJob("union", "P1", arrays=(ctv, gtv, gtvnd, st, (2.0, 1.5, 1.4)))
    other_def = P.PartitionJob("primary", "P1", arrays=(ctv, gtv, gtvnd, st, sp))
    st2 = st.copy()
    st2[2, 4, 4] = 1
    other_st = P.PartitionJob("union", "P1", arrays=(ctv, gtv, gtvnd, st2, sp))
    hashes = {P.run.job_hash(j) for j in (base, other_sp, other_def, other_st)}
    assert len(hashes) == 4


def make_store(root, with_pred: tuple[str, ...] = ("P001",)) -> CohortStore:
    store = CohortStore(root)
    grid = Grid((3, 5, 5), SPACING, (0.0, 0.0, 0.0))
    for pid, shift in (("P001", 0), ("P002", 1)):
        ctv, gtv, gtvnd, st, _ = patient(shift)
        store.write_meta(pid, {"grid": grid.to_dict()})
        for name, arr in (("ctv", ctv), ("gtv", gtv), ("gtvnd", gtvnd),
                          ("stations_ref", st)):
            store.write(pid, name, arr, grid)
        if pid in with_pred:
            store.write(pid, "stations_pred", st, grid)
    store.write_table("cohort", pd.DataFrame({"center": ["x", "x"]},
                                             index=pd.Index(["P001", "P002"], name="pid")))
    store.write_table("screening", pd.DataFrame({
        "pid": ["P001", "P002"], "included": [True, True], "reason": ["", ""],
        "reason_code": ["", ""]}))
    return store


def test_store_source_reference_and_missing_predicted(tmp_path):
    store = make_store(tmp_path / "store")
    table = P.partition_table(store, stations="reference", out_dir=store.root,
                              cache_dir=store.root / "cache" / "partition")
    assert list(table.features.index) == ["P001", "P002"] and table.failures.empty
    assert (store.root / "partition_features.parquet").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        want = P.partition_parameters(*patient(0)[:4], SPACING)
    np.testing.assert_array_equal(table.features.loc["P001"].to_numpy(), want.to_numpy())
    # predicted maps: P002 has none -> reported as a failure, P001 still computed
    with pytest.warns(P.PartitionWarning, match="1 patient"):
        pred = P.partition_table(store, stations="predicted")
    assert list(pred.features.index) == ["P001"]
    assert "stations_pred" in pred.failures.loc["P002", "error"]
    assert P.run.missing_station_maps(store, "predicted") == ["P002"]


def test_for_params_lists_patients_without_the_chosen_map(tmp_path):
    from analysis.params import load_params

    params = load_params("params/ci.yaml")
    params = params.model_copy(update={
        "scheduler": "serial",
        "analysis": params.analysis.model_copy(update={"stations": "predicted"})})
    store = make_store(tmp_path / "store")
    one = P.ledger_partition_table(store, params)
    assert list(one.features.index) == ["P001"]
    assert one.ledger.table.loc["P002", "step"] == "03_partition"
    assert "no stations_pred" in one.ledger.table.loc["P002", "reason"]
    store2 = make_store(tmp_path / "store2", with_pred=("P001", "P002"))
    table = P.ledger_partition_table(store2, params)
    assert len(table.features) == 2
    assert (store2.root / P.FEATURES_PARQUET).exists()
    assert any((store2.root / "cache" / "partition").iterdir())


def test_processes_scheduler_gives_the_same_table():
    good = {k: v for k, v in items().items() if k != "P003"}
    serial = P.partition_table(good, scheduler="serial")
    pool = P.partition_table(good, scheduler="processes", n_workers=2)
    pd.testing.assert_frame_equal(pool.features, serial.features)
