"""Post-processing and the fast path's region, on small hand-painted volumes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from analysis.grid import Grid
from analysis.segment.infer import (
    _probs_to_labels,
    channel_argmax,
    mediastinal_box,
    remove_small_islands,
)
from analysis.segment.toy import make_toy_patient


def test_remove_small_islands_keeps_largest_and_big_ones():
    lab = np.zeros((12, 12, 12), np.uint8)
    lab[0:3, 0:3, 0:3] = 4          # 27 voxels: the largest component of station 4
    lab[10, 10, 10] = 4             # 1 voxel island
    lab[6:8, 6:8, 6:8] = 4          # 8 voxels
    lab[11, 0, 11] = 9              # station 9 alone: its only component is kept
    out = remove_small_islands(lab, (1.0, 1.0, 1.0), min_island_mm3=5.0)
    assert out[10, 10, 10] == 0
    assert (out[6:8, 6:8, 6:8] == 4).all()      # 8 mm^3 >= 5 mm^3
    assert (out[0:3, 0:3, 0:3] == 4).all() and out[11, 0, 11] == 9
    out2 = remove_small_islands(lab, (2.0, 1.0, 1.0), min_island_mm3=20.0)
    assert (out2[6:8, 6:8, 6:8] == 0).all()     # 8 voxels x 2 mm^3 = 16 < 20
    assert (remove_small_islands(lab, (1, 1, 1), 0.0) == lab).all()


def test_separable_probability_resampling_equals_trilinear():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(5, 4, 6, 7), dim=0)
    direct = F.interpolate(probs[None], size=(9, 13, 11), mode="trilinear",
                           align_corners=False)[0].argmax(0).numpy()
    assert (_probs_to_labels(probs, (9, 13, 11), slab=2) == direct).all()


def test_remove_small_islands_inside_a_box_equals_on_the_whole_volume():
    """predict_stations cleans the islands of the box around the lungs before pasting it
    into the volume (zeros outside): the same labels as cleaning the pasted volume."""
    rng = np.random.default_rng(4)
    roi = (rng.random((9, 14, 16)) < 0.08) * rng.integers(1, 17, size=(9, 14, 16))
    roi = roi.astype(np.uint8)
    roi[0:2, 0:2, 0:2] = 3          # two equally large components of station 3: the
    roi[7:9, 12:14, 14:16] = 3      # first in scan order is the one kept as largest
    box = (slice(2, 11), slice(5, 19), slice(0, 16))
    whole = np.zeros((12, 20, 16), np.uint8)
    whole[box] = roi
    for spacing, min_mm3 in [((1.0, 1.0, 1.0), 2.5), ((5.0, 1.1543, 1.1543), 14.0)]:
        pasted = np.zeros_like(whole)
        pasted[box] = remove_small_islands(roi, spacing, min_mm3)
        assert (pasted == remove_small_islands(whole, spacing, min_mm3)).all()


def _torch_argmax(x: torch.Tensor) -> np.ndarray:
    return x.argmax(1).numpy().astype(np.uint8)


def test_channel_argmax_equals_torch_argmax_random_and_ties():
    g = torch.Generator().manual_seed(1)
    x = torch.softmax(3 * torch.randn(3, 17, 11, 13, generator=g), dim=1)
    assert (channel_argmax(x).numpy() == _torch_argmax(x)).all()
    # quantised probabilities: over 40% of voxels have a tie for the maximum;
    # argmax (and channel_argmax) pick the first of the tied channels
    q = torch.round(x * 4) / 4
    q[:, :, :3] = 0.0                  # all 17 channels tied: channel 0
    q[:, 5:8, 4] = 0.5                 # a late tie with an earlier maximum
    q[:, 16, 5] = 1.0                  # the last channel wins alone
    assert (q.max(1, keepdim=True).values == q).sum(1).gt(1).float().mean() > 0.4
    assert (channel_argmax(q).numpy() == _torch_argmax(q)).all()
    ints = torch.randint(0, 3, (2, 17, 9, 10), generator=g).float()
    assert (channel_argmax(ints).numpy() == _torch_argmax(ints)).all()
    # NaN, infinities and negative zero: still argmax's answer
    odd = x.clone()
    odd[0, 3, 0, 0] = float("nan")
    odd[1, 0, 1, 1] = float("inf")
    odd[2, :, 2, 2] = 0.0
    odd[2, 4, 2, 2] = -0.0
    assert (channel_argmax(odd).numpy() == _torch_argmax(odd)).all()
    assert channel_argmax(x).dtype == torch.uint8


def test_probs_to_labels_equals_argmax_of_the_resampled_probabilities():
    g = torch.Generator().manual_seed(2)
    probs = torch.softmax(2 * torch.randn(17, 5, 9, 8, generator=g), dim=0)
    probs = torch.round(probs * 8) / 8  # ties survive the resampling too
    for shape in [(11, 20, 17), (5, 9, 8)]:
        direct = F.interpolate(probs[None], size=shape, mode="trilinear",
                               align_corners=False)[0].argmax(0).numpy().astype(np.uint8)
        got = _probs_to_labels(probs, shape, slab=3)
        assert got.dtype == np.uint8 and (got == direct).all()


def test_mediastinal_box_contains_every_station_of_a_toy_patient():
    grid = Grid((24, 64, 64), (5.0, 4.0, 4.0))
    p = make_toy_patient(0, grid)
    box = mediastinal_box(p["ct"], grid.spacing_mm, margin_mm=10.0, superior_mm=0.0)
    assert box is not None
    inside = np.zeros(grid.shape_zyx, bool)
    inside[box] = True
    assert not (p["stations"] > 0)[~inside].any()
    # the box is smaller than the volume in-plane (the body is wider than the lungs)
    assert inside.sum() < inside.size
    assert mediastinal_box(np.full((8, 8, 8), -1000, np.int16), (1, 1, 1)) is None
