"""Table 4 / Figure 3 helpers on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import paper
from analysis.params import SurvivalParams
from analysis.survival import tables as sv


def test_univariate_table_counts_and_paper_columns():
    df = pd.DataFrame({
        "lc_time_months": [5.0, 6, 7, 8, 9, 10, 11, 12],
        "lc_event": [1, 1, 1, 0, 1, 0, 0, 0],
        "diameter_ge_5cm": [">=5cm"] * 4 + ["<5cm"] * 4,
    })
    tab = sv.univariate_table(df, ["diameter_ge_5cm"], "lc_time_months", "lc_event",
                              paper.TABLE4)
    assert tab["level"].tolist() == ["<5cm", ">=5cm"]  # the paper's order
    assert tab["relapse"].tolist() == [1, 3] and tab["no_relapse"].tolist() == [3, 1]
    assert tab["paper_relapse"].tolist() == [31, 63]
    assert tab["paper_no_relapse"].tolist() == [65, 21]
    assert tab.loc[0, "paper_p"] == paper.TABLE4["diameter_ge_5cm"]["p"]
    lr = sv.logrank(df["lc_time_months"], df["lc_event"], df["diameter_ge_5cm"])
    assert tab.loc[0, "p_logrank"] == lr["p"]
    # chi-square on the paper's own counts [[31, 65], [63, 21]] (Yates), recomputed here
    assert tab.loc[0, "p_chi2_paper_counts"] == pytest.approx(
        stats.chi2_contingency(np.array([[31, 65], [63, 21]]))[1], rel=1e-12)
    assert sv.select_variables(tab, 1.0) == ["diameter_ge_5cm"]
    assert sv.select_variables(tab, 1e-9) == []


def test_missing_group_values_listed_per_variable():
    df = pd.DataFrame({"sex": ["male", None, "female"], "t_stage": ["T1", "T2", "T3"]})
    ex = sv.missing_group_exclusions(df, ["sex", "t_stage", "n_stage"])
    assert ex.to_dict("records") == [
        {"variable": "sex", "n_missing": 1,
         "reason": "missing group value: left out of this variable only"},
        {"variable": "n_stage", "n_missing": 3,
         "reason": "column not in the cohort table: variable skipped"},
    ]


def test_cox_table_puts_paper_values_on_diameter_row():
    rng = np.random.default_rng(1)
    n = 120
    big = rng.random(n) < 0.5
    t = rng.exponential(np.where(big, 20.0, 40.0))
    df = pd.DataFrame({"lc_time_months": np.minimum(t, 60), "lc_event": (t < 60).astype(int),
                       "diameter_ge_5cm": np.where(big, ">=5cm", "<5cm")})
    X, coding = sv.design_matrix(df, ["diameter_ge_5cm"])
    assert coding.loc[0, "reference"] == "<5cm"
    res = sv.fit_cox(X, df["lc_time_months"], df["lc_event"])
    tab = sv.cox_table(res, coding)
    row = tab.iloc[0]
    assert row["level"] == ">=5cm" and row["paper_hr"] == paper.COX_DIAMETER_HR
    assert row["paper_hr_lower"] == paper.COX_DIAMETER_CI[0]
    assert row["hr_lower"] < row["hr"] < row["hr_upper"]
    ph = sv.ph_test_table(res)
    assert ph["column"].tolist() == ["diameter_ge_5cm[>=5cm]", "GLOBAL"]
    assert 0 <= ph.loc[0, "p_km"] <= 1 and 0 <= ph.loc[0, "p_rank"] <= 1


def test_by_horizon_counts_by_hand():
    """Times 10, 40, 20, 50, 36 months, events 1, 1, 0, 0, 1, horizon 36: relapses by 36
    are those at 10 and 36 (2); the relapse at 40 comes after 36 and the patient was
    followed to 36, so with the censoring at 50 it counts as no relapse by 36 (2); the
    censoring at 20 is unknown at 36 (1)."""
    r = sv.by_horizon_counts([10, 40, 20, 50, 36], [1, 1, 0, 0, 1], 36.0)
    assert r == {"relapse_by": 2, "no_relapse_by": 2, "censored_before": 1}


def test_univariate_table_per_level_km_at_horizon():
    """Level a: times 5, 6, 7, 8 with events 1, 0, 1, 0 -> S(36) = 3/4 * 1/2 = 0.375
    (KM by hand: 1 - 1/4, then 1 - 1/2 at t = 7); no one reaches 36 months, so the
    relapse-by-36 counts are 2 and 0 with 2 censored before 36. Level b: 40, 50 months
    without an event -> S(36) = 1, both no relapse by 36."""
    df = pd.DataFrame({"lc_time_months": [5.0, 6, 7, 8, 40, 50],
                       "lc_event": [1, 0, 1, 0, 0, 0],
                       "g": ["a"] * 4 + ["b"] * 2})
    tab = sv.univariate_table(df, ["g"], "lc_time_months", "lc_event", None, 36.0, "log")
    a, b = tab.iloc[0], tab.iloc[1]
    assert a["km_at_horizon"] == pytest.approx(0.375, rel=1e-12)
    assert (a["relapse_by_horizon"], a["no_relapse_by_horizon"],
            a["censored_before_horizon"]) == (2, 0, 2)
    assert b["km_at_horizon"] == 1.0 and b["no_relapse_by_horizon"] == 2
    assert "carried forward" in a["note"]


def test_eventless_level_merged_into_named_neighbour():
    """T1 has no event: merged with T2 (next in table order) into "T1+T2", which becomes
    the reference (it holds T1); the note names both levels. A last level without events
    merges with the one before it."""
    df = pd.DataFrame({"t_stage": ["T1", "T1", "T2", "T2", "T3", "T3", "T4", "T4"],
                       "lc_event": [0, 0, 1, 0, 1, 1, 0, 0]})
    out, refs, notes = sv.merge_eventless_levels(df, ["t_stage"], "lc_event")
    assert out["t_stage"].tolist() == ["T1+T2"] * 4 + ["T3+T4"] * 4
    assert refs == {"t_stage": "T1+T2"}
    assert notes == ["t_stage: level T1 has no event (2 patients): merged with T2 into T1+T2",
                     "t_stage: level T4 has no event (2 patients): merged with T3 into "
                     "T3+T4"]


def test_prespecified_model_keeps_its_covariates_and_selected_model_says_optimistic():
    """Diameter has a strong effect (hazard 1/20 vs 1/40), sex none. With a univariate
    threshold of 0.05 the selected model keeps diameter only and must state that it was
    selected on the same data; the pre-specified model fits both covariates whatever
    their univariate p, and says its inference is ordinary. A covariate missing from the
    table is left out with a note."""
    rng = np.random.default_rng(3)
    n = 200
    big = rng.random(n) < 0.5
    t = rng.exponential(np.where(big, 20.0, 40.0))
    df = pd.DataFrame({"lc_time_months": np.minimum(t, 60), "lc_event": (t < 60).astype(int),
                       "diameter_ge_5cm": np.where(big, ">=5cm", "<5cm"),
                       "sex": rng.choice(["male", "female"], n)})
    sp = SurvivalParams(variables=["sex", "diameter_ge_5cm"],
                        prespecified_covariates=["sex", "diameter_ge_5cm", "smoking_bin"])
    uni = sv.table4_univariate(df, sp)
    mv = sv.table4_multivariable(df, uni, sp)
    assert mv.selected == ["diameter_ge_5cm"]
    assert mv.caveat.startswith("Selected on the same data") and "optimistic" in mv.caveat
    assert (mv.table["model"].str.contains("selected on this data")).all()
    pre = sv.table4_prespecified(df, sp)
    assert pre.selected == ["sex", "diameter_ge_5cm"]
    assert pre.table["variable"].tolist() == ["sex", "diameter_ge_5cm"]
    assert (pre.table["model"] == "pre-specified").all() and "Pre-specified" in pre.caveat
    assert "smoking_bin: not in the cohort table, left out" in pre.notes
    assert pre.table["p"].notna().all()
