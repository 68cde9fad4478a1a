"""Competing risks: cumulative incidence, Gray's test and Fine-Gray against R cmprsk.

Reference data: timereg's ``bmt`` (tests/data/bmt/, source and licence in
tests/data/README.md), read in R as ``bmt <- read.csv("tests/data/bmt/bmt.csv")``
(identical to ``data(bmt, package = "timereg")``); R 4.x with cmprsk 2.2.11. Every
tolerance is 5e-5 ("to 4 decimals") unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import paths
from analysis.stats import competing as cr
from analysis.stats import finegray, gray
from analysis.stats.km import km_table

#: agreement with R to 4 decimals
TOL_4DP = 5e-5


@pytest.fixture(scope="module")
def bmt():
    d = pd.read_csv(paths.REPO_ROOT / "tests" / "data" / "bmt" / "bmt.csv")
    assert len(d) == 408 and d["cause"].value_counts().to_dict() == {1: 161, 0: 160, 2: 87}
    return d


def test_competing_coding_by_hand():
    """(lc 10, LF, os 20, died) -> (10, 1); (15, no LF, 15, died) -> (15, 2);
    (30, no LF, 30, alive) -> (30, 0)."""
    t, c = cr.competing_coding([10, 15, 30], [1, 0, 0], [20, 15, 30], [1, 1, 0])
    assert t.tolist() == [10, 15, 30] and c.tolist() == [1, 2, 0]
    with pytest.raises(cr.SurvivalInputError, match="missing"):
        cr.competing_coding([1.0], [np.nan], [1.0], [0])


def test_cumulative_incidence_by_hand():
    """Times 1, 2, 3, 4, 5 with causes 1, 2, 1, 0, 1.
    S (any event): 4/5, 3/5, 2/5, 2/5, 0. F1 = 1/5 + (3/5)(1/3) + (2/5)(1/1) (the last
    at t = 5, one at risk) = 0.2 + 0.2 + 0.4 = 0.8; F1 before t = 5 is 0.4, F2 = 0.2:
    F1 + F2 + S = 1 at every time. 1 - KM of cause 1 alone (death censored) at t = 3 is
    1 - (4/5)(2/3) = 0.4667 > F1(3) = 0.4: it overstates failure."""
    tab = cr.cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 1, 0, 1], 1)
    np.testing.assert_allclose(tab["cif"], [0.2, 0.2, 0.4, 0.4, 0.8], rtol=1e-12)
    f2 = cr.cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 1, 0, 1], 2)["cif"]
    np.testing.assert_allclose(f2, [0.0, 0.2, 0.2, 0.2, 0.2], rtol=1e-12)
    km = km_table([1, 2, 3, 4, 5], [1, 0, 1, 0, 1])
    assert 1 - km.loc[3.0, "survival"] == pytest.approx(1 - 0.8 * 2 / 3, rel=1e-12)
    assert 1 - km.loc[3.0, "survival"] > tab.loc[3.0, "cif"]


def test_tied_causes_at_the_horizon_are_exact():
    """Issue 23's example: t = 10, 20, 36, 36, 40, 50, causes 1, 2, 1, 2, 0, 0. By hand
    F1(36) = 1/6 + (4/6)(1/4) = 1/3 (the tied cause-1 event counts at 36). R
    ``timepoints(cuminc(c(10,20,36,36,40,50), c(1,2,1,2,0,0)), c(35, 36))`` prints est
    0.1666667, 0.3333333 and var 0.02777778, 0.04729167 (cause 1), var 0.04784722 at 36
    (cause 2). lifelines' jittered fit (the code before issue 23) gave 0.167 at 36."""
    t, c = [10, 20, 36, 36, 40, 50], [1, 2, 1, 2, 0, 0]
    tab = cr.cumulative_incidence(t, c, 1)
    assert cr.cif_at(tab, 35)["cif"] == pytest.approx(1 / 6, abs=1e-12)
    r = cr.cif_at(tab, 36)
    assert r["cif"] == pytest.approx(1 / 3, abs=1e-12)
    assert r["se"] ** 2 == pytest.approx(0.04729167, abs=5e-9)
    assert cr.cif_at(tab, 35)["se"] ** 2 == pytest.approx(0.02777778, abs=5e-9)
    v2 = cr.cif_at(cr.cumulative_incidence(t, c, 2), 36)["se"] ** 2
    assert v2 == pytest.approx(0.04784722, abs=5e-9)
    assert r["lower"] < r["cif"] < r["upper"]


def test_cuminc_matches_r_on_bmt(bmt):
    """R: ``timepoints(cuminc(bmt$time, bmt$cause), c(12, 36, 60))``:
    est cause 1: 0.3544971769, 0.3972829019, 0.4096930486; cause 2: 0.1585817748,
    0.2171231430, 0.2346108978; var cause 1: 0.0005718860999, 0.0006240155546,
    0.0006487500316; cause 2: 0.0003380149276, 0.0004628985026, 0.0005176762447.
    Estimates to 4 decimals; variances to 4 significant digits (rtol 1e-4; they are
    ~5e-4, so an absolute 4-decimal check could not fail)."""
    want = {1: ([0.3544971769, 0.3972829019, 0.4096930486],
                [0.0005718860999, 0.0006240155546, 0.0006487500316]),
            2: ([0.1585817748, 0.2171231430, 0.2346108978],
                [0.0003380149276, 0.0004628985026, 0.0005176762447])}
    for k, (est, var) in want.items():
        tab = cr.cumulative_incidence(bmt["time"], bmt["cause"], k)
        got = [cr.cif_at(tab, h) for h in (12, 36, 60)]
        np.testing.assert_allclose([g["cif"] for g in got], est, atol=TOL_4DP)
        np.testing.assert_allclose([g["se"] ** 2 for g in got], var, rtol=1e-4)


def test_cif_interval_covers_about_95_percent():
    """Simulation: 400 data sets of n = 150, cause-1 and cause-2 hazards 0.02 and 0.01
    per month, uniform censoring on 0-80 months; the true F1(36) = (2/3)(1 - e^{-1.08})
    = 0.4403. The log(-log) interval on Aalen's variance must cover 0.93-0.97
    (400 draws: binomial SD of the coverage 0.011). Measured: 0.9475."""
    rng = np.random.default_rng(23)
    truth = (2 / 3) * (1 - np.exp(-0.03 * 36))
    hits = 0
    for _ in range(400):
        t_ev = rng.exponential(1 / 0.03, 150)
        cause = np.where(rng.random(150) < 2 / 3, 1, 2)
        cens = rng.uniform(0, 80, 150)
        time = np.round(np.minimum(t_ev, cens), 1)  # whole tenths: ties happen
        r = cr.cif_at(cr.cumulative_incidence(time, np.where(t_ev <= cens, cause, 0), 1), 36)
        hits += r["lower"] <= truth <= r["upper"]
    assert 0.93 <= hits / 400 <= 0.97, hits / 400


def test_gray_matches_r_on_bmt(bmt):
    """R: ``cuminc(bmt$time, bmt$cause, bmt$tcell)$Tests``: stat 3.886447329 (cause 1),
    3.733671362 (cause 2), df 1, pv 0.04867728975; with ``rho = 1``: 4.411026838,
    3.147222624; four groups ``bmt$platelet + 2 * bmt$tcell``: 12.682205255 (pv
    0.005376774295), 4.361468753, df 3."""
    g4 = bmt["platelet"] + 2 * bmt["tcell"]
    cases = [(bmt["tcell"], 0.0, [3.886447329, 3.733671362]),
             (bmt["tcell"], 1.0, [4.411026838, 3.147222624]),
             (g4, 0.0, [12.682205255, 4.361468753])]
    for groups, rho, want in cases:
        got = [gray.gray_test(bmt["time"], bmt["cause"], groups, k, rho)["chi2"]
               for k in (1, 2)]
        np.testing.assert_allclose(got, want, atol=TOL_4DP)
    r = gray.gray_test(bmt["time"], bmt["cause"], bmt["tcell"], 1)
    assert r["df"] == 1 and r["p"] == pytest.approx(0.04867728975, abs=TOL_4DP)
    assert gray.gray_test(bmt["time"], bmt["cause"], g4, 1)["p"] == pytest.approx(
        0.005376774295, abs=TOL_4DP)


def test_gray_without_a_test_says_why():
    r = gray.gray_test([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    assert np.isnan(r["p"]) and "single group" in r["note"]
    r = gray.gray_test([1, 2, 3], [2, 0, 2], ["a", "b", "a"])
    assert np.isnan(r["p"]) and "no event of cause 1" in r["note"]


def test_fine_gray_matches_r_crr_on_bmt(bmt):
    """R: ``summary(crr(bmt$time, bmt$cause, cov1 = cbind(platelet = bmt$platelet,
    age = bmt$age, tcell = bmt$tcell)))``: coef -0.4251160550, 0.3437028366,
    -0.5959871381; se 0.18061376348, 0.08025130174, 0.27036166530; p 1.8586e-02,
    1.8453e-05, 2.7496e-02; pseudo log-likelihood -908.8958023, null -923.3099944.
    With ``failcode = 2``: coef -0.03977621928, -0.01130996758, 0.53043862995, se
    0.2280985924, 0.1216894434, 0.2802066924."""
    X = bmt[["platelet", "age", "tcell"]]
    r = finegray.fine_gray(X, bmt["time"], bmt["cause"], 1)
    assert r["converged"] and r["columns"] == ["platelet", "age", "tcell"]
    np.testing.assert_allclose(r["coef"], [-0.4251160550, 0.3437028366, -0.5959871381],
                               atol=TOL_4DP)
    np.testing.assert_allclose(r["se"], [0.18061376348, 0.08025130174, 0.27036166530],
                               atol=TOL_4DP)
    np.testing.assert_allclose(r["p"], [1.8586e-02, 1.8453e-05, 2.7496e-02], atol=TOL_4DP)
    assert r["loglik"] == pytest.approx(-908.8958023, abs=TOL_4DP)
    assert r["loglik_null"] == pytest.approx(-923.3099944, abs=TOL_4DP)
    r2 = finegray.fine_gray(X, bmt["time"], bmt["cause"], 2)
    np.testing.assert_allclose(r2["coef"], [-0.03977621928, -0.01130996758, 0.53043862995],
                               atol=TOL_4DP)
    np.testing.assert_allclose(r2["se"], [0.2280985924, 0.1216894434, 0.2802066924],
                               atol=TOL_4DP)


def test_censoring_km_by_hand():
    """Times 1, 2, 2, 3 with causes 0, 1, 0, 2: G(1-) = 1; at 1, one of 4 censored ->
    G(2-) = 3/4; at 2, one of 3 censored (the failure at 2 is at risk) -> G(3-) =
    (3/4)(2/3) = 1/2."""
    np.testing.assert_allclose(finegray.censoring_km_before([1, 2, 2, 3], [0, 1, 0, 2]),
                               [1, 0.75, 0.75, 0.5], rtol=1e-12)
