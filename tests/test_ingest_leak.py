"""The leak test of issues #13 and #22: identifiers planted in file names, cell values, a
header-less table, DICOM attributes, dates in four formats, two-character Chinese names,
names inside ROI labels, the export's parent folder and a GB18030 table never reach the
store, the report folder (tables, executed notebook, HTML, manifest) or the run's log.
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
from pydicom.dataset import Dataset

from analysis.io import TableError
from analysis.store import CohortStore

#: planted identifiers: names, record numbers, institution, physician, accession number,
#: free text, and the birth date 1948-01-10 / RT start in four formats
PLANTED = ["MRN9000", "MRN9001", "MRN9002", "Zzyzx", "Quentin", "Yblonsky", "Vexworth",
           "Xanadu", "ACC77123", "1948-01-10", "19480110", "10.01.1948", "Jan 10, 1948",
           "2019-03-04", "20190304", "04/03/2019", "2 May 2019",
           # issue #22: two-character Chinese names (clinical cells, DICOM names, the
           # export's parent folder), names inside ROI labels, a GB18030 table
           "王芳", "李娜", "张伟", "WANGFANG", "External_LINA", "张伟_体表", "H6129465",
           "2017-10-22"]
#: the export lives in a folder named after a patient (as one user's did)
EXPORT_PARENT = "王芳_H6129465_2017-10-22"


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
    # MRN9000's DICOM names: the patient Wang^Fang, also known as Li^Na; physician 张伟
    for f in [img / "MRN9000" / "RS.dcm", *sorted((img / "MRN9000" / "CT").iterdir())]:
        ds = pydicom.dcmread(f)
        ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
        ds.PatientName, ds.OtherPatientNames = "Wang^Fang", "Li^Na"
        ds.PerformingPhysicianName = "张伟"
        ds.save_as(f)
    # a ROI named after the physician, and no CTV: the reason lists the ROI names found;
    # free-text ROI labels holding the patient's names (Latin, joined; Chinese)
    rs = pydicom.dcmread(img / "MRN9000" / "RS.dcm")
    assert str(rs.PerformingPhysicianName) == "张伟"
    rs.StructureSetROISequence[1].ROIName = "CTV_Vexworth_10.01.1948"
    for label in ("External_WANGFANG", "External_LINA", "张伟_体表"):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = len(rs.StructureSetROISequence) + 1, label
        rs.StructureSetROISequence.append(roi)
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
    # two-character Chinese names in the clinical table
    lines[2] = lines[2].replace("Zzyzx^Quentin1", "王芳")
    lines[3] = lines[3].replace("Zzyzx^Quentin2", "李娜")
    clin.write_text("\n".join(lines) + "\n")
    # followup.csv as a Chinese Windows spreadsheet saves it: GB18030, a free-text note
    fu = exp / "followup.csv"
    rows = fu.read_text().splitlines()
    rows = [rows[0] + ",Note"] + [r + ",王芳 李娜 复查" for r in rows[1:]]
    fu.write_bytes(("\n".join(rows) + "\n").encode("gb18030"))


@pytest.mark.slow
def test_planted_identifiers_reach_no_store_report_notebook_or_log(tmp_path):
    """Injected fault: with ``Scrubber.__call__`` returning its text unchanged, the
    search failed at once ("'MRN9000' found in .../store/leak/screening.parquet").

    Issue #22 faults: with the scrubber's CJK minimum length at 3 (the old rule),
    "'张伟' found in .../store/leak/screening.parquet"; with the table notes left
    uncaught by ``ingest._read`` and naming the full path (the old io/tables warning),
    "'王芳' found in .../reports/leak/html/01_ingest.html"."""
    exp = tmp_path / EXPORT_PARENT / "export"
    make_export(exp, n=3, fmt="dicom")
    _plant(exp)
    # the export holds them (else this test could not fail)
    blob = b"".join(p.read_bytes() + str(p).encode() for p in exp.rglob("*") if p.is_file())
    for s in ("Xanadu", "ACC77123", "Yblonsky", "Vexworth", "10.01.1948", "Jan 10, 1948",
              "04/03/2019", "王芳", "李娜", "张伟", "External_WANGFANG", "External_LINA",
              "张伟_体表", "H6129465"):
        assert s.encode() in blob or s.encode("gb18030") in blob, s
    assert "王芳".encode("gb18030") in (exp / "followup.csv").read_bytes()
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

    scr = CohortStore(store).screening()
    assert scr["included"].sum() == 0  # every patient carries one planted defect
    assert assert_absent(store, PLANTED) >= 3
    reasons = " | ".join(scr["reason"])
    # ROI labels holding a name: shown by their role
    assert "ROIs found: GTV, CTV#1, GTVnd, LN_7, LN_4R, External#1, External#2, " \
        "External#3" in reasons
    assert "CT#" in reasons and "unknown value in column 'Pathology'" in reasons
    assert assert_absent(run_dir, PLANTED) >= 10  # tables, notebook, HTML, manifest
    nb = (run_dir / "notebooks" / "01_ingest.ipynb").read_text()
    # the encoding note reached the notebook, scrubbed (it named the full path before)
    assert "followup.csv: not valid UTF-8" in nb and "read as gb18030" in nb
    text = (tmp_path / "log.txt").read_text().lower()
    assert not [s for s in PLANTED if s.lower() in text]

    # the same export without its header row: a stop that names columns, never values
    clin = exp / "clinical.csv"
    clin.write_text("\n".join(clin.read_text().splitlines()[1:]) + "\n")
    from analysis.ingest.run import run_ingest
    from analysis.params import load_params

    with pytest.raises(TableError) as err:
        run_ingest(CohortStore(tmp_path / "s2"), load_params(params), progress=False)
    assert not [s for s in PLANTED if s.lower() in str(err.value).lower()]
