"""Predicted stations exported as RTSTRUCT and DICOM-SEG (issues 13 and 15): both read
back voxel for voxel, keep left and right (and head and feet) where they were, and carry
no identifier of the department's CT, whatever was planted in its headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from analysis.grid import Grid
from analysis.io.dicom_read import read_ct_series, read_rtstruct
from analysis.io.dicom_write import deterministic_uid, write_ct_series
from analysis.labels import STATIONS
from analysis.segment.export import (
    check_pseudonymous,
    export_stations,
    labels_from_masks,
    read_stations_seg,
)

GRID = Grid((12, 20, 24), (3.0, 1.5, 1.0), (-12.0, -15.0, -40.0))
PID = "P0042"
K = {s: STATIONS.index(s) + 1 for s in STATIONS}


def _asymmetric_labels() -> np.ndarray:
    """Stations placed so that every flip of x, y or z changes the map.

    4R lies at low x (the patient's right in LPS), 4L at high x, 7 low and posterior,
    2R superior; a hole in 7 checks the even-odd contours.
    """
    lab = np.zeros(GRID.shape_zyx, np.uint8)
    lab[2:6, 4:10, 2:8] = K["4R"]
    lab[3:8, 5:9, 15:22] = K["4L"]
    lab[0:3, 12:19, 9:16] = K["7"]
    lab[1, 15, 12] = 0
    lab[9:12, 2:6, 3:6] = K["2R"]
    return lab


def _ct() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-1000, 400, GRID.shape_zyx).astype(np.int16)


PLANTED = {"PatientName": "DOE^JANE^Q", "PatientID": "MRN8812345",
           "PatientBirthDate": "19510317", "PatientSex": "F"}
PLANTED_TAGS = {"AccessionNumber": "ACC77123", "InstitutionName": "St Planted Hospital",
                "ReferringPhysicianName": "HOUSE^GREGORY", "OperatorsName": "RATCHED^MILDRED",
                "StudyDescription": "Thorax DOE JANE", "SeriesDescription": "CT MRN8812345",
                "PatientComments": "lives at 12 Planted Road"}
PLANTED_DATE = "20190423"
DEPT = {"study": "1.2.826.0.1.3680043.99.1", "series": "1.2.826.0.1.3680043.99.2",
        "for": "1.2.826.0.1.3680043.99.3"}


def _department_series(tmp_path: Path) -> Path:
    out = tmp_path / "department" / "DOE_JANE_MRN8812345"
    write_ct_series(_ct(), GRID, out, patient=PLANTED, study_uid=DEPT["study"],
                    series_uid=DEPT["series"], frame_of_reference_uid=DEPT["for"],
                    uid_seed="dept", study_date=PLANTED_DATE, study_time="101500",
                    extra_tags=PLANTED_TAGS)
    return out


def _sop_uids(files) -> list[str]:
    dss = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    return [d.SOPInstanceUID for d in sorted(dss, key=lambda d: float(d.ImagePositionPatient[2]))]


def test_seg_and_rtstruct_round_trip_voxel_for_voxel(tmp_path):
    """Fault injected: frames written in reverse slice order (``lab[::-1]`` into the SEG)
    -> 696 voxels differ."""
    lab = _asymmetric_labels()
    files = export_stations(lab, _ct(), GRID, PID, tmp_path / "out")
    assert set(files) == {"nifti", "color_table", "ct", "rtstruct", "seg"}
    ct = read_ct_series(files["ct"])
    assert ct.grid.same_as(GRID)
    rs = read_rtstruct(files["rtstruct"], ct)
    back_rs = labels_from_masks(rs, GRID.shape_zyx)
    assert int((back_rs != lab).sum()) == 0
    back_seg = read_stations_seg(files["seg"], _sop_uids(sorted(files["ct"].glob("*.dcm"))))
    assert int((back_seg != lab).sum()) == 0
    seg = pydicom.dcmread(files["seg"])
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["LN_2R", "LN_4R", "LN_4L", "LN_7"]
    ref_series = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert ref_series == pydicom.dcmread(next(files["ct"].glob("*.dcm"))).SeriesInstanceUID


def test_orientation_right_is_right_and_head_is_head(tmp_path):
    """Contour points (LPS mm) of 4R lie at the patient's right (smaller x) of 4L, inside
    the voxels that hold 4R; SEG frames sit at the z of their slice.

    Fault injected: x mirrored in the exported map (``labels[..., ::-1]`` in
    export_stations) -> 4R's mean contour x is +6.5 mm, 4L's -7.0 mm: the first assert
    fails."""
    lab = _asymmetric_labels()
    files = export_stations(lab, _ct(), GRID, PID, tmp_path / "out")
    ds = pydicom.dcmread(files["rtstruct"])
    names = {r.ROINumber: r.ROIName for r in ds.StructureSetROISequence}
    pts = {}
    for rc in ds.ROIContourSequence:
        xyz = np.concatenate([np.asarray(c.ContourData, float).reshape(-1, 3)
                              for c in rc.ContourSequence])
        pts[names[rc.ReferencedROINumber]] = xyz
    assert pts["LN_4R"][:, 0].mean() < pts["LN_4L"][:, 0].mean()
    idx = np.rint(GRID.mm_to_index(pts["LN_4R"])).astype(int)  # (z, y, x)
    assert (lab[idx[:, 0], idx[:, 1], idx[:, 2]] == K["4R"]).all()
    assert pts["LN_2R"][:, 2].min() > pts["LN_7"][:, 2].max()  # 2R superior to 7
    seg = pydicom.dcmread(files["seg"])
    z_of = {d.SOPInstanceUID: float(d.ImagePositionPatient[2]) for d in
            (pydicom.dcmread(f, stop_before_pixels=True) for f in files["ct"].glob("*.dcm"))}
    frames = seg.PerFrameFunctionalGroupsSequence
    # binary SEG: a frame per segment and slice that holds it (empty frames omitted)
    assert len(frames) == sum(int((lab == K[s]).any(axis=(1, 2)).sum())
                              for s in ("2R", "4R", "4L", "7"))
    for f in frames:
        src = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert float(f.PlanePositionSequence[0].ImagePositionPatient[2]) == z_of[src]


@pytest.mark.parametrize("keep", [False, True])
def test_no_planted_identifier_in_any_exported_byte(tmp_path, keep):
    """Identifiers planted in the department CT's headers (and its folder name) reach no
    byte of the export; fresh UIDs unless keep_department_uids, the department's UIDs
    (but still the pid as identity) with it.

    Fault injected: department_references copying the whole source dataset
    (``r = copy.deepcopy(d)`` before setting the pid) -> keep=True: the export stops
    with "RS_stations.dcm is not pseudonymous: ['StudyDescription'] hold patient
    information" (check_pseudonymous, run on every exported file)."""
    dept = _department_series(tmp_path)
    with pytest.raises(ValueError, match="PatientBirthDate"):
        check_pseudonymous(next(dept.glob("*.dcm")), PID)  # the checker does see them
    out = tmp_path / "export"
    files = export_stations(_asymmetric_labels(), _ct(), GRID, PID, out, ct_series_dir=dept,
                            keep_department_uids=keep)
    secrets = [*PLANTED.values(), *PLANTED_TAGS.values(), PLANTED_DATE, "DOE_JANE",
               "MRN8812345", "DOE^JANE"]
    secrets.remove("F")  # one letter: not searchable as bytes
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"RS_stations.dcm", "SEG_stations.dcm",
                                         "stations_pred.nii.gz"}
    for p in written:
        blob = p.read_bytes()
        leaked = [s for s in secrets if s.encode() in blob]
        assert not leaked, f"{p.name} holds {leaked}"
        uids = [u for u in DEPT.values() if u.encode() in blob]
        if keep and p.suffix == ".dcm":
            assert uids == list(DEPT.values()), (p.name, uids)
        else:
            assert not uids, (p.name, uids)
    for key in ("rtstruct", "seg"):
        ds = pydicom.dcmread(files[key])
        assert str(ds.PatientName) == PID and ds.PatientID == PID
        assert not ds.get("PatientBirthDate") and not ds.get("AccessionNumber")
    if keep:
        assert "ct" not in files  # the department has its CT
        sop = _sop_uids(sorted(dept.glob("*.dcm")))
        assert (read_stations_seg(files["seg"], sop) == _asymmetric_labels()).all()


def test_keep_department_uids_refuses_another_grid_naming_the_pid_only(tmp_path):
    dept = _department_series(tmp_path)
    other = Grid((12, 20, 25), GRID.spacing_mm, GRID.origin_mm)
    with pytest.raises(ValueError, match=f"patient {PID}: the department CT series") as err:
        export_stations(np.zeros(other.shape_zyx, np.uint8) + 1, np.zeros(other.shape_zyx,
                        np.int16), other, PID, tmp_path / "x", ct_series_dir=dept,
                        keep_department_uids=True)
    assert "MRN" not in str(err.value) and "DOE" not in str(err.value)
    with pytest.raises(ValueError, match="needs ct_series_dir"):
        export_stations(_asymmetric_labels(), _ct(), GRID, PID, tmp_path / "y",
                        keep_department_uids=True)


def test_uids_are_fresh_and_deterministic(tmp_path):
    a = export_stations(_asymmetric_labels(), _ct(), GRID, PID, tmp_path / "a")
    b = export_stations(_asymmetric_labels(), _ct(), GRID, PID, tmp_path / "b")
    for key in ("rtstruct", "seg"):
        da, db = pydicom.dcmread(a[key]), pydicom.dcmread(b[key])
        assert da.SOPInstanceUID == db.SOPInstanceUID
        assert da.StudyInstanceUID == deterministic_uid(f"segment-export|{PID}", "study")
        assert da.StudyInstanceUID not in DEPT.values()
