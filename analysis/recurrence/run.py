"""04_recurrence as one call: :func:`recurrence_analysis` (cohort store + params -> results).

The notebook tells, this module computes: every branch of the analysis (no recurrence
table, no images, patients without images, failures, RctvLN_i from the partition table or
computed here) lives in :func:`recurrence_analysis`, which returns a
:class:`RecurrenceAnalysis` holding the tables and figures in the order the report shows
them, the sentences the notebook prints, and the reason when the analysis is skipped
(a cohort without recurrence sites or images, e.g. Lung1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from analysis import paper
from analysis.ledger import read_ledger, recurrence_skip_reason
from analysis.partition import FEATURES_PARQUET
from analysis.recurrence.figures import station_bar_figure, station_map_figure
from analysis.recurrence.sites import (
    OUTSIDE,
    assignment_summary,
    collect_sites,
    failure_table,
    patient_sites,
    site_items,
)
from analysis.recurrence.tables import appendix2, table5, top_share
from analysis.scheduling.parallel import map_patients
from analysis.store import StoreError

#: output names of 04_recurrence (tables and figures under reports/<run>/)
FAILURES = "04_failures"
SITE_ASSIGNMENT = "04_site_assignment"
TABLE5 = "table5_recurrence_by_station"
TOP4_SHARE = "table5_top4_share"
STATION_MAP = "recurrence_station_map"
STATION_BARS = "recurrence_station_bars"
APPENDIX2 = "appendix2_rate_by_involved_station"


@dataclass
class OutputItem:
    """One table or figure for :class:`analysis.outputs.Outputs`."""

    kind: Literal["table", "figure"]
    name: str
    caption: str
    obj: Any  # DataFrame (table) or matplotlib Figure (figure)
    index: bool = True


@dataclass
class RecurrenceAnalysis:
    """Result of :func:`recurrence_analysis`.

    Attributes
    ----------
    skip_reason : str or None
        Why Table 5, Appendix 2 and the figures were not made (no recurrence table, no
        images); None when they were.
    notes : list of str
        What the notebook prints: the station maps used and why, counts, sites left out,
        where RctvLN_i came from. No patient identifier.
    outputs : list of OutputItem
        Tables and figures in report order (empty when skipped).
    stations_name : str or None
        The station-map volume used (``stations_pred`` or ``stations_ref``).
    sites : DataFrame or None
        One row per assigned site (``pid``, ``site_no``, ``station``, ...).
    involved : DataFrame or None
        Patients x 16 stations, bool: GTV ∪ GTVnd overlapped the station.
    rctv : DataFrame or None
        Patients x ``RctvLN_1..16`` used for Table 5.
    """

    skip_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    outputs: list[OutputItem] = field(default_factory=list)
    stations_name: str | None = None
    sites: pd.DataFrame | None = None
    involved: pd.DataFrame | None = None
    rctv: pd.DataFrame | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    def get(self, name: str) -> Any:
        """The table or figure called ``name``, or None when it was not made."""
        return next((o.obj for o in self.outputs if o.name == name), None)

    def report(self) -> str:
        """The notes (and the skip reason) as one printable text."""
        return "\n".join(self.notes + ([self.skip_reason] if self.skip_reason else []))

    def write(self, out) -> list[str]:
        """Write every output through ``out`` (an :class:`analysis.outputs.Outputs`), in
        order; returns their names."""
        for o in self.outputs:
            if o.kind == "table":
                out.table(o.obj, o.name, o.caption, index=o.index)
            else:
                out.figure(o.obj, o.name, o.caption)
        return [o.name for o in self.outputs]


def _rctv_table(store, rctv_own: pd.DataFrame, stations_name: str
                ) -> tuple[pd.DataFrame, str]:
    """RctvLN_i from the partition feature table (checked read) when 03_partition wrote
    it, else the values computed here from the same station maps; and a sentence."""
    if (Path(store.root) / FEATURES_PARQUET).exists():
        return store.partition_features(), f"RctvLN_i from {FEATURES_PARQUET} (03_partition)."
    return rctv_own, f"{FEATURES_PARQUET} not found: RctvLN_i computed here from " \
                     f"{stations_name}."


def recurrence_analysis(store, params) -> RecurrenceAnalysis:
    """Table 5, Appendix 2 and the station-map figures of a cohort store.

    Parameters
    ----------
    store : analysis.store.CohortStore
    params : analysis.params.Params
        Uses ``recurrence.tolerance_mm``, ``scheduler`` and ``n_workers``; the
        patients and station maps are the analysis ledger's
        (:func:`analysis.ledger.read_ledger`, written by 03_partition). The per-patient step shows a progress bar.

    Returns
    -------
    RecurrenceAnalysis
        With ``skip_reason`` set (and no outputs) when the store has no recurrence table,
        no images, or no analysed patient.
    """
    result = RecurrenceAnalysis()
    cohort = store.cohort()
    try:
        recurrences = store.recurrences()
    except StoreError as err:
        result.skip_reason = (f"No recurrence sites in the cohort store ({err}): Table 5, "
                              "Appendix 2 and the station map are skipped.")
        return result
    ledger = read_ledger(store, params)
    skip = recurrence_skip_reason(ledger)
    if skip is not None:
        result.skip_reason = f"{skip}."
        return result
    pids = ledger.analysed
    tol = params.recurrence.tolerance_mm
    stations_name = ledger.station_volume()
    result.stations_name = stations_name
    result.notes += [
        ledger.describe(),
        f"Station maps used: {stations_name} (analysis.stations: {ledger.stations}, the "
        f"ledger's choice for all {len(pids)} analysed patients).",
        f"{len(pids)} analysed patients, {len(recurrences)} recurrence sites in "
        f"{recurrences['pid'].nunique()} patients of the cohort store (paper: "
        f"{paper.N_RECURRENCE_SITES} sites in {paper.N_RECURRED} patients)."]
    usable = recurrences["pid"].astype(str).isin(pids)
    if (~usable).any():
        result.notes.append(
            f"{int((~usable).sum())} site(s) of {recurrences.loc[~usable, 'pid'].nunique()} "
            "patient(s) not analysed (analysis ledger) are left out.")
    items = site_items(store.root, recurrences.loc[usable], pids, stations_name, tol)
    res = map_patients(patient_sites, items, scheduler=params.scheduler,
                       n_workers=params.n_workers, desc="recurrence sites")
    outs = result.outputs
    failures = failure_table(res.failures)
    if len(failures):
        outs.append(OutputItem("table", FAILURES, "Patients whose sites could not be "
                               "assigned (numbered, not identified)", failures, index=False))
    sites, involved, rctv_own = collect_sites(res.results)
    outs.append(OutputItem(
        "table", SITE_ASSIGNMENT, f"How recurrence sites were assigned to stations "
        f"(tolerance {tol:g} mm; maps: {stations_name})", assignment_summary(sites, tol)))
    rctv, note = _rctv_table(store, rctv_own, stations_name)
    rctv = rctv.loc[rctv.index.astype(str).isin(pids)]
    result.notes.append(note)
    top = top_share(sites)
    ci = (f"95% CI: Wilson on sites / design effect {top['design_effect']:.2f}, from the "
          f"within-patient correlation {top['icc']:.2f} of station membership"
          if len(sites) else "95% CI: none without sites")
    outs.append(OutputItem(
        "table", TABLE5, "Table 5: recurrence sites per station and their share of all "
        f"sites ({ci}; a patient's sites cluster); RctvLN_i mean and range among the "
        "patients recurring there; GTV affected vs CTV-GTV; paper beside ours",
        table5(sites, rctv)))
    outs.append(OutputItem(
        "table", TOP4_SHARE, f"Share of recurrence sites in 10R, 10L, 4R and 7 ({ci}; "
        "Wilson, which treats sites as independent, beside it), paper 115/170",
        pd.DataFrame([top]).set_index("stations")))
    counts = sites.loc[sites["station"] != OUTSIDE, "station"].value_counts()
    paper_counts = pd.Series({st: v[0] for st, v in paper.TABLE5.items()})
    outs.append(OutputItem(
        "figure", STATION_MAP, "Recurrence sites per station on a schematic frontal map of "
        "the mediastinum (area and colour: this run; in brackets: the paper's Table 5)",
        station_map_figure(counts, paper_counts,
                           title="Recurrence sites per station: this run (paper)")))
    outs.append(OutputItem(
        "figure", STATION_BARS, "Recurrence sites per station: this run vs the paper's "
        "Table 5", station_bar_figure(counts, paper_counts)))
    recurred = (cohort.reindex(involved.index)["lc_event"].fillna(0).astype(int) == 1)
    recurred |= involved.index.isin(sites["pid"])
    outs.append(OutputItem(
        "table", APPENDIX2, "Appendix 2: recurrence rate by initially involved station "
        "(Wilson 95% CI); paper as quoted in its text",
        appendix2(involved, sites, pd.Series(recurred, index=involved.index))))
    result.sites, result.involved, result.rctv = sites, involved, rctv
    return result
