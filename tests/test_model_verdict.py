"""The verdict is generated from the numbers; the phantom reference reads truth.json."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import paper
from analysis.model_eval import (
    ceiling_table,
    decision_curve,
    phantom_reference,
    planted_features_table,
    verdict,
)


def _tables(valid_auc: float, nested_auc: float, nested_lo: float):
    t7 = pd.DataFrame({"train": 0.95, "valid": valid_auc, "valid_lo": 0.55, "valid_hi": 0.95},
                      index=["auc"])
    nested = pd.DataFrame({"value": [nested_auc - 0.01, 0.08, nested_auc],
                           "lo": [0.5, np.nan, nested_lo], "hi": [0.8, np.nan, 0.8]},
                          index=["mean AUC over outer folds", "SD of AUC over outer folds",
                                 "pooled out-of-fold AUC"])
    opt = pd.DataFrame({"value": [0.70], "lo": [0.65], "hi": [0.74]},
                       index=["optimism-corrected AUC"])
    calib = pd.DataFrame({"value": [0.20, 0.25]},
                         index=["Brier score (out-of-fold)", "Brier score, prevalence only"])
    freq = pd.DataFrame({"frequency": [1.0, 0.9, 0.4, 0.0]}, index=list("abcd"))
    y = np.array([0, 0, 1, 1])
    dc = decision_curve(y, np.array([0.1, 0.4, 0.35, 0.8]), [0.2, 0.5])
    return t7, nested, opt, calib, freq, dc


def test_verdict_overstated_from_numbers():
    text = verdict(*_tables(0.80, 0.66, 0.56), n_valid=36, ceiling=(0.78, 0.7, 0.86))
    assert "synthetic phantom" in text
    assert "validation AUC of 0.80 on 36 patients" in text
    assert "overstated the discrimination by 0.14" in text  # 0.80 - 0.66
    assert "some discrimination above chance" in text  # nested lower bound 0.56 > 0.5
    assert "recovers 57% of" in text  # (0.66 - 0.5) / (0.78 - 0.5)
    assert "2 feature(s) kept in at least 80%" in text
    assert f"{paper.TABLE7['auc'][1]:.2f}" in text


def test_verdict_agrees_and_no_signal():
    text = verdict(*_tables(0.52, 0.51, 0.40), n_valid=8, phantom=False)
    assert "synthetic" not in text
    assert "agreed with the nested estimate within 0.03" in text
    assert "includes 0.5" in text


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
    nested = pd.DataFrame({"value": [0.6]}, index=["pooled out-of-fold AUC"])
    assert ceiling_table(ref, nested).loc[0, "nested_cv_auc"] == 0.6
