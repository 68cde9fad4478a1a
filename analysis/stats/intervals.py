"""Confidence intervals for proportions: Wilson (independent trials) and Wilson with a
design effect (items clustered within patients, e.g. recurrence sites in stations)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def wilson_bounds(share: np.ndarray | float, n_eff: np.ndarray | float,
                  confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds for shares ``share`` observed on ``n_eff`` trials (vectorised;
    ``n_eff`` may be fractional, e.g. an effective sample size ``n / deff``).

    .. math::
        \\frac{\\hat p + z^2/(2n) \\pm z \\sqrt{\\hat p (1-\\hat p)/n + z^2/(4n^2)}}
             {1 + z^2/n}, \\qquad z = \\Phi^{-1}(1 - \\alpha/2)

    At :math:`\\hat p = 0` the bounds are ``0`` and :math:`z^2/(n + z^2)` (never a
    zero-width interval); at :math:`\\hat p = 1`, :math:`n/(n + z^2)` and ``1``.
    Reference: Wilson (1927), JASA 22:209-212; R ``prop.test(correct = FALSE)``.

    Returns
    -------
    lower, upper : ndarrays of the broadcast shape of ``share`` and ``n_eff``
    """
    p = np.asarray(share, dtype=float)
    n = np.asarray(n_eff, dtype=float)
    if (n <= 0).any() or not np.isfinite(n).all():
        raise ValueError("n_eff must be finite and > 0")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("share must lie in [0, 1]")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(p == 0, 0.0, np.maximum(0.0, centre - half))
    hi = np.where(p == 1, 1.0, np.minimum(1.0, centre + half))
    return lo, hi


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k / n (:func:`wilson_bounds`).

    .. math:: \\frac{\\hat p + z^2/(2n) \\pm z \\sqrt{\\hat p (1-\\hat p)/n + z^2/(4n^2)}}{1 + z^2/n}

    Worked example: k = 5, n = 10 -> (0.2366, 0.7634), as R
    ``prop.test(5, 10, correct = FALSE)$conf.int``.

    Raises
    ------
    ValueError
        If n < 1 or k is not in [0, n].
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 for a proportion, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in [0, n={n}], got {k}")
    lo, hi = wilson_bounds(k / n, n, confidence)
    return float(lo), float(hi)


def pooled_icc(k_per_cluster: np.ndarray, n_per_cluster: np.ndarray) -> float | np.ndarray:
    """Within-cluster correlation of category membership, pooled over the categories
    (the ANOVA estimator of Ridout, Demetrio & Firth, Biometrics 1999;55:137-148, with
    the between and within mean squares summed over the categories: our choice).
    Reference: Ridout et al. (1999), above.

    For categories ``t`` that partition every cluster's items (``k[j].sum() == n[j]``),
    :math:`\\hat p_{jt} = k_{jt}/n_j`, :math:`\\hat p_t = \\sum_j k_{jt} / N`:

    .. math::
        \\mathrm{MSB} = \\sum_t \\sum_j n_j (\\hat p_{jt} - \\hat p_t)^2 / (m - 1), \\quad
        \\mathrm{MSW} = \\sum_t \\sum_j n_j \\hat p_{jt}(1 - \\hat p_{jt}) / (N - m),

        n_0 = (N - \\sum_j n_j^2 / N)/(m - 1), \\qquad
        \\hat\\rho = \\frac{\\mathrm{MSB} - \\mathrm{MSW}}{\\mathrm{MSB} + (n_0 - 1)\\,
        \\mathrm{MSW}} \\ \\text{truncated to } [0, 1].

    Under a Dirichlet-multinomial (each patient has its own station propensities, drawn
    around the shares) the correlation is the same for every category, so pooling over
    all stations estimates it stably even when a single station has no or one site.

    Worked example: two clusters of 2 items, categories (a, b): ``[[2, 0], [0, 2]]``
    (each cluster pure) -> 1.0; ``[[1, 1], [1, 1]]`` (each cluster mixed) -> 0.0
    (the raw estimate -1 is truncated).

    ``k_per_cluster`` may carry leading batch axes, ``(..., m, s)`` with ``n_per_cluster``
    ``(..., m)`` (one estimate per batch element; clusters with no item are skipped).

    Returns 0.0 when every cluster has one item (``N == m``: no within-cluster pair, and
    the design effect is 1 whatever the correlation); 1.0 (the conservative value) when
    it cannot be estimated otherwise: one cluster, or every item in one category.
    """
    k = np.asarray(k_per_cluster, dtype=float)
    n = np.asarray(n_per_cluster, dtype=float)
    if k.ndim < 2 or k.shape[:-1] != n.shape:
        raise ValueError(f"k_per_cluster {k.shape} and n_per_cluster {n.shape}: expected "
                         "(..., m, s) and (..., m)")
    if (k < 0).any() or (k > n[..., None]).any():
        raise ValueError("k_per_cluster: counts must lie in [0, n_per_cluster]")
    big_n = n.sum(axis=-1)
    if (big_n <= 0).any():
        raise ValueError("n_per_cluster: no item at all, the shares are undefined")
    m = (n > 0).sum(axis=-1)
    pj = k / np.maximum(n, 1.0)[..., None]
    p = k.sum(axis=-2) / big_n[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        msb = (n[..., None] * (pj - p[..., None, :]) ** 2).sum(axis=(-2, -1)) / (m - 1)
        msw = (n[..., None] * pj * (1 - pj)).sum(axis=(-2, -1)) / (big_n - m)
        n0 = (big_n - (n * n).sum(axis=-1) / big_n) / (m - 1)
        den = msb + (n0 - 1) * msw
        rho = np.clip((msb - msw) / den, 0.0, 1.0)
    rho = np.where((m < 2) | ~(den > 0), 1.0, rho)
    rho = np.where(big_n == m, 0.0, rho)
    return float(rho) if rho.ndim == 0 else rho


def design_effect(n_per_cluster: np.ndarray, icc: float | np.ndarray) -> float | np.ndarray:
    """Design effect of a share of items clustered in clusters of sizes ``n_j`` with a
    common within-cluster correlation ``icc`` (Kish 1965; for unequal cluster sizes
    Gabler, Haeder & Lahiri, Survey Methodology 1999;25:105-6):

    .. math:: \\mathrm{deff} = 1 + \\rho\\,(\\textstyle\\sum_j n_j^2 / N - 1),

    from :math:`\\mathrm{Var}(\\sum_j k_j) = p(1-p) \\sum_j n_j [1 + (n_j - 1)\\rho]`.
    One item per cluster gives 1; ``m`` clusters of ``c`` items with ``icc = 1`` give
    ``c``. Worked example: sizes (1, 3), icc 0.5 -> 1 + 0.5 (10/4 - 1) = 1.75.
    ``n_per_cluster`` may carry leading batch axes ``(..., m)``, ``icc`` then ``(...)``.
    Reference: Kish (1965), Survey Sampling, section 5.4.
    """
    n = np.asarray(n_per_cluster, dtype=float)
    rho = np.asarray(icc, dtype=float)
    if ((rho < 0) | (rho > 1)).any():
        raise ValueError(f"icc must lie in [0, 1], got {icc}")
    if (n.sum(axis=-1) <= 0).any():
        raise ValueError("n_per_cluster: no item at all")
    deff = 1 + rho * ((n * n).sum(axis=-1) / n.sum(axis=-1) - 1)
    return float(deff) if deff.ndim == 0 else deff


def clustered_wilson(k_per_cluster: np.ndarray, n_per_cluster: np.ndarray, *,
                     icc: float | np.ndarray, confidence: float = 0.95):
    """Shares of items in groups with a design-effect Wilson interval: Wilson's score
    interval on the effective sample size :math:`N / \\mathrm{deff}`
    (:func:`design_effect`, :func:`wilson_bounds`), the share itself unchanged.
    Reference: Wilson (1927); Kish (1965) for the design effect.

    Chosen over a patient bootstrap because it keeps its coverage at 0, 1 and few items
    (the percentile bootstrap gives 0-0 at no item and covered 0.84 at a true share of
    0.02, issue #23): ``tests/test_recurrence_clustered.py`` plants a within-patient
    correlation of 0.3 and measures coverage 0.949-0.959 for shares 0.01-0.3 at 94
    patients (about 24% of replicates at share 0.01 have no item at all). It assumes
    one correlation for every group (as a Dirichlet-multinomial has).

    Parameters
    ----------
    k_per_cluster : ndarray of shape (m,) or (m, s), or (..., m, s)
        Items of cluster ``j`` in group ``t`` (groups may overlap, e.g. a union).
    n_per_cluster : ndarray of shape (m,), or (..., m) with leading batch axes
        All items of cluster ``j``.
    icc : float, or ndarray of the batch shape
        Within-cluster correlation, e.g. :func:`pooled_icc` over all categories.

    Returns
    -------
    share, lower, upper : ndarrays of shape (..., s) (floats for a 1-D input), and the
    design effect (float, or an ndarray of the batch shape)
    """
    k = np.asarray(k_per_cluster, dtype=float)
    n = np.asarray(n_per_cluster, dtype=float)
    one = k.ndim == 1
    k = k[:, None] if one else k
    if n.ndim < 1 or k.shape[:-1] != n.shape:
        raise ValueError(f"k_per_cluster {np.shape(k_per_cluster)} and n_per_cluster "
                         f"{n.shape}: expected (m,) or (..., m, s) and (..., m)")
    if (k < 0).any() or (k > n[..., None]).any():
        raise ValueError("k_per_cluster: counts must lie in [0, n_per_cluster]")
    big_n = n.sum(axis=-1)
    if (big_n <= 0).any():
        raise ValueError("n_per_cluster: no item at all, the shares are undefined")
    deff = design_effect(n, icc)
    share = k.sum(axis=-2) / big_n[..., None]
    lo, hi = wilson_bounds(share, (big_n / deff)[..., None], confidence)
    if one:
        return float(share[0]), float(lo[0]), float(hi[0]), deff
    return share, lo, hi, deff
