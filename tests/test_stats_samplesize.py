"""Riley et al.'s minimum sample size for a binary outcome against pmsampsize."""

from __future__ import annotations

import math

import pytest

from analysis.stats.samplesize import max_r2_cs, riley_binary


def test_pmsampsize_worked_example():
    """pmsampsize's binary worked example ("based on Riley et al. BMJ 2020"):

        pmsampsize(type = "b", csrsquared = 0.288, parameters = 24, prevalence = 0.174)

    Criteria 623, 662, 221, final 662: the expected values of pmsampsize's Python test
    suite (``test_pmsampsize``, Test 1); the CRAN package's older tests read 668 for
    criterion 2 with ``tolerance = 1``. Exact integers: each criterion is a ceiling,
    here of 622.3, 661.10 and 220.85, far from a rounding edge. Max R2_cs
    1 - (0.174^0.174 0.826^0.826)^2 = 0.6032 and S_2 = 0.288 / (0.288 + 0.05 * 0.6032)
    = 0.9052 by hand (abs 1e-4: four printed decimals)."""
    r = riley_binary(0.174, 24, 0.288)
    assert (r.n_shrinkage, r.n_optimism, r.n_intercept, r.n) == (623, 662, 221, 662)
    assert r.max_r2_cs == pytest.approx(0.6032, abs=1e-4)
    assert r.shrinkage_optimism == pytest.approx(0.9052, abs=1e-4)
    assert r.shrinkage == r.shrinkage_optimism
    assert r.events == pytest.approx(662 * 0.174, rel=1e-12)
    assert r.epp == pytest.approx(4.80, abs=0.005)  # pmsampsize prints EPP 4.8
    t = r.table(n_cohort=180, events_cohort=94)
    assert t["n"].tolist() == [623, 662, 221, 662, 180]
    assert t.loc["this cohort", "epp"] == pytest.approx(94 / 24, rel=1e-12)


def test_by_hand_and_refusals():
    """Prevalence 0.5: max R2_cs = 1 - 0.25 = 0.75. Criterion 3 at 0.5:
    (1.96 / 0.05)^2 / 4 = 384.16 -> 385. With R2_cs = 0.15 * 0.75 = 0.1125 and 110
    parameters (the paper's model): n_1 = 110 / (0.1 ln(1 / (1 - 0.125))) = 8237.6
    -> 8238."""
    assert max_r2_cs(0.5) == pytest.approx(0.75, rel=1e-12)
    r = riley_binary(0.5, 110, 0.15 * 0.75)
    assert r.n_intercept == 385
    assert r.n_shrinkage == math.ceil(110 / (0.1 * math.log(1 / 0.875))) == 8238
    with pytest.raises(ValueError, match="prevalence"):
        riley_binary(1.0, 10, 0.1)
    with pytest.raises(ValueError, match="r2_cs"):
        riley_binary(0.5, 10, 0.8)
    with pytest.raises(ValueError, match="n_parameters"):
        riley_binary(0.5, 0, 0.1)
