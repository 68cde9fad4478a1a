"""Issue 25's glue on a tiny cohort store: which patients are compared, and identity
end to end (AI map = reference map) through 03's and 04's functions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.params import load_params
from analysis.partition.agreement import (
    FEATURE_ICC_TABLE,
    agreement_patients,
    station_agreement,
)
from analysis.recurrence.agreement import SITES_TABLE, recurrence_agreement
from analysis.store import CohortStore

GRID = Grid((10, 12, 12), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
PIDS = [f"P{i}" for i in range(6)]


def _store(root) -> CohortStore:
    """Six patients: P4 has no AI map, P5's AI map failed segmentation QC; station 7 a
    box, a CTV of patient-specific depth, one recurrence site inside station 7 for
    P0-P2 and one far outside every station for P3."""
    store = CohortStore(root)
    for i, pid in enumerate(PIDS):
        st = np.zeros(GRID.shape_zyx, np.uint8)
        st[3:7, 4:8, 4:8] = STATION_LABEL["7"]
        st[3:7, 4:8, 8:11] = STATION_LABEL["4R"]
        ctv = np.zeros(st.shape, bool)
        ctv[2:8, 2:5 + i, 2:10] = True
        gtv = np.zeros(st.shape, bool)
        gtv[4:6, 3:5, 3:5] = True
        store.write_meta(pid, {"grid": GRID.to_dict()})
        for name, arr in (("ctv", ctv), ("gtv", gtv), ("gtvnd", np.zeros_like(gtv)),
                          ("stations_ref", st)):
            store.write(pid, name, arr, GRID)
        if pid != "P4":
            store.write(pid, "stations_pred", st, GRID)
    store.write_table("cohort", pd.DataFrame({"lc_event": [1, 1, 1, 1, 0, 0]},
                                             index=pd.Index(PIDS, name="pid")))
    store.write_table("segment_qc", pd.DataFrame(
        {"usable": [p != "P5" for p in PIDS], "reasons": ["" if p != "P5" else "odd CT"
                                                          for p in PIDS]},
        index=pd.Index(PIDS, name="pid")))
    # LPS (x, y, z) mm of voxel (z 5, y 6, x 6) on an axial grid at the origin: inside 7
    store.write_table("recurrences", pd.DataFrame({
        "pid": ["P0", "P1", "P2", "P3"], "site_no": [1, 1, 1, 1],
        "x_mm": [12.0, 12.0, 12.0, 200.0], "y_mm": [12.0] * 3 + [200.0],
        "z_mm": [10.0] * 3 + [200.0]}))
    return store


def _params():
    p = load_params("params/ci.yaml")
    return p.model_copy(update={"scheduler": "serial"})


def test_identity_through_the_store(tmp_path):
    """AI map = reference map in the store: the patients compared are those 03 analyses
    that have both maps (P4 has no AI map, P5 failed QC); every parameter with variance
    has ICC 1 and the second observers' table is there; each site lies in the same
    station on both maps (7, 7, 7, outside): kappa 1, top-4 difference 0.
    Fault injected: ``agreement_patients`` ignoring segmentation QC -> P5 compared too,
    the first assertion fails."""
    store = _store(tmp_path / "store")
    params = _params()
    assert agreement_patients(store, params) == ["P0", "P1", "P2", "P3"]
    agree = station_agreement(store, params, cache=False)
    assert not agree.skipped, agree.report()
    defined = agree.table["icc"].notna()
    assert defined.sum() >= 5 and (agree.table.loc[defined, "icc"] == 1.0).all()
    assert len(agree.robustness) == 110
    agree.save(store)
    assert store.read_table(FEATURE_ICC_TABLE)["icc"].notna().sum() == defined.sum()
    ra = recurrence_agreement(store, params)
    assert not ra.skipped, ra.report()
    assert list(ra.paired["station_ref"]) == ["7", "7", "7", "outside stations"]
    assert ra.sites["kappa"] == 1.0 and ra.sites["same_station"] == 4
    assert ra.top4["difference"] == 0.0 and ra.top4["share_ref"] == 0.75
    assert (ra.appendix2["rate_same_difference"].dropna() == 0).all()
    ra.save(store)
    assert len(store.read_table(SITES_TABLE)) == 4
