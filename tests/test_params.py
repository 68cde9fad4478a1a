"""Every params file loads through the one schema; bad keys and types are named."""

from __future__ import annotations

import pytest

from analysis import paths
from analysis.params import ParamsError, load_params, parse_params

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
