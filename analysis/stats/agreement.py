"""Agreement between raters (observers, or a reference and an AI map): ICC, CCC,
Bland-Altman, Cohen's kappa. Pure functions on arrays; nothing here knows the cohort.

- :func:`icc_a1`: ICC(2,1), two-way random effects, absolute agreement, single rater
  (Shrout & Fleiss 1979 "ICC(2,1)"; McGraw & Wong 1996 "ICC(A,1)"), with its 95% CI;
- :func:`lin_ccc`: Lin's concordance correlation coefficient (Lin 1989);
- :func:`bland_altman`: bias and 95% limits of agreement (Bland & Altman 1986);
- :func:`cohen_kappa`: Cohen's kappa for two raters on nominal categories (Cohen 1960).

Koo & Li (2016) read an ICC below 0.5 as poor, 0.5-0.75 moderate, 0.75-0.9 good and
at least 0.9 excellent (:data:`KOO_LI_BANDS`); radiomics calls a feature "robust" to
contour variation at ICC >= 0.9 (Zwanenburg et al., Sci Rep 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

#: Koo & Li (2016) lower bounds of "moderate", "good", "excellent" reliability
KOO_LI_BANDS: tuple[float, ...] = (0.5, 0.75, 0.9)


def _ratings(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"ratings: expected an (n_subjects >= 2, k_raters >= 2) array, "
                         f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("ratings: missing or infinite values (complete data only)")
    return a


def two_way_mean_squares(x) -> tuple[float, float, float]:
    """Mean squares of the two-way ANOVA without replication (subjects x raters).

    .. math::
        MS_R = \\frac{k \\sum_i (\\bar x_{i.} - \\bar x)^2}{n-1},\\quad
        MS_C = \\frac{n \\sum_j (\\bar x_{.j} - \\bar x)^2}{k-1},\\quad
        MS_E = \\frac{\\sum_{ij} (x_{ij} - \\bar x_{i.} - \\bar x_{.j} + \\bar x)^2}{(n-1)(k-1)}

    Reference: Shrout & Fleiss (1979), Psychol Bull 86:420-428, Table 1.

    Parameters
    ----------
    x : array of shape (n_subjects, k_raters), complete

    Returns
    -------
    (MS_R, MS_C, MS_E) : rows (subjects), columns (raters), residual
    """
    a = _ratings(x)
    n, k = a.shape
    grand = a.mean()
    rows = a.mean(axis=1)
    cols = a.mean(axis=0)
    ms_r = k * float(((rows - grand) ** 2).sum()) / (n - 1)
    ms_c = n * float(((cols - grand) ** 2).sum()) / (k - 1)
    resid = a - rows[:, None] - cols[None, :] + grand
    ms_e = float((resid ** 2).sum()) / ((n - 1) * (k - 1))
    return ms_r, ms_c, ms_e


def icc_a1(x, confidence: float = 0.95) -> tuple[float, float, float]:
    """ICC(2,1): two-way random effects, absolute agreement, single rater, with its CI.

    Shrout & Fleiss (1979) ICC(2,1) = McGraw & Wong (1996) ICC(A,1): with the mean
    squares of :func:`two_way_mean_squares` for ``n`` subjects and ``k`` raters,

    .. math::
        \\mathrm{ICC}(A,1) = \\frac{MS_R - MS_E}
            {MS_R + (k-1) MS_E + \\tfrac{k}{n}(MS_C - MS_E)}

    The confidence interval is McGraw & Wong's (1996, Table 7, case 2A; the
    Satterthwaite approximation of Fleiss & Shrout 1978), as ``psych::ICC`` computes it:
    with :math:`\\rho` the estimate and :math:`F_j = MS_C / MS_E`,

    .. math::
        v = \\frac{(k-1)(n-1)\\,[k\\rho F_j + n(1+(k-1)\\rho) - k\\rho]^2}
                  {(n-1) k^2 \\rho^2 F_j^2 + [n(1+(k-1)\\rho) - k\\rho]^2},

        L = \\frac{n(MS_R - F^* MS_E)}{F^*(k MS_C + (kn - k - n) MS_E) + n MS_R},\\quad
        F^* = F_{1-\\alpha/2}(n-1, v),

        U = \\frac{n(F_* MS_R - MS_E)}{k MS_C + (kn - k - n) MS_E + n F_* MS_R},\\quad
        F_* = F_{1-\\alpha/2}(v, n-1).

    Worked example (Shrout & Fleiss 1979, Table 2: 6 targets x 4 judges): ICC(2,1) =
    0.2898, 95% CI (0.0188, 0.7611), as R ``psych::ICC(sf, lmer = FALSE)``.

    Edge cases: when the raters agree exactly on every subject (:math:`MS_E = MS_C = 0`)
    and the subjects differ (:math:`MS_R > 0`) the ICC is 1 with the interval (1, 1);
    when there is no variation at all (every rating equal) it is undefined (NaN).

    Parameters
    ----------
    x : array of shape (n_subjects, k_raters), complete
    confidence : two-sided level of the interval

    Returns
    -------
    (icc, lower, upper) : float
    """
    a = _ratings(x)
    n, k = a.shape
    ms_r, ms_c, ms_e = two_way_mean_squares(a)
    scale = max(float(np.abs(a).max()), 1.0) ** 2
    tiny = 1e-24 * scale  # round-off of exactly equal ratings
    if ms_e <= tiny and ms_c <= tiny:
        return (1.0, 1.0, 1.0) if ms_r > tiny else (np.nan, np.nan, np.nan)
    icc = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n)
    alpha = 1 - confidence
    if ms_e <= tiny:  # raters differ by a constant only: F_j infinite
        return float(icc), np.nan, np.nan
    fj = ms_c / ms_e
    inner = n * (1 + (k - 1) * icc) - k * icc
    vn = (k - 1) * (n - 1) * (k * icc * fj + inner) ** 2
    vd = (n - 1) * k ** 2 * icc ** 2 * fj ** 2 + inner ** 2
    v = vn / vd
    f_up = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_lo = stats.f.ppf(1 - alpha / 2, v, n - 1)
    denom = k * ms_c + (k * n - k - n) * ms_e
    lower = n * (ms_r - f_up * ms_e) / (f_up * denom + n * ms_r)
    upper = n * (f_lo * ms_r - ms_e) / (denom + n * f_lo * ms_r)
    return float(icc), float(lower), float(upper)


def lin_ccc(x, y) -> float:
    """Lin's concordance correlation coefficient of two raters (Lin 1989, eq. 2a).

    .. math::
        \\rho_c = \\frac{2 s_{xy}}{s_x^2 + s_y^2 + (\\bar x - \\bar y)^2}

    with the moments taken with divisor ``n`` (Lin's estimator). Worked example:
    x = (1, 2, 3), y = (1, 2, 4): s_xy = 1, s_x^2 = 2/3, s_y^2 = 14/9, mean difference
    -1/3, so rho_c = 2 / (6/9 + 14/9 + 1/9) = 6/7 = 0.857143. NaN when both raters give
    one constant value each and it is the same (0/0); 1 when x == y and x varies.

    Parameters
    ----------
    x, y : arrays of shape (n,), complete
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"lin_ccc: x and y must be equal-length vectors of >= 2 values, "
                         f"got {a.shape} and {b.shape}")
    sxy = float(((a - a.mean()) * (b - b.mean())).mean())
    denom = float(a.var() + b.var() + (a.mean() - b.mean()) ** 2)
    if denom == 0:
        return np.nan
    return 2 * sxy / denom


def bland_altman(x, y, confidence: float = 0.95) -> dict[str, float]:
    """Bland-Altman bias and limits of agreement of ``y`` against ``x`` (Bland & Altman
    1986): differences :math:`d_i = y_i - x_i`,

    .. math:: \\text{bias} = \\bar d, \\qquad
              \\text{LoA} = \\bar d \\pm z_{1-\\alpha/2}\\, s_d

    (:math:`s_d` with divisor n - 1; z = 1.96 at 95%). Worked example: x = (1, 2, 3),
    y = (1, 2, 4): d = (0, 0, 1), bias 1/3, s_d = 0.57735, LoA (-0.7983, 1.4649).

    Returns
    -------
    dict with ``bias``, ``sd``, ``loa_lower``, ``loa_upper``
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"bland_altman: x and y must be equal-length vectors of >= 2 "
                         f"values, got {a.shape} and {b.shape}")
    d = b - a
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    return {"bias": bias, "sd": sd, "loa_lower": bias - z * sd, "loa_upper": bias + z * sd}


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two raters assigning the same items to nominal categories.

    .. math:: \\kappa = \\frac{p_o - p_e}{1 - p_e},\\qquad
              p_e = \\sum_c p_{a,c}\\, p_{b,c}

    (:math:`p_o` the share of items both put in the same category, :math:`p_{a,c}` the
    share rater a puts in category c). Worked example: a = (1,1,2,2,3,3,3,1,2,3,1,2),
    b = (1,2,2,2,3,3,1,1,2,3,1,3): p_o = 9/12, p_e = 1/3, kappa = 0.625 (R
    ``psych::cohen.kappa(cbind(a, b))`` unweighted). When both raters use one and the
    same category for every item, :math:`p_e = 1`: kappa is 1 if they agree on every
    item (perfect agreement), else NaN.

    Parameters
    ----------
    a, b : sequences of equal length (any hashable labels, e.g. station names)
    """
    x = np.asarray(a, dtype=object).ravel()
    y = np.asarray(b, dtype=object).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"cohen_kappa: a and b must be equal-length, non-empty; got "
                         f"{x.shape} and {y.shape}")
    cats = sorted(set(x.tolist()) | set(y.tolist()), key=str)
    po = float(np.mean(x == y))
    pe = sum(float(np.mean(x == c)) * float(np.mean(y == c)) for c in cats)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else np.nan
    return (po - pe) / (1 - pe)
