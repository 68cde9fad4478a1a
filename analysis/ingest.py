"""01_ingest: a department export (or a clinical-only table) -> the cohort store.

Steps (:func:`run_ingest`)
--------------------------
1. The phantom is generated first when ``params.is_phantom`` (it skips when up to date).
2. ``clinical.csv`` is read (:func:`analysis.io.read_table`), mapped to the canonical
   columns (:func:`analysis.cohort.map_clinical`) and each record number is replaced
   by its keyed pseudonym (:mod:`analysis.deid`). Duplicated IDs exclude every row of
   that ID.
3. Outcomes: ``followup.csv`` dates -> months from RT start (export), or mapped survival
   columns (clinical-only). A patient without a usable outcome is excluded.
4. Images, per patient through :func:`analysis.parallel.map_patients` (only for patients
   still valid after steps 2-3, so a clinical exclusion never costs an image read):
   DICOM CT series + RTSTRUCT or NIfTI volumes, checked (geometry within
   ``ingest.geometry_tolerance_mm``, required structures present and non-empty); the
   primary diameter is computed from the GTV mask with the partition module's
   :func:`analysis.partition.gtv_size_cm`. A patient's content hash (its files + the
   ingest params) is stored in its ``meta.json``; a re-run skips patients whose hash is
   unchanged. ``meta.json`` is written last: a folder without it is incomplete and is
   redone.
5. Tables (cohort, screening, recurrences) are written atomically, then
   ``ingest_manifest.json`` last.

De-identification in messages: a reason or warning that names a file names it as
``<export>/images/<pid>/...``: the record number in folder names is replaced by the pid
before anything is stored, logged or shown.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import __version__, cohort, paths
from analysis.cohort import REASON_LABELS, reason, reason_code
from analysis.deid import load_or_create_key, pseudonym
from analysis.grid import Grid
from analysis.io import read_nifti, read_table
from analysis.io.dicom_read import (
    DicomError,
    match_roi_names,
    read_ct_series,
    read_rtstruct,
    read_rtstruct_labels,
    rtstruct_roi_names,
)
from analysis.io.nifti import NiftiError
from analysis.labels import N_STATIONS, STATION_LABEL, STRUCTURES
from analysis.parallel import map_patients
from analysis.store import CohortStore, atomic_write_bytes

FOLLOWUP_COLUMNS = ("MRN", "RT_Start", "LastFollowUp", "LocalFailure", "LocalFailureDate")
RECURRENCE_COLUMNS = ("MRN", "SiteNo", "X_mm", "Y_mm", "Z_mm")
#: NIfTI export file of each canonical structure
NIFTI_FILES: dict[str, str] = {"gtv": "GTV.nii.gz", "gtvnd": "GTVnd.nii.gz",
                               "ctv": "CTV.nii.gz"}
#: RTSTRUCT ROI names of reference stations: LN_<station>
STATION_ROI_PREFIX = "LN_"
MANIFEST = "ingest_manifest.json"


class IngestError(RuntimeError):
    """A problem with the whole export (not one patient's): missing tables, bad mapping."""


class PatientExcluded(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the per-patient step to record an exclusion reason."""


@dataclass
class IngestResult:
    """What :func:`run_ingest` did."""

    store_path: Path
    n_screened: int
    n_included: int
    #: patients whose images were unchanged since the last run (not re-read)
    n_skipped: int
    #: one row per excluded screened patient: pid, reason, reason_code
    exclusions: pd.DataFrame
    screening: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_excluded(self) -> int:
        return self.n_screened - self.n_included


# --- per-patient step (module level: picklable) -------------------------------------
def _files_hash(folder: Path, extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + b"\0")
            with open(p, "rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def _structure_check(masks: dict[str, np.ndarray | None], required: list[str],
                     where: str) -> None:
    for s in required:
        if masks.get(s) is None:
            raise PatientExcluded(reason("missing_structure", f"{s} absent ({where})"))
    for s in required:
        if not masks[s].any():
            raise PatientExcluded(reason("empty_structure", f"{s} is empty ({where})"))


def _read_dicom_patient(d: Path, task: dict) -> tuple:
    pid = task["pid"]
    ct = read_ct_series(d / "CT", patient=pid)
    rs_files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() == ".dcm")
    if not rs_files:
        raise PatientExcluded(reason("missing_structure", f"no RTSTRUCT file in {d}"))
    if len(rs_files) > 1:
        raise PatientExcluded(reason("unreadable", f"{len(rs_files)} RTSTRUCT files in {d}"))
    rs = rs_files[0]
    names = rtstruct_roi_names(rs, patient=pid)
    matched = match_roi_names(names, task["roi_synonyms"])
    for s, found in matched.items():
        if len(found) > 1:
            raise PatientExcluded(reason("missing_structure", f"{s}: ambiguous ROIs "
                                                              f"{found} in {rs}"))
    stations = {n[len(STATION_ROI_PREFIX):]: n for n in names
                if n.startswith(STATION_ROI_PREFIX) and n[len(STATION_ROI_PREFIX):]
                in STATION_LABEL}
    wanted = [f[0] for f in matched.values() if f]
    masks_by_name = read_rtstruct(rs, ct, roi_names=wanted, patient=pid)
    masks = {s: (masks_by_name[f[0]] if f else None) for s, f in matched.items()}
    _structure_check(masks, task["required"], str(rs))
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
                        f"within {tol_mm} mm"))


def _read_nifti_patient(d: Path, task: dict) -> tuple:
    pid, tol = task["pid"], task["tolerance_mm"]
    ct_path = d / "CT.nii.gz"
    if not ct_path.exists():
        raise PatientExcluded(reason("no_images", f"no CT.nii.gz in {d}"))
    hu, grid = read_nifti(ct_path, dtype=np.int16)
    masks: dict[str, np.ndarray | None] = {}
    for s, fname in NIFTI_FILES.items():
        p = d / fname
        if not p.exists():
            masks[s] = None
            continue
        m, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        masks[s] = m > 0
    _structure_check(masks, task["required"], str(d))
    st = None
    if (d / "stations.nii.gz").exists():
        p = d / "stations.nii.gz"
        st, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        if st.min() < 0 or st.max() > N_STATIONS:
            raise PatientExcluded(reason("unreadable", f"{p}: station labels outside "
                                                       f"0..{N_STATIONS}"))
        st = st.astype(np.uint8)
    rec = {}
    if (d / "recurrence.nii.gz").exists():
        p = d / "recurrence.nii.gz"
        lab, g = read_nifti(p)
        _check_grid(g, grid, tol, p, pid)
        lab = np.rint(lab).astype(np.int32)
        for k in np.unique(lab[lab > 0]):
            idx = np.argwhere(lab == k).mean(axis=0)
            rec[int(k)] = [float(v) for v in grid.index_to_mm(idx)]
    return hu, grid, masks, st, rec


def ingest_patient(task: dict) -> dict:
    """Read, check and store one patient's images (the per-patient step of ingest).

    Parameters
    ----------
    task : dict
        ``pid``, ``image_dir`` (str), ``format`` ("dicom" | "nifti"), ``store_root``,
        ``roi_synonyms``, ``required``, ``tolerance_mm``, ``params_key`` (a digest of the
        ingest params), ``mrn`` and ``export_dir`` (only to scrub messages).

    Returns
    -------
    dict
        ``ok`` (bool), ``reason`` (str, when excluded), ``skipped`` (unchanged inputs),
        ``diameter_cm``, ``recurrence_points`` {site_no: [x, y, z] mm} from a recurrence
        mask, ``warnings`` (scrubbed messages).
    """
    from analysis.partition import gtv_size_cm

    pid = task["pid"]
    d = Path(task["image_dir"])
    store = CohortStore(task["store_root"])
    pdir = store.patient_dir(pid)
    scrub = _scrubber(task["mrn"], pid, task["export_dir"], task.get("identifiers", []))
    out = {"ok": False, "reason": "", "skipped": False, "diameter_cm": np.nan,
           "recurrence_points": {}, "warnings": []}
    if not d.is_dir():
        out["reason"] = reason("no_images", f"patient {pid}: image folder "
                                            f"{scrub(str(d))} not found")
        shutil.rmtree(pdir, ignore_errors=True)
        return out
    input_hash = _files_hash(d, task["params_key"] + pid)
    meta_path = pdir / "meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("complete") and meta.get("input_hash") == input_hash:
            out.update(ok=True, skipped=True, diameter_cm=meta["diameter_cm"],
                       recurrence_points={int(k): v for k, v in
                                          meta.get("recurrence_points", {}).items()})
            return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = _read_dicom_patient if task["format"] == "dicom" else _read_nifti_patient
            hu, grid, masks, st, rec = reader(d, task)
        except PatientExcluded as exc:
            out["reason"] = scrub(str(exc))
        except (DicomError, NiftiError) as err:
            msg = str(err) if str(err).startswith("patient ") else f"patient {pid}: {err}"
            out["reason"] = scrub(reason("unreadable", msg))
    out["warnings"] = [scrub(str(w.message)) for w in caught]
    if out["reason"]:
        shutil.rmtree(pdir, ignore_errors=True)
        return out
    # invalidate first, write volumes, meta.json last (the "complete" marker); predicted
    # stations (02_segment) survive only when the CT itself is unchanged
    old_ct_hash = None
    if meta_path.exists():
        try:
            old_ct_hash = json.loads(meta_path.read_text()).get("ct_hash")
        except (OSError, ValueError):
            old_ct_hash = None
    ct_hash = hashlib.sha256(json.dumps(grid.to_dict()).encode() + hu.tobytes()).hexdigest()
    meta_path.unlink(missing_ok=True)
    (pdir / "stations_ref.nii.gz").unlink(missing_ok=True)
    if old_ct_hash != ct_hash:
        (pdir / "stations_pred.nii.gz").unlink(missing_ok=True)
    store.write(pid, "ct", hu, grid)
    for s in STRUCTURES:
        m = masks.get(s)
        store.write(pid, s, m if m is not None else np.zeros(grid.shape_zyx, bool), grid)
    if st is not None:
        store.write(pid, "stations_ref", st, grid)
    diameter = gtv_size_cm(masks["gtv"], grid.spacing_mm) if masks.get("gtv") is not None \
        else float("nan")
    meta = {"pid": pid, "grid": grid.to_dict(), "input_hash": input_hash, "complete": True,
            "ct_hash": ct_hash,
            "diameter_cm": diameter, "structures_present": sorted(
                s for s in STRUCTURES if masks.get(s) is not None),
            "stations_ref": st is not None, "recurrence_points": rec,
            "source_format": task["format"], "ingest_version": __version__}
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    out.update(ok=True, diameter_cm=diameter, recurrence_points=rec)
    return out


class _Scrub:
    """Replace a patient's identifiers in a message: the export folder by ``<export>``,
    the record number by the pid, and every other identifier of the row (columns mapped
    to ``drop``: name, birth date; and each word of 3+ characters in them, any case) by
    ``<redacted>``, so that file names built from names cannot leak either."""

    def __init__(self, mrn: str, pid: str, export_dir: str, identifiers: list[str] = ()):
        self.mrn, self.pid, self.export_dir = str(mrn), pid, str(export_dir)
        words = set()
        for ident in identifiers:
            ident = str(ident).strip()
            words |= {ident, ident.replace("-", "")}
            words |= {w for w in re.split(r"[\s^,;]+", ident) if len(w) >= 3}
        words = sorted((w for w in words if len(w) >= 3), key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE) \
            if words else None

    def __call__(self, text: str) -> str:
        if self.export_dir:
            text = text.replace(self.export_dir, "<export>")
        if self.mrn:
            text = text.replace(self.mrn, self.pid)
        return self.pattern.sub("<redacted>", text) if self.pattern else text


def _scrubber(mrn: str, pid: str, export_dir: str, identifiers: list[str] = ()) -> _Scrub:
    return _Scrub(mrn, pid, export_dir, identifiers)


# --- the whole export -----------------------------------------------------------------
def export_dir_for(params) -> Path:
    """The department export folder the params point at."""
    if params.is_phantom:
        return paths.phantom_dir(params.run_name) / "export"
    if params.cohort.export_dir is None:
        raise IngestError("cohort.export_dir: required when cohort.source is 'export'")
    return paths.resolve(params.cohort.export_dir)


def _code_digest() -> str:
    """SHA-256 of the source of the modules that turn files into stored volumes."""
    import analysis.io.dicom_read
    import analysis.io.nifti
    import analysis.partition

    h = hashlib.sha256()
    for mod in (analysis.io.dicom_read, analysis.io.nifti, analysis.partition,
                sys.modules[__name__]):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()


def _params_key(params, image_format: str) -> str:
    """Digest of everything besides the files that decides a patient's stored volumes:
    the ingest params, the image format and the reading code."""
    blob = json.dumps({"ingest": params.ingest.model_dump(mode="json"),
                       "format": image_format, "version": __version__,
                       "code": _code_digest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _image_format(export: Path, params) -> str:
    if params.phantom is not None and params.is_phantom:
        return params.phantom.format
    images = export / "images"
    if images.is_dir():
        for d in sorted(images.iterdir()):
            if (d / "CT").is_dir():
                return "dicom"
            if (d / "CT.nii.gz").exists():
                return "nifti"
    return "nifti"


def _recurrence_table(export: Path, mrn_to_pid: dict[str, str], included: set[str],
                      mask_points: dict[str, dict], warn: list[str]) -> pd.DataFrame:
    rows = []
    have_csv: set[str] = set()
    path = export / "recurrences.csv"
    if path.exists():
        rec = read_table(path, required=RECURRENCE_COLUMNS)
        unknown = 0
        for _, r in rec.iterrows():
            pid = mrn_to_pid.get(str(r["MRN"]).strip())
            if pid is None:
                unknown += 1
                continue
            if pid not in included:
                continue
            try:
                site = int(float(r["SiteNo"]))
                xyz = [float(r[c]) for c in ("X_mm", "Y_mm", "Z_mm")]
            except (TypeError, ValueError):
                warn.append(f"{path.name}: patient {pid}: a site with a missing or "
                            "non-numeric SiteNo/X_mm/Y_mm/Z_mm was ignored")
                continue
            have_csv.add(pid)
            rows.append((pid, site, *xyz))
        if unknown:
            warn.append(f"{path.name}: {unknown} row(s) name a patient absent from the "
                        "clinical table; ignored")
    for pid, pts in mask_points.items():
        if pid in included and pid not in have_csv:
            rows += [(pid, int(k), *v) for k, v in sorted(pts.items())]
    df = pd.DataFrame(rows, columns=["pid", "site_no", "x_mm", "y_mm", "z_mm"])
    df = df.astype({"pid": str, "site_no": np.int64, "x_mm": float, "y_mm": float,
                    "z_mm": float})
    return df.sort_values(["pid", "site_no"]).reset_index(drop=True)


def run_ingest(params, progress: bool = True, *, store_root: str | Path | None = None
               ) -> IngestResult:
    """Ingest the cohort of ``params`` into its cohort store (see the module docstring).

    Parameters
    ----------
    params : analysis.params.Params
    progress : bool
        Show progress bars (tqdm) for the per-patient step.
    store_root : path, optional
        Override the store folder (default ``paths.store_dir(params.run_name)``).

    Returns
    -------
    IngestResult
    """
    t0 = time.perf_counter()
    warn: list[str] = []
    if params.is_phantom:
        from analysis.phantom import generate

        generate(params, progress=progress)
    cp = params.cohort
    clinical_only = cp.source == "clinical_only"
    export = None if clinical_only else export_dir_for(params)
    if clinical_only:
        if cp.clinical_csv is None:
            raise IngestError("cohort.clinical_csv: required when cohort.source is "
                              "'clinical_only'")
        clinical_path = paths.resolve(cp.clinical_csv)
    else:
        clinical_path = paths.resolve(cp.clinical_csv) if cp.clinical_csv else \
            export / "clinical.csv"
    required = list(cp.column_map) if "patient_id" in cp.column_map.values() else \
        [*cp.column_map, "MRN"]
    raw = read_table(clinical_path, required=required, na_values=cp.na_values)
    mapped, reasons = cohort.map_clinical(raw, cp.column_map, cp.category_map,
                                          center=cp.center, source=clinical_path.name)
    key = load_or_create_key(params.ingest.pseudonym_key_file)
    ids = mapped["patient_id"].astype(object)
    mrns = [str(v).strip() if v is not None else "" for v in ids]
    pids = [pseudonym(m, key, cp.center) if m else pseudonym(f"__row_{i}", key, cp.center)
            for i, m in enumerate(mrns)]
    mapped["pid"] = pids
    for i, r in enumerate(cohort.duplicate_id_reasons(pd.Series(mrns), clinical_path.name)):
        reasons[i] = r + reasons[i]
    dup = {m for i, m in enumerate(mrns) if any(reason_code(x) == "duplicate_id"
                                                for x in reasons[i])}

    store = CohortStore(store_root) if store_root is not None else CohortStore.for_params(params)
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / MANIFEST).unlink(missing_ok=True)
    results: dict[str, dict] = {}
    if clinical_only:
        for i, row in mapped.iterrows():
            reasons[i] += cohort.outcome_reasons(row)
    else:
        fu_path = export / "followup.csv"
        fu = read_table(fu_path, required=FOLLOWUP_COLUMNS, na_values=cp.na_values)
        outcomes, fu_reasons = cohort.followup_outcomes(fu, source=fu_path.name)
        for col in cohort.FOLLOWUP_OUTCOMES:
            mapped[col] = [outcomes.get(m, {}).get(col, np.nan) for m in mrns]
        for i, m in enumerate(mrns):
            if m not in outcomes:
                reasons[i].append(reason("no_followup", f"no row in {fu_path.name}"))
            elif m not in dup:
                reasons[i] += fu_reasons.get(m, [])
        fmt = _image_format(export, params)
        pkey = _params_key(params, fmt)
        tasks = {}
        drop_cols = [c for c, t in cp.column_map.items() if t == "drop"]
        for i, m in enumerate(mrns):
            if reasons[i]:
                continue
            idents = [str(raw.at[i, c]) for c in drop_cols if pd.notna(raw.at[i, c])]
            tasks[pids[i]] = {
                "pid": pids[i], "mrn": m, "image_dir": str(export / "images" / m),
                "export_dir": str(export), "format": fmt, "store_root": str(store.root),
                "roi_synonyms": dict(params.ingest.roi_synonyms),
                "required": list(params.ingest.required_structures),
                "tolerance_mm": params.ingest.geometry_tolerance_mm, "params_key": pkey,
                "identifiers": idents,
            }
        mp = map_patients(ingest_patient, tasks, scheduler=params.scheduler,
                          n_workers=params.n_workers, desc="ingest")
        for pid, res in mp.results.items():
            results[pid] = res
            warn += res["warnings"]
        for pid, msg in mp.failures.items():
            t = tasks[pid]
            scrub = _scrubber(t["mrn"], pid, t["export_dir"], t["identifiers"])
            results[pid] = {"ok": False, "reason": scrub(reason("error", msg)), "skipped": False, "diameter_cm": np.nan,
                "recurrence_points": {}}
        for i, pid in enumerate(pids):
            res = results.get(pid)
            if res is None:
                continue
            if not res["ok"]:
                reasons[i].append(res["reason"])
            elif np.isfinite(res["diameter_cm"]):
                mapped.loc[i, "diameter_cm"] = res["diameter_cm"]

    # last guard: no identifier of a row in its reasons (e.g. a value echoed by a
    # mis-mapped column)
    drop_cols = [c for c, t in cp.column_map.items() if t == "drop"]
    for i in range(len(reasons)):
        if reasons[i]:
            idents = [str(raw.at[i, c]) for c in drop_cols if pd.notna(raw.at[i, c])]
            scrub = _scrubber(mrns[i], pids[i], str(export or ""), idents)
            reasons[i] = [scrub(x) for x in reasons[i]]
    included = [not r for r in reasons]
    screening = pd.DataFrame({
        "pid": pids, "included": included,
        "reason": ["; ".join(r) for r in reasons],
        "reason_code": [reason_code(r[0]) if r else "" for r in reasons],
    }).sort_values(["pid", "reason"], kind="stable").reset_index(drop=True)
    keep = mapped[included].drop(columns=["patient_id", "rt_start"], errors="ignore")
    cohort_df = cohort.finalize_cohort(keep)
    inc_set = set(cohort_df.index)
    mrn_to_pid = {m: p for m, p in zip(mrns, pids, strict=True) if m}
    if clinical_only:
        rec = pd.DataFrame({"pid": pd.Series(dtype=str), "site_no": pd.Series(dtype=np.int64),
                            "x_mm": pd.Series(dtype=float), "y_mm": pd.Series(dtype=float),
                            "z_mm": pd.Series(dtype=float)})
    else:
        rec = _recurrence_table(export, mrn_to_pid, inc_set,
                                {p: r.get("recurrence_points", {}) for p, r in results.items()},
                                warn)
    # patients no longer included lose their folder (never a stale half patient)
    pat_root = store.root / "patients"
    if pat_root.is_dir():
        for d in pat_root.iterdir():
            if d.is_dir() and d.name not in inc_set:
                shutil.rmtree(d, ignore_errors=True)
    store.write_table("cohort", cohort_df)
    store.write_table("screening", screening)
    store.write_table("recurrences", rec)
    for w in warn:
        warnings.warn(w, stacklevel=2)
    seconds = time.perf_counter() - t0
    manifest = {
        "params_digest": params.digest(), "run_name": params.run_name,
        "source": cp.source, "n_screened": len(pids), "n_included": int(sum(included)),
        "n_skipped": int(sum(r.get("skipped", False) for r in results.values())),
        "seconds": round(seconds, 2), "version": __version__, "complete": True,
    }
    atomic_write_bytes(store.root / MANIFEST, json.dumps(manifest, indent=1).encode())
    excl = screening[~screening["included"]][["pid", "reason", "reason_code"]]
    return IngestResult(store_path=store.root, n_screened=len(pids),
                        n_included=int(sum(included)), n_skipped=manifest["n_skipped"],
                        exclusions=excl.reset_index(drop=True), screening=screening,
                        warnings=warn, seconds=seconds)


# --- Figure 1 -------------------------------------------------------------------------
def figure1_table(screening: pd.DataFrame) -> pd.DataFrame:
    """Figure 1 as a table: screened, excluded by reason (first reason), included."""
    n = len(screening)
    exc = screening[~screening["included"]]
    rows = [("screened", "", n)]
    counts = exc["reason_code"].value_counts()
    for code, label in REASON_LABELS.items():
        if counts.get(code, 0):
            rows.append(("excluded", label, int(counts[code])))
    rows.append(("excluded", "total", len(exc)))
    rows.append(("included", "", int(screening["included"].sum())))
    return pd.DataFrame(rows, columns=["step", "reason", "n"])


def figure1_flowchart(screening: pd.DataFrame, title: str = "Figure 1: patient screening"):
    """Figure 1 as a flowchart (matplotlib boxes and arrows): screened -> excluded -> included."""
    import matplotlib.pyplot as plt

    tab = figure1_table(screening)
    n_scr = int(tab.loc[tab.step == "screened", "n"].iloc[0])
    n_inc = int(tab.loc[tab.step == "included", "n"].iloc[0])
    reasons_ = tab[(tab.step == "excluded") & (tab.reason != "total")]
    n_exc = n_scr - n_inc
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.5", "fc": "white", "ec": "black", "lw": 1.2}
    ax.text(3, 9, f"Patients screened\nn = {n_scr}", ha="center", va="center", bbox=box,
            fontsize=11)
    exc_lines = [f"Excluded  n = {n_exc}"] + [f"  {r.reason}: {r.n}"
                                              for r in reasons_.itertuples()]
    ax.text(6.2, 5.5, "\n".join(exc_lines), ha="left", va="center", fontsize=9,
            bbox={**box, "fc": "#f6f6f6"})
    ax.text(3, 1.5, f"Patients included\nn = {n_inc}", ha="center", va="center", bbox=box,
            fontsize=11)
    arrow = {"arrowstyle": "-|>", "lw": 1.2, "color": "black"}
    ax.annotate("", xy=(3, 2.3), xytext=(3, 8.2), arrowprops=arrow)
    ax.annotate("", xy=(6.1, 5.5), xytext=(3, 5.5), arrowprops=arrow)
    ax.set_title(title, fontsize=11)
    return fig


def exclusion_list(screening: pd.DataFrame) -> pd.DataFrame:
    """Every excluded screened patient: pid, Figure 1 reason label, full reason(s)."""
    exc = screening[~screening["included"]]
    return pd.DataFrame({
        "pid": exc["pid"].to_numpy(),
        "reason": [REASON_LABELS.get(c, c) for c in exc["reason_code"]],
        "detail": exc["reason"].to_numpy(),
    })


def write_outputs(params, outputs, store: CohortStore | None = None) -> dict:
    """Figure 1 (flowchart + table), Table 3 with the paper's column and the exclusion
    list, written through ``outputs`` (an :class:`analysis.outputs.Outputs`).

    Returns
    -------
    dict
        ``figure1`` (Figure), ``figure1_table``, ``table3``, ``exclusions`` (DataFrames),
        for the notebook to display.
    """
    from analysis import paper

    store = store or CohortStore.for_params(params)
    scr = store.screening()
    coh = store.cohort()
    what = "synthetic phantom" if params.is_phantom else f"center {params.cohort.center}"
    fig = figure1_flowchart(scr, title=f"Figure 1: patient screening ({what})")
    outputs.figure(fig, "figure1_flowchart",
                   "Figure 1: screened -> excluded by reason -> included")
    f1 = outputs.table(figure1_table(scr), "figure1_table",
                       "Figure 1 as a table (first reason of each excluded patient)",
                       index=False)
    t3 = outputs.table(
        cohort.table3(coh, paper.TABLE3, paper_n=paper.N_PATIENTS,
                      age_median=paper.AGE_MEDIAN, age_mean=paper.AGE_MEAN).reset_index(),
        "table3", "Table 3: baseline characteristics, n and % (this run) beside the paper "
                  "(n = 180)", index=False)
    ex = outputs.table(exclusion_list(scr), "exclusions",
                       "Excluded patients (pseudonyms) and their reasons", index=False)
    return {"figure1": fig, "figure1_table": f1, "table3": t3, "exclusions": ex}
