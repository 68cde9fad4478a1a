"""Step 05 (notebook 05_survival): local control (paper Table 4, Figure 3).

- :mod:`analysis.survival.tables`: the inputs from the store, Table 4 (Kaplan-Meier at 3
  years, univariable and multivariable Cox, PH tests), Figure 3;
- :mod:`analysis.survival.competing`: cumulative incidence with death as the competing
  event;
- :mod:`analysis.survival.plots`: the Kaplan-Meier and coverage figures;
- :mod:`analysis.survival.step`: the step in one call (:func:`run_survival`).

The estimators themselves are pure functions on the floor, in :mod:`analysis.stats`.
"""

from __future__ import annotations

from analysis.survival.competing import CompetingRisksResult, competing_risks
from analysis.survival.plots import coverage_figure, note_figure
from analysis.survival.step import SurvivalResult, run_survival
from analysis.survival.tables import (
    Figure3Result,
    MultivariableResult,
    SurvivalInputs,
    figure3,
    outcome_table,
    partition_features,
    survival_inputs,
    table4_multivariable,
    table4_univariate,
)

__all__ = ["CompetingRisksResult", "Figure3Result", "MultivariableResult", "SurvivalInputs",
           "SurvivalResult", "competing_risks", "coverage_figure", "figure3", "note_figure",
           "outcome_table", "partition_features", "run_survival", "survival_inputs",
           "table4_multivariable", "table4_univariate"]
