"""De-identification proof: planted names, birth dates and record numbers appear nowhere
in the cohort store nor in the report folder (every byte, .gz decompressed, Parquet as text).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
from _ingest_fixtures import make_export
from test_ingest import make_params

from analysis.ingest import run_ingest, write_outputs
from analysis.outputs import Outputs
from analysis.store import CohortStore


def _texts(root: Path):
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        yield p, data
        if p.name.endswith(".gz"):
            yield p, gzip.decompress(data)
        if p.suffix == ".parquet":
            yield p, pd.read_parquet(p).reset_index().to_csv().encode()


def _planted(idents: list[dict]) -> list[str]:
    out = []
    for i in idents:
        last, first = i["name"].split("^")
        out += [i["mrn"], i["name"], last, first, i["birth"], i["birth"].replace("-", "")]
    return out + ["2019-03-04", "20190304"]  # RT start: a calendar date


def _assert_absent(root: Path, planted: list[str]) -> int:
    n = 0
    for p, data in _texts(root):
        n += 1
        low = data.lower()
        for s in planted:
            assert s.lower().encode() not in low, f"{s!r} found in {p}"
    return n


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
    res = run_ingest(params, store_root=tmp_path / "store")
    assert res.n_included == 1
    assert all("images/P" in r for r in res.exclusions["reason"])
    assert any("<redacted>" in r for r in res.exclusions["reason"])
    assert _assert_absent(tmp_path / "store", ids) > 10
    out = Outputs("t", "01_ingest", phantom=False, root=tmp_path / "reports")
    write_outputs(params, out, store=CohortStore(tmp_path / "store"))
    assert _assert_absent(tmp_path / "reports", ids) >= 8
    key = (tmp_path / "key").read_text().strip()
    assert _assert_absent(tmp_path / "store", [key]) and _assert_absent(tmp_path / "reports",
                                                                        [key])
