"""Kaplan-Meier estimate, Greenwood confidence limits, medians and median follow-up.

Confidence intervals use Greenwood's variance. ``"log"`` is R ``survfit``'s default
``conf.type`` (used in the tests against R); ``"log-log"`` is lifelines' default (better
coverage near 0 and 1). Medians follow R's rule (Brookmeyer-Crowley inversion; midpoint
on an exact flat 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats.survdata import validate_survival


def km_table(time_months, event) -> pd.DataFrame:
    """Kaplan-Meier estimate with Greenwood's variance sum, at every distinct time.

    .. math::
        \\hat S(t) = \\prod_{t_j \\le t} (1 - d_j / n_j), \\qquad
        G(t) = \\sum_{t_j \\le t} \\frac{d_j}{n_j (n_j - d_j)}

    so that :math:`\\widehat{\\mathrm{Var}}[\\log \\hat S(t)] = G(t)` (Greenwood).
    Reference: Kaplan & Meier (1958); Greenwood (1926); R ``survival::survfit``.

    Parameters
    ----------
    time_months, event : array-like of shape (n,)

    Returns
    -------
    DataFrame indexed by distinct time (months, increasing) with ``n_at_risk``,
    ``n_events``, ``n_censored``, ``survival``, ``greenwood`` (G; inf once S = 0).
    """
    t, e = validate_survival(time_months, event)
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=times.size)
    c = np.bincount(inv, weights=1 - e, minlength=times.size)
    n_at_risk = t.size - np.concatenate([[0], np.cumsum(d + c)[:-1]])
    surv = np.cumprod(1.0 - d / n_at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n_at_risk * (n_at_risk - d)), 0.0)
    greenwood = np.cumsum(term)
    return pd.DataFrame({"n_at_risk": n_at_risk.astype(int), "n_events": d.astype(int),
                         "n_censored": c.astype(int), "survival": surv,
                         "greenwood": greenwood},
                        index=pd.Index(times, name="time_months"))


def km_confidence(survival, greenwood, conf_type: str = "log-log",
                  alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise confidence limits of a Kaplan-Meier estimate from Greenwood's sum.

    .. math::
        \\text{log: } \\hat S e^{\\pm z \\sqrt G} \\ (\\text{upper capped at 1}),\\quad
        \\text{log-log: } \\hat S^{\\exp(\\pm z \\sqrt G / \\log \\hat S)},\\quad
        \\text{plain: } \\hat S (1 \\pm z \\sqrt G)

    ``"log"`` is R ``survfit``'s default ``conf.type``; ``"log-log"`` is lifelines'
    (R ``conf.type = "log-log"``). Where S = 1 (no event yet) the log-log limits are
    undefined, and where S = 0 both the log and log-log limits are (R prints NA): they
    are returned as NaN; callers note it (:func:`survival_at`).

    Returns
    -------
    lower, upper : ndarray, same shape as ``survival``
    """
    s = np.asarray(survival, dtype=float)
    se = np.sqrt(np.asarray(greenwood, dtype=float))
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            lo, hi = s * np.exp(-z * se), np.minimum(s * np.exp(z * se), 1.0)
            # S = 0 (the last patient at risk had the event): log S and Greenwood's
            # variance are infinite, the limits undefined (NaN, as R survfit's NA)
            lo = np.where(s == 0, np.nan, lo)
            hi = np.where(s == 0, np.nan, hi)
        elif conf_type == "log-log":
            log_s = np.log(s)
            lo = s ** np.exp(-z * se / log_s)
            hi = s ** np.exp(z * se / log_s)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
            undefined = (s >= 1.0) | (s <= 0.0)
            lo = np.where(undefined, np.nan, lo)
            hi = np.where(undefined, np.nan, hi)
        elif conf_type == "plain":
            lo = np.clip(s - z * s * se, 0, 1)
            hi = np.clip(s + z * s * se, 0, 1)
        else:
            raise ValueError(f"conf_type: unknown value {conf_type!r} (log, log-log, plain)")
    return lo, hi


def survival_at(time_months, event, t_months: float, conf_type: str = "log-log",
                ) -> dict:
    """Kaplan-Meier survival at ``t_months`` with its confidence interval.

    Where S = 0 (the last patient at risk had the event before ``t_months``) Greenwood's
    variance is infinite and no Greenwood interval exists (R prints NA). The interval
    given instead is conservative and says so in the note: the lower limit is 0 (S
    cannot be lower) and the upper limit is the upper 95% limit of S just before that
    last event, :math:`S(t_\text{last}-)`, valid because S never increases. Example:
    times 1, 2, 3 with events 0, 1, 1: S(3) = 0; just before 3, S = 1/2 (Greenwood
    1/2) with log-log upper limit 0.9104 (R: the same, at t = 2) -> [0, 0.9104].

    Returns
    -------
    dict with ``survival``, ``lower``, ``upper``, ``n_at_risk`` (at ``t_months``),
    ``note`` ("" or why a limit is undefined / the estimate is extrapolated).
    """
    tab = km_table(time_months, event)
    before = tab.loc[tab.index <= t_months]
    n_risk = int((np.asarray(time_months, dtype=float) >= t_months).sum())
    if before.empty:
        return {"survival": 1.0, "lower": 1.0, "upper": 1.0, "n_at_risk": n_risk,
                "note": "before the first time: S = 1 by definition"}
    s, g = float(before["survival"].iloc[-1]), float(before["greenwood"].iloc[-1])
    lo, hi = km_confidence(np.array([s]), np.array([g]), conf_type)
    note = ""
    if s >= 1.0:
        note = f"no event up to {t_months:g} months: S = 1, CI undefined ({conf_type})"
    elif s <= 0.0:
        last = int(np.flatnonzero(tab["survival"].to_numpy() <= 0.0)[0])
        t_last, n_last = float(tab.index[last]), int(tab["n_at_risk"].iloc[last])
        s_prev = float(tab["survival"].iloc[last - 1]) if last else 1.0
        g_prev = float(tab["greenwood"].iloc[last - 1]) if last else 0.0
        up = km_confidence(np.array([s_prev]), np.array([g_prev]), conf_type)[1][0]
        lo, hi = np.array([0.0]), np.array([1.0 if np.isnan(up) else up])
        note = (f"S = 0: the last {n_last} patient(s) at risk had the event at "
                f"{t_last:g} months, so Greenwood's CI is undefined; shown instead: 0 to "
                f"the upper 95% limit of S just before {t_last:g} months ({s_prev:.3g}), "
                "conservative")
    if tab.index.max() < t_months:
        note = (note + "; " if note else "") + (f"last follow-up {tab.index.max():g} months "
                                                f"< {t_months:g}: estimate carried forward")
    return {"survival": s, "lower": float(lo[0]), "upper": float(hi[0]), "n_at_risk": n_risk,
            "note": note}


def _first_time_at_or_below(times: np.ndarray, curve: np.ndarray, level: float) -> float:
    """First time where a step curve is <= level (R's rule: midpoint on an exact flat 0.5)."""
    hit = np.flatnonzero(curve <= level + 1e-12)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if abs(curve[i] - level) < 1e-12 and i + 1 < times.size:
        return float((times[i] + times[i + 1]) / 2)
    return float(times[i])


def median_survival(time_months, event, conf_type: str = "log") -> dict:
    """Median survival time with its confidence interval, as R ``survfit`` prints it.

    The median is the first time at which S(t) <= 0.5; the lower (upper) confidence limit
    is the first time at which the lower (upper) pointwise limit is <= 0.5
    (Brookmeyer-Crowley inversion, R's rule).

    .. math:: \\hat t_{0.5} = \\min\\{t: \\hat S(t) \\le 0.5\\}, \\quad
              [\\min\\{t: S_{lo}(t) \\le 0.5\\},\\ \\min\\{t: S_{hi}(t) \\le 0.5\\}]

    Returns
    -------
    dict with ``median``, ``lower``, ``upper`` (months), ``n``, ``n_events``, ``note``
    ("" or which value was not reached).
    """
    tab = km_table(time_months, event)
    times = tab.index.to_numpy()
    lo, hi = km_confidence(tab["survival"].to_numpy(), tab["greenwood"].to_numpy(), conf_type)
    lo = np.where(np.isnan(lo), 1.0, lo)  # S = 1 at the start: limits not yet below 0.5
    hi = np.where(np.isnan(hi), 1.0, hi)
    out = {"median": _first_time_at_or_below(times, tab["survival"].to_numpy(), 0.5),
           "lower": _first_time_at_or_below(times, lo, 0.5),
           "upper": _first_time_at_or_below(times, hi, 0.5),
           "n": int(tab["n_at_risk"].iloc[0]), "n_events": int(tab["n_events"].sum())}
    missing = [k for k in ("median", "lower", "upper") if np.isnan(out[k])]
    out["note"] = (f"not reached: {', '.join(missing)} (the curve or its limit stays above "
                   "0.5)" if missing else "")
    return out


def median_followup(time_months, event, conf_type: str = "log") -> dict:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996).

    Censoring is the "event" and the event is a censoring: the median of that curve is
    the median potential follow-up.

    .. math:: \\hat C(t) = \\prod_{t_j \\le t} (1 - c_j / n_j), \\quad
              median = \\min\\{t: \\hat C(t) \\le 0.5\\}

    with :math:`c_j` censorings at :math:`t_j`. Reference: Schemper & Smith (1996),
    Control Clin Trials 17:343-346; R ``survfit(Surv(time, 1 - status) ~ 1)``.
    """
    t, e = validate_survival(time_months, event, who="median follow-up")
    return median_survival(t, 1 - e, conf_type)
