"""Labels (any / horizon) and the refusal of bad input, with messages naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.model.evaluate import nested_cv
from analysis.model.fit import (
    ModelInputError,
    align,
    check_features,
    check_labels,
    fit_paper_model,
    make_labels,
    model_inputs,
)
from analysis.params import ModelParams
from analysis.phantom.model_checks import synthetic_table

PIDS = ["p1", "p2", "p3", "p4", "p5"]


def _cohort() -> pd.DataFrame:
    return pd.DataFrame({"lc_event": [1, 1, 0, 0, 0],
                         "lc_time_months": [10.0, 40.0, 50.0, 12.0, 36.0]},
                        index=pd.Index(PIDS, name="pid"))


def test_label_any_is_lc_event():
    y, ex = make_labels(_cohort(), "any")
    assert y.tolist() == [1, 1, 0, 0, 0]
    assert ex.empty


def test_label_horizon_by_hand():
    # p1 fails at 10 <= 36: 1; p2 fails at 40 > 36: 0; p3 censored at 50: 0;
    # p4 censored at 12 < 36: excluded; p5 censored exactly at 36: seen to the horizon, 0
    y, ex = make_labels(_cohort(), "horizon", 36.0)
    assert y.to_dict() == {"p1": 1, "p2": 0, "p3": 0, "p5": 0}
    assert ex["pid"].tolist() == ["p4"]
    assert "censored at 12.0 months, before the 36-month horizon" in ex["reason"].iloc[0]


def test_label_missing_event_is_excluded_with_reason():
    c = _cohort()
    c.loc["p3", "lc_event"] = np.nan
    y, ex = make_labels(c, "any")
    assert "p3" not in y.index
    assert ex.set_index("pid").loc["p3", "reason"].startswith("no local-control outcome")


def test_bad_event_values_and_label_name():
    c = _cohort()
    c.loc["p2", "lc_event"] = 2
    with pytest.raises(ModelInputError, match="p2"):
        make_labels(c)
    with pytest.raises(ModelInputError, match="label"):
        make_labels(_cohort(), "ever")


def test_missing_feature_names_feature_and_patient():
    X = pd.DataFrame({"RctvLN_1": [0.1, np.nan, 0.3], "CTV_volume": [1.0, 2.0, 3.0]},
                     index=["a", "b", "c"])
    with pytest.raises(ModelInputError, match=r"RctvLN_1 \(patients b\)"):
        check_features(X)


def test_one_class_only():
    y = pd.Series([1, 1, 1, 1], index=list("abcd"))
    with pytest.raises(ModelInputError, match="one outcome class only"):
        check_labels(y, 2)


def test_fewer_patients_than_folds():
    y = pd.Series([0, 1, 0, 1, 0], index=list("abcde"))
    with pytest.raises(ModelInputError, match="2 patients in class 1 but 3 stratified CV"):
        check_labels(y, 3)
    st = synthetic_table(8, 2, 1, duplicate=False, seed=0)
    mp = ModelParams(cv_folds=5, nested_outer_folds=5, n_jobs=1)
    with pytest.raises(ModelInputError, match="CV folds|too few"):
        fit_paper_model(st.X, st.y, mp, seed=0)
    with pytest.raises(ModelInputError, match="folds"):
        nested_cv(st.X, st.y, mp, seed=0, progress=False)


def test_patients_do_not_match():
    y, ex = make_labels(_cohort(), "horizon", 36.0)
    X = pd.DataFrame({"f": np.arange(5.0)}, index=["p1", "p2", "p3", "p4", "zz"])
    with pytest.raises(ModelInputError, match=r"1 labelled patient\(s\) without features \(p5\)"
                       r".*1 feature row\(s\) without a cohort label \(zz\)"):
        align(X, y, ex)
    # the excluded patient p4 may have features: it is not an error
    X2 = pd.DataFrame({"f": np.arange(5.0)}, index=PIDS)
    Xa, ya = align(X2, y, ex)
    assert Xa.index.tolist() == ["p1", "p2", "p3", "p5"] == ya.index.tolist()


def test_model_inputs_horizon_and_constant_feature():
    c = pd.DataFrame({"lc_event": [1, 0] * 6, "lc_time_months": [5.0, 40.0] * 6},
                     index=[f"q{i}" for i in range(12)])
    X = pd.DataFrame({"f": np.arange(12.0), "k": 1.0}, index=c.index)
    mp = ModelParams(label="horizon", cv_folds=3)
    Xm, y, ex = model_inputs(X, c, mp)
    assert len(Xm) == 12 and ex.empty and y.sum() == 6
