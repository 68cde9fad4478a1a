"""What 05_survival analyses: the analysis ledger's patients, cleaned for the survival
analysis, and every patient left out with the step and the reason (re-exported by
:mod:`analysis.survival`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.stats.survdata import missing_group_exclusions, prepare_survival_data
from analysis.store import StoreError


@dataclass
class SurvivalInputs:
    """The rows 05_survival analyses, and those it leaves out (with reasons)."""

    #: analysable rows (time and event clean)
    data: pd.DataFrame
    #: rows excluded from the survival analysis: ``row`` (position), ``reason``
    excluded: pd.DataFrame
    #: variables with missing values (left out of that variable only)
    missing: pd.DataFrame
    #: patients excluded at ingest, by reason (a ``note`` row without a screening table)
    ingest_exclusions: pd.DataFrame
    #: one-line summary of the counts
    summary: str


def survival_inputs(store, sp, ledger=None) -> SurvivalInputs:
    """Read the cohort store and clean it for the survival analysis.

    Parameters
    ----------
    store : analysis.store.CohortStore
    sp : analysis.params.SurvivalParams
    ledger : analysis.ledger.Ledger, optional
        The run's analysis ledger: only its analysed patients are analysed, and the
        patients it left out after ingest are listed in ``excluded`` with the step and
        reason (row = position in the cohort table). None: every cohort patient.

    Returns
    -------
    SurvivalInputs
    """
    lines = []
    try:
        screening = store.screening()
    except StoreError as err:
        ingest_excl = pd.DataFrame([{"note": f"no screening table ({err})"}])
        lines.append("No screening table.")
    else:
        ingest_excl = (screening.loc[~screening["included"].astype(bool), "reason"]
                       .fillna("(no reason recorded)").value_counts().rename("patients")
                       .rename_axis("reason").reset_index())
        lines.append(f"Ingest: {int(screening['included'].sum())} of {len(screening)} "
                     "screened patients included.")
    cohort = store.cohort()
    left = ledger.left_after_ingest(cohort.index) if ledger is not None else None
    if ledger is not None:
        cohort = cohort.loc[cohort.index.astype(str).isin(ledger.analysed)]
        lines.append(ledger.describe())
    data, excluded = prepare_survival_data(cohort, sp.time_col, sp.event_col)
    excluded = pd.concat([left, excluded], ignore_index=True) if left is not None \
        else excluded
    lines.append(f"{len(cohort)} analysed patients (analysis ledger); {len(data)} "
                 f"analysable; {len(excluded)} excluded after ingest"
                 f"{'' if len(excluded) else ' (none)'}.")
    return SurvivalInputs(data, excluded, missing_group_exclusions(data, sp.variables),
                          ingest_excl, "\n".join(lines))
