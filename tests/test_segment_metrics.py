"""Dice and HD95 (mm) against hand-computed values on tiny painted volumes."""

from __future__ import annotations

import math

import numpy as np

from analysis.segment.metrics import dice, hd95_mm, station_metrics


def test_dice_hand_computed():
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[0, 0, 0] = True
    b[0, 0, 0] = b[0, 0, 1] = True
    assert dice(a, b) == 2 * 1 / 3
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert math.isnan(dice(np.zeros_like(a), np.zeros_like(a)))


def test_hd95_single_voxels_anisotropic():
    # two single voxels 2 slices apart at 5 mm slice spacing: distance 10 mm both ways
    a = np.zeros((5, 3, 3), bool)
    b = np.zeros((5, 3, 3), bool)
    a[0, 1, 1] = True
    b[2, 1, 1] = True
    assert hd95_mm(a, b, (5.0, 1.0, 1.0)) == 10.0
    # shifted by one column at 0.5 mm: 0.5 mm
    c = np.zeros((5, 3, 3), bool)
    c[0, 1, 2] = True
    assert hd95_mm(a, c, (5.0, 0.5, 0.5)) == 0.5
    assert math.isnan(hd95_mm(a, np.zeros_like(a), (1, 1, 1)))


def test_hd95_identical_is_zero_and_cube_shift():
    a = np.zeros((8, 8, 8), bool)
    a[2:5, 2:5, 2:5] = True
    assert hd95_mm(a, a, (1, 1, 1)) == 0.0
    b = np.roll(a, 1, axis=2)
    # every surface voxel of a shifted 3-cube is 0 or 1 voxel from the other surface;
    # the 95th percentile of {0, 1} distances with > 5% ones is 1 (x spacing 2 mm -> 2 mm)
    assert hd95_mm(a, b, (1.0, 1.0, 2.0)) == 2.0


def test_station_metrics_table():
    ref = np.zeros((4, 4, 4), np.uint8)
    ref[0, 0, 0:2] = 1
    ref[3, 3, 3] = 16
    pred = ref.copy()
    pred[0, 0, 1] = 0
    t = station_metrics(pred, ref, (1, 1, 1))
    assert list(t.index[:2]) == ["1R", "1L"]
    assert t.loc["1R", "dice"] == 2 * 1 / 3
    assert t.loc["11L", "dice"] == 1.0
    assert math.isnan(t.loc["7", "dice"])
    assert t.loc["1R", "ref_voxels"] == 2 and t.loc["1R", "pred_voxels"] == 1
