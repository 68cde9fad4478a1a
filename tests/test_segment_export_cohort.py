"""Station exports for a cohort (issues 21.6, 24.7): every analysed patient, on its own CT
frame, whatever the department's file names; ``make export``; the Slicer colour table.

The cohort is a tiny export built in the test (tests/_ingest_fixtures.py: a DICOM
patient whose CT files are named as scanners write them, a NIfTI patient, a DICOM
patient flagged by segmentation QC); its "predicted" stations are its reference boxes,
so every read-back is compared with a map known by hand.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from _ingest_fixtures import CATEGORY_MAP, COLUMN_MAP, make_export, write_patient_images

from analysis import paths
from analysis.grid import Grid
from analysis.ingest.run import record_numbers_by_pid, run_ingest
from analysis.io.dicom_read import read_ct_series, read_rtstruct
from analysis.io.dicom_write import write_ct_series
from analysis.labels import STATION_LABEL
from analysis.params import parse_params
from analysis.report.html import exports_html
from analysis.segment.export import (
    EXPORT_MANUFACTURER,
    STATION_COLORS,
    color_table_text,
    export_stations,
    labels_from_masks,
    read_stations_seg,
)
from analysis.segment.export_cohort import analysed_patients, export_cohort, exports_summary
from analysis.store import SEGMENT_QC, CohortStore

RUN = "exp"


def _params_dict(tmp_path: Path, **partition) -> dict:
    return {"run_name": RUN, "scheduler": "serial", "n_workers": 1,
            "cohort": {"source": "export", "export_dir": str(tmp_path / "export"),
                       "center": "c1", "column_map": COLUMN_MAP,
                       "category_map": CATEGORY_MAP},
            "ingest": {"pseudonym_key_file": str(tmp_path / "key")},
            "partition": partition}


def _rename_like_a_scanner(ct_dir: Path) -> None:
    """CT files renamed ``CT.1.3.12.2.1107.5.1.4.<k>`` (no suffix), plus a Thumbs.db."""
    for k, f in enumerate(sorted(ct_dir.iterdir())):
        f.rename(ct_dir / f"CT.1.3.12.2.1107.5.1.4.{k + 1}")
    (ct_dir / "Thumbs.db").write_bytes(b"\x00not dicom")


@pytest.fixture
def cohort(tmp_path):
    """An ingested 3-patient cohort: [DICOM scanner names, NIfTI, DICOM flagged by QC];
    stations_pred = stations_ref; segment_qc flags the third."""
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    mrns = [i["mrn"] for i in ex["idents"]]
    images = tmp_path / "export" / "images"
    _rename_like_a_scanner(images / mrns[0] / "CT")
    shutil.rmtree(images / mrns[1])
    write_patient_images(images / mrns[1], "nifti")
    params = parse_params(_params_dict(tmp_path))
    res = run_ingest(CohortStore(tmp_path / "data" / "store" / RUN), params, progress=False)
    assert res.n_included == 3, res.exclusions.to_dict("records")
    store = CohortStore(res.store_path)
    for pid in store.patient_ids():
        store.write(pid, "stations_pred", store.read(pid, "stations_ref"), store.grid(pid))
    pid_of = {m: p for p, m in record_numbers_by_pid(params).items()}
    scanner, nifti, flagged = (pid_of[m] for m in mrns)
    store.write_table(SEGMENT_QC, pd.DataFrame(
        {"usable": [p != flagged for p in store.patient_ids()],
         "reasons": ["" if p != flagged else "lung_volume_ml out of range"
                     for p in store.patient_ids()]},
        index=pd.Index(store.patient_ids(), name="pid")))
    return {"tmp": tmp_path, "params": params, "store": store, "scanner": scanner,
            "nifti": nifti, "flagged": flagged,
            "dept_ct": images / mrns[0] / "CT"}


def _expected(store: CohortStore, pid: str) -> np.ndarray:
    return store.read(pid, "stations_ref")


def _read_back(folder: Path, ct_dir: Path, expected: np.ndarray) -> None:
    """RTSTRUCT (pydicom, rasterised by analysis.io) and SEG (highdicom) read back on
    the CT they reference: voxel for voxel equal to ``expected``."""
    with pytest.warns(UserWarning, match="not a DICOM file") if \
            (ct_dir / "Thumbs.db").exists() else _no_warning():
        ct = read_ct_series(ct_dir)
    rs = read_rtstruct(folder / "RS_stations.dcm", ct)
    assert int((labels_from_masks(rs, ct.grid.shape_zyx) != expected).sum()) == 0
    seg = read_stations_seg(folder / "SEG_stations.dcm", list(ct.sop_uids))
    assert int((seg != expected).sum()) == 0
    assert int((expected > 0).sum()) > 0


class _no_warning:  # noqa: N801 - a context manager standing in for pytest.warns
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_color_table_is_the_station_colours_in_slicer_format():
    lines = color_table_text().splitlines()
    assert lines[0].startswith("# Color table file") and lines[1] == "# 17 values"
    assert lines[2] == "0 Background 0 0 0 0"
    for line in lines[3:]:
        k, name, r, g, b, a = line.split()
        st = name.removeprefix("LN_")
        assert int(k) == STATION_LABEL[st] and (int(r), int(g), int(b)) == STATION_COLORS[st]
        assert a == "255"
    assert len(lines) == 3 + 16


def test_department_series_with_scanner_file_names_is_referenced(tmp_path):
    """``keep_department_uids`` on files named ``CT.1.3.12...`` and ``IM00001`` (no
    suffix), beside a Thumbs.db: the RTSTRUCT and SEG reference the department's images.

    Injected fault: the series listed by ``glob("*.dcm")`` (the code before) ->
    ValueError "the department CT series has no .dcm file" (measured)."""
    grid = Grid((5, 12, 14), (2.5, 1.0, 1.0), (-7.0, -6.0, 20.0))
    dept = tmp_path / "dept"
    hu = np.random.default_rng(1).integers(-1000, 300, grid.shape_zyx).astype(np.int16)
    write_ct_series(hu, grid, dept, patient={"PatientName": "X^Y", "PatientID": "M1"},
                    study_uid="1.2.3.1", series_uid="1.2.3.2", frame_of_reference_uid="1.2.3.3",
                    uid_seed="dept", manufacturer="ACME CT")
    for k, f in enumerate(sorted(dept.iterdir())):
        f.rename(dept / (f"IM{k:05d}" if k % 2 else f"CT.1.3.12.2.{k}"))
    (dept / "Thumbs.db").write_bytes(b"junk")
    lab = np.zeros(grid.shape_zyx, np.uint8)
    lab[1:4, 2:6, 3:9] = STATION_LABEL["4R"]
    lab[2:5, 7:11, 5:12] = STATION_LABEL["7"]
    files = export_stations(lab, hu, grid, "P1", tmp_path / "out", ct_series_dir=dept,
                            keep_department_uids=True)
    assert "ct" not in files
    _read_back(tmp_path / "out", dept, lab)
    for key in ("rtstruct", "seg"):
        ds = pydicom.dcmread(files[key])
        assert ds.Manufacturer == EXPORT_MANUFACTURER
        assert ds.FrameOfReferenceUID == "1.2.3.3"
    assert pydicom.dcmread(next(dept.glob("IM*"))).Manufacturer == "ACME CT"  # untouched


def test_a_ct_copy_never_says_synthetic(tmp_path):
    """The pseudonymous CT copy written for a NIfTI patient leaves Manufacturer empty.

    Injected fault: write_ct_series' phantom default kept for the export -> the copy's
    Manufacturer is "SYNTHETIC" (measured)."""
    grid = Grid((3, 6, 6), (3.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    lab = np.zeros(grid.shape_zyx, np.uint8)
    lab[1, 2:4, 2:4] = 1
    files = export_stations(lab, np.zeros(grid.shape_zyx, np.int16), grid, "P2",
                            tmp_path / "out")
    ct = pydicom.dcmread(next(files["ct"].glob("*.dcm")))
    assert ct.Manufacturer == ""
    assert pydicom.dcmread(files["rtstruct"]).Manufacturer == EXPORT_MANUFACTURER


def test_export_cohort_writes_every_analysed_patient_on_its_own_frame(cohort):
    """Analysed = included and QC usable (the analysis ledger, :func:`analysed_patients`); a
    DICOM patient's files reference the department's series (SOP UIDs of the export),
    the NIfTI patient's a CT copy; both read back voxel for voxel.

    Injected fault: ``analysed_patients`` returning every store patient -> the first
    assertion fails: the flagged patient is counted as analysed (3 patients, not 2)."""
    store, params = cohort["store"], cohort["params"]
    assert analysed_patients(store, params) == sorted(
        p for p in store.patient_ids() if p != cohort["flagged"])
    out = cohort["tmp"] / "exports"
    table = export_cohort(store, params, out)
    assert sorted(table["pid"]) == analysed_patients(store, params)
    assert (table["status"] == "written").all(), table.to_dict("records")
    frame = dict(zip(table["pid"], table["frame"], strict=True))
    assert frame[cohort["scanner"]] == "department CT"
    assert frame[cohort["nifti"]] == "CT copy (CT/)"
    assert not (out / cohort["flagged"]).exists()
    _read_back(out / cohort["scanner"], cohort["dept_ct"], _expected(store, cohort["scanner"]))
    assert not (out / cohort["scanner"] / "CT").exists()
    _read_back(out / cohort["nifti"], out / cohort["nifti"] / "CT",
               _expected(store, cohort["nifti"]))
    assert (out / "exports.csv").is_file() and (out / "stations_ColorTable.ctbl").is_file()

    kept = params.model_copy(update={"analysis": params.analysis.model_copy(
        update={"include_qc_failed": True})})
    table = export_cohort(store, kept, out)
    assert len(table) == 3 and (out / cohort["flagged"]).is_dir()


def test_make_export_writes_the_cohort(cohort):
    """``make export PARAMS=...`` (the Makefile target, the setup stamp taken as done)
    writes data/exports/<run>/ of the params' run; its SEG reads back with highdicom and
    its RTSTRUCT with pydicom, voxel for voxel."""
    tmp = cohort["tmp"]
    pfile = tmp / "p.yaml"
    pfile.write_text(yaml.safe_dump(_params_dict(tmp)))
    env = {**os.environ, "SCLC_DATA_DIR": str(tmp / "data"),
           "PYTHONPATH": os.pathsep.join([str(paths.REPO_ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(["make", "-o", ".venv/.setup-stamp", "export", f"PARAMS={pfile}",
                          f"PY={sys.executable}"], cwd=paths.REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exported 2 patient(s)" in run.stdout, run.stdout
    out = tmp / "data" / "exports" / RUN
    table = pd.read_csv(out / "exports.csv")
    assert sorted(table["pid"]) == analysed_patients(cohort["store"], cohort["params"])
    pid = cohort["scanner"]
    _read_back(out / pid, cohort["dept_ct"], _expected(cohort["store"], pid))


def test_the_report_links_the_exports(tmp_path):
    """The index's link to exports.csv resolves from the run folder to the file, with the
    count of patients written; without exports it says how to make them.

    Injected fault: the link made relative to the reports folder instead of the run
    folder (``relpath(index, run_dir.parent)``) -> it resolves to
    reports/data/exports/... and the assertion on the path fails (measured)."""
    run_dir, export_dir = tmp_path / "reports" / RUN, tmp_path / "data" / "exports" / RUN
    run_dir.mkdir(parents=True)
    assert "make export" in exports_html(run_dir, export_dir)
    export_dir.mkdir(parents=True)
    pd.DataFrame({"pid": ["P1", "P2"], "status": ["written", "failed"]}).to_csv(
        export_dir / "exports.csv", index=False)
    text = exports_html(run_dir, export_dir)
    href = re.search(r'href="([^"]*exports\.csv)"', text).group(1)
    assert (run_dir / href).resolve() == (export_dir / "exports.csv").resolve()
    assert "1 of 2 analysed patient(s) written" in text
    assert "P1" not in text and "P2" not in text


def test_exports_summary_counts_and_never_spells_the_data_folder():
    """Hand-counted: 2 written (1 on the department's CT, 1 with a copy), 1 failed; the
    folder is shown as <data>/exports/<run>, never as the absolute path.

    Injected fault: the folder shown as ``str(out_dir)`` -> the note holds the absolute
    data path and the assertion on the folder note fails (measured)."""
    table = pd.DataFrame({"pid": ["P1", "P2", "P3"],
                          "status": ["written", "written", "failed"],
                          "frame": ["department CT", "CT copy (CT/)", ""],
                          "reason": ["", "", "no stations_pred in the store"]})
    out = exports_summary(table, paths.stations_export_dir(RUN))
    assert out["n"].to_dict() == {"patients exported": 2,
                                  "on the department's CT (its UIDs)": 1,
                                  "with a pseudonymous CT copy": 1, "failed": 1,
                                  "folder": 3}
    assert out.loc["failed", "note"] == "no stations_pred in the store"
    assert out.loc["folder", "note"] == f"<data>/exports/{RUN}"
    assert str(paths.DATA_DIR) not in out.to_csv()
