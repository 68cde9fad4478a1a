"""The per-patient wrapper of 04_recurrence on a tiny cohort store built in tmp_path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import recurrence as rc
from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.ledger import LedgerError, build_ledger, write_ledger
from analysis.scheduling.parallel import map_patients
from analysis.store import CohortStore


@pytest.fixture
def store(tmp_path) -> CohortStore:
    """Two patients on an 8^3 grid of 2 mm voxels, origin (-8, -8, -8) mm.
    A: 4R = voxels z 0-1, y 0-1, x 0-1; 10R = (6, 6, 6); gross tumour in 10R;
       CTV = every 4R voxel with z = 0 (RctvLN_7 = 0.5). Only A has predicted maps.
    B: same maps, no gross tumour in any station."""
    s = CohortStore(tmp_path / "store")
    grid = Grid((8, 8, 8), (2.0, 2.0, 2.0), (-8.0, -8.0, -8.0))
    lab = np.zeros((8, 8, 8), np.uint8)
    lab[0:2, 0:2, 0:2] = STATION_LABEL["4R"]
    lab[6, 6, 6] = STATION_LABEL["10R"]
    for pid, gross_in_10r in (("A", True), ("B", False)):
        s.write_meta(pid, {"grid": grid.to_dict()})
        gtv = np.zeros((8, 8, 8), bool)
        gtv[(6, 6, 6) if gross_in_10r else (4, 4, 4)] = True
        ctv = np.zeros_like(gtv)
        ctv[0, 0:2, 0:2] = True
        s.write(pid, "gtv", gtv, grid)
        s.write(pid, "gtvnd", np.zeros_like(gtv), grid)
        s.write(pid, "ctv", ctv, grid)
        s.write(pid, "stations_ref", lab, grid)
    s.write("A", "stations_pred", lab, grid)
    s.write_table("cohort", pd.DataFrame({"lc_event": [1, 1]}, index=pd.Index(["A", "B"],
                                                                              name="pid")))
    return s


def test_sites_through_the_store(store):
    # voxel (z, y, x) = (6, 6, 6) is at LPS (x, y, z) = (4, 4, 4) mm: 10R
    rec = pd.DataFrame({"pid": ["A", "B"], "site_no": [1, 1],
                        "x_mm": [4.0, 4.0], "y_mm": [4.0, 4.0], "z_mm": [4.0, 4.0]})
    items = rc.site_items(store.root, rec, ["A", "B"], "stations_ref", 5.0)
    res = map_patients(rc.patient_sites, items, scheduler="serial")
    assert res.failures == {}
    sites, involved, rctv = rc.collect_sites(res.results)
    assert sites["station"].tolist() == ["10R", "10R"]
    assert sites["gtv_affected"].tolist() == [True, False]
    assert involved.loc["A", "10R"] and not involved.loc["B"].any()
    assert rctv.loc["A", "RctvLN_7"] == 0.5
    t5 = rc.table5(sites, rctv)
    assert (t5.loc["10R", "n"], t5.loc["10R", "gtv_affected"], t5.loc["10R", "ctv_gtv"]) == \
        (2, 1, 1)
    with pytest.raises(ValueError, match="not in the cohort"):
        rc.site_items(store.root, rec.assign(pid=["A", "Z"]), ["A", "B"], "stations_ref", 5.0)


def test_failures_are_numbered_not_identified(store):
    rec = pd.DataFrame({"pid": ["A"], "site_no": [1], "x_mm": [4.0], "y_mm": [4.0],
                        "z_mm": [4.0]})
    items = rc.site_items(store.root, rec, ["A", "B"], "stations_pred", 5.0)
    res = map_patients(rc.patient_sites, items, scheduler="serial")
    assert list(res.failures) == ["B"]  # B has no predicted maps
    tab = rc.failure_table(res.failures)
    assert tab["patient"].tolist() == [1]
    assert "patient #1: no stations_pred" in tab.loc[0, "error"]


def test_rctv_per_station_is_partitions_rctv():
    """RctvLN_i of 04 (no partition table) equals 03's, bit for bit, on a random case:
    both now come from partition's count table. Fault injected once: a recurrence-own
    formula dividing by the CTV volume instead of |LN_i| -> RctvLN_1 0.0441 vs 0.3
    (all 16 differ)."""
    from analysis import partition as P

    rng = np.random.default_rng(3)
    lab = rng.integers(0, 17, size=(6, 7, 8)).astype(np.uint8)
    ctv = rng.random(lab.shape) < 0.4
    none = np.zeros(lab.shape, bool)
    ref = P.partition_parameters_reference(ctv, none, none, lab, (1.0, 1.0, 1.0))
    got = rc.rctv_per_station(lab, ctv)
    assert list(got) == [f"RctvLN_{i}" for i in range(1, 17)]
    np.testing.assert_array_equal(np.array(list(got.values())),
                                  ref[list(got)].to_numpy())


def _params(stations: str = "reference"):
    from analysis.params import load_params

    p = load_params("params/ci.yaml")
    return p.model_copy(update={
        "scheduler": "serial",
        "analysis": p.analysis.model_copy(update={"stations": stations}),
        "recurrence": p.recurrence.model_copy(update={"tolerance_mm": 5.0})})


def _ledger(store, stations: str = "reference"):
    """Write the analysis ledger 03_partition would write, and return the params."""
    params = _params(stations)
    write_ledger(store, build_ledger(store, params))
    return params


def _recurrences() -> pd.DataFrame:
    # both sites at voxel (6, 6, 6) = LPS (4, 4, 4) mm: station 10R
    return pd.DataFrame({"pid": ["A", "B"], "site_no": [1, 1], "x_mm": [4.0, 4.0],
                         "y_mm": [4.0, 4.0], "z_mm": [4.0, 4.0]})


def test_recurrence_analysis_skips_without_recurrence_table(store):
    res = rc.recurrence_analysis(store, _ledger(store))
    assert res.skipped and "No recurrence sites" in res.skip_reason
    assert res.outputs == [] and res.get(rc.run.TABLE5) is None
    assert "No recurrence sites" in res.report()


def test_recurrence_analysis_skips_without_images(tmp_path):
    s = CohortStore(tmp_path / "bare")
    s.write_table("cohort", pd.DataFrame({"lc_event": [1]}, index=pd.Index(["A"],
                                                                           name="pid")))
    s.write_table("recurrences", _recurrences().iloc[:1])
    res = rc.recurrence_analysis(s, _params())
    assert res.skipped and "no images in the cohort store" in res.skip_reason


def test_recurrence_analysis_on_a_tiny_store(store, tmp_path):
    """Hand check: both sites in 10R; A's gross tumour sits in 10R, B's does not, so
    GTV affected 1, CTV-GTV 1; RctvLN_13 (10R) = 0 from the maps (CTV only in 4R),
    0.75 once 03's feature table says so; predicted maps: B has none, so the ledger
    leaves B out and Table 5 holds A's one site only (no site of an excluded patient).
    Without a ledger (03 not run) the step refuses with a message naming 03."""
    store.write_table("recurrences", _recurrences())
    with pytest.raises(LedgerError, match="03_partition"):
        rc.recurrence_analysis(store, _params())
    res = rc.recurrence_analysis(store, _ledger(store))
    assert not res.skipped and res.stations_name == "stations_ref"
    names = [o.name for o in res.outputs]
    assert names == [rc.run.SITE_ASSIGNMENT, rc.run.TABLE5, rc.run.TOP4_SHARE,
                     rc.run.STATION_MAP, rc.run.STATION_BARS, rc.run.APPENDIX2]
    t5 = res.get(rc.run.TABLE5)
    assert (t5.loc["10R", "n"], t5.loc["10R", "gtv_affected"], t5.loc["10R", "ctv_gtv"]) \
        == (2, 1, 1)
    assert t5.loc["10R", "rctv_mean"] == 0.0
    assert "computed here from stations_ref" in res.report()
    a2 = res.get(rc.run.APPENDIX2)
    assert (a2.loc["10R", "n_involved"], a2.loc["10R", "n_same"]) == (1, 1)
    # with 03's table, RctvLN_i is read from it (checked reader)
    from analysis.labels import FEATURE_NAMES

    feats = pd.DataFrame(0.0, index=pd.Index(["A", "B"], name="pid"),
                         columns=list(FEATURE_NAMES))
    feats["RctvLN_13"] = 0.75
    store.write_table("partition_features", feats)
    res2 = rc.recurrence_analysis(store, _ledger(store))
    assert res2.get(rc.run.TABLE5).loc["10R", "rctv_mean"] == 0.75
    assert "from partition_features.parquet" in res2.report()
    # a damaged table is an error, not a silent fallback
    store.write_table("partition_features", feats.drop(columns=["RctvLN_13"]))
    with pytest.raises(Exception, match="RctvLN_13"):
        rc.recurrence_analysis(store, _params())
    # predicted maps: only A has them -> the ledger leaves B out at 03; A's site alone
    store.write_table("partition_features", feats)
    with pytest.raises(LedgerError, match="other settings"):
        rc.recurrence_analysis(store, _params("predicted"))  # the ledger says reference
    res3 = rc.recurrence_analysis(store, _ledger(store, "predicted"))
    assert res3.stations_name == "stations_pred"
    assert rc.run.FAILURES not in [o.name for o in res3.outputs]
    assert res3.get(rc.run.TABLE5).loc["10R", "n"] == 1
    assert res3.sites["pid"].tolist() == ["A"]
    assert "1 site(s) of 1 patient(s) not analysed" in res3.report()
    # write: every output goes through Outputs, in order
    from analysis.outputs import Outputs

    out = Outputs("t", "04_recurrence", phantom=True, root=tmp_path / "reports")
    assert res.write(out) == names
    assert (tmp_path / "reports" / "t" / "tables" / f"{rc.run.TABLE5}.csv").exists()
    assert (tmp_path / "reports" / "t" / "figures" / f"{rc.run.STATION_MAP}.png").exists()
