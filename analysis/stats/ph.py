r"""Proportional-hazards tests of a fitted Cox model (R ``cox.zph``, survival >= 3.0).

The test asks whether a time-varying term :math:`\gamma_j g(t) x_j` improves the model.
At the fitted :math:`\hat\beta` (with :math:`\gamma = 0`), over the distinct event times
:math:`t_k` with :math:`d_k` events, risk-set mean :math:`\bar x_k` and weighted
covariance :math:`V_k` (Efron's tie correction, as lifelines / R ``coxph``):

.. math::
    U = \sum_k \tilde g_k\, s_k, \qquad s_k = \sum_{i \in D_k} x_i - d_k \bar x_k
    \quad\text{(Schoenfeld residuals)}

    I_{11} = \sum_k d_k V_k,\quad I_{12} = \sum_k \tilde g_k d_k V_k,\quad
    I_{22} = \sum_k \tilde g_k^2 d_k V_k,\qquad
    W = I_{22} - I_{12}^\top I_{11}^{-1} I_{12}

    T_\text{global} = U^\top W^{-1} U \sim \chi^2_p,\qquad
    T_j = U_j^2 / W_{jj} \sim \chi^2_1

where :math:`\tilde g_k = g(t_k) - \bar g` is the transformed time centred on its mean
over events. This is R ``cox.zph``'s score test since survival 3.0 (Therneau 2020);
``g`` is ``"km"`` (R's default: :math:`1 - \hat S(t_k-)`, the left-continuous
Kaplan-Meier of the event), ``"rank"`` or ``"identity"``. The rank transform is R's
(survival >= 3.0, ``rank(times)`` in ``cox.zph.R``): the average rank of the event time
among ALL n follow-up times, censored ones included, so a censoring between two events
moves the later one up a rank. Ranking the event times alone is the survival < 3.0 and
lifelines convention; it gives different statistics whenever a censored time lies
between events. Example: times 1, 2, 3 with events 1, 0, 1 give ranks 1 and 3 (R), not
1 and 2 (event times alone). On lung ``~ age + sex`` R prints rank age 0.137, sex 2.378,
GLOBAL 2.475 (event-time ranks give 0.403, 2.503, 2.830). Checked against R on the NCCTG lung data (tests/test_stats_ph.py):
``cox.zph(coxph(Surv(time, status) ~ age + sex, lung))`` prints age 0.209, sex 2.608,
GLOBAL 2.771 (df 2, p 0.25), and ``~ sex`` alone 2.86, p 0.091.

lifelines' ``proportional_hazard_test`` is the older Grambsch-Therneau approximation
(R survival < 3.0): 2.76 (p 0.097) for ``~ sex`` with the KM transform; it is kept
beside ours in the table for comparison only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

from analysis.stats.cox import CoxResult
from analysis.stats.km import km_table
from analysis.stats.survdata import SurvivalInputError, validate_survival

TRANSFORMS = ("km", "rank", "identity")
#: verdicts of :func:`ph_test_table` (two looks per column: KM and rank transforms)
VERDICT_DOUBTFUL = "PH doubtful (min p of KM and rank, x 2 for the two looks, < 0.05)"
VERDICT_PLAUSIBLE = "PH plausible (min p of KM and rank, x 2 for the two looks, >= 0.05)"


def time_transform(time_months, event, transform: str = "km") -> tuple[np.ndarray, np.ndarray]:
    """Distinct event times and their transformed time ``g`` (not yet centred).

    .. math:: g_{km}(t) = 1 - \\hat S_{KM}(t-), \\quad g_{rank}(t) = rank(t),
              \\quad g_{identity}(t) = t

    Reference: Grambsch & Therneau (1994); R ``survival::cox.zph`` (``transform``).

    Returns
    -------
    event_times : ndarray (k,), increasing
    g : ndarray (k,)
    """
    t, e = validate_survival(time_months, event)
    ev_times = np.unique(t[e == 1])
    if transform == "km":
        tab = km_table(t, e)
        before = np.searchsorted(tab.index.to_numpy(), ev_times, side="left")
        s_minus = np.concatenate([[1.0], tab["survival"].to_numpy()])[before]
        return ev_times, 1.0 - s_minus
    if transform == "rank":
        # R >= 3.0: the average rank of each event time among ALL follow-up times,
        # censored ones included (``rank(times)`` in cox.zph); rows tied at s occupy
        # ranks lo+1 .. hi, so their average rank is (lo + 1 + hi) / 2
        srt = np.sort(t)
        lo = np.searchsorted(srt, ev_times, side="left")
        hi = np.searchsorted(srt, ev_times, side="right")
        return ev_times, (lo + 1 + hi) / 2.0
    if transform == "identity":
        return ev_times, ev_times.astype(float)
    raise ValueError(f"transform: unknown value {transform!r} ({', '.join(TRANSFORMS)})")


def zph_score_test(X, time_months, event, beta, transform: str = "km") -> dict:
    """Score test of proportional hazards per covariate and global (module formula).

    .. math:: T = U^\\top \\mathcal{I}^{-1} U, \\quad U = \\sum_{events} (g_i - \\bar g)\\, r_i

    with :math:`r_i` the Schoenfeld residuals. Reference: Grambsch & Therneau (1994),
    Biometrika 81:515-526; R ``survival::cox.zph`` (survival >= 3.0).

    Parameters
    ----------
    X : array-like (n, p)
        The design the Cox model was fitted on.
    time_months, event : array-like (n,)
    beta : array-like (p,)
        The fitted coefficients (Efron ties).
    transform : "km", "rank" or "identity"

    Returns
    -------
    dict with ``chi2`` (p,), ``p`` (p,), ``global_chi2``, ``global_df``, ``global_p``
    """
    t, e = validate_survival(time_months, event, who="PH test")
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] != t.size:
        raise SurvivalInputError(f"X must have shape (n={t.size}, p), got {x.shape}")
    b = np.asarray(beta, dtype=float).reshape(-1)
    p = x.shape[1]
    ev_times, g = time_transform(t, e, transform)
    d = np.array([int(((t == s) & (e == 1)).sum()) for s in ev_times])
    g = g - np.sum(g * d) / d.sum()
    w = np.exp((x - x.mean(axis=0)) @ b)
    u = np.zeros(p)
    i11, i12, i22 = np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p))
    for k, s in enumerate(ev_times):
        risk, dead = t >= s, (t == s) & (e == 1)
        wr, xr, wd, xd = w[risk], x[risk], w[dead], x[dead]
        s0, s1 = wr.sum(), wr @ xr
        s2 = (wr[:, None] * xr).T @ xr
        d0, d1 = wd.sum(), wd @ xd
        d2 = (wd[:, None] * xd).T @ xd
        resid, info = xd.sum(axis=0), np.zeros((p, p))
        for ell in range(d[k]):  # Efron: the tied deaths leave the risk set by fractions
            f = ell / d[k]
            a0, a1, a2 = s0 - f * d0, s1 - f * d1, s2 - f * d2
            mean = a1 / a0
            resid -= mean
            info += a2 / a0 - np.outer(mean, mean)
        u += g[k] * resid
        i11 += info
        i12 += g[k] * info
        i22 += g[k] ** 2 * info
    wmat = i22 - i12.T @ np.linalg.solve(i11, i12)
    per = u ** 2 / np.diag(wmat)
    glob = float(u @ np.linalg.solve(wmat, u))
    return {"chi2": per, "p": sstats.chi2.sf(per, 1), "global_chi2": glob,
            "global_df": p, "global_p": float(sstats.chi2.sf(glob, p))}


def ph_test_table(result: CoxResult) -> pd.DataFrame:
    """PH check of a fitted model: per column and GLOBAL, KM and rank transforms.

    Returns
    -------
    DataFrame with ``column`` (the design columns, then ``GLOBAL``), ``df``,
    ``chi2_km``, ``p_km`` (R ``cox.zph`` default), ``chi2_rank``, ``p_rank``,
    ``p_two_looks`` and ``verdict``, or one row saying why no test ran. Each column is
    looked at twice (KM and rank transforms), so the verdict does not read either p
    alone: ``p_two_looks = min(1, 2 min(p_km, p_rank))`` (Bonferroni over the two
    looks) and the verdict is :data:`VERDICT_DOUBTFUL` when it is below 0.05, else
    :data:`VERDICT_PLAUSIBLE`. Example: p_km 0.03, p_rank 0.20 -> p_two_looks 0.06,
    "PH plausible" (either p alone below 0.05 would have said doubtful). A penalised
    (fallback) fit is tested at its shrunken coefficients and says so; its GLOBAL test is not computed (the penalised fit exists
    because the information matrix is near singular, and the joint test inverts it).
    """
    if result.model is None:
        return pd.DataFrame([{"column": "", "df": 0, "chi2_km": np.nan, "p_km": np.nan,
                              "chi2_rank": np.nan, "p_rank": np.nan, "p_two_looks": np.nan,
                              "verdict": "no model fitted: no test"}])
    cols = [c for c in result.data.columns if c not in ("_time", "_event")]
    beta = result.model.params_.reindex(cols).to_numpy()
    X, t, e = result.data[cols], result.data["_time"], result.data["_event"]
    res = {tr: zph_score_test(X, t, e, beta, tr) for tr in ("km", "rank")}
    out = pd.DataFrame({"column": [*cols, "GLOBAL"], "df": [1] * len(cols) + [len(cols)]})
    for tr, r in res.items():
        out[f"chi2_{tr}"] = [*r["chi2"], r["global_chi2"]]
        out[f"p_{tr}"] = [*r["p"], r["global_p"]]
    # two looks per column (KM and rank): the verdict reads their Bonferroni-adjusted
    # minimum, so that "doubtful" keeps a 5% false-alarm rate under PH
    out["p_two_looks"] = np.minimum(1.0, len(res) * np.minimum(out["p_km"], out["p_rank"]))
    out["verdict"] = np.where(out["p_two_looks"] < 0.05, VERDICT_DOUBTFUL, VERDICT_PLAUSIBLE)
    if result.penalizer:
        # the fallback fit is penalised because the information is (near) singular: the
        # joint test inverts it, so only the one-column tests are shown
        out.loc[out["column"] == "GLOBAL", ["chi2_km", "p_km", "chi2_rank", "p_rank",
                                            "p_two_looks"]] = np.nan
        out.loc[out["column"] == "GLOBAL", "verdict"] = "not computed"
        out["verdict"] += f" (penalized fit, penalizer {result.penalizer:g})"
    return out
