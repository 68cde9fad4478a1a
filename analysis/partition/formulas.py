"""The 110 partition parameters of SPEC Table 2: exact, fast, one patient at a time.

Inputs are numpy arrays on one grid, indexed ``(z, y, x)`` (see :mod:`analysis`):
``ctv``, ``gtv`` (primary), ``gtvnd`` (involved nodes) are boolean masks and
``stations`` is the label map 0..16 (``i`` = ``LN_i`` of :data:`analysis.labels.STATIONS`,
0 = no station). ``spacing_mm`` is ``(z, y, x)``. Nothing here reads files (the cohort jobs and cache are
in :mod:`analysis.partition.run`, the report's tables and figures in
:mod:`analysis.partition.figures`; the count table in :mod:`analysis.partition.counting`).

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
  :data:`analysis.geometry.BRUTE_FORCE_MAX_POINTS`, else the pairs of their Qhull hull's vertices. 0 with a
  warning when the primary GTV is empty.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis.geometry import gtv_size_cm_from_indices, hull_diameter_mm
from analysis.labels import (
    FEATURE_NAMES,
    N_CLASSES,
    N_STATIONS,
    OVERLAP_STATIONS,
    RATIO_FAMILIES,
    STATION_LABEL,
    STATIONS,
)
from analysis.partition.counting import (
    CTV_BIT,
    GTV_BIT,
    GTVND_BIT,
    N_CODES,
    Box,
    GtvDefinition,
    PartitionWarning,
    _as_mask,
    _check_definition,
    _count_table_boxes,
    bounding_box,
    check_inputs,
)


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
    """``abs(LN_i)`` for i = 1..16 (voxels), shape (16,).

    .. math:: |LN_i| = \\sum_{c} n(i, c)

    The denominator of SPEC rows 1-16, 33-48 and 65-80. Reference: SPEC Table 2 (paper Table 2), the count table of
    :func:`analysis.partition.counting.count_table`.
    """
    return counts[1:].sum(axis=1)


def ctv_in_stations_vox(counts: np.ndarray) -> np.ndarray:
    """``abs(CTV ∩ LN_i)`` for i = 1..16 (voxels), shape (16,).

    .. math:: |CTV \\cap LN_i| = \\sum_{c:\\ c \\ni CTV} n(i, c)

    over the codes ``c`` of the count table ``n`` whose CTV bit is set. The numerator of
    SPEC rows 1-32. Reference: SPEC Table 2 (paper Table 2), the count table of
    :func:`analysis.partition.counting.count_table`.
    """
    return counts[1:, _CODES_CTV].sum(axis=1)


def gtv_in_stations_vox(counts: np.ndarray, gtv_definition: GtvDefinition = "union"
                        ) -> np.ndarray:
    """``abs(GTV ∩ LN_i)`` (GTV = GTV ∪ GTVnd, or the primary only), shape (16,).

    .. math:: |GTV \\cap LN_i| = \\sum_{c \\ni GTV} n(i, c)

    The numerator of SPEC rows 33-64. Reference: SPEC Table 2 (paper Table 2), the count table of
    :func:`analysis.partition.counting.count_table`.
    """
    return counts[1:, _CODES_GROSS[gtv_definition]].sum(axis=1)


def ctv_minus_gtv_in_stations_vox(counts: np.ndarray,
                                  gtv_definition: GtvDefinition = "union") -> np.ndarray:
    """``abs((CTV - GTV) ∩ LN_i)`` (set difference), shape (16,).

    .. math:: |(CTV \\setminus GTV) \\cap LN_i| = \\sum_{c:\\ c \\ni CTV,\\ c \\not\\ni GTV} n(i, c)

    The numerator of SPEC rows 65-96. Reference: SPEC Table 2 (paper Table 2), the count table of
    :func:`analysis.partition.counting.count_table`.
    """
    return counts[1:, _CODES_CTV_MINUS_GROSS[gtv_definition]].sum(axis=1)


def idea_ctv_vox(counts: np.ndarray) -> int:
    """``abs(ideaCTV)``: total volume of the stations the CTV touches (voxels).

    .. math:: ideaCTV = \\bigcup_{m:\\ |CTV \\cap LN_m| > 0} LN_m

    Stations do not overlap, so ``abs(ideaCTV)`` is the sum of their volumes.
    Reference: SPEC Table 2 (the denominator of rows 17-32, 49-64, 81-96).
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
    """SPEC row 97: ``CTV_volume``, voxels of the planning grid.

    .. math:: CTV\\_volume = |CTV| = \\sum_{i=0}^{16} \\sum_{c \\ni CTV} n(i, c)

    Reference: SPEC Table 2, row 97 (voxels, as the paper; ml beside it in 03).
    """
    return int(counts[:, _CODES_CTV].sum())


def gtvnd_volume_vox(counts: np.ndarray) -> int:
    """SPEC row 98: ``GTVnd_volume``, voxels.

    .. math:: GTVnd\\_volume = |GTVnd| = \\sum_{i=0}^{16} \\sum_{c \\ni GTVnd} n(i, c)

    Reference: SPEC Table 2, row 98.
    """
    return int(counts[:, _CODES_GTVND].sum())


def n_ln_ctv(counts: np.ndarray) -> int:
    """SPEC row 100: number of stations with ``abs(CTV ∩ LN_i) > 0``.

    .. math:: n\\_LN\\_CTV = \\sum_{i=1}^{16} [\\, |CTV \\cap LN_i| > 0 \\,]

    Reference: SPEC Table 2, row 100.
    """
    return int(np.count_nonzero(ctv_in_stations_vox(counts)))


def n_ln_gtvnd(counts: np.ndarray) -> int:
    """SPEC row 101: number of stations with ``abs(GTVnd ∩ LN_i) > 0``.

    .. math:: n\\_LN\\_GTVnd = \\sum_{i=1}^{16} [\\, |GTVnd \\cap LN_i| > 0 \\,]

    Reference: SPEC Table 2, row 101.
    """
    return int(np.count_nonzero(counts[1:, _CODES_GTVND].sum(axis=1)))


def ctv_overlaps(counts: np.ndarray) -> np.ndarray:
    """SPEC rows 103-109: 1 if ``abs(CTV ∩ LN) > 0`` for 4L, 4R, 5, 6, 7, 11L, 11R.

    .. math:: CTV\\_overlaps_s = [\\, |CTV \\cap LN_s| > 0 \\,]

    Reference: SPEC Table 2, rows 103-109.
    """
    inter = ctv_in_stations_vox(counts)
    return np.array([int(inter[STATION_LABEL[s] - 1] > 0) for s in OVERLAP_STATIONS])


def image_resolution_mm(spacing_mm) -> float:
    """SPEC row 99: in-plane pixel spacing in mm: the row (y) spacing ``spacing_mm[1]``.

    .. math:: image\\_resolution = s_y

    (warns when :math:`s_y \\neq s_x`). Reference: SPEC Table 2, row 99.
    """
    sp = tuple(float(s) for s in spacing_mm)
    if abs(sp[1] - sp[2]) > 1e-3 * max(sp[1], sp[2]):
        warnings.warn(f"image_resolution: y and x spacings differ ({sp[1]} vs {sp[2]} mm); "
                      "using the y (row) spacing", PartitionWarning, stacklevel=2)
    return sp[1]


# --------------------------------------------------------------------------------------
# the primary GTV: location (its size lives on the floor, analysis.geometry)
# --------------------------------------------------------------------------------------
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

    .. math:: code = 1 + 2\\,[c_x \\ge x_{mid}] + [c_z \\le z_{carina}]

    Reference: SPEC Table 2, row 102 (the lobe coding), module docstring for the levels.
    """
    cz, _, cx = (float(v) for v in centroid_zyx)
    right = cx < midline_x
    upper = cz > carina_z
    return {(True, True): 1, (True, False): 2, (False, True): 3, (False, False): 4}[
        (right, upper)]


def gtv_lung_location(gtv: np.ndarray, stations: np.ndarray) -> int:
    """SPEC row 102: lobe of the primary GTV's centroid (1 RU, 2 RL, 3 LU, 4 LL; 0 if empty).

    .. math:: GTV\\_lung\\_location = code(\\bar{p}), \\quad
              \\bar{p} = \\frac{1}{|GTV|} \\sum_{p \\in GTV} p

    with :func:`lung_location_code`. Reference: SPEC Table 2, row 102.

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

    .. math:: ideaCTV = \\bigcup_{m:\\ |CTV \\cap LN_m| > 0} LN_m

    Reference: SPEC Table 2 (the denominator of the ``RI*`` families), paper section 2.2.

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

    .. math:: x = (RctvLN_{1..16}, RIctvLN, RgtvLN, RIgtvLN, RcmgLN, RIcmgLN,
              CTV\\_volume, \\ldots, GTV\\_size\\_cm)

    each family as in its own function above. Reference: SPEC Table 2, rows 1-110.

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

    .. math:: x = features(n), \\quad n(i, c) = |\\{v \\in box: LN(v) = i,\\ code(v) = c\\}|

    one pass over the structures' bounding box builds the (17, 8) count table ``n`` of
    station label by (CTV, GTV, GTVnd) code, and every family is a ratio of its sums
    (:func:`features_from_counts`); equal to :func:`partition_parameters_reference`.

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

    .. math:: RctvLN_i = |CTV \\cap LN_i| / |LN_i|, \\ldots \\ (each of SPEC rows 1-110)

    Reference: SPEC Table 2; the truth the phantom plants and the fast path is tested on.

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
        size_cm = hull_diameter_mm(np.stack([z, y, x], axis=1) * np.asarray(sp)) / 10.0
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

    .. math:: V_{cm^3}(S) = |S| \\cdot s_z s_y s_x / 1000

    Reference: the paper's Table 3 reports volumes in ml (= cm^3); SPEC rows 97-98 keep voxels.

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
