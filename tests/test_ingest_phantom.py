"""Ingest of a tiny phantom export (DICOM) against the phantom's planted truth, and the
de-identification proof on the phantom's own fake identifiers (store and reports/).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from _ingest_fixtures import assert_absent as _assert_absent

from analysis import paths
from analysis.deid import load_or_create_key, pseudonym
from analysis.ingest.run import run_ingest, write_outputs
from analysis.io import read_table
from analysis.outputs import Outputs
from analysis.params import parse_params
from analysis.phantom import generate
from analysis.store import CohortStore

#: phantom defect -> the exclusion reason code ingest must give it (DICOM export)
EXPECTED = {"duplicate_mrn": "duplicate_id", "no_followup": "no_followup",
            "missing_slice": "unreadable", "missing_structure": "missing_structure",
            "unreadable_file": "unreadable"}


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phantom")
    mp = pytest.MonkeyPatch()
    mp.setattr(paths, "DATA_DIR", tmp / "data")
    mp.setattr(paths, "REPORTS_DIR", tmp / "reports")
    d = yaml.safe_load((paths.PARAMS_DIR / "ci.yaml").read_text())
    d["phantom"].update(n_included=3, n_screened=9, format="dicom",
                        grid={"shape_zyx": [24, 48, 48], "spacing_mm": [10.0, 8.0, 8.0]})
    d.update(run_name="tiny", scheduler="serial")
    d["ingest"] = {"pseudonym_key_file": str(tmp / "key")}
    params = parse_params(d)
    generate(params, progress=False)  # the report runner's job; ingest never generates
    res = run_ingest(CohortStore.for_params(params, check_complete=False), params, progress=False)
    truth = json.loads((paths.phantom_dir("tiny") / "truth.json").read_text())
    yield params, res, truth, tmp
    mp.undo()


def test_exclusions_match_planted_defects(phantom_run):
    params, res, truth, tmp = phantom_run
    key = load_or_create_key(tmp / "key")
    pid = {m: pseudonym(m, key, params.cohort.center) for m in
           [*truth["screening_defects"], *truth["included_mrns"]]}
    assert res.n_screened == truth["n_screened"] == 9
    assert sorted(res.screening.loc[res.screening.included, "pid"]) == sorted(
        pid[m] for m in truth["included_mrns"])
    codes = res.exclusions.groupby("pid")["reason_code"].first().to_dict()
    assert codes == {pid[m]: EXPECTED[d] for m, d in truth["screening_defects"].items()}


def test_outcomes_diameter_and_sites_match_truth(phantom_run):
    params, _, truth, tmp = phantom_run
    key = load_or_create_key(tmp / "key")
    coh = CohortStore.for_params(params).cohort()
    for m in truth["included_mrns"]:
        t, row = truth["patients"][m], coh.loc[pseudonym(m, key, params.cohort.center)]
        assert row.lc_event == t["lc_event"]
        # truth rounds months to 6 decimals; dates are whole days
        assert row.lc_time_months == pytest.approx(t["lc_time_months"], abs=1e-5)
        assert row.followup_months == pytest.approx(t["followup_months"], abs=1e-5)
        # the same function (partition.gtv_size_cm) on the same mask after the DICOM round
        # trip; truth rounds to 4 decimals
        assert row.diameter_cm == pytest.approx(t["gtv_size_cm_measured"], abs=1e-4)
    rec = CohortStore.for_params(params).recurrences()
    assert len(rec) == truth["realised"]["n_recurrence_sites_included"]


def test_no_phantom_identifier_in_store_or_reports(phantom_run):
    params, _, truth, tmp = phantom_run
    write_outputs(params, Outputs.for_params(params, "01_ingest"))
    clin = read_table(paths.phantom_dir("tiny") / "export" / "clinical.csv")
    planted = []
    for _, r in clin.iterrows():
        planted += [r.MRN, r.Name, r.Name.upper().replace(" ", "^"), r.BirthDate,
                    r.BirthDate.replace("-", ""), r.RT_Start, f"ADM{r.MRN[1:]}"]
    assert len(planted) == 9 * 7
    assert _assert_absent(paths.store_dir("tiny"), planted) > 20
    assert _assert_absent(paths.report_dir("tiny"), planted) >= 8
    # Table 3 as written counts the included patients, each once, by the planted sex
    t3 = pd.read_csv(paths.report_dir("tiny") / "tables" / "table3.csv")
    sex = t3[t3["variable"] == "sex"].set_index("level")["n"]
    coh = CohortStore.for_params(params).cohort()
    assert sex.sum() == len(truth["included_mrns"]) == 3
    assert sex.to_dict() == {k: float(v) for k, v in
                             coh["sex"].value_counts().reindex(sex.index, fill_value=0)
                             .items()}
