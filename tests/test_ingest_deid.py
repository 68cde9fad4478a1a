"""De-identification proof: planted names, birth dates and record numbers appear nowhere
in the cohort store nor in the report folder (every byte, .gz decompressed, Parquet as text).
"""

from __future__ import annotations

import re

from _ingest_fixtures import assert_absent as _assert_absent
from _ingest_fixtures import make_export, make_params
from _ingest_fixtures import texts_of as _texts

from analysis.ingest.run import run_ingest, write_outputs
from analysis.outputs import Outputs
from analysis.store import CohortStore


def _planted(idents: list[dict]) -> list[str]:
    out = []
    for i in idents:
        last, first = i["name"].split("^")
        out += [i["mrn"], i["name"], last, first, i["birth"], i["birth"].replace("-", "")]
    return out + ["2019-03-04", "20190304"]  # RT start: a calendar date


def test_no_identifier_in_store_or_reports(tmp_path):
    planted = make_export(tmp_path / "export", n=3, fmt="dicom")
    ids = _planted(planted["idents"])
    # the export itself does contain them (else this test could not fail)
    assert sum(1 for _, d in _texts(tmp_path / "export") if b"Zzyzx" in d) > 3
    params = make_params(tmp_path)
    # one patient excluded, with a reason naming its (MRN-named) folder
    (tmp_path / "export" / "images" / "MRN9001" / "RS.dcm").unlink()
    # one patient excluded for a damaged slice whose file name holds its name and birth date
    ct2 = sorted((tmp_path / "export" / "images" / "MRN9002" / "CT").iterdir())[1]
    named = ct2.with_name("Zzyzx^Quentin2_1948-03-12.dcm")
    named.write_bytes(ct2.read_bytes()[:-40])
    ct2.unlink()
    res = run_ingest(CohortStore(tmp_path / "store"), params)
    assert res.n_included == 1
    assert all("images/P" in r for r in res.exclusions["reason"])
    # the damaged file is named by kind and rank, never by its (identifying) name
    assert any(re.search(r"/CT#\d+: pixel data size mismatch", r) for r in res.exclusions["reason"])
    assert _assert_absent(tmp_path / "store", ids) > 10
    out = Outputs("t", "01_ingest", phantom=False, root=tmp_path / "reports")
    write_outputs(params, out, store=CohortStore(tmp_path / "store"))
    assert _assert_absent(tmp_path / "reports", ids) >= 8
    key = (tmp_path / "key").read_text().strip()
    assert _assert_absent(tmp_path / "store", [key]) and _assert_absent(tmp_path / "reports",
                                                                        [key])
