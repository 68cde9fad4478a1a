"""Step 04 (notebook 04_recurrence) in one call: :func:`run_recurrence`.

Table 5, Appendix 2 and the station-map figures on the analysis ledger's patients and
maps (:func:`analysis.recurrence.run.recurrence_analysis`), and, where patients have
both a reference and an AI map, the recurrence map on each
(:func:`analysis.recurrence.agreement.recurrence_agreement`, saved for 07's verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.recurrence.agreement import RecurrenceAgreement, recurrence_agreement
from analysis.recurrence.run import RecurrenceAnalysis, recurrence_analysis
from analysis.store import CohortStore


@dataclass(frozen=True)
class RecurrenceResult:
    """What :func:`run_recurrence` did."""

    #: Table 5, Appendix 2, the figures (``outputs`` in report order) or a skip reason
    analysis: RecurrenceAnalysis
    #: the recurrence map on AI vs reference stations (``skipped`` with a reason)
    agreement: RecurrenceAgreement

    @property
    def skipped(self) -> bool:
        return self.analysis.skipped

    def get(self, name: str) -> Any:
        """The table or figure called ``name``, or None when it was not made."""
        return self.analysis.get(name)

    def write(self, out) -> list[str]:
        """Write the analysis' tables and figures through ``out``, in report order."""
        return self.analysis.write(out)

    def report(self) -> str:
        """What 04 did, in a few lines (no identifier)."""
        return "\n".join([self.analysis.report(),
                          "AI vs reference stations: " + self.agreement.report()])


def run_recurrence(store: CohortStore, params) -> RecurrenceResult:
    """Step 04: recurrence sites to stations, Table 5 and Appendix 2, on both maps.

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``). Writes both assignments of every site into the store.
    """
    analysis = recurrence_analysis(store, params)
    agreement = recurrence_agreement(store, params)
    agreement.save(store)  # 07's verdict reads both assignments
    return RecurrenceResult(analysis=analysis, agreement=agreement)
