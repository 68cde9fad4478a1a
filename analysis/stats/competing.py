r"""Competing risks: cumulative incidence (exact Aalen-Johansen) with Aalen's variance.

With causes :math:`k` (1 = local failure, 2 = death without local failure, 0 =
censored), distinct times :math:`t_j`, :math:`n_j` at risk and :math:`d_{kj}` events of
cause :math:`k` at :math:`t_j` (ties kept: every event at :math:`t_j` counts at
:math:`t_j`, nothing is moved):

.. math::
    \hat F_k(t) = \sum_{t_j \le t} \hat S(t_{j-1}) \frac{d_{kj}}{n_j}, \qquad
    \hat S(t) = \prod_{t_j \le t} \Big(1 - \frac{\sum_k d_{kj}}{n_j}\Big)

(:func:`cumulative_incidence`; :math:`\hat S` is the Kaplan-Meier of any event). This is
R ``cmprsk::cuminc``'s estimate (Kalbfleisch & Prentice 1980, eq. 7.13). Example: times
10, 20, 36, 36, 40, 50 with causes 1, 2, 1, 2, 0, 0 give :math:`\hat F_1(36) = 1/6 +
(4/6)(1/4) = 1/3`; a fit that jitters the tie at 36 (lifelines' ``AalenJohansenFitter``,
used here before issue 23) can put the cause-1 event after 36 months and print 1/6.

1 - KM of cause 1 alone treats a death as a censoring: it estimates the failure
probability in a world without death and overstates the share of patients who fail
(:math:`\hat F_1 \le 1 - \hat S_1`). The notebook shows both.

Gray's k-sample test is :mod:`analysis.stats.gray`, the Fine-Gray subdistribution hazard
model :mod:`analysis.stats.finegray`; each is checked against R ``cmprsk`` 2.2 on the
bone-marrow transplant data (``tests/test_stats_competing.py``). ``pycmprsk`` and
``comprisk`` (PyPI) were not used: single-author projects without a test against R that
we could read, where the estimators are a page of numpy each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

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


def validate_competing(time_months, cause, *, who: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check competing-risk data: finite times >= 0, integer causes >= 0 (0 = censored).

    Raises
    ------
    SurvivalInputError naming ``who`` on a length mismatch, no rows, a missing or
    negative time, or a cause that is not a non-negative integer.
    """
    where = f" ({who})" if who else ""
    t = np.asarray(time_months, dtype=float)
    c_raw = np.asarray(cause, dtype=float)
    if t.ndim != 1 or t.shape != c_raw.shape:
        raise SurvivalInputError(f"time and cause must be 1-D of equal length{where}, "
                                 f"got {t.shape} and {c_raw.shape}")
    if t.size == 0:
        raise SurvivalInputError(f"no rows{where}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise SurvivalInputError(f"time: missing, infinite or negative value(s){where}")
    if not np.isfinite(c_raw).all() or (c_raw < 0).any() or (c_raw != np.round(c_raw)).any():
        raise SurvivalInputError(f"cause: values must be integers >= 0 (0 = censored){where}")
    return t, c_raw.astype(int)


def cumulative_incidence(time_months, cause, k: int = CAUSE_LF) -> pd.DataFrame:
    r"""Aalen-Johansen cumulative incidence of cause ``k`` with Aalen's variance, exact ties.

    The estimate is the module formula. The variance is the one R ``cmprsk::cuminc``
    reports (Aalen 1978; the delta-method variance of lifelines differs: 0.0507
    against 0.0514 for an SE on the bmt data, issue 23). With :math:`d_{1j}` events of
    cause ``k`` and :math:`d_{2j}` of any other cause at :math:`t_j`, and
    :math:`r_j(t) = (\hat F_k(t) - \hat F_k(t_j)) / \hat S(t_j)`:

    .. math::
        \widehat{\mathrm{Var}}\,\hat F_k(t) = \sum_{t_j \le t}
        \Big(\frac{\hat S(t_{j-1})}{n_j}\Big)^2 \Big[
        d_{1j}\,\tau(d_{1j}, n_j)\,\big(1 - r_j(t)\big)^2
        + d_{2j}\,\tau(d_{2j}, n_j)\,r_j(t)^2\Big],
        \qquad \tau(d, n) = 1 - \frac{d - 1}{n - 1}

    (:math:`\tau` = 1 for :math:`d \le 1`: the correction for tied events; where
    :math:`\hat S(t_j) = 0`, :math:`r_j` is taken as 0 and the other-cause term
    dropped, as cmprsk does). Checked against ``cmprsk::cuminc`` on the bmt data to
    4 decimals (tests/test_stats_competing.py).

    Parameters
    ----------
    time_months : array-like (n,)
    cause : array-like (n,) of int, 0 = censored
    k : the cause of interest

    Returns
    -------
    DataFrame indexed by distinct time (months, increasing) with ``n_at_risk``,
    ``d_cause``, ``d_other``, ``d_any``, ``cif``, ``var``.
    """
    t, c = validate_competing(time_months, cause, who="cumulative incidence")
    times, inv = np.unique(t, return_inverse=True)
    d1 = np.bincount(inv, weights=(c == k).astype(float), minlength=times.size)
    d_any = np.bincount(inv, weights=(c > 0).astype(float), minlength=times.size)
    d2 = d_any - d1
    n_all = np.bincount(inv, minlength=times.size)
    n = (t.size - np.concatenate([[0], np.cumsum(n_all)[:-1]])).astype(float)
    s = np.cumprod(1.0 - d_any / n)
    s_before = np.concatenate([[1.0], s[:-1]])
    f = np.cumsum(s_before * d1 / n)

    def tie(d):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 1, 1.0 - (d - 1.0) / (n - 1.0), 1.0)

    w1 = (s_before / n) ** 2 * d1 * tie(d1)
    w2 = (s_before / n) ** 2 * d2 * tie(d2)
    alive = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # r[t, j] = (F(t) - F(t_j)) / S(t_j) for t_j <= t (rows: t, columns: j)
        r = np.where(alive[None, :], (f[:, None] - f[None, :]) / s[None, :], 0.0)
    before = np.tri(times.size, dtype=bool)
    terms = w1[None, :] * (1.0 - r) ** 2 + np.where(alive, w2, 0.0)[None, :] * r ** 2
    var = np.where(before, terms, 0.0).sum(axis=1)
    return pd.DataFrame({"n_at_risk": n.astype(int), "d_cause": d1.astype(int),
                         "d_other": d2.astype(int), "d_any": d_any.astype(int), "cif": f,
                         "var": var}, index=pd.Index(times, name="time_months"))


def cif_at(table: pd.DataFrame, t_months: float, alpha: float = 0.05) -> dict:
    r"""Cumulative incidence at ``t_months`` with its log(-log) confidence interval.

    The step value at the last time <= ``t_months`` of :func:`cumulative_incidence`,
    its SE the square root of Aalen's variance, and the interval on the log(-log) scale
    (as R ``tidycmprsk::cuminc``), which stays inside (0, 1):

    .. math::
        \hat F^{\exp(\pm z\, \mathrm{SE} / (\hat F \log \hat F))}

    Example: F = 0.4, SE = 0.05 -> 0.302 to 0.496.

    Returns
    -------
    dict with ``cif``, ``se``, ``lower``, ``upper``, ``note`` ("" or why the interval
    is undefined: no event of the cause yet, F = 0, or F = 1).
    """
    before = table.index <= t_months
    if not before.any():
        return {"cif": 0.0, "se": 0.0, "lower": np.nan, "upper": np.nan,
                "note": f"before the first time: F = 0 at {t_months:g} months, CI undefined"}
    row = table.loc[before].iloc[-1]
    f, se = float(row["cif"]), float(np.sqrt(row["var"]))
    if f <= 0.0 or f >= 1.0:
        return {"cif": f, "se": se, "lower": np.nan, "upper": np.nan,
                "note": f"F = {f:g} at {t_months:g} months: log(-log) CI undefined"}
    z = sstats.norm.ppf(1 - alpha / 2)
    a, b = f ** np.exp(z * se / (f * np.log(f))), f ** np.exp(-z * se / (f * np.log(f)))
    return {"cif": f, "se": se, "lower": float(min(a, b)), "upper": float(max(a, b)),
            "note": ""}
