"""The analysis ledger: ONE decision of which patients and which station maps every step
after 02_segment analyses.

Built by :func:`build_ledger` at the start of 03_partition (the first step after 02's
segmentation QC exists), completed with 03's own failures
(:meth:`Ledger.with_failures`) and written once into the cohort store as the table
:data:`LEDGER_TABLE` (:func:`write_ledger`). 04_recurrence, 05_survival, 06_model,
07_model_eval, Figure 1, the scorecard and the index read it (:func:`read_ledger`); no
step chooses patients or station maps on its own. A clinical-only cohort (no images:
02-04 are skipped) gets the same ledger built on read from 01's tables alone.

One row per screened patient (index ``pid``), columns:

==================  ========================================================================
``included``        bool: analysed by 03-07
``step``            where the patient left the analysis (:data:`STEPS`), "" when included
``reason``          why (scrubbed text; no identifier), "" when included
``reason_code``     01's exclusion code (:data:`analysis.clinical.REASON_LABELS`), else the
                    step's: ``segment_qc``, ``no_station_map``, ``partition_failed``,
                    ``no_outcome``
``stations``        the station map the patient's analysis uses (``reference`` /
                    ``predicted`` / ``cv``), "" without images
``station_volume``  its store volume (``stations_ref`` / ``stations_pred`` / ``stations_cv``)
``qc``              the segmentation QC verdict of the patient's predicted map: ``usable``,
                    ``flagged`` or ``not checked`` (recorded whichever map is analysed;
                    it excludes only when the analysed map is predicted or cv)
``qc_reasons``      the QC reasons when flagged
``kept_by``         the param that kept a flagged patient (``analysis.include_qc_failed``),
                    else ""
==================  ========================================================================

The order of the checks (the first that fails names the step): 01_ingest (screening),
02_segment (QC flag, unless kept), 03_partition (the chosen station map or the inputs
missing; then the partition itself failing), outcome (no usable follow-up time / event
for ``survival.time_col`` / ``event_col``, checked when the cohort has those columns). Every screened patient is counted exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from analysis.clinical import REASON_LABELS, reason_code
from analysis.fsutil import atomic_write_text
from analysis.stats.survdata import prepare_survival_data
from analysis.store import ANALYSIS_LEDGER, CohortStore, StoreError

#: the store table of the ledger (registered in :data:`analysis.store.TABLES`)
LEDGER_TABLE = ANALYSIS_LEDGER
#: the steps at which a patient can leave the analysis, in order
STEPS: tuple[str, ...] = ("01_ingest", "02_segment", "03_partition", "outcome")
#: store volume of each station source
STATION_VOLUME = {"reference": "stations_ref", "predicted": "stations_pred",
                  "cv": "stations_cv"}
#: store table written by 02_segment: index pid, ``usable`` (bool), ``reasons`` (str)
SEGMENT_QC = "segment_qc"
#: the param that keeps a QC-flagged patient
KEEP_PARAM = "analysis.include_qc_failed"
#: the inputs of 03 besides the station map
_IMAGE_VOLUMES = ("ctv", "gtv", "gtvnd")
_MISSING_HINT = {
    "predicted": "02_segment wrote no prediction for this patient",
    "cv": "run 02_segment with segment.cv_folds >= 2 (out-of-fold maps)",
    "reference": "the export has no reference stations for this patient; set "
                 "analysis.stations: predicted",
}
COLUMNS = ("included", "step", "reason", "reason_code", "stations", "station_volume", "qc",
           "qc_reasons", "kept_by")


class LedgerError(StoreError):
    """A missing ledger, or one built with other settings than the run's params."""


@dataclass(frozen=True)
class Ledger:
    """The analysis ledger: ``table`` (one row per screened patient, :data:`COLUMNS`)
    and the settings it was built with."""

    table: pd.DataFrame
    stations: str
    include_qc_failed: bool
    imaging: bool

    @property
    def analysed(self) -> list[str]:
        """The analysed patients (sorted pids)."""
        return sorted(self.table.index[self.table["included"]].astype(str))

    @property
    def n_analysed(self) -> int:
        return int(self.table["included"].sum())

    @property
    def n_kept_despite_qc(self) -> int:
        return int((self.table["included"] & (self.table["kept_by"] != "")).sum())

    def station_volume(self) -> str:
        """The store volume of the analysed patients' station maps."""
        return STATION_VOLUME[self.stations]

    def with_failures(self, step: str, failures: pd.Series) -> Ledger:
        """A copy in which the analysed patients of ``failures`` (index pid, message)
        leave the analysis at ``step``; messages are shown with the pid replaced."""
        if step not in STEPS:
            raise ValueError(f"step: expected one of {STEPS}, got {step!r}")
        t = self.table.copy()
        for pid, msg in failures.items():
            pid = str(pid)
            if pid not in t.index or not t.at[pid, "included"]:
                continue
            t.loc[pid, ["included", "step", "reason", "reason_code"]] = [
                False, step, str(msg).replace(pid, "<pid>"), f"{step.split('_')[-1]}_failed"]
        return Ledger(t, self.stations, self.include_qc_failed, self.imaging)

    def describe(self) -> str:
        """One sentence: analysed of screened, maps, left out per step, kept despite QC."""
        t = self.table
        out = t.loc[~t["included"], "step"].value_counts()
        parts = [f"{int(out[s])} at {s}" for s in STEPS if out.get(s, 0)]
        maps = (f"station maps: {self.stations} ({self.station_volume()})" if self.imaging
                else "no images (clinical-only cohort)")
        kept = (f"; {self.n_kept_despite_qc} kept despite a QC flag ({KEEP_PARAM})"
                if self.n_kept_despite_qc else "")
        return (f"Analysis ledger: {self.n_analysed} of {len(t)} screened patients "
                f"analysed; {maps}; left out: {', '.join(parts) or 'none'}{kept}.")

    def left_after_ingest(self, cohort_index) -> pd.DataFrame:
        """The cohort table's patients the ledger left out after ingest: ``row``
        (1-based position in ``cohort_index``, not an identifier), ``reason`` ("step:
        reason")."""
        t = self.table
        pos = {str(p): i + 1 for i, p in enumerate(cohort_index)}
        out = [p for p in t.index[(~t["included"]) & (t["step"] != "01_ingest")] if p in pos]
        return pd.DataFrame({"row": pd.Series([pos[p] for p in out], dtype=int),
                             "reason": pd.Series([f"{t.at[p, 'step']}: {t.at[p, 'reason']}"
                                                  for p in out], dtype=object)})

    def step_counts(self) -> pd.DataFrame:
        """Patients leaving at each step and analysed: columns ``step, n`` (they add up
        to the screened)."""
        t = self.table
        rows = [(s, int(((~t["included"]) & (t["step"] == s)).sum())) for s in STEPS]
        rows.append(("analysed", self.n_analysed))
        return pd.DataFrame(rows, columns=["step", "n"])


def _segment_qc(store: CohortStore) -> pd.DataFrame | None:
    try:
        qc = store.read_table(SEGMENT_QC)
    except StoreError:
        return None
    if "pid" in qc.columns:
        qc = qc.set_index("pid")
    missing = [c for c in ("usable", "reasons") if c not in qc.columns]
    if missing:
        raise StoreError(f"{store.root}: table {SEGMENT_QC!r} lacks column(s) "
                         f"{', '.join(missing)} (expected index pid, usable, reasons)")
    qc.index = qc.index.astype(str)
    return qc


def build_ledger(store: CohortStore, params) -> Ledger:
    """The ledger of a run before 03 computes anything: 01's screening, 02's QC, the
    station maps present, the outcome columns (module docstring).

    Parameters
    ----------
    store : CohortStore
    params : analysis.params.Params
        ``analysis.stations``, ``analysis.include_qc_failed``, ``survival.time_col`` /
        ``event_col``.
    """
    ap = params.analysis
    try:
        screening = store.screening()
    except StoreError:  # a store written without 01's screening: its cohort, all included
        pids = store.patient_ids()
        screening = pd.DataFrame({"pid": pids, "included": True, "reason": "",
                                  "reason_code": ""})
    imaging = store.has_imaging()
    pids = screening["pid"].astype(str).tolist()
    t = pd.DataFrame({
        "included": screening["included"].astype(bool).to_numpy(),
        "step": "", "reason": "", "reason_code": "", "stations": "", "station_volume": "",
        "qc": "not checked", "qc_reasons": "", "kept_by": ""},
        index=pd.Index(pids, name="pid", dtype=object))
    ing = ~t["included"]
    t.loc[ing, "step"] = "01_ingest"
    t.loc[ing, "reason"] = screening.loc[ing.to_numpy(), "reason"].fillna("").astype(str) \
        .to_numpy()
    codes = (screening["reason_code"] if "reason_code" in screening.columns
             else screening["reason"].fillna("").map(reason_code))
    t.loc[ing, "reason_code"] = codes[ing.to_numpy()].fillna("error").astype(str).to_numpy()
    cohort = store.cohort()
    cohort.index = cohort.index.astype(str)
    # by position: a duplicated record number gives one pid two screening rows (both
    # excluded at ingest), so the table's index is unique only among the included
    inc = [p for p, ok in zip(pids, t["included"].to_numpy(), strict=True) if ok]
    qc = _segment_qc(store) if imaging else None
    volume = STATION_VOLUME[ap.stations]
    for p in inc:
        if not imaging:
            continue
        t.loc[p, ["stations", "station_volume"]] = [ap.stations, volume]
        if qc is not None and p in qc.index:
            usable = bool(qc.at[p, "usable"])
            t.at[p, "qc"] = "usable" if usable else "flagged"
            if not usable:
                why = str(qc.at[p, "reasons"] or "").strip() or "failed segmentation QC"
                t.at[p, "qc_reasons"] = why
                if ap.stations == "reference":
                    pass  # reference maps were delineated: the AI map's flag is recorded
                elif ap.include_qc_failed:
                    t.at[p, "kept_by"] = KEEP_PARAM
                else:
                    t.loc[p, ["included", "step", "reason", "reason_code"]] = [
                        False, "02_segment", f"segmentation QC: {why}", "segment_qc"]
                    continue
        missing = [v for v in (*_IMAGE_VOLUMES, volume) if not store.has(p, v)]
        if missing:
            hint = f" ({_MISSING_HINT[ap.stations]})" if volume in missing else ""
            t.loc[p, ["included", "step", "reason", "reason_code"]] = [
                False, "03_partition", f"no {', '.join(missing)} in the cohort store{hint}",
                "no_station_map"]
    sp = params.survival
    still = [p for p in inc if t.at[p, "included"]]
    # the outcome is checked where the cohort has its columns (05 names them otherwise)
    if still and {sp.time_col, sp.event_col} <= set(cohort.columns):
        sub = cohort.reindex(still)
        _, excluded = prepare_survival_data(sub, sp.time_col, sp.event_col)
        for row, why in excluded[["row", "reason"]].itertuples(index=False):
            p = still[int(row) - 1]
            t.loc[p, ["included", "step", "reason", "reason_code"]] = [
                False, "outcome", str(why), "no_outcome"]
    return Ledger(t, ap.stations, bool(ap.include_qc_failed), bool(imaging))


def ledger_for(store: CohortStore, params) -> Ledger:
    """The ledger 03_partition wrote when it matches ``params`` and is newer than 01's
    and 02's tables, else the same decision built now (:func:`build_ledger`: without
    03's own partition failures). For the
    steps that need the analysed set outside 03-07: 02_segment's station exports (which
    run before 03) and ``make export``; 03's agreement with the reference maps."""
    ledger_file = store.root / f"{LEDGER_TABLE}.parquet"
    inputs = [store.root / f"{t}.parquet" for t in ("cohort", "screening", SEGMENT_QC)]
    if ledger_file.is_file() and any(f.is_file() and f.stat().st_mtime > ledger_file.stat()
                                     .st_mtime for f in inputs):
        return build_ledger(store, params)  # 01 or 02 ran again since 03 wrote it
    try:
        return read_ledger(store, params)
    except LedgerError:
        return build_ledger(store, params)


def _settings(params, imaging: bool) -> dict:
    return {"stations": params.analysis.stations,
            "include_qc_failed": bool(params.analysis.include_qc_failed),
            "imaging": bool(imaging)}


def write_ledger(store: CohortStore, ledger: Ledger) -> None:
    """Write the ledger into the store (table :data:`LEDGER_TABLE`, its settings in the
    table's ``attrs``-free sidecar ``analysis_ledger.json``)."""
    store.write_table(LEDGER_TABLE, ledger.table)
    atomic_write_text(store.root / f"{LEDGER_TABLE}.json", json.dumps(
        {"stations": ledger.stations, "include_qc_failed": ledger.include_qc_failed,
         "imaging": ledger.imaging}, indent=1, sort_keys=True))


def read_ledger(store: CohortStore, params) -> Ledger:
    """The run's ledger: the store table written by 03_partition, checked against the
    params; for a clinical-only store (no images, 03 skipped) built from 01's tables.

    Raises
    ------
    LedgerError
        When an imaging store has no ledger (03_partition has not run), or when it was
        built with other ``analysis.stations`` / ``include_qc_failed`` than ``params``.
    """
    imaging = store.has_imaging()
    if not imaging:
        return build_ledger(store, params)
    if not store.has_table(LEDGER_TABLE):
        raise LedgerError(f"cohort store {store.root.name}: no analysis ledger "
                          f"({LEDGER_TABLE}); run 03_partition first (make report-03)")
    side = store.root / f"{LEDGER_TABLE}.json"
    built = json.loads(side.read_text()) if side.is_file() else {}
    want = _settings(params, imaging)
    diff = [f"{k}: ledger {built.get(k)!r}, params {v!r}" for k, v in want.items()
            if built.get(k) != v]
    if diff:
        raise LedgerError(f"cohort store {store.root.name}: the analysis ledger was built "
                          f"with other settings ({'; '.join(diff)}); rerun 03_partition")
    t = store.read_table(LEDGER_TABLE)
    t.index = t.index.astype(str)
    return Ledger(t, want["stations"], want["include_qc_failed"], imaging)


#: Figure 1's label of each step
STEP_LABELS = {"01_ingest": "excluded at ingest (01)",
               "02_segment": "excluded by segmentation QC (02)",
               "03_partition": "excluded at the partition step (03)",
               "outcome": "excluded: no usable outcome"}
KEPT_LABEL = "kept despite QC flag"


def figure1_table(ledger: Ledger) -> pd.DataFrame:
    """Figure 1 counted from the ledger: every screened patient exactly once.

    Rows ``step, reason, n``: ``screened``; per step of :data:`STEPS` one row per reason
    (ingest reasons by their Figure 1 label, others by text) and a ``total``; then
    ``analysed``; when ``analysis.include_qc_failed`` is set, ``kept despite QC flag``
    (a part of ``analysed``, not subtracted). screened = the step totals + analysed.
    """
    t = ledger.table
    rows = [("screened", "", len(t))]
    for s in STEPS:
        out = t[(~t["included"]) & (t["step"] == s)]
        if s == "01_ingest":
            why = out["reason_code"].map(lambda c: REASON_LABELS.get(c, REASON_LABELS["error"]))
        else:
            why = out["reason"].astype(str)
        counts = why.value_counts()
        rows += [(STEP_LABELS[s], str(r), int(n))
                 for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        rows.append((STEP_LABELS[s], "total", len(out)))
    rows.append(("analysed", "", ledger.n_analysed))
    if ledger.include_qc_failed:
        rows.append((KEPT_LABEL, f"{KEEP_PARAM}: true (counted in analysed)",
                     ledger.n_kept_despite_qc))
    return pd.DataFrame(rows, columns=["step", "reason", "n"])


def survival_skip_reason(ledger: Ledger, store: CohortStore, params) -> str | None:
    """Why 05_survival cannot run on the ledger's analysed patients (too few, or no
    event among them), or None."""
    sp, n = params.survival, ledger.n_analysed
    need = params.analysis.min_patients_survival
    if n < need:
        return (f"{n} analysed patient(s) (analysis ledger) but at least {need} needed "
                "(analysis.min_patients_survival): the survival analysis is skipped")
    cohort = store.cohort()
    cohort.index = cohort.index.astype(str)
    events = pd.to_numeric(cohort.reindex(ledger.analysed)[sp.event_col], errors="coerce")
    if not (events == 1).any():
        return (f"no event ({sp.event_col}) among the {n} analysed patients: the survival "
                "analysis is skipped")
    return None


def recurrence_skip_reason(ledger: Ledger) -> str | None:
    """Why 04_recurrence cannot run (no analysed patient with images), or None."""
    if not ledger.imaging:
        return "no images in the cohort store: recurrence sites cannot be placed"
    if ledger.n_analysed == 0:
        return ("no analysed patient (analysis ledger: "
                f"{ledger.describe()}): Table 5 and Appendix 2 are skipped")
    return None
