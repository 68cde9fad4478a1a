"""The DICOM headers of a folder tree, one record per file: what a layout is made of.

A department export does not always hold one folder per patient. A PACS media export
(a ``DICOMDIR`` beside ``DICOM/PAT00001/STD00001/SER00001/IM00001``), or a flat folder of
every patient's files, is read by series: :func:`scan_dicom` reads the header of every
file (no pixel data) and returns the attributes that decide which files form a patient's
study and series. Which series make a patient is decided at the ingest level
(:mod:`analysis.ingest.layout`); reading one series is :mod:`analysis.io.dicom_read`'s.

File names are never relied on (``IM00001``, ``CT.1.3.12...``, no suffix): a file is
DICOM when :func:`analysis.io.dicom_base.is_dicom_file` says so. The ``DICOMDIR`` itself
(Media Storage Directory) is recognised by its SOP class and left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pydicom

from analysis.io.dicom_base import is_dicom_file

#: SOP class of a DICOMDIR (Media Storage Directory Storage)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class DicomFile:
    """The header attributes of one DICOM file that place it in a layout.

    ``referenced_series``: for an RTSTRUCT, the SeriesInstanceUIDs its
    RTReferencedSeriesSequence names (empty otherwise, or when it names none).
    """

    path: Path
    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    has_pixels: bool
    referenced_series: tuple[str, ...] = ()


def _referenced_series(ds) -> tuple[str, ...]:
    out = []
    for fr in ds.get("ReferencedFrameOfReferenceSequence", []):
        for st in fr.get("RTReferencedStudySequence", []):
            out += [str(se.get("SeriesInstanceUID", ""))
                    for se in st.get("RTReferencedSeriesSequence", [])]
    return tuple(u for u in out if u)


def read_header(path: str | Path) -> DicomFile | None:
    """The :class:`DicomFile` of ``path``; None when it is not DICOM, is a DICOMDIR, or
    cannot be parsed."""
    path = Path(path)
    if not is_dicom_file(path):
        return None
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - an unparsable file is not part of any series
        return None
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or
                    (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return None
    # stop_before_pixels drops PixelData: an image is told by its Rows and Columns
    has_pixels = "Rows" in ds and "Columns" in ds
    modality = str(ds.get("Modality", "") or "")
    return DicomFile(path=path, patient_id=str(ds.get("PatientID", "") or "").strip(),
                     study_uid=str(ds.get("StudyInstanceUID", "") or ""),
                     series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
                     modality=modality, has_pixels=has_pixels,
                     referenced_series=_referenced_series(ds)
                     if modality == "RTSTRUCT" else ())


def files_under(root: str | Path, *, skip: Iterable[Path] = ()) -> list[Path]:
    """Every regular, non-hidden file under ``root`` (recursively, sorted), except those
    inside a folder of ``skip``."""
    root = Path(root)
    skipped = [Path(s) for s in skip]
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if any(s == p or s in p.parents for s in skipped):
            continue
        out.append(p)
    return out


def scan_dicom(files: Iterable[str | Path]) -> list[DicomFile]:
    """:func:`read_header` of each file; files that are not DICOM are left out."""
    return [h for h in (read_header(f) for f in files) if h is not None]
