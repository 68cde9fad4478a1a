"""06 saves the fitted model, 07 loads it: same predictions, stale artefacts refused."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import paths
from analysis.fsutil import sha256_file
from analysis.model.artefact import (
    ModelArtefactError,
    artefact_path,
    load_model,
    manifest_entry,
    save_model,
)
from analysis.model.fit import fit_paper_model
from analysis.params import ModelParams, Params
from analysis.phantom.model_checks import synthetic_table

MP = ModelParams(grid_max_depth=[2], grid_n_estimators=[8], grid_min_samples_leaf=[2],
                 rfe_n_estimators=5, rfe_step=3, cv_folds=2, n_jobs=1)


def test_save_load_round_trip_and_refusals(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path)
    params = Params(run_name="artefact_test", model=MP)
    st = synthetic_table(40, n_informative=2, n_noise=2, seed=1)
    with pytest.raises(ModelArtefactError, match="run 06_model first"):
        load_model(params)
    assert manifest_entry(params.run_name) is None
    model = fit_paper_model(st.X, st.y, MP, seed=3)
    art = save_model(model, params)
    assert art.path == artefact_path("artefact_test") == tmp_path / "store" / \
        "artefact_test" / "paper_model.joblib"
    assert art.sha256 == sha256_file(art.path)
    assert manifest_entry(params.run_name) == {"file": "paper_model.joblib",
                                               "sha256": art.sha256}
    loaded = load_model(params)
    # a pickle round trip: the very same forest, so identical risks to the last bit
    np.testing.assert_array_equal(loaded.prob_test, model.prob_test)
    assert loaded.selected == model.selected
    other = params.model_copy(update={"seed": params.seed + 1})
    with pytest.raises(ModelArtefactError, match="other params"):
        load_model(other)
    art.path.write_bytes(b"not a pickle")
    with pytest.raises(ModelArtefactError, match="cannot be read"):
        load_model(params)
