"""Clinical mapping, derived variables, per-patient validation reasons, Table 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _ingest_fixtures import CATEGORY_MAP, COLUMN_MAP

from analysis import clinical as cohort
from analysis.paper import TABLE3


def _raw(rows: list[dict]) -> pd.DataFrame:
    base = {"MRN": "A1", "Name": "X^Y", "BirthDate": "1950-01-01", "Sex": "M", "Age": "61",
            "Pathology": "SCLC", "TumourType": "Central", "cT": "2", "cN": "2", "cM": "0",
            "Stage": "III", "Paraneoplastic": "N", "SVCS": "Y", "SmokingIndex": "400",
            "ChemoSequence": "Sequential", "RT_Start": "2020-01-01"}
    return pd.DataFrame([{**base, **r} for r in rows], dtype=object)


def test_month_constant():
    assert cohort.DAYS_PER_MONTH == 365.25 / 12


def test_derived_by_hand():
    s = cohort.smoking_bin(pd.Series([0, 1, 400, 401, np.nan]))
    assert s.tolist()[:4] == ["0", "0-400", "0-400", ">400"] and pd.isna(s.iloc[4])
    a = cohort.age_ge_60(pd.Series([59.9, 60, np.nan]))
    assert a.tolist()[:2] == ["<60", ">=60"] and pd.isna(a.iloc[2])
    d = cohort.diameter_ge_5cm(pd.Series([4.99, 5.0]))
    assert d.tolist() == ["<5cm", ">=5cm"]


def test_map_clinical_valid_row():
    df, reasons = cohort.map_clinical(_raw([{}]), COLUMN_MAP, CATEGORY_MAP, center="c1")
    assert reasons == [[]]
    row = df.iloc[0]
    assert (row.sex, row.histology, row.location, row.t_stage, row.n_stage, row.m_stage,
            row.tnm_stage, row.paraneoplastic, row.svc_syndrome, row.chemo) == (
        "male", "small_cell", "central", "T2", "N2", "M0", "III", "no", "yes", "sequential")
    assert row.age == 61.0 and row.smoking_index == 400.0 and row.center == "c1"
    assert row.age_ge_60 == ">=60" and row.smoking_bin == "0-400"
    # identifiers are never mapped to kept columns
    assert "Name" not in df and "BirthDate" not in df


def test_unknown_category_value_is_a_reason():
    df, reasons = cohort.map_clinical(_raw([{"cT": "5"}, {"Sex": "X"}]), COLUMN_MAP,
                                      CATEGORY_MAP, center="c")
    # the raw cell ('5', 'X') is never echoed: the column and what was expected
    fix = ("; add a cohort.category_map entry for it, or add it to cohort.na_values if it "
           "means 'no value'")
    assert reasons[0] == ["invalid_clinical: t_stage: unknown value in column 'cT' (expected "
                          "one of T1, T2, T3, T4)" + fix]
    assert reasons[1] == ["invalid_clinical: sex: unknown value in column 'Sex' (expected "
                          "one of male, female)" + fix]


def test_missing_value_kept_as_missing():
    df, reasons = cohort.map_clinical(_raw([{"Age": np.nan, "Pathology": np.nan}]),
                                      COLUMN_MAP, CATEGORY_MAP, center="c")
    assert reasons == [[]]
    assert pd.isna(df.iloc[0].age) and pd.isna(df.iloc[0].histology)


def test_bad_number_and_negative_age():
    _, reasons = cohort.map_clinical(_raw([{"Age": "abc"}, {"SmokingIndex": "-3"}]),
                                     COLUMN_MAP, CATEGORY_MAP, center="c")
    assert reasons[0] == ["invalid_clinical: age: not a number in column 'Age' (if it means "
                          "'no value', add it to cohort.na_values)"]
    assert reasons[1][0].startswith("invalid_clinical: smoking_index: negative")


def test_unknown_mapping_target_is_an_error():
    with pytest.raises(cohort.CohortError, match="unknown target"):
        cohort.map_clinical(_raw([{}]), {**COLUMN_MAP, "Age": "age_years"}, {}, center="c")
    with pytest.raises(cohort.CohortError, match=r"clin\.csv: column\(s\) \['Weight'\]"):
        cohort.map_clinical(_raw([{}]), {**COLUMN_MAP, "Weight": "age"}, {}, center="c",
                            source="clin.csv")


def test_duplicate_ids():
    r = cohort.duplicate_id_reasons(pd.Series(["A", "B", "A "]), "clinical.csv")
    assert r[1] == [] and r[0] == r[2] == [
        "duplicate_id: patient ID occurs 2 times in clinical.csv"]


def _fu(rows):
    cols = ["MRN", "RT_Start", "LastFollowUp", "LocalFailure", "LocalFailureDate"]
    return pd.DataFrame(rows, columns=cols, dtype=object)


def test_followup_months_by_hand():
    out, reasons = cohort.followup_outcomes(_fu([
        ["A", "2020-01-01", "2021-01-01", "1", "2020-07-01"],  # 366 d, event at 182 d
        ["B", "2020-01-01", "2020-03-01", "0", np.nan],        # 60 d, censored
    ]))
    assert reasons == {"A": [], "B": []}
    assert out["A"]["followup_months"] == pytest.approx(366 / 30.4375, rel=1e-12)
    assert out["A"]["lc_event"] == 1 and out["A"]["lc_time_months"] == pytest.approx(
        182 / 30.4375, rel=1e-12)
    assert out["B"]["lc_event"] == 0 and out["B"]["lc_time_months"] == pytest.approx(
        60 / 30.4375, rel=1e-12)


def test_negative_or_missing_followup():
    _, reasons = cohort.followup_outcomes(_fu([
        ["A", "2020-01-01", "2019-12-01", "0", np.nan],
        ["B", "2020-01-01", np.nan, "0", np.nan],
        ["C", "2020-01-01", "2021-01-01", "1", np.nan],
        ["D", "2020-01-01", "2021-01-01", "2", np.nan],
    ]))
    assert reasons["A"] == ["invalid_followup: negative follow-up time (-31 days) in "
                            "followup.csv"]
    assert reasons["B"] == ["no_followup: RT_Start or LastFollowUp missing in followup.csv"]
    assert reasons["C"] == ["invalid_followup: local failure without a date in followup.csv"]
    assert reasons["D"][0] == ("invalid_followup: lc_event: event flag in column "
                               "'LocalFailure' is not 0/1")


def test_clinical_only_outcome_reasons():
    df, reasons = cohort.map_clinical(
        pd.DataFrame({"id": ["a", "b", "c"], "t": ["300", np.nan, "-1"], "e": ["1", "0", "0"]},
                     dtype=object),
        {"id": "patient_id", "t": "os_time_days", "e": "os_event"}, {}, center="c")
    assert df.os_time_months[0] == pytest.approx(300 / 30.4375, rel=1e-12)
    assert df.followup_months[0] == df.os_time_months[0]
    assert cohort.outcome_reasons(df.iloc[0]) == []
    assert cohort.outcome_reasons(df.iloc[1])[0].startswith("no_followup")
    assert reasons[2][0].startswith("invalid_followup: os_time_days: negative")


def test_table3_counts_and_paper_column():
    c = pd.DataFrame({"sex": ["male", "male", "female", None], "age": [50, 70, 64, 60]})
    t = cohort.table3(c, TABLE3, 180, 60, 62)
    assert t.loc[("sex", "male"), "n"] == 2 and t.loc[("sex", "male"), "%"] == 50.0
    assert t.loc[("sex", "missing"), "n"] == 1
    assert t.loc[("sex", "male"), "paper n"] == 130
    assert t.loc[("sex", "female"), "paper %"] == 27.8  # 100 * 50 / 180, to 0.1
    assert t.loc[("age (years)", "median"), "n"] == 62.0
    assert t.loc[("age_ge_60", ">=60"), "n"] == 3
