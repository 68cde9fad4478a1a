"""Dice and HD95 (mm) against hand-computed values on tiny painted volumes."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from analysis.grid import Grid
from analysis.labels import N_STATIONS, STATIONS
from analysis.phantom import make_patient
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


# --------------------------------------------------------- station_metrics vs whole arrays
def _reference_station_metrics(pred, ref, spacing, hd95=True):
    """The definition: every station measured with dice / hd95_mm on the whole arrays."""
    rows = {"dice": [], "hd95_mm": [], "ref_voxels": [], "pred_voxels": []}
    for lab in range(1, N_STATIONS + 1):
        p, r = pred == lab, ref == lab
        rows["dice"].append(dice(p, r))
        rows["hd95_mm"].append(hd95_mm(p, r, spacing) if hd95 else float("nan"))
        rows["ref_voxels"].append(int(r.sum()))
        rows["pred_voxels"].append(int(p.sum()))
    return rows


def _assert_same_as_reference(pred, ref, spacing, hd95=True):
    got = station_metrics(pred, ref, spacing, hd95=hd95)
    want = _reference_station_metrics(pred, ref, spacing, hd95=hd95)
    assert list(got.index) == list(STATIONS)
    for col, values in want.items():
        # bitwise: the same floats, NaN where the reference has NaN
        np.testing.assert_array_equal(got[col].to_numpy(), np.asarray(values), err_msg=col)
    assert got["ref_voxels"].dtype.kind == "i" and got["pred_voxels"].dtype.kind == "i"


def _random_maps(rng, shape):
    """Blobby random label maps: stations touching every face of the array, stations
    empty in one map, in the other, or in both."""
    ref = np.zeros(shape, np.uint8)
    for lab in range(1, N_STATIONS + 1):
        if lab in (5, 6):  # 5: absent from ref, 6: absent from both
            continue
        c = rng.integers(0, shape)
        r = rng.integers(1, 4, size=3)
        ref[tuple(slice(max(0, ci - ri), ci + ri + 1) for ci, ri in zip(c, r, strict=True))] = lab
    ref[0, :3, :3] = 1  # a station on the corner and the faces of the array
    ref[-1, -2:, -4:] = 2
    ref[:, -1, 5] = 3
    noise = ndimage.binary_opening(rng.random(shape) < 0.6)
    pred = np.where(noise, ref, 0).astype(np.uint8)
    pred[rng.random(shape) < 0.002] = 5  # scattered voxels of a station ref lacks
    pred[pred == 7] = 0  # 7: absent from pred
    pred = np.roll(pred, rng.integers(-1, 2), axis=2)
    return pred, ref


def test_station_metrics_equals_whole_array_definition():
    rng = np.random.default_rng(7)
    for shape, spacing in [((12, 30, 31), (5.0, 1.1543, 1.1543)),
                           ((9, 17, 40), (2.5, 0.8, 1.3))]:
        for _ in range(3):
            pred, ref = _random_maps(rng, shape)
            _assert_same_as_reference(pred, ref, spacing)
            _assert_same_as_reference(pred.astype(np.int16), ref, spacing, hd95=False)
    empty = np.zeros((6, 7, 8), np.uint8)
    _assert_same_as_reference(empty, empty, (1, 1, 1))
    full = np.full((6, 7, 8), 16, np.uint8)
    _assert_same_as_reference(full, empty, (1, 1, 1))
    _assert_same_as_reference(full, full, (1, 1, 1))


def test_station_metrics_equals_definition_on_a_phantom():
    grid = Grid((40, 96, 96), (5.0, 3.0, 3.0))
    ref = make_patient(3, grid)["stations"]
    pred = np.roll(ndimage.grey_erosion(ref, size=(1, 2, 2)), 1, axis=1)
    _assert_same_as_reference(pred, ref, grid.spacing_mm)
