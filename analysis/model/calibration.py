"""Calibration and clinical usefulness of out-of-fold risks (07_model_eval).

- :func:`brier_score`, :func:`calibration_table` (quantile bins), :func:`calibration_summary`
  (Brier score beside the prevalence-only reference, as a typed :class:`CalibrationSummary`);
- :func:`logistic_recalibration`: calibration intercept (calibration-in-the-large, slope
  fixed at 1 through an offset) and calibration slope, each with a Wald 95% CI, by
  logistic regression on the logit of the risk (Cox 1958; Van Calster et al. 2016);
  :func:`recalibration_by_repeat` gives them for each repeat of the nested CV, and
  :func:`slope_by_eps` shows how the slope moves with the clipping constant ``eps``
  (``model.calibration_risk_eps``: a forest says exactly 0 or 1, whose logit is infinite);
- :func:`smoothed_calibration`: a loess (statsmodels ``lowess``) calibration curve with a
  percentile-bootstrap 95% band (patients resampled), per repeat;
- :func:`decision_curve` (Vickers & Elkin 2006): net benefit computed by the maintained
  ``dcurves`` package (``dcurves.dca``), over :func:`threshold_grid`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from dcurves import dca
from sklearn.metrics import brier_score_loss
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

#: clipping constants at which 07 shows the calibration slope (beside the run's own)
EPS_SENSITIVITY: tuple[float, ...] = (1e-4, 1e-3, 1e-2)


def brier_score(y_true, prob) -> float:
    """Brier score, mean of (prob - y)^2 over patients (0 is perfect)."""
    return float(brier_score_loss(np.asarray(y_true).astype(int), np.asarray(prob, float)))


def calibration_table(y_true, prob, n_bins: int) -> pd.DataFrame:
    """Calibration curve on quantile bins of the risk: mean predicted vs observed rate.

    Bins are delimited by the ``n_bins + 1`` quantiles of ``prob`` (ties merged), right
    edge included in the last bin.

    Returns
    -------
    DataFrame (<= n_bins, 3): mean_predicted, observed_rate, n_patients.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    df = pd.DataFrame({"b": b, "p": p, "y": y}).groupby("b")
    return pd.DataFrame({"mean_predicted": df["p"].mean(), "observed_rate": df["y"].mean(),
                         "n_patients": df["y"].size()}).reset_index(drop=True)


@dataclass(frozen=True)
class CalibrationSummary:
    """Brier score of the out-of-fold risk and its references (all unitless, in [0, 1])."""

    brier: float
    brier_prevalence: float
    mean_predicted: float
    observed_rate: float

    def table(self) -> pd.DataFrame:
        """The summary as a display table indexed by quantity, one column ``value``."""
        return pd.DataFrame({"value": [self.brier, self.brier_prevalence,
                                       self.mean_predicted, self.observed_rate]},
                            index=pd.Index(["Brier score (out-of-fold)",
                                            "Brier score, prevalence only",
                                            "mean predicted risk", "observed rate"],
                                           name="quantity"))


def calibration_summary(y_true, prob) -> CalibrationSummary:
    """Brier score of the model beside the prevalence-only reference."""
    y = np.asarray(y_true).astype(int)
    ref = brier_score(y, np.full(len(y), y.mean()))
    return CalibrationSummary(brier_score(y, prob), ref, float(np.mean(prob)),
                              float(y.mean()))


def decision_curve(y_true, prob, thresholds) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none over ``thresholds`` in (0, 1).

    Computed by ``dcurves.dca``: ``NB(t) = TP/n - FP/n * t / (1 - t)`` for treating
    patients with ``prob >= t`` (Vickers & Elkin 2006); treat-all is
    ``prevalence - (1 - prevalence) t / (1 - t)``.

    Returns
    -------
    DataFrame (n_thresholds, 4): threshold, model, treat_all, treat_none.
    """
    y = np.asarray(y_true).astype(int)
    ts = np.asarray(thresholds, dtype=float)
    if np.any((ts <= 0) | (ts >= 1)):
        raise ValueError("decision_curve: thresholds must lie in (0, 1)")
    data = pd.DataFrame({"y": y, "risk": np.asarray(prob, dtype=float)})
    r = dca(data=data, outcome="y", modelnames=["risk"], thresholds=list(ts))
    nb = r.pivot(index="threshold", columns="model", values="net_benefit").loc[ts]
    return pd.DataFrame({"threshold": ts, "model": nb["risk"].to_numpy(dtype=float),
                         "treat_all": nb["all"].to_numpy(dtype=float),
                         "treat_none": nb["none"].to_numpy(dtype=float)})


def _logit(prob, eps: float) -> np.ndarray:
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
    p = np.clip(np.asarray(prob, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Recalibration:
    """Calibration intercept and slope with Wald 95% CIs (ideal: 0 and 1).

    intercept : calibration-in-the-large, ``logit P(y=1) = a + logit(p)`` (offset)
    slope : ``logit P(y=1) = a' + b logit(p)``; b < 1: risks too extreme (overfitting)
    """

    intercept: float
    intercept_lo: float
    intercept_hi: float
    slope: float
    slope_lo: float
    slope_hi: float
    n: int


def logistic_recalibration(y_true, prob, *, eps: float) -> Recalibration:
    """Logistic recalibration of risks ``prob`` (n,) against labels ``y_true`` (n,).

    Risks are clipped to ``[eps, 1 - eps]`` before the logit (the run's
    ``model.calibration_risk_eps``); with risks of exactly 0 or 1 the slope depends on
    it (:func:`slope_by_eps`). CIs are Wald
    intervals (estimate +- 1.96 SE) of the binomial GLM (statsmodels). NaN where the
    maximum-likelihood estimate does not exist (perfect separation, one class only).
    """
    y = np.asarray(y_true).astype(int)
    lp = _logit(prob, eps)
    ones = np.ones((len(y), 1))
    intercept = _glm_coef(y, ones, lp, 0)
    # one risk for everybody: no slope to estimate
    slope = (_glm_coef(y, np.column_stack([ones, lp]), None, 1) if np.ptp(lp) > 0
             else (np.nan, np.nan, np.nan))
    return Recalibration(*intercept, *slope, len(y))


def _glm_coef(y, exog, offset, k: int) -> tuple[float, float, float]:
    """Coefficient ``k`` of a binomial GLM and its Wald 95% CI; NaN when the outcome is
    perfectly separated or constant (the MLE does not exist)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            fit = sm.GLM(y, exog, family=sm.families.Binomial(), offset=offset).fit()
        except (PerfectSeparationWarning, PerfectSeparationError):
            return np.nan, np.nan, np.nan
    ci = fit.conf_int(0.05)
    return float(fit.params[k]), float(ci[k, 0]), float(ci[k, 1])


def recalibration_by_repeat(oof: pd.DataFrame, *, eps: float) -> pd.DataFrame:
    """:func:`logistic_recalibration` of each repeat's out-of-fold risks (clipped at
    ``eps``).

    Parameters
    ----------
    oof : DataFrame with columns repeat, y, prob (``NestedCVResult.oof``)

    Returns
    -------
    DataFrame indexed by repeat: intercept, intercept_lo, intercept_hi, slope, slope_lo,
    slope_hi, n.
    """
    rows = {int(r): asdict(logistic_recalibration(g["y"], g["prob"], eps=eps))
            for r, g in oof.groupby("repeat", sort=True)}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "repeat"
    return df


def slope_by_eps(oof: pd.DataFrame, eps_values) -> pd.DataFrame:
    """Calibration slope and intercept of each repeat's out-of-fold risks at several
    clipping constants: how much the slope owes to the choice of ``eps``.

    Parameters
    ----------
    oof : DataFrame with columns repeat, y, prob (``NestedCVResult.oof``)
    eps_values : the clipping constants (each in (0, 0.5); duplicates dropped, sorted)

    Returns
    -------
    DataFrame, one row per (eps, repeat): eps, repeat, n_clipped (risks below ``eps``
    or above ``1 - eps``), slope, slope_lo, slope_hi, intercept.
    """
    rows = []
    for eps in sorted(set(float(e) for e in eps_values)):
        for r, g in oof.groupby("repeat", sort=True):
            p = g["prob"].to_numpy(dtype=float)
            rc = logistic_recalibration(g["y"], p, eps=eps)
            rows.append({"eps": eps, "repeat": int(r),
                         "n_clipped": int(((p < eps) | (p > 1 - eps)).sum()),
                         "slope": rc.slope, "slope_lo": rc.slope_lo, "slope_hi": rc.slope_hi,
                         "intercept": rc.intercept})
    return pd.DataFrame(rows)


def smoothed_calibration(y_true, prob, n_boot: int, seed: int, n_grid: int = 50,
                         frac: float = 2 / 3) -> pd.DataFrame:
    """Loess calibration curve with a percentile-bootstrap 95% band.

    The observed rate is smoothed against the risk by ``statsmodels`` ``lowess``
    (span ``frac``, no robustifying iterations: with 0/1 outcomes they would
    down-weight the minority class, as in Harrell's ``val.prob``) and read at ``n_grid`` risks evenly spaced
    between the 5th and 95th percentiles of ``prob`` (the ends are too thin to smooth).
    The band: the same curve on ``n_boot`` patient resamples, 2.5/97.5 percentiles at
    each grid risk (resamples where lowess cannot be read there are skipped).

    Returns
    -------
    DataFrame (n_grid, 4): predicted, observed, observed_lo, observed_hi.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(prob, dtype=float)
    grid = np.linspace(*np.quantile(p, [0.05, 0.95]), n_grid)

    def curve(yy, pp):
        return np.clip(lowess(yy, pp, frac=frac, it=0, xvals=grid), 0, 1)

    rng = np.random.default_rng(seed)
    boots = np.array([curve(y[i], p[i]) for i in
                      (rng.integers(0, len(y), len(y)) for _ in range(n_boot))])
    return pd.DataFrame({"predicted": grid, "observed": curve(y, p),
                         "observed_lo": np.nanquantile(boots, 0.025, axis=0),
                         "observed_hi": np.nanquantile(boots, 0.975, axis=0)})


def smoothed_calibration_by_repeat(oof: pd.DataFrame, n_boot: int, seed: int,
                                   n_grid: int = 50) -> pd.DataFrame:
    """:func:`smoothed_calibration` of each repeat's out-of-fold risks, stacked with a
    ``repeat`` column (seed ``seed + repeat``)."""
    parts = [smoothed_calibration(g["y"], g["prob"], n_boot, seed + int(r), n_grid)
             .assign(repeat=int(r)) for r, g in oof.groupby("repeat", sort=True)]
    return pd.concat(parts, ignore_index=True)[["repeat", "predicted", "observed",
                                                "observed_lo", "observed_hi"]]


def threshold_grid(spec: tuple[float, float, float]) -> np.ndarray:
    """Thresholds from (start, stop, step), stop included when on the grid."""
    start, stop, step = spec
    return np.round(np.arange(start, stop + step / 2, step), 10)
