"""Issue 22 (items 1, 2, 3, 8): image and contour classes of a real export, each built in
the test from the ingest fixtures, each with the outcome a user expects: read, read with
a recorded note, or refused with a named reason.

Patient MRN9000 (event, one recurrence site) is the one made bad; MRN9001 stays valid
unless a test says otherwise. Fixture geometry (``_ingest_fixtures.GRID``): 6 slices of
10 x 10 voxels, 2 mm slices, 1 mm pixels, voxel (k, y, x) at LPS (x - 5, y - 4, 8 + 2 k) mm.

Injected fault: this file run against the reader before issue 22 (main at 1c1184d, same
venv) fails every one of its 27 cases, with the outcome written in each docstring.
"""

from __future__ import annotations

import gzip
import re
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from _ingest_fixtures import (
    BOXES,
    GRID,
    ROIS,
    bad_export,
    box_contours,
    box_mask,
    fixture_pid,
    ingest_export,
    outcome,
    rewrite_ct,
    write_ct,
    write_rtstruct,
)
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from analysis import paths
from analysis.grid import Grid
from analysis.io import read_ct_series, read_rtstruct, write_nifti
from analysis.store import CohortStore

MOCK = paths.REFERENCE_DATA_DIR / "rtutils-mock"


def _ct_record(d) -> dict:
    """The ``write_ct`` record of patient folder ``d``'s CT (to write a new RTSTRUCT)."""
    files = sorted((d / "CT").iterdir())
    dss = [pydicom.dcmread(f) for f in files]
    return {"files": files, "series_uid": dss[0].SeriesInstanceUID,
            "for_uid": dss[0].FrameOfReferenceUID, "study_uid": dss[0].StudyInstanceUID,
            "sops": [ds.SOPInstanceUID for ds in dss], "grid": GRID}


def _rewrite_rois(d, rois: dict) -> None:
    """Replace the RTSTRUCT of ``d``; ``rois`` maps names to contours (mm), the fixture's
    boxes for the names not given."""
    full = {r: box_contours(BOXES[r]) for r in ROIS}
    full.update(rois)
    write_rtstruct(d / "RS.dcm", _ct_record(d), full)


def _rect(k: int, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """A rectangle on slice ``k`` through the fractional voxel corners (mm)."""
    return np.asarray([GRID.index_to_mm([k, y, x])
                       for y, x in ((y0, x0), (y0, x1), (y1, x1), (y1, x0))])


def _stored(tmp_path, what, mrn="MRN9000"):
    return CohortStore(tmp_path / "store").read(fixture_pid(tmp_path, mrn), what)


# --- 1. contours read as a planning system draws them ------------------------------------
def test_overlapping_pieces_are_unioned_and_a_nested_contour_is_a_hole(tmp_path):
    """CTV slices 2-3: two 4 x 4 pieces overlapping in 2 x 2 voxels (union 28 voxels a
    slice); slices 1 and 4: a 6 x 6 outline with a 2 x 2 hole (32). Expected by hand:
    2 x 28 + 2 x 32 = 120 voxels.
    Injected fault (XOR of every contour, the reader before issue 22): 112 voxels, the
    4 overlap voxels of each of slices 2-3 cut out."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    ctv = []
    for k in (2, 3):
        ctv += [_rect(k, 1.5, 5.5, 1.5, 5.5), _rect(k, 3.5, 7.5, 3.5, 7.5)]
    for k in (1, 4):
        ctv += [_rect(k, 1.5, 7.5, 1.5, 7.5), _rect(k, 3.5, 5.5, 3.5, 5.5)]
    _rewrite_rois(d, {"CTV": ctv})
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    expected = np.zeros(GRID.shape_zyx, bool)
    expected[2:4, 2:6, 2:6] = True
    expected[2:4, 4:8, 4:8] = True
    expected[[1, 4], 2:8, 2:8] = True
    expected[[1, 4], 4:6, 4:6] = False
    assert expected.sum() == 120
    np.testing.assert_array_equal(_stored(tmp_path, "ctv"), expected)


def test_a_self_crossing_loop_and_a_contour_written_twice_lose_no_voxel(tmp_path):
    """GTV slice 2: one contour goes round the 3 x 3 box and then again round its 2 x 2
    corner (enclosed twice: the even-odd rule drops those 4 voxels); slice 3: the box
    contour written twice (XOR erases it). Expected: the 18-voxel box, with two notes.
    Injected fault (the reader before issue 22): 5 voxels stored, no note."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    box = _rect(2, 2.5, 5.5, 2.5, 5.5)
    corner = _rect(2, 2.5, 4.5, 2.5, 4.5)
    loop = np.vstack([box, corner])  # both counter-clockwise, sharing the first corner
    twice = _rect(3, 2.5, 5.5, 2.5, 5.5)
    _rewrite_rois(d, {"GTV": [loop, twice, twice.copy()]})
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    np.testing.assert_array_equal(_stored(tmp_path, "gtv"), box_mask(BOXES["GTV"]))
    assert any("ROI 'GTV': a contour crosses itself; 4 voxel(s) it encloses twice are kept"
               in w for w in res.warnings)
    assert any("ROI 'GTV': 1 contour(s) written twice on one plane; each read once" in w
               for w in res.warnings)


def _nan(ds):
    ds.ROIContourSequence[0].ContourSequence[0].ContourData[4] = "nan"


def _open(ds):
    ds.ROIContourSequence[0].ContourSequence[1].ContourGeometricType = "OPEN_PLANAR"


@pytest.mark.parametrize(("damage", "expected"), [
    ("off_plane", r"ROI 'GTV': contour at z = 13\.000 mm does not lie on a slice of the CT "
                  r"series \(off the image planes"),
    ("sagittal", r"ROI 'GTV': non-axial contour: its points span z = 11\.000 to 15\.000 mm"),
    ("outside", r"ROI 'CTV': contour lies outside the image: its points span x = 1996\.5 to "
                r"2002\.5 mm"),
    ("nan", r"ROI 'GTV': a contour has non-finite coordinates \(NaN or infinity\)"),
    ("open", r"ROI 'GTV': open contour \(OPEN_PLANAR\): a polyline encloses no volume"),
])
def test_damaged_contours_are_refused_with_their_own_reason(tmp_path, damage, expected):
    """Each damage gives its own named reason, never "gtv is empty".
    Injected fault (the reader before issue 22): off_plane is refused without the words
    "off the image planes"; sagittal is refused as off-plane ("contour at z = 13.000 mm
    does not lie on a slice": its median z; on a slice it would have been filled there
    alone); outside gives "empty_structure: ctv is empty"; nan and open are included
    (open: that slice of the GTV dropped with a warning)."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    if damage == "off_plane":
        c = box_contours(BOXES["GTV"])
        c[0][:, 2] += 1.0  # half-way between two 2 mm slices
        _rewrite_rois(d, {"GTV": c})
    elif damage == "sagittal":  # a rectangle in the y-z plane at x = -1 mm
        sag = np.array([[-1.0, -1.5, 11.0], [-1.0, 1.5, 11.0], [-1.0, 1.5, 15.0],
                        [-1.0, -1.5, 15.0]])
        _rewrite_rois(d, {"GTV": [sag]})
    elif damage == "outside":
        _rewrite_rois(d, {"CTV": [c + [2000.0, 0, 0] for c in box_contours(BOXES["CTV"])]})
    else:
        ds = pydicom.dcmread(d / "RS.dcm")
        (_nan if damage == "nan" else _open)(ds)
        ds.save_as(d / "RS.dcm")
    pid = fixture_pid(tmp_path)
    out = outcome(ingest_export(tmp_path), pid)
    assert out.startswith(f"unreadable: patient {pid}: <export>/images/{pid}/file#1: "), out
    assert re.search(expected, out), out


@pytest.mark.parametrize("gtv_box", [(2, 3, 3, 5, 6, 8), (2, 3, 8, 8, 8, 8)])
def test_gtv_outside_its_ctv_is_refused_or_kept_with_a_warning(tmp_path, gtv_box):
    """CTV box x 2-7. GTV x 6-8 (18 voxels, 12 inside: 66.7 %) and a GTV at (y, x) =
    (8, 8) (2 voxels, 0 % inside): both below the 95 % default.
    Injected fault (the reader before issue 22): both included, no warning."""
    d = bad_export(tmp_path, fmt="nifti") / "images" / "MRN9000"
    write_nifti(d / "GTV.nii.gz", box_mask(gtv_box).astype(np.uint8), GRID)
    share = {18: "66.7", 2: "0.0"}[int(box_mask(gtv_box).sum())]
    assert outcome(ingest_export(tmp_path), fixture_pid(tmp_path)).startswith(
        f"geometry: gtv is not inside the ctv: {share}% of its voxels lie inside it, at "
        "least 95% expected (ingest.gtv_in_ctv_min_share")
    res = ingest_export(tmp_path, allow_gtv_outside_ctv=True)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    assert any(f"gtv is not inside the ctv: {share}%" in w and "kept, with this warning" in w
               for w in res.warnings)


# --- 2. HU are HU --------------------------------------------------------------------------
def test_a_ct_not_in_hounsfield_units_is_refused_for_dicom_and_nifti(tmp_path):
    """Fixture HU are -100..99; stored as HU + 1024 without RescaleIntercept (DICOM) or
    saved "0-based" (NIfTI), the lowest value is 924.
    Injected fault (the reader before issue 22): the DICOM CT is included with values
    924..1123 as HU (the NIfTI half is then not reached)."""
    d = bad_export(tmp_path) / "images" / "MRN9000"

    def no_rescale(ds):
        del ds.RescaleSlope, ds.RescaleIntercept
    rewrite_ct(d, no_rescale)
    pid = fixture_pid(tmp_path)
    assert outcome(ingest_export(tmp_path), pid) == (
        f"unreadable: patient {pid}: <export>/images/{pid}/CT: not in Hounsfield units: the "
        "lowest value is 924 (padding excluded), where a chest CT in HU holds air (-1000) "
        "and lung (no RescaleSlope/RescaleIntercept tags); values look like stored pixel "
        "values (e.g. HU + 1024): export the CT in HU")
    shutil.rmtree(tmp_path / "export")
    d = bad_export(tmp_path, fmt="nifti") / "images" / "MRN9000"
    hu = np.asarray(nib.load(d / "CT.nii.gz").dataobj).transpose(2, 1, 0)
    write_nifti(d / "CT.nii.gz", (hu + 1024).astype(np.int16), GRID)
    out = outcome(ingest_export(tmp_path), pid)
    assert out.startswith(f"unreadable: patient {pid}: <export>/images/{pid}/CT#1: not in "
                          "Hounsfield units: the lowest value is 924"), out


@pytest.mark.parametrize("tagged", [True, False])
def test_padding_values_are_read_as_air(tmp_path, tagged):
    """Two corner pixels of every slice stored as 63536 (-2000 written unsigned), with
    PixelPaddingValue 63536 or without it (the unsigned convention): read as -1024 HU, every
    other value unchanged, with a note.
    Injected fault (the reader before issue 22): both refused, "values in [-99, 62512],
    outside the int16 HU range"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"

    def pad(ds):
        px = ds.pixel_array.copy()
        px[0, 0] = px[9, 9] = 63536
        ds.PixelData = px.astype(np.uint16).tobytes()
        if tagged:
            ds.add_new(0x00280120, "US", 63536)  # PixelPaddingValue
    rewrite_ct(d, pad)
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    hu = (np.arange(600).reshape(GRID.shape_zyx) % 200 - 100).astype(np.int16)
    hu[:, 0, 0] = hu[:, 9, 9] = -1024
    np.testing.assert_array_equal(_stored(tmp_path, "ct"), hu)
    what = ("PixelPaddingValue 63536" if tagged else
            "unsigned padding value 63536 (-2000 as signed 16-bit)")
    assert any(f"/CT: 12 padding pixel(s) ({what}) read as air (-1024 HU)" in w
               for w in res.warnings)


# --- 3. series selection as a radiographer expects ----------------------------------------
def _move_in(src_files, dest, prefix):
    for i, f in enumerate(src_files):
        shutil.move(f, dest / f"{prefix}{i:03d}.dcm")


def test_the_series_the_rtstruct_references_is_read_among_several(tmp_path):
    """An 8-slice reconstruction beside the 6-slice planning series: the RTSTRUCT's series
    is read (the largest would be the wrong one), the other listed in a note.
    Injected fault (the reader before issue 22): "2 series mixed in one folder"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    other = write_ct(tmp_path / "recon", Grid((8, 10, 10), (1.5, 1.0, 1.0), (-5.0, -4.0, 7.0)))
    _move_in(other["files"], d / "CT", "recon")
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    assert _stored(tmp_path, "ct").shape == (6, 10, 10)
    assert any(re.search(r"the CT folder holds 2 series; read the series the RTSTRUCT "
                         r"references: 6 slice\(s\), e\.g\. CT#1; ignored: 8 file\(s\), "
                         r"e\.g\. CT#7", w) for w in res.warnings), res.warnings


def test_without_references_the_largest_uniform_axial_series_is_read(tmp_path):
    """An RTSTRUCT without series or image references (as CERR writes them) and a
    3-slice series beside the 6-slice one: the 6-slice series, with a note.
    Injected fault (the reader before issue 22): "2 series mixed in one folder"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    other = write_ct(tmp_path / "few", Grid((3, 10, 10), (5.0, 1.0, 1.0), (-5.0, -4.0, 8.0)))
    _move_in(other["files"], d / "CT", "few")
    ds = pydicom.dcmread(d / "RS.dcm")
    del ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence
    for rc in ds.ROIContourSequence:
        for c in rc.ContourSequence:
            del c.ContourImageSequence
    ds.save_as(d / "RS.dcm")
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    np.testing.assert_array_equal(_stored(tmp_path, "gtv"), box_mask(BOXES["GTV"]))
    assert any(re.search(r"read the largest axial series with uniform spacing \(no "
                         r"RTSTRUCT reference to choose by\): 6 slice\(s\), e\.g\. CT#1; "
                         r"ignored: 3 file\(s\), e\.g\. CT#7", w) for w in res.warnings)


def _object(sop_class: str, modality: str, **extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = modality, generate_uid()
    for k, v in extra.items():
        setattr(ds, k, v)
    return ds


def test_scout_sr_and_dose_screenshot_are_ignored_with_a_note_and_copies_dropped(tmp_path):
    """A localizer (CT Image Storage, ImageType LOCALIZER, coronal), an Enhanced SR dose
    report, a Secondary Capture screenshot and a byte-identical copy of slice 3 in the CT
    folder: the series is read unchanged, with one note each.
    Injected fault (the reader before issue 22): "no pixel data ... (Modality SR)"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    scout = pydicom.dcmread(d / "CT" / "CT000.dcm")
    scout.SOPInstanceUID = scout.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    scout.SeriesInstanceUID = generate_uid()
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    scout.save_as(d / "CT" / "scout.dcm")
    _object("1.2.840.10008.5.1.4.1.1.88.22", "SR").save_as(d / "CT" / "dose_report.dcm",
                                                            enforce_file_format=True)
    sc = _object("1.2.840.10008.5.1.4.1.1.7", "OT", Rows=4, Columns=4, SamplesPerPixel=3,
                 PhotometricInterpretation="RGB", BitsAllocated=8, BitsStored=8, HighBit=7,
                 PixelRepresentation=0, PlanarConfiguration=0, PixelData=bytes(48))
    sc.save_as(d / "CT" / "dose_screenshot.dcm", enforce_file_format=True)
    shutil.copy(d / "CT" / "CT002.dcm", d / "CT" / "CT002_copy.dcm")
    res = ingest_export(tmp_path)
    pid = fixture_pid(tmp_path)
    assert outcome(res, pid) == "included"
    hu = (np.arange(600).reshape(GRID.shape_zyx) % 200 - 100).astype(np.int16)
    np.testing.assert_array_equal(_stored(tmp_path, "ct"), hu)
    ct = f"<export>/images/{pid}/CT#"
    # sorted names: CT000..CT002 (#1-3), CT002_copy (#4), CT003..CT005, dose_report (#8),
    # dose_screenshot (#9), scout (#10)
    for note in (f"{ct}4: byte-identical copy of CT#3, dropped",
                 f"{ct}8: Enhanced SR Storage (Modality SR) in the CT folder is not a CT "
                 "image, ignored",
                 f"{ct}9: Secondary Capture Image Storage (Modality OT) in the CT folder is "
                 "not a CT image, ignored",
                 f"{ct}10: localizer (scout) image in the CT folder, ignored"):
        assert any(note in w for w in res.warnings), (note, res.warnings)


def _reorient(folder, row_sign: int, col_sign: int) -> None:
    """Rewrite a head-first supine series as the same voxels seen with row direction
    ``row_sign`` x and column direction ``col_sign`` y (feet first: -1, 1; head-first
    prone: -1, -1; feet-first prone: 1, -1): pixels flipped, ImagePositionPatient moved to
    the new first pixel, patient coordinates unchanged."""
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        px = ds.pixel_array
        ps_row, ps_col = (float(v) for v in ds.PixelSpacing)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        if row_sign < 0:
            px, x = px[:, ::-1], x + (ds.Columns - 1) * ps_col
        if col_sign < 0:
            px, y = px[::-1, :], y + (ds.Rows - 1) * ps_row
        ds.PixelData = np.ascontiguousarray(px).tobytes()
        ds.ImageOrientationPatient = [row_sign, 0, 0, 0, col_sign, 0]
        ds.ImagePositionPatient = [x, y, z]
        ds.PatientPosition = {(-1, 1): "FFS", (-1, -1): "HFP", (1, -1): "FFP"}[
            (row_sign, col_sign)]
        ds.save_as(f)


@pytest.mark.parametrize(("row_sign", "col_sign"), [(-1, 1), (-1, -1), (1, -1)])
def test_feet_first_and_prone_ct_read_into_the_one_convention_on_real_geometry(
        tmp_path, row_sign, col_sign):
    """The real rt-utils CT (two 512 x 512 slices, 0.488 mm pixels) and its real RTSTRUCT
    (tests/data/rtutils-mock, MIT): rewritten feet first supine, head-first prone and
    feet-first prone, the CT reads to the same HU array and grid as the head-first supine
    original, and ROI-1 to the same mask (its contours are in patient coordinates).
    Injected fault (the reader before issue 22): all three refused, "non-axial
    orientation"; with a flip left out, the HU differ in 385,234 (x), 388,848 (y) and
    390,668 (both) of the 524,288 voxels."""
    hfs, other = tmp_path / "hfs", tmp_path / "other"
    for folder in (hfs, other):
        folder.mkdir()
        for f in ("ct_1.dcm", "ct_2.dcm"):
            shutil.copy(MOCK / f, folder / f)
    _reorient(other, row_sign, col_sign)
    with pytest.warns(UserWarning):  # padding notes, the mock's frame-of-reference note
        ref = read_ct_series(hfs, patient="mock")
        got = read_ct_series(other, patient="mock")
        m_ref = read_rtstruct(MOCK / "rt.dcm", ref)["ROI-1"]
        m_got = read_rtstruct(MOCK / "rt.dcm", got)["ROI-1"]
    assert got.grid.same_as(ref.grid, tol_mm=1e-6)
    np.testing.assert_array_equal(got.hu, ref.hu)
    assert m_ref.sum() == 1443  # the 24 mm square with its 15 mm hole (dicom_read)
    np.testing.assert_array_equal(m_got, m_ref)


def test_orientation_within_one_degree_is_read_with_a_note_beyond_refused(tmp_path):
    """ImageOrientationPatient rotated 0.1 degrees in plane: read as axial; the farthest
    corner voxel (9, 9) lies 9 x sqrt((cos t - 1 - sin t)^2 + (sin t + cos t - 1)^2) =
    0.0222 mm from its true position (t = 0.1 degrees). 1.5 degrees: refused, printing
    plain numbers.
    Injected fault (the reader before issue 22): 0.1 degrees refused as "non-axial
    orientation (ImageOrientationPatient [np.float64(0.9999), ...])"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"

    def rotate(deg):
        t = np.radians(deg)

        def edit(ds):
            ds.ImageOrientationPatient = [f"{v:.8f}" for v in
                                          (np.cos(t), np.sin(t), 0, -np.sin(t), np.cos(t), 0)]
        return edit
    rewrite_ct(d, rotate(0.1))
    res = ingest_export(tmp_path)
    pid = fixture_pid(tmp_path)
    assert outcome(res, pid) == "included"
    assert any(f"<export>/images/{pid}/CT#1: orientation 0.10 degrees from axial" in w
               and "within the 1 degree tolerance: read as axial, voxel centres within "
               "0.02 mm of their true position" in w for w in res.warnings), res.warnings
    rewrite_ct(d, rotate(1.5))
    out = outcome(ingest_export(tmp_path), pid)
    assert ("CT#1: non-axial orientation (ImageOrientationPatient 0.9997, 0.0262, 0, "
            "-0.0262, 0.9997, 0, 1.5 degrees from axial)") in out, out
    assert "np.float64" not in out


def test_a_gantry_tilt_within_one_degree_is_read_with_a_note(tmp_path):
    """Column direction tilted 0.5 degrees towards z, slice positions stepping along z
    only (the table moves, as in a gantry-tilted scan): read as axial. The farthest voxel
    (row 9) lies 9 x 2 sin(0.25 degrees) = 0.0785 mm from its true position.
    Injected fault (the reader before issue 22): "non-axial orientation"; with only the
    along-the-normal position rule: "in-plane position ... differs"."""
    t = np.radians(0.5)
    ct = write_ct(tmp_path / "CT")
    for f in ct["files"]:
        ds = pydicom.dcmread(f)
        ds.ImageOrientationPatient = [1, 0, 0, 0, f"{np.cos(t):.8f}", f"{np.sin(t):.8f}"]
        ds.save_as(f)
    with pytest.warns(UserWarning, match=r"patient P7: .*CT000\.dcm: orientation 0\.50 "
                      r"degrees from axial .*voxel centres within 0\.08 mm"):
        s = read_ct_series(tmp_path / "CT", patient="P7")
    assert s.grid.same_as(GRID)
    np.testing.assert_array_equal(s.hu, ct["hu"])


def _item(**attrs) -> Dataset:
    ds = Dataset()
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


@pytest.mark.parametrize("groups", [True, False])
def test_multi_frame_ct_is_read_or_refused_by_name(tmp_path, groups):
    """The six slices as one Enhanced CT file (6 frames, geometry and rescale in its
    functional groups) and an RTSTRUCT referencing it: read, the HU and the GTV as from
    the single-frame series. Without per-frame functional groups (no slice positions):
    refused as "multi-frame CT not supported".
    Injected fault (the reader before issue 22): "ImageOrientationPatient missing or
    malformed (None)"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    files = sorted((d / "CT").iterdir())
    first = pydicom.dcmread(files[0])
    frames = b"".join(pydicom.dcmread(f).PixelData for f in files)
    shutil.rmtree(d / "CT")
    (d / "CT").mkdir()
    ds = _object("1.2.840.10008.5.1.4.1.1.2.1", "CT", NumberOfFrames=6, Rows=10, Columns=10,
                 SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
                 BitsAllocated=16, BitsStored=16, HighBit=15, PixelRepresentation=0,
                 PixelData=frames, FrameOfReferenceUID=first.FrameOfReferenceUID,
                 StudyInstanceUID=first.StudyInstanceUID)
    ds.PatientName, ds.PatientID = first.PatientName, first.PatientID
    ds.SharedFunctionalGroupsSequence = [_item(
        PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])],
        PixelMeasuresSequence=[_item(PixelSpacing=[1.0, 1.0], SliceThickness=2.0)],
        PixelValueTransformationSequence=[_item(RescaleSlope=1, RescaleIntercept=-1024)])]
    if groups:
        ds.PerFrameFunctionalGroupsSequence = [
            _item(PlanePositionSequence=[_item(ImagePositionPatient=[-5.0, -4.0, 8.0 + 2 * k])])
            for k in range(6)]
    ds.save_as(d / "CT" / "enhanced.dcm", enforce_file_format=True)
    write_rtstruct(d / "RS.dcm", {"series_uid": ds.SeriesInstanceUID, "for_uid":
                                  ds.FrameOfReferenceUID, "study_uid": ds.StudyInstanceUID,
                                  "sops": [ds.SOPInstanceUID] * 6, "grid": GRID},
                   {r: box_contours(BOXES[r]) for r in ROIS})
    res = ingest_export(tmp_path)
    pid = fixture_pid(tmp_path)
    if not groups:
        assert outcome(res, pid) == (
            f"unreadable: patient {pid}: <export>/images/{pid}/CT#1: multi-frame CT not "
            "supported (Enhanced CT Image Storage (Modality CT), 6 frame(s): 0 per-frame "
            "functional group(s)): export the series as single-frame CT images")
        return
    assert outcome(res, pid) == "included"
    hu = (np.arange(600).reshape(GRID.shape_zyx) % 200 - 100).astype(np.int16)
    np.testing.assert_array_equal(_stored(tmp_path, "ct"), hu)
    np.testing.assert_array_equal(_stored(tmp_path, "gtv"), box_mask(BOXES["GTV"]))
    assert any(f"<export>/images/{pid}/CT#1: multi-frame CT (Enhanced CT Image Storage "
               "(Modality CT)) read as 6 slice(s)" in w for w in res.warnings)


@pytest.mark.parametrize("implicit", [False, True])
def test_files_without_preamble_and_file_meta_are_read(tmp_path, implicit):
    """Every slice written as a bare dataset (no 128-byte preamble, no DICM, no group
    0002), explicit or implicit VR little endian: the HU read back unchanged.
    Injected fault (the reader before issue 22): "cannot decode pixel data"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"
    for f in sorted((d / "CT").iterdir()):
        ds = pydicom.dcmread(f)
        del ds.file_meta
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, implicit
        write_dataset(fp, ds)
        f.write_bytes(fp.getvalue())
        assert f.read_bytes()[128:132] != b"DICM" and b"\x02\x00\x10\x00" not in \
            f.read_bytes()[:200]
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    hu = (np.arange(600).reshape(GRID.shape_zyx) % 200 - 100).astype(np.int16)
    np.testing.assert_array_equal(_stored(tmp_path, "ct"), hu)


# --- 8. sizes checked before allocating; NIfTI variants -------------------------------------
def test_rows_that_do_not_match_the_pixel_data_are_refused_before_allocating(tmp_path):
    """Rows 65535 on every slice of 10 x 10 pixels (would be 384 GiB at full size).
    Injected fault (the reader before issue 22): the volume (6 x 65535 x 10 int16) is
    allocated, then pydicom fails: "cannot decode pixel data ... (200 vs 1310700 bytes)"."""
    d = bad_export(tmp_path) / "images" / "MRN9000"

    def rows(ds):
        ds.Rows = 65535
    rewrite_ct(d, rows)
    pid = fixture_pid(tmp_path)
    assert outcome(ingest_export(tmp_path), pid) == (
        f"unreadable: patient {pid}: <export>/images/{pid}/CT#1: pixel data size mismatch: "
        "Rows 65535 x Columns 10 x 1 frame(s) x 2 byte(s) = 1310700 bytes expected, the "
        "pixel data holds 200: a truncated file or a damaged header (nothing allocated)")


def test_nifti_header_larger_than_its_file_is_refused_before_allocating(tmp_path):
    """A CT.nii.gz whose header claims 30000^3 voxels of int16 over 1200 bytes of data.
    Injected fault (the reader before issue 22): "unreadable NIfTI (MemoryError: )"."""
    d = bad_export(tmp_path, fmt="nifti") / "images" / "MRN9000"
    raw = bytearray(gzip.decompress((d / "CT.nii.gz").read_bytes()))
    raw[42:48] = np.array([30000] * 3, "<i2").tobytes()  # dim[1..3] of the NIfTI-1 header
    (d / "CT.nii.gz").write_bytes(gzip.compress(bytes(raw)))
    pid = fixture_pid(tmp_path)
    assert outcome(ingest_export(tmp_path), pid) == (
        f"unreadable: patient {pid}: <export>/images/{pid}/CT#1: NIfTI size mismatch: the "
        "header declares 30000 x 30000 x 30000 voxels of int16 (54000000000000 bytes), the "
        "file holds 1200 bytes of image data (a damaged header or a truncated file; nothing "
        "allocated)")


def test_nifti_variants_4d_uncompressed_and_lower_case_are_read_and_named(tmp_path):
    """MRN9000: CT.nii (uncompressed, 4-D with a singleton 4th axis) and ctv.nii.gz:
    read, the CT unchanged. MRN9001: a lower-case gtv.nii.gz that is not binary: refused,
    the file named GTV#1.
    Injected fault (the reader before issue 22): MRN9000 "no_images: no CT.nii.gz"."""
    exp = bad_export(tmp_path, fmt="nifti")
    d = exp / "images" / "MRN9000"
    img = nib.load(d / "CT.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine), d / "CT.nii")
    (d / "CT.nii.gz").unlink()
    (d / "CTV.nii.gz").rename(d / "ctv.nii.gz")
    d1 = exp / "images" / "MRN9001"
    g = box_mask(BOXES["GTV"]).astype(np.uint8) * 2
    (d1 / "GTV.nii.gz").unlink()
    write_nifti(d1 / "gtv.nii.gz", g, GRID)
    res = ingest_export(tmp_path)
    assert outcome(res, fixture_pid(tmp_path)) == "included"
    hu = (np.arange(600).reshape(GRID.shape_zyx) % 200 - 100).astype(np.int16)
    np.testing.assert_array_equal(_stored(tmp_path, "ct"), hu)
    np.testing.assert_array_equal(_stored(tmp_path, "ctv"), box_mask(BOXES["CTV"]))
    p1 = fixture_pid(tmp_path, "MRN9001")
    assert outcome(res, p1).startswith(
        f"unreadable: <export>/images/{p1}/GTV#1: mask is not binary")

