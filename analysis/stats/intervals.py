"""Confidence intervals for proportions (Wilson) and their helpers."""

from __future__ import annotations

import numpy as np
from scipy import stats


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k / n.

    .. math::
        \\frac{\\hat p + z^2/(2n) \\pm z \\sqrt{\\hat p (1-\\hat p)/n + z^2/(4n^2)}}
             {1 + z^2/n}, \\qquad \\hat p = k/n,\\ z = \\Phi^{-1}(1 - \\alpha/2)

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
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(lo), float(hi)
