"""Tests between groups: log-rank across levels and Pearson's chi-square of relapse.

The log-rank test is lifelines' ``multivariate_logrank_test`` (R ``survdiff``); the
chi-square is scipy's ``chi2_contingency`` (Yates' correction on 2 x 2 tables).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats.survdata import SurvivalInputError, validate_survival


def logrank(time_months, event, groups) -> dict:
    """Log-rank test across the levels of ``groups`` (lifelines multivariate_logrank_test).

    .. math:: \\chi^2 = (O - E)^\\top V^{-1} (O - E) \\sim \\chi^2_{k-1}

    with :math:`O_g, E_g` the observed and expected events of level g summed over the
    distinct event times and :math:`V` their hypergeometric covariance (k - 1 levels).
    Reference: Mantel (1966); R ``survival::survdiff`` (tested against R).

    Returns
    -------
    dict with ``chi2``, ``df``, ``p``, ``note``. A variable with one level, or no event at
    all, has no test: ``p`` is NaN and ``note`` says why. A level without events is kept
    (the test is still defined) and named in the note.
    """
    from lifelines.statistics import multivariate_logrank_test

    t, e = validate_survival(time_months, event)
    g = pd.Series(np.asarray(groups, dtype=object))
    if g.isna().any():
        raise SurvivalInputError("groups: missing values; drop them first "
                                 "(missing_group_exclusions lists them)")
    levels = sorted(g.unique(), key=str)
    if len(levels) < 2:
        return {"chi2": np.nan, "df": 0, "p": np.nan,
                "note": f"single level ({levels[0] if levels else 'none'}): no test"}
    if e.sum() == 0:
        return {"chi2": np.nan, "df": len(levels) - 1, "p": np.nan,
                "note": "no event in any group: no test"}
    res = multivariate_logrank_test(t, g.to_numpy(), e)
    no_event = [str(lv) for lv in levels if e[(g == lv).to_numpy()].sum() == 0]
    note = f"no event in level(s) {', '.join(no_event)}" if no_event else ""
    return {"chi2": float(res.test_statistic), "df": int(res.degrees_of_freedom),
            "p": float(res.p_value), "note": note}


def chi2_relapse(counts: np.ndarray) -> dict:
    """Pearson chi-square of relapse vs level on a (levels, 2) table of counts.

    .. math:: \\chi^2 = \\sum_{g,j} (|O_{gj} - E_{gj}| - c)^2 / E_{gj}, \\quad
              E_{gj} = O_{g\\cdot} O_{\\cdot j} / N

    with ``c = 0.5`` on 2 x 2 tables (Yates), else 0. Reference: R ``chisq.test``
    (scipy ``chi2_contingency`` computes the same).

    Yates' continuity correction on 2 x 2 tables (scipy's default). Levels with no
    patient are dropped first.

    Returns
    -------
    dict with ``chi2``, ``df``, ``p``, ``note`` (small expected counts, or why no test).
    """
    tab = np.asarray(counts, dtype=float)
    if tab.ndim != 2 or tab.shape[1] != 2:
        raise ValueError(f"counts must have shape (levels, 2), got {tab.shape}")
    tab = tab[tab.sum(axis=1) > 0]
    if tab.shape[0] < 2:
        return {"chi2": np.nan, "df": 0, "p": np.nan, "note": "single level: no test"}
    if (tab.sum(axis=0) == 0).any():
        return {"chi2": np.nan, "df": tab.shape[0] - 1, "p": np.nan,
                "note": "everyone relapsed or no one did: no test"}
    chi2, p, dof, expected = stats.chi2_contingency(tab)
    note = "expected count < 5: chi-square approximate" if (expected < 5).any() else ""
    return {"chi2": float(chi2), "df": int(dof), "p": float(p), "note": note}
