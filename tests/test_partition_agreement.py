"""AI vs reference stations: the 110 parameters' agreement (analysis.partition.agreement).

Tiny synthetic cohorts (8 patients on 10 x 12 x 12 voxels) so every test runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.labels import FEATURE_NAMES, STATION_LABEL
from analysis.partition import partition_table
from analysis.partition.agreement import (
    agreement_summary,
    feature_agreement,
    feature_family,
    icc_heatmap,
    observer_agreement,
    perturb_stations,
    robustness_table,
    shift_mask,
    shift_station,
)

SPACING = (2.0, 2.0, 2.0)
ST7 = STATION_LABEL["7"]  # label 11
ST4R = STATION_LABEL["4R"]


def _cohort(n: int = 8) -> dict[str, tuple]:
    """n patients: station 7 a 4 x 4 x 4 box, 4R a box beside it; the CTV reaches a
    patient-specific depth ``w`` into y (so RctvLN_11 differs between patients); a small
    GTV inside the CTV."""
    out = {}
    for i in range(n):
        st = np.zeros((10, 12, 12), dtype=np.uint8)
        st[3:7, 4:8, 4:8] = ST7
        st[3:7, 4:8, 8:11] = ST4R
        ctv = np.zeros(st.shape, dtype=bool)
        w = 3 + i % 6  # 3..8
        ctv[2:8, 2:2 + w + (i // 6), 2:10] = True
        gtv = np.zeros(st.shape, dtype=bool)
        gtv[4:6, 3:5, 3:5] = True
        out[f"P{i:02d}"] = (ctv, gtv, np.zeros(st.shape, dtype=bool), st, SPACING)
    return out


def _features(cohort: dict[str, tuple]) -> pd.DataFrame:
    return partition_table(cohort, scheduler="serial").features


def test_feature_family():
    assert feature_family("RctvLN_11") == ("RctvLN", "7")
    assert feature_family("RIcmgLN_1") == ("RIcmgLN", "1R")
    assert feature_family("CTV_overlaps_4L") == ("CTV_overlaps", "4L")
    assert feature_family("GTV_size_cm") == ("scalar", "")
    assert feature_family("n_LN_CTV") == ("scalar", "")


def test_shift_mask_by_hand():
    """A 1-voxel mask moved by (0, 1, -1) lands one voxel later in y, earlier in x; moved
    off the grid it is gone (no wrap-around)."""
    m = np.zeros((2, 3, 3), dtype=bool)
    m[1, 1, 1] = True
    got = shift_mask(m, (0, 1, -1))
    assert got.sum() == 1 and got[1, 2, 0]
    assert not shift_mask(m, (0, 2, 0)).any()
    assert (shift_mask(m, (0, 0, 0)) == m).all()


def test_icc_falls_as_the_ai_station_shifts():
    """Planted truth: the AI map is the reference with station 7 moved by k voxels in y.

    At k = 0 every parameter of station 7 has ICC 1 (or is constant); as k grows the
    ICC of its CTV coverage RctvLN_11 falls strictly: measured 1.0, 0.8091, 0.5188,
    0.2734 for k = 0..3. Station 1R (absent, constant) is unaffected.

    Fault injected: ``feature_agreement`` comparing the reference with itself (``y = x``)
    -> ICC 1.0 at every shift, and the strict fall fails."""
    cohort = _cohort()
    ref = _features(cohort)
    iccs = []
    for k in range(4):
        ai_cohort = {p: (*v[:3], shift_station(v[3], ST7, (0, k, 0)), v[4])
                     for p, v in cohort.items()}
        table = feature_agreement(ref, _features(ai_cohort))
        st7 = table[table["station"] == "7"]
        if k == 0:
            assert ((st7["icc"] == 1.0) | st7["icc"].isna()).all()
            assert np.allclose(st7["ccc"].dropna(), 1.0, atol=1e-12)
            assert (st7["ba_bias"] == 0).all()
        iccs.append(float(table.loc[f"RctvLN_{ST7}", "icc"]))
        assert np.isnan(table.loc["RctvLN_1", "icc"])  # 1R absent: constant 0, undefined
    assert iccs[0] == 1.0
    assert all(a > b for a, b in zip(iccs, iccs[1:], strict=False)), iccs
    assert iccs[-1] < 0.5


def test_identical_maps_agree_perfectly():
    """AI == reference: every parameter with between-patient variance has ICC 1, CCC 1,
    Bland-Altman bias 0 and limits (0, 0); the shares at every band are 1."""
    ref = _features(_cohort())
    table = feature_agreement(ref, ref.copy())
    defined = table["icc"].notna()
    assert defined.sum() >= 5
    assert (table.loc[defined, "icc"] == 1.0).all()
    assert (table["ba_bias"] == 0).all() and (table["ba_loa_upper"] == 0).all()
    summ = agreement_summary(table, "family")
    assert (summ.loc["all", ["share_icc_ge_0.9", "share_icc_ge_0.75", "share_icc_ge_0.5"]]
            == 1.0).all()
    assert summ.loc["all", "n_parameters"] == 110
    assert summ.loc["all", "n_constant"] == int((~defined).sum())


def test_summary_shares_by_hand():
    """Four parameters with ICC 0.95, 0.8, 0.6, 0.3 in one family: shares 1/4, 2/4, 3/4
    at 0.9, 0.75, 0.5; a fifth, constant, is counted apart."""
    t = pd.DataFrame({"family": ["RctvLN"] * 5, "station": ["1R", "1L", "2R", "2L", "3A"],
                      "icc": [0.95, 0.8, 0.6, 0.3, np.nan]},
                     index=[f"RctvLN_{i}" for i in range(1, 6)])
    s = agreement_summary(t, "family").loc["RctvLN"]
    assert (s["n_parameters"], s["n_constant"]) == (5, 1)
    assert (s["share_icc_ge_0.9"], s["share_icc_ge_0.75"], s["share_icc_ge_0.5"]) == \
        (0.25, 0.5, 0.75)
    assert s["median_icc"] == pytest.approx(0.7, abs=1e-12)
    by_st = agreement_summary(t, "station")
    assert by_st.loc["3A", "n_constant"] == 1 and np.isnan(by_st.loc["3A", "median_icc"])


def test_second_observer_is_seeded_and_moves_boundaries():
    """Same seed, same observer; every station keeps at least one voxel; with no
    dilation/erosion and no shift the map is returned unchanged."""
    st = _cohort(1)["P00"][3]
    a = perturb_stations(st, SPACING, np.random.default_rng(3))
    b = perturb_stations(st, SPACING, np.random.default_rng(3))
    assert (a == b).all()
    assert set(np.unique(a)) == set(np.unique(st))
    same = perturb_stations(st, SPACING, np.random.default_rng(3), max_shift_mm=0.0,
                            dilate_erode_vox=0)
    assert (same == st).all()
    moved = [int((perturb_stations(st, SPACING, np.random.default_rng(s)) != st).sum())
             for s in range(5)]
    assert max(moved) > 0


def test_observer_agreement_and_floor():
    """Observers identical to the reference: observer ICC 1 wherever defined; an AI
    table with ICC 0.5 on those parameters is below the floor."""
    ref = _features(_cohort())
    obs = observer_agreement(ref, [ref.copy(), ref.copy()])
    defined = obs["observer_icc"].notna()
    assert (obs.loc[defined, "observer_icc"] == 1.0).all()
    ai = feature_agreement(ref, ref.copy())
    ai.loc[defined, "icc"] = 0.5
    rob = robustness_table(ai, obs)
    assert not rob.loc[defined, "ai_within_observer"].astype(bool).any()
    assert rob.loc[defined, "robust"].all()


def test_heatmap_draws_families_by_station():
    ref = _features(_cohort())
    fig = icc_heatmap(feature_agreement(ref, ref.copy()))
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (7, 16)
    assert list(FEATURE_NAMES).index(f"RctvLN_{ST7}") == ST7 - 1
    assert img[0, ST7 - 1] == 1.0
