"""Minimum sample size for developing a prediction model with a binary outcome
(Riley et al., Stat Med 2019;38:1276-96 and BMJ 2020;368:m441), as R/Python
``pmsampsize`` computes it for ``type = "b"``.

Three criteria, each a minimum number of participants ``n``; the largest wins:

1. small overfitting: expected uniform shrinkage ``S >= 0.9``;
2. small optimism: apparent minus adjusted Nagelkerke R2 ``<= 0.05``;
3. the overall risk (the intercept) estimated within ``+-0.05`` (95% confidence).

Criteria 1 and 2 need the anticipated Cox-Snell R2 of the model (``r2_cs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


def max_r2_cs(prevalence: float) -> float:
    """Largest Cox-Snell R2 a model can reach at outcome prevalence ``phi``
    (Riley et al. 2019, eq. 23):

    .. math:: \\max R^2_{CS} = 1 - \\left(\\phi^{\\phi} (1-\\phi)^{1-\\phi}\\right)^2

    Worked example: ``phi = 0.5`` -> 1 - 0.25 = 0.75; ``phi = 0.174`` -> 0.6032.
    """
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must lie in (0, 1), got {prevalence}")
    p = prevalence
    return 1 - math.exp(2 * (p * math.log(p) + (1 - p) * math.log(1 - p)))


def _n_for_shrinkage(n_parameters: int, r2_cs: float, shrinkage: float) -> int:
    """``n = p / ((S - 1) ln(1 - R2_cs / S))`` (Riley et al. 2019), rounded up."""
    return math.ceil(n_parameters / ((shrinkage - 1) * math.log(1 - r2_cs / shrinkage)))


@dataclass(frozen=True)
class SampleSize:
    """Riley et al.'s minimum sample size for a binary outcome (:func:`riley_binary`).

    n_shrinkage, n_optimism, n_intercept : participants needed by criteria 1, 2, 3
    shrinkage_optimism : the shrinkage that criterion 2 implies
    n : the largest of the three; events : ``n * prevalence``; epp : events per
    candidate predictor parameter; shrinkage : ``max(0.9, shrinkage_optimism)``
    """

    prevalence: float
    n_parameters: int
    r2_cs: float
    max_r2_cs: float
    n_shrinkage: int
    n_optimism: int
    n_intercept: int
    shrinkage_optimism: float
    shrinkage: float

    @property
    def n(self) -> int:
        """Minimum participants: the largest criterion."""
        return max(self.n_shrinkage, self.n_optimism, self.n_intercept)

    @property
    def events(self) -> float:
        """Events expected among the minimum participants (``n * prevalence``)."""
        return self.n * self.prevalence

    @property
    def epp(self) -> float:
        """Events per candidate predictor parameter at the minimum."""
        return self.events / self.n_parameters

    def table(self, n_cohort: int | None = None, events_cohort: int | None = None
              ) -> pd.DataFrame:
        """One row per criterion and the final minimum (pmsampsize's layout: n, events,
        EPP, shrinkage), and, given the cohort's numbers, a row ``cohort`` beside them."""
        rows = [
            ("criterion 1: shrinkage >= 0.9", self.n_shrinkage, 0.9),
            ("criterion 2: Nagelkerke R2 optimism <= 0.05", self.n_optimism,
             self.shrinkage_optimism),
            ("criterion 3: overall risk within +-0.05", self.n_intercept, self.shrinkage),
            ("minimum (largest of 1-3)", self.n, self.shrinkage),
        ]
        df = pd.DataFrame([{"n": n, "events": n * self.prevalence,
                            "epp": n * self.prevalence / self.n_parameters,
                            "shrinkage": s} for _, n, s in rows],
                          index=pd.Index([r[0] for r in rows], name="requirement"))
        if n_cohort is not None:
            ev = float(events_cohort) if events_cohort is not None else float("nan")
            df.loc["this cohort"] = [n_cohort, ev, ev / self.n_parameters, float("nan")]
        df["n"] = df["n"].astype(int)
        return df


def riley_binary(prevalence: float, n_parameters: int, r2_cs: float, *,
                 shrinkage: float = 0.9, optimism: float = 0.05,
                 margin: float = 0.05) -> SampleSize:
    """Minimum sample size for a binary-outcome prediction model (Riley et al. 2019).

    .. math::
        n_1 = \\frac{p}{(S - 1) \\ln(1 - R^2_{CS}/S)}, \\quad
        S_2 = \\frac{R^2_{CS}}{R^2_{CS} + \\delta \\max R^2_{CS}}, \\quad
        n_2 = \\frac{p}{(S_2 - 1) \\ln(1 - R^2_{CS}/S_2)}, \\quad
        n_3 = \\left(\\frac{1.96}{m}\\right)^2 \\phi (1 - \\phi)

    each rounded up (``p`` candidate predictor parameters, ``S = 0.9``,
    ``delta = 0.05``, ``m = 0.05``, prevalence ``phi``).

    Worked example (pmsampsize's documentation, "based on Riley et al. BMJ 2020"; its
    Python test suite expects the same): ``phi = 0.174``, ``p = 24``,
    ``R2_cs = 0.288`` -> criteria 623, 662, 221, minimum 662 (115.2 events, EPP 4.80,
    shrinkage 0.905).

    Raises
    ------
    ValueError
        For a prevalence outside (0, 1), fewer than 1 parameter, or an R2 that is not
        positive, exceeds the maximum for the prevalence or the shrinkage.
    """
    mx = max_r2_cs(prevalence)
    if n_parameters < 1:
        raise ValueError(f"n_parameters must be >= 1, got {n_parameters}")
    if not 0 < r2_cs <= mx:
        raise ValueError(f"r2_cs must lie in (0, max R2_cs = {mx:.4f}] at prevalence "
                         f"{prevalence:g}, got {r2_cs}")
    if not r2_cs < shrinkage < 1:
        raise ValueError(f"shrinkage must lie in (r2_cs, 1), got {shrinkage}")
    s2 = r2_cs / (r2_cs + optimism * mx)
    n3 = math.ceil((1.96 / margin) ** 2 * prevalence * (1 - prevalence))
    return SampleSize(prevalence=prevalence, n_parameters=n_parameters, r2_cs=r2_cs,
                      max_r2_cs=mx,
                      n_shrinkage=_n_for_shrinkage(n_parameters, r2_cs, shrinkage),
                      n_optimism=_n_for_shrinkage(n_parameters, r2_cs, s2),
                      n_intercept=n3, shrinkage_optimism=s2,
                      shrinkage=max(shrinkage, s2))
