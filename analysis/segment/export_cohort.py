"""A cohort's station exports: what 02_segment and ``make export`` write.

For every analysed patient (:func:`analysed_patients`), the station map the analysis
uses (:func:`export_volume`) is written by :func:`analysis.segment.export.export_patient`
into ``data/exports/<run>/<pid>/`` (:func:`analysis.paths.stations_export_dir`):
``stations_pred.nii.gz`` with its 3D Slicer colour table, ``RS_stations.dcm`` (RTSTRUCT)
and ``SEG_stations.dcm`` (DICOM-SEG). A patient read from DICOM is exported on its own
CT frame: the RTSTRUCT and SEG reference the department's series, found again among the
files ingest read (:func:`department_series`; ``segment.export_department_uids``). A
patient read from NIfTI, or with ``export_department_uids: false``, gets a pseudonymous
copy of its CT (``CT/``, fresh UIDs) that the RTSTRUCT and SEG reference.

The folder holds ``exports.csv`` (one row per patient: which map, its QC verdict, which
frame, the files, or why it failed), the cohort's colour table and a README; a patient
folder left from an earlier run whose patient is no longer analysed is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from analysis import paths
from analysis.fsutil import atomic_write_bytes
from analysis.ingest.layout import resolve_images
from analysis.ingest.run import export_dir_for, record_numbers_by_pid
from analysis.io.dicom_scan import files_under
from analysis.ledger import ledger_for
from analysis.scheduling.parallel import map_patients
from analysis.segment.export import NIFTI_NAME, export_patient, write_color_table
from analysis.store import SEGMENT_QC, CohortStore, StoreError

#: the export folder's index
EXPORT_TABLE = "exports.csv"
EXPORT_COLUMNS = ("pid", "map", "qc_usable", "frame", "status", "reason", "nifti",
                  "color_table", "rtstruct", "seg", "ct")
README = """Station exports of run {run}: one folder per analysed patient (pid).

  stations_pred.nii.gz + stations_pred_ColorTable.ctbl   3D Slicer: load both (labels 1-16
                                                         named LN_<station>, coloured)
  RS_stations.dcm    RTSTRUCT, one ROI per station (LN_1R ... LN_11L)
  SEG_stations.dcm   DICOM-SEG (binary), one segment per station
  CT/                a pseudonymous copy of the CT (only when the export does not
                     reference the department's own series: see exports.csv, frame)

exports.csv says, per patient, which station map was exported (stations_pred, or
stations_cv with analysis.stations: cv), its segmentation QC verdict, and whether the
files reference the department's CT (frame "department CT") or the copy in CT/.
Every identity field is the pid. Written by 02_segment and `make export PARAMS=...`.
"""


def export_volume(params) -> str:
    """The store volume exported: the station map the analysis uses (``stations_cv``
    with ``analysis.stations: cv``, else the predicted ``stations_pred``)."""
    return "stations_cv" if params.analysis.stations == "cv" else "stations_pred"


def _qc_usable(store: CohortStore) -> dict[str, bool]:
    """pid -> segmentation QC verdict (store table ``segment_qc``); empty without it."""
    try:
        qc = store.read_table(SEGMENT_QC)
    except StoreError:
        return {}
    if "pid" in qc.columns:
        qc = qc.set_index("pid")
    return {str(p): bool(u) for p, u in qc["usable"].items()}


def analysed_patients(store: CohortStore, params) -> list[str]:
    """The patients the run analyses, in store order: the analysis ledger's analysed set
    (:func:`analysis.ledger.ledger_for`: 03's written ledger, or the same decision built
    now when 02 exports before 03 has run: included, QC usable or kept by
    ``analysis.include_qc_failed``, the chosen map present, a usable outcome)."""
    analysed = set(ledger_for(store, params).analysed)
    return [p for p in store.patient_ids() if p in analysed]


def department_series(params, pids: list[str]) -> dict[str, list[Path]]:
    """pid -> the files of its DICOM CT folder or series, as ingest found them
    (:func:`analysis.ingest.layout.resolve_images`); patients read from NIfTI, or whose
    files are gone, are absent (they are exported with a CT copy), and so is everyone
    when the pseudonym key is missing (no record number can then be matched)."""
    export = export_dir_for(params)
    key = paths.resolve(params.ingest.pseudonym_key_file)
    if not export.is_dir() or not pids or not key.is_file():
        return {}
    mrn = record_numbers_by_pid(params)
    images = resolve_images(export, {p: mrn[p] for p in pids if p in mrn})
    out = {}
    for pid, img in images.items():
        if img.reason or img.format != "dicom":
            continue
        files = list(img.ct_files) or files_under(img.folder / "CT")
        if files:
            out[pid] = files
    return out


def _export_one(args: tuple) -> dict:
    root, pid, out, series, volume = args
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)  # never a stale CT copy beside new files
    files = export_patient(CohortStore(root), pid, out, ct_series_dir=series,
                           keep_department_uids=series is not None, volume=volume)
    return {k: str(Path(v).relative_to(out.parent)) for k, v in files.items()}


def export_cohort(store: CohortStore, params, out_dir: str | Path | None = None, *,
                  patients: list[str] | None = None) -> pd.DataFrame:
    """Export the stations of ``patients`` (default :func:`analysed_patients`) into
    ``out_dir`` (default the run's :func:`analysis.paths.stations_export_dir`); see the
    module docstring.

    Returns
    -------
    DataFrame, one row per patient (:data:`EXPORT_COLUMNS`), also written as
    ``exports.csv``; file paths relative to ``out_dir``. A patient whose export failed
    (e.g. no station predicted: a SEG needs a segment) has status ``failed`` and the
    reason; the others are still written.
    """
    out_dir = Path(out_dir) if out_dir is not None else \
        paths.stations_export_dir(params.run_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    volume = export_volume(params)
    pids = analysed_patients(store, params) if patients is None else list(patients)
    missing = [p for p in pids if not store.has(p, volume)]
    pids = [p for p in pids if p not in missing]
    series = department_series(params, pids) if params.segment.export_department_uids \
        else {}
    tasks = {p: (str(store.root), p, str(out_dir / p), series.get(p), volume) for p in pids}
    res = map_patients(_export_one, tasks, scheduler=params.scheduler,
                       n_workers=params.n_workers, desc="export")
    usable = _qc_usable(store)
    rows = []
    for p in [*pids, *missing]:
        row = {"pid": p, "map": volume, "qc_usable": usable.get(p),
               "frame": "department CT" if p in series else "CT copy (CT/)",
               "status": "written", "reason": ""}
        if p in missing:
            row.update(frame="", status="failed", reason=f"no {volume} in the store")
        elif p in res.failures:
            row.update(status="failed", reason=str(res.failures[p]))
        else:
            row.update(res.results[p])
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    for d in out_dir.iterdir():  # patients exported earlier and no longer analysed
        if d.is_dir() and d.name not in tasks and (d / NIFTI_NAME).exists():
            shutil.rmtree(d, ignore_errors=True)
    atomic_write_bytes(out_dir / EXPORT_TABLE, table.to_csv(index=False).encode())
    write_color_table(out_dir / "stations_ColorTable.ctbl")
    atomic_write_bytes(out_dir / "README.txt", README.format(run=params.run_name).encode())
    return table


def exports_for_params(store: CohortStore, params) -> pd.DataFrame:
    """What 02_segment shows: :func:`export_cohort` into the run's export folder and its
    :func:`exports_summary`; with ``segment.export: false`` a one-row table saying that
    nothing was written and how to write them."""
    if not params.segment.export:
        return pd.DataFrame([{"item": "not written", "n": 0,
                              "note": "segment.export is false; make export PARAMS=... "
                                      "writes them"}]).set_index("item")
    out_dir = paths.stations_export_dir(params.run_name)
    return exports_summary(export_cohort(store, params, out_dir), out_dir)


def exports_summary(table: pd.DataFrame, out_dir: str | Path | None = None) -> pd.DataFrame:
    """Counts for the report: patients exported on the department's CT, with a CT copy,
    failed (and why), and where the files are (``<data>/exports/<run>``, the data folder
    never spelled out); no pid."""
    ok = table["status"] == "written"
    rows = [{"item": "patients exported", "n": int(ok.sum()), "note": ""},
            {"item": "on the department's CT (its UIDs)",
             "n": int((ok & (table["frame"] == "department CT")).sum()), "note": ""},
            {"item": "with a pseudonymous CT copy",
             "n": int((ok & (table["frame"] != "department CT")).sum()), "note": ""}]
    for why, n in table.loc[~ok, "reason"].value_counts().items():
        rows.append({"item": "failed", "n": int(n), "note": str(why)})
    if out_dir is not None:  # never an absolute path in a report: <data>/exports/<run>
        where = Path(out_dir)
        shown = f"<data>/{where.relative_to(paths.DATA_DIR).as_posix()}" \
            if where.is_relative_to(paths.DATA_DIR) else where.name
        rows.append({"item": "folder", "n": len(table), "note": shown})
    return pd.DataFrame(rows).set_index("item")
