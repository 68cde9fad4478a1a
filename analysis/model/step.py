"""Steps 06 and 07 (notebooks 06_model, 07_model_eval), each in one call.

- :func:`run_model` (06): the analysis ledger's patients with a usable label, the
  paper's procedure (correlation filter, RFECV, grid-searched random forest) fitted on a
  seeded 80/20 split, and the fitted model saved with its hashes for 07;
- :func:`run_model_eval` (07): Table 7 and Figure 4's ROC bands of the saved model, the
  repeated nested CV and the 0.632+ bootstrap of the whole procedure, calibration,
  decision curve, selection stability, permutation importance, sample size, the
  plain-language verdict, and the procedure on AI vs reference stations with the
  verdict of issue 25.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from analysis.ledger import read_ledger
from analysis.model import calibration as C
from analysis.model import evaluate as E
from analysis.model import features as F
from analysis.model.agreement import ModelComparison, comparison_for_store, verdict_for_store
from analysis.model.artefact import ModelArtefact, load_model, save_model
from analysis.model.fit import ModelInputs, PaperModel, fit_paper_model, inputs_from_store
from analysis.model.tripod import sample_size_for
from analysis.model.verdict import verdict
from analysis.stats.samplesize import SampleSize
from analysis.store import CohortStore


@dataclass(frozen=True)
class ModelResult:
    """What :func:`run_model` did."""

    #: the analysed patients' features and labels, and those without a usable label
    inputs: ModelInputs
    #: the fitted procedure, its split and its selected features
    model: PaperModel
    #: where the fitted model was saved, with its SHA-256
    artefact: ModelArtefact
    #: one Markdown line on the inputs (``inputs.describe``)
    description: str

    def report(self) -> str:
        """What 06 did, as Markdown (no identifier)."""
        return (f"{self.description}\n\nFitted model saved (`{self.artefact.path.name}`, "
                f"SHA-256 `{self.artefact.sha256[:16]}...`); "
                f"{len(self.model.selected)} features kept.")


def run_model(store: CohortStore, params) -> ModelResult:
    """Step 06: fit the paper's procedure on the analysed patients and save it.

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``).
    """
    inputs = inputs_from_store(store, params.model, read_ledger(store, params))
    model = fit_paper_model(inputs.X, inputs.y, params.model, params.seed)
    return ModelResult(inputs=inputs, model=model, artefact=save_model(model, params),
                       description=inputs.describe(params.model))


@dataclass(frozen=True)
class ModelEvalResult:
    """What :func:`run_model_eval` did (tables in the order 07 shows them)."""

    #: the model 06 saved, and every analysed patient with a label (for resampling)
    model: PaperModel
    cohort: ModelInputs
    #: the repeated nested CV of the whole procedure, and its summary
    nested: E.NestedCVResult
    nested_summary: E.NestedSummary
    #: Table 7 (apparent, cross-validated training and validation columns)
    table7: pd.DataFrame
    #: Figure 4's percentile-bootstrap ROC bands with each curve's AUC
    roc_bands: dict
    bootstrap632: E.Bootstrap632Result
    recalibration: pd.DataFrame
    slope_by_eps: pd.DataFrame
    smooth_calibration: pd.DataFrame
    calibration: pd.DataFrame
    calibration_summary: C.CalibrationSummary
    decision_curve: pd.DataFrame
    selection_frequency: pd.DataFrame
    permutation: pd.DataFrame
    sample_size: SampleSize
    #: the plain-language verdict, generated from the numbers
    verdict: str
    #: the procedure on AI vs reference station features (None: 03 saved none)
    comparison: ModelComparison | None
    #: issue 25's verdict: each criterion, its number and the rule
    stations_verdict: pd.DataFrame

    @property
    def oof(self) -> pd.DataFrame:
        """The out-of-fold risks averaged over the nested CV's repeats."""
        return self.nested.oof_mean()

    def report(self) -> str:
        """What 07 did, in a few lines (no identifier)."""
        return "\n".join([
            f"{len(self.cohort.y)} patients ({int(self.cohort.y.sum())} recurred) resampled; "
            f"the saved model was validated on {len(self.model.y_test)}",
            f"nested CV pooled AUC {self.nested_summary.pooled.value:.3f}; 0.632+ AUC "
            f"{self.bootstrap632.summary.auc.value:.3f}",
            "AI vs reference stations: " + str(self.stations_verdict["verdict"].iloc[0])])


def run_model_eval(store: CohortStore, params, *, known: Mapping | None = None
                   ) -> ModelEvalResult:
    """Step 07: evaluate the model 06 saved and the procedure behind it.

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``). ``known`` is planted truth where the cohort has one (a synthetic
    cohort): ``informative``, the names of the features that carry the signal, and
    ``ceiling``, the best AUC the true risk allows as (value, lo, hi). The verdict and
    the AI-vs-reference comparison then also say how much of it was recovered; None on
    real data.
    """
    mp, seed = params.model, params.seed
    known = known or {}
    model = load_model(params)  # fitted and saved by 06_model
    cohort = inputs_from_store(store, mp, read_ledger(store, params))
    # the nested CV runs first: its out-of-fold risks give Table 7 a cross-validated
    # training column beside the apparent (in-sample) one
    nested = E.nested_cv(cohort.X, cohort.y, mp, seed)
    oof = nested.oof_mean()
    t7 = E.table7(model, mp.n_bootstrap, seed, oof=oof)
    bands = {"training": (E.roc_band(model.y_train, model.prob_train, mp.n_bootstrap, seed),
                          t7.loc["auc", E.TRAIN_APPARENT]),
             "validation": (E.roc_band(model.y_test, model.prob_test, mp.n_bootstrap,
                                       seed + 1), t7.loc["auc", "valid"])}
    nested_sum = E.nested_summary(nested)
    b632 = E.bootstrap_632plus(cohort.X, cohort.y, mp, seed)
    recal = C.recalibration_by_repeat(nested.oof, eps=mp.calibration_risk_eps)
    cal_sum = C.calibration_summary(oof["y"], oof["prob"])
    dc = C.decision_curve(oof["y"], oof["prob"], C.threshold_grid(mp.decision_thresholds))
    freq = F.selection_frequency(nested.selection)
    text = verdict(E.SplitAUC.from_table7(t7), nested_sum, b632.summary, cal_sum, freq, dc,
                   len(model.y_test), ceiling=known.get("ceiling"),
                   phantom=params.is_phantom, recal=recal)
    comparison = comparison_for_store(store, params, known.get("informative"))
    return ModelEvalResult(
        model=model, cohort=cohort, nested=nested, nested_summary=nested_sum, table7=t7,
        roc_bands=bands, bootstrap632=b632, recalibration=recal,
        slope_by_eps=C.slope_by_eps(nested.oof, C.EPS_SENSITIVITY
                                    + (mp.calibration_risk_eps,)),
        smooth_calibration=C.smoothed_calibration_by_repeat(nested.oof, mp.n_bootstrap,
                                                            seed),
        calibration=C.calibration_table(oof["y"], oof["prob"], mp.calibration_bins),
        calibration_summary=cal_sum, decision_curve=dc, selection_frequency=freq,
        permutation=F.permutation_table(model, mp.permutation_repeats, seed),
        sample_size=sample_size_for(cohort.y, cohort.X.shape[1],
                                    mp.sample_size_r2_share_of_max),
        verdict=text, comparison=comparison,
        stations_verdict=verdict_for_store(store, params, comparison))
