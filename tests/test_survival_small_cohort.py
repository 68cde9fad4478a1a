"""05_survival on a cohort too small for a multivariable Cox model (issue 21 item 2):
the table says why, the step does not stop."""

from __future__ import annotations

import warnings

import pandas as pd

from analysis.params import load_params
from analysis.survival import tables as sv


def test_multivariable_cox_on_four_patients_is_a_note_not_a_crash():
    """4 patients, two selected variables coding the same split (sex and diameter
    collinear): no model can be fitted. Before the fix (the same call on main):
    ``KeyError: 'column'`` from cox_table (the issue's run: LinAlgError)."""
    sp = load_params("params/ci.yaml").survival
    data = pd.DataFrame({"lc_time_months": [5.0, 10.0, 20.0, 30.0], "lc_event": [1, 1, 0, 0],
                         "sex": ["male", "male", "female", "female"],
                         "diameter_ge_5cm": ["yes", "yes", "no", "no"]})
    uni = pd.DataFrame({"variable": ["sex", "diameter_ge_5cm"], "p_logrank": [0.01, 0.01]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mv = sv.table4_multivariable(data, uni, sp)
    assert mv.cox is None and mv.selected == ["sex", "diameter_ge_5cm"]
    for t in (mv.table, mv.ph, mv.summary):
        assert list(t.columns) == ["note"]
        assert t["note"].iloc[0].startswith("the multivariable Cox model on sex, "
                                            "diameter_ge_5cm could not be fitted on 4 "
                                            "complete case(s)")
    assert mv.notes == [mv.table["note"].iloc[0]]
