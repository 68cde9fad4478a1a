"""Evaluation formulas against hand-computed values on tiny arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.model.calibration import (
    brier_score,
    calibration_summary,
    calibration_table,
    decision_curve,
    logistic_recalibration,
    recalibration_by_repeat,
    slope_by_eps,
    smoothed_calibration,
    threshold_grid,
)
from analysis.model.evaluate import (
    bootstrap_metrics,
    classification_metrics,
    percentile_ci,
    roc_band,
    stratified_bootstrap_index,
)
from analysis.phantom.model_checks import ceiling_auc

Y = np.array([1, 1, 1, 0, 0, 0])
P = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])


def test_metrics_by_hand():
    # predictions at 0.5: 1 1 0 1 0 0 -> TP 2, FN 1, FP 1, TN 2
    m = classification_metrics(Y, P)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-12)
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["recall"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["f1"] == pytest.approx(2 / 3, abs=1e-12)
    # AUC: of 9 (pos, neg) pairs, 0.6 < 0.7 and 0.4 < 0.7 are misordered -> 7/9
    assert m["auc"] == pytest.approx(7 / 9, abs=1e-12)


def test_metrics_undefined_are_nan():
    m = classification_metrics([1, 1], [0.2, 0.3])
    assert np.isnan(m["auc"]) and np.isnan(m["precision"])


def test_net_benefit_by_hand():
    dc = decision_curve(Y, P, [0.25, 0.5])  # dcurves.dca underneath
    # t = 0.25: treat 0.9 0.6 0.4 0.7 -> TP 3, FP 1; NB = 3/6 - 1/6 * (1/3) = 4/9
    # t = 0.5: treat 0.9, 0.6, 0.7 -> TP 2, FP 1; NB = 2/6 - 1/6 * 1 = 1/6
    np.testing.assert_allclose(dc["model"], [4 / 9, 1 / 6], atol=1e-12)  # float round-off
    # treat all: prevalence 0.5 - 0.5 * t/(1-t) -> 1/3 and 0
    np.testing.assert_allclose(dc["treat_all"], [1 / 3, 0.0], atol=1e-12)  # float round-off
    assert (dc["treat_none"] == 0).all()
    with pytest.raises(ValueError, match="thresholds"):
        decision_curve(Y, P, [0.0, 0.5])


def test_threshold_grid():
    np.testing.assert_allclose(threshold_grid((0.1, 0.3, 0.1)), [0.1, 0.2, 0.3], atol=1e-12)


def test_brier_and_calibration_by_hand():
    # Brier: mean of (0.1^2, 0.4^2, 0.6^2, 0.7^2, 0.2^2, 0.1^2) = 1.07 / 6
    assert brier_score(Y, P) == pytest.approx(1.07 / 6, abs=1e-12)
    cal = calibration_table(Y, P, 2)  # median of P is 0.5: bins {0.1,0.2,0.4}, {0.6,0.7,0.9}
    np.testing.assert_allclose(cal["mean_predicted"], [0.7 / 3, 2.2 / 3], atol=1e-12)
    np.testing.assert_allclose(cal["observed_rate"], [1 / 3, 2 / 3], atol=1e-12)
    assert cal["n_patients"].tolist() == [3, 3]
    cs = calibration_summary(Y, P)
    assert cs.brier_prevalence == pytest.approx(0.25, abs=1e-12)
    assert cs.table().loc["Brier score, prevalence only", "value"] == cs.brier_prevalence


def test_bootstrap_is_seeded_and_brackets_point():
    a = bootstrap_metrics(Y, P, 40, seed=3)
    pd.testing.assert_frame_equal(a, bootstrap_metrics(Y, P, 40, seed=3))
    lo, hi = percentile_ci(a["accuracy"])
    assert lo <= 4 / 6 <= hi
    band = roc_band(Y, P, 40, seed=3, n_grid=11)
    assert (band["tpr_lo"] <= band["tpr"] + 1e-12).all()
    assert band["tpr"].iloc[-1] == 1.0


def test_stratified_bootstrap_keeps_class_sizes():
    idx = stratified_bootstrap_index(Y, np.random.default_rng(0))
    assert Y[idx].sum() == 3 and len(idx) == 6


def test_ceiling_auc_limits():
    # a risk that says nothing (all equal) -> 0.5; a risk of exactly 0 or 1 -> 1.0
    assert ceiling_auc(np.full(50, 0.4), 30, seed=0)[0] == pytest.approx(0.5, abs=1e-12)
    r = np.r_[np.zeros(20), np.ones(20)]
    assert ceiling_auc(r, 10, seed=0)[0] == pytest.approx(1.0, abs=1e-12)
    # two risk groups 0.2 / 0.8 of 500 each: AUC = P(score_pos > score_neg) + 0.5 ties;
    # positives: 100 low, 400 high; negatives: 400 low, 100 high -> (high pos vs low neg
    # + half the ties) = (400*400 + 0.5*(100*400 + 400*100)) / (500*500) = 0.8 expected
    r2 = np.r_[np.full(500, 0.2), np.full(500, 0.8)]
    assert ceiling_auc(r2, 50, seed=1)[0] == pytest.approx(0.8, abs=0.01)  # ~3 SE at n=1000


def test_roc_band_staircase_by_hand():
    # perfect separation: TPR = 1 from FPR = 0 on
    band = roc_band([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 5, seed=0, n_grid=3)
    np.testing.assert_array_equal(band["tpr"], [1.0, 1.0, 1.0])
    # Y, P by hand, (FPR, TPR) by threshold: 0.9 (0, 1/3), 0.7 (1/3, 1/3),
    # 0.6 (1/3, 2/3), 0.4 (1/3, 1), 0.2 (2/3, 1), 0.1 (1, 1)
    band = roc_band(Y, P, 5, seed=0, n_grid=4)  # FPR grid 0, 1/3, 2/3, 1
    np.testing.assert_allclose(band["tpr"], [1 / 3, 1.0, 1.0, 1.0], atol=1e-12)


def test_recalibration_by_hand_and_planted():
    # one risk 0.25 for all, observed rate 0.5: the intercept with offset logit(0.25) is
    # logit(0.5) - logit(0.25) = log(3) (the MLE of a constant); no slope can be fitted
    r = logistic_recalibration([1, 1, 0, 0], [0.25] * 4, eps=1e-3)
    assert r.intercept == pytest.approx(np.log(3), abs=1e-6)  # IRLS convergence
    assert np.isnan(r.slope)
    # planted: labels drawn from the risks (slope 1, intercept 0); risks made twice as
    # extreme on the logit scale (slope 1/2). n = 5000: SE of the slope ~0.03
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 5000)
    y = (rng.random(5000) < p).astype(int)
    good = logistic_recalibration(y, p, eps=1e-3)
    assert good.slope_lo < 1 < good.slope_hi and good.intercept_lo < 0 < good.intercept_hi
    lp = np.log(p / (1 - p))
    over = logistic_recalibration(y, 1 / (1 + np.exp(-2 * lp)), eps=1e-3)
    assert over.slope == pytest.approx(0.5, abs=0.05)  # ~1.5 SE
    # perfectly separated labels: no maximum-likelihood slope, NaN rather than a huge number
    assert np.isnan(logistic_recalibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9],
                                          eps=1e-3).slope)
    by_rep = recalibration_by_repeat(pd.DataFrame({"repeat": [0] * 4 + [1] * 4,
                                                   "y": [1, 1, 0, 0] * 2,
                                                   "prob": [0.25] * 8}), eps=1e-3)
    assert by_rep.index.tolist() == [0, 1]
    np.testing.assert_allclose(by_rep["intercept"], np.log(3), atol=1e-6)


#: 12 risks with forest-like 0s and 1s (one confidently wrong: risk 1, no recurrence)
EPS_Y = [0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0]
EPS_P = [0, 0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 1, 1, 0.9, 0.4]


def test_recalibration_depends_on_eps_as_in_r():
    """The clipping constant against R 4.2.2 (glm):

        y <- c(0,0,0,1,0,1,1,1,1,0,1,0)
        p <- c(0, 0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 1, 1, 0.9, 0.4)
        for (eps in c(1e-4, 1e-3, 1e-2)) {
          lp <- qlogis(pmin(pmax(p, eps), 1 - eps))
          print(c(coef(glm(y ~ lp, family = binomial))[2],
                  coef(glm(y ~ 1, offset = lp, family = binomial))[1]))
        }

    slopes 0.15459859, 0.23533471, 0.41497936; intercepts -0.21624323, -0.21530556,
    -0.20615686. rtol 1e-5: both sides stop IRLS at a deviance change near 1e-8.
    :func:`slope_by_eps` tabulates the same, with 3 risks clipped at every eps."""
    want = {1e-4: (0.15459859, -0.21624323), 1e-3: (0.23533471, -0.21530556),
            1e-2: (0.41497936, -0.20615686)}
    for eps, (slope, intercept) in want.items():
        r = logistic_recalibration(EPS_Y, EPS_P, eps=eps)
        assert (r.slope, r.intercept) == pytest.approx((slope, intercept), rel=1e-5)
    oof = pd.DataFrame({"repeat": 0, "y": EPS_Y, "prob": EPS_P})
    t = slope_by_eps(oof, [1e-2, 1e-4, 1e-3, 1e-3])
    assert t["eps"].tolist() == [1e-4, 1e-3, 1e-2] and (t["repeat"] == 0).all()
    np.testing.assert_allclose(t["slope"], [0.15459859, 0.23533471, 0.41497936], rtol=1e-5)
    assert (t["n_clipped"] == 3).all()
    with pytest.raises(ValueError, match="eps"):
        logistic_recalibration(EPS_Y, EPS_P, eps=0.0)


def test_smoothed_calibration_follows_the_truth():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 2000)
    y = (rng.random(2000) < p).astype(int)
    sc = smoothed_calibration(y, p, n_boot=30, seed=0, n_grid=11)
    # calibrated risks: the loess curve stays on the identity (binomial SE at n = 2000
    # within a span of ~2/3 of the data is ~0.02; 0.06 allows curvature at the ends)
    np.testing.assert_allclose(sc["observed"], sc["predicted"], atol=0.06)
    assert (sc["observed_lo"] <= sc["observed"] + 1e-12).all()
    assert (sc["observed"] <= sc["observed_hi"] + 1e-12).all()
    # risks squeezed towards 0.5 (all 0.4-0.6): the curve is steeper than the identity
    sq = smoothed_calibration(y, 0.5 + (p - 0.5) / 4.5, n_boot=5, seed=0, n_grid=5)
    assert sq["observed"].iloc[-1] - sq["observed"].iloc[0] > \
        2 * (sq["predicted"].iloc[-1] - sq["predicted"].iloc[0])
