"""Geometry on the voxel grid that two steps share: the primary GTV's greatest diameter.

01_ingest stores it as the clinical variable ``diameter_cm`` (Table 3's "GTV diameter"),
and 03_partition reports it as the partition parameter ``GTV_size_cm`` (SPEC row 110),
so it lives on the floor beneath both. Arrays are ``(z, y, x)`` with ``spacing_mm`` in
the same order (:mod:`analysis`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import cdist, pdist


def _max_pairwise_distance(points: np.ndarray, chunk: int = 2048) -> float:
    """Greatest Euclidean distance between rows of ``points`` (n, 3), exact: all pairs of
    the points that can belong to the farthest pair, chunked.

    Pruning (exact): with ``c`` the centroid, ``r_p = |p - c|``, ``R = max r`` and ``lb``
    a distance reached by some pair, a point of the farthest pair (distance ``D >= lb``)
    has ``r_p + R >= D >= lb``; points with ``r_p + R < lb`` are dropped before comparing
    pairs (most of the hull of an elongated tumour at 1.15 mm pixels)."""
    if len(points) < 2:
        return 0.0
    if len(points) > chunk:
        r = np.linalg.norm(points - points.mean(0), axis=1)
        far = points[int(np.argmax(r))]
        lb = float(np.linalg.norm(points - far, axis=1).max())
        points = points[r + r.max() >= lb]
    if len(points) <= chunk:
        return float(pdist(points).max())
    return max(float(cdist(points[i:i + chunk], points).max())
               for i in range(0, len(points), chunk))


#: up to this many points, all pairs are compared directly (faster than Qhull)
BRUTE_FORCE_MAX_POINTS = 1500


def hull_diameter_mm(points: np.ndarray) -> float:
    """Greatest distance among ``points`` (n, 3), exact: all pairs when there are at most
    :data:`BRUTE_FORCE_MAX_POINTS`, else the pairs of the convex hull's vertices.

    .. math:: D = \\max_{p, q \\in conv(P)} \\lVert p - q \\rVert

    Reference: the diameter of a point set is attained by two hull vertices (Preparata &
    Shamos, Computational Geometry, 1985, section 4.2.3); SPEC row 110.
    """
    if len(points) <= BRUTE_FORCE_MAX_POINTS:
        return _max_pairwise_distance(points)
    try:
        verts = ConvexHull(points).vertices
    except QhullError:
        # flat or collinear set: a joggled hull still keeps every extreme point
        verts = ConvexHull(points, qhull_options="QJ").vertices
    return _max_pairwise_distance(points[verts])


def _row_extremes(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """First and last voxel of every (z, y) row of C-ordered voxel indices -> (n, 3) zyx."""
    key = z.astype(np.int64) * (int(y.max()) + 1) + y
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    stop = np.r_[start[1:], len(key)] - 1
    idx = np.r_[start, stop]  # a one-voxel row appears twice: harmless for a maximum
    return np.stack([z[idx], y[idx], x[idx]], axis=1)


def gtv_size_cm_from_indices(z: np.ndarray, y: np.ndarray, x: np.ndarray,
                             spacing_mm) -> float:
    """Greatest 3D diameter (cm) of voxels given by C-ordered indices (as ``np.nonzero``).

    .. math:: D = \\max_{p, q \\in H} \\lVert (p - q) \\odot s \\rVert / 10

    over ``H``, the first and last voxel of every (z, y) row (the farthest pair lies on
    the hull of the voxel set, and that hull is the hull of ``H``). Reference: SPEC row
    110, as :func:`gtv_size_cm`.
    """
    if len(z) == 0:
        return 0.0
    pts = _row_extremes(z, y, x) * np.asarray(spacing_mm, dtype=float)
    return hull_diameter_mm(pts) / 10.0


def gtv_size_cm(gtv: np.ndarray, spacing_mm) -> float:
    """SPEC row 110: greatest 3D diameter of the primary GTV, in cm.

    .. math:: GTV\\_size = \\max_{p, q \\in GTV} \\lVert (p - q) \\odot s \\rVert / 10

    over voxel centres ``p, q`` (indices) with spacing ``s`` in mm. Example: a 3 x 1 x 1
    line along x with ``spacing_mm = (1, 1, 2)`` has centres 4 mm apart: 0.4 cm.
    An empty mask gives 0.
    """
    gtv = np.asarray(gtv)
    if gtv.dtype != bool:
        if not (np.issubdtype(gtv.dtype, np.integer) or np.issubdtype(gtv.dtype, np.floating)):
            raise TypeError(f"gtv: expected a boolean mask, got dtype {gtv.dtype}")
        gtv = gtv != 0
    return gtv_size_cm_from_indices(*np.nonzero(gtv), spacing_mm)
