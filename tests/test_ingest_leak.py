"""The leak test of issue #13: identifiers planted in file names, cell values, a header-less
table, DICOM attributes and dates in four formats never reach the store, the report
folder (tables, executed notebook, HTML, manifest) or the run's log.
"""

from __future__ import annotations

import pydicom
import pytest
import yaml
from _ingest_fixtures import (
    CATEGORY_MAP,
    COLUMN_MAP,
    assert_absent,
    make_export,
)

from analysis.io import TableError

#: planted identifiers: names, record numbers, institution, physician, accession number,
#: free text, and the birth date 1948-01-10 / RT start in four formats
PLANTED = ["MRN9000", "MRN9001", "MRN9002", "Zzyzx", "Quentin", "Yblonsky", "Vexworth",
           "Xanadu", "ACC77123", "1948-01-10", "19480110", "10.01.1948", "Jan 10, 1948",
           "2019-03-04", "20190304", "04/03/2019", "2 May 2019"]


def _plant(exp):
    """Plant every kind of identifier in a valid 3-patient DICOM export."""
    img = exp / "images"
    # DICOM attributes: institution, physician, accession number, dates (DA)
    for m in ("MRN9000", "MRN9001", "MRN9002"):
        for f in sorted((img / m).rglob("*.dcm")):
            ds = pydicom.dcmread(f)
            ds.InstitutionName = "Hospital Xanadu"
            ds.ReferringPhysicianName = "Vexworth^Ann"
            ds.AccessionNumber = "ACC77123"
            ds.StudyDate = "20190304"
            ds.save_as(f)
    # a ROI named after the physician, and no CTV: the reason lists the ROI names found
    rs = pydicom.dcmread(img / "MRN9000" / "RS.dcm")
    rs.StructureSetROISequence[1].ROIName = "CTV_Vexworth_10.01.1948"
    rs.save_as(img / "MRN9000" / "RS.dcm")
    # file names with name, MRN and dates; one of them a damaged slice (an exclusion)
    ct = sorted((img / "MRN9001" / "CT").iterdir())[2]
    bad = ct.with_name("Zzyzx^Quentin1_MRN9001_10.01.1948.dcm")
    bad.write_bytes(ct.read_bytes()[:-40])
    ct.unlink()
    (img / "MRN9002" / "CT" / "ZZYZX_Quentin2_Jan 10, 1948.txt").write_text("scan notes\n")
    # a free-text cell with a person and a date where a category is expected
    clin = exp / "clinical.csv"
    lines = clin.read_text().splitlines()
    lines[3] = lines[3].replace(",SCLC,", ',"SCLC (per Dr Yblonsky 2 May 2019, seen '
                                          '04/03/2019)",')
    clin.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_planted_identifiers_reach_no_store_report_notebook_or_log(tmp_path):
    """Injected fault: with ``Scrubber.__call__`` returning its text unchanged, the
    search failed at once ("'MRN9000' found in .../store/leak/screening.parquet")."""
    exp = tmp_path / "export"
    make_export(exp, n=3, fmt="dicom")
    _plant(exp)
    # the export holds them (else this test could not fail)
    blob = b"".join(p.read_bytes() + p.name.encode() for p in exp.rglob("*") if p.is_file())
    for s in ("Xanadu", "ACC77123", "Yblonsky", "Vexworth", "10.01.1948", "Jan 10, 1948",
              "04/03/2019"):
        assert s.encode() in blob, s
    params = tmp_path / "leak.yaml"
    params.write_text(yaml.safe_dump({
        "run_name": "leak", "scheduler": "serial",
        "cohort": {"source": "export", "export_dir": str(exp), "center": "c1",
                   "column_map": COLUMN_MAP, "category_map": CATEGORY_MAP},
        "ingest": {"pseudonym_key_file": str(tmp_path / "key")},
        "report": {"notebooks": ["01_ingest"]}}))
    from analysis.report.runner import run_report

    log: list[str] = []
    run_dir = run_report(params, reports_root=tmp_path / "reports",
                         data_root=tmp_path / "data", echo=log.append)
    (tmp_path / "log.txt").write_text("\n".join(log))
    store = tmp_path / "data" / "store" / "leak"
    from analysis.store import CohortStore

    scr = CohortStore(store).screening()
    assert scr["included"].sum() == 0  # every patient carries one planted defect
    assert assert_absent(store, PLANTED) >= 3
    reasons = " | ".join(scr["reason"])
    assert "ROIs found: GTV, CTV_<redacted>_<date>, GTVnd" in reasons  # the ROI, scrubbed
    assert "CT#" in reasons and "unknown value in column 'Pathology'" in reasons
    assert assert_absent(run_dir, PLANTED) >= 10  # tables, notebook, HTML, manifest
    assert (run_dir / "notebooks" / "01_ingest.ipynb").is_file()
    text = (tmp_path / "log.txt").read_text().lower()
    assert not [s for s in PLANTED if s.lower() in text]

    # the same export without its header row: a stop that names columns, never values
    clin = exp / "clinical.csv"
    clin.write_text("\n".join(clin.read_text().splitlines()[1:]) + "\n")
    from analysis.ingest.run import run_ingest
    from analysis.params import load_params

    with pytest.raises(TableError) as err:
        run_ingest(load_params(params), progress=False, store_root=tmp_path / "s2")
    assert not [s for s in PLANTED if s.lower() in str(err.value).lower()]
