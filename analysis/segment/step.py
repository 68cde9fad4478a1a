"""Step 02 (notebook 02_segment) in one call: :func:`run_segment`.

The checkpoint (trained on the store first when the params ask), the station maps
predicted for every patient of the store (``stations_pred``), the domain check of each
(the store table ``segment_qc``, which the analysis ledger reads), the station exports
of the analysed patients, and Dice / HD95 against reference stations where a patient
has them. The notebook shows the result; the model cards and comparisons it also shows
are read from files by :mod:`analysis.segment.card`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.scheduling import MapResult
from analysis.segment import export_cohort, report
from analysis.segment.checkpoint import Checkpoint
from analysis.segment.infer import predict_cohort
from analysis.store import CohortStore


@dataclass(frozen=True)
class SegmentResult:
    """What :func:`run_segment` did."""

    #: the checkpoint used (``segment.checkpoint``)
    checkpoint: Checkpoint
    #: per-patient predictions and named failures (:func:`predict_cohort`)
    prediction: MapResult
    #: the domain check per patient, numbered in store order (no identifier)
    qc: pd.DataFrame
    #: the station exports' summary (:func:`export_cohort.exports_for_params`)
    exports: pd.DataFrame
    #: Dice and HD95 per patient with a reference and station (long; attrs: no_reference)
    evaluation: pd.DataFrame
    n_patients: int

    def report(self) -> str:
        """What 02 did, in a few lines."""
        flagged = int((~self.qc["usable"]).sum()) if len(self.qc) else 0
        ev = self.evaluation
        return "\n".join([
            f"{self.n_patients} patients in the store; stations_pred written for "
            f"{len(self.prediction.results)}, {len(self.prediction.failures)} failed",
            f"domain check: {len(self.qc) - flagged} usable, {flagged} flagged",
            f"reference stations: {ev['patient'].nunique() if len(ev) else 0} patients "
            f"with, {ev.attrs.get('no_reference', 0)} without"])


def run_segment(store: CohortStore, params) -> SegmentResult:
    """Step 02: predict, check and export the stations of every patient in ``store``.

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``). Writes ``stations_pred`` per patient and the ``segment_qc`` table
    before the exports and the evaluation, which read them.
    """
    checkpoint = report.load_or_train(params)
    prediction = predict_cohort(store, params)
    qc = report.write_qc(store, prediction)
    exports = export_cohort.exports_for_params(store, params)
    evaluation = report.evaluate_cohort(store, params)
    return SegmentResult(checkpoint=checkpoint, prediction=prediction, qc=qc,
                         exports=exports, evaluation=evaluation,
                         n_patients=len(store.patient_ids()))
