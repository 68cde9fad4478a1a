"""Patient-clustered bootstrap CIs for shares of recurrence sites (issue #14 item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.intervals import (
    cluster_bootstrap_share,
    cluster_bootstrap_shares,
    wilson_interval,
)


def _clustered(n_patients: int = 60, sites_each: int = 5, p: float = 0.5, seed: int = 1):
    """Planted clustering: every patient's sites all sit in the group, or all outside it
    (intra-cluster correlation 1): 60 patients x 5 sites = 300 sites (share 0.433 with
    this seed)."""
    rng = np.random.default_rng(seed)
    in_group = np.repeat(rng.random(n_patients) < p, sites_each)
    cluster = np.repeat(np.arange(n_patients), sites_each)
    return in_group, cluster


def test_clustered_sites_give_a_wider_interval_than_wilson():
    """With perfect clustering, 300 sites carry the information of 60 patients: the
    cluster-bootstrap interval is about sqrt(5) = 2.2 times Wilson's (Wilson treats the
    300 sites as independent). Measured here: ratio 2.25 (95% CI 0.316-0.567 vs Wilson
    0.378-0.490); asserted > 1.6, a margin for bootstrap noise with B = 2000.

    Fault injected (resampling SITES instead of patients, i.e. every site its own
    cluster, as the last lines do): ratio 1.02, the > 1.6 assert fails."""
    g, c = _clustered()
    share, lo, hi = cluster_bootstrap_share(g, c, n_boot=2000, seed=11)
    wlo, whi = wilson_interval(int(g.sum()), len(g))
    assert share == g.mean()
    assert lo <= share <= hi
    ratio = (hi - lo) / (whi - wlo)
    assert ratio > 1.6, ratio
    # the fault: resampling sites (each site its own cluster) is as narrow as Wilson
    _, slo, shi = cluster_bootstrap_share(g, np.arange(len(g)), n_boot=2000, seed=11)
    assert (shi - slo) / (whi - wlo) == pytest.approx(1.0, abs=0.15)


def test_one_site_per_patient_agrees_with_wilson():
    """One site per patient (no clustering), n = 300, share 0.3: the bootstrap percentile
    interval and Wilson's agree within 0.01 on each bound (measured: 0.2500-0.3533 vs
    Wilson 0.2509-0.3541). The tolerance: Wilson's
    centre sits (z^2 / 2n) / (1 + z^2 / n) toward 0.5, about 0.0025 here, and the Monte
    Carlo error of a 2.5% quantile with B = 4000 is about 0.003."""
    rng = np.random.default_rng(5)
    g = np.zeros(300, bool)
    g[rng.choice(300, 90, replace=False)] = True
    share, lo, hi = cluster_bootstrap_share(g, np.arange(300), n_boot=4000, seed=3)
    wlo, whi = wilson_interval(90, 300)
    assert share == 0.3
    assert (lo, hi) == pytest.approx((wlo, whi), abs=0.01)


def test_shares_of_several_groups_by_hand_and_deterministic():
    """Two patients: A has 3 sites (2 in group 0, 1 in group 1), B has 1 site (group 1).
    Shares 2/4 and 2/4. The four possible resamples (AA, AB, BA, BB) give group 0:
    4/6, 2/4, 2/4, 0/2 -> every replicate lies in [0, 2/3]; the same seed gives the
    same interval, another seed (almost surely) another."""
    k = np.array([[2, 1], [0, 1]])
    n = np.array([3, 1])
    share, lo, hi = cluster_bootstrap_shares(k, n, n_boot=500, seed=1)
    np.testing.assert_array_equal(share, [0.5, 0.5])
    assert lo[0] == 0.0 and hi[0] == pytest.approx(2 / 3, abs=1e-12)
    again = cluster_bootstrap_shares(k, n, n_boot=500, seed=1)
    np.testing.assert_array_equal(again[1], lo)
    np.testing.assert_array_equal(again[2], hi)
    with pytest.raises(ValueError, match="counts must lie"):
        cluster_bootstrap_shares(np.array([4, 0]), n, n_boot=10, seed=1)
    with pytest.raises(ValueError, match="no item"):
        cluster_bootstrap_shares(np.array([0, 0]), np.array([0, 0]), n_boot=10, seed=1)
    with pytest.raises(ValueError, match="n_boot"):
        cluster_bootstrap_shares(k, n, n_boot=0, seed=1)


def test_table5_and_top4_share_use_the_patient_bootstrap():
    """Table 5 by hand: sites a: 10R, 4R; b: 10R; c: 7, outside -> 10R share 2/5 = 0.4.
    Its CI resamples the 3 patients: the extreme resamples are b only (share 1) and
    none of a, b (share 0), so the bounds lie in [0, 1] around 0.4; same seed, same
    CI. The top-4 share on the planted clustered cohort is wider than Wilson's (ratio
    2.25 above), and Wilson's is kept beside it. Fault injected once (top_share's CI
    set to Wilson's): ratio 1.00, the last assert fails."""
    import pandas as pd

    from analysis import recurrence as rc

    sites = pd.DataFrame({"pid": ["a", "a", "b", "c", "c"],
                          "station": ["10R", "4R", "10R", "7", rc.OUTSIDE],
                          "gtv_affected": [True, False, True, False, False]})
    rctv = pd.DataFrame(0.0, index=["a", "b", "c"],
                        columns=[f"RctvLN_{i}" for i in range(1, 17)])
    t = rc.table5(sites, rctv, n_boot=400, seed=2)
    assert t.loc["10R", "share"] == 0.4 and t.loc["Total", "share"] == 1.0
    assert 0.0 <= t.loc["10R", "share_lower"] < 0.4 < t.loc["10R", "share_upper"] <= 1.0
    assert t.loc["2L", "share"] == 0.0
    assert t.loc["10R", "paper_share"] == pytest.approx(50 / 170, abs=1e-12)  # paper: 50
    t2 = rc.table5(sites, rctv, n_boot=400, seed=2)
    assert t2.loc["10R", "share_upper"] == t.loc["10R", "share_upper"]
    # the top-4 share on planted clustering: 4R/10R for "in group", 5 for "outside"
    g, c = _clustered()
    planted = pd.DataFrame({"pid": c.astype(str), "station": np.where(g, "10R", "5")})
    s = rc.top_share(planted, n_boot=2000, seed=11)
    assert s["sites_total"] == 300 and s["patients"] == 60
    width = s["share_upper"] - s["share_lower"]
    assert width / (s["wilson_upper"] - s["wilson_lower"]) > 1.6
