"""The per-patient step of 01_ingest: one patient's image folder -> its store folder.

:func:`ingest_patient` runs in a worker process (:func:`analysis.scheduling.parallel.map_patients`);
every message it returns (exclusion reason, warnings) has passed through the patient's
:class:`analysis.scrub.Scrubber` (clinical row values, DICOM identifying attributes,
dates, UIDs, file names shown as ``<export>/images/<pid>/<kind>#<n>``).

What a real export carries and is tolerated (each with a recorded note)
----------------------------------------------------------------------
* files that are not DICOM (``Thumbs.db``, ``notes.txt``) beside the RTSTRUCT: ignored;
* RTPLAN, RTDOSE, REG (any Modality other than RTSTRUCT) beside the RTSTRUCT: ignored,
  recognised by their Modality, not their name.

What is refused (the patient is excluded with the reason)
---------------------------------------------------------
* a missing or ambiguous structure (the ROI names found are listed);
* a NIfTI mask that is not binary: values other than 0/1 (e.g. a float mask with a
  1e-4 background) are refused unless ``ingest.mask_threshold`` is set, then
  ``mask > threshold`` is used and a warning recorded;
* a GTV or GTVnd touching the edge of the image (clipped: part of it lies outside, and
  its measured size, e.g. the diameter, is too small); the share of its voxels on the
  outer faces is given. ``ingest.allow_clipped: true`` keeps the patient with a recorded
  warning instead. A CTV touching the edge (common where the scan ends at the CTV's
  cranial or caudal end) is kept with a recorded warning;
* a NIfTI mask whose affine differs from the CT's (shape, spacing, origin, or a flipped
  axis: the orientation rule is "same affine within ``geometry_tolerance_mm``; no
  resampling, no reorientation");
* a GTV or GTVnd not inside the CTV: less than ``ingest.gtv_in_ctv_min_share`` (default
  95 %) of its voxels inside the CTV. A CTV contains its gross tumour by definition (ICRU
  Reports 50 and 62: the CTV is the GTV plus a margin for subclinical disease); the 5 %
  leave room for the rasterisation of two separately drawn outlines. A GTV moved out of
  its CTV, or the wrong ROI matched, would otherwise give wrong partition parameters.
  ``ingest.allow_gtv_outside_ctv: true`` keeps the patient with a recorded warning;
* a NIfTI CT not in Hounsfield units (:mod:`analysis.io.hu`), as for DICOM.

NIfTI files are found by their export-convention name in any case, compressed or not
(``CT.nii.gz``, ``CT.nii``, ``ctv.nii.gz``); two files for one name are refused as
ambiguous.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from analysis import __version__
from analysis.clinical import reason
from analysis.fsutil import atomic_write_bytes, prefetch, sha256_bytes, sha256_tree
from analysis.geometry import gtv_size_cm
from analysis.grid import Grid
from analysis.io import read_nifti
from analysis.io.dicom_read import (
    DicomError,
    is_dicom_file,
    match_roi_names,
    read_ct_series,
    read_rtstruct,
    read_rtstruct_labels,
    rtstruct_referenced_series,
    rtstruct_roi_names,
)
from analysis.io.hu import not_hu_message
from analysis.io.nifti import NiftiError, nifti_affine
from analysis.labels import N_STATIONS, STATION_LABEL, STRUCTURES
from analysis.scrub import Scrubber
from analysis.store import CohortStore, StoreWriteError


@dataclass(frozen=True)
class PatientTask:
    """One patient's ingest job, as the worker receives it (picklable, immutable).

    The record number and ``identifiers`` live only in the worker, to scrub its messages;
    nothing of them is stored or shown (:func:`make_scrubber`).
    """

    pid: str
    mrn: str
    image_dir: str
    export_dir: str
    #: "dicom" or "nifti" (decided per patient by :mod:`analysis.ingest.layout`)
    format: str
    store_root: str
    roi_synonyms: dict[str, list[str]]
    required: tuple[str, ...]
    tolerance_mm: float
    #: digest of the ingest params, format and reading code (the input hash's salt)
    params_key: str
    mask_threshold: float | None = None
    allow_clipped: bool = False
    gtv_in_ctv_min_share: float = 0.95
    allow_gtv_outside_ctv: bool = False
    identifiers: tuple = ()
    #: recurrence sites of the patient, LPS mm (x, y, z)
    sites_mm: tuple = ()

#: NIfTI export file of each canonical structure
NIFTI_FILES: dict[str, str] = {"gtv": "GTV.nii.gz", "gtvnd": "GTVnd.nii.gz",
                               "ctv": "CTV.nii.gz"}
#: RTSTRUCT ROI names of reference stations: LN_<station>
STATION_ROI_PREFIX = "LN_"
#: structures whose clipping by the image edge excludes the patient (their size is
#: measured); a clipped CTV only gives a recorded warning
CLIP_REFUSED: tuple[str, ...] = ("gtv", "gtvnd")


class PatientExcluded(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the per-patient step to record an exclusion reason."""


def site_key(x_mm: float, y_mm: float, z_mm: float) -> str:
    """Key of a recurrence point (LPS mm) in :func:`site_hu` maps (JSON-safe)."""
    return f"{float(x_mm):.4f},{float(y_mm):.4f},{float(z_mm):.4f}"


def hu_at(hu: np.ndarray, grid: Grid, xyz_mm) -> int | None:
    """HU of the voxel nearest to LPS point ``xyz_mm``; None when it lies outside the image."""
    idx = np.rint(grid.mm_to_index(np.array([xyz_mm], dtype=float))[0]).astype(int)
    if not all(0 <= i < n for i, n in zip(idx, grid.shape_zyx, strict=True)):
        return None
    return int(hu[tuple(idx)])


def site_hu(hu: np.ndarray, grid: Grid, points) -> dict[str, int | None]:
    """:func:`site_key` -> :func:`hu_at` of each (x, y, z) mm point: ingest's check of
    recurrence sites in air or outside the image, made while the CT is in memory."""
    return {site_key(*p): hu_at(hu, grid, p) for p in points}


def files_hash(folder: Path, extra: str) -> str:
    """SHA-256 of ``extra`` and :func:`analysis.fsutil.sha256_tree` of every file under
    ``folder`` (relative names and contents)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    prefetch(files)
    tree = sha256_tree(files, folder)
    return sha256_bytes(f"{extra}\0{tree}".encode())


def _structure_check(masks: dict[str, np.ndarray | None], required: list[str],
                     where: str, found: list[str] | None = None) -> None:
    for s in required:
        if masks.get(s) is None:
            names = (f"; ROIs found: {', '.join(found) if found else 'none'}"
                     if found is not None else "")
            raise PatientExcluded(reason("missing_structure", f"{s} absent ({where}){names}"))
    for s in required:
        if not masks[s].any():
            raise PatientExcluded(reason("empty_structure", f"{s} is empty ({where})"))


def edge_share(mask: np.ndarray) -> float:
    """Share of a mask's voxels that lie on the outer faces of the image (0 when none).

    A structure the image edge cuts through has voxels on a face: what lay beyond it is
    lost, and every size measured from it is too small.
    """
    n = int(mask.sum())
    if n == 0:
        return 0.0
    edge = np.zeros_like(mask, dtype=bool)
    edge[[0, -1], :, :] = True
    edge[:, [0, -1], :] = True
    edge[:, :, [0, -1]] = True
    return float((mask & edge).sum()) / n


def _clip_check(masks: dict[str, np.ndarray | None], task: PatientTask, where: str) -> None:
    for s in ("gtv", "gtvnd", "ctv"):
        m = masks.get(s)
        if m is None or not m.any():
            continue
        share = edge_share(m)
        if share > 0:
            msg = (f"{s} touches the edge of the image ({100 * share:.1f}% of its voxels on "
                   f"the outer faces): the structure is clipped, part of it lies outside "
                   f"({where})")
            if s in CLIP_REFUSED and not task.allow_clipped:
                raise PatientExcluded(reason("geometry", msg))
            warnings.warn(msg + "; kept, with this warning", stacklevel=2)


def _containment_check(masks: dict[str, np.ndarray | None], task: PatientTask, where: str) -> None:
    """Refuse (or, with ``allow_gtv_outside_ctv``, warn about) a GTV or GTVnd of which
    less than ``gtv_in_ctv_min_share`` lies inside the CTV (module docstring)."""
    ctv = masks.get("ctv")
    if ctv is None or not ctv.any():
        return
    least = float(task.gtv_in_ctv_min_share)
    for s in ("gtv", "gtvnd"):
        m = masks.get(s)
        if m is None or not m.any():
            continue
        share = float((m & ctv).sum()) / float(m.sum())
        if share >= least:
            continue
        msg = (f"{s} is not inside the ctv: {100 * share:.1f}% of its voxels lie inside "
               f"it, at least {100 * least:g}% expected (ingest.gtv_in_ctv_min_share; a "
               f"moved structure or the wrong ROI?) ({where})")
        if not task.allow_gtv_outside_ctv:
            raise PatientExcluded(reason("geometry", msg))
        warnings.warn(msg + "; kept, with this warning (ingest.allow_gtv_outside_ctv)",
                      stacklevel=2)


def _classify_top_files(d: Path, scrub: Scrubber) -> list[Path]:
    """The RTSTRUCT candidates at the top of a patient folder; others noted and ignored."""
    rs = []
    for p in sorted(q for q in d.iterdir() if q.is_file() and not q.name.startswith(".")):
        if not is_dicom_file(p):
            warnings.warn(f"{scrub.path(p)}: not a DICOM file, ignored", stacklevel=2)
            continue
        try:
            ds = pydicom.dcmread(str(p), stop_before_pixels=True, force=True)
        except Exception:  # noqa: BLE001 - a damaged DICOM: refused as unreadable below
            rs.append(p)
            continue
        modality = str(ds.get("Modality", ""))
        if modality and modality != "RTSTRUCT":
            warnings.warn(f"{scrub.path(p)}: {modality} file beside the RTSTRUCT, ignored",
                          stacklevel=2)
            continue
        rs.append(p)
    return rs


def _dicom_identifiers(d: Path, scrub: Scrubber) -> None:
    """Feed the identifying attributes of the patient's DICOM headers to the scrubber
    (the first file of each folder and every top-level file)."""
    firsts = [next(iter(sorted(f for f in sub.iterdir() if f.is_file())), None)
              for sub in sorted(d.iterdir()) if sub.is_dir()]
    for p in [*firsts, *sorted(f for f in d.iterdir() if f.is_file())]:
        if p is None:
            continue
        try:
            scrub.add_dicom(pydicom.dcmread(str(p), stop_before_pixels=True, force=True))
        except Exception:  # noqa: BLE001, S112 - not DICOM: nothing to learn from it
            continue


def _read_dicom_patient(d: Path, task: PatientTask, scrub: Scrubber) -> tuple:
    pid = task.pid
    rs_files = _classify_top_files(d, scrub)
    refs = rtstruct_referenced_series(rs_files[0], patient=pid) if len(rs_files) == 1 else []
    ct = read_ct_series(d / "CT", patient=pid, series_uid=refs)
    if not rs_files:
        raise PatientExcluded(reason("missing_structure", f"no RTSTRUCT file in {d}"))
    if len(rs_files) > 1:
        raise PatientExcluded(reason("unreadable", f"{len(rs_files)} RTSTRUCT files in {d}"))
    rs = rs_files[0]
    names = rtstruct_roi_names(rs, patient=pid)
    matched = match_roi_names(names, task.roi_synonyms)
    for s, found in matched.items():
        if len(found) > 1:
            raise PatientExcluded(reason("missing_structure", f"{s}: ambiguous ROIs "
                                                              f"{scrub.roi_names(found)} in "
                                                              f"{rs}"))
    stations = {n[len(STATION_ROI_PREFIX):]: n for n in names
                if n.startswith(STATION_ROI_PREFIX) and n[len(STATION_ROI_PREFIX):]
                in STATION_LABEL}
    wanted = [f[0] for f in matched.values() if f]
    masks_by_name = read_rtstruct(rs, ct, roi_names=wanted, patient=pid)
    masks = {s: (masks_by_name[f[0]] if f else None) for s, f in matched.items()}
    # ROI names holding a planted identifier are shown by their role (External#1)
    _structure_check(masks, task.required, str(rs), found=scrub.roi_names(names))
    _clip_check(masks, task, str(rs))
    _containment_check(masks, task, str(rs))
    st = None
    if stations:  # one label map, painted ROI by ROI (16 full masks never coexist)
        st = read_rtstruct_labels(rs, ct, {roi: STATION_LABEL[name]
                                           for name, roi in stations.items()}, patient=pid)
    return ct.hu, ct.grid, masks, st, {}


def _check_grid(g: Grid, ct: Grid, tol_mm: float, path: Path, pid: str) -> None:
    if g.shape_zyx != ct.shape_zyx or not (
            np.allclose(g.spacing_mm, ct.spacing_mm, atol=tol_mm)
            and np.allclose(g.origin_mm, ct.origin_mm, atol=tol_mm)):
        raise PatientExcluded(reason(
            "geometry", f"patient {pid}: {path}: grid (shape {g.shape_zyx}, spacing "
                        f"{g.spacing_mm}, origin {g.origin_mm}) does not match the CT (shape "
                        f"{ct.shape_zyx}, spacing {ct.spacing_mm}, origin {ct.origin_mm}) "
                        f"within {tol_mm} mm (no resampling or reorientation is done)"))


def binary_mask(m: np.ndarray, threshold: float | None, what: str) -> np.ndarray:
    """A mask read from a file as bool: 0/1 values, or ``m > threshold`` when declared.

    Raises
    ------
    PatientExcluded
        Values other than 0 and 1 without a declared ``threshold``.
    """
    vals = np.unique(m)
    if np.isin(vals, (0, 1)).all():
        return m > 0
    if threshold is None:
        lo, hi = float(vals.min()), float(vals.max())
        raise PatientExcluded(reason(
            "unreadable", f"{what}: mask is not binary ({len(vals)} distinct values in "
                          f"[{lo:g}, {hi:g}]); set ingest.mask_threshold to declare how to "
                          "binarise it"))
    warnings.warn(f"{what}: non-binary mask binarised at > {threshold:g} "
                  "(ingest.mask_threshold)", stacklevel=2)
    return m > threshold


def nifti_file(d: Path, name: str) -> Path | None:
    """The file of export-convention ``name`` (``CTV.nii.gz``) in ``d``: any case, ``.nii``
    or ``.nii.gz``; None when absent; two candidates are refused as ambiguous."""
    stem = name.split(".", 1)[0].casefold()
    found = sorted(p for p in d.iterdir() if p.is_file()
                   and p.name.casefold() in (f"{stem}.nii.gz", f"{stem}.nii"))
    if len(found) > 1:
        raise PatientExcluded(reason("unreadable", f"{len(found)} files for {name} "
                                                   f"({', '.join(map(str, found))}): "
                                                   "ambiguous, keep one"))
    return found[0] if found else None


def _read_nifti_patient(d: Path, task: PatientTask, scrub: Scrubber) -> tuple:
    pid, tol = task.pid, task.tolerance_mm
    ct_path = nifti_file(d, "CT.nii.gz")
    if ct_path is None:
        raise PatientExcluded(reason("no_images", f"no CT.nii.gz (or CT.nii) in {d}"))
    hu, grid = read_nifti(ct_path, dtype=np.int16)
    msg = not_hu_message(float(hu.min()), "a NIfTI CT: its values as stored, after "
                                          "scl_slope / scl_inter") if hu.size else None
    if msg:
        raise NiftiError(f"{ct_path}: {msg}")
    ct_affine = nifti_affine(ct_path)
    masks: dict[str, np.ndarray | None] = {}
    for s, fname in NIFTI_FILES.items():
        p = nifti_file(d, fname)
        if p is None:
            masks[s] = None
            continue
        m, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        if not np.allclose(nifti_affine(p), ct_affine, atol=tol):
            raise PatientExcluded(reason(
                "geometry", f"{p}: affine differs from the CT's (a flipped or reoriented "
                            "axis); masks must carry their CT's affine, nothing is "
                            "reoriented"))
        masks[s] = binary_mask(m, task.mask_threshold, str(p))
    _structure_check(masks, task.required, str(d),
                     found=sorted(f.name for f in d.iterdir() if f.is_file()))
    _clip_check(masks, task, str(d))
    _containment_check(masks, task, str(d))
    st = None
    p = nifti_file(d, "stations.nii.gz")
    if p is not None:
        st, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        if st.min() < 0 or st.max() > N_STATIONS:
            raise PatientExcluded(reason("unreadable", f"{p}: station labels outside "
                                                       f"0..{N_STATIONS}"))
        st = st.astype(np.uint8)
    rec = {}
    p = nifti_file(d, "recurrence.nii.gz")
    if p is not None:
        lab, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        lab = np.rint(lab).astype(np.int32)
        for k in np.unique(lab[lab > 0]):
            idx = np.argwhere(lab == k).mean(axis=0)
            rec[int(k)] = [float(v) for v in grid.index_to_mm(idx)]
    return hu, grid, masks, st, rec


def make_scrubber(task: PatientTask) -> Scrubber:
    """The patient's scrubber: export folder, MRN -> pid, clinical row values, the image
    folder's file names, the DICOM identifying attributes."""
    scrub = Scrubber(task.export_dir, {task.mrn: task.pid},
                     task.identifiers)
    d = Path(task.image_dir)
    scrub.add_patient_folder(d, task.pid)
    if d.is_dir() and task.format == "dicom":
        _dicom_identifiers(d, scrub)
    return scrub


def ingest_patient(task: PatientTask) -> dict:
    """Read, check and store one patient's images (the per-patient step of ingest).

    Parameters
    ----------
    task : dict
        ``pid``, ``image_dir`` (str), ``format`` ("dicom" | "nifti"), ``store_root``,
        ``roi_synonyms``, ``required``, ``tolerance_mm``, ``params_key`` (a digest of the
        ingest params), ``mask_threshold``, ``allow_clipped``, ``gtv_in_ctv_min_share``,
        ``allow_gtv_outside_ctv``, and ``mrn``,
        ``export_dir``, ``identifiers`` (only to scrub messages); optional
        ``sites_mm``: the recurrence table's (x, y, z) points of this patient.

    Returns
    -------
    dict
        ``ok`` (bool), ``reason`` (str, when excluded), ``skipped`` (unchanged inputs),
        ``diameter_cm``, ``recurrence_points`` {site_no: [x, y, z] mm} from a recurrence
        mask, ``site_hu`` (:func:`site_hu` of ``sites_mm`` and those points), ``warnings``
        (scrubbed messages).
    """
    pid = task.pid
    d = Path(task.image_dir)
    store = CohortStore(task.store_root)
    pdir = store.patient_dir(pid)
    scrub = make_scrubber(task)
    out = {"ok": False, "reason": "", "skipped": False, "diameter_cm": np.nan,
           "recurrence_points": {}, "site_hu": {}, "warnings": []}
    if not d.is_dir():
        out["reason"] = reason("no_images", f"patient {pid}: image folder "
                                            f"{scrub.path(d)} not found")
        shutil.rmtree(pdir, ignore_errors=True)
        return out
    input_hash = files_hash(d, task.params_key + pid)
    meta_path = pdir / "meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("complete") and meta.get("input_hash") == input_hash:
            out.update(ok=True, skipped=True, diameter_cm=meta["diameter_cm"],
                       recurrence_points={int(k): v for k, v in
                                          meta.get("recurrence_points", {}).items()},
                       site_hu=dict(meta.get("site_hu", {})),
                       warnings=list(meta.get("warnings", [])))
            return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = _read_dicom_patient if task.format == "dicom" else _read_nifti_patient
            hu, grid, masks, st, rec = reader(d, task, scrub)
        except PatientExcluded as exc:
            out["reason"] = scrub(str(exc))
        except (DicomError, NiftiError) as err:
            msg = str(err) if str(err).startswith("patient ") else f"patient {pid}: {err}"
            out["reason"] = scrub(reason("unreadable", msg))
    out["warnings"] = [scrub(str(w.message)) for w in caught]
    if out["reason"]:
        shutil.rmtree(pdir, ignore_errors=True)
        return out
    try:
        _store_patient(store, task, hu, grid, masks, st, rec, input_hash, out)
    except OSError as err:  # a full disk is not the patient's data: the run stops
        where = Path(str(err.filename or ""))
        where = where.relative_to(store.root) if where.is_relative_to(store.root) else \
            where.name
        raise StoreWriteError(err.errno, scrub(
            f"patient {pid}: cannot write to the cohort store "
            f"({err.strerror or type(err).__name__}: {where})")) from None
    return out


def _store_patient(store: CohortStore, task: PatientTask, hu, grid, masks, st, rec,
                   input_hash: str, out: dict) -> None:
    pid = task.pid
    pdir = store.patient_dir(pid)
    meta_path = pdir / "meta.json"
    # invalidate first, write volumes, meta.json last (the "complete" marker); predicted
    # stations (02_segment) survive only when the CT itself is unchanged
    old_ct_hash = None
    if meta_path.exists():
        try:
            old_ct_hash = json.loads(meta_path.read_text()).get("ct_hash")
        except (OSError, ValueError):
            old_ct_hash = None
    ct_hash = sha256_bytes(json.dumps(grid.to_dict()).encode() + hu.tobytes())
    meta_path.unlink(missing_ok=True)
    (pdir / "stations_ref.nii.gz").unlink(missing_ok=True)
    if old_ct_hash != ct_hash:  # predictions made on another CT are void
        for name in ("stations_pred", "stations_cv"):
            (pdir / f"{name}.nii.gz").unlink(missing_ok=True)
    store.write(pid, "ct", hu, grid)
    for s in STRUCTURES:
        m = masks.get(s)
        store.write(pid, s, m if m is not None else np.zeros(grid.shape_zyx, bool), grid)
    if st is not None:
        store.write(pid, "stations_ref", st, grid)
    diameter = gtv_size_cm(masks["gtv"], grid.spacing_mm) if masks.get("gtv") is not None \
        else float("nan")
    probes = site_hu(hu, grid, [*task.sites_mm, *rec.values()])
    meta = {"pid": pid, "grid": grid.to_dict(), "input_hash": input_hash, "complete": True,
            "ct_hash": ct_hash,
            "diameter_cm": diameter, "structures_present": sorted(
                s for s in STRUCTURES if masks.get(s) is not None),
            "stations_ref": st is not None, "recurrence_points": rec,
            "source_format": task.format, "ingest_version": __version__,
            "site_hu": probes, "warnings": out["warnings"]}
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    out.update(ok=True, diameter_cm=diameter, recurrence_points=rec, site_hu=probes)
