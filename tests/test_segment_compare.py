"""The model comparison's pieces against hand-computed values: which stations are near
the tumour, the paired bootstrap, and the phantom's ceiling predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.segment.compare import near_stations, paired_bootstrap, summarise, verdict


def test_near_stations_by_hand():
    """1D row of 4 mm voxels: tumour at x = 0; station 7 starts at x = 2 (8 mm away),
    station 4R at x = 5 (20 mm). At 10 mm only 7 is near.

    Injected fault (once): ``d <= near_mm`` replaced by ``d <= 0`` -> [] instead of
    ['7']: fails."""
    lab = np.zeros((1, 1, 8), dtype=np.uint8)
    lab[0, 0, 2:4] = STATION_LABEL["7"]
    lab[0, 0, 5:7] = STATION_LABEL["4R"]
    gross = np.zeros_like(lab, dtype=bool)
    gross[0, 0, 0] = True
    assert near_stations(lab, gross, (4.0, 4.0, 4.0), 10.0) == ["7"]
    assert near_stations(lab, gross, (4.0, 4.0, 4.0), 20.0) == ["4R", "7"]  # STATIONS order
    assert near_stations(lab, np.zeros_like(gross), (4.0, 4.0, 4.0)) == []


def test_paired_bootstrap_by_hand():
    r = paired_bootstrap(np.array([0.8, 0.8, 0.8]), np.array([0.7, 0.7, 0.7]), 200, 1)
    assert r["n"] == 3
    assert abs(r["mean_diff"] - 0.1) < 1e-12  # constant difference: CI is the point
    assert abs(r["ci_low"] - 0.1) < 1e-12 and abs(r["ci_high"] - 0.1) < 1e-12


def test_summary_shares_and_verdict():
    """Two patients, one station each: model a 0.6 / 0.8, ceiling 0.8 / 0.8 -> mean 0.7,
    share 0.875; a - b = +0.1 on both -> 'better than'."""
    long = pd.DataFrame({"patient": [1, 2], "station": ["7", "7"], "near_gtv": [True, True],
                         "diunet": [0.6, 0.8], "unet_ct": [0.5, 0.7],
                         "ceiling": [0.8, 0.8]})
    res = summarise(long, ["diunet", "unet_ct"], 100, 0)
    assert abs(res["models"]["all"]["diunet"]["dice_mean"] - 0.7) < 1e-12
    assert abs(res["models"]["all"]["diunet"]["share_of_ceiling"] - 0.875) < 1e-12
    assert "better than" in verdict(res)


def test_ceiling_predictor_is_the_same_anatomy_without_jitter():
    """The nominal map differs from the patient's stations (jitter) but overlaps them
    well (same anatomy): measured mean Dice 0.75-0.81 on 4 default-grid patients."""
    from analysis.phantom.disease import make_patient, nominal_stations
    from analysis.segment.metrics import station_metrics

    g = Grid((48, 96, 96), (5.0, 4.0, 4.0))
    p = make_patient(np.random.default_rng(3), g)
    n = nominal_stations(np.random.default_rng(3), g)
    d = station_metrics(n, p["stations"], g.spacing_mm, hd95=False)["dice"]
    assert not np.array_equal(n, p["stations"])
    # a wrong anatomy (other seed) would give ~0.3-0.5; the jitter alone leaves > 0.6
    assert 0.6 < d.mean() < 0.95
