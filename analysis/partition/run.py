"""The cohort: the 110 features of every patient, cached per patient, in parallel.

:func:`partition_table` maps :func:`compute_patient` over a cohort store (or a mapping of
arrays) with :func:`analysis.scheduling.parallel.map_patients`, caching each patient under the
content hash :func:`job_hash`; :class:`PartitionTable` writes the feature table
(``partition_features.parquet`` / ``.csv``) and its side tables atomically
(:func:`analysis.fsutil.atomic_write`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from analysis.fsutil import atomic_write
from analysis.labels import FEATURE_NAMES
from analysis.ledger import STATION_VOLUME, Ledger, build_ledger, write_ledger
from analysis.partition.counting import (
    PARTITION_CODE_VERSION,
    GtvDefinition,
    PartitionWarning,
    _check_definition,
    check_inputs,
)
from analysis.partition.formulas import partition_parameters, structure_volumes_cm3
from analysis.scheduling.parallel import input_digest, map_patients
from analysis.store import (
    PARTITION_FAILURES,
    PARTITION_FEATURES,
    PARTITION_VOLUMES,
    PARTITION_WARNINGS,
    CohortStore,
)

#: file names in the output folder (the model and recurrence notebooks read the Parquet)
FEATURES_PARQUET = f"{PARTITION_FEATURES}.parquet"
FEATURES_CSV = f"{PARTITION_FEATURES}.csv"


StationSource = Literal["reference", "predicted", "cv"]
#: store volume of each station source: reference (export), predicted (02_segment), or
#: out-of-fold predictions of 02_segment's cross-validation (segment.cv_folds)
_STATION_VOLUME = STATION_VOLUME
_INPUTS = ("ctv", "gtv", "gtvnd", "stations")


@dataclass(frozen=True)
class PartitionJob:
    """One patient's input to :func:`partition_table`: arrays, or a patient of a store."""

    gtv_definition: str
    pid: str
    #: (ctv, gtv, gtvnd, stations, spacing_mm), or None to read from ``store_root``
    arrays: tuple | None = None
    store_root: str | None = None
    #: store volume used as the station map (stations_ref or stations_pred)
    station_volume: str = "stations_ref"

    def files(self) -> dict[str, Path]:
        d = Path(str(self.store_root)) / "patients" / self.pid
        names = dict(zip(_INPUTS, ("ctv", "gtv", "gtvnd", self.station_volume), strict=True))
        return {k: d / f"{v}.nii.gz" for k, v in names.items()}


def job_hash(job: PartitionJob) -> str:
    """Content hash of a patient's inputs (the cache key of :func:`partition_table`).

    SHA-256 of :data:`PARTITION_CODE_VERSION`, ``gtv_definition`` and either the four
    arrays (dtype, shape, bytes) and the spacing, or the bytes of the four stored files
    and of the patient's ``meta.json`` (its grid). A missing file hashes as "missing",
    so the patient fails (and is reported) when computed rather than here.
    """
    head = ("partition", PARTITION_CODE_VERSION, job.gtv_definition)
    if job.arrays is not None:
        arrays = [np.asarray(a) for a in job.arrays[:4]]
        spacing = [float(s) for s in np.ravel(job.arrays[4])]
        return input_digest(*head, arrays, spacing)
    files = job.files()
    files["meta"] = files["ctv"].with_name("meta.json")
    return input_digest(*head, {k: (p if p.is_file() else f"missing {p.name}")
                                for k, p in files.items()})


def _load(job: PartitionJob) -> tuple:
    if job.arrays is not None:
        return job.arrays

    store = CohortStore(str(job.store_root))
    missing = [p.name for p in job.files().values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"patient {job.pid}: no {', '.join(missing)} in the cohort "
                                "store")
    names = ("ctv", "gtv", "gtvnd", job.station_volume)
    return tuple(store.read(job.pid, n) for n in names) + (store.grid(job.pid).spacing_mm,)


def compute_patient(job: PartitionJob) -> dict:
    """One patient (runs in a worker): the 110 features, the cm^3 volumes, the warnings.

    Returns a plain dict ``{"features": [110 floats], "volumes": {name: cm3},
    "warnings": [messages]}``.
    """
    ctv, gtv, gtvnd, st, sp = _load(job)
    ctv, gtv, gtvnd, st, sp = check_inputs(ctv, gtv, gtvnd, st, sp,
                                           where=f"patient {job.pid}")
    definition = job.gtv_definition
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartitionWarning)
        feats = partition_parameters(ctv, gtv, gtvnd, st, sp,
                                     gtv_definition=definition)  # type: ignore[arg-type]
        vols = structure_volumes_cm3(ctv, gtv, gtvnd, st, sp,
                                     gtv_definition=definition)  # type: ignore[arg-type]
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, PartitionWarning)})
    return {"features": [float(v) for v in feats], "volumes": vols.to_dict(),
            "warnings": msgs}


@dataclass
class PartitionTable:
    """Result of :func:`partition_table`.

    Attributes
    ----------
    features : DataFrame, index ``pid``, the 110 columns of FEATURE_NAMES in order
    volumes : DataFrame, index ``pid``, the extra cm^3 columns (structure_volumes_cm3)
    failures : DataFrame, index ``pid``, column ``error``: every patient that failed
        (never dropped silently)
    warnings : DataFrame, columns ``pid, warning``: one row per PartitionWarning
    n_computed, n_loaded : patients computed now, and loaded from the cache
    excluded : DataFrame, index ``pid``, column ``reasons``: patients left out before
        computing because their segmentation failed QC (:func:`qc_exclusions` of the
        ledger); empty when nobody was
    """

    features: pd.DataFrame
    volumes: pd.DataFrame
    failures: pd.DataFrame
    warnings: pd.DataFrame
    n_computed: int = 0
    n_loaded: int = 0
    excluded: pd.DataFrame = field(default_factory=lambda: _no_exclusions())
    #: the analysis ledger completed with this table's failures (for_params only)
    ledger: Ledger | None = None

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``partition_features.parquet`` and ``.csv`` (index pid, 110 columns), and
        ``partition_volumes``, ``partition_failures``, ``partition_warnings`` (Parquet)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return {
            "features": _atomic_df(self.features, out / FEATURES_PARQUET),
            "features_csv": _atomic_df(self.features, out / FEATURES_CSV),
            "volumes": _atomic_df(self.volumes, out / f"{PARTITION_VOLUMES}.parquet"),
            "failures": _atomic_df(self.failures, out / f"{PARTITION_FAILURES}.parquet"),
            "warnings": _atomic_df(self.warnings, out / f"{PARTITION_WARNINGS}.parquet"),
        }


def _atomic_df(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as CSV (``.csv``, every float to 17 digits) or Parquet, atomically."""
    if path.suffix == ".csv":
        return atomic_write(path, lambda tmp: df.to_csv(tmp, float_format="%.17g"))
    return atomic_write(path, df.to_parquet)


def read_partition_features(folder: str | Path) -> pd.DataFrame:
    """Read ``partition_features.parquet`` from ``folder`` (a cohort store root), checked by
    :meth:`analysis.store.CohortStore.partition_features` (index ``pid``, exactly the 110
    columns of FEATURE_NAMES in order; a :class:`analysis.store.StoreError` otherwise)."""
    return CohortStore(folder).partition_features()


def partition_table(
    source,
    *,
    gtv_definition: GtvDefinition = "union",
    stations: StationSource = "reference",
    cache_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    scheduler: str = "serial",
    n_workers: int = 1,
    patient_ids: list[str] | None = None,
) -> PartitionTable:
    """The 110 features of every patient: a DataFrame (patients x 110), cached, parallel.

    Parameters
    ----------
    source : CohortStore or mapping
        A :class:`analysis.store.CohortStore` (for each included patient: ctv, gtv,
        gtvnd and the station map chosen by ``stations``; spacing from its grid), or a
        mapping ``pid -> (ctv, gtv, gtvnd, stations, spacing_mm)`` of arrays.
    gtv_definition : {"union", "primary"}
    stations : {"reference", "predicted", "cv"}
        Station maps of a store: ``stations_ref``, ``stations_pred`` or ``stations_cv``
        (out-of-fold predictions; ignored for a mapping). A patient without the chosen map fails with a clear error.
    cache_dir : path, optional
        Per-patient cache of :func:`analysis.scheduling.parallel.map_patients`, keyed by
        :func:`job_hash` (content of the inputs, spacing, definition, code version).
    out_dir : path, optional
        Where :meth:`PartitionTable.write` puts ``partition_features.parquet`` / ``.csv``.
    scheduler, n_workers : see :func:`analysis.scheduling.parallel.map_patients`.
    patient_ids : list of str, optional
        Restrict to these patients (default: all).

    Returns
    -------
    PartitionTable
        ``features`` has one row per successful patient (index ``pid``, sorted), the 110
        columns in SPEC order; every failed patient is in ``failures``.
    """
    _check_definition(gtv_definition)
    if stations not in _STATION_VOLUME:
        raise ValueError(f"stations: expected one of {', '.join(map(repr, _STATION_VOLUME))}, "
                         f"got {stations!r}")
    if isinstance(source, Mapping):
        jobs = {str(p): PartitionJob(gtv_definition, str(p), arrays=tuple(v))
                for p, v in source.items()}
    else:
        jobs = {p: PartitionJob(gtv_definition, p, store_root=str(source.root),
                                station_volume=_STATION_VOLUME[stations])
                for p in source.patient_ids()}
    if patient_ids is not None:
        unknown = sorted(set(patient_ids) - set(jobs))
        if unknown:
            raise KeyError(f"patient_ids: not in the source: {', '.join(unknown)}")
        jobs = {p: jobs[p] for p in patient_ids}
    res = map_patients(compute_patient, jobs, scheduler=scheduler, n_workers=n_workers,
                       desc="partition parameters", cache_dir=cache_dir,
                       input_hash=job_hash if cache_dir is not None else None)
    ok = sorted(res.results)
    index = pd.Index(ok, name="pid", dtype=object)
    features = pd.DataFrame([res.results[p]["features"] for p in ok], index=index,
                            columns=list(FEATURE_NAMES), dtype=float)
    volumes = pd.DataFrame([res.results[p]["volumes"] for p in ok], index=index,
                           dtype=float)
    failed = sorted(res.failures)
    failures = pd.DataFrame({"error": [str(res.failures[p]) for p in failed]},
                            index=pd.Index(failed, name="pid", dtype=object))
    warn_df = pd.DataFrame([(p, w) for p in ok for w in res.results[p]["warnings"]],
                           columns=["pid", "warning"])
    if failed:
        warnings.warn(f"partition_table: {len(failed)} patient(s) failed (see .failures); "
                      f"first: {failures['error'].iloc[0]}", PartitionWarning, stacklevel=2)
    table = PartitionTable(features, volumes, failures, warn_df,
                           n_computed=len(res.computed), n_loaded=len(res.loaded))
    if out_dir is not None:
        table.write(out_dir)
    return table


def _no_exclusions() -> pd.DataFrame:
    return pd.DataFrame({"reasons": pd.Series(dtype=object)},
                        index=pd.Index([], name="pid", dtype=object))


def qc_exclusions(ledger: Ledger) -> pd.DataFrame:
    """The patients the ledger leaves out for their segmentation QC (step 02_segment).

    Returns
    -------
    DataFrame, index ``pid`` (sorted), column ``reasons`` (the QC reasons; "failed
    segmentation QC" when 02 gave none).
    """
    t = ledger.table
    out = t[(~t["included"]) & (t["step"] == "02_segment")].sort_index()
    return pd.DataFrame({"reasons": out["qc_reasons"].astype(str).to_numpy(dtype=object)},
                        index=pd.Index(out.index.astype(str), name="pid", dtype=object))


def missing_station_maps(store, stations: StationSource = "reference",
                         patient_ids: list[str] | None = None) -> list[str]:
    """Included patients of ``store`` (or of ``patient_ids``) without the chosen station
    map (sorted)."""
    if stations not in _STATION_VOLUME:
        raise ValueError(f"stations: expected one of {', '.join(map(repr, _STATION_VOLUME))}, "
                         f"got {stations!r}")
    name = _STATION_VOLUME[stations]
    pids = store.patient_ids() if patient_ids is None else sorted(patient_ids)
    return [p for p in pids if not store.has(p, name)]


def ledger_partition_table(store, params, *, cache: bool = True,
                           write: bool = True) -> PartitionTable:
    """:func:`partition_table` for a run, on the patients and station maps of the
    analysis ledger (:func:`analysis.ledger.build_ledger`: 01's screening, 02's QC and
    ``analysis.include_qc_failed``, the maps of ``analysis.stations`` present); its GTV
    definition and scheduler. A patient whose partition fails leaves the analysis at
    ``03_partition`` with the message; the completed ledger is the result's ``ledger``
    and, with ``write``, is written once into the store (:func:`analysis.ledger.
    write_ledger`) beside ``partition_features.parquet``; per-patient cache under
    ``<store>/cache/partition``.

    Never raises for a patient: QC-flagged patients (``excluded``), patients without
    the chosen map or images, and failures are all in the ledger with their reasons.
    """
    ledger = build_ledger(store, params)
    table = partition_table(
        store,
        gtv_definition=params.partition.gtv_definition,
        stations=ledger.stations,
        cache_dir=Path(store.root) / "cache" / "partition" if cache else None,
        out_dir=store.root if write else None,
        scheduler=params.scheduler,
        n_workers=params.n_workers,
        patient_ids=ledger.analysed,
    )
    table.ledger = ledger.with_failures("03_partition", table.failures["error"])
    table.excluded = qc_exclusions(table.ledger)
    if write:
        write_ledger(store, table.ledger)
    return table
