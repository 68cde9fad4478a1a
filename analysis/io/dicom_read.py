"""DICOM CT series and RTSTRUCT -> arrays in the package's (z, y, x) convention.

CT series
---------
:func:`read_ct_series` reads every file of one folder, checks that they form one axial
series, sorts the slices by ImagePositionPatient along the slice normal (inferior to
superior), checks that the slices are evenly spaced, applies RescaleSlope/Intercept and
returns an ``int16`` HU volume ``(z, y, x)`` with its :class:`~analysis.grid.Grid`
(rows = y, columns = x, origin = ImagePositionPatient of the most inferior slice).

Refused, each with a :class:`DicomError` naming the patient and the file(s): an
unreadable or truncated file, two SeriesInstanceUIDs in one folder, a duplicated slice
position, a missing slice (a gap that is a multiple of the slice spacing), an uneven
spacing, inconsistent PixelSpacing / Rows / Columns / in-plane position, and any
orientation other than axial (ImageOrientationPatient = 1,0,0,0,1,0 within 1e-3).

RTSTRUCT
--------
:func:`read_rtstruct` rasterises CLOSED_PLANAR contours itself on the CT grid (no
rt-utils): each contour's z must fall on a slice of the CT (within 10 % of the slice
spacing), its points (LPS mm) are converted to fractional (row, column) indices and the
polygon is filled with :func:`skimage.draw.polygon`, which sets every voxel whose centre
lies inside it, and every voxel whose centre lies exactly on the contour is added (the
convention of contours traced through boundary-pixel centres, as OpenCV, rt-utils and
:mod:`analysis.io.dicom_write` do; a contour drawn around pixel edges adds none). Several contours of one ROI on one slice are combined by XOR (even-odd
rule), so a contour drawn inside another is a hole, as in DICOM RT practice. This is
exact on the package's grid (a mask written by :mod:`analysis.io.dicom_write` comes back
voxel for voxel), needs no re-sorting of rt-utils' ``(rows, cols, slices)`` output in ITS
slice order, and checks the references strictly (below). On the rt-utils mock RTSTRUCT
(a 24 mm square with a 15 mm hole, 1474 pixels by area) it fills 1443 pixels where
rt-utils, whose OpenCV fill includes every pixel the outline touches, fills 1660.

References are checked strictly: an RTSTRUCT whose RTReferencedSeriesSequence names
another series, or whose contours reference an image (ReferencedSOPInstanceUID) that
is not in the CT series, or lie between or outside the CT's slices, is refused with an
error naming the file. A ReferencedFrameOfReferenceUID that differs from the CT's
FrameOfReferenceUID only gives a warning when the contours reference the CT's images
(real exports do this, the rt-utils mock data does, and the image references are the
stronger link); without any image reference it is refused, since nothing then ties the
contours to this CT.

Tolerated (real exports differ in these)
----------------------------------------
* files without the 128-byte preamble and ``DICM`` prefix are read (``force=True``);
* files in the CT folder that are not DICOM at all (``Thumbs.db``, ``notes.txt``: no
  ``DICM`` prefix and no SOPClassUID/Modality when parsed) are ignored with a warning;
* compressed transfer syntaxes (JPEG Lossless, JPEG 2000, RLE) are decoded by the
  pylibjpeg plugins of the lock;
* slice positions are compared with a tolerance relative to the slice spacing
  (:data:`SPACING_RTOL`, e.g. positions rounded to 0.1 mm on 3 mm slices);
* ROI names match their synonyms ignoring case, surrounding spaces, separators
  (``_``, ``-``, space) and a dose suffix (``CTV_60Gy``, ``CTV 60``, ``ctv-60.0 Gy``).

Refused besides: pixel values whose RescaleSlope/Intercept give HU outside the int16
range (clipping would silently change them), a slice without Rows/Columns, a contour
without ContourData; each error names the patient, the file and the ROI.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from skimage.draw import polygon as fill_polygon

from analysis.grid import Grid

#: relative tolerance on slice spacing (5 % of the nominal spacing: positions rounded to
#: 0.1 mm on 2 mm slices pass, a missing slice (100 %) never does)
SPACING_RTOL = 0.05
#: absolute tolerance (mm) on positions and pixel spacings
POSITION_TOL_MM = 0.01
#: precision of slice positions in real exports (rounded to 0.1 mm): each gap may then
#: be off by twice that from the median gap, whatever the slice spacing
POSITION_ROUNDING_MM = 0.1
#: tolerance on direction cosines
ORIENTATION_TOL = 1e-3
#: a contour's z must lie within this fraction of the slice spacing from a slice
CONTOUR_Z_TOL = 0.1


class DicomError(ValueError):
    """A DICOM file or series that cannot be read into the package's convention."""


@dataclass(frozen=True)
class CTSeries:
    """A CT series read from a folder.

    Attributes
    ----------
    hu : ndarray of int16, shape (z, y, x)
        Hounsfield units, slice 0 most inferior.
    grid : Grid
    series_uid, frame_of_reference_uid : str
    sop_uids : tuple of str
        SOPInstanceUID of each slice, in z order.
    files : tuple of Path
        File of each slice, in z order.
    """

    hu: np.ndarray
    grid: Grid
    series_uid: str
    frame_of_reference_uid: str
    sop_uids: tuple[str, ...]
    files: tuple[Path, ...] = field(default=())


def _who(patient: str | None) -> str:
    return f"patient {patient}: " if patient else ""


def _floats(value, n: int, what: str, path: Path, patient: str | None) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,):
        raise DicomError(f"{_who(patient)}{path}: {what} missing or malformed ({value!r})")
    return arr


def is_dicom_file(path: str | Path) -> bool:
    """True when ``path`` looks like DICOM: the ``DICM`` prefix after the preamble, or
    (files without a preamble) a dataset with SOPClassUID or Modality when parsed."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - anything unparsable is not DICOM
        return False
    return "SOPClassUID" in ds or "Modality" in ds


def _read_file(path: Path, patient: str | None) -> pydicom.Dataset:
    try:
        ds = pydicom.dcmread(str(path), force=True)
    except Exception as err:  # pydicom raises many types on damaged files
        raise DicomError(f"{_who(patient)}{path}: unreadable DICOM file "
                         f"({type(err).__name__}: {err})") from None
    return ds


def _pixels(ds: pydicom.Dataset, path: Path, patient: str | None) -> np.ndarray:
    try:
        px = ds.pixel_array
    except Exception as err:  # truncated pixel data, missing tags, unknown syntax
        raise DicomError(f"{_who(patient)}{path}: cannot decode pixel data, truncated "
                         f"or damaged file ({type(err).__name__}: {err})") from None
    if px.ndim != 2:
        raise DicomError(f"{_who(patient)}{path}: expected a 2D slice, got shape {px.shape}")
    return px


def read_ct_series(folder: str | Path, *, patient: str | None = None) -> CTSeries:
    """Read the CT series in ``folder`` (every regular file in it, any name).

    Parameters
    ----------
    folder : path
        A folder holding the slices of exactly one axial CT series.
    patient : str, optional
        Named in every error message.

    Returns
    -------
    CTSeries
        ``hu`` is an int16 array ``(z, y, x)``; ``grid.spacing_mm`` is (slice spacing,
        row spacing, column spacing).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomError(f"{_who(patient)}{folder}: CT folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for p in [p for p in files if not is_dicom_file(p)]:
        warnings.warn(f"{_who(patient)}{p}: not a DICOM file, ignored", stacklevel=2)
        files.remove(p)
    if not files:
        raise DicomError(f"{_who(patient)}{folder}: no DICOM files in the CT folder")
    headers = [_read_file(p, patient) for p in files]
    for p, ds in zip(files, headers, strict=True):
        if "PixelData" not in ds:
            raise DicomError(f"{_who(patient)}{p}: no pixel data: truncated file or not an "
                             f"image (Modality {ds.get('Modality', '?')}) in the CT folder")
    series = {}
    for p, ds in zip(files, headers, strict=True):
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(p.name)
    if len(series) > 1:
        desc = "; ".join(f"series {i + 1}: {len(v)} files, e.g. {v[0]}"
                         for i, v in enumerate(series.values()))
        raise DicomError(f"{_who(patient)}{folder}: {len(series)} series mixed in one "
                         f"folder ({desc})")

    first, ds0 = files[0], headers[0]
    iop = _floats(ds0.get("ImageOrientationPatient"), 6, "ImageOrientationPatient",
                  first, patient)
    ps0 = _floats(ds0.get("PixelSpacing"), 2, "PixelSpacing", first, patient)
    for p, ds in zip(files, headers, strict=True):
        if "Rows" not in ds or "Columns" not in ds:
            raise DicomError(f"{_who(patient)}{p}: Rows or Columns attribute missing")
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    positions = np.zeros((len(files), 3))
    for k, (p, ds) in enumerate(zip(files, headers, strict=True)):
        o = _floats(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient",
                    p, patient)
        if not np.allclose(o, [1, 0, 0, 0, 1, 0], atol=ORIENTATION_TOL):
            raise DicomError(f"{_who(patient)}{p}: non-axial orientation "
                             f"(ImageOrientationPatient {list(np.round(o, 4))}); only axial "
                             "head-first series (1,0,0,0,1,0) are supported")
        ps = _floats(ds.get("PixelSpacing"), 2, "PixelSpacing", p, patient)
        if not np.allclose(ps, ps0, atol=POSITION_TOL_MM):
            raise DicomError(f"{_who(patient)}{p}: inconsistent PixelSpacing {list(ps)} "
                             f"(vs {list(ps0)} in {first.name})")
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise DicomError(f"{_who(patient)}{p}: inconsistent size {ds.Rows}x{ds.Columns} "
                             f"(vs {rows}x{cols} in {first.name})")
        positions[k] = _floats(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient",
                               p, patient)
    normal = np.cross(iop[:3], iop[3:])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along = along[order]
    files_z = [files[i] for i in order]
    if not np.allclose(positions[order, :2], positions[order[0], :2], atol=POSITION_TOL_MM):
        k = int(np.argmax(np.abs(positions[order, :2] - positions[order[0], :2]).max(1)))
        raise DicomError(f"{_who(patient)}{files_z[k]}: in-plane position "
                         f"{list(positions[order[k], :2])} differs from "
                         f"{list(positions[order[0], :2])} ({files_z[0].name})")
    gaps = np.diff(along)
    for k, g in enumerate(gaps):
        if g < SPACING_RTOL * float(np.median(gaps)):
            raise DicomError(f"{_who(patient)}{folder}: duplicated slice position z = "
                             f"{along[k]:.3f} mm ({files_z[k].name} and {files_z[k + 1].name})")
    if len(files) > 1:
        dz = float(np.median(gaps))
        for k, g in enumerate(gaps):
            if abs(g - dz) <= max(SPACING_RTOL * dz, 2 * POSITION_ROUNDING_MM + POSITION_TOL_MM):
                continue
            ratio = g / dz
            if round(ratio) >= 2 and abs(ratio - round(ratio)) <= SPACING_RTOL * round(ratio):
                raise DicomError(
                    f"{_who(patient)}{folder}: missing slice(s): gap of {g:.3f} mm "
                    f"({round(ratio) - 1} slice(s) of {dz:.3f} mm) between z = {along[k]:.3f} "
                    f"({files_z[k].name}) and z = {along[k + 1]:.3f} ({files_z[k + 1].name})")
            raise DicomError(
                f"{_who(patient)}{folder}: uneven slice spacing: {g:.3f} mm between "
                f"{files_z[k].name} and {files_z[k + 1].name}, {dz:.3f} mm elsewhere")
        # the mean spacing (positions rounded to 0.1 mm scatter around it), to 1 nm
        dz = round(float((along[-1] - along[0]) / (len(files) - 1)), 6)
    else:
        dz = float(ds0.get("SliceThickness", 0) or 0)
        if dz <= 0:
            raise DicomError(f"{_who(patient)}{first}: single slice without SliceThickness")

    hu = np.empty((len(files), rows, cols), dtype=np.int16)
    for k, i in enumerate(order):
        ds, p = headers[i], files[i]
        px = _pixels(ds, p, patient)
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        if slope == 1.0 and float(intercept).is_integer():
            vals = px.astype(np.int32) + int(intercept)
        else:
            vals = np.rint(px * slope + intercept)
        if vals.size and (vals.min() < -32768 or vals.max() > 32767):
            raise DicomError(f"{_who(patient)}{p}: RescaleSlope {slope:g} / RescaleIntercept "
                             f"{intercept:g} give values in [{vals.min():g}, {vals.max():g}], "
                             "outside the int16 HU range; refusing to clip them")
        hu[k] = vals
    grid = Grid((len(files), rows, cols), (dz, float(ps0[0]), float(ps0[1])),
                tuple(positions[order[0]]))
    return CTSeries(
        hu=hu, grid=grid, series_uid=str(ds0.get("SeriesInstanceUID", "")),
        frame_of_reference_uid=str(ds0.get("FrameOfReferenceUID", "")),
        sop_uids=tuple(str(headers[i].get("SOPInstanceUID", "")) for i in order),
        files=tuple(files_z),
    )


def rtstruct_roi_names(path: str | Path, *, patient: str | None = None) -> list[str]:
    """Names of the ROIs in an RTSTRUCT (StructureSetROISequence order)."""
    path = Path(path)
    ds = _read_file(path, patient)
    return [str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])]


def match_roi_names(names: list[str], synonyms: dict[str, list[str]]) -> dict[str, list[str]]:
    """Canonical structure -> ROI names in ``names`` that match one of its synonyms.

    Matching is case-insensitive and ignores surrounding spaces. A structure with no
    matching ROI maps to ``[]``; more than one match is returned as is (the caller
    decides; ingest records it as an ambiguity).
    """
    out: dict[str, list[str]] = {}
    for canon, syns in synonyms.items():
        keys = {roi_key(s) for s in [canon, *syns]}
        out[canon] = [n for n in names if roi_key(n) in keys]
    return out


#: a dose suffix on a ROI name: ``_60Gy``, `` 60``, ``-60.0 Gy``, ``_6000cGy``
_DOSE_SUFFIX = re.compile(r"[\s_\-]*\d+(?:[.,]\d+)?\s*(?:c?gy)?$", re.IGNORECASE)


def roi_key(name: str) -> str:
    """A ROI name reduced for synonym matching: case-folded, a dose suffix removed, and
    spaces, ``_`` and ``-`` between letters ignored (``CTV_60Gy`` -> ``ctv``)."""
    key = str(name).strip().casefold()
    stripped = _DOSE_SUFFIX.sub("", key)
    key = stripped if stripped else key
    return re.sub(r"[\s_\-]+", "", key)


def _check_references(ds: pydicom.Dataset, ct: CTSeries, path: Path,
                      patient: str | None) -> None:
    sops = set(ct.sop_uids)
    ref_series, ref_images = [], []
    for fr in ds.get("ReferencedFrameOfReferenceSequence", []):
        for st in fr.get("RTReferencedStudySequence", []):
            for se in st.get("RTReferencedSeriesSequence", []):
                ref_series.append(str(se.get("SeriesInstanceUID", "")))
                ref_images += [str(c.get("ReferencedSOPInstanceUID", ""))
                               for c in se.get("ContourImageSequence", [])]
    if ref_series and ct.series_uid not in ref_series:
        raise DicomError(f"{_who(patient)}{path}: RTSTRUCT references another series "
                         f"(...{ref_series[0][-12:]}), not the patient's CT series "
                         f"(...{ct.series_uid[-12:]})")
    missing = [u for u in ref_images if u not in sops]
    if missing:
        raise DicomError(f"{_who(patient)}{path}: RTSTRUCT references {len(missing)} "
                         f"image(s) absent from the CT series (e.g. ...{missing[0][-12:]})")
    for_uids = {str(fr.get("FrameOfReferenceUID", ""))
                for fr in ds.get("ReferencedFrameOfReferenceSequence", [])}
    for_uids |= {str(r.get("ReferencedFrameOfReferenceUID", ""))
                 for r in ds.get("StructureSetROISequence", [])}
    for_uids.discard("")
    if for_uids and ct.frame_of_reference_uid not in for_uids and not ref_images:
        raise DicomError(f"{_who(patient)}{path}: RTSTRUCT is in another frame of "
                         "reference than the CT and references none of its images: "
                         "nothing ties its contours to this CT")
    if for_uids and ct.frame_of_reference_uid not in for_uids:
        warnings.warn(f"{_who(patient)}{path}: RTSTRUCT frame of reference differs from "
                      "the CT's FrameOfReferenceUID; contours are placed through their image "
                      "references and patient coordinates", stacklevel=3)


def _mark_centres_on_contour(sl: np.ndarray, rc: np.ndarray) -> None:
    """Set the pixels whose centre lies exactly on the closed polyline ``rc`` (n, 2).

    Only segments between integer (row, column) vertices can pass through pixel centres
    exactly; the centres on such a segment are ``p0 + k (p1 - p0) / g``, ``k = 0..g``,
    with ``g`` the gcd of the steps. This makes contours traced through the centres of
    boundary pixels (OpenCV / rt-utils / this package's writer) round-trip exactly,
    including one-pixel (1 point) and one-pixel-wide (2 point) contours.
    """
    ny, nx = sl.shape
    ri = np.rint(rc).astype(np.int64)
    on_grid = np.all(np.abs(rc - ri) < 1e-3, axis=1)
    seg = on_grid & np.roll(on_grid, -1)
    if not seg.any():
        return
    p0, p1 = ri[seg], np.roll(ri, -1, axis=0)[seg]
    d = p1 - p0
    g = np.maximum(np.gcd(np.abs(d[:, 0]), np.abs(d[:, 1])), 1)
    counts = g + 1
    which = np.repeat(np.arange(len(g)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    step = d // g[:, None]
    pts = p0[which] + k[:, None] * step[which]
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < ny) & (pts[:, 1] >= 0) & (pts[:, 1] < nx)
    sl[pts[ok, 0], pts[ok, 1]] = True


def rasterise_contours(contours: list[np.ndarray], grid: Grid, *, where: str = "") -> np.ndarray:
    """Fill closed planar contours on ``grid``.

    Parameters
    ----------
    contours : list of ndarray of shape (n, 3)
        Contour points, LPS mm ``(x, y, z)``; each contour lies on one axial plane.
    grid : Grid
    where : str
        Named in error messages (patient, file, ROI).

    Returns
    -------
    ndarray of bool, shape grid.shape_zyx
        Voxels whose centre lies inside or on an odd number of the contours of their
        slice.
    """
    nz, ny, nx = grid.shape_zyx
    mask = np.zeros(grid.shape_zyx, dtype=bool)
    for pts in contours:
        idx = grid.mm_to_index(pts)  # (n, 3) fractional (z, y, x)
        k = float(np.median(idx[:, 0]))
        kz = int(round(k))
        if abs(k - kz) > CONTOUR_Z_TOL or not 0 <= kz < nz:
            z_mm = float(np.median(pts[:, 2]))
            raise DicomError(f"{where}: contour at z = {z_mm:.3f} mm does not lie on a slice "
                             f"of the CT series (slices at {grid.origin_mm[2]:.3f} + k x "
                             f"{grid.spacing_mm[0]:.3f} mm, k < {nz})")
        sl = np.zeros((ny, nx), dtype=bool)
        if len(idx) >= 3:
            rr, cc = fill_polygon(idx[:, 1], idx[:, 2], shape=(ny, nx))
            sl[rr, cc] = True
        _mark_centres_on_contour(sl, idx[:, 1:])
        mask[kz] ^= sl
    return mask


def _roi_contours(path: Path, ct: CTSeries, roi_names: list[str] | None,
                  patient: str | None):
    """Read and check an RTSTRUCT; yield (ROI name, contours (list of (n, 3) mm)) per
    ROIContourSequence item of a wanted ROI; ROIs without any item are yielded empty."""
    ds = _read_file(path, patient)
    if str(ds.get("Modality", "")) != "RTSTRUCT":
        raise DicomError(f"{_who(patient)}{path}: not an RTSTRUCT (Modality "
                         f"{ds.get('Modality', '?')})")
    _check_references(ds, ct, path, patient)
    sops = set(ct.sop_uids)
    number_to_name = {int(r.ROINumber): str(r.get("ROIName", ""))
                      for r in ds.get("StructureSetROISequence", [])}
    wanted = set(number_to_name.values()) if roi_names is None else set(roi_names)
    seen = set()
    for rc in ds.get("ROIContourSequence", []):
        name = number_to_name.get(int(rc.get("ReferencedROINumber", -1)))
        if name is None or name not in wanted:
            continue
        contours = []
        for c in rc.get("ContourSequence", []):
            for ci in c.get("ContourImageSequence", []):
                uid = str(ci.get("ReferencedSOPInstanceUID", ""))
                if uid not in sops:
                    raise DicomError(f"{_who(patient)}{path}: ROI {name!r}: a contour "
                                     f"references an image absent from the CT series "
                                     f"(...{uid[-12:]})")
            gtype = str(c.get("ContourGeometricType", "CLOSED_PLANAR"))
            if gtype != "CLOSED_PLANAR":
                warnings.warn(f"{_who(patient)}{path}: ROI {name!r}: {gtype} contour "
                              "ignored (only CLOSED_PLANAR is filled)", stacklevel=3)
                continue
            data = c.get("ContourData", None)
            try:
                pts = np.asarray([float(v) for v in data], dtype=float).reshape(-1, 3)
            except (TypeError, ValueError):
                raise DicomError(f"{_who(patient)}{path}: ROI {name!r}: a contour with "
                                 "missing or malformed ContourData (need x, y, z triplets)"
                                 ) from None
            if len(pts) >= 1:
                contours.append(pts)
        seen.add(name)
        yield name, contours
    for name in sorted(set(number_to_name.values()) & wanted - seen):
        yield name, []


def read_rtstruct(path: str | Path, ct: CTSeries, *, roi_names: list[str] | None = None,
                  patient: str | None = None) -> dict[str, np.ndarray]:
    """Rasterise the ROIs of an RTSTRUCT onto the grid of its CT series.

    Parameters
    ----------
    path : path
        The RTSTRUCT file.
    ct : CTSeries
        The series it must reference (see the module docstring for the checks).
    roi_names : list of str, optional
        Only these ROIs (exact names); default all.
    patient : str, optional
        Named in errors and warnings.

    Returns
    -------
    dict
        ROI name -> bool mask ``(z, y, x)`` on ``ct.grid``; an ROI without contours gives
        an all-False mask (the caller decides whether that excludes the patient).
    """
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for name, contours in _roi_contours(path, ct, roi_names, patient):
        m = rasterise_contours(contours, ct.grid, where=f"{_who(patient)}{path}: ROI {name!r}")
        out[name] = out[name] | m if name in out else m
    return out


def read_rtstruct_labels(path: str | Path, ct: CTSeries, labels: dict[str, int], *,
                         patient: str | None = None) -> np.ndarray:
    """Rasterise ROIs straight into one label map (memory: one mask at a time).

    Parameters
    ----------
    path, ct, patient
        As :func:`read_rtstruct`.
    labels : dict
        ROI name -> label value (1..255); ROIs of the file not named here are ignored.

    Returns
    -------
    ndarray of uint8, shape ct.grid.shape_zyx
        0 where no ROI; where ROIs overlap, the ROI later in the file wins (a warning
        names the two).
    """
    path = Path(path)
    out = np.zeros(ct.grid.shape_zyx, dtype=np.uint8)
    for name, contours in _roi_contours(path, ct, list(labels), patient):
        m = rasterise_contours(contours, ct.grid, where=f"{_who(patient)}{path}: ROI {name!r}")
        clash = out[m]
        if clash.any():
            warnings.warn(f"{_who(patient)}{path}: ROI {name!r} overlaps label(s) "
                          f"{sorted(set(clash[clash > 0].tolist()))}; it wins", stacklevel=2)
        out[m] = labels[name]
    return out
