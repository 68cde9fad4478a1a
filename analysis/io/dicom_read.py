"""DICOM CT series and RTSTRUCT -> arrays in the package's (z, y, x) convention.

CT series: :mod:`analysis.io.dicom_ct` (which files and which series are read, geometry
of every axial orientation, sizes checked before allocating) with the values of
:mod:`analysis.io.hu` (padding as air, "not in Hounsfield units"). Contours:
:mod:`analysis.io.contours` (the rule for holes, overlapping pieces and self-crossing
contours, and the named refusals). This module reads the RTSTRUCT and re-exports the
readers.

RTSTRUCT
--------
:func:`read_rtstruct` rasterises an ROI's contours itself on the CT grid (no rt-utils,
whose every-contour XOR cuts overlapping pieces apart: see :mod:`analysis.io.contours`).
It is exact on the package's grid (a mask written by :mod:`analysis.io.dicom_write` comes
back voxel for voxel). On the rt-utils mock RTSTRUCT (a 24 mm square with a 15 mm hole,
1474 pixels by area) it fills 1443 pixels where rt-utils, whose OpenCV fill includes
every pixel the outline touches, fills 1660.

Contour types: CLOSED_PLANAR and CLOSEDPLANAR_XOR are filled; an OPEN_PLANAR,
OPEN_NONPLANAR or POINT contour in a structure that is read is refused by name ("open
contour": a polyline encloses no volume), never read as an empty structure.

References are checked strictly: an RTSTRUCT whose RTReferencedSeriesSequence names
another series, or whose contours reference an image (ReferencedSOPInstanceUID) that
is not in the CT series, or lie between or outside the CT's slices, is refused with an
error naming the file. A ReferencedFrameOfReferenceUID that differs from the CT's
FrameOfReferenceUID only gives a warning when the contours reference the CT's images
(real exports do this, the rt-utils mock data does, and the image references are the
stronger link); without any image reference it is refused, since nothing then ties the
contours to this CT. :func:`rtstruct_referenced_series` gives the series it references,
so that the CT reader picks that series out of a folder holding several.

ROI names match their synonyms ignoring case, surrounding spaces, separators (``_``,
``-``, space) and a dose suffix (``CTV_60Gy``, ``CTV 60``, ``ctv-60.0 Gy``). A contour
without ContourData is refused; each error names the patient, the file and the ROI.
Tolerated in CT folders: see :mod:`analysis.io.dicom_ct`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pydicom

from analysis.io.contours import rasterise_contours
from analysis.io.dicom_base import (
    CTSeries,
    DicomError,
    is_dicom_file,
    read_file,
    who,
)
from analysis.io.dicom_ct import read_ct_series

__all__ = ["CTSeries", "DicomError", "is_dicom_file", "match_roi_names", "read_ct_series",
           "read_rtstruct", "read_rtstruct_labels", "rasterise_contours", "roi_key",
           "rtstruct_referenced_series", "rtstruct_roi_names"]

#: contour types that enclose a volume (CLOSEDPLANAR_XOR: combined with each other by XOR)
FILLED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


def rtstruct_roi_names(path: str | Path, *, patient: str | None = None) -> list[str]:
    """Names of the ROIs in an RTSTRUCT (StructureSetROISequence order)."""
    path = Path(path)
    ds = read_file(path, patient)
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


def rtstruct_referenced_series(path: str | Path, *, patient: str | None = None) -> list[str]:
    """SeriesInstanceUIDs an RTSTRUCT references (RTReferencedSeriesSequence), in order;
    empty when it names none (or the file cannot be parsed: read_rtstruct says why)."""
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - refused by name when the RTSTRUCT is read
        return []
    return [str(se.get("SeriesInstanceUID", ""))
            for fr in ds.get("ReferencedFrameOfReferenceSequence", [])
            for st in fr.get("RTReferencedStudySequence", [])
            for se in st.get("RTReferencedSeriesSequence", [])]


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
        raise DicomError(f"{who(patient)}{path}: RTSTRUCT references another series, "
                         "not the patient's CT series")
    missing = [u for u in ref_images if u not in sops]
    if missing:
        raise DicomError(f"{who(patient)}{path}: RTSTRUCT references {len(missing)} "
                         "image(s) absent from the CT series")
    for_uids = {str(fr.get("FrameOfReferenceUID", ""))
                for fr in ds.get("ReferencedFrameOfReferenceSequence", [])}
    for_uids |= {str(r.get("ReferencedFrameOfReferenceUID", ""))
                 for r in ds.get("StructureSetROISequence", [])}
    for_uids.discard("")
    if for_uids and ct.frame_of_reference_uid not in for_uids and not ref_images:
        raise DicomError(f"{who(patient)}{path}: RTSTRUCT is in another frame of "
                         "reference than the CT and references none of its images: "
                         "nothing ties its contours to this CT")
    if for_uids and ct.frame_of_reference_uid not in for_uids:
        warnings.warn(f"{who(patient)}{path}: RTSTRUCT frame of reference differs from "
                      "the CT's FrameOfReferenceUID; contours are placed through their image "
                      "references and patient coordinates", stacklevel=3)


def _roi_contours(path: Path, ct: CTSeries, roi_names: list[str] | None,
                  patient: str | None):
    """Read and check an RTSTRUCT; yield (ROI name, contours (list of (n, 3) mm)) per
    ROIContourSequence item of a wanted ROI; ROIs without any item are yielded empty."""
    ds = read_file(path, patient)
    if str(ds.get("Modality", "")) != "RTSTRUCT":
        raise DicomError(f"{who(patient)}{path}: not an RTSTRUCT (Modality "
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
                    raise DicomError(f"{who(patient)}{path}: ROI {name!r}: a contour "
                                     "references an image absent from the CT series")
            gtype = str(c.get("ContourGeometricType", "CLOSED_PLANAR")).strip().upper()
            if gtype not in FILLED_TYPES:
                raise DicomError(f"{who(patient)}{path}: ROI {name!r}: open contour "
                                 f"({gtype}): a polyline encloses no volume; only closed "
                                 "contours (CLOSED_PLANAR) can be filled")
            data = c.get("ContourData", None)
            try:
                pts = np.asarray([float(v) for v in data], dtype=float).reshape(-1, 3)
            except (TypeError, ValueError):
                raise DicomError(f"{who(patient)}{path}: ROI {name!r}: a contour with "
                                 "missing or malformed ContourData (need x, y, z triplets)"
                                 ) from None
            if len(pts) >= 1:
                contours.append((pts, gtype == "CLOSEDPLANAR_XOR"))
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
        m = rasterise_contours(contours, ct.grid, where=f"{who(patient)}{path}: ROI {name!r}")
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
        m = rasterise_contours(contours, ct.grid, where=f"{who(patient)}{path}: ROI {name!r}")
        clash = out[m]
        if clash.any():
            warnings.warn(f"{who(patient)}{path}: ROI {name!r} overlaps label(s) "
                          f"{sorted(set(clash[clash > 0].tolist()))}; it wins", stacklevel=2)
        out[m] = labels[name]
    return out
