"""Planar contours of an RTSTRUCT -> a voxel mask, by the rule planning systems draw them.

The rule (one ROI, one axial plane)
-----------------------------------
1. **Each contour** is filled at the voxel centres it encloses (:func:`skimage.draw.polygon`)
   plus the centres lying exactly on it (contours traced through boundary-pixel centres,
   as OpenCV, rt-utils and :mod:`analysis.io.dicom_write` write them). A contour that
   crosses itself keeps every centre it encloses, whatever the winding (non-zero rule):
   a loop drawn over itself, or a ring whose points go round twice, loses nothing to the
   even-odd rule; a note counts the voxels this keeps.
2. **A contour written twice** on one plane (the same points, in any order) is read once,
   with a note; under XOR the copy would erase the ROI.
3. **Holes are nested contours** (the even-odd rule on nesting): a contour lying inside
   another contour of the plane is a hole in it, a contour inside that hole an island, and
   so on by nesting depth.
4. **Separate pieces are unioned**: contours neither of which lies inside the other are
   added, also where they overlap (two pieces of a CTV drawn overlapping must not cut a
   hole in each other).
5. ``CLOSEDPLANAR_XOR`` contours (the type DICOM added for XOR combination) combine with
   each other by XOR, and the result is added to the plane.

This follows DICOM PS3.3 C.8.8.6 (ROI Contour Module; C.8.8.6.3, inner and outer
contours: a hole is an inner contour, or a "keyhole" in one contour; XOR only for the
CLOSEDPLANAR_XOR type). The planning-system readers differ: dicompyler-core (``dvhcalc``)
subtracts contours inside the plane's largest contour and adds the others, as rules 3-4
do; plastimatch unions overlapping contours by default (``--xor-contours`` to XOR them);
rt-utils XORs every contour of a plane, which cuts overlapping pieces apart (this
package's reader did the same before, 131 CTV voxels lost in a real export).

What is refused (:class:`~analysis.io.dicom_base.DicomError`, one named reason each,
never an "empty" structure): a contour with non-finite coordinates ("non-finite
coordinates"); points spread over more than one plane ("non-axial contour"); a plane
outside the CT's slices ("outside the CT's slices"); a plane between two slices ("does
not lie on a slice of the CT series", off the image planes); a contour wholly beyond the
image in x or y ("outside the image"). A contour partly outside the image is filled
where it lies inside; the structure then touches the image edge and ingest's clipping
check names it.
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage.draw import polygon as fill_polygon

from analysis.grid import Grid
from analysis.io.dicom_base import CONTOUR_Z_TOL, DicomError


def mark_centres_on_contour(sl: np.ndarray, rc: np.ndarray) -> None:
    """Set the pixels whose centre lies exactly on the closed polyline ``rc`` (n, 2).

    Only segments between integer (row, column) vertices can pass through pixel centres
    exactly; the centres on such a segment are ``p0 + k (p1 - p0) / g``, ``k = 0..g``,
    with ``g`` the gcd of the steps. This makes contours traced through the centres of
    boundary pixels (OpenCV / rt-utils / this package's writer) round-trip exactly,
    including one-pixel (1 point) and one-pixel-wide (2 point) contours.
    """
    ny, nx = sl.shape
    ri = np.rint(rc).astype(np.int64)
    on_grid = np.all(np.abs(rc - ri) < 1e-3, axis=1)
    seg = on_grid & np.roll(on_grid, -1)
    if not seg.any():
        return
    p0, p1 = ri[seg], np.roll(ri, -1, axis=0)[seg]
    d = p1 - p0
    g = np.maximum(np.gcd(np.abs(d[:, 0]), np.abs(d[:, 1])), 1)
    counts = g + 1
    which = np.repeat(np.arange(len(g)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    step = d // g[:, None]
    pts = p0[which] + k[:, None] * step[which]
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < ny) & (pts[:, 1] >= 0) & (pts[:, 1] < nx)
    sl[pts[ok, 0], pts[ok, 1]] = True


def winding_numbers(rc: np.ndarray, shape: tuple[int, int]
                    ) -> tuple[int, int, np.ndarray]:
    """Winding number of the closed polygon ``rc`` (n, 2; fractional row, column) about
    the pixel centres of its bounding box in an image of ``shape``: ``(row0, col0, w)``,
    ``w[i, j]`` at pixel ``(row0 + i, col0 + j)`` (zero outside the box).

    A scanline count with the half-open rule (an edge covers the rows ``r`` with
    ``min(y0, y1) <= r < max(y0, y1)``): each crossing to the right of a centre adds the
    edge's direction (+1 downwards, -1 upwards). A simple polygon gives 0 or +-1
    everywhere; +-2 or more only where a self-crossing contour goes round twice.
    """
    ny, nx = shape
    r0 = int(np.clip(np.ceil(rc[:, 0].min()), 0, ny))
    r1 = int(np.clip(np.floor(rc[:, 0].max()) + 1, r0, ny))
    c0 = int(np.clip(np.ceil(rc[:, 1].min()), 0, nx))
    c1 = int(np.clip(np.floor(rc[:, 1].max()) + 1, c0, nx))
    w = np.zeros((r1 - r0, c1 - c0 + 1), dtype=np.int32)
    y0, x0 = rc[:, 0], rc[:, 1]
    y1, x1 = np.roll(y0, -1), np.roll(x0, -1)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    first = np.clip(np.ceil(lo), r0, r1).astype(np.int64)
    stop = np.clip(np.ceil(hi), r0, r1).astype(np.int64)
    counts = np.where(y1 != y0, np.maximum(stop - first, 0), 0)
    if counts.sum() == 0:
        return r0, c0, w[:, :-1]
    e = np.repeat(np.arange(len(rc)), counts)
    r = first[e] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    x = x0[e] + (r - y0[e]) * (x1[e] - x0[e]) / (y1[e] - y0[e])
    d = np.where(y1[e] > y0[e], 1, -1)
    end = np.clip(np.ceil(x), c0, c1).astype(np.int64) - c0  # centres c < x
    np.add.at(w, (r - r0, np.zeros_like(r)), d)
    np.add.at(w, (r - r0, end), -d)
    return r0, c0, np.cumsum(w, axis=1)[:, :-1]


def fill_contour(rc: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """(mask of one contour, voxels kept only by the non-zero winding rule); rule 1."""
    sl = np.zeros(shape, dtype=bool)
    extra = 0
    if len(rc) >= 3:
        rr, cc = fill_polygon(rc[:, 0], rc[:, 1], shape=shape)
        sl[rr, cc] = True
        r0, c0, w = winding_numbers(rc, shape)
        box = sl[r0:r0 + w.shape[0], c0:c0 + w.shape[1]]
        twice = (np.abs(w) >= 2) & ~box
        extra = int(twice.sum())
        box |= twice
    mark_centres_on_contour(sl, rc)
    return sl, extra


def _area(rc: np.ndarray) -> float:
    y, x = rc[:, 0], rc[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _inside_or_on(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Per point of ``pts`` (m, 2): inside the polygon ``poly`` (n, 2), or on its edge."""
    y, x = pts[:, :1], pts[:, 1:]
    y0, x0 = poly[None, :, 0], poly[None, :, 1]
    y1, x1 = np.roll(y0, -1, axis=1), np.roll(x0, -1, axis=1)
    crosses = (y0 > y) != (y1 > y)
    dy = np.where(y1 != y0, y1 - y0, 1.0)
    inside = (crosses & (x < x0 + (y - y0) * (x1 - x0) / dy)).sum(axis=1) % 2 == 1
    ex, ey = x1 - x0, y1 - y0
    length2 = np.where(ex * ex + ey * ey > 0, ex * ex + ey * ey, 1.0)
    t = np.clip(((x - x0) * ex + (y - y0) * ey) / length2, 0, 1)
    on = (((x0 + t * ex - x) ** 2 + (y0 + t * ey - y) ** 2) < 1e-6).any(axis=1)
    return inside | on


def combine_plane(contours: list[tuple[np.ndarray, bool]], shape: tuple[int, int]
                  ) -> tuple[np.ndarray, int, int]:
    """One ROI's contours on one plane -> (mask, copies dropped, voxels kept by the
    winding rule), by the rule of the module docstring.

    Parameters
    ----------
    contours : list of (ndarray of shape (n, 2), bool)
        Fractional (row, column) points of each contour, and whether its type is
        CLOSEDPLANAR_XOR.
    """
    seen, uniq, n_dup = set(), [], 0
    for rc, xor in contours:
        key = (xor, tuple(sorted(map(tuple, np.round(rc, 3).tolist()))))
        if key in seen:
            n_dup += 1
            continue
        seen.add(key)
        uniq.append((rc, xor))
    fills, n_extra = [], 0
    for rc, _ in uniq:
        sl, extra = fill_contour(rc, shape)
        fills.append(sl)
        n_extra += extra
    out = np.zeros(shape, dtype=bool)
    xor_layer = np.zeros(shape, dtype=bool)
    area = [_area(rc) if len(rc) >= 3 else 0.0 for rc, _ in uniq]
    plain_ = [i for i, (_, xor) in enumerate(uniq) if not xor]
    # a contour of one or two points (a one-pixel hole or island) can lie inside another,
    # but contains nothing
    containers = [i for i in plain_ if area[i] > 1e-9]
    parents = {i: [j for j in containers if j != i and area[j] > area[i]
                   and _inside_or_on(uniq[i][0], uniq[j][0]).all()] for i in plain_}
    depth = {i: len(p) for i, p in parents.items()}
    for i, (_, xor) in enumerate(uniq):
        if xor:
            xor_layer ^= fills[i]
            continue
        d = depth[i]
        if d % 2:  # a hole: cut from its parent below
            continue
        region = fills[i].copy()
        for h in plain_:
            if depth[h] == d + 1 and i in parents[h]:
                region &= ~fills[h]
        out |= region
    return out | xor_layer, n_dup, n_extra


def _check_plane(pts: np.ndarray, idx: np.ndarray, grid: Grid, where: str) -> int:
    """The slice index of one contour, or a DicomError with its named reason."""
    nz, ny, nx = grid.shape_zyx
    if not np.isfinite(pts).all():
        raise DicomError(f"{where}: a contour has non-finite coordinates (NaN or infinity) "
                         "in its ContourData")
    z0, dz = grid.origin_mm[2], grid.spacing_mm[0]
    if np.ptp(idx[:, 0]) > 2 * CONTOUR_Z_TOL:
        raise DicomError(f"{where}: non-axial contour: its points span z = "
                         f"{pts[:, 2].min():.3f} to {pts[:, 2].max():.3f} mm (a sagittal or "
                         "coronal drawing); only axial contours can be filled")
    k = float(np.median(idx[:, 0]))
    kz = int(round(k))
    z_mm = float(np.median(pts[:, 2]))
    if not -CONTOUR_Z_TOL <= k <= nz - 1 + CONTOUR_Z_TOL:
        raise DicomError(f"{where}: contour at z = {z_mm:.3f} mm lies outside the CT's "
                         f"slices (z = {z0:.3f} to {z0 + (nz - 1) * dz:.3f} mm)")
    if abs(k - kz) > CONTOUR_Z_TOL:
        raise DicomError(f"{where}: contour at z = {z_mm:.3f} mm does not lie on a slice "
                         f"of the CT series (off the image planes: slices at {z0:.3f} + k "
                         f"x {dz:.3f} mm, k < {nz})")
    if (idx[:, 1].max() < -0.5 or idx[:, 1].min() > ny - 0.5 or idx[:, 2].max() < -0.5
            or idx[:, 2].min() > nx - 0.5):
        lo, hi = grid.index_to_mm([[0, 0, 0], [0, ny - 1, nx - 1]])
        raise DicomError(f"{where}: contour lies outside the image: its points span x = "
                         f"{pts[:, 0].min():.1f} to {pts[:, 0].max():.1f} mm, y = "
                         f"{pts[:, 1].min():.1f} to {pts[:, 1].max():.1f} mm; the image "
                         f"x = {lo[0]:.1f} to {hi[0]:.1f}, y = {lo[1]:.1f} to {hi[1]:.1f} mm")
    return kz


def rasterise_contours(contours: list, grid: Grid, *, where: str = "") -> np.ndarray:
    """Fill one ROI's closed planar contours on ``grid`` (the rule of the module docstring).

    Parameters
    ----------
    contours : list of ndarray of shape (n, 3), or of (ndarray, bool)
        Contour points, LPS mm ``(x, y, z)``, each on one axial plane; with a flag when
        the contour's type is CLOSEDPLANAR_XOR.
    grid : Grid
    where : str
        Named in errors and notes (patient, file, ROI).

    Returns
    -------
    ndarray of bool, shape grid.shape_zyx
    """
    nz, ny, nx = grid.shape_zyx
    mask = np.zeros(grid.shape_zyx, dtype=bool)
    planes: dict[int, list] = {}
    for c in contours:
        pts, xor = (c if isinstance(c, tuple) else (c, False))
        pts = np.asarray(pts, dtype=float)
        idx = grid.mm_to_index(pts) if np.isfinite(pts).all() else pts
        kz = _check_plane(pts, idx, grid, where)
        planes.setdefault(kz, []).append((idx[:, 1:], xor))
    n_dup = n_extra = 0
    for kz, items in planes.items():
        sl, dup, extra = combine_plane(items, (ny, nx))
        mask[kz] = sl
        n_dup += dup
        n_extra += extra
    if n_dup:
        warnings.warn(f"{where}: {n_dup} contour(s) written twice on one plane; each read "
                      "once", stacklevel=2)
    if n_extra:
        warnings.warn(f"{where}: a contour crosses itself; {n_extra} voxel(s) it encloses "
                      "twice are kept (non-zero winding rule; even-odd would drop them)",
                      stacklevel=2)
    return mask
