"""HU window, resampling, left-right label swap, training transforms."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.phantom import make_patient
from analysis.segment.transforms import (
    BODY_HU,
    RandFlipLeftRightd,
    coarse_body,
    fill_holes_by_slice,
    gross_tumour_mask,
    left_right_lut,
    resample_to_spacing,
    shape_at_spacing,
    swap_left_right_labels,
    train_transforms,
    window_hu,
)


def test_window_hu_hand_values():
    out = window_hu(np.array([-2000, -1000, 0, 1000, 3000]), (-1000, 1000))
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_gross_tumour_mask_is_the_union():
    a = np.array([1, 0, 0], bool)
    b = np.array([0, 1, 0], bool)
    assert gross_tumour_mask(a, b).tolist() == [True, True, False]
    assert gross_tumour_mask(a, None).tolist() == [True, False, False]


def test_left_right_swap_is_an_involution_and_keeps_midline():
    lut = left_right_lut()
    assert (lut[lut] == np.arange(len(lut))).all()
    assert lut[STATION_LABEL["4R"]] == STATION_LABEL["4L"]
    assert lut[STATION_LABEL["11L"]] == STATION_LABEL["11R"]
    for mid in ("3A", "3P", "5", "6", "7", "8"):
        assert lut[STATION_LABEL[mid]] == STATION_LABEL[mid]
    assert swap_left_right_labels(np.array([0, 1, 2, 11], np.uint8)).tolist() == [0, 2, 1, 11]


def test_flip_moves_and_relabels():
    lab = torch.zeros(1, 1, 1, 4, dtype=torch.int64)
    lab[..., 0] = STATION_LABEL["4R"]
    d = {"ct": torch.arange(4.0).reshape(1, 1, 1, 4), "mask": torch.zeros(1, 1, 1, 4),
         "label": lab}
    out = RandFlipLeftRightd(["ct", "mask"], "label", prob=1.0)(d)
    assert out["ct"].flatten().tolist() == [3.0, 2.0, 1.0, 0.0]
    assert out["label"].flatten().tolist() == [0, 0, 0, STATION_LABEL["4L"]]


def test_resample_shapes_and_labels_stay_labels():
    assert shape_at_spacing((93, 512, 512), (5.0, 1.1543, 1.1543), (5.0, 4.0, 4.0)) == \
        (93, 148, 148)
    lab = torch.zeros(1, 4, 8, 8, dtype=torch.uint8)
    lab[0, :, 2:6, 2:6] = 7
    out = resample_to_spacing(lab, (5.0, 2.0, 2.0), (5.0, 4.0, 4.0), mode="nearest")
    assert out.shape == (1, 4, 4, 4)
    assert set(out.unique().tolist()) == {0, 7}


def test_train_transforms_shapes():
    tf = train_transforms((8, 16, 16), affine_prob=1.0, intensity_prob=1.0, flip_prob=0.5)
    tf.set_random_state(0)
    lab = torch.zeros(1, 12, 20, 20, dtype=torch.int64)
    lab[0, 4:8, 8:12, 8:12] = 5
    d = {"ct": torch.rand(1, 12, 20, 20), "mask": torch.zeros(1, 12, 20, 20), "label": lab}
    out = tf(d)
    out = out[0] if isinstance(out, list) else out
    assert out["image"].shape == (2, 8, 16, 16)
    assert out["label"].shape == (1, 8, 16, 16)
    assert set(out["label"].unique().tolist()) <= {0, 5}


def _fill_each_slice(mask):
    return np.stack([ndimage.binary_fill_holes(s) for s in mask])


def test_fill_holes_by_slice_equals_binary_fill_holes_per_slice():
    rng = np.random.default_rng(3)
    for shape, p in [((6, 20, 23), 0.5), ((4, 9, 31), 0.7), ((3, 1, 12), 0.5),
                     ((5, 16, 16), 0.3)]:
        for _ in range(3):
            mask = ndimage.binary_closing(rng.random(shape) < p, iterations=1)
            assert (fill_holes_by_slice(mask) == _fill_each_slice(mask)).all()
    ring = np.zeros((3, 9, 9), bool)
    ring[1, 2:7, 2:7] = True
    ring[1, 3:6, 3:6] = False          # a hole inside slice 1
    ring[2, :, 4] = True               # a wall from edge to edge: nothing enclosed
    ring[0, 0:4, 0:4] = True
    ring[0, 1:3, 1:3] = False          # a hole next to the array's corner
    ring[0, 0, 1] = False              # ... opened to the edge: stays background
    assert (fill_holes_by_slice(ring) == _fill_each_slice(ring)).all()
    assert fill_holes_by_slice(ring)[1, 4, 4] and not fill_holes_by_slice(ring)[0, 1, 1]
    assert not fill_holes_by_slice(np.zeros((2, 4, 4), bool)).any()
    assert fill_holes_by_slice(np.ones((2, 4, 4), bool)).all()


def test_coarse_body_equals_the_slice_by_slice_definition():
    grid = Grid((30, 128, 128), (5.0, 3.0, 3.0))
    ct = make_patient(4, grid)["ct"]
    for step_mm in (4.0, 8.0, 1.0):
        small, body, step = coarse_body(ct, grid.spacing_mm, step_mm)
        want_small = ct[::step[0], ::step[1], ::step[2]]
        lab, n = ndimage.label(want_small > BODY_HU)
        biggest = lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
        assert (small == want_small).all() and small.dtype == ct.dtype
        assert (body == _fill_each_slice(biggest)).all()
        assert body.any() and (body & ~biggest).any()  # the lungs are holes that get filled
    small, body, _ = coarse_body(np.full((4, 8, 8), -1000, np.int16), (1, 1, 1), 2.0)
    assert not body.any() and small.shape == (2, 4, 4)
