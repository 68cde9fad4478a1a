r"""Gray's k-sample test of equal cumulative incidence of one cause (Gray 1988).

Gray, R. J. (1988). A class of K-sample tests for comparing the cumulative incidence of
a competing risk. Ann. Statist. 16, 1141-1154; the statistic R ``cmprsk::cuminc``
prints under ``$Tests`` (one stratum).

Per group :math:`g` at each distinct time :math:`t` (left limits :math:`t-`): the number
at risk :math:`n_g`, the Kaplan-Meier of any event :math:`S_g`, the cumulative incidence
of the cause :math:`F_g` and :math:`d_{1g}` events of the cause. With
:math:`h_g = n_g / S_g(t-)`, :math:`R_g = n_g (1 - F_g(t-)) / S_g(t-)` (the weighted risk
set of the subdistribution), :math:`h = \sum_g h_g`, :math:`R = \sum_g R_g`, the pooled
cumulative incidence :math:`F(t) = F(t-) + d_1 / h` and the weight
:math:`w(t) = (1 - F(t-))^\rho` (:math:`\rho = 0` by default), the score of group
:math:`g` is

.. math::
    s_g = \sum_t w(t) \Big(d_{1g}(t) - d_1(t) \frac{R_g(t)}{R(t)}\Big),

the observed minus expected events of the cause under equal subdistribution hazards.
Its variance (Gray 1988, section 2) is a sum over the events of the cause and of the
other causes, each group's increment weighted by how it moves the cumulative incidence
(:func:`gray_test` gives the terms). The statistic
:math:`T = s^\top V^{-1} s` over the first :math:`K - 1` groups is
:math:`\chi^2_{K-1}` under equal cumulative incidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sstats

from analysis.stats.competing import validate_competing
from analysis.stats.survdata import SurvivalInputError


def _group_counts(t, c, g, k, levels):
    """Per distinct time (rows) and group (columns): at risk, cause-k and other events."""
    times, inv = np.unique(t, return_inverse=True)
    shape = (times.size, len(levels))
    gi = np.searchsorted(levels, g)
    d1, d2, n_all = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(d1, (inv, gi), (c == k).astype(float))
    np.add.at(d2, (inv, gi), ((c > 0) & (c != k)).astype(float))
    np.add.at(n_all, (inv, gi), 1.0)
    at_risk = n_all[::-1].cumsum(axis=0)[::-1]
    return times, at_risk, d1, d2


def gray_test(time_months, cause, groups, k: int = 1, rho: float = 0.0) -> dict:
    r"""Gray's test that the cumulative incidence of cause ``k`` is equal across groups.

    Variance (Gray 1988, eq. 2.3 and its appendix; the form ``cmprsk`` computes): with
    :math:`a_{ij}(t) = w\, h_i (\delta_{ij} - h_j / h)` and the running sums
    :math:`c_{ij}(t) = \sum_{u \le t} a_{ij}(u)\, d_1(u) / (h(u) (1 - F(u-)))`
    (:math:`C = c(\infty)`),

    .. math::
        V_{ij} = \sum_t \sum_g \Big[ q_{1g}\, b^{(1)}_{ig} b^{(1)}_{jg}
                 + q_{2g}\, b^{(2)}_{ig} b^{(2)}_{jg} \Big],

        b^{(1)}_{ig} = a_{ig} + \Big(1 - \frac{1 - F(t)}{S_g(t)}\Big)(C_{ig} - c_{ig}),
        \quad q_{1g} = \tau_1\, \frac{S_g(t-)\, d_1}{h\, n_g},

        b^{(2)}_{ig} = \frac{1 - F(t)}{S_g(t)}\,(C_{ig} - c_{ig}),
        \quad q_{2g} = \tau_2\, \frac{S_g(t-)^2 d_{2g}}{n_g^2},

    with the tie corrections :math:`\tau_1 = 1 - (d_1 - 1)/(h S_g(t-) - 1)`,
    :math:`\tau_2 = 1 - (d_{2g} - 1)/(n_g - 1)` (1 for a single event), groups with
    nobody at risk left out, and :math:`(1 - F(t))/S_g(t)` read as 0 (first term) or
    the term dropped (second) once :math:`S_g(t) = 0`.

    Checked against R ``cmprsk::cuminc(time, cause, group)$Tests`` on the bmt data
    (2 and 4 groups, rho 0 and 1) to 4 decimals (tests/test_stats_competing.py).

    Parameters
    ----------
    time_months, cause : array-like (n,); cause 0 = censored
    groups : array-like (n,), any labels (sorted as strings, as R's factor)
    k : the cause compared
    rho : the power of the weight :math:`(1 - F(t-))^\rho`

    Returns
    -------
    dict with ``chi2``, ``df``, ``p``, ``score`` (K - 1,), ``var`` (K - 1, K - 1),
    ``levels`` and ``note`` ("" or why no test: one group, no event of the cause, or a
    singular variance).
    """
    t, c = validate_competing(time_months, cause, who="Gray's test")
    g_raw = pd.Series(np.asarray(groups, dtype=object))
    if g_raw.isna().any() or len(g_raw) != t.size:
        raise SurvivalInputError("Gray's test: groups must have one non-missing value a row")
    labels = g_raw.astype(str).to_numpy()
    levels = np.array(sorted(set(labels)))
    ng = levels.size
    out = {"chi2": np.nan, "df": max(ng - 1, 0), "p": np.nan, "score": np.array([]),
           "var": np.zeros((0, 0)), "levels": list(levels), "note": ""}
    if ng < 2:
        out["note"] = "a single group: no test"
        return out
    if not (c == k).any():
        out["note"] = f"no event of cause {k}: no test"
        return out
    times, n, d1, d2 = _group_counts(t, c, labels, k, levels)
    dd = d1 + d2
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(n > 0, 1.0 - dd / n, 1.0)
    s_after = np.cumprod(step, axis=0)                       # S_g(t)
    s_before = np.vstack([np.ones((1, ng)), s_after[:-1]])   # S_g(t-)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_jump = np.where(n > 0, s_before * d1 / n, 0.0)
    f_after = np.cumsum(f_jump, axis=0)
    f_before = np.vstack([np.zeros((1, ng)), f_after[:-1]])  # F_g(t-)
    risk = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        h_g = np.where(risk, n / s_before, 0.0)
        r_g = np.where(risk, n * (1.0 - f_before) / s_before, 0.0)
    h, r = h_g.sum(axis=1), r_g.sum(axis=1)
    nd1, event = d1.sum(axis=1), dd.sum(axis=1) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled_jump = np.where(event, nd1 / h, 0.0)
    f_pool = np.cumsum(pooled_jump)                          # F(t)
    f_pool_before = np.concatenate([[0.0], f_pool[:-1]])     # F(t-)
    w = (1.0 - f_pool_before) ** rho
    # a[t, i, j] = w h_i (delta_ij - h_j / h), zero where i or j has nobody at risk
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(event, 1.0 / h, 0.0)
    a = w[:, None, None] * h_g[:, :, None] * (np.eye(ng)[None] - h_g[:, None, :] * hh[:, None, None])
    a *= (risk[:, :, None] & risk[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(nd1 > 0, nd1 / (h * (1.0 - f_pool_before)), 0.0)
    c_run = np.cumsum(a * inc[:, None, None], axis=0)
    rest = c_run[-1][None] - c_run                           # C - c(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        score_terms = np.where(risk, d1 - nd1[:, None] * r_g / r[:, None], 0.0)
        ratio = np.where(s_after > 0, (1.0 - f_pool[:, None]) / s_after, np.nan)
        t4_1 = np.where(s_after > 0, 1.0 - ratio, 1.0)
        tie1 = np.where(nd1[:, None] > 1,
                        1.0 - (nd1[:, None] - 1.0) / (h[:, None] * s_before - 1.0), 1.0)
        q1 = np.where(risk & (nd1[:, None] > 0),
                      tie1 * s_before * nd1[:, None] / (h[:, None] * n), 0.0)
        tie2 = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (n - 1.0), 1.0)
        ok2 = (s_after > 0) & (d2 > 0)
        q2 = np.where(ok2, tie2 * s_before ** 2 * d2 / n ** 2, 0.0)
        t4_2 = np.where(ok2, ratio, 0.0)
    score = (w[:, None] * score_terms).sum(axis=0)[: ng - 1]
    b1 = a + t4_1[:, None, :] * rest                          # [t, i, g]
    b2 = t4_2[:, None, :] * rest
    var = (np.einsum("tig,tjg,tg->ij", b1, b1, q1) + np.einsum("tig,tjg,tg->ij", b2, b2, q2))
    var = var[: ng - 1, : ng - 1]
    out.update(score=score, var=var)
    if np.linalg.matrix_rank(var) < ng - 1:
        out["note"] = "singular variance (a group without events of the cause?): no test"
        return out
    chi2 = float(score @ np.linalg.solve(var, score))
    out.update(chi2=chi2, p=float(sstats.chi2.sf(chi2, ng - 1)))
    return out
