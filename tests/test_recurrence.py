"""Recurrence sites -> stations, Table 5, Appendix 2, Wilson intervals (hand-computed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import paper
from analysis import recurrence as rc
from analysis.grid import Grid
from analysis.labels import STATION_LABEL, STATIONS
from analysis.stats.intervals import wilson_interval


def test_wilson_interval_by_hand():
    """k = 5, n = 10: centre 0.5, half-width 1.959964 * sqrt(0.025 + 0.0096040)
    / 1.384146 = 0.263407 -> (0.236593, 0.763407), as R
    ``prop.test(5, 10, correct = FALSE)$conf.int`` (0.2365931 0.7634069).
    k = 0, n = 10: upper 0.2775328 (R ``binom::binom.wilson(0, 10)``). atol 1e-6."""
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2365931, 0.7634069), abs=1e-6)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775328, abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775328, abs=1e-6)
    with pytest.raises(ValueError, match="n must be >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="k must lie"):
        wilson_interval(4, 3)


@pytest.fixture
def phantom8():
    """8^3 grid, 2 mm voxels (z, y, x spacing 2, 2, 2), origin (0, 0, 0).
    4R (label 7) fills x 0-1 of every voxel with z 0-1, y 0-1; 10R (label 13) is the
    single voxel (z, y, x) = (6, 6, 6). Gross tumour: voxel (6, 6, 6) (10R involved)."""
    lab = np.zeros((8, 8, 8), np.uint8)
    lab[0:2, 0:2, 0:2] = STATION_LABEL["4R"]
    lab[6, 6, 6] = STATION_LABEL["10R"]
    gross = np.zeros_like(lab, bool)
    gross[6, 6, 6] = True
    return lab, gross, Grid((8, 8, 8), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))


def test_assign_sites_inside_nearest_outside(phantom8):
    lab, gross, grid = phantom8
    pts = np.array([
        [1.0, 1.0, 1.0],     # half-way between 4R voxel centres: inside 4R
        [12.0, 12.0, 16.0],  # z index 8: outside the grid, 4 mm above 10R (k-d tree)
        [12.0, 12.0, 8.0],   # voxel (4, 6, 6): 2 voxels = 4 mm below 10R -> nearest
        [8.0, 8.0, 2.0],     # voxel (1, 4, 4): nearest 4R voxel (1, 1, 1): 6*sqrt(2) mm
    ])
    out = rc.assign_sites(pts, lab, grid, tolerance_mm=5.0, gross=gross)
    assert out["station"].tolist() == ["4R", "10R", "10R", rc.OUTSIDE]
    assert out["how"].tolist() == ["inside", "nearest within tolerance",
                                   "nearest within tolerance", "outside"]
    assert out["in_grid"].tolist() == [True, False, True, True]
    np.testing.assert_allclose(out["distance_mm"], [0.0, 4.0, 4.0, 6 * np.sqrt(2)],
                               rtol=1e-12)
    assert out["gtv_affected"].tolist() == [False, True, True, False]
    # a smaller tolerance leaves the 4 mm sites outside
    out = rc.assign_sites(pts, lab, grid, tolerance_mm=3.9)
    assert out["station"].tolist() == ["4R", rc.OUTSIDE, rc.OUTSIDE, rc.OUTSIDE]
    with pytest.raises(ValueError, match="patient P7"):
        rc.assign_sites(pts, lab[:4], grid, 5.0, who="P7")


def test_involved_and_rctv(phantom8):
    lab, gross, _ = phantom8
    assert rc.involved_stations(lab, gross) == {STATION_LABEL["10R"]}
    ctv = np.zeros_like(gross)
    ctv[0, 0:2, 0:2] = True  # half of 4R's 8 voxels
    r = rc.rctv_per_station(lab, ctv)
    assert r["RctvLN_7"] == 0.5 and r["RctvLN_13"] == 0.0 and r["RctvLN_1"] == 0.0


def _sites() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": ["a", "a", "b", "c", "c"],
        "station": ["10R", "4R", "10R", "7", rc.OUTSIDE],
        "gtv_affected": [True, False, True, False, False],
        "distance_mm": [0.0, 0.0, 2.0, 0.0, 22.0],
    })


def test_table5_by_hand():
    rctv = pd.DataFrame(0.0, index=["a", "b", "c", "d"],
                        columns=[f"RctvLN_{i}" for i in range(1, 17)])
    rctv.loc["a", "RctvLN_13"], rctv.loc["b", "RctvLN_13"] = 0.2, 0.6
    rctv.loc["a", "RctvLN_7"] = 0.9
    t = rc.table5(_sites(), rctv)
    assert list(t.index) == list(STATIONS) + [rc.OUTSIDE, "Total"]
    assert t.loc["10R", "n"] == 2 and t.loc["10R", "gtv_affected"] == 2
    assert t.loc["10R", "rctv_mean"] == pytest.approx(0.4)
    assert (t.loc["10R", "rctv_min"], t.loc["10R", "rctv_max"]) == (0.2, 0.6)
    assert t.loc["4R", "ctv_gtv"] == 1 and t.loc["4R", "rctv_mean"] == 0.9
    assert t.loc["2L", "note"] == "no recurrence"
    assert t.loc[rc.OUTSIDE, "n"] == 1
    assert t.loc["Total", "n"] == 5 and t.loc["Total", "paper_n"] == 170
    assert t.loc["Total", "gtv_affected"] + t.loc["Total", "ctv_gtv"] == 4
    assert (t.loc["Total", "paper_gtv_affected"], t.loc["Total", "paper_ctv_gtv"]) == (105, 65)
    assert t.loc["10R", "paper_n"] == paper.TABLE5["10R"][0]
    assert t.loc["5", "paper_rctv_range"] == "0.73-1"
    # the paper's own totals are consistent: 105 GTV affected + 65 CTV-GTV = 170
    assert t.loc["Total", "paper_gtv_affected"] + t.loc["Total", "paper_ctv_gtv"] == 170


def test_top_share():
    s = rc.top_share(_sites())
    assert (s["sites_in_stations"], s["sites_total"]) == (4, 5)
    assert s["paper_sites_in_stations"] == 115 and s["paper_share"] == pytest.approx(0.6765,
                                                                                     abs=1e-4)


def test_appendix2_by_hand():
    involved = pd.DataFrame(False, index=["a", "b", "c", "d"], columns=list(STATIONS))
    involved.loc[["a", "b", "d"], "10R"] = True
    involved.loc[["c"], "7"] = True
    recurred = pd.Series({"a": True, "b": True, "c": True, "d": False})
    t = rc.appendix2(involved, _sites(), recurred)
    assert (t.loc["10R", "n_involved"], t.loc["10R", "n_same"], t.loc["10R", "n_any"]) == \
        (3, 2, 2)
    assert (t.loc["10R", "same_lower"], t.loc["10R", "same_upper"]) == \
        wilson_interval(2, 3)
    assert t.loc["7", "rate_same"] == 1.0
    assert t.loc["1R", "note"] == "never initially involved: no rate"
    assert t.loc["10R", "paper_rate"] == "100.0%"
    assert t.loc["4R", "paper_rate"].startswith("41.6%-45.5%")


@pytest.mark.parametrize("spacing_mm", [(2.0, 2.0, 2.0), (5.0, 1.5, 1.5)])
def test_cropped_transform_equals_whole_volume(spacing_mm):
    """nearest_station_at (crop) gives the whole-volume station_distance_map's distance
    AND label at every query voxel, over 40 random cases with equal spacings (many ties
    between stations at the same distance). Fault injected once (crop = the stations'
    box only, queries outside it clipped to its face): all 6 distances of the first
    case differ (e.g. 3.46 vs 7.48 mm) and the test fails."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        lab = np.zeros((12, 14, 16), np.uint8)
        for _ in range(rng.integers(2, 6)):
            z0, y0, x0 = rng.integers([3, 4, 5], [8, 9, 11])
            dz, dy, dx = rng.integers(1, 4, size=3)
            lab[z0:z0 + dz, y0:y0 + dy, x0:x0 + dx] = rng.integers(1, 17)
        q = np.stack([rng.integers(0, n, 6) for n in lab.shape], axis=1)
        dist, near = rc.station_distance_map(lab, spacing_mm)
        d, n = rc.nearest_station_at(lab, spacing_mm, q)
        np.testing.assert_array_equal(d, dist[tuple(q.T)])
        np.testing.assert_array_equal(n, near[tuple(q.T)])
    with pytest.raises(ValueError, match="holds no station"):
        rc.nearest_station_at(np.zeros((3, 3, 3), np.uint8), spacing_mm, q[:1] % 3)


def test_bench_case_before_and_after_the_crop_agree():
    """The recurrence benchmark's two routes give the same table on a small grid (no
    timing): a site inside 10R, one 4 mm outside it (assigned), one 30 mm away."""
    from analysis.bench.partition import synthetic_case
    from analysis.bench.recurrence import _sites

    _, gtv, gtvnd, st, sp = synthetic_case((40, 128, 128), (5.0, 2.0, 2.0))
    grid = Grid(st.shape, sp)
    pts = _sites(st, sp, grid)
    whole = rc.assign_sites(pts, st, grid, 10.0, gross=gtv | gtvnd,
                            distance_maps=rc.station_distance_map(st, sp))
    crop = rc.assign_sites(pts, st, grid, 10.0, gross=gtv | gtvnd)
    pd.testing.assert_frame_equal(whole, crop)
    assert crop["how"].tolist() == ["inside", "nearest within tolerance", "outside"]
    assert crop["distance_mm"].iloc[1] == pytest.approx(4.0, abs=1e-12)  # 2 voxels of 2 mm
