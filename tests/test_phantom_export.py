"""The phantom written as a department export: layout, defects, determinism, truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from analysis.io import read_nifti
from analysis.labels import STATION_LABEL
from analysis.params import parse_params
from analysis.phantom import generate
from analysis.phantom.export import CLINICAL_COLUMNS


def _params(seed: int = 3, fmt: str = "dicom", n_inc: int = 4, n_scr: int = 10):
    return parse_params({
        "run_name": "phantom_test", "seed": seed, "scheduler": "serial", "n_workers": 1,
        "cohort": {"source": "phantom"},
        "phantom": {"n_included": n_inc, "n_screened": n_scr, "format": fmt,
                    "grid": {"shape_zyx": [24, 48, 48], "spacing_mm": [8.0, 8.0, 8.0]}},
    })


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dicom_export(tmp_path_factory):
    return generate(_params(), out_dir=tmp_path_factory.mktemp("a"), progress=False)


@pytest.fixture(scope="module")
def nifti_export(tmp_path_factory):
    return generate(_params(fmt="nifti", n_scr=8), out_dir=tmp_path_factory.mktemp("n"),
                    progress=False)


def _truth(d: Path) -> dict:
    return json.loads((d / "truth.json").read_text())


def test_same_seed_identical_bytes(dicom_export, tmp_path):
    again = generate(_params(), out_dir=tmp_path / "b", progress=False)
    assert _tree_hash(dicom_export) == _tree_hash(again)


def test_different_seed_differs(dicom_export, tmp_path):
    other = generate(_params(seed=4), out_dir=tmp_path / "c", progress=False)
    assert _tree_hash(dicom_export / "export") != _tree_hash(other / "export")


def test_stamp_skips_regeneration(dicom_export):
    before = (dicom_export / "truth.json").stat().st_mtime_ns
    generate(_params(), out_dir=dicom_export, progress=False)
    assert (dicom_export / "truth.json").stat().st_mtime_ns == before


def test_layout_and_columns(dicom_export):
    ex = dicom_export / "export"
    clin = pd.read_csv(ex / "clinical.csv", dtype=str)
    assert tuple(clin.columns) == CLINICAL_COLUMNS
    assert len(clin) == 10  # one row per screened candidate
    fu = pd.read_csv(ex / "followup.csv", dtype=str)
    assert list(fu.columns) == ["MRN", "RT_Start", "LastFollowUp", "LocalFailure",
                                "LocalFailureDate", "Death", "DeathDate"]
    rec = pd.read_csv(ex / "recurrences.csv")
    assert list(rec.columns) == ["MRN", "SiteNo", "X_mm", "Y_mm", "Z_mm"]
    t = _truth(dicom_export)
    for m in t["included_mrns"]:
        assert (ex / "images" / m / "RS.dcm").exists()
        assert len(list((ex / "images" / m / "CT").glob("*.dcm"))) == 24
    # nothing identifying outside export/
    assert sorted(p.name for p in dicom_export.iterdir()) == ["export", "stamp.json",
                                                              "truth.json"]


def test_planted_identifiers_in_headers(dicom_export):
    ex = dicom_export / "export"
    clin = pd.read_csv(ex / "clinical.csv", dtype=str).set_index("MRN")
    m = _truth(dicom_export)["included_mrns"][0]
    ds = pydicom.dcmread(sorted((ex / "images" / m / "CT").glob("*.dcm"))[0])
    assert ds.PatientID == m
    name = clin.loc[m, "Name"]
    assert str(ds.PatientName).replace("^", " ").title() == name
    assert name.upper() in ds.StudyDescription.upper()
    assert ds.PatientBirthDate == clin.loc[m, "BirthDate"].replace("-", "")


def test_rtstruct_rois(dicom_export):
    t = _truth(dicom_export)
    m = t["included_mrns"][0]
    rs = pydicom.dcmread(dicom_export / "export" / "images" / m / "RS.dcm")
    names = [r.ROIName for r in rs.StructureSetROISequence]
    assert names[:3] == ["GTV", "GTVnd", "CTV"]
    assert names[3:] == [f"LN_{s}" for s in STATION_LABEL]


def test_screening_defects_as_recorded(dicom_export):
    ex = dicom_export / "export"
    t = _truth(dicom_export)
    d = t["screening_defects"]
    assert sorted(d.values()) == ["duplicate_mrn", "missing_slice", "missing_structure",
                                  "no_followup", "unreadable_file"]
    assert len(t["included_mrns"]) == 4 and not set(d) & set(t["included_mrns"])
    by = {v: k for k, v in d.items()}
    clin = pd.read_csv(ex / "clinical.csv", dtype=str)
    fu = pd.read_csv(ex / "followup.csv", dtype=str)
    assert (clin["MRN"] == by["duplicate_mrn"]).sum() == 2
    assert by["no_followup"] not in set(fu["MRN"])
    assert len(list((ex / "images" / by["missing_slice"] / "CT").glob("*.dcm"))) == 23
    rs = pydicom.dcmread(ex / "images" / by["missing_structure"] / "RS.dcm")
    assert "CTV" not in [r.ROIName for r in rs.StructureSetROISequence]
    sizes = [f.stat().st_size for f in (ex / "images" / by["unreadable_file"] / "CT").glob("*")]
    assert min(sizes) == 256


def test_truth_contents(dicom_export):
    t = _truth(dicom_export)
    assert t["synthetic"] is True
    assert t["model"]["hazard_ratios"]["diameter_ge_5cm"] == pytest.approx(1.635, rel=1e-12)
    assert set(t["informative_features"]) <= set(t["model"]["coefficients"])
    for m in t["included_mrns"]:
        p = t["patients"][m]
        assert 0 <= p["p_failure_observed"] <= 1
        assert p["lc_time_months"] <= p["followup_months"] + 1e-9
        assert len(p["recurrence_sites"]) == (p["lc_event"] and len(p["recurrence_sites"]))


def test_followup_dates_match_truth(dicom_export):
    t = _truth(dicom_export)
    fu = pd.read_csv(dicom_export / "export" / "followup.csv", dtype=str).set_index("MRN")
    for m in t["included_mrns"]:
        row = fu.loc[m]
        days = (pd.Timestamp(row["LastFollowUp"]) - pd.Timestamp(row["RT_Start"])).days
        assert days / 30.4375 == pytest.approx(t["patients"][m]["followup_months"], abs=1e-5)
        assert int(row["LocalFailure"]) == t["patients"][m]["lc_event"]


def test_nifti_files_and_recurrence_sites_inside_stations(nifti_export):
    ex = nifti_export / "export"
    t = _truth(nifti_export)
    rec = pd.read_csv(ex / "recurrences.csv", dtype={"MRN": str})
    m = t["included_mrns"][0]
    for name in ("CT", "GTV", "GTVnd", "CTV", "stations"):
        assert (ex / "images" / m / f"{name}.nii.gz").exists()
    checked = 0
    for mrn, p in t["patients"].items():
        if not p["recurrence_sites"] or p["defect"]:
            continue
        st, grid = read_nifti(ex / "images" / mrn / "stations.nii.gz")
        rmask, _ = read_nifti(ex / "images" / mrn / "recurrence.nii.gz")
        for s in p["recurrence_sites"]:
            row = rec[(rec["MRN"] == mrn) & (rec["SiteNo"] == s["site_no"])].iloc[0]
            idx = tuple(np.rint(grid.mm_to_index([row["X_mm"], row["Y_mm"], row["Z_mm"]]))
                        .astype(int))
            assert st[idx] == STATION_LABEL[s["station"]]
            assert rmask[idx] == s["site_no"]
            checked += 1
    assert checked > 0 or not any(p["lc_event"] for p in t["patients"].values())


def test_nifti_defects(nifti_export):
    ex = nifti_export / "export"
    d = {v: k for k, v in _truth(nifti_export)["screening_defects"].items()}
    assert not (ex / "images" / d["missing_structure"] / "CTV.nii.gz").exists()
    ct, _ = read_nifti(ex / "images" / d["missing_slice"] / "CT.nii.gz")
    assert ct.shape[0] == 23
    with pytest.raises(ValueError, match="unreadable"):
        read_nifti(ex / "images" / d["unreadable_file"] / "CT.nii.gz")


def test_n_screened_below_included_rejected(tmp_path):
    with pytest.raises(ValueError, match="n_screened"):
        generate(_params(n_inc=5, n_scr=4), out_dir=tmp_path)


def test_nifti_same_seed_identical_bytes(nifti_export, tmp_path):
    again = generate(_params(fmt="nifti", n_scr=8), out_dir=tmp_path / "n2", progress=False)
    assert _tree_hash(nifti_export) == _tree_hash(again)
