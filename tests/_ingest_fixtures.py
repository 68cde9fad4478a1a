"""Tiny DICOM / NIfTI department exports for the ingest tests, built with pydicom in tmp_path.

Every CT is 4 slices of 8 x 8 pixels (2 mm slices, 1 mm pixels); every ROI a box of
voxels, contoured half a pixel outside the voxel centres so that the filled mask is
known by hand. Identifiers (names, birth dates, MRNs) are planted in the DICOM headers
and the clinical table so that the de-identification test can look for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from analysis.grid import Grid
from analysis.io import write_nifti

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: a one-voxel margin around every box: no structure touches the image edge (ingest
#: refuses a clipped structure)
GRID = Grid((6, 10, 10), (2.0, 1.0, 1.0), (-5.0, -4.0, 8.0))
#: boxes (z0, z1, y0, y1, x0, x1), inclusive voxel index ranges
BOXES = {"GTV": (2, 3, 3, 5, 3, 5), "CTV": (1, 4, 2, 7, 2, 7), "GTVnd": (2, 2, 6, 7, 6, 7),
         "LN_7": (1, 4, 1, 2, 1, 8), "LN_4R": (3, 4, 7, 8, 1, 3)}


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = sop_class
    fm.MediaStorageSOPInstanceUID = sop_uid
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    return fm


def _patient(ds: Dataset, ident: dict) -> None:
    ds.PatientName = ident.get("name", "Anon^Anon")
    ds.PatientID = ident.get("mrn", "0")
    ds.PatientBirthDate = ident.get("birth", "19500101").replace("-", "")
    ds.StudyDescription = f"free text about {ident.get('name', '')}"


def write_ct(folder: Path, grid: Grid = GRID, *, ident: dict | None = None,
             series_uid: str | None = None, for_uid: str | None = None,
             z_positions: list[float] | None = None, pixel_spacing: list | None = None,
             hu: np.ndarray | None = None) -> dict:
    """Write a CT series, one file per slice; returns its uids and files (z order)."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    for_uid = for_uid or generate_uid()
    study = generate_uid()
    nz, ny, nx = grid.shape_zyx
    if hu is None:
        hu = (np.arange(nz * ny * nx).reshape(nz, ny, nx) % 200 - 100).astype(np.int16)
    zs = z_positions or [grid.origin_mm[2] + k * grid.spacing_mm[0] for k in range(nz)]
    sops, files = [], []
    for k, z in enumerate(zs):
        sop = generate_uid()
        ds = Dataset()
        ds.file_meta = _file_meta(CT_STORAGE, sop)
        ds.SOPClassUID, ds.SOPInstanceUID = CT_STORAGE, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series_uid, for_uid
        ds.Modality = "CT"
        _patient(ds, ident or {})
        ds.ImagePositionPatient = [grid.origin_mm[0], grid.origin_mm[1], float(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = (pixel_spacing[k] if pixel_spacing else
                           [grid.spacing_mm[1], grid.spacing_mm[2]])
        ds.SliceThickness = grid.spacing_mm[0]
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (hu[min(k, nz - 1)].astype(np.int32) + 1024).astype(np.uint16).tobytes()
        f = folder / f"CT{k:03d}.dcm"
        ds.save_as(f, enforce_file_format=True)
        sops.append(sop)
        files.append(f)
    return {"series_uid": series_uid, "for_uid": for_uid, "study_uid": study, "sops": sops,
            "files": files, "grid": grid, "hu": hu}


def box_contours(box: tuple, grid: Grid = GRID) -> list[np.ndarray]:
    """One rectangle per slice of ``box``, half a pixel outside its voxel centres (mm)."""
    z0, z1, y0, y1, x0, x1 = box
    out = []
    for k in range(z0, z1 + 1):
        corners = [(y0 - .5, x0 - .5), (y0 - .5, x1 + .5), (y1 + .5, x1 + .5), (y1 + .5, x0 - .5)]
        pts = [grid.index_to_mm([k, y, x]) for y, x in corners]
        out.append(np.asarray(pts))
    return out


def box_mask(box: tuple, grid: Grid = GRID) -> np.ndarray:
    z0, z1, y0, y1, x0, x1 = box
    m = np.zeros(grid.shape_zyx, bool)
    m[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = True
    return m


def write_rtstruct(path: Path, ct: dict, rois: dict[str, list[np.ndarray]], *,
                   ident: dict | None = None, ref_series_uid: str | None = None) -> Path:
    """Write an RTSTRUCT with ``rois`` (name -> contours in mm) referencing ``ct``."""
    sop = generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(RTSTRUCT_STORAGE, sop)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, sop
    ds.Modality = "RTSTRUCT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ct["study_uid"], generate_uid()
    _patient(ds, ident or {})
    z_of = [float(f) for f in
            (ct["grid"].origin_mm[2] + k * ct["grid"].spacing_mm[0]
             for k in range(len(ct["sops"])))]
    img_refs = []
    for s in ct["sops"]:
        c = Dataset()
        c.ReferencedSOPClassUID, c.ReferencedSOPInstanceUID = CT_STORAGE, s
        img_refs.append(c)
    se = Dataset()
    se.SeriesInstanceUID = ref_series_uid or ct["series_uid"]
    se.ContourImageSequence = Sequence(img_refs)
    st = Dataset()
    st.ReferencedSOPInstanceUID = ct["study_uid"]
    st.RTReferencedSeriesSequence = Sequence([se])
    fr = Dataset()
    fr.FrameOfReferenceUID = ct["for_uid"]
    fr.RTReferencedStudySequence = Sequence([st])
    ds.ReferencedFrameOfReferenceSequence = Sequence([fr])
    ss, rc_seq = [], []
    for i, (name, contours) in enumerate(rois.items(), start=1):
        r = Dataset()
        r.ROINumber, r.ROIName, r.ReferencedFrameOfReferenceUID = i, name, ct["for_uid"]
        ss.append(r)
        rc = Dataset()
        rc.ReferencedROINumber = i
        cs = []
        for pts in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.4f}" for v in np.asarray(pts).ravel()]
            k = int(np.argmin(np.abs(np.asarray(z_of) - pts[0][2])))
            ci = Dataset()
            ci.ReferencedSOPClassUID, ci.ReferencedSOPInstanceUID = CT_STORAGE, ct["sops"][k]
            c.ContourImageSequence = Sequence([ci])
            cs.append(c)
        if cs:
            rc.ContourSequence = Sequence(cs)
        rc_seq.append(rc)
    ds.StructureSetROISequence = Sequence(ss)
    ds.ROIContourSequence = Sequence(rc_seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# --- a whole department export -------------------------------------------------------
CLINICAL_HEADER = ("MRN,Name,BirthDate,Sex,Age,Pathology,TumourType,cT,cN,cM,Stage,"
                   "Paraneoplastic,SVCS,SmokingIndex,ChemoSequence,RT_Start")

COLUMN_MAP = {"MRN": "patient_id", "Name": "drop", "BirthDate": "drop", "Sex": "sex",
              "Age": "age", "Pathology": "histology", "TumourType": "location",
              "cT": "t_stage", "cN": "n_stage", "cM": "m_stage", "Stage": "tnm_stage",
              "Paraneoplastic": "paraneoplastic", "SVCS": "svc_syndrome",
              "SmokingIndex": "smoking_index", "ChemoSequence": "chemo",
              "RT_Start": "rt_start"}
CATEGORY_MAP = {
    "sex": {"M": "male", "F": "female"},
    "histology": {"SCLC": "small_cell", "SCLC+NSCLC": "mixed"},
    "location": {"Central": "central", "Peripheral": "peripheral"},
    "t_stage": {str(i): f"T{i}" for i in range(1, 5)},
    "n_stage": {str(i): f"N{i}" for i in range(4)},
    "m_stage": {"0": "M0", "1": "M1"},
    "paraneoplastic": {"Y": "yes", "N": "no"},
    "svc_syndrome": {"Y": "yes", "N": "no"},
    "chemo": {"Concurrent": "concurrent", "Sequential": "sequential"},
}


def patient_row(mrn: str, name: str, birth: str, *, sex="M", age="63", ct="2", rt="2019-03-04",
                smoking="500") -> str:
    return (f"{mrn},{name},{birth},{sex},{age},SCLC,Central,{ct},2,0,III,N,N,{smoking},"
            f"Concurrent,{rt}")


def make_export(root: Path, n: int = 3, fmt: str = "dicom") -> dict:
    """A valid export of ``n`` patients; returns planted identifiers and the boxes used."""
    root.mkdir(parents=True, exist_ok=True)
    idents = [{"mrn": f"MRN{9000 + i}", "name": f"Zzyzx^Quentin{i}",
               "birth": f"1948-0{i + 1}-1{i}"} for i in range(n)]
    lines = [CLINICAL_HEADER]
    fu = ["MRN,RT_Start,LastFollowUp,LocalFailure,LocalFailureDate"]
    rec = ["MRN,SiteNo,X_mm,Y_mm,Z_mm"]
    for i, idt in enumerate(idents):
        lines.append(patient_row(idt["mrn"], idt["name"], idt["birth"], age=str(55 + 5 * i)))
        if i % 2 == 0:
            fu.append(f"{idt['mrn']},2019-03-04,2022-03-04,1,2020-03-04")
            rec.append(f"{idt['mrn']},1,1.0,2.0,13.0")
        else:
            fu.append(f"{idt['mrn']},2019-03-04,2021-09-04,0,")
        write_patient_images(root / "images" / idt["mrn"], fmt, ident=idt)
    (root / "clinical.csv").write_text("\n".join(lines) + "\n")
    (root / "followup.csv").write_text("\n".join(fu) + "\n")
    (root / "recurrences.csv").write_text("\n".join(rec) + "\n")
    return {"idents": idents}


def write_patient_images(d: Path, fmt: str, *, ident: dict | None = None,
                         rois: tuple[str, ...] = ("GTV", "CTV", "GTVnd", "LN_7", "LN_4R")
                         ) -> None:
    if fmt == "dicom":
        ct = write_ct(d / "CT", ident=ident)
        write_rtstruct(d / "RS.dcm", ct, {r: box_contours(BOXES[r]) for r in rois},
                       ident=ident)
    else:
        d.mkdir(parents=True, exist_ok=True)
        hu = (np.arange(int(np.prod(GRID.shape_zyx))).reshape(GRID.shape_zyx) % 200 - 100
              ).astype(np.int16)
        write_nifti(d / "CT.nii.gz", hu, GRID)
        names = {"GTV": "GTV.nii.gz", "CTV": "CTV.nii.gz", "GTVnd": "GTVnd.nii.gz"}
        for r in rois:
            if r in names:
                write_nifti(d / names[r], box_mask(BOXES[r]).astype(np.uint8), GRID)
        st = np.zeros(GRID.shape_zyx, np.uint8)
        st[box_mask(BOXES["LN_7"])] = 11
        st[box_mask(BOXES["LN_4R"])] = 7
        write_nifti(d / "stations.nii.gz", st, GRID)


# --- shared by the ingest tests (formerly imported from other test modules) ------------
def make_params(tmp_path, scheduler="serial", **ingest):
    """Params of an export in ``tmp_path/export`` with the fixture's column map."""
    from analysis.params import parse_params

    return parse_params({
        "run_name": "t", "scheduler": scheduler, "n_workers": 2,
        "cohort": {"source": "export", "export_dir": str(tmp_path / "export"),
                   "center": "c1", "column_map": COLUMN_MAP, "category_map": CATEGORY_MAP},
        "ingest": {"pseudonym_key_file": str(tmp_path / "key"), **ingest},
    })


#: the structures the fixture writes for every patient
ROIS = ("GTV", "CTV", "GTVnd", "LN_7", "LN_4R")


def bad_export(tmp_path, fmt: str = "dicom", n: int = 2) -> Path:
    """A valid export of ``n`` patients in ``tmp_path/export`` for a test to make bad."""
    make_export(tmp_path / "export", n=n, fmt=fmt)
    return tmp_path / "export"


def ingest_export(tmp_path, **ingest):
    """Ingest ``tmp_path/export`` into ``tmp_path/store`` (``ingest`` params overridden)."""
    from analysis.ingest import run_ingest
    from analysis.store import CohortStore

    return run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path, **ingest),
                      progress=False)


def fixture_pid(tmp_path, mrn: str = "MRN9000") -> str:
    """The pseudonym ingest gives ``mrn`` under the test's key (centre ``c1``)."""
    from analysis.deid import load_or_create_key, pseudonym

    return pseudonym(mrn, load_or_create_key(tmp_path / "key"), "c1")


def rewrite_ct(d: Path, edit) -> None:
    """Apply ``edit(ds)`` to every CT file of patient folder ``d`` and save it."""
    import pydicom

    for f in sorted((d / "CT").iterdir()):
        ds = pydicom.dcmread(f)
        edit(ds)
        ds.save_as(f)


def outcome(res, pid: str) -> str:
    """"included" or the patient's exclusion reason in ``res.screening``."""
    row = res.screening.set_index("pid").loc[pid]
    return "included" if row["included"] else row["reason"]


def texts_of(root: Path):
    """(path, bytes) of every file under ``root``; .gz also decompressed, Parquet also as
    CSV text."""
    import gzip

    import pandas as pd

    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        yield p, data
        if p.name.endswith(".gz"):
            yield p, gzip.decompress(data)
        if p.suffix == ".parquet":
            yield p, pd.read_parquet(p).reset_index().to_csv().encode()


def assert_absent(root: Path, planted: list[str]) -> int:
    """Assert no string of ``planted`` (any case) occurs in any file under ``root``;
    return the number of texts searched."""
    n = 0
    for p, data in texts_of(root):
        n += 1
        low = data.lower()
        for s in planted:
            assert s.lower().encode() not in low, f"{s!r} found in {p}"
    return n
