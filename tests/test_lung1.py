"""Lung1 (real clinical table, clinical-only mode) through params/lung1.yaml."""

from __future__ import annotations

import pytest

from analysis import paths
from analysis.cohort import DAYS_PER_MONTH, table3
from analysis.ingest import run_ingest
from analysis.params import load_params
from analysis.store import CohortStore

CSV = paths.REFERENCE_DATA_DIR / "lung1" / "Lung1.clinical.csv"


@pytest.fixture(scope="module")
def lung1(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lung1")
    p = load_params("params/lung1.yaml")
    p = p.model_copy(update={"ingest": p.ingest.model_copy(
        update={"pseudonym_key_file": str(tmp / "key")})})
    res = run_ingest(p, progress=False, store_root=tmp / "store")
    return res, CohortStore(tmp / "store")


def test_lung1_exclusions(lung1):
    res, _ = lung1
    # data README: 2 rows with T stage 5, 4 with M stage 3; N stage 4 also occurs (3 rows);
    # all 9 rows are distinct, none lacks survival time or event
    assert (res.n_screened, res.n_included) == (422, 413)
    # the reason names the column, never the raw cell (the values are in the README)
    reasons = res.exclusions["reason"].str.extract(r": (\w_stage): unknown value in column")
    assert reasons[0].value_counts().to_dict() == {"m_stage": 4, "n_stage": 3, "t_stage": 2}


def test_lung1_table3(lung1):
    _, store = lung1
    coh = store.cohort()
    t = table3(coh)
    # counts below were read from the CSV with pandas value_counts, minus the 9 excluded
    assert t.loc[("sex", "male"), "n"] + t.loc[("sex", "female"), "n"] == 413
    assert t.loc[("tnm_stage", "III"), "n"] == 280  # IIIa + IIIb
    assert t.loc[("histology", "missing"), "n"] == 41  # 42 NA, one of them excluded
    assert t.loc[("age (years)", "missing"), "n"] == 21
    assert t.loc[("t_stage", "missing"), "n"] == 1
    assert coh["os_event"].isin([0, 1]).all() and coh["os_time_months"].notna().all()
    assert coh["os_time_months"].max() == pytest.approx(2165 / DAYS_PER_MONTH, rel=1e-12)
    assert not coh.index.str.contains("LUNG1").any()
