"""Cumulative incidence with a competing event, by hand and against lifelines."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats import competing as cr
from analysis.stats.km import km_table


def test_competing_coding_by_hand():
    """(lc 10, LF, os 20, died) -> (10, 1); (15, no LF, 15, died) -> (15, 2);
    (30, no LF, 30, alive) -> (30, 0)."""
    t, c = cr.competing_coding([10, 15, 30], [1, 0, 0], [20, 15, 30], [1, 1, 0])
    assert t.tolist() == [10, 15, 30] and c.tolist() == [1, 2, 0]
    with pytest.raises(cr.SurvivalInputError, match="missing"):
        cr.competing_coding([1.0], [np.nan], [1.0], [0])


def test_cumulative_incidence_by_hand():
    """Times 1, 2, 3, 4, 5 with causes 1, 2, 1, 0, 1.
    S (any event): 4/5, 3/5, 2/5, 2/5, 0. F1 = 1/5 + (3/5)(1/3) + (2/5)(1/1) (the last
    at t = 5, one at risk) = 0.2 + 0.2 + 0.4 = 0.8; F1 before t = 5 is 0.4, F2 = 0.2:
    F1 + F2 + S = 1 at every time. 1 - KM of cause 1 alone (death censored) at t = 3 is
    1 - (4/5)(2/3) = 0.4667 > F1(3) = 0.4: it overstates failure."""
    tab = cr.cumulative_incidence_by_hand([1, 2, 3, 4, 5], [1, 2, 1, 0, 1], 1)
    np.testing.assert_allclose(tab["cif"], [0.2, 0.2, 0.4, 0.4, 0.8], rtol=1e-12)
    f2 = cr.cumulative_incidence_by_hand([1, 2, 3, 4, 5], [1, 2, 1, 0, 1], 2)["cif"]
    np.testing.assert_allclose(f2, [0.0, 0.2, 0.2, 0.2, 0.2], rtol=1e-12)
    km = km_table([1, 2, 3, 4, 5], [1, 0, 1, 0, 1])
    assert 1 - km.loc[3.0, "survival"] == pytest.approx(1 - 0.8 * 2 / 3, rel=1e-12)
    assert 1 - km.loc[3.0, "survival"] > tab.loc[3.0, "cif"]


def test_lifelines_aalen_johansen_equals_the_formula():
    """Untied times (no jitter): lifelines' AalenJohansenFitter must equal the module
    formula at every time; rtol 1e-10 (same arithmetic)."""
    rng = np.random.default_rng(4)
    n = 60
    t = rng.permutation(np.arange(1, n + 1)).astype(float)
    cause = rng.choice([0, 1, 2], size=n, p=[0.3, 0.4, 0.3])
    ajf = cr.cumulative_incidence(t, cause, 1, seed=0)
    ours = cr.cumulative_incidence_by_hand(t, cause, 1)
    theirs = ajf.cumulative_density_.iloc[:, 0].reindex(ours.index, method="ffill")
    np.testing.assert_allclose(theirs.to_numpy(), ours["cif"].to_numpy(), rtol=1e-10)
    r = cr.cif_at(ajf, 30.0)
    assert r["lower"] <= r["cif"] <= r["upper"]
    assert r["cif"] == pytest.approx(float(ours.loc[ours.index <= 30.0, "cif"].iloc[-1]))
