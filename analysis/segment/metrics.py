"""Segmentation metrics per station: Dice similarity coefficient and HD95 in mm.

Conventions
-----------
* Both masks empty: Dice and HD95 are NaN (undefined, never counted as perfect).
* One mask empty: Dice is 0 and HD95 is NaN (no surface to measure from).
* HD95 is the larger of the two directed 95th percentiles of surface-to-surface
  distances (as in MONAI's ``compute_hausdorff_distance(percentile=95)``), measured in mm
  with anisotropic voxel spacing. A surface voxel is a mask voxel with at least one of
  its 6 face neighbours outside the mask (or on the array border).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from analysis.labels import N_STATIONS, STATIONS


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice similarity coefficient of two boolean masks of equal shape.

    .. math:: DSC = 2 |A \\cap B| / (|A| + |B|)

    Example: A = {1 voxel}, B = {that voxel + 1 other} -> 2*1/(1+2) = 0.667.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"dice: shapes differ, {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1),
                                    border_value=0)
    return mask & ~eroded


def _bbox_slices(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    idx = np.nonzero(mask)
    return tuple(slice(max(0, int(i.min()) - margin), int(i.max()) + margin + 1) for i in idx)


def hd95_mm(a: np.ndarray, b: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """95th-percentile symmetric Hausdorff distance (mm) between boolean masks ``a``, ``b``.

    Parameters
    ----------
    a, b : ndarray of bool, shape (z, y, x)
    spacing_mm : (z, y, x) voxel spacing in mm

    Returns
    -------
    float
        ``max(P95(d(∂A, ∂B)), P95(d(∂B, ∂A)))`` in mm; NaN when either mask is empty.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"hd95_mm: shapes differ, {a.shape} vs {b.shape}")
    if not a.any() or not b.any():
        return float("nan")
    # work inside the joint bounding box (+1 voxel) for speed on large grids
    sl = _bbox_slices(a | b, 1)
    a, b = a[sl], b[sl]
    sa, sb = _surface(a), _surface(b)
    dist_to_b = ndimage.distance_transform_edt(~sb, sampling=spacing_mm)
    dist_to_a = ndimage.distance_transform_edt(~sa, sampling=spacing_mm)
    d_ab = np.percentile(dist_to_b[sa], 95)
    d_ba = np.percentile(dist_to_a[sb], 95)
    return float(max(d_ab, d_ba))


def _label_boxes(labels: np.ndarray) -> list[tuple[slice, ...] | None]:
    """Bounding box of every station label 1..N_STATIONS (None when absent)."""
    if np.issubdtype(labels.dtype, np.integer):
        return ndimage.find_objects(labels, max_label=N_STATIONS)
    full = tuple(slice(0, n) for n in labels.shape)  # not integer: scan the whole array
    return [full] * N_STATIONS


def _union_box(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None,
               shape: Sequence[int], margin: int) -> tuple[slice, ...] | None:
    boxes = [x for x in (a, b) if x is not None]
    if not boxes:
        return None
    return tuple(slice(max(0, min(x[ax].start for x in boxes) - margin),
                       min(int(shape[ax]), max(x[ax].stop for x in boxes) + margin))
                 for ax in range(len(shape)))


def station_metrics(pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float],
                    hd95: bool = True) -> pd.DataFrame:
    """Dice and HD95 (mm) of every station between two label maps (z, y, x), labels 0..16.

    Each station is measured inside the union of its bounding boxes in ``pred`` and
    ``ref`` plus one voxel (clipped to the array), which is the crop :func:`hd95_mm`
    makes itself, so the numbers are those of :func:`dice` and :func:`hd95_mm` on the
    whole arrays, without scanning the whole arrays once per station.

    Returns
    -------
    DataFrame indexed by station name (``STATIONS`` order) with columns ``dice``,
    ``hd95_mm`` (NaN when ``hd95`` is False), ``ref_voxels``, ``pred_voxels``.
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"station_metrics: pred shape {pred.shape} != ref shape {ref.shape}")
    rows = []
    nan = float("nan")
    for lab, (bp, br) in enumerate(zip(_label_boxes(pred), _label_boxes(ref), strict=True),
                                   start=1):
        box = _union_box(bp, br, pred.shape, 1)
        row = {"station": STATIONS[lab - 1], "dice": nan, "hd95_mm": nan,
               "ref_voxels": 0, "pred_voxels": 0}
        if box is not None:
            p, r = pred[box] == lab, ref[box] == lab
            row.update(dice=dice(p, r), ref_voxels=int(r.sum()), pred_voxels=int(p.sum()))
            if hd95:
                row["hd95_mm"] = hd95_mm(p, r, spacing_mm)
        rows.append(row)
    return pd.DataFrame(rows).set_index("station")
