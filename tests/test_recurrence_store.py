"""The per-patient wrapper of 04_recurrence on a tiny cohort store built in tmp_path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import recurrence as rc
from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.parallel import map_patients
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


def test_choose_stations(store):
    name, why = rc.choose_stations(store, ["A", "B"])
    assert name == "stations_ref" and "1/2" in why
    assert rc.choose_stations(store, ["A"])[0] == "stations_pred"


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
