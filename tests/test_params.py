"""Every params file loads through the one schema; bad keys and types are named."""

from __future__ import annotations

import pytest

from analysis import paths
from analysis.params import PARAMS_ENV, ParamsError, load_params, parse_params

PARAM_FILES = sorted(paths.PARAMS_DIR.glob("*.yaml"))


def test_there_are_params_files():
    names = {p.name for p in PARAM_FILES}
    assert {"default.yaml", "ci.yaml", "paper_fullres.yaml"} <= names


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: p.name)
def test_every_params_file_loads(path):
    params = load_params(path)
    assert params.run_name == path.stem
    assert len(params.digest()) == 64


def test_default_is_the_paper_sized_phantom():
    p = load_params("params/default.yaml")
    assert p.is_phantom
    assert p.phantom.n_included == 180


def test_paper_fullres_grid():
    p = load_params("params/paper_fullres.yaml")
    assert p.phantom.grid.shape_zyx == (93, 512, 512)
    assert p.phantom.grid.spacing_mm == (5.0, 1.1543, 1.1543)


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("run_name: bad\ncohort: {source: clinical_only}\nmodel: {n_trees: 3}\n")
    with pytest.raises(ParamsError, match=r"bad\.yaml: model\.n_trees: unknown key"):
        load_params(f)


def test_wrong_type_is_named(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("run_name: bad\ncohort: {source: clinical_only}\nmodel: {cv_folds: five}\n")
    with pytest.raises(ParamsError, match=r"bad\.yaml: model\.cv_folds: .*integer"):
        load_params(f)


def test_phantom_source_needs_phantom_section():
    with pytest.raises(ParamsError, match="phantom: required"):
        parse_params({"run_name": "x"}, source="x.yaml")


def test_same_params_same_digest():
    a = load_params("params/ci.yaml")
    b = load_params(paths.PARAMS_DIR / "ci.yaml")
    assert a.digest() == b.digest()
    assert a.digest() != load_params("params/default.yaml").digest()


def test_an_unknown_key_suggests_the_nearest_valid_one():
    """The typo of issue 24 (``phantom.n_incuded``) names ``n_included``; a key near no
    valid one gets no guess. Fault injected: ``suggest_key`` returning "" -> the first
    match fails ("unknown key" alone)."""
    data = {"run_name": "x", "phantom": {"n_incuded": 3}, "segmnt": {}, "zzz_qqq": 1}
    with pytest.raises(ParamsError) as err:
        parse_params(data, source="x.yaml")
    lines = str(err.value).splitlines()
    assert "x.yaml: phantom.n_incuded: unknown key (did you mean n_included?)" in lines
    assert "x.yaml: segmnt: unknown key (did you mean segment?)" in lines
    assert "x.yaml: zzz_qqq: unknown key" in lines


def test_notebooks_open_on_the_run_make_lab_selected(monkeypatch):
    """``params_file = None`` (the committed parameters cell) loads the file named by
    ``SCLC_PARAMS`` (set by ``make lab PARAMS=...``), else default.yaml; papermill's
    injected path wins over both."""
    monkeypatch.delenv(PARAMS_ENV, raising=False)
    assert load_params(None).run_name == "default"
    monkeypatch.setenv(PARAMS_ENV, "params/ci.yaml")
    assert load_params(None).run_name == "ci"
    assert load_params(None).source == "params/ci.yaml"
    assert load_params("params/lung1.yaml").run_name == "lung1"  # injected value wins


def test_the_source_file_is_not_part_of_the_digest():
    a = load_params("params/ci.yaml")
    b = parse_params(a.model_dump(mode="json"), source="elsewhere")
    assert a.digest() == b.digest() and a.source == "params/ci.yaml"


def test_a_missing_params_file_lists_the_ones_there_are():
    with pytest.raises(ParamsError, match=r"nope\.yaml: cannot read params file .*"
                                          r"params/ci\.yaml"):
        load_params("params/nope.yaml")
