"""Which features the recurrence model relies on: selection stability and importance.

- :func:`selection_frequency`: the share of the nested CV's outer folds in which each
  feature survived the correlation filter and RFECV;
- :func:`permutation_table`: permutation importance (AUC drop) of the fitted paper model
  on its validation split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from analysis import labels, paper
from analysis.model.fit import ModelInputError, PaperModel


def _number(name: str) -> int | None:
    return labels.feature_number(name) if name in labels.FEATURE_NAMES else None


def selection_frequency(selection: pd.DataFrame) -> pd.DataFrame:
    """Share of outer folds in which each feature was kept (filter + RFE), sorted.

    Parameters
    ----------
    selection : DataFrame (n_outer_folds_total, n_features) of bool
        ``NestedCVResult.selection``.

    Returns
    -------
    DataFrame indexed by feature: number (Table 2), frequency (0-1), in_paper_table6.
    """
    freq = selection.mean(axis=0)
    df = pd.DataFrame({
        "number": [_number(f) for f in freq.index],
        "frequency": freq.to_numpy(),
        "in_paper_table6": [f in paper.TABLE6_FEATURES for f in freq.index],
    }, index=pd.Index(freq.index, name="feature"))
    df["number"] = df["number"].astype("Int64")
    return df.sort_values(["frequency", "number"], ascending=[False, True], kind="stable")


def permutation_table(model: PaperModel, n_repeats: int, seed: int) -> pd.DataFrame:
    """Permutation importance (AUC drop) of the selected features on the validation split.

    The forest is scored on the validation data after scaling, filter and RFE; features
    the procedure dropped have importance 0 by construction and are not listed.

    Returns
    -------
    DataFrame indexed by feature: number, importance_mean, importance_sd (AUC units).
    """
    Xt = model.pipeline[:-1].transform(model.X_test)
    if len(np.unique(model.y_test)) < 2:
        raise ModelInputError("validation split: one class only; AUC undefined")
    r = permutation_importance(model.pipeline[-1], Xt, model.y_test, scoring="roc_auc",
                               n_repeats=n_repeats, random_state=seed, n_jobs=1)
    df = pd.DataFrame({
        "number": [_number(f) for f in Xt.columns],
        "importance_mean": r.importances_mean, "importance_sd": r.importances_std,
    }, index=pd.Index(Xt.columns.astype(str), name="feature"))
    df["number"] = df["number"].astype("Int64")
    return df.sort_values("importance_mean", ascending=False, kind="stable")
