"""Confidence intervals for proportions: Wilson (independent trials) and the cluster
bootstrap (items clustered within patients, e.g. recurrence sites)."""

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


def cluster_bootstrap_shares(
    k_per_cluster: np.ndarray,
    n_per_cluster: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares of items (sites) in groups (stations), with a cluster (patient) bootstrap.

    The items of a cluster are not independent (a patient's recurrence sites tend to sit
    in the same stations), so the sampling unit is the cluster: each replicate draws the
    ``m`` clusters with replacement, keeps all their items, and recomputes every share

    .. math:: \\hat p_t^* = \\sum_j w_j k_{jt} \\,/\\, \\sum_j w_j n_j,
              \\qquad w \\sim \\mathrm{Multinomial}(m, (1/m, \\dots, 1/m))

    (``w_j`` = how often cluster ``j`` was drawn). The interval is the percentile
    interval of the ``n_boot`` replicates (Efron & Tibshirani 1993, ch. 13). All groups
    share the same draws. With one item per cluster this is the ordinary bootstrap of a
    proportion, which agrees with the Wilson interval for moderate n; with strong
    clustering it is wider, as it should be.

    Parameters
    ----------
    k_per_cluster : ndarray of shape (m,) or (m, s)
        Items of cluster ``j`` in group ``t`` (s groups; a 1-D array is one group).
    n_per_cluster : ndarray of shape (m,)
        All items of cluster ``j`` (>= every ``k_per_cluster[j, t]``; clusters with no
        item may be included and simply add nothing).
    n_boot : int
        Bootstrap replicates (>= 1; 1000 or more for a 95% interval).
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same interval.
    confidence : float
        Two-sided level, e.g. 0.95.
    chunk : int
        Replicates drawn at a time (memory ``chunk * m`` integers).

    Returns
    -------
    share, lower, upper : ndarrays of shape (s,) (floats for a 1-D input)
        Point estimate ``sum(k) / sum(n)`` and the percentile interval. A replicate
        with no item at all (possible only when some clusters have none) is dropped.

    Raises
    ------
    ValueError
        For shapes that do not match, negative counts, ``k > n``, no item at all,
        ``n_boot < 1`` or a confidence outside (0, 1).
    """
    k = np.asarray(k_per_cluster, dtype=float)
    n = np.asarray(n_per_cluster, dtype=float)
    one = k.ndim == 1
    k2 = k[:, None] if one else k
    if k2.ndim != 2 or n.ndim != 1 or k2.shape[0] != n.shape[0]:
        raise ValueError(f"k_per_cluster {k.shape} and n_per_cluster {n.shape}: expected "
                         "(m,) or (m, s) and (m,)")
    if (k2 < 0).any() or (k2 > n[:, None]).any():
        raise ValueError("k_per_cluster: counts must lie in [0, n_per_cluster]")
    if n.sum() <= 0:
        raise ValueError("n_per_cluster: no item at all, the shares are undefined")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    m = len(n)
    rng = np.random.default_rng(seed)
    reps = []
    for start in range(0, n_boot, chunk):
        w = rng.multinomial(m, np.full(m, 1.0 / m), size=min(chunk, n_boot - start))
        den = w @ n
        keep = den > 0
        reps.append((w[keep] @ k2) / den[keep, None])
    boot = np.concatenate(reps, axis=0)
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    share = k2.sum(axis=0) / n.sum()
    if one:
        return float(share[0]), float(lower[0]), float(upper[0])  # type: ignore[return-value]
    return share, lower, upper


def cluster_bootstrap_share(
    in_group: np.ndarray,
    cluster: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Share of items in a group with a cluster-bootstrap percentile interval.

    Thin wrapper of :func:`cluster_bootstrap_shares` on per-item data.

    Parameters
    ----------
    in_group : bool ndarray of shape (n_items,)
        Whether each item (site) is in the group (e.g. in 10R, 10L, 4R or 7).
    cluster : ndarray of shape (n_items,)
        The cluster (patient) of each item.

    Returns
    -------
    (share, lower, upper)
    """
    g = np.asarray(in_group, dtype=bool)
    c = np.asarray(cluster)
    if g.shape != c.shape or g.ndim != 1:
        raise ValueError(f"in_group {g.shape} and cluster {c.shape}: expected two 1-D "
                         "arrays of the same length")
    _, inv = np.unique(c, return_inverse=True)
    k = np.bincount(inv, weights=g.astype(float))
    n = np.bincount(inv).astype(float)
    return cluster_bootstrap_shares(k, n, n_boot=n_boot, seed=seed,  # type: ignore[return-value]
                                    confidence=confidence)
