"""Calibration and clinical usefulness of out-of-fold risks (07_model_eval).

- :func:`brier_score`, :func:`calibration_table` (quantile bins), :func:`calibration_summary`
  (Brier score beside the prevalence-only reference, as a typed :class:`CalibrationSummary`);
- :func:`net_benefit`, :func:`decision_curve` (Vickers & Elkin 2006) over
  :func:`threshold_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss


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


def net_benefit(y_true, prob, threshold: float) -> float:
    """Net benefit of treating patients with ``prob >= threshold`` (Vickers & Elkin 2006).

    .. math:: NB(t) = \\frac{TP}{n} - \\frac{FP}{n}\\,\\frac{t}{1-t}
    """
    y = np.asarray(y_true).astype(int)
    treat = np.asarray(prob, dtype=float) >= threshold
    n = len(y)
    tp = np.sum(treat & (y == 1))
    fp = np.sum(treat & (y == 0))
    return float(tp / n - fp / n * threshold / (1 - threshold))


def decision_curve(y_true, prob, thresholds) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none over ``thresholds`` in (0, 1)."""
    y = np.asarray(y_true).astype(int)
    ts = np.asarray(thresholds, dtype=float)
    if np.any((ts <= 0) | (ts >= 1)):
        raise ValueError("decision_curve: thresholds must lie in (0, 1)")
    prev = y.mean()
    return pd.DataFrame({
        "threshold": ts,
        "model": [net_benefit(y, prob, t) for t in ts],
        "treat_all": prev - (1 - prev) * ts / (1 - ts),
        "treat_none": 0.0,
    })


def threshold_grid(spec: tuple[float, float, float]) -> np.ndarray:
    """Thresholds from (start, stop, step), stop included when on the grid."""
    start, stop, step = spec
    return np.round(np.arange(start, stop + step / 2, step), 10)
