"""Post-processing and the fast path's region, on small hand-painted volumes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from analysis.grid import Grid
from analysis.segment.infer import _probs_to_labels, mediastinal_box, remove_small_islands
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
