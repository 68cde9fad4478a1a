"""The paper's procedure on a small planted table: structure, Table 6, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from analysis import paper
from analysis.model.evaluate import TRAIN_APPARENT, TRAIN_CV, classification_metrics, table7
from analysis.model.features import permutation_table
from analysis.model.fit import build_pipeline, fit_paper_model, table6, table6_summary
from analysis.params import ModelParams
from analysis.phantom.model_checks import synthetic_table

#: tiny settings so the file runs in seconds on a shared CPU
MP = ModelParams(grid_max_depth=[2, None], grid_n_estimators=[15], grid_min_samples_leaf=[2],
                 rfe_n_estimators=15, rfe_step=2, cv_folds=3, n_jobs=1,
                 permutation_repeats=3)


@pytest.fixture(scope="module")
def table():
    st = synthetic_table(90, n_informative=3, n_noise=5, effect=2.0, seed=11)
    st.X["CTV_volume"] = 7.0  # a constant feature: dropped by the filter with a note
    return st


@pytest.fixture(scope="module")
def fitted(table):
    return fit_paper_model(table.X, table.y, MP, seed=5)


def test_pipeline_steps_and_params():
    pipe = build_pipeline(MP, seed=5)
    assert [n for n, _ in pipe.steps] == ["scale", "filter", "rfe", "rf"]
    assert pipe.named_steps["rfe"].scoring == "roc_auc"
    assert pipe.named_steps["rfe"].cv.n_splits == 3
    assert pipe.named_steps["rf"].param_grid == {"max_depth": [2, None], "n_estimators": [15],
                                                 "min_samples_leaf": [2]}
    assert pipe.named_steps["rfe"].estimator.random_state == 5


def test_split_is_stratified_80_20(fitted, table):
    assert len(fitted.X_test) == 18  # ceil(0.2 * 90)
    assert set(fitted.X_train.index).isdisjoint(fitted.X_test.index)
    # stratified: class shares differ by at most one patient's worth
    assert abs(fitted.y_test.mean() - table.y.mean()) <= 1 / 18


def test_filter_drops_duplicate_and_constant(fitted, table):
    dropped = fitted.pipeline.named_steps["filter"].dropped_
    copy, original = table.duplicate
    assert dropped[copy] == f"|r| = 1.000 with {original}"
    assert dropped["CTV_volume"] == "constant"
    assert copy not in fitted.selected and "CTV_volume" not in fitted.selected


def test_table6(fitted):
    t6 = table6(fitted.selected)
    assert t6["feature"].tolist() == sorted(fitted.selected, key=lambda n: t6.set_index(
        "feature").loc[n, "number"])
    row = table6(["RctvLN_2"]).iloc[0]
    assert row["number"] == 2 and bool(row["in_paper_table6"])
    assert "(1L)" in row["meaning"]  # LN_2 is station 1L (SPEC Table 1)
    s = table6_summary(["RctvLN_2", "RctvLN_3"], 110)
    assert s.loc["features kept", "paper"] == paper.N_FEATURES_KEPT
    assert s.loc["of ours, in the paper's Table 6", "this run"] == 1


def test_same_seed_same_tables(fitted, table):
    again = fit_paper_model(table.X, table.y, MP, seed=5)
    assert again.selected == fitted.selected
    pdt.assert_frame_equal(table6(again.selected), table6(fitted.selected))
    pdt.assert_frame_equal(table7(again, 30, 5), table7(fitted, 30, 5))
    pdt.assert_frame_equal(permutation_table(again, 3, 5), permutation_table(fitted, 3, 5))


def test_table7_shape_and_paper_columns(fitted):
    t7 = table7(fitted, 30, 5)
    assert list(t7.index) == ["accuracy", "auc", "precision", "recall", "f1"]
    assert t7.loc["auc", "paper_valid"] == paper.TABLE7["auc"][1]
    ok = t7[[TRAIN_APPARENT, "valid"]].notna()
    assert ok.all().all()
    assert TRAIN_CV not in t7  # no out-of-fold risks given
    # the point estimate lies within its percentile interval (it is the centre of the resamples)
    assert (t7["valid_lo"] <= t7["valid"] + 1e-12).all()
    assert (t7["valid"] <= t7["valid_hi"] + 1e-12).all()


def test_table7_cross_validated_training_column(fitted):
    """The cross-validated column scores the training patients' out-of-fold risks."""
    rng = np.random.default_rng(0)
    pids = list(fitted.y_train.index) + list(fitted.y_test.index)
    y_all = pd.concat([fitted.y_train, fitted.y_test])
    oof = pd.DataFrame({"y": y_all.to_numpy(), "prob": rng.random(len(pids))},
                       index=pd.Index(pids, name="pid"))
    t7 = table7(fitted, 30, 5, oof=oof)
    cv = oof.loc[fitted.y_train.index]
    expect = classification_metrics(cv["y"], cv["prob"])
    assert t7.loc["auc", TRAIN_CV] == pytest.approx(expect["auc"], abs=1e-12)
    assert t7.loc["accuracy", TRAIN_CV] == pytest.approx(expect["accuracy"], abs=1e-12)
    assert t7.columns.tolist()[:7] == [TRAIN_APPARENT, f"{TRAIN_APPARENT}_lo",
                                       f"{TRAIN_APPARENT}_hi", TRAIN_CV, f"{TRAIN_CV}_lo",
                                       f"{TRAIN_CV}_hi", "paper_train"]
    # apparent and cross-validated estimates differ: random risks score near chance
    assert t7.loc["auc", TRAIN_APPARENT] > t7.loc["auc", TRAIN_CV]


def test_permutation_only_selected(fitted):
    pt = permutation_table(fitted, 3, 5)
    assert sorted(pt.index) == sorted(fitted.selected)
    assert np.isfinite(pt["importance_mean"]).all()


def test_clinical_columns_optional(table):
    from analysis.model.fit import model_inputs

    cohort = pd.DataFrame({"lc_event": table.y, "age": np.linspace(40, 80, len(table.y)),
                           "sex": ["male", "female"] * (len(table.y) // 2)},
                          index=table.X.index)
    X, y, _ = model_inputs(table.X, cohort, ModelParams(include_clinical=True, cv_folds=3))
    assert {"age", "sex_male"} <= set(X.columns)
    assert table6(["age"]).iloc[0]["meaning"] == "clinical variable"
