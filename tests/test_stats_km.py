"""Kaplan-Meier, medians, landmark survival and chi-square on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats import group_tests, km

# 5 patients: times 1, 2, 2, 3, 4 months; events 1, 1, 0, 1, 0
T = [1.0, 2.0, 2.0, 3.0, 4.0]
E = [1, 1, 0, 1, 0]


def test_km_table_by_hand():
    """S: 4/5 = 0.8, then 0.8 * 3/4 = 0.6, then 0.6 * 1/2 = 0.3.
    Greenwood at 3: 1/(5*4) + 1/(4*3) + 1/(2*1) = 0.05 + 0.083333 + 0.5."""
    tab = km.km_table(T, E)
    assert tab["n_at_risk"].tolist() == [5, 4, 2, 1]
    np.testing.assert_allclose(tab["survival"], [0.8, 0.6, 0.3, 0.3], rtol=1e-12)
    assert tab.loc[3.0, "greenwood"] == pytest.approx(0.05 + 1 / 12 + 0.5, rel=1e-12)
    # the "log" interval at t = 3: 0.3 * exp(-+1.959964 * sqrt(0.633333)), capped at 1
    lo, hi = km.km_confidence([0.3], [0.05 + 1 / 12 + 0.5], "log")
    assert lo[0] == pytest.approx(0.3 * np.exp(-1.959964 * np.sqrt(0.6333333)), rel=1e-6)
    assert hi[0] == 1.0


def test_median_and_reverse_km_followup_by_hand():
    """Median: S first <= 0.5 at t = 3. Reverse KM (censorings as events): at 2 one
    'event' among 4 at risk -> 0.75; at 4 one among 1 -> 0: median follow-up 4."""
    assert km.median_survival(T, E)["median"] == 3.0
    assert km.median_followup(T, E)["median"] == 4.0


def test_reverse_km_followup_limits_match_r():
    """R: ``summary(survfit(Surv(c(1,2,2,3,4), 1 - c(1,1,0,1,0)) ~ 1))$table``: median
    4, 0.95LCL 2, 0.95UCL NA; the pointwise upper limits are 1 and NA (S = 0 at 4: the
    log limits are undefined, so the upper limit never reaches 0.5). The code before
    issue 23 put the limits at 0 where S = 0 and printed an upper limit of 4."""
    r = km.median_followup(T, E, conf_type="log")
    assert (r["median"], r["lower"]) == (4.0, 2.0)
    assert np.isnan(r["upper"]) and "upper" in r["note"]
    lo, hi = km.km_confidence([0.75, 0.0], [1 / 12, np.inf], "log")
    assert hi[0] == 1.0 and np.isnan(lo[1]) and np.isnan(hi[1])


def test_zero_survival_gets_a_conservative_interval_and_says_why():
    """Times 1, 2, 3 with events 0, 1, 1: S(36) = 0 and Greenwood's CI is undefined (R
    ``summary(survfit(Surv(c(1,2,3), c(0,1,1)) ~ 1, conf.type = "log-log"))`` prints
    NA at 3). We show 0 to the upper limit just before the last event: R prints 0.9104101
    at t = 2. atol 5e-8: half R's last printed digit."""
    r = km.survival_at([1, 2, 3], [0, 1, 1], 36.0)
    assert r["survival"] == 0.0 and r["lower"] == 0.0
    assert r["upper"] == pytest.approx(0.9104101, abs=5e-8)
    assert "Greenwood's CI is undefined" in r["note"] and "conservative" in r["note"]


def test_zero_survival_interval_covers_in_simulation():
    """Groups of 6, exponential failure at 0.03 per month (true S(36) = 0.3396), uniform
    censoring on 0-60 months; among 300 groups whose KM reaches 0 by 36 months the
    interval must cover at least 0.95 (it is one-sided conservative). Measured: 1.0.
    Fault injected: the point estimate S(t_last-) as the upper limit instead of its
    upper 95% limit covers 158 / 300 = 0.527 (measured on these draws)."""
    rng = np.random.default_rng(1)
    truth, hits, tot = np.exp(-0.03 * 36), 0, 0
    while tot < 300:
        t, c = rng.exponential(1 / 0.03, 6), rng.uniform(0, 60, 6)
        r = km.survival_at(np.round(np.minimum(t, c), 1), (t <= c).astype(int), 36.0)
        if r["survival"] > 0:
            continue
        tot += 1
        hits += r["lower"] <= truth <= r["upper"]
    assert hits / tot >= 0.95, hits / tot


def test_survival_at_horizon_with_note_beyond_follow_up():
    r = km.survival_at(T, E, 2.5)
    assert r["survival"] == pytest.approx(0.6) and r["n_at_risk"] == 2
    assert r["note"] == ""
    r = km.survival_at(T, E, 36.0)
    assert r["survival"] == pytest.approx(0.3)
    assert "carried forward" in r["note"]


def test_chi2_relapse_by_hand():
    """2 x 2 table [[10, 5], [5, 10]]: Yates-corrected Pearson chi-square
    sum((|O - E| - 0.5)^2 / E) with E = 7.5 everywhere: 4 * 2^2 / 7.5 = 2.1333."""
    r = group_tests.chi2_relapse(np.array([[10, 5], [5, 10]]))
    assert r["chi2"] == pytest.approx(4 * 4 / 7.5, rel=1e-12)
    assert r["p"] == pytest.approx(stats.chi2.sf(4 * 4 / 7.5, 1), rel=1e-12)
