"""Inside a bootstrap refit, the inner CV never splits copies of one patient (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from analysis.model.fit import build_pipeline
from analysis.params import ModelParams
from analysis.phantom.model_checks import synthetic_table

MP = ModelParams(grid_max_depth=[2], grid_n_estimators=[8], grid_min_samples_leaf=[2],
                 rfe_n_estimators=5, rfe_step=3, cv_folds=3, n_jobs=1)


def _straddling(grouped: bool, monkeypatch) -> list[int]:
    """Fit on a bootstrap sample; per inner split, how many patients sit on both sides."""
    st = synthetic_table(60, n_informative=2, n_noise=3, seed=0)
    idx = np.sort(np.random.default_rng(0).integers(0, 60, 60))
    Xb, yb = st.X.iloc[idx].reset_index(drop=True), st.y.iloc[idx].reset_index(drop=True)
    seen: list[int] = []
    cls = StratifiedGroupKFold if grouped else StratifiedKFold
    split = cls.split

    def spy(self, X, y=None, groups=None):
        for tr, te in split(self, X, y, groups):
            seen.append(len(set(idx[tr]) & set(idx[te])))
            yield tr, te

    monkeypatch.setattr(cls, "split", spy)
    pipe = build_pipeline(MP, 0, n_jobs=1, grouped=grouped)
    if grouped:
        pipe.fit(Xb, yb, rfe__groups=idx, rf__groups=idx)
    else:
        pipe.fit(Xb, yb)
    return seen


def test_grouped_inner_cv_keeps_copies_together(monkeypatch):
    seen = _straddling(True, monkeypatch)
    assert len(seen) == 2 * MP.cv_folds  # RFECV's and the grid search's splits were seen
    assert max(seen) == 0


def test_ungrouped_inner_cv_would_split_copies(monkeypatch):
    """The fault the grouping guards against: plain stratified folds on a bootstrap sample
    put copies of a patient on both sides of the split (7-9 patients per split here)."""
    seen = _straddling(False, monkeypatch)
    assert min(seen) > 0
    pipe = build_pipeline(MP, 0, grouped=True)
    assert isinstance(pipe.named_steps["rfe"].cv, StratifiedGroupKFold)
    assert pipe.named_steps["rf"].cv is pipe.named_steps["rfe"].cv
    st = synthetic_table(30, 2, 1, seed=1)
    with pytest.raises(ValueError, match="groups"):  # grouped folds refuse a fit without groups
        pipe.fit(st.X, st.y)
