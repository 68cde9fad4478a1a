"""CorrelationFilter: exact drops on tiny hand-made frames, and the scikit-learn contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from analysis.model.fit import CorrelationFilter, correlation_matrix


def _frame() -> pd.DataFrame:
    # b = 2a + 1 (|r| = 1), c independent of a by construction, k constant
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    c = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    return pd.DataFrame({"a": a, "b": 2 * a + 1, "c": c, "k": np.full(6, 3.0)})


def test_duplicate_and_constant_dropped_exactly():
    f = CorrelationFilter(threshold=0.9).fit(_frame())
    assert list(f.get_feature_names_out()) == ["a", "c"]
    assert f.dropped_ == {"k": "constant", "b": "|r| = 1.000 with a"}
    out = f.set_output(transform="pandas").transform(_frame())
    assert list(out.columns) == ["a", "c"]
    np.testing.assert_array_equal(out["a"], _frame()["a"])


def test_earlier_column_of_a_pair_is_kept():
    df = _frame()[["b", "a", "c"]]  # the copy first: now b is kept and a dropped
    f = CorrelationFilter(0.9).fit(df)
    assert list(f.get_feature_names_out()) == ["b", "c"]
    assert f.dropped_ == {"a": "|r| = 1.000 with b"}


def test_threshold_is_strict():
    # x, y of +-1 with zero means: r = (agreements - disagreements) / n
    x = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    y = x.copy()
    y[:2] = -y[:2]  # 8 of 10 signs agree: r = (8 - 2) / 10 = 0.6
    y2 = x.copy()
    y2[0] = -y2[0]  # means no longer zero: compare with numpy instead
    r = np.corrcoef(x, y)[0, 1]
    assert r == pytest.approx(0.6, abs=1e-12)  # hand-computed: (8 - 2) / 10
    df = pd.DataFrame({"x": x, "y": y})
    assert CorrelationFilter(0.6 + 1e-9).fit(df).support_.tolist() == [True, True]
    assert CorrelationFilter(0.6 - 1e-9).fit(df).support_.tolist() == [True, False]
    np.testing.assert_allclose(correlation_matrix(np.c_[x, y2]), np.corrcoef(x, y2),
                               rtol=1e-12)  # float round-off only


def test_numpy_input_and_clone():
    X = _frame().to_numpy()
    f = CorrelationFilter(threshold=0.95)
    assert f.get_params() == {"threshold": 0.95}
    g = clone(f).fit(X)
    assert list(g.get_feature_names_out()) == ["x0", "x2"]
    assert g.transform(X).shape == (6, 2)


def test_bad_threshold_and_missing_values():
    with pytest.raises(ValueError, match="threshold"):
        CorrelationFilter(threshold=1.5).fit(_frame())
    df = _frame()
    df.iloc[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CorrelationFilter().fit(df)


@parametrize_with_checks([CorrelationFilter()])
def test_sklearn_contract(estimator, check):
    check(estimator)
