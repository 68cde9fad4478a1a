"""The 110 partition parameters of SPEC Table 2: exact, fast, one patient at a time.

Inputs are numpy arrays on one grid, indexed ``(z, y, x)`` (see :mod:`analysis`):
``ctv``, ``gtv`` (primary), ``gtvnd`` (involved nodes) are boolean masks and
``stations`` is the label map 0..16 (``i`` = ``LN_i`` of :data:`analysis.labels.STATIONS`,
0 = no station). ``spacing_mm`` is ``(z, y, x)``. Nothing here reads files, except
:func:`partition_table`, which reads the cohort store through :mod:`analysis.store`.

How the counting is done
------------------------
Every ratio of SPEC rows 1-101 and 103-109 is a function of one small table,
``counts[i, c]`` = number of voxels with station label ``i`` (0..16) and structure code
``c = 4*ctv + 2*gtv + gtvnd`` (0..7), see :func:`count_table`. The fast path builds it in
one pass: it crops the four arrays to the bounding box of whatever is non-zero (cheap
projections), forms the code ``stations*8 + c`` per voxel of the crop and counts it with a
single ``np.bincount``. Voxels outside the crop have station 0 and no structure, so the
table is exact. :func:`partition_parameters_reference` computes the same numbers the plain
way (96 boolean intersections) and is kept as the readable reference (tests, benchmark).

Choices where SPEC leaves room (written down here, as SPEC asks)
----------------------------------------------------------------
- "GTV" in rows 33-96 is ``gtv | gtvnd`` (``gtv_definition="union"``, SPEC) or ``gtv``
  alone (``"primary"``). Rows 102 and 110 always use the primary GTV.
- A ratio with a zero denominator (absent station, empty ideaCTV) is 0, with a
  :class:`PartitionWarning` (SPEC).
- ``image_resolution`` (row 99) is ``spacing_mm[1]``, the row spacing (DICOM
  PixelSpacing[0]); when the y and x spacings differ by more than 0.1 % a warning says so.
- ``GTV_lung_location`` (row 102): from the centroid of the primary GTV's voxel centres.
  Side: the patient's midline is the x of the centroid of station 7 (subcarinal, which
  sits under the tracheal bifurcation); without station 7, the centre of the x extent of
  the whole station map; without any station, the centre of the image. The centroid is
  on the patient's right when its x index is smaller than the midline's (x runs to the
  patient's left). Level: the carina is taken at the top face of station 7's most
  superior slice (SPEC: "upper/lower split at the carina level"; station 7's upper border
  is the carina); without station 7, the bottom face of stations 4R/4L's lowest slice;
  without those, the middle of the image, each fallback with a warning. "Upper" means
  strictly above that level (z increases superior). 1 RU, 2 RL, 3 LU, 4 LL; 0 (with a
  warning) when the primary GTV is empty.
- ``GTV_size_cm`` (row 110): the greatest distance between two voxel CENTRES of the
  primary GTV, in cm (a 3 x 1 x 1 line along x with 2 mm spacing gives 4 mm = 0.4 cm; a
  single voxel gives 0). Computed exactly: the farthest pair lies on the convex hull, and
  the hull of a voxel set is the hull of the first and last voxel of every (z, y) row;
  so only those points count: all their pairs are compared when there are at most
  :data:`BRUTE_FORCE_MAX_POINTS`, else the pairs of their Qhull hull's vertices. 0 with a
  warning when the primary GTV is empty.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from analysis.labels import (
    FEATURE_NAMES,
    N_CLASSES,
    N_STATIONS,
    OVERLAP_STATIONS,
    RATIO_FAMILIES,
    STATION_LABEL,
    STATIONS,
)

#: bump when any formula or choice below changes (part of the cache key)
PARTITION_CODE_VERSION = "1"

GtvDefinition = Literal["union", "primary"]
#: structure-code bits of :func:`count_table`
CTV_BIT, GTV_BIT, GTVND_BIT = 4, 2, 1
N_CODES = 8

#: file names in the output folder (the model and recurrence notebooks read the Parquet)
FEATURES_PARQUET = "partition_features.parquet"
FEATURES_CSV = "partition_features.csv"


class PartitionWarning(UserWarning):
    """A partition feature fell back to a documented default (absent station, ...)."""


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------
def _as_mask(arr: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype == bool:
        return a
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name}: expected a boolean mask, got dtype {a.dtype}")
    return a != 0


def check_inputs(
    ctv: np.ndarray,
    gtv: np.ndarray,
    gtvnd: np.ndarray,
    stations: np.ndarray,
    spacing_mm,
    *,
    where: str = "",
    check_labels: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Check and normalise the inputs of :func:`partition_parameters`.

    Returns boolean masks, a ``uint8`` station map and ``spacing_mm`` as 3 floats.
    Non-boolean masks are read as ``!= 0``. Errors name the argument (and ``where``,
    e.g. the patient) and the shapes. ``check_labels=False`` skips the range check of a
    ``uint8`` map (the caller checks it in a pass it makes anyway).
    """
    pre = f"{where}: " if where else ""
    arrays = {"ctv": ctv, "gtv": gtv, "gtvnd": gtvnd, "stations": stations}
    shapes = {k: np.shape(v) for k, v in arrays.items()}
    for k, s in shapes.items():
        if len(s) != 3 or min(s) < 1:
            raise ValueError(f"{pre}{k}: expected a non-empty 3-D array (z, y, x), got "
                             f"shape {s}")
    if len(set(shapes.values())) != 1:
        desc = ", ".join(f"{k} {s}" for k, s in shapes.items())
        bad = [k for k, s in shapes.items() if s != shapes["stations"]]
        raise ValueError(f"{pre}{', '.join(bad)}: not on the grid of stations "
                         f"(shapes differ: {desc})")
    st = np.asarray(stations)
    if st.dtype != np.uint8:
        if not np.issubdtype(st.dtype, np.integer):
            raise TypeError(f"{pre}stations: expected integer labels 0..{N_STATIONS}, "
                            f"got dtype {st.dtype}")
        if st.size and (st.min() < 0 or st.max() > N_STATIONS):
            raise ValueError(f"{pre}stations: labels must lie in 0..{N_STATIONS}, got "
                             f"{st.min()}..{st.max()}")
        st = st.astype(np.uint8)
    elif check_labels and st.size and st.max() > N_STATIONS:
        _label_error(int(st.max()), pre)
    sp = tuple(float(s) for s in np.ravel(np.asarray(spacing_mm, dtype=float)))
    if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"{pre}spacing_mm: expected 3 positive numbers (z, y, x), got "
                         f"{spacing_mm!r}")
    return (_as_mask(ctv, f"{pre}ctv"), _as_mask(gtv, f"{pre}gtv"),
            _as_mask(gtvnd, f"{pre}gtvnd"), st, sp)  # type: ignore[return-value]


def _label_error(max_label: int, pre: str = "") -> None:
    raise ValueError(f"{pre}stations: labels must lie in 0..{N_STATIONS}, got max "
                     f"{max_label}")


def _check_definition(gtv_definition: str) -> None:
    if gtv_definition not in ("union", "primary"):
        raise ValueError(f"gtv_definition: expected 'union' or 'primary', got "
                         f"{gtv_definition!r}")


# --------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------
Box = tuple[slice, slice, slice]


def bounding_box(arr: np.ndarray, *, max_label: int | None = None) -> Box | None:
    """Smallest box holding every non-zero voxel of ``arr`` (z, y, x), or None if none.

    Two cheap projections: along (y, x) for the z range, then along z inside it. With
    ``max_label`` (an unsigned label map), a value above it raises ValueError (the range
    check costs nothing extra: the z projection is a per-slice maximum).
    """
    nz = arr.shape[0]
    flat = arr.reshape(nz, -1)
    if arr.dtype == bool:
        zp = flat.any(axis=1)
    else:
        zmax = flat.max(axis=1) if arr.size else np.zeros(nz, arr.dtype)
        if max_label is not None and zmax.size and zmax.max() > max_label:
            _label_error(int(zmax.max()))
        zp = zmax > 0
    zi = np.flatnonzero(zp)
    if zi.size == 0:
        return None
    z0, z1 = int(zi[0]), int(zi[-1]) + 1
    sub = arr[z0:z1]
    yx = sub.any(axis=0) if arr.dtype == bool else sub.max(axis=0) > 0
    yi = np.flatnonzero(yx.any(axis=1))
    xi = np.flatnonzero(yx.any(axis=0))
    return (slice(z0, z1), slice(int(yi[0]), int(yi[-1]) + 1),
            slice(int(xi[0]), int(xi[-1]) + 1))


def _union_box(boxes: list[Box | None]) -> Box | None:
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return tuple(slice(min(b[k].start for b in boxes), max(b[k].stop for b in boxes))
                 for k in range(3))  # type: ignore[return-value]


def _box_size(box: Box | None) -> int:
    return 0 if box is None else int(np.prod([s.stop - s.start for s in box]))


def _code_counts(st: np.ndarray, ctv: np.ndarray, gtv: np.ndarray,
                 gtvnd: np.ndarray) -> np.ndarray:
    """(17, 8) counts of ``stations*8 + 4*ctv + 2*gtv + gtvnd`` over equal-shape crops."""
    code = np.left_shift(st, 1)  # new contiguous uint8 array; labels <= 16 so no overflow
    code += ctv
    code <<= 1
    code += gtv
    code <<= 1
    code += gtvnd
    return np.bincount(code.ravel(), minlength=N_CLASSES * N_CODES).reshape(N_CLASSES,
                                                                            N_CODES)


def _count_table_boxes(ctv, gtv, gtvnd, st) -> tuple[np.ndarray, dict[str, Box | None]]:
    """Fast :func:`count_table` on checked inputs; also returns the boxes it found."""
    boxes = {"ctv": bounding_box(ctv), "gtv": bounding_box(gtv),
             "gtvnd": bounding_box(gtvnd), "stations": bounding_box(st, max_label=N_STATIONS)}
    counts = np.zeros((N_CLASSES, N_CODES), dtype=np.int64)
    sbox = boxes["stations"]
    mbox = _union_box([boxes["ctv"], boxes["gtv"], boxes["gtvnd"]])
    ubox = _union_box([sbox, mbox])
    if ubox is not None:
        # one pass over the union box, or two over the separate boxes if that is smaller
        # (about 2 units of work per voxel for the code + bincount, 1 for a bincount alone)
        if 2 * _box_size(ubox) <= _box_size(sbox) + 2 * _box_size(mbox):
            counts += _code_counts(st[ubox], ctv[ubox], gtv[ubox], gtvnd[ubox])
        else:
            if mbox is not None:
                counts += _code_counts(st[mbox], ctv[mbox], gtv[mbox], gtvnd[mbox])
            if sbox is not None:
                per_station = np.bincount(st[sbox].ravel(), minlength=N_CLASSES)
                # voxels of station i without any structure = all of station i - the rest
                counts[1:, 0] = per_station[1:] - counts[1:, 1:].sum(axis=1)
    counts[0, 0] = st.size - (counts.sum() - counts[0, 0])
    return counts, boxes


def count_table(ctv: np.ndarray, gtv: np.ndarray, gtvnd: np.ndarray,
                stations: np.ndarray) -> np.ndarray:
    """Voxel counts by station label and structure code, in one pass over the voxels.

    Parameters
    ----------
    ctv, gtv, gtvnd : bool ndarray of shape (z, y, x)
    stations : uint8 ndarray of shape (z, y, x), labels 0..16

    Returns
    -------
    counts : int64 ndarray of shape (17, 8)
        ``counts[i, c]`` = number of voxels with ``stations == i`` and
        ``4*ctv + 2*gtv + gtvnd == c``; ``counts.sum()`` is the number of voxels.
    """
    ctv, gtv, gtvnd, st, _ = check_inputs(ctv, gtv, gtvnd, stations, (1.0, 1.0, 1.0))
    return _count_table_boxes(ctv, gtv, gtvnd, st)[0]


def count_table_reference(ctv: np.ndarray, gtv: np.ndarray, gtvnd: np.ndarray,
                          stations: np.ndarray) -> np.ndarray:
    """:func:`count_table` the plain way: one boolean mask per (station, code) pair."""
    ctv, gtv, gtvnd, st, _ = check_inputs(ctv, gtv, gtvnd, stations, (1.0, 1.0, 1.0))
    counts = np.zeros((N_CLASSES, N_CODES), dtype=np.int64)
    for i in range(N_CLASSES):
        ln = st == i
        for c in range(N_CODES):
            m = ln & (ctv == bool(c & CTV_BIT)) & (gtv == bool(c & GTV_BIT)) \
                & (gtvnd == bool(c & GTVND_BIT))
            counts[i, c] = np.count_nonzero(m)
    return counts


# --------------------------------------------------------------------------------------
# one pure function per family (each takes the (17, 8) count table)
# --------------------------------------------------------------------------------------
def _gross(c: int, gtv_definition: str) -> bool:
    return bool(c & GTV_BIT) or (gtv_definition == "union" and bool(c & GTVND_BIT))


def _select(pred) -> np.ndarray:
    return np.array([c for c in range(N_CODES) if pred(c)], dtype=np.intp)


#: structure codes (columns of the count table) holding each structure / combination
_CODES_CTV = _select(lambda c: c & CTV_BIT)
_CODES_GTVND = _select(lambda c: c & GTVND_BIT)
_CODES_GROSS = {d: _select(lambda c, d=d: _gross(c, d)) for d in ("union", "primary")}
_CODES_CTV_MINUS_GROSS = {d: _select(lambda c, d=d: bool(c & CTV_BIT) and not _gross(c, d))
                          for d in ("union", "primary")}


def station_volumes_vox(counts: np.ndarray) -> np.ndarray:
    """``abs(LN_i)`` for i = 1..16 (voxels), shape (16,)."""
    return counts[1:].sum(axis=1)


def ctv_in_stations_vox(counts: np.ndarray) -> np.ndarray:
    """``abs(CTV ∩ LN_i)`` for i = 1..16 (voxels), shape (16,)."""
    return counts[1:, _CODES_CTV].sum(axis=1)


def gtv_in_stations_vox(counts: np.ndarray, gtv_definition: GtvDefinition = "union"
                        ) -> np.ndarray:
    """``abs(GTV ∩ LN_i)`` (GTV = GTV ∪ GTVnd, or the primary only), shape (16,)."""
    return counts[1:, _CODES_GROSS[gtv_definition]].sum(axis=1)


def ctv_minus_gtv_in_stations_vox(counts: np.ndarray,
                                  gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """``abs((CTV - GTV) ∩ LN_i)`` (set difference), shape (16,)."""
    return counts[1:, _CODES_CTV_MINUS_GROSS[gtv_definition]].sum(axis=1)


def idea_ctv_vox(counts: np.ndarray) -> int:
    """``abs(ideaCTV)``: total volume of the stations the CTV touches (voxels).

    .. math:: ideaCTV = \\bigcup_{m:\\ |CTV \\cap LN_m| > 0} LN_m

    Stations do not overlap, so ``abs(ideaCTV)`` is the sum of their volumes.
    """
    return int(station_volumes_vox(counts)[ctv_in_stations_vox(counts) > 0].sum())


def _safe_ratio(num: np.ndarray, den) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.broadcast_to(np.asarray(den, dtype=float), num.shape)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def rctv_ln(counts: np.ndarray) -> np.ndarray:
    """SPEC rows 1-16, the share of station i covered by the CTV.

    .. math:: RctvLN_i = |CTV \\cap LN_i| \\,/\\, |LN_i|

    0 when ``LN_i`` is absent (SPEC). Example: a 2-voxel station with one CTV voxel: 0.5.
    Returns shape (16,), i = 1..16.
    """
    return _safe_ratio(ctv_in_stations_vox(counts), station_volumes_vox(counts))


def rictv_ln(counts: np.ndarray) -> np.ndarray:
    """SPEC rows 17-32, CTV inside station i as a share of ideaCTV.

    .. math:: RIctvLN_i = |CTV \\cap LN_i| \\,/\\, |ideaCTV|

    0 for every i when ideaCTV is empty (SPEC). Returns shape (16,).
    """
    return _safe_ratio(ctv_in_stations_vox(counts), idea_ctv_vox(counts))


def rgtv_ln(counts: np.ndarray, gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """SPEC rows 33-48, the share of station i occupied by gross tumour.

    .. math:: RgtvLN_i = |GTV \\cap LN_i| \\,/\\, |LN_i|

    GTV = GTV ∪ GTVnd (``"union"``, SPEC) or the primary only (``"primary"``).
    Returns shape (16,).
    """
    return _safe_ratio(gtv_in_stations_vox(counts, gtv_definition),
                       station_volumes_vox(counts))


def rigtv_ln(counts: np.ndarray, gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """SPEC rows 49-64, gross tumour inside station i as a share of ideaCTV.

    .. math:: RIgtvLN_i = |GTV \\cap LN_i| \\,/\\, |ideaCTV|

    Returns shape (16,).
    """
    return _safe_ratio(gtv_in_stations_vox(counts, gtv_definition), idea_ctv_vox(counts))


def rcmg_ln(counts: np.ndarray, gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """SPEC rows 65-80, the share of station i covered by CTV minus gross tumour.

    .. math:: RcmgLN_i = |(CTV \\setminus GTV) \\cap LN_i| \\,/\\, |LN_i|

    Set difference (SPEC): a GTVnd voxel outside the CTV subtracts nothing.
    Returns shape (16,).
    """
    return _safe_ratio(ctv_minus_gtv_in_stations_vox(counts, gtv_definition),
                       station_volumes_vox(counts))


def ricmg_ln(counts: np.ndarray, gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """SPEC rows 81-96, CTV minus gross tumour inside station i as a share of ideaCTV.

    .. math:: RIcmgLN_i = |(CTV \\setminus GTV) \\cap LN_i| \\,/\\, |ideaCTV|

    Returns shape (16,).
    """
    return _safe_ratio(ctv_minus_gtv_in_stations_vox(counts, gtv_definition),
                       idea_ctv_vox(counts))


def ctv_volume_vox(counts: np.ndarray) -> int:
    """SPEC row 97: ``CTV_volume``, voxels of the planning grid."""
    return int(counts[:, _CODES_CTV].sum())


def gtvnd_volume_vox(counts: np.ndarray) -> int:
    """SPEC row 98: ``GTVnd_volume``, voxels."""
    return int(counts[:, _CODES_GTVND].sum())


def n_ln_ctv(counts: np.ndarray) -> int:
    """SPEC row 100: number of stations with ``abs(CTV ∩ LN_i) > 0``."""
    return int(np.count_nonzero(ctv_in_stations_vox(counts)))


def n_ln_gtvnd(counts: np.ndarray) -> int:
    """SPEC row 101: number of stations with ``abs(GTVnd ∩ LN_i) > 0``."""
    return int(np.count_nonzero(counts[1:, _CODES_GTVND].sum(axis=1)))


def ctv_overlaps(counts: np.ndarray) -> np.ndarray:
    """SPEC rows 103-109: 1 if ``abs(CTV ∩ LN) > 0`` for 4L, 4R, 5, 6, 7, 11L, 11R."""
    inter = ctv_in_stations_vox(counts)
    return np.array([int(inter[STATION_LABEL[s] - 1] > 0) for s in OVERLAP_STATIONS])


def image_resolution_mm(spacing_mm) -> float:
    """SPEC row 99: in-plane pixel spacing in mm: the row (y) spacing ``spacing_mm[1]``."""
    sp = tuple(float(s) for s in spacing_mm)
    if abs(sp[1] - sp[2]) > 1e-3 * max(sp[1], sp[2]):
        warnings.warn(f"image_resolution: y and x spacings differ ({sp[1]} vs {sp[2]} mm); "
                      "using the y (row) spacing", PartitionWarning, stacklevel=2)
    return sp[1]


# --------------------------------------------------------------------------------------
# the primary GTV: location and size
# --------------------------------------------------------------------------------------
def _max_pairwise_distance(points: np.ndarray, chunk: int = 2048) -> float:
    """Greatest Euclidean distance between rows of ``points`` (n, 3), brute force, chunked."""
    from scipy.spatial.distance import cdist, pdist

    if len(points) < 2:
        return 0.0
    if len(points) <= chunk:
        return float(pdist(points).max())
    return max(float(cdist(points[i:i + chunk], points).max())
               for i in range(0, len(points), chunk))


#: up to this many points, all pairs are compared directly (faster than Qhull)
BRUTE_FORCE_MAX_POINTS = 1500


def _hull_diameter(points: np.ndarray) -> float:
    """Greatest distance among ``points`` (n, 3), exact: all pairs when there are at most
    :data:`BRUTE_FORCE_MAX_POINTS`, else the pairs of the convex hull's vertices."""
    if len(points) <= BRUTE_FORCE_MAX_POINTS:
        return _max_pairwise_distance(points)
    from scipy.spatial import ConvexHull, QhullError

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
    """Greatest 3D diameter (cm) of voxels given by C-ordered indices (as ``np.nonzero``)."""
    if len(z) == 0:
        return 0.0
    pts = _row_extremes(z, y, x) * np.asarray(spacing_mm, dtype=float)
    return _hull_diameter(pts) / 10.0


def gtv_size_cm(gtv: np.ndarray, spacing_mm) -> float:
    """SPEC row 110: greatest 3D diameter of the primary GTV, in cm.

    .. math:: GTV\\_size = \\max_{p, q \\in GTV} \\lVert (p - q) \\odot s \\rVert / 10

    over voxel centres ``p, q`` (indices) with spacing ``s`` in mm. Example: a 3 x 1 x 1
    line along x with ``spacing_mm = (1, 1, 2)`` has centres 4 mm apart: 0.4 cm.
    An empty mask gives 0.
    """
    gtv = _as_mask(gtv, "gtv")
    return gtv_size_cm_from_indices(*np.nonzero(gtv), spacing_mm)


def _carina_and_midline(stations: np.ndarray, sbox: Box | None = None
                        ) -> tuple[float, float, list[str]]:
    """(carina z level, midline x) in index units, and the fallbacks used (see module doc)."""
    notes: list[str] = []
    nz, _, nx = stations.shape
    if sbox is None:
        sbox = bounding_box(stations)
    if sbox is None:
        notes.append("no station in the map: midline and carina taken at the image centre")
        return (nz - 1) / 2.0, (nx - 1) / 2.0, notes
    sub = stations[sbox]
    z7, _, x7 = np.nonzero(sub == STATION_LABEL["7"])
    if len(z7):
        carina_z = sbox[0].start + int(z7[-1]) + 0.5  # C order: the last is the top slice
        midline_x = sbox[2].start + float(x7.mean())
        return carina_z, midline_x, notes
    midline_x = (sbox[2].start + sbox[2].stop - 1) / 2.0
    notes.append("station 7 absent: midline taken at the centre of the station map's "
                 "x extent")
    m4 = (sub == STATION_LABEL["4R"]) | (sub == STATION_LABEL["4L"])
    zi = np.flatnonzero(m4.any(axis=(1, 2)))
    if zi.size:
        carina_z = sbox[0].start + int(zi[0]) - 0.5
        notes.append("station 7 absent: carina taken at the bottom of stations 4R/4L")
    else:
        carina_z = (nz - 1) / 2.0
        notes.append("stations 7, 4R and 4L absent: carina taken at the image's middle "
                     "slice")
    return carina_z, midline_x, notes


def lung_location_code(centroid_zyx, carina_z: float, midline_x: float) -> int:
    """1 right upper, 2 right lower, 3 left upper, 4 left lower (index units).

    Right = x index below the midline (x runs to the patient's left); upper = z strictly
    above the carina level (z runs superior).
    """
    cz, _, cx = (float(v) for v in centroid_zyx)
    right = cx < midline_x
    upper = cz > carina_z
    return {(True, True): 1, (True, False): 2, (False, True): 3, (False, False): 4}[
        (right, upper)]


def gtv_lung_location(gtv: np.ndarray, stations: np.ndarray) -> int:
    """SPEC row 102: lobe of the primary GTV's centroid (1 RU, 2 RL, 3 LU, 4 LL; 0 if empty).

    See the module docstring for the midline and carina levels used.
    """
    gtv = _as_mask(gtv, "gtv")
    z, y, x = np.nonzero(gtv)
    if len(z) == 0:
        warnings.warn("GTV_lung_location: primary GTV is empty; set to 0",
                      PartitionWarning, stacklevel=2)
        return 0
    carina_z, midline_x, notes = _carina_and_midline(np.asarray(stations))
    for n in notes:
        warnings.warn(f"GTV_lung_location: {n}", PartitionWarning, stacklevel=2)
    return lung_location_code((z.mean(), y.mean(), x.mean()), carina_z, midline_x)


def idea_ctv(ctv: np.ndarray, stations: np.ndarray) -> np.ndarray:
    """ideaCTV mask: union of every station ``LN_m`` with ``abs(CTV ∩ LN_m) > 0``.

    Parameters
    ----------
    ctv : bool ndarray of shape (z, y, x)
    stations : integer ndarray of shape (z, y, x), labels 0..16

    Returns
    -------
    bool ndarray of shape (z, y, x)
    """
    ctv, _, _, st, _ = check_inputs(ctv, ctv, ctv, stations, (1.0, 1.0, 1.0))
    touched = np.zeros(N_CLASSES, dtype=bool)
    touched[np.unique(st[ctv])] = True
    touched[0] = False
    return touched[st]


# --------------------------------------------------------------------------------------
# assembling the 110
# --------------------------------------------------------------------------------------
def features_from_counts(counts: np.ndarray, *, spacing_mm, gtv_lung_location: int,
                         gtv_size_cm: float, gtv_definition: GtvDefinition = "union"
                         ) -> pd.Series:
    """The 110 features from the (17, 8) count table and the two primary-GTV features.

    Warns (:class:`PartitionWarning`) for absent stations and an empty ideaCTV.
    """
    _check_definition(gtv_definition)
    counts = np.asarray(counts)
    if counts.shape != (N_CLASSES, N_CODES):
        raise ValueError(f"counts: expected shape ({N_CLASSES}, {N_CODES}), got "
                         f"{counts.shape}")
    absent = [STATIONS[i] for i in np.flatnonzero(station_volumes_vox(counts) == 0)]
    if absent:
        warnings.warn(f"stations absent from the map (their ratios set to 0): "
                      f"{', '.join(absent)}", PartitionWarning, stacklevel=3)
    if idea_ctv_vox(counts) == 0:
        warnings.warn("ideaCTV is empty (the CTV touches no station): RI* ratios set to 0",
                      PartitionWarning, stacklevel=3)
    families = {
        "RctvLN": rctv_ln(counts),
        "RIctvLN": rictv_ln(counts),
        "RgtvLN": rgtv_ln(counts, gtv_definition),
        "RIgtvLN": rigtv_ln(counts, gtv_definition),
        "RcmgLN": rcmg_ln(counts, gtv_definition),
        "RIcmgLN": ricmg_ln(counts, gtv_definition),
    }
    values = [float(v) for fam in RATIO_FAMILIES for v in families[fam]]
    values += [ctv_volume_vox(counts), gtvnd_volume_vox(counts),
               image_resolution_mm(spacing_mm), n_ln_ctv(counts), n_ln_gtvnd(counts),
               gtv_lung_location]
    values += [int(v) for v in ctv_overlaps(counts)]
    values.append(gtv_size_cm)
    return pd.Series(np.asarray(values, dtype=float), index=list(FEATURE_NAMES),
                     name="value")


def partition_parameters(
    ctv: np.ndarray,
    gtv: np.ndarray,
    gtvnd: np.ndarray,
    stations: np.ndarray,
    spacing_mm,
    *,
    gtv_definition: GtvDefinition = "union",
) -> pd.Series:
    """The 110 partition parameters of one patient (SPEC Table 2), fast path.

    Parameters
    ----------
    ctv, gtv, gtvnd : bool ndarray of shape (z, y, x)
        Initial CTV, primary GTV and involved nodes, on one grid.
    stations : uint8 ndarray of shape (z, y, x)
        Station label map, 0 = none, ``i`` = ``LN_i`` (1..16).
    spacing_mm : 3 floats, (z, y, x)
    gtv_definition : {"union", "primary"}
        What "GTV" means in rows 33-96 (module docstring).

    Returns
    -------
    pandas.Series of 110 floats, index :data:`analysis.labels.FEATURE_NAMES`.
    """
    _check_definition(gtv_definition)
    ctv, gtv, gtvnd, st, sp = check_inputs(ctv, gtv, gtvnd, stations, spacing_mm,
                                           check_labels=False)
    counts, boxes = _count_table_boxes(ctv, gtv, gtvnd, st)  # checks the labels
    gbox = boxes["gtv"]
    if gbox is None:
        warnings.warn("primary GTV is empty: GTV_lung_location and GTV_size_cm set to 0",
                      PartitionWarning, stacklevel=2)
        location, size_cm = 0, 0.0
    else:
        z, y, x = np.nonzero(gtv[gbox])
        z = z + gbox[0].start
        y = y + gbox[1].start
        x = x + gbox[2].start
        size_cm = gtv_size_cm_from_indices(z, y, x, sp)
        carina_z, midline_x, notes = _carina_and_midline(st, boxes["stations"])
        for n in notes:
            warnings.warn(f"GTV_lung_location: {n}", PartitionWarning, stacklevel=2)
        location = lung_location_code((z.mean(), y.mean(), x.mean()), carina_z, midline_x)
    return features_from_counts(counts, spacing_mm=sp, gtv_lung_location=location,
                                gtv_size_cm=size_cm, gtv_definition=gtv_definition)


def partition_parameters_reference(
    ctv: np.ndarray,
    gtv: np.ndarray,
    gtvnd: np.ndarray,
    stations: np.ndarray,
    spacing_mm,
    *,
    gtv_definition: GtvDefinition = "union",
) -> pd.Series:
    """The 110 features the plain way: 96 boolean intersections, written for clarity.

    Same formulas and choices as :func:`partition_parameters` (module docstring), no
    cropping, no count table; the diameter comes from the hull of ALL voxel centres.
    Slow; kept as the readable reference for tests and the benchmark.
    """
    _check_definition(gtv_definition)
    ctv, gtv, gtvnd, st, sp = check_inputs(ctv, gtv, gtvnd, stations, spacing_mm)
    gross = (gtv | gtvnd) if gtv_definition == "union" else gtv
    ctv_minus_gross = ctv & ~gross
    ln = [st == i for i in range(1, N_STATIONS + 1)]
    ln_vol = np.array([np.count_nonzero(m) for m in ln])
    ctv_ln = np.array([np.count_nonzero(ctv & m) for m in ln])
    gtv_ln = np.array([np.count_nonzero(gross & m) for m in ln])
    cmg_ln = np.array([np.count_nonzero(ctv_minus_gross & m) for m in ln])
    idea = np.zeros_like(ctv)
    for m, inter in zip(ln, ctv_ln, strict=True):
        if inter > 0:
            idea |= m
    idea_vol = np.count_nonzero(idea)

    def ratio(num, den):
        den = np.broadcast_to(den, np.shape(num))
        return [float(n) / float(d) if d > 0 else 0.0 for n, d in zip(num, den, strict=True)]

    if np.any(ln_vol == 0):
        warnings.warn("stations absent from the map (their ratios set to 0)",
                      PartitionWarning, stacklevel=2)
    if idea_vol == 0:
        warnings.warn("ideaCTV is empty: RI* ratios set to 0", PartitionWarning,
                      stacklevel=2)
    values = (ratio(ctv_ln, ln_vol) + ratio(ctv_ln, idea_vol) + ratio(gtv_ln, ln_vol)
              + ratio(gtv_ln, idea_vol) + ratio(cmg_ln, ln_vol) + ratio(cmg_ln, idea_vol))
    nd_ln = np.array([np.count_nonzero(gtvnd & m) for m in ln])
    values += [np.count_nonzero(ctv), np.count_nonzero(gtvnd), image_resolution_mm(sp),
               int(np.count_nonzero(ctv_ln)), int(np.count_nonzero(nd_ln))]
    z, y, x = np.nonzero(gtv)
    if len(z) == 0:
        values += [0]
        size_cm = 0.0
    else:
        carina_z, midline_x, _ = _carina_and_midline(st)
        values += [lung_location_code((z.mean(), y.mean(), x.mean()), carina_z, midline_x)]
        size_cm = _hull_diameter(np.stack([z, y, x], axis=1) * np.asarray(sp)) / 10.0
    values += [int(ctv_ln[STATION_LABEL[s] - 1] > 0) for s in OVERLAP_STATIONS]
    values.append(size_cm)
    return pd.Series(np.asarray(values, dtype=float), index=list(FEATURE_NAMES),
                     name="value")


def structure_volumes_cm3(
    ctv: np.ndarray,
    gtv: np.ndarray,
    gtvnd: np.ndarray,
    stations: np.ndarray,
    spacing_mm,
    *,
    gtv_definition: GtvDefinition = "union",
) -> pd.Series:
    """Volumes in cm^3 (extra columns, NOT among the 110): structures, ideaCTV, stations.

    Returns a Series with ``CTV_cm3, GTV_cm3, GTVnd_cm3, GTV_gross_cm3`` (GTV per
    ``gtv_definition``), ``ideaCTV_cm3`` and ``LN_<station>_cm3`` for the 16 stations.
    """
    _check_definition(gtv_definition)
    ctv, gtv, gtvnd, st, sp = check_inputs(ctv, gtv, gtvnd, stations, spacing_mm)
    counts = _count_table_boxes(ctv, gtv, gtvnd, st)[0]
    voxel_cm3 = float(np.prod(sp)) / 1000.0
    per_code = counts.sum(axis=0)
    codes = np.arange(N_CODES)
    vals = {
        "CTV_cm3": per_code[(codes & CTV_BIT) > 0].sum(),
        "GTV_cm3": per_code[(codes & GTV_BIT) > 0].sum(),
        "GTVnd_cm3": per_code[(codes & GTVND_BIT) > 0].sum(),
        "GTV_gross_cm3": per_code[[c for c in codes if _gross(c, gtv_definition)]].sum(),
        "ideaCTV_cm3": idea_ctv_vox(counts),
    }
    vals.update({f"LN_{s}_cm3": v for s, v in zip(STATIONS, station_volumes_vox(counts),
                                                    strict=True)})
    return pd.Series({k: float(v) * voxel_cm3 for k, v in vals.items()}, name="cm3")


# --------------------------------------------------------------------------------------
# the cohort: partition_table
# --------------------------------------------------------------------------------------
StationSource = Literal["reference", "predicted"]
_STATION_VOLUME = {"reference": "stations_ref", "predicted": "stations_pred"}
_INPUTS = ("ctv", "gtv", "gtvnd", "stations")


@dataclass(frozen=True)
class PartitionJob:
    """One patient's input to :func:`partition_table`: arrays, or a patient of a store."""

    gtv_definition: str
    pid: str
    #: (ctv, gtv, gtvnd, stations, spacing_mm), or None to read from ``store_root``
    arrays: tuple | None = None
    store_root: str | None = None
    #: store volume used as the station map (stations_ref or stations_pred)
    station_volume: str = "stations_ref"

    def files(self) -> dict[str, Path]:
        d = Path(str(self.store_root)) / "patients" / self.pid
        names = dict(zip(_INPUTS, ("ctv", "gtv", "gtvnd", self.station_volume), strict=True))
        return {k: d / f"{v}.nii.gz" for k, v in names.items()}


def job_hash(job: PartitionJob) -> str:
    """Content hash of a patient's inputs (the cache key of :func:`partition_table`).

    SHA-256 of :data:`PARTITION_CODE_VERSION`, ``gtv_definition`` and either the four
    arrays (dtype, shape, bytes) and the spacing, or the bytes of the four stored files
    and of the patient's ``meta.json`` (its grid). A missing file hashes as "missing",
    so the patient fails (and is reported) when computed rather than here.
    """
    from analysis.parallel import input_digest

    head = ("partition", PARTITION_CODE_VERSION, job.gtv_definition)
    if job.arrays is not None:
        arrays = [np.asarray(a) for a in job.arrays[:4]]
        spacing = [float(s) for s in np.ravel(job.arrays[4])]
        return input_digest(*head, arrays, spacing)
    files = job.files()
    files["meta"] = files["ctv"].with_name("meta.json")
    return input_digest(*head, {k: (p if p.is_file() else f"missing {p.name}")
                                for k, p in files.items()})


def _load(job: PartitionJob) -> tuple:
    if job.arrays is not None:
        return job.arrays
    from analysis.store import CohortStore

    store = CohortStore(str(job.store_root))
    missing = [p.name for p in job.files().values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"patient {job.pid}: no {', '.join(missing)} in the cohort "
                                "store")
    names = ("ctv", "gtv", "gtvnd", job.station_volume)
    return tuple(store.read(job.pid, n) for n in names) + (store.grid(job.pid).spacing_mm,)


def compute_patient(job: PartitionJob) -> dict:
    """One patient (runs in a worker): the 110 features, the cm^3 volumes, the warnings.

    Returns a plain dict ``{"features": [110 floats], "volumes": {name: cm3},
    "warnings": [messages]}``.
    """
    ctv, gtv, gtvnd, st, sp = _load(job)
    ctv, gtv, gtvnd, st, sp = check_inputs(ctv, gtv, gtvnd, st, sp,
                                           where=f"patient {job.pid}")
    definition = job.gtv_definition
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartitionWarning)
        feats = partition_parameters(ctv, gtv, gtvnd, st, sp,
                                     gtv_definition=definition)  # type: ignore[arg-type]
        vols = structure_volumes_cm3(ctv, gtv, gtvnd, st, sp,
                                     gtv_definition=definition)  # type: ignore[arg-type]
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, PartitionWarning)})
    return {"features": [float(v) for v in feats], "volumes": vols.to_dict(),
            "warnings": msgs}


@dataclass
class PartitionTable:
    """Result of :func:`partition_table`.

    Attributes
    ----------
    features : DataFrame, index ``pid``, the 110 columns of FEATURE_NAMES in order
    volumes : DataFrame, index ``pid``, the extra cm^3 columns (structure_volumes_cm3)
    failures : DataFrame, index ``pid``, column ``error``: every patient that failed
        (never dropped silently)
    warnings : DataFrame, columns ``pid, warning``: one row per PartitionWarning
    n_computed, n_loaded : patients computed now, and loaded from the cache
    """

    features: pd.DataFrame
    volumes: pd.DataFrame
    failures: pd.DataFrame
    warnings: pd.DataFrame
    n_computed: int = 0
    n_loaded: int = 0

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``partition_features.parquet`` and ``.csv`` (index pid, 110 columns), and
        ``partition_volumes``, ``partition_failures``, ``partition_warnings`` (Parquet)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return {
            "features": _atomic_df(self.features, out / FEATURES_PARQUET),
            "features_csv": _atomic_df(self.features, out / FEATURES_CSV),
            "volumes": _atomic_df(self.volumes, out / "partition_volumes.parquet"),
            "failures": _atomic_df(self.failures, out / "partition_failures.parquet"),
            "warnings": _atomic_df(self.warnings, out / "partition_warnings.parquet"),
        }


def _atomic_df(df: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix == ".csv":
            df.to_csv(tmp, float_format="%.17g")
        else:
            df.to_parquet(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_partition_features(folder: str | Path) -> pd.DataFrame:
    """Read ``partition_features.parquet`` from ``folder`` (e.g. the store root), checked:
    index ``pid``, exactly the 110 columns of FEATURE_NAMES in order."""
    path = Path(folder) / FEATURES_PARQUET
    if not path.exists():
        raise FileNotFoundError(f"{path}: no partition features (run 03_partition)")
    df = pd.read_parquet(path)
    if list(df.columns) != list(FEATURE_NAMES) or df.index.name != "pid":
        raise ValueError(f"{path}: expected index 'pid' and the 110 FEATURE_NAMES columns "
                         "in SPEC order")
    return df


def partition_table(
    source,
    *,
    gtv_definition: GtvDefinition = "union",
    stations: StationSource = "reference",
    cache_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    scheduler: str = "serial",
    n_workers: int = 1,
    patient_ids: list[str] | None = None,
) -> PartitionTable:
    """The 110 features of every patient: a DataFrame (patients x 110), cached, parallel.

    Parameters
    ----------
    source : CohortStore or mapping
        A :class:`analysis.store.CohortStore` (for each included patient: ctv, gtv,
        gtvnd and the station map chosen by ``stations``; spacing from its grid), or a
        mapping ``pid -> (ctv, gtv, gtvnd, stations, spacing_mm)`` of arrays.
    gtv_definition : {"union", "primary"}
    stations : {"reference", "predicted"}
        Station maps of a store: ``stations_ref`` or ``stations_pred`` (ignored for a
        mapping). A patient without the chosen map fails with a clear error.
    cache_dir : path, optional
        Per-patient cache of :func:`analysis.parallel.map_patients`, keyed by
        :func:`job_hash` (content of the inputs, spacing, definition, code version).
    out_dir : path, optional
        Where :meth:`PartitionTable.write` puts ``partition_features.parquet`` / ``.csv``.
    scheduler, n_workers : see :func:`analysis.parallel.map_patients`.
    patient_ids : list of str, optional
        Restrict to these patients (default: all).

    Returns
    -------
    PartitionTable
        ``features`` has one row per successful patient (index ``pid``, sorted), the 110
        columns in SPEC order; every failed patient is in ``failures``.
    """
    from analysis.parallel import map_patients

    _check_definition(gtv_definition)
    if stations not in _STATION_VOLUME:
        raise ValueError(f"stations: expected 'reference' or 'predicted', got {stations!r}")
    if isinstance(source, Mapping):
        jobs = {str(p): PartitionJob(gtv_definition, str(p), arrays=tuple(v))
                for p, v in source.items()}
    else:
        jobs = {p: PartitionJob(gtv_definition, p, store_root=str(source.root),
                                station_volume=_STATION_VOLUME[stations])
                for p in source.patient_ids()}
    if patient_ids is not None:
        unknown = sorted(set(patient_ids) - set(jobs))
        if unknown:
            raise KeyError(f"patient_ids: not in the source: {', '.join(unknown)}")
        jobs = {p: jobs[p] for p in patient_ids}
    res = map_patients(compute_patient, jobs, scheduler=scheduler, n_workers=n_workers,
                       desc="partition parameters", cache_dir=cache_dir,
                       input_hash=job_hash if cache_dir is not None else None)
    ok = sorted(res.results)
    index = pd.Index(ok, name="pid", dtype=object)
    features = pd.DataFrame([res.results[p]["features"] for p in ok], index=index,
                            columns=list(FEATURE_NAMES), dtype=float)
    volumes = pd.DataFrame([res.results[p]["volumes"] for p in ok], index=index,
                           dtype=float)
    failed = sorted(res.failures)
    failures = pd.DataFrame({"error": [str(res.failures[p]) for p in failed]},
                            index=pd.Index(failed, name="pid", dtype=object))
    warn_df = pd.DataFrame([(p, w) for p in ok for w in res.results[p]["warnings"]],
                           columns=["pid", "warning"])
    if failed:
        warnings.warn(f"partition_table: {len(failed)} patient(s) failed (see .failures); "
                      f"first: {failures['error'].iloc[0]}", PartitionWarning, stacklevel=2)
    table = PartitionTable(features, volumes, failures, warn_df,
                           n_computed=len(res.computed), n_loaded=len(res.loaded))
    if out_dir is not None:
        table.write(out_dir)
    return table


def missing_station_maps(store, stations: StationSource = "reference") -> list[str]:
    """Included patients of ``store`` without the chosen station map (sorted)."""
    if stations not in _STATION_VOLUME:
        raise ValueError(f"stations: expected 'reference' or 'predicted', got {stations!r}")
    name = _STATION_VOLUME[stations]
    return [p for p in store.patient_ids() if not store.has(p, name)]


def partition_table_for_params(params, store=None, *, cache: bool = True,
                               write: bool = True) -> PartitionTable:
    """:func:`partition_table` for a run: the store of ``params``, its station maps and
    GTV definition, its scheduler; writes ``partition_features.parquet`` into the store
    root and caches per patient under ``<store>/cache/partition``.

    Raises
    ------
    FileNotFoundError
        When the chosen station map (``params.partition.stations``) is missing for any
        patient; the message lists them.
    """
    from analysis.store import CohortStore

    store = store if store is not None else CohortStore.for_params(params)
    choice = params.partition.stations
    missing = missing_station_maps(store, choice)
    if missing:
        hint = ("run notebooks/02_segment.ipynb first" if choice == "predicted"
                else "the export has no reference stations; set partition.stations: "
                "predicted")
        raise FileNotFoundError(
            f"{store.root}: {len(missing)} patient(s) have no {_STATION_VOLUME[choice]} "
            f"(partition.stations = {choice!r}; {hint}): {', '.join(missing)}")
    return partition_table(
        store,
        gtv_definition=params.partition.gtv_definition,
        stations=choice,
        cache_dir=Path(store.root) / "cache" / "partition" if cache else None,
        out_dir=store.root if write else None,
        scheduler=params.scheduler,
        n_workers=params.n_workers,
    )


# --------------------------------------------------------------------------------------
# what 03_partition shows (tables and figures; no patient identifier in any of them)
# --------------------------------------------------------------------------------------
def feature_summary(features: pd.DataFrame) -> pd.DataFrame:
    """Per feature across patients: mean, sd, min, median, max, patients with a non-zero
    value, and the paper's Table 2 range where it gives one (``paper_min/max``).

    Returns a DataFrame indexed by feature (SPEC order) with ``row`` (Table 2 number).
    """
    from analysis.paper import TABLE2_RANGES

    f = features.reindex(columns=list(FEATURE_NAMES))
    out = pd.DataFrame({
        "row": [FEATURE_NAMES.index(n) + 1 for n in f.columns],
        "mean": f.mean(), "sd": f.std(ddof=1), "min": f.min(), "median": f.median(),
        "max": f.max(), "n_nonzero": (f != 0).sum(),
    })
    ratio = out.index.str.startswith(tuple(f"{fam}_" for fam in RATIO_FAMILIES))
    overlap = out.index.str.startswith("CTV_overlaps_")
    out["paper_min"] = np.where(ratio, 0.0, np.where(overlap, 0.0, np.nan))
    out["paper_max"] = np.where(ratio | overlap, 1.0, np.nan)
    for name, (lo, hi) in TABLE2_RANGES.items():
        out.loc[name, ["paper_min", "paper_max"]] = [lo, hi]
    out.index.name = "feature"
    return out


def issue_summary(table: PartitionTable) -> pd.DataFrame:
    """Failures and warnings of a :class:`PartitionTable`, counted by message, with the
    patient identifiers removed (for reports): columns ``kind, message, n_patients``."""
    rows = []
    for pid, err in table.failures["error"].items():
        rows.append(("failure", str(err).replace(str(pid), "<pid>"), pid))
    for pid, msg in table.warnings[["pid", "warning"]].itertuples(index=False):
        rows.append(("warning", str(msg).replace(str(pid), "<pid>"), pid))
    df = pd.DataFrame(rows, columns=["kind", "message", "pid"])
    if df.empty:
        return pd.DataFrame({"kind": pd.Series(dtype=object),
                             "message": pd.Series(dtype=object),
                             "n_patients": pd.Series(dtype=int)})
    return (df.groupby(["kind", "message"])["pid"].nunique().rename("n_patients")
            .reset_index().sort_values(["kind", "n_patients"], ascending=[True, False],
                                       ignore_index=True))


def coverage_heatmap(features: pd.DataFrame, family: str = "RctvLN"):
    """Heatmap of one ratio family (default CTV coverage ``RctvLN_i``): patients (rows,
    numbered 1..n in table order, no identifiers) x the 16 stations. Returns a Figure."""
    import matplotlib.pyplot as plt

    if family not in RATIO_FAMILIES:
        raise ValueError(f"family: expected one of {RATIO_FAMILIES}, got {family!r}")
    cols = [f"{family}_{i}" for i in range(1, N_STATIONS + 1)]
    data = features[cols].to_numpy(dtype=float)
    n = len(data)
    fig, ax = plt.subplots(figsize=(7.5, max(3.0, min(12.0, 0.06 * n + 2.0))))
    im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0,
                   vmax=1, extent=(-0.5, N_STATIONS - 0.5, n + 0.5, 0.5))
    ax.set_xticks(range(N_STATIONS), STATIONS)
    ax.set_xlabel("station")
    ax.set_ylabel(f"patient (1..{n})")
    ax.set_title(f"{family}_i by station")
    fig.colorbar(im, ax=ax, label=family)
    fig.tight_layout()
    return fig


def family_distributions(features: pd.DataFrame):
    """Box plots of the six ratio families by station (one panel each). Returns a Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(11, 9), sharey=True)
    for ax, fam in zip(axes.ravel(), RATIO_FAMILIES, strict=True):
        cols = [f"{fam}_{i}" for i in range(1, N_STATIONS + 1)]
        ax.boxplot([features[c].to_numpy(dtype=float) for c in cols], showfliers=True,
                   flierprops={"markersize": 2})
        ax.set_xticks(range(1, N_STATIONS + 1), STATIONS, fontsize=7)
        ax.set_title(fam)
        ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    return fig


def scalar_distributions(features: pd.DataFrame):
    """Histograms of rows 97-102 and 110, and the share of patients with each of rows
    103-109 set. Returns a Figure."""
    import matplotlib.pyplot as plt

    from analysis.paper import TABLE2_RANGES

    names = ["CTV_volume", "GTVnd_volume", "image_resolution", "n_LN_CTV", "n_LN_GTVnd",
             "GTV_lung_location", "GTV_size_cm"]
    fig, axes = plt.subplots(2, 4, figsize=(13, 6))
    for ax, name in zip(axes.ravel(), names, strict=False):
        v = features[name].to_numpy(dtype=float)
        discrete = name in ("n_LN_CTV", "n_LN_GTVnd", "GTV_lung_location")
        if discrete:
            vals, cnt = np.unique(v, return_counts=True)
            ax.bar(vals, cnt, width=0.8)
        else:
            ax.hist(v, bins=20)
        title = name
        if name in TABLE2_RANGES:
            lo, hi = TABLE2_RANGES[name]
            title += f"\n(paper's range {lo:g}-{hi:g})"
        ax.set_title(title, fontsize=9)
    ax = axes.ravel()[-1]
    cols = [f"CTV_overlaps_{s}" for s in OVERLAP_STATIONS]
    ax.bar(range(len(cols)), features[cols].mean().to_numpy(), width=0.8)
    ax.set_xticks(range(len(cols)), OVERLAP_STATIONS)
    ax.set_ylim(0, 1)
    ax.set_title("CTV_overlaps (share of patients)", fontsize=9)
    fig.tight_layout()
    return fig
