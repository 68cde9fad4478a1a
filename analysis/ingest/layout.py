"""Which files make each patient's images: the export's layout, decided per patient.

Ingest reads each patient by the content of its own folder, never by another patient's
(a NIfTI patient among DICOM patients is read as NIfTI). Layouts read
(:func:`resolve_images`), for a patient with record number MRN and pseudonym pid:

``patient folder (NIfTI)``
    ``images/<MRN>/CT.nii.gz`` (+ ``GTV.nii.gz`` ...), or any ``.nii``/``.nii.gz`` there
    (the NIfTI reader then names what is missing).
``patient folder (DICOM)``
    ``images/<MRN>/CT/`` (one series, any file names) + the RTSTRUCT beside it.
``DICOM series in the patient folder``
    ``images/<MRN>/`` holding DICOM files in any arrangement (all in one folder, or one
    sub-folder per series with other names): read by series, as below.
``flat folder`` / ``DICOMDIR / PACS media``
    no folder named after the MRN: the DICOM files anywhere under ``images/`` outside
    the patient folders (every patient's files in one folder, or a PACS media export
    ``DICOMDIR`` + ``DICOM/PAT00001/STD00001/SER00001/IM00001``) are grouped by
    PatientID, matched to the clinical table's MRN by
    :func:`analysis.deid.normalise_mrn` and so to the pid (the pseudonym key).

Read by series: within the patient's files, the study is the one holding an RTSTRUCT
(several such studies: refused); the CT series is the one the RTSTRUCT references
(RTReferencedSeriesSequence), else every CT image series of the study (the CT reader
then picks or refuses). Other objects of the study (RTPLAN, RTDOSE) sit beside the
RTSTRUCT, where the per-patient reader notes and ignores them; images of another
modality are left out with a note. The files are presented to the per-patient reader
as a view in the canonical layout (:func:`stage_view`: symbolic links named
``CT/<n>-<name>`` and ``<n>-<name>``, in a folder named by pid), so that one reader,
one scrubber and one input hash serve every layout.

Anything else is refused with a reason naming the layout found and the one expected
(:data:`EXPECTED`). No message names a file or a PatientID: only the pid, counts, and
the layout's name.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from analysis.clinical import reason
from analysis.deid import normalise_mrn
from analysis.io.dicom_scan import DicomFile, files_under, scan_dicom

#: the layouts ingest reads, in words (every refusal names them)
EXPECTED = ("images/<MRN>/CT.nii.gz (NIfTI), images/<MRN>/CT/ + the RTSTRUCT (DICOM), or "
            "DICOM files carrying each patient's PatientID anywhere under images/ (a "
            "flat folder, or a DICOMDIR / PACS media export)")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class PatientImages:
    """Where one patient's images are and how to read them.

    ``folder``: what the per-patient reader reads (the patient folder; for a layout
    read by series, the view :func:`stage_view` builds from ``ct_files`` and
    ``other_files``). ``reason``: a refusal (``reason("no_images", ...)``), empty when
    readable. ``notes``: warnings to record (no file names, no identifiers).
    """

    pid: str
    format: str = "dicom"
    layout: str = ""
    folder: Path | None = None
    ct_files: tuple[Path, ...] = ()
    other_files: tuple[Path, ...] = ()
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def by_series(self) -> bool:
        """True when the files were chosen by series (a view must be staged)."""
        return bool(self.ct_files)


def _is_nifti(p: Path) -> bool:
    return p.name.lower().endswith(NIFTI_SUFFIXES)


def image_dir(export: Path, mrn: str) -> Path:
    """The image folder of ``mrn``: ``images/<MRN>``, else the one folder whose name
    matches by :func:`analysis.deid.normalise_mrn` (may not exist)."""
    d = export / "images" / mrn
    if d.is_dir() or not (export / "images").is_dir():
        return d
    hits = [c for c in (export / "images").iterdir()
            if c.is_dir() and normalise_mrn(c.name) == normalise_mrn(mrn)]
    return hits[0] if len(hits) == 1 else d


def from_series(pid: str, recs: list[DicomFile], layout: str) -> PatientImages:
    """A patient's images chosen from the DICOM headers ``recs`` (see the module
    docstring, "Read by series")."""
    out = PatientImages(pid=pid, format="dicom", layout=layout)
    studies: dict[str, list[DicomFile]] = defaultdict(list)
    for r in recs:
        studies[r.study_uid].append(r)
    with_rs = [s for s, rs in studies.items() if any(r.modality == "RTSTRUCT" for r in rs)]
    if len(with_rs) > 1:
        out.reason = reason("no_images", f"patient {pid}: {len(with_rs)} studies with an "
                                         f"RTSTRUCT ({layout}); expected one planning study "
                                         "per patient")
        return out
    if with_rs:
        study = with_rs[0]
    elif len(studies) == 1:
        study = next(iter(studies))
    else:
        out.reason = reason("no_images", f"patient {pid}: {len(studies)} studies and no "
                                         f"RTSTRUCT ({layout}); expected one planning study "
                                         "with its RTSTRUCT")
        return out
    files = studies[study]
    if len(studies) > 1:
        out.notes.append(f"patient {pid}: {len(studies) - 1} other stud(ies) without an "
                         f"RTSTRUCT ignored ({layout})")
    ct = [r for r in files if r.modality == "CT" and r.has_pixels]
    refs = {u for r in files if r.modality == "RTSTRUCT" for u in r.referenced_series}
    chosen = [r for r in ct if r.series_uid in refs] or ct
    if not chosen:
        out.reason = reason("no_images", f"patient {pid}: no CT image in the patient's "
                                         f"DICOM files ({layout}); expected {EXPECTED}")
        return out
    other_images = [r for r in files if r.has_pixels and r not in chosen]
    if other_images:
        n_series = len({r.series_uid for r in other_images})
        out.notes.append(f"patient {pid}: {n_series} other image series "
                         f"({', '.join(sorted({r.modality or '?' for r in other_images}))}) "
                         f"left out ({layout})")
    out.ct_files = tuple(sorted(r.path for r in chosen))
    out.other_files = tuple(sorted(r.path for r in files if not r.has_pixels))
    return out


def classify_folder(pid: str, d: Path) -> PatientImages:
    """How to read the patient folder ``d``, from its own content."""
    if (d / "CT.nii.gz").exists():
        return PatientImages(pid=pid, format="nifti", layout="patient folder (NIfTI)",
                             folder=d)
    if (d / "CT").is_dir():
        return PatientImages(pid=pid, format="dicom", layout="patient folder (DICOM)",
                             folder=d)
    files = files_under(d)
    if any(_is_nifti(f) for f in files):
        # NIfTI without CT.nii.gz: the NIfTI reader names what is missing
        return PatientImages(pid=pid, format="nifti", layout="patient folder (NIfTI)",
                             folder=d)
    recs = scan_dicom(files)
    if recs:
        return from_series(pid, recs, "DICOM series in the patient folder")
    return PatientImages(pid=pid, layout="patient folder", folder=d, reason=reason(
        "no_images", f"patient {pid}: the image folder holds {len(files)} file(s), "
                     f"neither NIfTI nor DICOM; expected {EXPECTED}"))


def _describe_loose(images: Path, loose: list[Path], recs: list[DicomFile]) -> str:
    """The layout of the files under ``images/`` outside the patient folders, in words."""
    if (images / "DICOMDIR").exists() or any(p.name.upper() == "DICOMDIR" for p in loose):
        kind = "a DICOMDIR / PACS media layout"
    elif recs:
        kind = "a flat folder of DICOM files"
    elif any(_is_nifti(p) for p in loose):
        kind = "NIfTI files outside any patient folder (a flat NIfTI layout)"
    else:
        kind = "files that are neither DICOM nor NIfTI"
    n_ids = len({normalise_mrn(r.patient_id) for r in recs if r.patient_id})
    return f"{kind}: {len(loose)} file(s)" + (f", {n_ids} PatientID(s)" if recs else "")


def resolve_images(export: str | Path, mrn_by_pid: dict[str, str]) -> dict[str, PatientImages]:
    """Each patient's :class:`PatientImages` (see the module docstring).

    Parameters
    ----------
    export : the export folder (``images/`` inside it)
    mrn_by_pid : pid -> the clinical table's record number (as spelled there)
    """
    export = Path(export)
    images = export / "images"
    out: dict[str, PatientImages] = {}
    folders = {pid: image_dir(export, mrn) for pid, mrn in mrn_by_pid.items()}
    have = {pid: d for pid, d in folders.items() if d.is_dir()}
    for pid, d in have.items():
        out[pid] = classify_folder(pid, d)
    rest = [pid for pid in mrn_by_pid if pid not in have]
    if not rest:
        return out
    # folders in the canonical layout (of these patients, or of patients excluded or
    # unknown) are never part of a flat or PACS layout
    canonical = [d for d in images.iterdir() if d.is_dir() and (
        (d / "CT").is_dir() or (d / "CT.nii.gz").exists())] if images.is_dir() else []
    loose = files_under(images, skip=[*have.values(), *canonical]) \
        if images.is_dir() else []
    if not loose:  # no other layout: the patient's folder is missing
        for pid in rest:
            out[pid] = PatientImages(pid=pid, layout="patient folder", folder=folders[pid],
                                     reason=reason("no_images", f"patient {pid}: image "
                                                   f"folder images/{pid} not found; "
                                                   f"expected {EXPECTED}"))
        return out
    recs = scan_dicom(loose)
    found = _describe_loose(images, loose, recs)
    layout = "DICOMDIR / PACS media" if found.startswith("a DICOMDIR") else "flat folder"
    by_id: dict[str, list[DicomFile]] = defaultdict(list)
    for r in recs:
        by_id[normalise_mrn(r.patient_id)].append(r)
    for pid in rest:
        mine = by_id.get(normalise_mrn(mrn_by_pid[pid]), [])
        if mine and normalise_mrn(mrn_by_pid[pid]):
            out[pid] = from_series(pid, mine, layout)
        else:
            out[pid] = PatientImages(pid=pid, layout=layout, reason=reason(
                "no_images", f"patient {pid}: no image folder images/{pid} and no DICOM "
                             f"file with the patient's PatientID under images/ (found "
                             f"{found}); expected {EXPECTED}"))
    return out


def stage_view(img: PatientImages, dest: str | Path) -> Path:
    """Build the canonical view of a patient read by series: ``dest/CT/<n>-<name>`` for
    the CT files and ``dest/<n>-<name>`` for the others, as symbolic links; returns
    ``dest`` (emptied first) and sets ``img.folder`` to it."""
    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "CT").mkdir(parents=True)
    for k, f in enumerate(img.ct_files):
        os.symlink(os.path.abspath(f), dest / "CT" / f"{k:05d}-{f.name}")
    for k, f in enumerate(img.other_files):
        os.symlink(os.path.abspath(f), dest / f"{k:05d}-{f.name}")
    img.folder = dest
    return dest
