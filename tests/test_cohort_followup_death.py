"""followup.csv with death: os_event, os_time_months and the competing-event flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clinical import DAYS_PER_MONTH, followup_outcomes


def _fu(**extra) -> pd.DataFrame:
    base = {"MRN": ["A", "B", "C"], "RT_Start": ["2020-01-01"] * 3,
            "LastFollowUp": ["2020-03-01", "2020-04-10", "2020-06-29"],
            "LocalFailure": [1, 0, 0], "LocalFailureDate": ["2020-02-01", None, None]}
    base.update(extra)
    return pd.DataFrame(base)


def test_death_columns_read_by_hand():
    """A: local failure on day 31, died on day 60 (last follow-up) -> os 60 days, not a
    competing death. B: no failure, died on day 100 -> competing death at 100 days.
    C: alive at day 180 -> censored at 180 days. Months = days / 30.4375."""
    out, reasons = followup_outcomes(_fu(Death=[1, 1, 0],
                                         DeathDate=["2020-03-01", "2020-04-10", None]))
    assert all(not r for r in reasons.values())
    assert out["A"]["os_event"] == 1 and out["A"]["death_without_lf"] == 0
    assert out["A"]["os_time_months"] == pytest.approx(60 / DAYS_PER_MONTH, rel=1e-12)
    assert out["B"]["os_event"] == 1 and out["B"]["death_without_lf"] == 1
    assert out["B"]["os_time_months"] == pytest.approx(100 / DAYS_PER_MONTH, rel=1e-12)
    assert out["C"]["os_event"] == 0 and out["C"]["death_without_lf"] == 0
    assert out["C"]["os_time_months"] == pytest.approx(180 / DAYS_PER_MONTH, rel=1e-12)


def test_without_death_column_the_death_values_are_missing():
    out, reasons = followup_outcomes(_fu())
    assert np.isnan(out["B"]["os_event"]) and np.isnan(out["B"]["os_time_months"])
    assert np.isnan(out["B"]["death_without_lf"]) and not reasons["B"]


def test_bad_deaths_give_reasons():
    """A death without a date, a death after the last follow-up, and a local failure
    after death each give an invalid_followup reason naming the file."""
    out, reasons = followup_outcomes(_fu(Death=[1, 1, 1],
                                         DeathDate=["2020-01-15", None, "2020-07-30"]))
    assert reasons["A"] == ["invalid_followup: local failure after death in followup.csv"]
    assert reasons["B"] == ["invalid_followup: death without a date in followup.csv"]
    assert reasons["C"] == ["invalid_followup: death after the last follow-up in "
                            "followup.csv (follow-up ends at death)"]
