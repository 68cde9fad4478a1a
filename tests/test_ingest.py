"""Ingest end to end on tiny DICOM and NIfTI exports: store contents, re-runs, exclusions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _ingest_fixtures import BOXES, GRID, box_mask, make_export, make_params

from analysis.clinical import CANONICAL_COLUMNS, DAYS_PER_MONTH
from analysis.deid import load_or_create_key, pseudonym
from analysis.ingest.run import figure1_table, run_ingest
from analysis.store import CohortStore


@pytest.mark.parametrize("fmt", ["dicom", "nifti"])
def test_export_to_store(tmp_path, fmt):
    planted = make_export(tmp_path / "export", n=3, fmt=fmt)
    params = make_params(tmp_path, scheduler="processes" if fmt == "dicom" else "serial")
    res = run_ingest(CohortStore(tmp_path / "store"), params, progress=False)
    assert (res.n_screened, res.n_included, res.n_skipped) == (3, 3, 0)
    store = CohortStore(tmp_path / "store")
    key = load_or_create_key(tmp_path / "key")
    pids = sorted(pseudonym(i["mrn"], key, "c1") for i in planted["idents"])
    coh = store.cohort()
    assert list(coh.index) == pids and list(coh.columns) == list(CANONICAL_COLUMNS)
    first = pseudonym("MRN9000", key, "c1")  # event at 366 d, follow-up 1096 d
    assert coh.loc[first, "lc_event"] == 1
    assert coh.loc[first, "lc_time_months"] == pytest.approx(366 / DAYS_PER_MONTH, rel=1e-12)
    assert coh.loc[first, "followup_months"] == pytest.approx(1096 / DAYS_PER_MONTH, rel=1e-12)
    # GTV box 2 x 3 x 3 voxels of (2, 1, 1) mm: greatest diameter between opposite
    # corner centres = sqrt(2^2 + 2^2 + 2^2) mm = 3.464 mm
    assert coh.loc[first, "diameter_cm"] == pytest.approx(np.sqrt(12) / 10, rel=1e-9)
    assert coh.loc[first, "diameter_ge_5cm"] == "<5cm"
    for s in ("gtv", "ctv", "gtvnd"):
        np.testing.assert_array_equal(store.read(first, s), box_mask(BOXES[s.upper()
                                      if s != "gtvnd" else "GTVnd"]))
    st = store.read(first, "stations_ref")
    assert set(np.unique(st)) == {0, 7, 11}  # 4R = 7, station 7 = label 11
    assert store.grid(first).same_as(GRID)
    rec = store.recurrences()
    assert len(rec) == 2  # MRN9000 and MRN9002 recurred
    assert rec[rec.pid == first].to_dict("records") == [
        {"pid": first, "site_no": 1, "x_mm": 1.0, "y_mm": 2.0, "z_mm": 13.0}]
    scr = store.screening()
    assert scr["included"].all() and sorted(scr["pid"]) == pids
    assert json.loads((tmp_path / "store" / "ingest_manifest.json").read_text())["complete"]


def test_rerun_skips_unchanged_and_redoes_changed(tmp_path):
    make_export(tmp_path / "export", n=2, fmt="nifti")
    params = make_params(tmp_path)
    run_ingest(CohortStore(tmp_path / "store"), params)
    res = run_ingest(CohortStore(tmp_path / "store"), params)
    assert res.n_skipped == 2
    # change one patient's GTV: only it is redone, and its diameter follows
    from analysis.io import write_nifti

    store = CohortStore(tmp_path / "store")
    pid = pseudonym("MRN9001", load_or_create_key(tmp_path / "key"), "c1")
    store.write(pid, "stations_pred", np.ones(GRID.shape_zyx, np.uint8), GRID)
    m = np.zeros(GRID.shape_zyx, np.uint8)
    m[1, 2:8, 2] = 1  # a line of 6 voxels along y, inside the CTV: 5 mm
    write_nifti(tmp_path / "export" / "images" / "MRN9001" / "GTV.nii.gz", m, GRID)
    res = run_ingest(CohortStore(tmp_path / "store"), params)
    assert res.n_skipped == 1
    assert store.cohort().loc[pid, "diameter_cm"] == pytest.approx(0.5, rel=1e-9)
    assert store.has(pid, "stations_pred")  # same CT: predicted stations kept
    write_nifti(tmp_path / "export" / "images" / "MRN9001" / "CT.nii.gz",
                np.full(GRID.shape_zyx, -1000, np.int16), GRID)
    run_ingest(CohortStore(tmp_path / "store"), params)
    assert not store.has(pid, "stations_pred")  # new CT: stale prediction removed


def test_incomplete_patient_folder_is_redone(tmp_path):
    make_export(tmp_path / "export", n=1, fmt="nifti")
    params = make_params(tmp_path)
    run_ingest(CohortStore(tmp_path / "store"), params)
    pid = pseudonym("MRN9000", load_or_create_key(tmp_path / "key"), "c1")
    (tmp_path / "store" / "patients" / pid / "meta.json").unlink()  # a crash before meta
    assert run_ingest(CohortStore(tmp_path / "store"), params).n_skipped == 0


def _reasons(res) -> dict[str, str]:
    return dict(zip(res.screening.pid, res.screening.reason, strict=True))


def _pid(tmp_path, mrn):
    return pseudonym(mrn, load_or_create_key(tmp_path / "key"), "c1")


def test_bad_inputs_become_exclusions(tmp_path):
    from _ingest_fixtures import write_patient_images

    from analysis.io import write_nifti

    exp = tmp_path / "export"
    make_export(exp, n=6, fmt="nifti")
    img = exp / "images"
    # MRN9000: required ROI absent; MRN9001: empty CTV; MRN9002: mask grid off the CT
    (img / "MRN9000" / "CTV.nii.gz").unlink()
    write_nifti(img / "MRN9001" / "CTV.nii.gz", np.zeros(GRID.shape_zyx, np.uint8), GRID)
    from analysis.grid import Grid

    shifted = Grid(GRID.shape_zyx, GRID.spacing_mm, (GRID.origin_mm[0] + 0.5,
                                                     *GRID.origin_mm[1:]))
    write_nifti(img / "MRN9002" / "GTV.nii.gz", box_mask(BOXES["GTV"]).astype(np.uint8),
                shifted)
    # MRN9003: damaged CT file
    (img / "MRN9003" / "CT.nii.gz").write_bytes(b"not a nifti")
    # MRN9004: duplicated in the clinical table; MRN9005: no follow-up row
    clin = (exp / "clinical.csv").read_text().splitlines()
    clin.append(clin[5])
    (exp / "clinical.csv").write_text("\n".join(clin) + "\n")
    fu = [x for x in (exp / "followup.csv").read_text().splitlines() if "MRN9005" not in x]
    (exp / "followup.csv").write_text("\n".join(fu) + "\n")
    write_patient_images(img / "MRN9004", "nifti")
    res = run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path))
    assert (res.n_screened, res.n_included) == (7, 0)
    r = _reasons(res)
    p = {m: _pid(tmp_path, m) for m in (f"MRN900{i}" for i in range(6))}
    assert r[p["MRN9000"]].startswith("missing_structure: ctv absent")
    assert r[p["MRN9000"]].endswith("ROIs found: CT.nii.gz, GTV.nii.gz, GTVnd.nii.gz, "
                                    "stations.nii.gz")
    assert r[p["MRN9001"]].startswith("empty_structure: ctv is empty")
    assert r[p["MRN9002"]].startswith(f"geometry: patient {p['MRN9002']}: "
                                      f"<export>/images/{p['MRN9002']}/GTV#1")
    assert r[p["MRN9003"]].startswith(f"unreadable: patient {p['MRN9003']}: "
                                      f"<export>/images/{p['MRN9003']}/CT#1")
    assert r[p["MRN9004"]] == "duplicate_id: patient ID occurs 2 times in clinical.csv"
    assert r[p["MRN9005"]] == "no_followup: no row in followup.csv"
    assert (res.screening.pid == p["MRN9004"]).sum() == 2
    assert not any("MRN" in v for v in r.values())
    fig1 = figure1_table(res.screening).set_index(["step", "reason"])["n"]
    assert fig1[("screened", "")] == 7 and fig1[("excluded", "duplicate patient ID")] == 2
    assert not (tmp_path / "store" / "patients").exists() or not any(
        (tmp_path / "store" / "patients").iterdir())


def test_dicom_bad_inputs_become_exclusions(tmp_path):
    from _ingest_fixtures import write_ct, write_rtstruct

    exp = tmp_path / "export"
    make_export(exp, n=3, fmt="dicom")
    img = exp / "images"
    # MRN9000: truncated slice; MRN9001: RTSTRUCT without a GTV; MRN9002: empty GTV ROI
    f = sorted((img / "MRN9000" / "CT").iterdir())[1]
    f.write_bytes(f.read_bytes()[:-40])
    for m, rois in (("MRN9001", {"CTV": None}), ("MRN9002", {"GTV": [], "CTV": None})):
        d = img / m
        for x in (d / "CT").iterdir():
            x.unlink()
        ct = write_ct(d / "CT")
        from _ingest_fixtures import box_contours

        write_rtstruct(d / "RS.dcm", ct, {k: (v if v is not None else box_contours(BOXES[k]))
                                          for k, v in rois.items()})
    res = run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path))
    r = _reasons(res)
    p = {m: _pid(tmp_path, m) for m in ("MRN9000", "MRN9001", "MRN9002")}
    assert r[p["MRN9000"]].startswith(f"unreadable: patient {p['MRN9000']}: "
                                      f"<export>/images/{p['MRN9000']}/CT#2: pixel data size "
                                      "mismatch")
    assert r[p["MRN9001"]].startswith("missing_structure: gtv absent")
    assert r[p["MRN9002"]].startswith("empty_structure: gtv is empty")
    assert res.n_included == 0


def test_unknown_category_and_negative_followup_excluded(tmp_path):
    exp = tmp_path / "export"
    make_export(exp, n=2, fmt="nifti")
    (exp / "clinical.csv").write_text((exp / "clinical.csv").read_text().replace(
        "MRN9000,Zzyzx^Quentin0,1948-01-10,M", "MRN9000,Zzyzx^Quentin0,1948-01-10,Q"))
    (exp / "followup.csv").write_text((exp / "followup.csv").read_text().replace(
        "MRN9001,2019-03-04,2021-09-04", "MRN9001,2019-03-04,2018-09-04"))
    res = run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path))
    r = _reasons(res)
    # the raw cell is never echoed: column, what was expected
    assert r[_pid(tmp_path, "MRN9000")] == \
        ("invalid_clinical: sex: unknown value in column 'Sex' (expected one of male, "
         "female); add a cohort.category_map entry for it, or add it to cohort.na_values if "
         "it means 'no value'")
    assert r[_pid(tmp_path, "MRN9001")].startswith("invalid_followup: negative follow-up")
    assert isinstance(res.exclusions, pd.DataFrame) and len(res.exclusions) == 2


def test_recurrence_mask_to_centroid(tmp_path):
    from analysis.io import write_nifti

    exp = tmp_path / "export"
    make_export(exp, n=1, fmt="nifti")
    (exp / "recurrences.csv").write_text("MRN,SiteNo,X_mm,Y_mm,Z_mm\n")
    lab = np.zeros(GRID.shape_zyx, np.uint8)
    lab[2, 1:3, 4] = 1  # centroid voxel (2, 1.5, 4)
    lab[0, 6, 6] = 2
    write_nifti(exp / "images" / "MRN9000" / "recurrence.nii.gz", lab, GRID)
    run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path))
    rec = CohortStore(tmp_path / "store").recurrences()
    # origin (-5, -4, 8) mm, spacing (z 2, y 1, x 1) mm
    assert rec[["site_no", "x_mm", "y_mm", "z_mm"]].values.tolist() == [
        [1, -1.0, -2.5, 12.0], [2, 1.0, 2.0, 8.0]]


def test_clinical_csv_wrong_delimiter_names_file(tmp_path):
    from analysis.io import TableError

    exp = tmp_path / "export"
    make_export(exp, n=1, fmt="nifti")
    (exp / "clinical.csv").write_text((exp / "clinical.csv").read_text().replace(",", ":"))
    with pytest.raises(TableError, match=r"clinical\.csv: missing column\(s\) MRN.*wrong "
                                         r"delimiter\?"):
        run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path))
