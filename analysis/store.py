"""The cohort store: one folder per pseudonymous patient, one cohort table.

Layout (docs/data_layout.md)::

    <root>/cohort.parquet        canonical columns, one row per included patient, index pid
    <root>/screening.parquet     pid, included, reason (every screened patient)
    <root>/recurrences.parquet   pid, site_no, x_mm, y_mm, z_mm
    <root>/analysis_ledger.parquet  which patients and maps 03-07 analyse (03_partition)
    <root>/patients/<pid>/<name>.nii.gz   ct, gtv, gtvnd, ctv, stations_ref, stations_pred,
                                          stations_cv
    <root>/patients/<pid>/meta.json       grid, input hash
    <root>/COMPLETE.json         written last by 01_ingest: the digests of its table set

All volumes of a patient are on its CT grid. Every write is atomic
(:func:`analysis.fsutil.atomic_write`), so a crash never leaves half a file.

One run at a time: a run holds an exclusive lock on ``<root>/RUN.lock``
(:meth:`CohortStore.lock`); a second run on the same store refuses, naming the first's pid
and start time; the lock of a process that died is released by the kernel and taken over
with a note.

Completeness: 01_ingest removes ``COMPLETE.json`` before it changes anything and writes
it after its last table, holding the SHA-256 of each table of :data:`INGEST_TABLES` and
whether the store holds images. :meth:`CohortStore.require_complete` (called by
:meth:`CohortStore.for_params`, which the notebooks after 01 use) refuses a store without
it, or whose tables no longer match it, with a message saying to rerun 01_ingest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paths
from analysis.fsutil import atomic_write, atomic_write_bytes, sha256_file
from analysis.grid import Grid
from analysis.io import read_nifti, write_nifti
from analysis.labels import FEATURE_NAMES

#: volume names a patient folder may hold, and their dtypes
VOLUMES: dict[str, type] = {
    "ct": np.int16,
    "gtv": bool,
    "gtvnd": bool,
    "ctv": bool,
    "stations_ref": np.uint8,
    "stations_pred": np.uint8,
    "stations_cv": np.uint8,  # out-of-fold prediction of segment.cv_folds
}


@dataclass(frozen=True)
class StoreTable:
    """One table of the store: its name, the step that writes it, the steps that read it."""

    name: str
    writer: str
    readers: tuple[str, ...]
    holds: str


#: the store's tables, beside :data:`VOLUMES`: the one place a table name is spelled
#: (steps name a table through the constants below)
COHORT, SCREENING, RECURRENCES = "cohort", "screening", "recurrences"
SEGMENT_QC, PARTITION_FEATURES = "segment_qc", "partition_features"
PARTITION_VOLUMES, PARTITION_FAILURES = "partition_volumes", "partition_failures"
PARTITION_WARNINGS = "partition_warnings"
AGREEMENT_FEATURES_REF, AGREEMENT_FEATURES_AI = "agreement_features_ref", "agreement_features_ai"
AGREEMENT_FEATURE_ICC, AGREEMENT_SITES = "agreement_feature_icc", "agreement_sites"
ANALYSIS_LEDGER = "analysis_ledger"
TABLES: dict[str, StoreTable] = {t.name: t for t in (
    StoreTable(COHORT, "01_ingest", ("02_segment", "03_partition", "04_recurrence",
                                     "05_survival", "06_model", "07_model_eval", "report"),
               "canonical clinical columns, one row per included patient, index pid"),
    StoreTable(SCREENING, "01_ingest", ("01_ingest", "03_partition", "report"),
               "every screened patient: included, reason"),
    StoreTable(RECURRENCES, "01_ingest", ("04_recurrence",),
               "recurrence sites: pid, site_no, x_mm, y_mm, z_mm (LPS)"),
    StoreTable(SEGMENT_QC, "02_segment", ("03_partition", "report"),
               "segmentation QC of each prediction: usable, reasons"),
    StoreTable(PARTITION_FEATURES, "03_partition", ("04_recurrence", "05_survival",
                                                    "06_model", "07_model_eval"),
               "the 110 partition parameters (SPEC Table 2), index pid"),
    StoreTable(ANALYSIS_LEDGER, "03_partition", ("02_segment", "04_recurrence", "05_survival",
                                                 "06_model", "07_model_eval", "report"),
               "which patients and station maps every step after 02 analyses, with the "
               "step and reason of each exclusion (analysis.ledger)"),
    StoreTable(PARTITION_VOLUMES, "03_partition", ("03_partition",),
               "structure and station volumes per patient"),
    StoreTable(PARTITION_FAILURES, "03_partition", ("03_partition",),
               "patients whose partition failed, with the reason"),
    StoreTable(PARTITION_WARNINGS, "03_partition", ("03_partition",),
               "partition warnings per patient"),
    StoreTable(AGREEMENT_FEATURES_REF, "03_partition", ("07_model_eval",),
               "the 110 parameters on the reference stations (AI vs reference, issue 25)"),
    StoreTable(AGREEMENT_FEATURES_AI, "03_partition", ("07_model_eval",),
               "the 110 parameters on the AI stations (AI vs reference, issue 25)"),
    StoreTable(AGREEMENT_FEATURE_ICC, "03_partition", ("07_model_eval",),
               "ICC of each parameter, AI vs reference and second observers"),
    StoreTable(AGREEMENT_SITES, "04_recurrence", ("07_model_eval",),
               "each recurrence site assigned on both maps"),
)}
#: the tables 01_ingest writes as one set (their digests are in COMPLETE.json)
INGEST_TABLES: tuple[str, ...] = (COHORT, SCREENING, RECURRENCES)
#: the completion marker, written last by 01_ingest
COMPLETE = "COMPLETE.json"


class StoreError(LookupError):
    """A missing patient, volume or table in the cohort store."""


class IncompleteStoreError(StoreError):
    """A store that 01_ingest did not finish writing (or that was changed since)."""


class StoreWriteError(OSError):
    """A write to the cohort store failed (disk full, read-only, permission): never a
    property of a patient's data, so the run stops instead of excluding the patient."""


class StoreLockedError(RuntimeError):
    """Another live run holds the store's lock."""


#: the lock file of a store (see :meth:`CohortStore.lock`)
LOCK = "RUN.lock"
#: environment variable carrying the token of the lock a parent process holds (the
#: report runner), so that its notebook kernels run inside that lock
LOCK_TOKEN_ENV = "SCLC_STORE_LOCK_TOKEN"


def rerun_hint(params_source: str | None) -> str:
    """What makes a cohort store: ``make report PARAMS=...`` (or 01_ingest alone).

    Example: ``rerun_hint("params/ci.yaml")`` -> ``"made by params/ci.yaml: run make
    report PARAMS=params/ci.yaml (or its first step only: make report-01
    PARAMS=params/ci.yaml)"``.
    """
    if params_source is None:
        params_source = "<your params file>"
    arg = f"PARAMS={params_source}"
    return (f"made by {params_source}: run make report {arg} (or its first step only: "
            f"make report-01 {arg})")


class CohortStore:
    """Read and write a cohort store rooted at ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_params(cls, params, *, check_complete: bool = True) -> CohortStore:
        """The store of ``params.run_name``; checked complete unless ``check_complete``
        is False (01_ingest itself, which writes it)."""
        store = cls(paths.store_dir(params.run_name))
        if check_complete:
            store.require_complete(params.source)
        return store

    # --- one run at a time -----------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, what: str = "run") -> Iterator[dict]:
        """Hold the store's lock (:data:`LOCK`) for the duration of a run.

        The lock is an exclusive ``flock`` on ``<root>/RUN.lock``, which holds the owner's
        pid, host, start time and a random token while the run lasts and is emptied when
        it ends. A second run on the same store refuses with :class:`StoreLockedError`
        naming the first (pid, host, start time). The kernel releases the lock of a
        process that dies, so a killed run never blocks the next one; its content, left
        behind, is reported as taken over (``"stale"`` in the yielded dict). A process
        whose environment carries the holder's token (:data:`LOCK_TOKEN_ENV`, set by the
        report runner for its kernels) runs inside that lock and releases nothing.
        Yields the lock's content.
        """
        path = self.root / LOCK
        held = self._read_lock()
        if held is not None and held.get("token") and \
                held.get("token") == os.environ.get(LOCK_TOKEN_ENV):
            yield held
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StoreWriteError(err.errno, err.strerror or type(err).__name__) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held = self._read_lock() or {}
                raise StoreLockedError(
                    f"cohort store {self.root.name}: in use by another run (pid "
                    f"{held.get('pid', '?')} on {held.get('host', '?')}, "
                    f"{held.get('what', 'run')} started {held.get('started', '?')}); wait "
                    "for it to finish") from None
            stale = self._read_lock()  # content left by a run that died holding it
            info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "token": secrets.token_hex(16)}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            try:
                yield {**info, "stale": stale}
            finally:
                os.ftruncate(fd, 0)  # free; never unlinked (another run may hold it open)
        finally:
            os.close(fd)  # releases the flock

    def _read_lock(self) -> dict | None:
        try:
            data = json.loads((self.root / LOCK).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and "pid" in data else None

    # --- completeness -------------------------------------------------------------
    def mark_incomplete(self) -> None:
        """Remove the completion marker (01_ingest calls it before changing anything)."""
        (self.root / COMPLETE).unlink(missing_ok=True)

    def mark_complete(self, *, imaging: bool, extra: dict | None = None) -> Path:
        """Write the completion marker: digests of :data:`INGEST_TABLES`, ``imaging``."""
        marker = {"tables": {t: sha256_file(self._table_path(t)) for t in INGEST_TABLES},
                  "imaging": bool(imaging), **(extra or {})}
        return atomic_write_bytes(self.root / COMPLETE,
                                  json.dumps(marker, indent=1, sort_keys=True).encode())

    def completion(self) -> dict | None:
        """The completion marker's content, or None when absent or unreadable."""
        try:
            return json.loads((self.root / COMPLETE).read_text())
        except (OSError, ValueError):
            return None

    def require_complete(self, params_source: str | None = None) -> None:
        """Raise :class:`IncompleteStoreError` unless 01_ingest finished this store and
        its tables are the ones it wrote; the message names the params file
        (``params_source``) and the ``make`` command that writes the store."""
        marker = self.completion()
        fix = rerun_hint(params_source)
        if marker is None:
            made = any(self._table_path(t).exists() for t in INGEST_TABLES)
            what = (f"is incomplete (no {COMPLETE}: 01_ingest did not finish)" if made
                    else "has not been made")
            raise IncompleteStoreError(f"cohort store {self.root.name} {what}; {fix}")
        for t, digest in marker.get("tables", {}).items():
            path = self._table_path(t)
            if not path.exists() or sha256_file(path) != digest:
                raise IncompleteStoreError(
                    f"cohort store {self.root.name}: table {t} differs from what 01_ingest "
                    f"wrote (changed or removed since); {fix}")

    def has_imaging(self) -> bool:
        """Whether the store holds images (False for a clinical-only cohort): from the
        completion marker, else from the patient folders."""
        marker = self.completion()
        if marker is not None and "imaging" in marker:
            return bool(marker["imaging"])
        pat = self.root / "patients"
        return pat.is_dir() and any(pat.glob("*/meta.json"))

    # --- tables -------------------------------------------------------------------
    def _table_path(self, name: str) -> Path:
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; known: {', '.join(TABLES)} "
                             "(analysis.store.TABLES)")
        return self.root / f"{name}.parquet"

    def has_table(self, name: str) -> bool:
        """Whether the table ``name`` (cohort, screening, partition_features, ...) exists."""
        return self._table_path(name).exists()

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        """Write a table (cohort, screening, recurrences, ...) atomically as Parquet."""
        return atomic_write(self._table_path(name), df.to_parquet)

    def read_table(self, name: str) -> pd.DataFrame:
        path = self._table_path(name)
        if not path.exists():
            raise StoreError(f"{path}: no table {name!r} in the cohort store (run 01_ingest)")
        return pd.read_parquet(path)

    def cohort(self) -> pd.DataFrame:
        return self.read_table(COHORT)

    def screening(self) -> pd.DataFrame:
        return self.read_table(SCREENING)

    def recurrences(self) -> pd.DataFrame:
        return self.read_table(RECURRENCES)

    def partition_features(self) -> pd.DataFrame:
        """The partition feature table (written by 03_partition), checked.

        Returns
        -------
        DataFrame of shape (patients, 110)
            Index ``pid``; columns exactly :data:`analysis.labels.FEATURE_NAMES`, in
            SPEC order; float values.

        Raises
        ------
        StoreError
            When the table is missing, or its index or columns differ: the message names
            the missing, unexpected or misordered columns.
        """
        path = self._table_path(PARTITION_FEATURES)
        if not path.exists():
            raise StoreError(f"{path}: no partition feature table in the cohort store "
                             "(run 03_partition)")
        df = pd.read_parquet(path)
        want = list(FEATURE_NAMES)
        have = [str(c) for c in df.columns]
        missing = [c for c in want if c not in have]
        extra = [c for c in have if c not in want]
        problems = []
        if df.index.name != "pid":
            problems.append(f"index is {df.index.name!r}, expected 'pid'")
        if missing:
            problems.append(f"{len(missing)} column(s) missing: {', '.join(missing[:8])}"
                            + (" ..." if len(missing) > 8 else ""))
        if extra:
            problems.append(f"{len(extra)} unexpected column(s): {', '.join(extra[:8])}"
                            + (" ..." if len(extra) > 8 else ""))
        if not missing and not extra and have != want:
            first = next(i for i, (a, b) in enumerate(zip(have, want, strict=True)) if a != b)
            problems.append(f"columns not in SPEC order (position {first + 1}: "
                            f"{have[first]!r}, expected {want[first]!r})")
        if problems:
            raise StoreError(f"{path}: not the 110 partition features of SPEC Table 2: "
                             + "; ".join(problems))
        return df

    # --- patients -----------------------------------------------------------------
    def patient_dir(self, pid: str) -> Path:
        return self.root / "patients" / pid

    def patient_ids(self) -> list[str]:
        """Included patients (the cohort table's index), sorted."""
        return sorted(self.cohort().index.astype(str))

    def has(self, pid: str, name: str) -> bool:
        return (self.patient_dir(pid) / f"{name}.nii.gz").exists()

    def read(self, pid: str, name: str) -> np.ndarray:
        """Volume ``name`` of patient ``pid`` as an array (z, y, x) of its canonical dtype."""
        if name not in VOLUMES:
            raise StoreError(f"unknown volume {name!r}; known: {', '.join(VOLUMES)}")
        path = self.patient_dir(pid) / f"{name}.nii.gz"
        if not path.exists():
            raise StoreError(f"patient {pid}: no {name} in the cohort store ({path})")
        arr, _ = read_nifti(path)
        return arr.astype(VOLUMES[name], copy=False)

    def grid(self, pid: str) -> Grid:
        """The CT grid of patient ``pid`` (from meta.json)."""
        return Grid.from_dict(self.meta(pid)["grid"])

    def meta(self, pid: str) -> dict:
        path = self.patient_dir(pid) / "meta.json"
        if not path.exists():
            raise StoreError(f"patient {pid}: no meta.json in the cohort store ({path})")
        return json.loads(path.read_text())

    def write_meta(self, pid: str, meta: dict) -> None:
        atomic_write_bytes(self.patient_dir(pid) / "meta.json",
                           json.dumps(meta, indent=1, sort_keys=True).encode())

    def write(self, pid: str, name: str, array: np.ndarray, grid: Grid) -> Path:
        """Write volume ``name`` of ``pid`` atomically; it must lie on the patient's CT grid."""
        if name not in VOLUMES:
            raise StoreError(f"unknown volume {name!r}; known: {', '.join(VOLUMES)}")
        meta_path = self.patient_dir(pid) / "meta.json"
        if meta_path.exists() and not self.grid(pid).same_as(grid):
            raise StoreError(f"patient {pid}: {name} grid {grid} differs from the CT grid "
                             f"{self.grid(pid)}")
        return write_nifti(self.patient_dir(pid) / f"{name}.nii.gz",
                           np.asarray(array).astype(VOLUMES[name]), grid)
