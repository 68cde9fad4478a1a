"""DICOM CT series and RTSTRUCT reading: geometry, masks by hand, and every bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from _ingest_fixtures import BOXES, GRID, box_contours, box_mask, write_ct, write_rtstruct

from analysis import paths
from analysis.grid import Grid
from analysis.io import DicomError, match_roi_names, read_ct_series, read_rtstruct
from analysis.io.contours import combine_plane
from analysis.io.hu import padding_mask

MOCK = paths.REFERENCE_DATA_DIR / "rtutils-mock"


def test_ct_series_geometry_and_hu(tmp_path):
    ct = write_ct(tmp_path / "CT")
    # shuffle file names so that name order is not slice order
    files = ct["files"]
    for f, new in zip(files, ["b.dcm", "d.dcm", "a.dcm", "f.dcm", "c.dcm", "e.dcm"],
                      strict=True):
        f.rename(tmp_path / "CT" / new)
    s = read_ct_series(tmp_path / "CT", patient="P1")
    assert s.grid.same_as(GRID)
    assert s.hu.dtype == np.int16
    np.testing.assert_array_equal(s.hu, ct["hu"])  # stored +1024, intercept -1024
    assert s.sop_uids == tuple(ct["sops"])


def test_rescale_slope_applied(tmp_path):
    ct = write_ct(tmp_path / "CT")
    for f in ct["files"]:
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = 2, -2048
        ds.save_as(f)
    s = read_ct_series(tmp_path / "CT")
    # HU = 2 * (hu + 1024) - 2048 = 2 hu
    np.testing.assert_array_equal(s.hu, 2 * ct["hu"].astype(int))


def test_rtstruct_boxes_by_hand(tmp_path):
    ct = write_ct(tmp_path / "CT")
    rois = {"GTVp": box_contours(BOXES["GTV"]), "CTV": box_contours(BOXES["CTV"])}
    write_rtstruct(tmp_path / "RS.dcm", ct, rois)
    s = read_ct_series(tmp_path / "CT")
    masks = read_rtstruct(tmp_path / "RS.dcm", s)
    np.testing.assert_array_equal(masks["GTVp"], box_mask(BOXES["GTV"]))
    np.testing.assert_array_equal(masks["CTV"], box_mask(BOXES["CTV"]))


def test_rtstruct_hole_is_xor(tmp_path):
    ct = write_ct(tmp_path / "CT")
    outer, inner = (1, 1, 1, 6, 1, 6), (1, 1, 3, 4, 3, 4)
    write_rtstruct(tmp_path / "RS.dcm", ct, {"CTV": box_contours(outer) + box_contours(inner)})
    m = read_rtstruct(tmp_path / "RS.dcm", read_ct_series(tmp_path / "CT"))["CTV"]
    # 6 x 6 ring minus the 2 x 2 hole = 32 voxels
    np.testing.assert_array_equal(m, box_mask(outer) & ~box_mask(inner))
    assert m.sum() == 32


def test_roi_synonyms_case_insensitive():
    syn = {"gtv": ["GTV", "GTVp", "GTV_primary"], "gtvnd": ["GTVnd", "GTV_LN"], "ctv": ["CTV"]}
    got = match_roi_names(["gtv_primary", "Gtv_Ln", "PTV", "ctv "], syn)
    assert got == {"gtv": ["gtv_primary"], "gtvnd": ["Gtv_Ln"], "ctv": ["ctv "]}


# --- the real rt-utils mock files -----------------------------------------------------
@pytest.fixture
def mock_ct(tmp_path):
    d = tmp_path / "CT"
    d.mkdir()
    for f in ("ct_1.dcm", "ct_2.dcm"):
        shutil.copy(MOCK / f, d / f)
    return read_ct_series(d, patient="mock")


def test_mock_ct_grid(mock_ct):
    # README: 512x512, 0.488281 mm pixels, two slices 5 mm apart at z = 60, 65
    assert mock_ct.grid.same_as(Grid((2, 512, 512), (5.0, 0.488281, 0.488281),
                                     (-125.0, -125.0, 60.0)))


def test_mock_rt_loads_with_frame_of_reference_warning(mock_ct, tmp_path):
    shutil.copy(MOCK / "rt.dcm", tmp_path / "rt.dcm")
    with pytest.warns(UserWarning, match="frame of reference"):
        masks = read_rtstruct(tmp_path / "rt.dcm", mock_ct, patient="mock")
    m = masks["ROI-1"]
    assert m[1].sum() == 0
    # slice 0: a 24 x 24 mm square minus a 15 x 15 mm octagon (224.5 mm^2)
    # = 351.5 mm^2 / 0.488281^2 mm^2 = 1474.3 pixels; 3 % covers the boundary pixels
    assert m[0].sum() == pytest.approx(351.5 / 0.488281 ** 2, rel=0.03)


@pytest.mark.parametrize("name", ["invalid_reference_rt.dcm", "non_existent_reference_rt.dcm"])
def test_mock_broken_references_rejected(mock_ct, tmp_path, name):
    shutil.copy(MOCK / name, tmp_path / name)
    with pytest.raises(DicomError, match=f"patient mock: .*{name}.*absent from the CT series"):
        read_rtstruct(tmp_path / name, mock_ct, patient="mock")


# --- bad input: each error names patient and file --------------------------------------
def test_truncated_file(tmp_path):
    ct = write_ct(tmp_path / "CT")
    f = ct["files"][2]
    f.write_bytes(f.read_bytes()[:-60])
    with pytest.raises(DicomError, match=f"patient P7: .*{f.name}.*truncated"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_garbage_file(tmp_path):
    ct = write_ct(tmp_path / "CT")
    f = ct["files"][1]
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DicomError, match=f"patient P7: .*{f.name}"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_missing_slice(tmp_path):
    ct = write_ct(tmp_path / "CT")
    ct["files"][2].unlink()
    with pytest.raises(DicomError, match=r"patient P7: .*missing slice.*CT001\.dcm.*CT003\.dcm"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_duplicated_slice(tmp_path):
    write_ct(tmp_path / "CT", z_positions=[10.0, 12.0, 12.0, 14.0])
    with pytest.raises(DicomError, match=r"patient P7: .*duplicated slice.*z = 12\.000"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_uneven_spacing(tmp_path):
    write_ct(tmp_path / "CT", z_positions=[10.0, 12.0, 14.0, 17.0])
    with pytest.raises(DicomError, match="patient P7: .*uneven slice spacing"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_two_series_in_one_folder_the_largest_is_read_with_a_note(tmp_path):
    ct = write_ct(tmp_path / "CT")
    other = write_ct(tmp_path / "other")
    shutil.move(other["files"][0], tmp_path / "CT" / "zz_other.dcm")
    with pytest.warns(UserWarning, match=r"patient P7: .*the CT folder holds 2 series; read "
                      r"the largest axial series .*: 6 slice\(s\).*ignored: 1 file\(s\), "
                      r"e\.g\. zz_other\.dcm"):
        s = read_ct_series(tmp_path / "CT", patient="P7")
    assert s.series_uid == ct["series_uid"]


def test_inconsistent_pixel_spacing(tmp_path):
    write_ct(tmp_path / "CT", pixel_spacing=[[1, 1], [1, 1], [1.2, 1.2], [1, 1], [1, 1],
                                                   [1, 1]])
    with pytest.raises(DicomError, match=r"patient P7: .*CT002\.dcm: inconsistent PixelSpacing"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_non_axial_rejected(tmp_path):
    ct = write_ct(tmp_path / "CT")
    for f in ct["files"]:
        ds = pydicom.dcmread(f)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.save_as(f)
    with pytest.raises(DicomError, match="non-axial"):
        read_ct_series(tmp_path / "CT", patient="P7")


def test_rtstruct_referencing_another_series(tmp_path):
    ct = write_ct(tmp_path / "CT")
    write_rtstruct(tmp_path / "RS.dcm", ct, {"GTV": box_contours(BOXES["GTV"])},
                   ref_series_uid="1.2.3.4.5.6.7.8.9")
    s = read_ct_series(tmp_path / "CT", patient="P7")
    with pytest.raises(DicomError, match=r"patient P7: .*RS\.dcm: RTSTRUCT references another "
                                         "series"):
        read_rtstruct(tmp_path / "RS.dcm", s, patient="P7")


def test_contour_between_slices(tmp_path):
    ct = write_ct(tmp_path / "CT")
    c = box_contours(BOXES["GTV"])[0].copy()
    c[:, 2] += 1.0  # half-way between two 2 mm slices
    rs = write_rtstruct(tmp_path / "RS.dcm", ct, {"GTV": [c]})
    ds = pydicom.dcmread(rs)  # drop the image reference so that only z is left to check
    del ds.ROIContourSequence[0].ContourSequence[0].ContourImageSequence
    ds.save_as(rs)
    with pytest.raises(DicomError, match=r"RS\.dcm: ROI 'GTV': contour at z = 13\.000"):
        read_rtstruct(rs, read_ct_series(tmp_path / "CT"), patient="P7")


def test_empty_roi_gives_empty_mask(tmp_path):
    ct = write_ct(tmp_path / "CT")
    write_rtstruct(tmp_path / "RS.dcm", ct, {"GTV": [], "CTV": box_contours(BOXES["CTV"])})
    masks = read_rtstruct(tmp_path / "RS.dcm", read_ct_series(tmp_path / "CT"))
    assert masks["GTV"].sum() == 0 and masks["CTV"].sum() == box_mask(BOXES["CTV"]).sum()


def test_contours_through_pixel_centres_include_the_boundary(tmp_path):
    """OpenCV-style contours (through boundary-pixel centres) give the mask back exactly:
    a 2 x 3 box (4 corner points), a single pixel (1 point), a 1-pixel line (2 points)."""
    ct = write_ct(tmp_path / "CT")

    def mm(k, pts_yx):
        return np.asarray([GRID.index_to_mm([k, y, x]) for y, x in pts_yx])

    box = mm(0, [(1, 1), (1, 3), (2, 3), (2, 1)])
    pixel = mm(1, [(5, 5)])
    line = mm(2, [(6, 1), (6, 4)])
    write_rtstruct(tmp_path / "RS.dcm", ct, {"A": [box, pixel, line]})
    m = read_rtstruct(tmp_path / "RS.dcm", read_ct_series(tmp_path / "CT"))["A"]
    expected = np.zeros(GRID.shape_zyx, bool)
    expected[0, 1:3, 1:4] = True
    expected[1, 5, 5] = True
    expected[2, 6, 1:5] = True
    np.testing.assert_array_equal(m, expected)


def test_rtstruct_labels_one_map(tmp_path):
    from analysis.io import read_rtstruct_labels

    ct = write_ct(tmp_path / "CT")
    write_rtstruct(tmp_path / "RS.dcm", ct, {"LN_7": box_contours(BOXES["LN_7"]),
                                             "LN_4R": box_contours(BOXES["LN_4R"]),
                                             "B": box_contours((1, 1, 1, 1, 1, 1))})
    s = read_ct_series(tmp_path / "CT")
    with pytest.warns(UserWarning, match=r"ROI 'B' overlaps label\(s\) \[11\]"):
        lab = read_rtstruct_labels(tmp_path / "RS.dcm", s, {"LN_7": 11, "LN_4R": 7, "B": 3})
    expected = np.zeros(GRID.shape_zyx, np.uint8)
    expected[box_mask(BOXES["LN_7"])] = 11
    expected[box_mask(BOXES["LN_4R"])] = 7
    expected[1, 1, 1] = 3
    np.testing.assert_array_equal(lab, expected)


def _square(lo: float, hi: float) -> np.ndarray:
    return np.array([[lo, lo], [lo, hi], [hi, hi], [hi, lo]])


def test_nesting_depth_island_in_a_hole_and_closedplanar_xor_by_hand():
    """The contour rule (analysis.io.contours) on 9 x 9 pixels, counted by hand: an outer
    square round centres 1..7 (49), a hole round 3..5 (9), an island round 4 (1): 41.
    Two overlapping CLOSEDPLANAR_XOR squares round 1..3 and 3..5 share centre (3, 3):
    9 + 9 - 2 = 16. The same two as CLOSED_PLANAR pieces are unioned: 17."""
    nested = [(_square(0.5, 7.5), False), (_square(2.5, 5.5), False),
              (_square(3.5, 4.5), False)]
    m, dup, extra = combine_plane(nested, (9, 9))
    expected = np.zeros((9, 9), bool)
    expected[1:8, 1:8] = True
    expected[3:6, 3:6] = False
    expected[4, 4] = True
    np.testing.assert_array_equal(m, expected)
    assert (m.sum(), dup, extra) == (41, 0, 0)
    pair = [(_square(0.5, 3.5), True), (_square(2.5, 5.5), True)]
    assert combine_plane(pair, (9, 9))[0].sum() == 16
    assert combine_plane([(c, False) for c, _ in pair], (9, 9))[0].sum() == 17


def test_padding_value_in_either_representation_marks_the_same_pixels():
    """PixelPaddingValue -2000 (SS) on unsigned pixels is stored as 63536, and 63536 (US)
    on signed pixels as -2000; two of the four pixels are padding either way. Several
    distinct values at or above 32768 are not the unsigned padding convention."""
    px = np.array([[63536, 1000], [5, 63536]], np.uint16)
    for arr, value in ((px, -2000), (px.astype(np.int16), 63536)):
        mask, what = padding_mask(arr, padding_value=value)
        np.testing.assert_array_equal(mask, [[True, False], [False, True]])
    mask, what = padding_mask(px, unsigned16=True)
    assert mask.sum() == 2 and what == "unsigned padding value 63536 (-2000 as signed 16-bit)"
    px[0, 1] = 40000
    assert padding_mask(px, unsigned16=True)[0] is None
