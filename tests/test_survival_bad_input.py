"""Bad survival input: a clear message or a documented fallback, never a silent NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats.cox import FALLBACK_PENALIZER
from analysis.survival import tables as sv


def _cohort(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    big = np.arange(n) % 2 == 1
    t = rng.exponential(np.where(big, 20.0, 40.0))
    return pd.DataFrame({
        "lc_time_months": np.round(np.minimum(t, 48.0), 2),
        "lc_event": (t < 48.0).astype(int),
        "diameter_ge_5cm": np.where(big, ">=5cm", "<5cm"),
        "sex": np.where(np.arange(n) % 3 == 0, "female", "male"),
    })


def test_events_without_times_are_excluded_with_reason():
    df = _cohort(6)
    df.loc[1, "lc_time_months"] = np.nan
    df.loc[1, "lc_event"] = 1
    df.loc[2, "lc_time_months"] = np.nan
    df.loc[2, "lc_event"] = 0
    kept, excluded = sv.prepare_survival_data(df, "lc_time_months", "lc_event")
    assert len(kept) == 4
    assert excluded["row"].tolist() == [2, 3]
    assert excluded["reason"].iloc[0].startswith("event recorded without a time")
    assert excluded["reason"].iloc[1].startswith("missing time")
    with pytest.raises(sv.SurvivalInputError, match="missing time"):
        sv.km_table(df["lc_time_months"], df["lc_event"])


def test_negative_times_excluded_and_rejected():
    df = _cohort(6)
    df.loc[3, "lc_time_months"] = -2.0
    df.loc[4, "lc_event"] = 2
    kept, excluded = sv.prepare_survival_data(df, "lc_time_months", "lc_event")
    assert excluded["reason"].tolist() == ["negative time (lc_time_months < 0)",
                                           "event not 0/1 (lc_event)"]
    assert len(kept) == 4
    with pytest.raises(sv.SurvivalInputError, match="1 negative time"):
        sv.logrank(df["lc_time_months"], df["lc_event"].clip(0, 1), df["sex"])
    with pytest.raises(sv.SurvivalInputError, match="0 .censored. or 1"):
        sv.km_table([1.0, 2.0], [1, 2])


def test_group_without_events_has_note_and_finite_p():
    df = _cohort(40)
    df.loc[df["sex"] == "female", "lc_event"] = 0
    r = sv.logrank(df["lc_time_months"], df["lc_event"], df["sex"])
    assert np.isfinite(r["p"]) and r["note"] == "no event in level(s) female"
    lm = sv.landmark_table(df, "sex", "lc_time_months", "lc_event", 36.0)
    assert lm.loc["female", "survival"] == 1.0
    assert "no event up to 36 months" in lm.loc["female", "note"]
    # the Cox fallback: the female dummy separates (no event), so it is dropped with a note
    X, _ = sv.design_matrix(df, ["sex", "diameter_ge_5cm"])
    res = sv.fit_cox(X, df["lc_time_months"], df["lc_event"])
    row = res.table.set_index("column").loc["sex[male]"]
    assert np.isnan(row["hr"]) and row["note"].startswith("perfect separation")


def test_single_level_variable_gives_note_not_silent_nan():
    df = _cohort(20).assign(histology="small_cell")
    tab = sv.univariate_table(df, ["histology"], "lc_time_months", "lc_event",
                              {"histology": {"levels": {"small_cell": (92, 84),
                                                        "mixed": (2, 2)}, "p": 0.477}})
    first = tab.iloc[0]
    assert first["level"] == "small_cell" and first["n"] == 20
    assert np.isnan(first["p_logrank"]) and "single level" in first["note"]
    assert tab.iloc[1]["note"] == "level absent from this cohort"
    X, coding = sv.design_matrix(df, ["histology"])
    assert X.shape[1] == 0 and coding.loc[0, "note"] == "single level: dropped from the model"


def test_perfect_separation_dropped_with_note():
    """Every >=5cm patient fails and no <5cm patient does: the Cox coefficient would run
    to infinity; the column is dropped with a note and the rest is fitted."""
    df = _cohort(30)
    df["lc_event"] = (df["diameter_ge_5cm"] == ">=5cm").astype(int)
    X, _ = sv.design_matrix(df, ["diameter_ge_5cm", "sex"])
    assert sv.separating_columns(X, df["lc_event"]) == ["diameter_ge_5cm[>=5cm]"]
    res = sv.fit_cox(X, df["lc_time_months"], df["lc_event"])
    t = res.table.set_index("column")
    assert "perfect separation" in t.loc["diameter_ge_5cm[>=5cm]", "note"]
    assert np.isfinite(t.loc["sex[male]", "hr"])


def test_nonconvergence_falls_back_to_penalized_fit_with_note():
    """Two identical columns make the information matrix singular: lifelines cannot
    fit; the documented fallback refits with a ridge penalty and says so on every row.
    The penalised fit's Wald CI and p are not valid: not reported (NaN), and the note
    says why."""
    df = _cohort(40)
    X = pd.DataFrame({"a": (df["diameter_ge_5cm"] == ">=5cm").astype(float)})
    X["b"] = X["a"]
    res = sv.fit_cox(X, df["lc_time_months"], df["lc_event"])
    assert res.penalizer == FALLBACK_PENALIZER
    assert res.table["hr"].notna().all()
    assert all("refitted with ridge penalizer 0.1" in n for n in res.table["note"])
    assert res.table[["hr_lower", "hr_upper", "p"]].isna().all().all()
    assert all("Wald CI and p of a penalised fit are not valid" in n
               for n in res.table["note"])
    assert not any("http" in n or "ConvergenceError" in n for n in res.table["note"])


def test_engine_errors_become_one_plain_sentence():
    """lifelines' raw message (issue 24: cut off at the column edge in Table 4) becomes
    one sentence without its URL; another warning keeps its first sentence only."""
    from analysis.stats.cox import plain_problem

    raw = ("delta contains nan value(s). Convergence halted. Please see the following "
           "tips in the lifelines documentation: https://lifelines.readthedocs.io/en/"
           "latest/Examples.html#problems-with-convergence-in-the-cox-proportional-"
           "hazard-model")
    assert plain_problem(raw) == (
        "the fit did not converge (its steps became undefined: a covariate almost "
        "separates the events, or two covariates carry the same information)")
    assert plain_problem("Newton-Raphson failed to converge sufficiently. Please see "
                         "https://x.y/z and try a penalizer.") == (
        "the fit converged poorly (lifelines: Newton-Raphson failed to converge "
        "sufficiently)")


def test_no_event_at_all_is_a_clear_error():
    df = _cohort(10).assign(lc_event=0)
    with pytest.raises(sv.SurvivalInputError, match="no event"):
        sv.fit_cox(pd.DataFrame({"a": np.arange(10.0) % 2}), df["lc_time_months"],
                   df["lc_event"])
    assert sv.logrank(df["lc_time_months"], df["lc_event"], df["sex"])["note"] == \
        "no event in any group: no test"
