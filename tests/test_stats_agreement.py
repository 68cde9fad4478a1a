"""Agreement statistics (analysis.stats.agreement) against R psych 2.2.9 and by hand.

R values were printed with ``print(..., digits = 10)`` and are compared to 4 decimals
(``abs=5e-5``: the issue's 4-decimal agreement; our float64 arithmetic matches to ~1e-10).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.agreement import (
    bland_altman,
    cohen_kappa,
    icc_a1,
    lin_ccc,
    two_way_mean_squares,
)

#: Shrout & Fleiss (1979) Table 2: 6 targets (rows) rated by 4 judges (columns)
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
               [6, 2, 4, 7]], dtype=float)


def test_icc_shrout_fleiss_table_matches_psych():
    """R: ``library(psych); sf <- matrix(c(9,2,5,8, 6,1,3,2, 8,4,6,8, 7,1,2,6, 10,5,6,9,
    6,2,4,7), ncol = 4, byrow = TRUE); ICC(sf, lmer = FALSE)$results`` row ICC2:
    ICC 0.2897637795, lower 0.01878651337, upper 0.7610843696 (Shrout & Fleiss print
    0.29). Tolerance 5e-5: 4 decimals."""
    icc, lo, hi = icc_a1(SF)
    assert icc == pytest.approx(0.2897637795, abs=5e-5)
    assert lo == pytest.approx(0.01878651337, abs=5e-5)
    assert hi == pytest.approx(0.7610843696, abs=5e-5)


def test_icc_two_raters_matches_psych():
    """Two raters, the case of reference vs AI. R: ``x2 <- cbind(c(1.2, 2.3, 3.1, 4.8,
    5.0, 6.7, 7.1, 8.4), c(1.0, 2.9, 3.0, 4.1, 5.6, 6.2, 7.9, 8.8)); ICC(x2, lmer =
    FALSE)$results`` row ICC2: 0.9784161138 (0.9016649889, 0.9955968190). Tolerance
    5e-5: 4 decimals."""
    x2 = np.column_stack([[1.2, 2.3, 3.1, 4.8, 5.0, 6.7, 7.1, 8.4],
                          [1.0, 2.9, 3.0, 4.1, 5.6, 6.2, 7.9, 8.8]])
    icc, lo, hi = icc_a1(x2)
    assert icc == pytest.approx(0.9784161138, abs=5e-5)
    assert lo == pytest.approx(0.9016649889, abs=5e-5)
    assert hi == pytest.approx(0.9955968190, abs=5e-5)


def test_mean_squares_by_hand():
    """2 subjects x 2 raters [[1, 2], [3, 5]]: grand mean 2.75, row means 1.5 / 4, column
    means 2 / 3.5; MS_R = 2 * (1.25^2 + 1.25^2) / 1 = 6.25, MS_C = 2 * (0.75^2 * 2) =
    2.25, residuals +-0.25, MS_E = 4 * 0.0625 = 0.25. Exact in binary: rel 1e-12."""
    assert two_way_mean_squares([[1, 2], [3, 5]]) == pytest.approx((6.25, 2.25, 0.25),
                                                                   rel=1e-12)


def test_icc_identity_and_constant():
    """Identical raters: ICC 1 with the interval (1, 1); a constant feature: undefined."""
    x = np.array([0.1, 0.5, 0.2, 0.9])
    assert icc_a1(np.column_stack([x, x])) == (1.0, 1.0, 1.0)
    assert all(np.isnan(icc_a1(np.zeros((5, 2)))))


def test_icc_absolute_agreement_penalises_offset():
    """Rater 2 = rater 1 + 1 on x = 1..5: consistency would be perfect, absolute agreement
    is not. MS_R = 2 * 2.5 = 5, MS_C = 5 * 0.5 = 2.5, MS_E = 0:
    ICC(A,1) = 5 / (5 + 0 + 2/5 * 2.5) = 5/6."""
    x = np.arange(1.0, 6.0)
    icc, lo, hi = icc_a1(np.column_stack([x, x + 1]))
    assert icc == pytest.approx(5 / 6, rel=1e-12)
    assert np.isnan(lo) and np.isnan(hi)


def test_icc_interval_covers_about_95_percent():
    """The 95% interval covers the true ICC(A,1) in about 95% of simulated studies.

    Model: x_ij = s_i + r_j + e_ij, s ~ N(0, 1), r ~ N(0, 0.3^2), e ~ N(0, 0.5^2),
    n = 30 subjects, k = 2 raters; true ICC = 1 / (1 + 0.09 + 0.25) = 0.7463. 600
    studies (seeded): binomial SE of a 95% coverage is 0.9%, so [0.92, 0.98] is about
    3.3 SE either side (the interval is approximate, McGraw & Wong)."""
    rng = np.random.default_rng(11)
    true = 1 / (1 + 0.3 ** 2 + 0.5 ** 2)
    hits = 0
    for _ in range(600):
        x = (rng.normal(0, 1, (30, 1)) + rng.normal(0, 0.3, (1, 2))
             + rng.normal(0, 0.5, (30, 2)))
        _, lo, hi = icc_a1(x)
        hits += lo <= true <= hi
    assert 0.92 <= hits / 600 <= 0.98


def test_lin_ccc_by_hand():
    """x = (1, 2, 3), y = (1, 2, 4): rho_c = 6/7 (docstring); rel 1e-12: exact arithmetic.
    Identity gives 1; a shift of 1 on x = (1, 2, 3): 2 * (2/3) / (4/3 + 1) = 4/7."""
    assert lin_ccc([1, 2, 3], [1, 2, 4]) == pytest.approx(6 / 7, rel=1e-12)
    assert lin_ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0, rel=1e-12)
    assert lin_ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7, rel=1e-12)
    assert np.isnan(lin_ccc([0, 0, 0], [0, 0, 0]))


def test_bland_altman_by_hand():
    """d = (0, 0, 1): bias 1/3, s_d = sqrt(1/3) = 0.577350, LoA = 1/3 -+ 1.959964 * s_d
    = (-0.798252, 1.464919). rel 1e-6: z printed to 7 digits."""
    ba = bland_altman([1, 2, 3], [1, 2, 4])
    assert ba["bias"] == pytest.approx(1 / 3, rel=1e-12)
    assert ba["sd"] == pytest.approx(np.sqrt(1 / 3), rel=1e-12)
    assert ba["loa_lower"] == pytest.approx(-0.798252, rel=1e-6)
    assert ba["loa_upper"] == pytest.approx(1.464919, rel=1e-6)


def test_cohen_kappa_matches_psych():
    """R: ``a <- c(1,1,2,2,3,3,3,1,2,3,1,2); b <- c(1,2,2,2,3,3,1,1,2,3,1,3);
    psych::cohen.kappa(cbind(a, b))$kappa`` = 0.625 (by hand: (9/12 - 1/3) / (2/3)).
    Labels as strings (station names) give the same; identity gives 1; one shared
    category throughout gives 1."""
    a = [1, 1, 2, 2, 3, 3, 3, 1, 2, 3, 1, 2]
    b = [1, 2, 2, 2, 3, 3, 1, 1, 2, 3, 1, 3]
    assert cohen_kappa(a, b) == pytest.approx(0.625, abs=5e-5)
    assert cohen_kappa([str(v) for v in a], [str(v) for v in b]) == pytest.approx(0.625,
                                                                                 abs=5e-5)
    assert cohen_kappa(["4R", "7", "10R"], ["4R", "7", "10R"]) == 1.0
    assert cohen_kappa(["7", "7"], ["7", "7"]) == 1.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="ratings"):
        icc_a1(np.ones(4))
    with pytest.raises(ValueError, match="missing"):
        icc_a1([[1, np.nan], [2, 3]])
    with pytest.raises(ValueError, match="equal-length"):
        lin_ccc([1, 2], [1, 2, 3])
