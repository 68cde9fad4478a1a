"""Write a CT series and an RTSTRUCT from arrays (the phantom's export, test fixtures).

The writers are deterministic: UIDs come from :func:`deterministic_uid` (a hash of the
caller's seed string, ``2.25.<int>``), every date and time is given by the caller (no
"now"), and the file meta is fixed, so the same inputs give identical bytes.

CT: one file per axial slice, ``CT_<k>.dcm`` with ``k`` from the most inferior slice,
unsigned 16 bit with ``RescaleIntercept = -1024`` (HU below -1024 are clipped).
``ImagePositionPatient`` is the LPS centre of the slice's first voxel, and
``PixelSpacing`` is (row = y, column = x) spacing, as DICOM wants.

RTSTRUCT: each mask ``(z, y, x)`` on the CT grid becomes closed planar contours through
the centres of its boundary pixels (OpenCV ``findContours``, as rt-utils does), one per
connected piece per slice; a hole is written as a further contour through the centres
of the hole's own boundary pixels, so a reader that fills each polygon with its boundary
and combines them with the even-odd rule (XOR) gets the mask back exactly
(:func:`mask_contours`). Each contour references its CT
slice, and the structure set references the series, study and frame of reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian
from scipy import ndimage

from analysis.grid import Grid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
HU_INTERCEPT = -1024
CONTOUR_DATA = 0x30060050
GEOMETRIC_TYPE = 0x30060042
N_POINTS = 0x30060046
REF_SOP_CLASS = 0x00081150
REF_SOP_INSTANCE = 0x00081155
_DEFAULT_COLORS = [(255, 0, 0), (0, 255, 255), (0, 128, 255), (255, 255, 0), (255, 0, 255),
                   (0, 255, 0), (255, 128, 0), (128, 0, 255), (0, 128, 0), (128, 128, 255)]


class DicomWriteError(ValueError):
    """Inputs that cannot be written as the requested DICOM objects."""


def deterministic_uid(*parts: object) -> str:
    """A valid DICOM UID (``2.25.<decimal>``) that depends only on ``parts``."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:15], "big"))


def _ds(v: float) -> str:
    """Decimal string of at most 16 characters, written the same way every time."""
    for prec in (10, 8, 6, 4):
        s = f"{v:.{prec}f}".rstrip("0").rstrip(".")
        if s == "-0":
            s = "0"
        if len(s) <= 16:
            return s
    raise DicomWriteError(f"value {v} does not fit a DICOM decimal string")


def _raw_ds(tag: int, values: np.ndarray) -> RawDataElement:
    """A DS multi-value as pre-encoded bytes (much faster than pydicom's per-value DS)."""
    text = "\\".join(_ds(float(v)) for v in values).encode("ascii")
    if len(text) % 2:
        text += b" "
    return RawDataElement(Tag(tag), "DS", len(text), text, 0, False, True)


def _raw_text(tag: int, vr: str, text: str, pad: bytes = b" ") -> RawDataElement:
    """A text element as pre-encoded bytes, padded to even length (UI pads with NUL)."""
    data = text.encode("ascii")
    if len(data) % 2:
        data += pad
    return RawDataElement(Tag(tag), vr, len(data), data, 0, False, True)


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "ANALYSIS_PHANTOM"
    return meta


def _apply(ds: Dataset, tags: Mapping[str, object]) -> None:
    for k, v in tags.items():
        setattr(ds, k, v)


def write_ct_series(
    ct_hu: np.ndarray,
    grid: Grid,
    out_dir: str | Path,
    *,
    patient: Mapping[str, object],
    study_uid: str,
    series_uid: str,
    frame_of_reference_uid: str,
    uid_seed: str,
    study_date: str = "20200101",
    study_time: str = "090000",
    extra_tags: Mapping[str, object] | None = None,
    skip_slices: Sequence[int] = (),
    manufacturer: str = "SYNTHETIC",
) -> list[Path]:
    """Write ``ct_hu`` (z, y, x) as one axial DICOM CT file per slice.

    Parameters
    ----------
    ct_hu : ndarray of shape (z, y, x), integer HU
    grid : Grid of ``ct_hu`` (LPS origin of voxel [0, 0, 0], spacing (z, y, x) mm)
    out_dir : folder to create; files ``CT_0000.dcm`` ... (slice 0 = most inferior)
    patient : DICOM keywords of the patient module, e.g. ``PatientName``, ``PatientID``,
        ``PatientBirthDate``, ``PatientSex``
    study_uid, series_uid, frame_of_reference_uid : UIDs shared by the series
    uid_seed : string from which the per-slice SOPInstanceUIDs are derived
    study_date, study_time : DICOM DA / TM strings used for every date / time tag
    extra_tags : further keywords for every slice (e.g. ``StudyDescription``)
    skip_slices : slice indices not written (to simulate a missing slice)
    manufacturer : the Manufacturer attribute (type 2): ``"SYNTHETIC"`` for the phantom;
        ``""`` (present, empty) for a copy of a real CT, whose maker the store does not keep

    Returns
    -------
    list of Path, the files written, in slice order.
    """
    ct = np.asarray(ct_hu)
    if ct.ndim != 3 or tuple(ct.shape) != grid.shape_zyx:
        raise DicomWriteError(f"ct_hu: shape {ct.shape} does not match grid "
                              f"{grid.shape_zyx} (writing {out_dir})")
    if not np.issubdtype(ct.dtype, np.integer):
        raise DicomWriteError(f"ct_hu: expected integer HU, got {ct.dtype} ({out_dir})")
    missing = [k for k in ("PatientName", "PatientID") if k not in patient]
    if missing:
        raise DicomWriteError(f"patient: missing {missing} ({out_dir})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sz, sy, sx = grid.spacing_mm
    ox, oy, oz = grid.origin_mm
    stored = (np.clip(ct.astype(np.int32), HU_INTERCEPT, 65535 + HU_INTERCEPT)
              - HU_INTERCEPT).astype(np.uint16)
    paths: list[Path] = []
    skip = set(int(k) for k in skip_slices)
    for k in range(ct.shape[0]):
        if k in skip:
            continue
        sop = deterministic_uid(uid_seed, "ct", k)
        ds = Dataset()
        ds.file_meta = _file_meta(CT_IMAGE_STORAGE, sop)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop
        for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            setattr(ds, tag, study_date)
        for tag in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"):
            setattr(ds, tag, study_time)
        ds.Modality = "CT"
        ds.Manufacturer = manufacturer
        ds.ReferringPhysicianName = ""
        ds.AccessionNumber = ""
        _apply(ds, patient)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        z = oz + k * sz
        ds.ImagePositionPatient = [_ds(ox), _ds(oy), _ds(z)]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = _ds(z)
        ds.SliceThickness = _ds(sz)
        ds.PixelSpacing = [_ds(sy), _ds(sx)]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(ct.shape[1]), int(ct.shape[2])
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = str(HU_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        if extra_tags:
            _apply(ds, extra_tags)
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        p = out / f"CT_{k:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def _load_series(ct: str | Path | Sequence[Dataset]) -> list[Dataset]:
    if isinstance(ct, (str, Path)):
        files = sorted(Path(ct).glob("*.dcm"))
        if not files:
            raise DicomWriteError(f"{ct}: no .dcm files")
        dss = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    else:
        dss = list(ct)
    if not dss:
        raise DicomWriteError("ct_dir_or_datasets: empty series")
    return sorted(dss, key=lambda d: float(d.ImagePositionPatient[2]))


def mask_contours(mask2d: np.ndarray) -> list[np.ndarray]:
    """Closed contours (k, 2) of (column, row) pixel indices of a 2-D mask.

    Every contour runs through the centres of the boundary pixels of a region it
    *includes*; filled with the even-odd rule (each contour toggles the pixels it covers,
    boundary included) they give the mask back exactly: the outer boundaries of the
    mask, then (recursively) the outer boundaries of its holes, of islands in the holes...
    """
    m = np.asarray(mask2d, dtype=bool)
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    if len(rows) == 0:
        return []
    r0, c0 = rows[0], cols[0]
    m = m[r0:rows[-1] + 1, c0:cols[-1] + 1]  # crop: fill_holes on the box only
    off = np.array([c0, r0])
    contours, hier = cv2.findContours(np.ascontiguousarray(m.astype(np.uint8)),
                                      cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if (hier[0][:, 3] < 0).all():  # no holes (RETR_CCOMP gives holes a parent)
        return [c[:, 0, :] + off for c in contours]
    out: list[np.ndarray] = []
    while m.any():
        contours, _ = cv2.findContours(np.ascontiguousarray(m.astype(np.uint8)),
                                       cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out += [c[:, 0, :] + off for c in contours]
        m = ndimage.binary_fill_holes(m) & ~m
    return out


def write_rtstruct(
    masks: Mapping[str, np.ndarray],
    ct_dir_or_datasets: str | Path | Sequence[Dataset],
    out_path: str | Path,
    *,
    colors: Mapping[str, tuple[int, int, int]] | None = None,
    interpreted_types: Mapping[str, str] | None = None,
    uid_seed: str | None = None,
    structure_set_label: str = "RS",
    extra_tags: Mapping[str, object] | None = None,
    manufacturer: str = "SYNTHETIC",
) -> Path:
    """Write an RTSTRUCT holding ``masks`` on the grid of a CT series.

    Parameters
    ----------
    masks : ROI name -> bool ndarray (z, y, x) on the CT grid (slice 0 = most inferior).
        An empty mask gives an ROI without contours.
    ct_dir_or_datasets : folder of the CT series, or its datasets (any order)
    out_path : file to write (e.g. ``.../RS.dcm``)
    colors : ROI name -> (r, g, b); a fixed palette otherwise
    interpreted_types : ROI name -> RTROIInterpretedType (default ``ORGAN``; ``GTV*`` ->
        ``GTV``, ``CTV*`` -> ``CTV``)
    uid_seed : string for the RTSTRUCT's SOP and series UIDs (default: from the CT series)
    structure_set_label : StructureSetLabel
    extra_tags : further keywords (e.g. ``StructureSetDescription``)
    manufacturer : the Manufacturer attribute (the phantom's ``"SYNTHETIC"`` by default)

    Returns
    -------
    Path of the file written.
    """
    series = _load_series(ct_dir_or_datasets)
    first = series[0]
    nz, ny, nx = len(series), int(first.Rows), int(first.Columns)
    for name, m in masks.items():
        if tuple(np.shape(m)) != (nz, ny, nx):
            raise DicomWriteError(f"masks[{name!r}]: shape {np.shape(m)} does not match the "
                                  f"CT series ({nz}, {ny}, {nx}) for {out_path}")
    ox, oy = float(first.ImagePositionPatient[0]), float(first.ImagePositionPatient[1])
    sy, sx = (float(v) for v in first.PixelSpacing)
    seed = uid_seed or f"rtstruct|{first.SeriesInstanceUID}"
    sop = deterministic_uid(seed, "rtstruct", "sop")
    ds = Dataset()
    ds.file_meta = _file_meta(RT_STRUCTURE_SET_STORAGE, sop)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = sop
    date = getattr(first, "StudyDate", "20200101")
    time = getattr(first, "StudyTime", "090000")
    ds.StudyDate, ds.StudyTime = date, time
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.Modality = "RTSTRUCT"
    ds.Manufacturer = manufacturer
    for tag in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "StudyDescription", "ReferringPhysicianName", "AccessionNumber", "StudyID"):
        if hasattr(first, tag):
            setattr(ds, tag, getattr(first, tag))
    ds.StudyInstanceUID = first.StudyInstanceUID
    ds.SeriesInstanceUID = deterministic_uid(seed, "rtstruct", "series")
    ds.SeriesNumber = 2
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.StructureSetLabel = structure_set_label
    ds.StructureSetDate, ds.StructureSetTime = date, time

    def image_ref(d: Dataset, raw: bool = False) -> Dataset:
        r = Dataset()
        if raw:  # pre-encoded: pydicom's per-element checks dominate the writing time
            r[REF_SOP_CLASS] = _raw_text(REF_SOP_CLASS, "UI", str(d.SOPClassUID), b"\0")
            r[REF_SOP_INSTANCE] = _raw_text(REF_SOP_INSTANCE, "UI", str(d.SOPInstanceUID),
                                            b"\0")
        else:
            r.ReferencedSOPClassUID = d.SOPClassUID
            r.ReferencedSOPInstanceUID = d.SOPInstanceUID
        return r

    rs = Dataset()
    rs.SeriesInstanceUID = first.SeriesInstanceUID
    rs.ContourImageSequence = DicomSequence([image_ref(d) for d in series])
    rstudy = Dataset()
    rstudy.ReferencedSOPClassUID = DETACHED_STUDY_MANAGEMENT
    rstudy.ReferencedSOPInstanceUID = first.StudyInstanceUID
    rstudy.RTReferencedSeriesSequence = DicomSequence([rs])
    rfor = Dataset()
    rfor.FrameOfReferenceUID = first.FrameOfReferenceUID
    rfor.RTReferencedStudySequence = DicomSequence([rstudy])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([rfor])

    roi_seq, contour_seq, obs_seq = [], [], []
    for i, (name, mask) in enumerate(masks.items(), start=1):
        roi = Dataset()
        roi.ROINumber = i
        roi.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        roi_seq.append(roi)
        rc = Dataset()
        col = (colors or {}).get(name, _DEFAULT_COLORS[(i - 1) % len(_DEFAULT_COLORS)])
        rc.ROIDisplayColor = [int(c) for c in col]
        rc.ReferencedROINumber = i
        cs = []
        m = np.asarray(mask, dtype=bool)
        for k in np.flatnonzero(m.any(axis=(1, 2))):
            z = float(series[k].ImagePositionPatient[2])
            for c in mask_contours(m[k]):
                pts = np.empty((len(c), 3))
                pts[:, 0] = ox + c[:, 0] * sx
                pts[:, 1] = oy + c[:, 1] * sy
                pts[:, 2] = z
                ct_ = Dataset()
                ct_.ContourImageSequence = DicomSequence([image_ref(series[k], raw=True)])
                ct_[GEOMETRIC_TYPE] = _raw_text(GEOMETRIC_TYPE, "CS", "CLOSED_PLANAR")
                ct_[N_POINTS] = _raw_text(N_POINTS, "IS", str(len(c)))
                ct_[CONTOUR_DATA] = _raw_ds(CONTOUR_DATA, pts.ravel())
                cs.append(ct_)
        if cs:
            rc.ContourSequence = DicomSequence(cs)
        contour_seq.append(rc)
        ob = Dataset()
        ob.ObservationNumber = i
        ob.ReferencedROINumber = i
        itype = (interpreted_types or {}).get(name)
        if itype is None:
            up = name.upper()
            itype = "GTV" if up.startswith("GTV") else "CTV" if up.startswith("CTV") else "ORGAN"
        ob.RTROIInterpretedType = itype
        ob.ROIInterpreter = ""
        obs_seq.append(ob)
    ds.StructureSetROISequence = DicomSequence(roi_seq)
    ds.ROIContourSequence = DicomSequence(contour_seq)
    ds.RTROIObservationsSequence = DicomSequence(obs_seq)
    if extra_tags:
        _apply(ds, extra_tags)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out
