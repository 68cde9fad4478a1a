"""DICOM CT and RTSTRUCT writers: values, geometry, references, determinism."""

from __future__ import annotations

import hashlib

import numpy as np
import pydicom
import pytest
from skimage.draw import polygon

from analysis.grid import Grid
from analysis.io.dicom_write import (
    DicomWriteError,
    deterministic_uid,
    mask_contours,
    write_ct_series,
    write_rtstruct,
)

GRID = Grid((4, 6, 8), (5.0, 1.25, 1.5), (-10.5, 20.25, -100.0))
PATIENT = {"PatientName": "DOE^JANE", "PatientID": "H0000001", "PatientBirthDate": "19500101"}


def _write(tmp_path, ct, **kw):
    return write_ct_series(ct, GRID, tmp_path / "CT", patient=PATIENT, study_uid="1.2.3",
                           series_uid="1.2.4", frame_of_reference_uid="1.2.5",
                           uid_seed="seed", **kw)


def _ct():
    return (np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8) * 7 - 1000)


def test_ct_round_trip_hu_and_geometry(tmp_path):
    ct = _ct()
    files = _write(tmp_path, ct)
    assert len(files) == 4
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, ct[k])
        # slice k at z = -100 + 5 k; first pixel centre at (x, y) = origin
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient],
                                   [-10.5, 20.25, -100.0 + 5.0 * k])
        np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [1.25, 1.5])
        assert (ds.Rows, ds.Columns) == (6, 8)
        assert ds.PatientName == "DOE^JANE" and ds.FrameOfReferenceUID == "1.2.5"


def test_ct_clips_below_minus_1024(tmp_path):
    ct = np.full(GRID.shape_zyx, -2000, dtype=np.int16)
    ds = pydicom.dcmread(_write(tmp_path, ct)[0])
    assert int(ds.pixel_array.min()) + int(ds.RescaleIntercept) == -1024


def test_skip_slices(tmp_path):
    files = _write(tmp_path, _ct(), skip_slices=[2])
    assert [f.name for f in files] == ["CT_0000.dcm", "CT_0001.dcm", "CT_0003.dcm"]


def test_bad_shape_rejected(tmp_path):
    with pytest.raises(DicomWriteError, match="ct_hu: shape"):
        _write(tmp_path, np.zeros((3, 6, 8), np.int16))


def test_same_inputs_same_bytes(tmp_path):
    a = _write(tmp_path / "a", _ct())
    b = _write(tmp_path / "b", _ct())
    for fa, fb in zip(a, b, strict=True):
        assert hashlib.sha256(fa.read_bytes()).digest() == hashlib.sha256(fb.read_bytes()).digest()


def test_deterministic_uid_valid():
    u = deterministic_uid("x", 1)
    assert u == deterministic_uid("x", 1) != deterministic_uid("x", 2)
    assert u.startswith("2.25.") and len(u) <= 64


def _xor_fill(contours, shape):
    """Even-odd fill, boundary pixels included (the reading rule the writer promises)."""
    out = np.zeros(shape, dtype=bool)
    for c in contours:
        m = np.zeros(shape, dtype=bool)
        rr, cc = polygon(c[:, 1], c[:, 0], shape)
        m[rr, cc] = True
        m[c[:, 1], c[:, 0]] = True
        out ^= m
    return out


def test_mask_contours_ring_with_island_by_hand():
    m = np.zeros((9, 9), dtype=bool)
    m[1:8, 1:8] = True
    m[3:6, 3:6] = False  # a 3x3 hole
    m[4, 4] = True  # an island in the hole
    cs = mask_contours(m)
    assert len(cs) == 3  # outer boundary, hole, island
    np.testing.assert_array_equal(_xor_fill(cs, m.shape), m)


def test_rtstruct_references_and_round_trip(tmp_path):
    _write(tmp_path, _ct())
    gtv = np.zeros(GRID.shape_zyx, dtype=bool)
    gtv[1:3, 1:5, 2:7] = True
    empty = np.zeros(GRID.shape_zyx, dtype=bool)
    out = write_rtstruct({"GTV": gtv, "LN_7": empty}, tmp_path / "CT", tmp_path / "RS.dcm")
    rs = pydicom.dcmread(out)
    assert rs.Modality == "RTSTRUCT" and rs.StudyInstanceUID == "1.2.3"
    assert rs.FrameOfReferenceUID == "1.2.5"
    rfor = rs.ReferencedFrameOfReferenceSequence[0]
    assert rfor.FrameOfReferenceUID == "1.2.5"
    rser = rfor.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert rser.SeriesInstanceUID == "1.2.4"
    ct_uids = {pydicom.dcmread(f).SOPInstanceUID for f in sorted((tmp_path / "CT").glob("*"))}
    assert {r.ReferencedSOPInstanceUID for r in rser.ContourImageSequence} == ct_uids
    assert [r.ROIName for r in rs.StructureSetROISequence] == ["GTV", "LN_7"]
    assert rs.RTROIObservationsSequence[0].RTROIInterpretedType == "GTV"
    assert "ContourSequence" not in rs.ROIContourSequence[1]
    # rasterise back by hand: contours at slices 1 and 2, through pixel centres
    back = np.zeros(GRID.shape_zyx, dtype=bool)
    for c in rs.ROIContourSequence[0].ContourSequence:
        pts = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
        idx = GRID.mm_to_index(pts)
        k = int(round(idx[0, 0]))
        assert c.ContourImageSequence[0].ReferencedSOPInstanceUID in ct_uids
        cr = np.rint(idx[:, [2, 1]]).astype(int)
        back[k] ^= _xor_fill([cr], GRID.shape_zyx[1:])
    np.testing.assert_array_equal(back, gtv)


def test_rtstruct_read_by_rt_utils(tmp_path):
    """rt-utils reads it back (hole-free mask: rt-utils fills contours without the even-odd
    rule; square slices: it allocates masks as (Columns, Rows, slices))."""
    rt_utils = pytest.importorskip("rt_utils")
    sq = Grid((3, 8, 8), (5.0, 1.5, 1.5), (-10.5, 20.25, -100.0))
    write_ct_series(np.zeros(sq.shape_zyx, np.int16), sq, tmp_path / "CT", patient=PATIENT,
                    study_uid="1.2.3", series_uid="1.2.4", frame_of_reference_uid="1.2.5",
                    uid_seed="sq")
    m = np.zeros(sq.shape_zyx, dtype=bool)
    m[0:3, 2:5, 1:7] = True
    m[1, 2, 1] = False  # a notch, not a hole
    write_rtstruct({"CTV": m}, tmp_path / "CT", tmp_path / "RS.dcm")
    rt = rt_utils.RTStructBuilder.create_from(str(tmp_path / "CT"), str(tmp_path / "RS.dcm"))
    back = np.transpose(rt.get_roi_mask_by_name("CTV"), (2, 0, 1))  # (rows, cols, z) -> zyx
    np.testing.assert_array_equal(back, m)


def test_rtstruct_shape_mismatch(tmp_path):
    _write(tmp_path, _ct())
    with pytest.raises(DicomWriteError, match="does not match the CT series"):
        write_rtstruct({"GTV": np.zeros((3, 6, 8), bool)}, tmp_path / "CT", tmp_path / "RS.dcm")
