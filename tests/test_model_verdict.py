"""The verdict is generated from typed summaries; the phantom reference reads truth.json."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import paper
from analysis.model.calibration import CalibrationSummary, decision_curve
from analysis.model.evaluate import Bootstrap632Summary, Estimate, NestedSummary, SplitAUC
from analysis.model.verdict import verdict
from analysis.phantom.model_checks import (
    ceiling_table,
    phantom_reference,
    planted_features_table,
)


def _inputs(valid_auc: float, nested_auc: float, nested_lo: float, mc_se: float = 0.008):
    split = SplitAUC(train=0.95, valid=valid_auc, valid_lo=0.55, valid_hi=0.95)
    nested = NestedSummary(fold_mean=Estimate(nested_auc - 0.01, 0.5, 0.8),
                           fold_sd=Estimate(0.08),
                           pooled=Estimate(nested_auc, nested_lo, 0.8),
                           n_selected=Estimate(5.0, 3.0, 7.0),
                           over_repeats=Estimate(nested_auc, nested_auc - 0.02,
                                                 nested_auc + 0.02))
    boot = Bootstrap632Summary(apparent=Estimate(0.99), oob=Estimate(0.60),
                               relative_overfitting=0.8, weight=0.9,
                               auc=Estimate(0.62), n_boot=8, mc_se=mc_se)
    calib = CalibrationSummary(brier=0.20, brier_prevalence=0.25, mean_predicted=0.5,
                               observed_rate=0.5)
    freq = pd.DataFrame({"frequency": [1.0, 0.9, 0.4, 0.0]}, index=list("abcd"))
    y = np.array([0, 0, 1, 1])
    dc = decision_curve(y, np.array([0.1, 0.4, 0.35, 0.8]), [0.2, 0.5])
    return split, nested, boot, calib, freq, dc


def test_verdict_overstated_from_numbers():
    text = verdict(*_inputs(0.80, 0.66, 0.56), n_valid=36, ceiling=(0.78, 0.7, 0.86))
    assert "synthetic phantom" in text
    assert "validation AUC of 0.80 on 36 patients" in text
    assert "overstated the discrimination by 0.14" in text  # 0.80 - 0.66
    # no interval for the nested AUC, so no claim about chance (issue 23 item 4): the
    # bootstrap bound 0.56 > 0.5 that used to say "above chance" is not read any more
    assert "out-of-fold AUC of 0.66 (per-fold mean 0.65" in text
    assert "does not test whether the discrimination is above chance" in text
    assert "lies +0.16 AUC from chance" in text and "above chance." not in text
    assert "recovers 57% of" in text  # (0.66 - 0.5) / (0.78 - 0.5)
    assert "2 feature(s) kept in at least 80%" in text
    assert f"{paper.TABLE7['auc'][1]:.2f}" in text
    assert "0.632+ bootstrap AUC is 0.62 (Monte Carlo SE 0.008 over 8 resamples)." in text


def test_verdict_flags_a_noisy_632plus():
    """A Monte Carlo SE above 0.01 is said to make the second decimal seed-dependent."""
    text = verdict(*_inputs(0.80, 0.66, 0.56, mc_se=0.02), n_valid=36)
    assert "(Monte Carlo SE 0.020 over 8 resamples, above 0.01: its second decimal" in text
    text = verdict(*_inputs(0.80, 0.66, 0.56, mc_se=float("nan")), n_valid=36)
    assert "(Monte Carlo SE unknown with 8 resample(s), above 0.01" in text


def test_verdict_reports_calibration():
    recal = pd.DataFrame({"intercept": [0.1, -0.2], "slope": [0.45, 0.62]})
    text = verdict(*_inputs(0.80, 0.66, 0.56), n_valid=36, recal=recal)
    assert "slope 0.45 to 0.62 (ideal 1" in text and "intercept -0.20 to 0.10" in text
    assert "Calibration" not in verdict(*_inputs(0.80, 0.66, 0.56), n_valid=36)


def test_verdict_agrees_and_no_signal():
    text = verdict(*_inputs(0.52, 0.51, 0.40), n_valid=8, phantom=False)
    assert "synthetic" not in text
    assert "agreed with the nested estimate within 0.03" in text
    assert "lies +0.01 AUC from chance (0.5)" in text


def test_summary_tables_carry_the_typed_values():
    _, nested, boot, calib, _, _ = _inputs(0.8, 0.66, 0.56)
    t = nested.table()
    assert t.loc["pooled out-of-fold AUC", "value"] == 0.66
    assert t.loc["mean AUC over outer folds", "hi"] == 0.8
    assert boot.table().loc["0.632+ AUC", "value"] == 0.62
    assert calib.table().loc["Brier score (out-of-fold)", "value"] == 0.20


def test_phantom_reference_and_tables():
    truth = {"informative_features": ["RgtvLN_13", "RctvLN_7"],
             "patients": {"A": {"included": True, "p_failure_observed": 0.0},
                          "B": {"included": True, "p_failure_observed": 1.0},
                          "C": {"included": False, "p_failure_observed": 0.5},
                          "D": {"included": True, "p_failure_observed": 1.0}}}
    ref = phantom_reference(truth, "any", 36.0, 5, seed=0)
    assert ref["n_patients"] == 3  # C was not included
    assert ref["ceiling"][0] == pytest.approx(1.0, abs=1e-12)  # risks of 0/1 rank perfectly
    assert phantom_reference(truth, "horizon", 24.0, 5, seed=0)["ceiling"] is None
    freq = pd.DataFrame({"frequency": [1.0, 0.5, 0.0]}, index=["RctvLN_7", "x", "RgtvLN_13"])
    t = planted_features_table(freq, truth["informative_features"], ["RctvLN_7"])
    assert t.loc["RctvLN_7", "rank"] == 1 and t.loc["RgtvLN_13", "rank"] == 3
    assert t.loc["RgtvLN_13", "number"] == 45  # RgtvLN family starts at 33: 32 + 13
    assert ceiling_table(ref, 0.6).loc[0, "nested_cv_auc"] == 0.6
