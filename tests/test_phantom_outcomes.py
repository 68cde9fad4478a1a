"""The planted outcome model: formulas by hand, calibration, and the planted HR recovered."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from analysis import paper
from analysis.phantom import outcomes as O
from analysis.phantom import sample_clinical, sample_outcomes


def test_failure_probability_by_hand():
    # lp = 0, scale 10, shape 1.2, t = 10: 1 - exp(-1)
    assert O.failure_probability(np.array([0.0]), 10.0, 10.0)[0] == pytest.approx(
        1 - math.exp(-1), rel=1e-12)
    # lp = log 2 doubles the cumulative hazard: 1 - exp(-2)
    assert O.failure_probability(np.array([math.log(2)]), 10.0, 10.0)[0] == pytest.approx(
        1 - math.exp(-2), rel=1e-12)


def test_calibration_hits_target_share():
    lp = np.random.default_rng(0).normal(0, 0.6, 180)
    scale = O.calibrate_scale(lp)
    share = O.observed_failure_probability(lp, scale).mean()
    assert share == pytest.approx(paper.N_RECURRED / paper.N_PATIENTS, abs=1e-9)  # bisection


def test_planted_coefficients_named():
    c = O.planted_coefficients(1.635)
    assert c["diameter_ge_5cm"] == pytest.approx(math.log(1.635), rel=1e-12)
    assert set(O.PARTITION_BETA) <= set(c)
    with pytest.raises(ValueError, match="planted_hr_diameter"):
        O.planted_coefficients(0.0)


def _truth(hr: float, scale: float) -> dict:
    coefs = O.planted_coefficients(hr)
    pool = {k: [0.0, 0.1, 0.2] for k in O.PARTITION_BETA}
    return {"model": O.model_description(coefs, scale), "partition_feature_pool": pool}


def test_planted_hr_recovered_by_cox():
    """Cox on 3960 simulated patients (deaths competing, so ~2100 failures) recovers
    log(1.635) and log(1.8) within 3 standard errors: deaths are independent of the
    failure time, so the cause-specific Cox model stays unbiased (4 outcome seeds on
    this table: biases within 1.5 SE). The outcomes have their own stream; drawn from
    the table's stream (seed 1) sex came out 3.1 SE off, a 1-in-500 draw."""
    rng = np.random.default_rng(1)
    table = pd.concat([sample_clinical(180, rng) for _ in range(22)], ignore_index=True)
    for k in O.PARTITION_BETA:  # fix partition terms so only clinical ones vary
        table[k] = 0.0
    out = sample_outcomes(table, _truth(1.635, 60.0), np.random.default_rng(0))
    X = O.clinical_design(table)
    X["T"] = out["lc_time_months"].to_numpy()
    X["E"] = out["lc_event"].to_numpy()
    fit = CoxPHFitter().fit(X, "T", "E")
    b = fit.params_["diameter_ge_5cm"]
    se = fit.standard_errors_["diameter_ge_5cm"]
    assert abs(b - math.log(1.635)) < 3 * se
    assert abs(fit.params_["sex_male"] - math.log(O.CLINICAL_HR["sex_male"])) < 3 * fit.standard_errors_["sex_male"]


def test_sample_outcomes_shape_and_followup():
    rng = np.random.default_rng(2)
    table = sample_clinical(180, rng)
    out = sample_outcomes(table, _truth(1.635, 60.0), rng)
    assert list(out.index) == list(table.index)
    assert set(out.columns) >= {"lc_time_months", "lc_event", "followup_months"}
    assert (out["lc_time_months"] <= out["followup_months"] + 1e-9).all()
    # follow-up ends at min(C, D): at most 60 months; 12 or more unless the patient died
    assert (out["followup_months"] <= 60).all()
    alive = out["os_event"] == 0
    assert (out.loc[alive, "followup_months"] >= 12).all()
    assert (out["os_time_months"] == out["followup_months"]).all()
    assert (out["death_without_lf"] == ((out["os_event"] == 1) & (out["lc_event"] == 0))).all()


def test_death_times_have_the_planted_median():
    """20000 death times: median 25 months (CONVERT's once-daily arm) within 0.6 months
    (SE of a sample median ~ 1 / (2 f(m) sqrt(n)) = 0.2 months here); the survival
    function at the median is 1/2 by construction."""
    d = O.draw_death_times(20000, np.random.default_rng(7))
    assert np.median(d) == pytest.approx(O.OS_MEDIAN_MONTHS, abs=0.6)
    assert O.death_survival(O.OS_MEDIAN_MONTHS)[()] == pytest.approx(0.5, rel=1e-12)


def test_observed_failure_probability_with_death_matches_simulation():
    """P(T <= min(C, D)) by the integral against 200000 simulated patients at lp = 0 and
    lp = 1 (scale 40): agreement within 0.005 (binomial SE ~0.0011)."""
    lp = np.array([0.0, 1.0])
    p = O.observed_failure_probability(lp, 40.0, death=O.DEATH_MODEL)
    rng = np.random.default_rng(3)
    n = 200000
    for i, x in enumerate(lp):
        e, c = O.draw_latent(np.full(n, x), rng)
        d = O.draw_death_times(n, rng)
        sim = O.outcomes_from_latent(np.full(n, x), e, c, 40.0, death_months=d)
        assert sim["lc_event"].mean() == pytest.approx(p[i], abs=0.005)
    assert (p < O.observed_failure_probability(lp, 40.0)).all()  # death removes failures


def test_site_probabilities_by_hand():
    p = O.site_probabilities([["10R"], []])
    # 10R: 50 "GTV affected" x 2/94 / 1 involved patient = 1.06 -> capped at 1; 0 CTV-GTV
    assert p["10R"] == (1.0, 0.0)
    # 4R: 10 x 2/94 / max(0, 1) and 14 x 2/94 / 2
    assert p["4R"] == (pytest.approx(20 / 94, rel=1e-12), pytest.approx(14 / 94, rel=1e-12))


def test_site_counts_follow_table5_in_expectation():
    """94 failing patients, 60 with 10R and 7 involved: P(10R | involved) = 50/60 and
    P(7 | not involved) = 10/34, so 50 and 10 sites are expected; 4000 replicates of
    Bernoulli draws give the mean within 0.1 (SE about 0.05 and 0.04)."""
    involved = [["10R", "7"]] * 60 + [[]] * 34
    probs = O.site_probabilities(involved)
    rng = np.random.default_rng(5)
    n10r = n7_not = 0
    reps = 4000
    for _ in range(reps):
        for inv in (["10R", "7"], []):
            k = 60 if inv else 34
            hits = rng.random(k) < (probs["10R"][0] if inv else probs["10R"][1])
            n10r += hits.sum()
            if not inv:
                n7_not += (rng.random(k) < probs["7"][1]).sum()
    assert n10r / reps == pytest.approx(50.0, abs=0.1)
    assert n7_not / reps == pytest.approx(10.0, abs=0.1)


def test_draw_sites_respects_zero_probabilities():
    p = O.site_probabilities([["10R"], []])
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = O.draw_sites(rng, [], p)
        # 10R recurrences are all "GTV affected" in Table 5; 2L and 3P have none
        assert "10R" not in s and "2L" not in s and "3P" not in s
        assert len(s) >= 1 and len(set(s)) == len(s)


def test_scale_for_event_count_exact():
    rng = np.random.default_rng(6)
    lp = rng.normal(0, 0.5, 180)
    e, c = O.draw_latent(lp, rng)
    scale = O.scale_for_event_count(lp, e, c, 94)
    assert O.outcomes_from_latent(lp, e, c, scale)["lc_event"].sum() == 94
    # stratified follow-up: median of 180 draws within one bin (48/180 months) of 36
    assert np.median(c) == pytest.approx(36.0, abs=48 / 180)


def test_outcomes_from_latent_by_hand():
    # E = 1, lp = 0, scale 10, shape 1.2: T = 10; C = 12 -> event at 10; C = 8 -> censored
    out = O.outcomes_from_latent(np.zeros(2), np.ones(2), np.array([12.0, 8.0]), 10.0)
    assert out["lc_event"].tolist() == [1, 0]
    np.testing.assert_allclose(out["lc_time_months"], [10.0, 8.0])
