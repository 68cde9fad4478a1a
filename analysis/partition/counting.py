"""Input checks and the one count table behind every ratio of SPEC Table 2.

Inputs are numpy arrays on one grid, indexed ``(z, y, x)``: ``ctv``, ``gtv`` (primary),
``gtvnd`` (involved nodes) are boolean masks and ``stations`` is the label map 0..16
(``i`` = ``LN_i`` of :data:`analysis.labels.STATIONS`, 0 = no station).

``counts[i, c]`` = number of voxels with station label ``i`` (0..16) and structure code
``c = 4*ctv + 2*gtv + gtvnd`` (0..7), see :func:`count_table`. The fast path builds it in
one pass over the bounding box of whatever is non-zero with a single ``np.bincount``;
:func:`count_table_reference` is the plain way (one boolean mask per (station, code)).
The formulas that read the table, and the SPEC choices, are in
:mod:`analysis.partition.formulas`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from analysis.labels import N_CLASSES, N_STATIONS

#: bump when any formula or choice below changes (part of the cache key)
PARTITION_CODE_VERSION = "1"

GtvDefinition = Literal["union", "primary"]
#: structure-code bits of :func:`count_table`
CTV_BIT, GTV_BIT, GTVND_BIT = 4, 2, 1
N_CODES = 8


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
