"""What the report runner hashes and decides about a run's inputs (no notebook runs here).

* :func:`source_digest`: the package's sources (part of every stamp);
* :func:`input_content_digest`: the cohort's input content (part of 01_ingest's stamp):
  every file of the export folder, or the clinical table of a clinical-only cohort;
* :func:`input_hashes`, :func:`folder_digest`: identifier-free summaries for the manifest;
* :func:`params_without_paths`: the params for the manifest, paths replaced by digests;
* :data:`IMAGING_NOTEBOOKS`, :func:`needs_imaging`, :func:`imaging_skip_reason`: which
  notebooks a store without images skips, and why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from analysis import paths
from analysis.fsutil import sha256_bytes, sha256_file, sha256_tree
from analysis.ledger import read_ledger, recurrence_skip_reason, survival_skip_reason
from analysis.model.fit import skip_reason as model_skip_reason
from analysis.params import Params
from analysis.store import CohortStore, StoreError


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


#: notebooks that need images in the cohort store; skipped for a clinical-only cohort.
#: 06/07 need the partition features of 03; a notebook that can run without images says
#: so in its metadata, ``{"sclc": {"needs_imaging": false}}``, and is then run.
IMAGING_NOTEBOOKS: tuple[str, ...] = ("02_segment", "03_partition", "04_recurrence",
                                      "06_model", "07_model_eval")



# --- hashing --------------------------------------------------------------------------



def source_digest(package_dir: Path | None = None) -> str:
    """SHA-256 over (relative path, bytes) of every ``*.py`` under the package, sorted."""
    root = package_dir or paths.REPO_ROOT / "analysis"
    return sha256_tree([f for f in root.rglob("*.py") if "__pycache__" not in f.parts], root)


def input_content_digest(params: Params, data_root: Path | None = None) -> str:
    """SHA-256 of the cohort's input content: every file (relative name and bytes) of the
    export folder (the phantom's or a department's), or the clinical table alone for a
    clinical-only cohort; ``"absent"`` when there is nothing to read yet."""
    if params.cohort.source == "clinical_only":
        csv = paths.resolve(params.cohort.clinical_csv) if params.cohort.clinical_csv \
            else None
        return sha256_file(csv) if csv is not None and csv.is_file() else "absent"
    edir = (phantom_dir(params, data_root) / "export" if params.is_phantom
            else paths.resolve(params.cohort.export_dir) if params.cohort.export_dir
            else None)
    if edir is None or not edir.is_dir():
        return "absent"
    files = [f for f in edir.rglob("*") if f.is_file()]
    digest = sha256_tree(files, edir)
    if params.cohort.clinical_csv:
        csv = paths.resolve(params.cohort.clinical_csv)
        digest = sha256_bytes(f"{digest}:{sha256_file(csv) if csv.is_file() else ''}"
                               .encode())
    return digest


def store_dir(params: Params, data_root: Path | None = None) -> Path:
    """``analysis.paths.store_dir`` of the run, moved under ``data_root`` when given."""
    sdir = paths.store_dir(params.run_name)
    return sdir if data_root is None else Path(data_root) / sdir.relative_to(paths.DATA_DIR)


def needs_imaging(name: str, src: Path) -> bool:
    """The notebook's own metadata ``sclc.needs_imaging`` when set, else whether it is
    one of :data:`IMAGING_NOTEBOOKS`."""
    meta = (_read_json(src) or {}).get("metadata", {})
    flag = meta.get("sclc", {}).get("needs_imaging")
    return bool(flag) if flag is not None else name in IMAGING_NOTEBOOKS


def imaging_skip_reason(params: Params, data_root: Path | None) -> str | None:
    """Why the imaging notebooks are skipped (a store without images), else None."""
    store = CohortStore(store_dir(params, data_root))
    if store.completion() is None or store.has_imaging():
        return None
    return (f"skipped: the cohort store holds no images (cohort.source "
            f"{params.cohort.source}); this notebook needs them")


#: the notebooks the analysis ledger may skip (too few analysed patients), with a reason
LEDGER_NOTEBOOKS: tuple[str, ...] = ("04_recurrence", "05_survival", "06_model",
                                     "07_model_eval")


def ledger_skip_reason(name: str, params: Params, data_root: Path | None) -> str | None:
    """Why notebook ``name`` is skipped on the analysis ledger's analysed patients (none
    with images for 04; fewer than ``analysis.min_patients_survival`` or no event for
    05; an outcome class smaller than ``analysis.min_per_class`` for 06 and 07), else
    None. None too when the store or the ledger cannot be read: the notebook then runs
    and names what is missing."""
    if name not in LEDGER_NOTEBOOKS:
        return None
    store = CohortStore(store_dir(params, data_root))
    if store.completion() is None:
        return None
    try:
        ledger = read_ledger(store, params)
    except StoreError:
        return None
    if name == "04_recurrence":
        why = recurrence_skip_reason(ledger) if ledger.imaging else None
    elif name == "05_survival":
        why = survival_skip_reason(ledger, store, params)
    else:
        try:
            why = model_skip_reason(store, params, ledger)
        except ValueError as err:  # labels that cannot be made: the notebook says why
            why = f"no model labels ({err})"
    return None if why is None else f"skipped: {why}"


def folder_digest(root: Path) -> dict:
    """Cheap, identifier-free summary of an input folder.

    Text tables (``*.csv``, ``*.json``) are hashed by content; other files (images) by
    (relative path, size). Only the digests and counts are returned, never a file name,
    because folder names of an export are record numbers.
    """
    content, listing = hashlib.sha256(), hashlib.sha256()
    n_files, n_bytes = 0, 0
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        size = f.stat().st_size
        n_files += 1
        n_bytes += size
        listing.update(f"{rel}\0{size}\n".encode())
        if f.suffix.lower() in {".csv", ".json"}:
            content.update(f"{rel}\0{sha256_file(f)}\n".encode())
    return {"n_files": n_files, "n_bytes": n_bytes, "tables_sha256": content.hexdigest(),
            "listing_sha256": listing.hexdigest()}


def input_hashes(params: Params, data_root: Path | None = None) -> dict:
    """Hashes of the cohort's inputs (the phantom export, a department export, a table)."""
    out: dict = {"source": params.cohort.source}
    if params.is_phantom:
        pdir = phantom_dir(params, data_root)
        truth = sorted(pdir.rglob("truth.json")) if pdir.is_dir() else []
        out["truth_json_sha256"] = sha256_file(truth[0]) if truth else None
        out["phantom_export"] = folder_digest(pdir) if pdir.is_dir() else None
    elif params.cohort.export_dir:
        edir = paths.resolve(params.cohort.export_dir)
        out["export"] = folder_digest(edir) if edir.is_dir() else None
    if params.cohort.clinical_csv:
        csv = paths.resolve(params.cohort.clinical_csv)
        out["clinical_csv_sha256"] = sha256_file(csv) if csv.is_file() else None
    return out


def phantom_dir(params: Params, data_root: Path | None = None) -> Path:
    """``analysis.paths.phantom_dir`` of the run, moved under ``data_root`` when given."""
    pdir = paths.phantom_dir(params.run_name)
    return pdir if data_root is None else Path(data_root) / pdir.relative_to(paths.DATA_DIR)


def params_without_paths(params: Params) -> dict:
    """The params as JSON, the export folder and clinical table replaced by the SHA-256
    of their path (a department path can name the patient cohort or a person)."""
    d = params.model_dump(mode="json")
    for k in ("export_dir", "clinical_csv"):
        if d["cohort"].get(k):
            d["cohort"][k] = {"path_sha256": sha256_bytes(str(d["cohort"][k]).encode())}
    return d
