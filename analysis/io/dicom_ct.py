"""A CT folder as a radiographer exports it -> one CT series in the package's convention.

Which files are read
--------------------
Every regular file of the folder, any name. Each is sorted into one of:

* not DICOM (``Thumbs.db``, ``notes.txt``): ignored with a note;
* a byte-identical copy of a file already seen (the same slice exported twice): dropped
  with a note naming the file it copies;
* a localizer / scout (``ImageType`` contains ``LOCALIZER``), or any object that is not a
  single-frame CT image (SOP class other than CT Image Storage, e.g. an SR dose report,
  a Secondary Capture dose screenshot, RTDOSE, a presentation state): ignored with a
  note naming its SOP class;
* a multi-frame (enhanced) CT: read frame by frame (:func:`split_frames`: geometry and
  rescale from its functional groups), with a note; compressed frames, or frames without
  plane position and orientation, are "multi-frame CT not supported" (ignored with a
  note when another series is present, else refused);
* a CT slice, grouped by SeriesInstanceUID.

Which series is used
--------------------
One series: that one. Several: the series the RTSTRUCT references (``series_uid``); when
it references none of them (or there is no reference), the largest series that is axial
with uniform spacing (ties: the smaller slice spacing, then the UID). A note lists the
series ignored, by file count and an example file.

Geometry
--------
Orientations are read by their direction cosines, not by PatientPosition: every
axis-aligned axial orientation (head first or feet first, supine or prone: row direction
+-x, column direction +-y) is flipped into the package's one convention (``(z, y, x)``,
z inferior to superior, y anterior to posterior, x right to left) and the slices are
sorted by their z position. An orientation within :data:`AXIAL_TOL_DEG` of an axial one
is read as axial with a note giving how far voxel centres then lie from their true
position; anything else is refused as "non-axial orientation". Slices must be evenly
spaced (a missing slice and an uneven or duplicated position are refused by name).

Sizes are checked before anything is allocated: Rows x Columns x frames x bytes per
pixel against the length of uncompressed pixel data ("pixel data size mismatch"), and
Rows and Columns against :data:`MAX_MATRIX` for compressed data.

Values: see :mod:`analysis.io.hu` (RescaleSlope/Intercept, padding read as air, "not in
Hounsfield units", no clipping to int16).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from analysis.grid import Grid
from analysis.io.dicom_base import (
    AXIAL_TOL_DEG,
    ORIENTATION_TOL,
    POSITION_ROUNDING_MM,
    POSITION_TOL_MM,
    SPACING_RTOL,
    CTSeries,
    DicomError,
    floats,
    is_dicom_file,
    plain,
    read_file,
    who,
)
from analysis.io.hu import AIR_HU, INT16_MAX, INT16_MIN, not_hu_message, padding_mask, rescale

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: multi-frame CT SOP classes (not supported: refused or ignored by name)
MULTIFRAME_CT = {"1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
                 "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT"}
#: largest Rows or Columns decoded from compressed pixel data (CT matrices are 512 to
#: 1024; the length of compressed data says nothing about the decoded size)
MAX_MATRIX = 4096


def _sop_class(ds: pydicom.Dataset) -> str:
    """SOPClassUID of the dataset, else of its file meta (a file cut short keeps it)."""
    sop = str(ds.get("SOPClassUID", ""))
    meta = getattr(ds, "file_meta", None)
    if not sop and meta is not None:
        sop = str(meta.get("MediaStorageSOPClassUID", ""))
    return sop


def _kind(ds: pydicom.Dataset) -> str:
    """"ct", "multiframe", "localizer", "other", or "damaged" (neither SOP class nor
    Modality)."""
    sop = _sop_class(ds)
    if not sop and "Modality" not in ds:
        return "damaged"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if sop in MULTIFRAME_CT or (frames > 1 and str(ds.get("Modality", "")) == "CT"):
        return "multiframe"
    if sop == CT_IMAGE_STORAGE or (not sop and str(ds.get("Modality", "")) == "CT"):
        image_type = [str(v).upper() for v in (ds.get("ImageType", None) or [])]
        return "localizer" if "LOCALIZER" in image_type else "ct"
    return "other"


def _describe(ds: pydicom.Dataset) -> str:
    sop = _sop_class(ds)
    name = UID(sop).name if sop else "no SOP class"
    return f"{name} (Modality {ds.get('Modality', '?')})"


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    c = abs(float(u @ v)) / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _axial_flips(iop: np.ndarray, path: Path, patient: str | None) -> tuple[bool, bool, float]:
    """(flip rows, flip columns, angle from axial in degrees) of an orientation within
    :data:`AXIAL_TOL_DEG` of axial; a DicomError "non-axial orientation" otherwise."""
    row, col = iop[:3], iop[3:]
    sx, sy = np.sign(row[0]), np.sign(col[1])
    angle = 90.0
    if sx != 0 and sy != 0:
        angle = max(_angle_deg(row, np.array([sx, 0, 0])), _angle_deg(col, np.array([0, sy, 0])))
    if angle > AXIAL_TOL_DEG:
        raise DicomError(f"{who(patient)}{path}: non-axial orientation (ImageOrientationPatient "
                         f"{plain(np.round(iop, 4))}, {angle:.1f} degrees from axial); only "
                         f"axial series (head or feet first, supine or prone, within "
                         f"{AXIAL_TOL_DEG:g} degree) are read")
    return bool(sy < 0), bool(sx < 0), angle


def check_pixel_length(ds: pydicom.Dataset, path: Path, patient: str | None) -> None:
    """Rows x Columns x frames x bytes against the pixel data, before decoding it."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    nbytes = max(int(ds.get("BitsAllocated", 16) or 16) // 8, 1)
    expected = rows * cols * frames * spp * nbytes
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if syntax is not None and UID(syntax).is_encapsulated:
        if max(rows, cols) > MAX_MATRIX:
            raise DicomError(f"{who(patient)}{path}: pixel data size implausible: Rows {rows} "
                             f"x Columns {cols} exceeds {MAX_MATRIX} (compressed data, not "
                             "decoded)")
        return
    n = len(ds.PixelData)
    if n < expected:
        raise DicomError(f"{who(patient)}{path}: pixel data size mismatch: Rows {rows} x "
                         f"Columns {cols} x {frames} frame(s) x {nbytes * spp} byte(s) = "
                         f"{expected} bytes expected, the pixel data holds {n}: a truncated "
                         "file or a damaged header (nothing allocated)")


def _pixels(ds: pydicom.Dataset, path: Path, patient: str | None) -> np.ndarray:
    try:
        px = ds.pixel_array
    except Exception as err:  # truncated pixel data, missing tags, unknown syntax
        raise DicomError(f"{who(patient)}{path}: cannot decode pixel data, truncated "
                         f"or damaged file ({type(err).__name__}: {err})") from None
    if px.ndim != 2:
        raise DicomError(f"{who(patient)}{path}: expected a 2D slice, got shape {px.shape}")
    return px


def _geometry(items: list, folder: Path, patient: str | None) -> dict:
    """Order, grid, flips and the near-axial note of one series' slices ``items``
    [(path, dataset)]; a DicomError for anything the module docstring refuses."""
    first, ds0 = items[0]
    for p, ds in items:
        if "Rows" not in ds or "Columns" not in ds:
            raise DicomError(f"{who(patient)}{p}: Rows or Columns attribute missing")
    iop = floats(ds0.get("ImageOrientationPatient"), 6, "ImageOrientationPatient", first,
                 patient)
    ps0 = floats(ds0.get("PixelSpacing"), 2, "PixelSpacing", first, patient)
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    positions = np.zeros((len(items), 3))
    for k, (p, ds) in enumerate(items):
        o = floats(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient", p, patient)
        if not np.allclose(o, iop, atol=ORIENTATION_TOL):
            raise DicomError(f"{who(patient)}{p}: orientation {plain(np.round(o, 4))} differs "
                             f"from {plain(np.round(iop, 4))} ({first.name})")
        ps = floats(ds.get("PixelSpacing"), 2, "PixelSpacing", p, patient)
        if not np.allclose(ps, ps0, atol=POSITION_TOL_MM):
            raise DicomError(f"{who(patient)}{p}: inconsistent PixelSpacing {plain(ps)} "
                             f"(vs {plain(ps0)} in {first.name})")
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise DicomError(f"{who(patient)}{p}: inconsistent size {ds.Rows}x{ds.Columns} "
                             f"(vs {rows}x{cols} in {first.name})")
        check_pixel_length(ds, p, patient)
        positions[k] = floats(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient", p,
                              patient)
    flip_y, flip_x, angle = _axial_flips(iop, first, patient)
    normal = np.cross(iop[:3], iop[3:])
    order = np.argsort(positions[:, 2], kind="stable")
    pos = positions[order]
    along = pos[:, 2]
    files_z = [items[i][0] for i in order]
    # in-plane positions are constant (table motion along z, as with a gantry tilt) or
    # follow the slice normal (a stack of tilted planes); identical for an axial series
    drift = pos[0, :2] + np.outer(along - along[0], normal[:2] / normal[2])
    off = np.minimum(np.abs(pos[:, :2] - drift).max(axis=1),
                     np.abs(pos[:, :2] - pos[0, :2]).max(axis=1))
    if (off > POSITION_TOL_MM).any():
        k = int(np.argmax(off))
        raise DicomError(f"{who(patient)}{files_z[k]}: in-plane position "
                         f"{plain(pos[k, :2])} differs from {plain(pos[0, :2])} "
                         f"({files_z[0].name}) by {off[k]:.3f} mm")
    gaps = np.diff(along)
    for k, g in enumerate(gaps):
        if g < SPACING_RTOL * float(np.median(gaps)):
            raise DicomError(f"{who(patient)}{folder}: duplicated slice position z = "
                             f"{along[k]:.3f} mm ({files_z[k].name} and {files_z[k + 1].name})")
    if len(items) > 1:
        dz = float(np.median(gaps))
        for k, g in enumerate(gaps):
            if abs(g - dz) <= max(SPACING_RTOL * dz, 2 * POSITION_ROUNDING_MM + POSITION_TOL_MM):
                continue
            ratio = g / dz
            if round(ratio) >= 2 and abs(ratio - round(ratio)) <= SPACING_RTOL * round(ratio):
                raise DicomError(
                    f"{who(patient)}{folder}: missing slice(s): gap of {g:.3f} mm "
                    f"({round(ratio) - 1} slice(s) of {dz:.3f} mm) between z = {along[k]:.3f} "
                    f"({files_z[k].name}) and z = {along[k + 1]:.3f} ({files_z[k + 1].name})")
            raise DicomError(
                f"{who(patient)}{folder}: uneven slice spacing: {g:.3f} mm between "
                f"{files_z[k].name} and {files_z[k + 1].name}, {dz:.3f} mm elsewhere")
        # the mean spacing (positions rounded to 0.1 mm scatter around it), to 1 nm
        dz = round(float((along[-1] - along[0]) / (len(items) - 1)), 6)
    else:
        dz = float(ds0.get("SliceThickness", 0) or 0)
        if dz <= 0:
            raise DicomError(f"{who(patient)}{first}: single slice without SliceThickness")
    origin = (pos[0, 0] - (cols - 1) * ps0[1] * flip_x,
              pos[0, 1] - (rows - 1) * ps0[0] * flip_y, pos[0, 2])
    grid = Grid((len(items), rows, cols), (dz, float(ps0[0]), float(ps0[1])),
                tuple(float(v) for v in origin))
    note = ""
    if angle > 0:
        corners = np.array([[k, r, c] for k in (0, len(items) - 1) for r in (0, rows - 1)
                            for c in (0, cols - 1)], dtype=float)
        r0 = np.where(flip_y, rows - 1 - corners[:, 1], corners[:, 1])
        c0 = np.where(flip_x, cols - 1 - corners[:, 2], corners[:, 2])
        true = (pos[corners[:, 0].astype(int)] + np.outer(c0 * ps0[1], iop[:3])
                + np.outer(r0 * ps0[0], iop[3:]))
        err = float(np.linalg.norm(grid.index_to_mm(corners) - true, axis=1).max())
        note = (f"{who(patient)}{first}: orientation {angle:.2f} degrees from axial "
                f"(ImageOrientationPatient {plain(np.round(iop, 6))}), within the "
                f"{AXIAL_TOL_DEG:g} degree tolerance: read as axial, voxel centres within "
                f"{err:.2f} mm of their true position")
    return {"order": order, "grid": grid, "flip_y": flip_y, "flip_x": flip_x, "note": note,
            "files": files_z}


def _hu(items: list, geo: dict, folder: Path, patient: str | None) -> np.ndarray:
    """The int16 HU volume of a series whose geometry is ``geo`` (padding read as air)."""
    hu = np.empty(geo["grid"].shape_zyx, dtype=np.int16)
    lowest, n_pad, pad_what, scaling = np.inf, 0, set(), set()
    for k, i in enumerate(geo["order"]):
        p, ds = items[i]
        px = _pixels(ds, p, patient)
        px = px[::-1] if geo["flip_y"] else px
        px = px[:, ::-1] if geo["flip_x"] else px
        unsigned16 = int(ds.get("PixelRepresentation", 0) or 0) == 0 and \
            int(ds.get("BitsStored", 16) or 16) == 16
        pad, what = padding_mask(px, padding_value=ds.get("PixelPaddingValue", None),
                                 padding_limit=ds.get("PixelPaddingRangeLimit", None),
                                 unsigned16=unsigned16)
        has_rescale = "RescaleSlope" in ds and "RescaleIntercept" in ds
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        scaling.add(f"RescaleSlope {slope:g}, RescaleIntercept {intercept:g}" if has_rescale
                    else "no RescaleSlope/RescaleIntercept tags")
        vals = rescale(px, slope, intercept)
        real = vals if pad is None else vals[~pad]
        if real.size and (real.min() < INT16_MIN or real.max() > INT16_MAX):
            raise DicomError(f"{who(patient)}{p}: RescaleSlope {slope:g} / RescaleIntercept "
                             f"{intercept:g} give values in [{real.min():g}, {real.max():g}], "
                             "outside the int16 HU range; refusing to clip them")
        if real.size:
            lowest = min(lowest, float(real.min()))
        if pad is not None:
            n_pad += int(pad.sum())
            pad_what.add(what)
            vals = np.where(pad, AIR_HU, vals)
        hu[k] = vals
    if n_pad:
        warnings.warn(f"{who(patient)}{folder}: {n_pad} padding pixel(s) "
                      f"({'; '.join(sorted(pad_what))}) read as air ({AIR_HU} HU)", stacklevel=3)
    msg = not_hu_message(lowest, "; ".join(sorted(scaling)))
    if msg:
        raise DicomError(f"{who(patient)}{folder}: {msg}")
    return hu


def _sort_files(folder: Path, patient: str | None) -> tuple[dict, list]:
    """SeriesInstanceUID -> [(path, dataset)] of the CT slices (frames of multi-frame CTs
    included), and the errors of the multi-frame CTs that cannot be read;
    notes for everything ignored (see the module docstring)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    series: dict[str, list] = {}
    multiframe: list[DicomError] = []
    seen: dict[str, Path] = {}
    n_dicom = 0
    for p in files:
        if not is_dicom_file(p):
            warnings.warn(f"{who(patient)}{p}: not a DICOM file, ignored", stacklevel=4)
            continue
        n_dicom += 1
        data = p.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            warnings.warn(f"{who(patient)}{p}: byte-identical copy of {seen[digest].name}, "
                          "dropped", stacklevel=4)
            continue
        seen[digest] = p
        ds = read_file(p, patient, data)
        kind = _kind(ds)
        if kind == "ct":
            if "PixelData" not in ds:
                raise DicomError(f"{who(patient)}{p}: no pixel data: truncated file or not "
                                 f"an image (Modality {ds.get('Modality', '?')}) in the CT "
                                 "folder")
            series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((p, ds))
        elif kind == "damaged":
            raise DicomError(f"{who(patient)}{p}: unreadable DICOM file: neither SOP class "
                             "nor Modality (truncated or damaged)")
        elif kind == "multiframe":
            try:
                frames = split_frames(p, ds, patient)
            except DicomError as err:
                multiframe.append(err)
                continue
            series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).extend(frames)
            warnings.warn(f"{who(patient)}{p}: multi-frame CT ({_describe(ds)}) read as "
                          f"{len(frames)} slice(s)", stacklevel=4)
        elif kind == "localizer":
            warnings.warn(f"{who(patient)}{p}: localizer (scout) image in the CT folder, "
                          "ignored", stacklevel=4)
        else:
            warnings.warn(f"{who(patient)}{p}: {_describe(ds)} in the CT folder is not a CT "
                          "image, ignored", stacklevel=4)
    if not n_dicom:
        raise DicomError(f"{who(patient)}{folder}: no DICOM files in the CT folder")
    return series, multiframe


def _multiframe_error(p: Path, ds: pydicom.Dataset, why: str,
                      patient: str | None) -> DicomError:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return DicomError(f"{who(patient)}{p}: multi-frame CT not supported ({_describe(ds)}, "
                      f"{frames} frame(s): {why}): export the series as single-frame CT "
                      "images")


#: attributes every frame of a multi-frame CT shares with its file
_FRAME_COPY = ("SOPInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "Rows",
               "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PhotometricInterpretation", "PixelPaddingValue",
               "PixelPaddingRangeLimit")
#: (functional group sequence, attribute) of each frame's geometry and rescale
_FRAME_GROUPS = (("PlaneOrientationSequence", "ImageOrientationPatient"),
                 ("PlanePositionSequence", "ImagePositionPatient"),
                 ("PixelMeasuresSequence", "PixelSpacing"),
                 ("PixelMeasuresSequence", "SliceThickness"),
                 ("PixelValueTransformationSequence", "RescaleSlope"),
                 ("PixelValueTransformationSequence", "RescaleIntercept"))


def split_frames(p: Path, ds: pydicom.Dataset, patient: str | None) -> list:
    """The frames of a multi-frame (enhanced) CT as single-frame datasets [(path, ds)]:
    geometry and rescale from its functional groups (per frame, else shared), pixel data
    sliced per frame. Uncompressed pixel data only; anything else is refused as
    "multi-frame CT not supported", with why."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if "PixelData" not in ds or "Rows" not in ds or "Columns" not in ds:
        raise _multiframe_error(p, ds, "no pixel data, Rows or Columns", patient)
    if syntax is None or UID(syntax).is_encapsulated:
        raise _multiframe_error(p, ds, "compressed pixel data", patient)
    check_pixel_length(ds, p, patient)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    per = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    shared = (ds.get("SharedFunctionalGroupsSequence", None) or [Dataset()])[0]
    if len(per) != n:
        raise _multiframe_error(p, ds, f"{len(per)} per-frame functional group(s)", patient)
    size = int(ds.Rows) * int(ds.Columns) * max(int(ds.get("BitsAllocated", 16)) // 8, 1) \
        * int(ds.get("SamplesPerPixel", 1) or 1)
    frames = []
    for i in range(n):
        f = Dataset()
        f.file_meta = FileMetaDataset()
        f.file_meta.TransferSyntaxUID = syntax
        f.SOPClassUID, f.Modality = CT_IMAGE_STORAGE, "CT"
        for kw in _FRAME_COPY:
            if kw in ds:
                f[kw] = ds[kw]
        for seq, kw in _FRAME_GROUPS:
            for src in (per[i], shared):
                items = src.get(seq, None) or []
                if items and kw in items[0]:
                    setattr(f, kw, items[0][kw].value)
                    break
        if "ImagePositionPatient" not in f or "ImageOrientationPatient" not in f:
            raise _multiframe_error(p, ds, f"frame {i + 1} without plane position or "
                                           "orientation", patient)
        f.PixelData = ds.PixelData[i * size:(i + 1) * size]
        frames.append((p, f))
    return frames


def _choose(series: dict, referenced: list[str], folder: Path,
            patient: str | None) -> tuple[str, dict]:
    """The SeriesInstanceUID to read and its geometry (see the module docstring)."""
    if len(series) == 1:
        uid = next(iter(series))
        return uid, _geometry(series[uid], folder, patient)
    present = [u for u in referenced if u in series]
    if present:
        uid, why = present[0], "the series the RTSTRUCT references"
        geo = _geometry(series[uid], folder, patient)
    else:
        geos, errors = {}, {}
        for u, items in series.items():
            try:
                geos[u] = _geometry(items, folder, patient)
            except DicomError as err:
                errors[u] = err
        if not geos:
            big = max(series, key=lambda u: (len(series[u]), u))
            raise DicomError(f"{who(patient)}{folder}: none of the {len(series)} series in "
                             f"the CT folder is a usable axial series; the largest: "
                             f"{errors[big]}") from None
        uid = max(geos, key=lambda u: (len(series[u]), -geos[u]["grid"].spacing_mm[0], u))
        geo = geos[uid]
        why = ("the largest axial series with uniform spacing ("
               + ("the RTSTRUCT references none of them)" if referenced else
                  "no RTSTRUCT reference to choose by)"))
    others = "; ".join(f"{len(v)} file(s), e.g. {v[0][0].name}" for u, v in series.items()
                       if u != uid)
    warnings.warn(f"{who(patient)}{folder}: the CT folder holds {len(series)} series; read "
                  f"{why}: {len(series[uid])} slice(s), e.g. {series[uid][0][0].name}; "
                  f"ignored: {others}", stacklevel=3)
    return uid, geo


def read_ct_series(folder: str | Path, *, patient: str | None = None,
                   series_uid: str | Sequence[str] | None = None) -> CTSeries:
    """Read the CT series of ``folder`` (see the module docstring for which one).

    Parameters
    ----------
    folder : path
        The patient's CT folder (every regular file in it, any name).
    patient : str, optional
        Named in every error message and note.
    series_uid : str or list of str, optional
        The SeriesInstanceUID(s) the RTSTRUCT references: the first the folder holds is
        read.

    Returns
    -------
    CTSeries
        ``hu`` is an int16 array ``(z, y, x)``; ``grid.spacing_mm`` is (slice spacing,
        row spacing, column spacing); ``grid.origin_mm`` the LPS position of voxel 0.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomError(f"{who(patient)}{folder}: CT folder not found")
    series, multiframe = _sort_files(folder, patient)
    if not series:
        if multiframe:
            raise multiframe[0]
        raise DicomError(f"{who(patient)}{folder}: no CT image in the CT folder (only the "
                         "objects noted as ignored)")
    for err in multiframe:
        warnings.warn(f"{err}; ignored, another series is read", stacklevel=2)
    referenced = [series_uid] if isinstance(series_uid, str) else list(series_uid or [])
    uid, geo = _choose(series, referenced, folder, patient)
    if geo["note"]:
        warnings.warn(geo["note"], stacklevel=2)
    items = series[uid]
    hu = _hu(items, geo, folder, patient)
    ds0 = items[0][1]
    return CTSeries(
        hu=hu, grid=geo["grid"], series_uid=uid,
        frame_of_reference_uid=str(ds0.get("FrameOfReferenceUID", "")),
        sop_uids=tuple(str(items[i][1].get("SOPInstanceUID", "")) for i in geo["order"]),
        files=tuple(geo["files"]))
