"""Step 05 (notebook 05_survival) in one call: :func:`run_survival`.

The analysis ledger's patients cleaned for the survival analysis, their outcome, Table 4
(univariable; multivariable on the variables selected by univariable p, and the
pre-specified model), Figure 3, and cumulative incidence with death as the competing
event. The figures are released from pyplot's registry when made, so that the notebook
shows each once, where it writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from analysis.ledger import read_ledger
from analysis.store import CohortStore
from analysis.survival.competing import CompetingRisksResult, competing_risks
from analysis.survival.inputs import SurvivalInputs, survival_inputs
from analysis.survival.tables import (
    Figure3Result,
    MultivariableResult,
    figure3,
    outcome_table,
    table4_multivariable,
    table4_prespecified,
    table4_univariate,
)


@dataclass(frozen=True)
class SurvivalResult:
    """What :func:`run_survival` did."""

    #: the analysed rows and every patient left out, with the step and reason
    inputs: SurvivalInputs
    #: events and median follow-up of the endpoint
    outcome: pd.DataFrame
    #: Table 4, univariable (exploratory)
    univariate: pd.DataFrame
    #: Table 4, multivariable on the variables selected by univariable p (with caveat)
    multivariable: MultivariableResult
    #: Table 4, the pre-specified multivariable model
    prespecified: MultivariableResult
    #: Figure 3: Kaplan-Meier by group, landmarks, and the groups skipped
    figure3: Figure3Result
    #: cumulative incidence of local failure with death competing, Gray, Fine-Gray
    competing: CompetingRisksResult

    @property
    def data(self) -> pd.DataFrame:
        """The analysable rows (time and event clean)."""
        return self.inputs.data

    def report(self) -> str:
        """What 05 did, in a few lines (no identifier)."""
        mv = self.multivariable
        return "\n".join([self.inputs.summary,
                          f"multivariable Cox on {mv.selected or 'no selected variable'}; "
                          f"pre-specified on {self.prespecified.selected or 'none'}",
                          f"Figure 3: {len(self.figure3.panels)} panel(s), "
                          f"{len(self.figure3.skipped)} group(s) skipped",
                          self.competing.note])


def run_survival(store: CohortStore, params) -> SurvivalResult:
    """Step 05: local control of the analysis ledger's patients (``params.survival``).

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``). Writes nothing into the store.
    """
    sp = params.survival
    inputs = survival_inputs(store, sp, read_ledger(store, params))
    data = inputs.data
    uni = table4_univariate(data, sp)
    result = SurvivalResult(
        inputs=inputs, outcome=outcome_table(data, sp), univariate=uni,
        multivariable=table4_multivariable(data, uni, sp),
        prespecified=table4_prespecified(data, sp), figure3=figure3(data, sp),
        competing=competing_risks(data, sp))
    for fig in [p.figure for p in result.figure3.panels] + [result.competing.figure]:
        plt.close(fig)  # shown by the notebook where it is written (Outputs.figure)
    return result
