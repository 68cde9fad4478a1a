"""The 110 partition parameters on hand-painted volumes, every value computed by hand.

The volume (3 x 4 x 4 voxels, z y x; spacing (2, 1.5, 1.5) mm, so a voxel is 4.5 mm^3):

- LN_7   (label 11): z 0-1, y 1-2, x 1-2  -> 2*2*2 = 8 voxels
- LN_4R  (label 7):  z 2,   y 1-2, x 1    -> 2 voxels
- LN_10L (label 14): z 0-2, y 0,   x 3    -> 3 voxels
- CTV:   z 0-1, y 1-2, x 1-3 (12 voxels; all of LN_7) + voxel (0, 0, 3) in LN_10L -> 13
- GTV (primary): z 1, y 3, x 0-2: a 3-voxel line along x, outside every station
- GTVnd: (0, 1, 1), (0, 2, 1) in LN_7 and inside the CTV; (2, 1, 1) in LN_4R -> 3 voxels
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import geometry
from analysis import partition as P
from analysis.labels import FEATURE_NAMES, STATION_LABEL

# the painted map holds 3 of the 16 stations: the "absent" warning is expected everywhere
# (test_absent_station_warns_and_gives_zero checks it)
pytestmark = pytest.mark.filterwarnings("ignore:stations absent:UserWarning")

# exact ratios of small integers: float division is correctly rounded, so 1e-12 only
# absorbs the order of operations
ATOL = 1e-12

L7, L4R, L10L = STATION_LABEL["7"], STATION_LABEL["4R"], STATION_LABEL["10L"]
SPACING = (2.0, 1.5, 1.5)


def painted():
    st = np.zeros((3, 4, 4), dtype=np.uint8)
    st[0:2, 1:3, 1:3] = L7
    st[2, 1:3, 1] = L4R
    st[0:3, 0, 3] = L10L
    ctv = np.zeros(st.shape, dtype=bool)
    ctv[0:2, 1:3, 1:4] = True
    ctv[0, 0, 3] = True
    gtv = np.zeros(st.shape, dtype=bool)
    gtv[1, 3, 0:3] = True
    gtvnd = np.zeros(st.shape, dtype=bool)
    gtvnd[0, 1:3, 1] = True
    gtvnd[2, 1, 1] = True
    return ctv, gtv, gtvnd, st


def warned(fn, *args, **kw):
    with pytest.warns(P.PartitionWarning):
        return fn(*args, **kw)


def expected_union() -> dict[str, float]:
    """Every non-zero feature of the painted case with gtv_definition="union"."""
    return {
        # |CTV ∩ LN_7| = 8 of |LN_7| = 8; |CTV ∩ LN_10L| = 1 (voxel (0,0,3)) of 3
        "RctvLN_11": 8 / 8, "RctvLN_14": 1 / 3,
        # ideaCTV = LN_7 ∪ LN_10L = 8 + 3 = 11 voxels (LN_4R untouched by the CTV)
        "RIctvLN_11": 8 / 11, "RIctvLN_14": 1 / 11,
        # GTV ∪ GTVnd: 2 voxels in LN_7, 1 in LN_4R (of 2); the primary touches no station
        "RgtvLN_11": 2 / 8, "RgtvLN_7": 1 / 2,
        "RIgtvLN_11": 2 / 11, "RIgtvLN_7": 1 / 11,
        # CTV - (GTV ∪ GTVnd): LN_7 8 - 2 = 6; LN_10L 1; LN_4R 0 (not in the CTV)
        "RcmgLN_11": 6 / 8, "RcmgLN_14": 1 / 3,
        "RIcmgLN_11": 6 / 11, "RIcmgLN_14": 1 / 11,
        "CTV_volume": 13,  # 12 + 1 voxels
        "GTVnd_volume": 3,
        "image_resolution": 1.5,  # spacing_mm[1]
        "n_LN_CTV": 2,  # 7, 10L
        "n_LN_GTVnd": 2,  # 7, 4R
        # centroid (z, y, x) = (1, 3, 1); station 7: x centroid 1.5 (x 1-2), top slice z 1,
        # carina at z 1.5 -> x 1 < 1.5 right, z 1 < 1.5 lower -> 2 (right lower)
        "GTV_lung_location": 2,
        "CTV_overlaps_7": 1,
        # centres x 0 and x 2, 1.5 mm apart each: 3 mm = 0.3 cm
        "GTV_size_cm": 0.3,
    }


def as_full(nonzero: dict[str, float]) -> pd.Series:
    unknown = set(nonzero) - set(FEATURE_NAMES)
    assert not unknown, unknown
    full = pd.Series(0.0, index=list(FEATURE_NAMES))
    full[list(nonzero)] = list(nonzero.values())
    return full


def test_names_and_order():
    feats = warned(P.partition_parameters, *painted(), SPACING)
    assert list(feats.index) == list(FEATURE_NAMES)
    assert feats.index[0] == "RctvLN_1" and feats.index[-1] == "GTV_size_cm"
    assert len(feats) == 110


@pytest.mark.parametrize("fn", [P.partition_parameters, P.partition_parameters_reference])
def test_painted_union_by_hand(fn):
    got = warned(fn, *painted(), SPACING)
    want = as_full(expected_union())
    pd.testing.assert_series_equal(got, want.rename(got.name), check_exact=False, atol=ATOL,
                                   rtol=0)


def test_painted_primary_by_hand():
    got = warned(P.partition_parameters, *painted(), SPACING, gtv_definition="primary")
    want = expected_union()
    # "GTV" = primary only: it touches no station -> RgtvLN and RIgtvLN all 0
    for k in ("RgtvLN_11", "RgtvLN_7", "RIgtvLN_11", "RIgtvLN_7"):
        del want[k]
    # CTV - GTV in LN_7 is now all 8 voxels (GTVnd no longer subtracted)
    want.update({"RcmgLN_11": 8 / 8, "RIcmgLN_11": 8 / 11})
    pd.testing.assert_series_equal(got, as_full(want).rename(got.name), check_exact=False,
                                   atol=ATOL, rtol=0)
    union = warned(P.partition_parameters, *painted(), SPACING)
    differ = sorted(got.index[~np.isclose(got, union, atol=ATOL, rtol=0)])
    assert differ == sorted(["RgtvLN_11", "RgtvLN_7", "RIgtvLN_11", "RIgtvLN_7",
                             "RcmgLN_11", "RIcmgLN_11"])


def test_count_table_by_hand():
    counts = P.count_table(*painted())
    # LN_7: 6 voxels CTV only (code 4), 2 CTV+GTVnd (code 5)
    assert counts[L7].tolist() == [0, 0, 0, 0, 6, 2, 0, 0]
    # LN_4R: 1 nothing, 1 GTVnd only (code 1)
    assert counts[L4R].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    # LN_10L: 2 nothing, 1 CTV
    assert counts[L10L].tolist() == [2, 0, 0, 0, 1, 0, 0, 0]
    # background: CTV x 3 column (z 0-1, y 1-2) = 4 voxels CTV; GTV 3 voxels
    assert counts[0, 4] == 4 and counts[0, 2] == 3
    assert counts.sum() == 3 * 4 * 4
    assert np.array_equal(counts, P.counting.count_table_reference(*painted()))


def test_idea_ctv_mask():
    ctv, _, _, st = painted()
    idea = P.formulas.idea_ctv(ctv, st)
    assert idea.dtype == bool
    assert np.array_equal(idea, (st == L7) | (st == L10L))
    assert idea.sum() == 11


def test_structure_volumes_by_hand():
    vols = P.formulas.structure_volumes_cm3(*painted(), SPACING)
    voxel_cm3 = 2.0 * 1.5 * 1.5 / 1000  # 4.5 mm^3
    assert vols["CTV_cm3"] == pytest.approx(13 * voxel_cm3, rel=1e-12)
    assert vols["GTV_cm3"] == pytest.approx(3 * voxel_cm3, rel=1e-12)
    assert vols["GTVnd_cm3"] == pytest.approx(3 * voxel_cm3, rel=1e-12)
    assert vols["GTV_gross_cm3"] == pytest.approx(6 * voxel_cm3, rel=1e-12)  # disjoint
    assert vols["ideaCTV_cm3"] == pytest.approx(11 * voxel_cm3, rel=1e-12)
    assert vols["LN_7_cm3"] == pytest.approx(8 * voxel_cm3, rel=1e-12)
    assert vols["LN_1R_cm3"] == 0.0
    assert not set(vols.index) & set(FEATURE_NAMES)


def test_absent_station_warns_and_gives_zero():
    with pytest.warns(P.PartitionWarning, match="absent.*1R"):
        feats = P.partition_parameters(*painted(), SPACING)
    assert feats["RctvLN_1"] == 0.0 and feats["RIctvLN_1"] == 0.0


def test_empty_idea_ctv_gives_zero_ri_ratios():
    ctv, gtv, gtvnd, st = painted()
    ctv[:] = False
    ctv[2, 3, 3] = True  # one voxel, no station there
    with pytest.warns(P.PartitionWarning, match="ideaCTV is empty"):
        feats = P.partition_parameters(ctv, gtv, gtvnd, st, SPACING)
    ri = [n for n in FEATURE_NAMES if n.startswith("RI")]
    assert (feats[ri] == 0).all()
    assert feats["n_LN_CTV"] == 0 and feats["CTV_volume"] == 1
    # RgtvLN does not depend on ideaCTV: GTVnd still holds 2 of LN_7's 8 voxels
    assert feats["RgtvLN_11"] == pytest.approx(2 / 8, abs=ATOL)


def test_ctv_touching_a_station_by_one_voxel():
    ctv, gtv, gtvnd, st = painted()
    ctv[:] = False
    ctv[2, 1, 1] = True  # the one voxel of LN_4R at z 2, y 1
    feats = warned(P.partition_parameters, ctv, gtv, gtvnd, st, SPACING)
    assert feats["RctvLN_7"] == pytest.approx(1 / 2, abs=ATOL)  # 1 of LN_4R's 2 voxels
    assert feats["RIctvLN_7"] == pytest.approx(1 / 2, abs=ATOL)  # ideaCTV = LN_4R = 2
    assert feats["n_LN_CTV"] == 1 and feats["CTV_overlaps_4R"] == 1
    assert feats["CTV_overlaps_7"] == 0
    # that voxel is also GTVnd: CTV - GTV is empty there
    assert feats["RcmgLN_7"] == 0.0
    assert feats["RIgtvLN_7"] == pytest.approx(1 / 2, abs=ATOL)  # GTVnd voxel / ideaCTV 2


def test_gtv_outside_all_stations():
    ctv, gtv, gtvnd, st = painted()
    gtvnd[:] = False
    feats = warned(P.partition_parameters, ctv, gtv, gtvnd, st, SPACING)
    gross = [n for n in FEATURE_NAMES if n.startswith(("RgtvLN", "RIgtvLN"))]
    assert (feats[gross] == 0).all()
    # nothing subtracted: CTV - GTV = CTV inside the stations
    assert feats["RcmgLN_11"] == 1.0 and feats["n_LN_GTVnd"] == 0


@pytest.mark.parametrize("pad", [((1, 2), (0, 0), (0, 0)), ((0, 0), (3, 1), (2, 5)),
                                 ((4, 4), (4, 4), (4, 4))])
def test_zero_padding_changes_nothing(pad):
    base = warned(P.partition_parameters, *painted(), SPACING)
    padded = [np.pad(a, pad) for a in painted()]
    got = warned(P.partition_parameters, *padded, SPACING)
    pd.testing.assert_series_equal(got, base)


def test_mismatched_grids_rejected():
    ctv, gtv, gtvnd, st = painted()
    with pytest.raises(ValueError, match=r"gtv.*not on the grid.*\(3, 4, 5\)"):
        P.partition_parameters(ctv, np.zeros((3, 4, 5), bool), gtvnd, st, SPACING)
    with pytest.raises(ValueError, match="3-D"):
        P.partition_parameters(ctv[0], gtv, gtvnd, st, SPACING)
    empty = np.zeros((0, 4, 4), bool)
    with pytest.raises(ValueError, match="non-empty"):
        P.partition_parameters(empty, empty, empty, empty.astype(np.uint8), SPACING)


def test_bad_labels_spacing_definition_rejected():
    ctv, gtv, gtvnd, st = painted()
    bad = st.copy()
    bad[0, 0, 0] = 17
    with pytest.raises(ValueError, match=r"stations.*0\.\.16"):
        P.partition_parameters(ctv, gtv, gtvnd, bad, SPACING)
    with pytest.raises(ValueError, match=r"stations.*0\.\.16"):
        P.partition_parameters(ctv, gtv, gtvnd, st.astype(np.int16) - 1, SPACING)
    with pytest.raises(TypeError, match="stations"):
        P.partition_parameters(ctv, gtv, gtvnd, st.astype(float), SPACING)
    with pytest.raises(ValueError, match="spacing_mm"):
        P.partition_parameters(ctv, gtv, gtvnd, st, (2.0, 0.0, 1.5))
    with pytest.raises(ValueError, match="spacing_mm"):
        P.partition_parameters(ctv, gtv, gtvnd, st, (2.0, 1.5))
    with pytest.raises(ValueError, match="gtv_definition"):
        P.partition_parameters(ctv, gtv, gtvnd, st, SPACING, gtv_definition="gross")


def test_other_integer_dtypes_accepted():
    ctv, gtv, gtvnd, st = painted()
    base = warned(P.partition_parameters, ctv, gtv, gtvnd, st, SPACING)
    got = warned(P.partition_parameters, ctv.astype(np.uint8), gtv.astype(np.int32),
                gtvnd, st.astype(np.int64), SPACING)
    pd.testing.assert_series_equal(got, base)


# --- GTV_size_cm --------------------------------------------------------------------------
def test_size_of_a_line_along_x():
    gtv = np.zeros((3, 3, 5), bool)
    gtv[1, 1, 1:4] = True  # 3 x 1 x 1 along x
    # centres x 1 and x 3, 2 mm apart each: 4 mm = 0.4 cm
    assert geometry.gtv_size_cm(gtv, (1.0, 1.0, 2.0)) == pytest.approx(0.4, abs=ATOL)


def test_size_of_a_box_and_single_voxel():
    gtv = np.zeros((4, 4, 4), bool)
    gtv[1:3, 1:3, 1:3] = True
    # opposite centres differ by one voxel on each axis: sqrt(3^2 + 2^2 + 1^2) = sqrt(14) mm
    assert geometry.gtv_size_cm(gtv, (3.0, 2.0, 1.0)) == pytest.approx(np.sqrt(14) / 10, rel=1e-12)
    one = np.zeros((2, 2, 2), bool)
    one[0, 1, 1] = True
    assert geometry.gtv_size_cm(one, (3.0, 2.0, 1.0)) == 0.0
    assert geometry.gtv_size_cm(np.zeros((2, 2, 2), bool), (1.0, 1.0, 1.0)) == 0.0


@pytest.mark.parametrize("brute_force_max", [geometry.BRUTE_FORCE_MAX_POINTS, 8])
def test_size_of_flat_and_collinear_sets(brute_force_max, monkeypatch):
    # with a limit of 8 points the (degenerate) Qhull path runs
    monkeypatch.setattr(geometry, "BRUTE_FORCE_MAX_POINTS", brute_force_max)
    plate = np.zeros((1, 12, 12), bool)
    plate[0, 1:11, 1:11] = True  # 100 voxels in one slice (a degenerate hull)
    # centres 9 voxels apart in y and in x: sqrt((9*0.8)^2 + (9*0.6)^2) = 9 mm = 0.9 cm
    assert geometry.gtv_size_cm(plate, (5.0, 0.8, 0.6)) == pytest.approx(0.9, rel=1e-12)
    line = np.zeros((100, 1, 1), bool)
    line[:, 0, 0] = True  # 100 collinear voxels along z: 99 * 2.5 mm = 24.75 cm
    assert geometry.gtv_size_cm(line, (2.5, 1.0, 1.0)) == pytest.approx(24.75, rel=1e-12)


@pytest.mark.parametrize("brute_force_max", [geometry.BRUTE_FORCE_MAX_POINTS, 8])
def test_size_of_a_blob_against_brute_force(brute_force_max, monkeypatch):
    monkeypatch.setattr(geometry, "BRUTE_FORCE_MAX_POINTS", brute_force_max)
    rng = np.random.default_rng(3)
    gtv = rng.random((6, 7, 8)) < 0.4  # ~130 voxels
    sp = np.array([2.5, 0.9, 1.1])
    pts = np.argwhere(gtv) * sp
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)).max()
    assert geometry.gtv_size_cm(gtv, sp) == pytest.approx(d / 10, rel=1e-12)


@pytest.mark.parametrize("kind", ["gaussian", "ellipsoid_shell", "grid"])
def test_pruned_farthest_pair_equals_all_pairs(kind):
    """``_max_pairwise_distance`` drops points that cannot belong to the farthest pair
    before comparing pairs (above ``chunk`` points); the result must equal the distance
    over all pairs exactly (same floats). Sets of 3000-6000 points: a Gaussian cloud, an
    ellipsoid surface (a tumour's hull) and anisotropic grid points with ties.
    Injected fault (once): the bound ``r + r.max() >= lb`` replaced by ``2 * r >= lb``
    (drops points it may not) -> Gaussian: no point left (ValueError); ellipsoid shell
    9.907 mm against 79.955 mm; grid 76.79 mm against 257.23 mm: all fail."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng({"gaussian": 1, "ellipsoid_shell": 2, "grid": 3}[kind])
    n = int(rng.integers(3000, 6000))
    if kind == "gaussian":
        pts = rng.normal(size=(n, 3)) * np.array([30.0, 12.0, 5.0])
    elif kind == "ellipsoid_shell":
        u = rng.normal(size=(n, 3))
        pts = u / np.linalg.norm(u, axis=1)[:, None] * np.array([40.0, 25.0, 20.0])
    else:
        pts = rng.integers(0, 50, size=(n, 3)) * np.array([5.0, 1.1543, 1.1543])
    every_pair = max(float(cdist(pts[i:i + 1000], pts).max()) for i in range(0, n, 1000))
    assert geometry._max_pairwise_distance(pts) == every_pair


# --- GTV_lung_location --------------------------------------------------------------------
@pytest.mark.parametrize(("z", "x", "code"), [
    (2, 0, 1),  # above the carina (top of LN_7 is z 1 -> level 1.5), x 0 < 1.5: right upper
    (0, 0, 2),  # z 0 below: right lower
    (2, 3, 3),  # left upper
    (1, 2, 4),  # z 1 is station 7's top slice, below the carina; x 2 > 1.5: left lower
])
def test_lung_location_quadrants(z, x, code):
    ctv, _, gtvnd, st = painted()
    gtv = np.zeros(st.shape, bool)
    gtv[z, 3, x] = True
    feats = warned(P.partition_parameters, ctv, gtv, gtvnd, st, SPACING)
    assert feats["GTV_lung_location"] == code
    assert P.formulas.gtv_lung_location(gtv, st) == code


def test_lung_location_without_station_7_uses_4r_4l_and_warns():
    st = np.zeros((5, 3, 5), np.uint8)
    st[3:5, 1, 1] = STATION_LABEL["4R"]
    st[3:5, 1, 3] = STATION_LABEL["4L"]
    # no 7: midline = centre of the map's x extent (1..3) = 2; carina = bottom of 4R/4L
    # (slice 3) -> level 2.5
    gtv = np.zeros(st.shape, bool)
    gtv[2:4, 0, 0] = True  # centroid z 2.5: not strictly above 2.5 -> lower; x 0: right
    with pytest.warns(P.PartitionWarning, match="station 7 absent"):
        assert P.formulas.gtv_lung_location(gtv, st) == 2
    gtv[:] = False
    gtv[3, 0, 4] = True  # z 3 > 2.5 upper, x 4 > 2 left
    with pytest.warns(P.PartitionWarning, match="station 7 absent"):
        assert P.formulas.gtv_lung_location(gtv, st) == 3


def test_empty_primary_gives_zero_location_and_size():
    ctv, gtv, gtvnd, st = painted()
    gtv[:] = False
    with pytest.warns(P.PartitionWarning, match="primary GTV is empty"):
        feats = P.partition_parameters(ctv, gtv, gtvnd, st, SPACING)
    assert feats["GTV_lung_location"] == 0 and feats["GTV_size_cm"] == 0.0


def test_anisotropic_pixels_use_row_spacing_and_warn():
    with pytest.warns(P.PartitionWarning, match="y and x spacings differ"):
        feats = P.partition_parameters(*painted(), (2.0, 0.9, 1.1))
    assert feats["image_resolution"] == 0.9


def test_memory_layout_does_not_matter():
    base = warned(P.partition_parameters, *painted(), SPACING)
    fortran = [np.asfortranarray(a) for a in painted()]
    got = warned(P.partition_parameters, *fortran, SPACING)
    pd.testing.assert_series_equal(got, base)
    # strided views (every voxel of a 2x-upsampled volume, taken back with a step of 2)
    up = [np.repeat(np.repeat(np.repeat(a, 2, 0), 2, 1), 2, 2)[::2, ::2, ::2]
          for a in painted()]
    got = warned(P.partition_parameters, *up, SPACING)
    pd.testing.assert_series_equal(got, base)
