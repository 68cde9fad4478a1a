"""The phantom's clinical table reproduces Table 3 (SPEC) and the paper's ages."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import paper
from analysis.phantom import sample_clinical
from analysis.phantom.clinical import scaled_counts


@pytest.fixture(scope="module")
def table180():
    return sample_clinical(180, np.random.default_rng(20250501))


@pytest.mark.parametrize("variable", sorted(paper.TABLE3))
def test_table3_counts_exact_at_180(table180, variable):
    expected = {k: v for k, v in paper.TABLE3[variable].items() if v > 0}
    assert table180[variable].value_counts().to_dict() == expected


def test_diameter_and_age_groups_match_table4_totals(table180):
    # Table 4 level totals: >= 5 cm 63 + 21 = 84; age < 60 36 + 46 = 82
    assert int((table180["diameter_cm"] >= 5).sum()) == 84
    assert int((table180["age"] < 60).sum()) == 82


def test_age_median_and_mean(table180):
    assert table180["age"].median() == paper.AGE_MEDIAN
    assert table180["age"].mean() == pytest.approx(paper.AGE_MEAN, abs=1e-9)  # exact total


def test_tnm_consistent(table180):
    t = table180
    stage1 = t[t["tnm_stage"] == "I"]
    assert set(stage1["n_stage"]) == {"N0"} and set(stage1["t_stage"]) <= {"T1", "T2"}
    assert set(t.loc[t["tnm_stage"] == "IV", "m_stage"]) == {"M1"}
    assert set(t.loc[t["tnm_stage"] != "IV", "m_stage"]) == {"M0"}


def test_diameter_follows_t_stage_and_stays_off_the_cut(table180):
    t = table180
    assert (t.loc[t["t_stage"] == "T1", "diameter_cm"] <= 3.0).all()
    assert (t.loc[t["t_stage"] == "T3", "diameter_cm"] >= 5.0).all()
    # no diameter within 0.3 cm of the 5 cm cut (a coarse mask stays on its side)
    assert not ((t["diameter_cm"] > 4.7) & (t["diameter_cm"] < 5.3)).any()


def test_derived_columns_agree(table180):
    t = table180
    assert ((t["smoking_index"] > 400) == (t["smoking_bin"] == ">400")).all()
    assert ((t["smoking_index"] == 0) == (t["smoking_bin"] == "0")).all()
    assert ((t["age"] >= 60) == (t["age_ge_60"] == ">=60")).all()


def test_scaled_counts_by_hand():
    # 130/50 scaled to 18: 13.0 and 5.0 exactly
    assert scaled_counts({"a": 130, "b": 50}, 18) == {"a": 13, "b": 5}
    # 28/47/21/84 to 10: raw 1.56, 2.61, 1.17, 4.67 -> floors 1,2,1,4 (8), remainders
    # .67 (T4) and .61 (T2) get the 2 left
    assert scaled_counts(paper.TABLE3["t_stage"], 10) == {"T1": 1, "T2": 3, "T3": 1, "T4": 5}


@pytest.mark.parametrize("n", [1, 7, 40])
def test_small_n_scaled_counts_exact(n):
    t = sample_clinical(n, np.random.default_rng(n))
    assert len(t) == n
    for var in ("sex", "t_stage", "n_stage", "tnm_stage", "chemo"):
        expected = {k: v for k, v in scaled_counts(paper.TABLE3[var], n).items() if v}
        assert t[var].value_counts().to_dict() == expected


def test_same_rng_same_table():
    a = sample_clinical(30, np.random.default_rng(3))
    b = sample_clinical(30, np.random.default_rng(3))
    assert a.equals(b)
