r"""Competing risks: cumulative incidence (Aalen-Johansen) beside 1 - Kaplan-Meier.

With causes :math:`k` (1 = local failure, 2 = death without local failure, 0 =
censored), distinct event times :math:`t_j`, :math:`n_j` at risk and :math:`d_{kj}`
events of cause :math:`k`:

.. math::
    \hat F_k(t) = \sum_{t_j \le t} \hat S(t_{j-1}) \frac{d_{kj}}{n_j}, \qquad
    \hat S(t) = \prod_{t_j \le t} \Big(1 - \frac{\sum_k d_{kj}}{n_j}\Big)

(:func:`cumulative_incidence_by_hand`; :math:`\hat S` is the Kaplan-Meier of any event).
1 - KM of cause 1 alone treats a death as a censoring: it estimates the failure
probability in a world without death and overstates the share of patients who fail
(:math:`\hat F_1 \le 1 - \hat S_1`). The notebook shows both. Confidence limits of
:math:`\hat F_k` are lifelines' ``AalenJohansenFitter`` (delta-method variance,
log(-log) transform). lifelines breaks ties between causes by jittering the tied times
(seeded here, so runs repeat exactly).

Gray's test and the Fine-Gray model are not provided: no maintained Python library
offers them (lifelines and scikit-survival do not; the PyPI packages that claim to —
``pycmprsk``, ``comprisk``, ``compriskreg`` — are recent single-author projects without
an established user base, and ``cmprsk`` wraps R through rpy2). Cause-specific
hazards can be compared with the log-rank test and Cox model on cause 1 (death
censored), which is what Table 4 does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analysis.stats.survdata import SurvivalInputError

CAUSE_LF = 1
CAUSE_DEATH = 2


def competing_coding(lc_time_months, lc_event, os_time_months, os_event,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Time and cause of the first event: local failure (1), death without local failure
    (2) or censoring (0).

    A local failure is the first event at ``lc_time``; otherwise a death is the first
    event at ``os_time``; otherwise the patient is censored at ``lc_time`` (the last
    follow-up). Example: (lc 10, event 1, os 20, died) -> (10, 1); (lc 15, 0, os 15,
    died) -> (15, 2); (lc 30, 0, os 30, alive) -> (30, 0).

    Returns
    -------
    time_months, cause : ndarray of shape (n,)
    """
    lt, le = np.asarray(lc_time_months, float), np.asarray(lc_event, float)
    ot, oe = np.asarray(os_time_months, float), np.asarray(os_event, float)
    if not lt.shape == le.shape == ot.shape == oe.shape:
        raise SurvivalInputError("competing_coding: the four columns must have one length")
    if np.isnan(le).any() or np.isnan(oe).any():
        raise SurvivalInputError("competing_coding: missing local-failure or death flag")
    lf, died = le == 1, (oe == 1) & (le == 0)
    time = np.where(died, ot, lt)
    if np.isnan(time).any() or (time < 0).any():
        raise SurvivalInputError("competing_coding: missing or negative time")
    return time, np.where(lf, CAUSE_LF, np.where(died, CAUSE_DEATH, 0)).astype(int)


def cumulative_incidence_by_hand(time_months, cause, k: int = CAUSE_LF) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of cause ``k`` (module formula), numpy only.

    Returns
    -------
    DataFrame indexed by distinct time (months) with ``n_at_risk``, ``d_cause``,
    ``d_any``, ``cif``.
    """
    t, c = np.asarray(time_months, float), np.asarray(cause, int)
    times, inv = np.unique(t, return_inverse=True)
    d_any = np.bincount(inv, weights=(c > 0).astype(float), minlength=times.size)
    d_k = np.bincount(inv, weights=(c == k).astype(float), minlength=times.size)
    n_all = np.bincount(inv, minlength=times.size)
    n_risk = t.size - np.concatenate([[0], np.cumsum(n_all)[:-1]])
    s = np.cumprod(1.0 - d_any / n_risk)
    s_before = np.concatenate([[1.0], s[:-1]])
    return pd.DataFrame({"n_at_risk": n_risk, "d_cause": d_k.astype(int),
                         "d_any": d_any.astype(int), "cif": np.cumsum(s_before * d_k / n_risk)},
                        index=pd.Index(times, name="time_months"))


def cumulative_incidence(time_months, cause, k: int = CAUSE_LF, seed: int = 0):
    """lifelines' ``AalenJohansenFitter`` for cause ``k`` (seeded jitter of ties).

    Returns
    -------
    lifelines AalenJohansenFitter, fitted (``cumulative_density_``,
    ``confidence_interval_``).
    """
    from lifelines import AalenJohansenFitter

    ajf = AalenJohansenFitter(seed=seed, calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns that it jitters tied times
        ajf.fit(np.asarray(time_months, float), np.asarray(cause, int), event_of_interest=k)
    return ajf


def cif_at(ajf, t_months: float) -> dict:
    """Cumulative incidence at ``t_months`` with its 95% CI from a fitted
    :func:`cumulative_incidence` (the step value at the last time <= ``t_months``)."""
    cd = ajf.cumulative_density_
    ci = ajf.confidence_interval_
    before = cd.index <= t_months
    if not before.any():
        return {"cif": 0.0, "lower": 0.0, "upper": 0.0}
    i = np.flatnonzero(before)[-1]
    return {"cif": float(cd.iloc[i, 0]), "lower": float(ci.iloc[i, 0]),
            "upper": float(ci.iloc[i, 1])}
