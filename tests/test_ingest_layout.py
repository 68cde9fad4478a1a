"""Each patient read by its own layout: NIfTI among DICOM, flat folders, PACS media.

Exports are built in the test (tests/_ingest_fixtures.py: 6 x 10 x 10 CTs whose boxes
are known by hand); every included patient's stored GTV and reference stations are
compared voxel for voxel with the planted boxes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
from _ingest_fixtures import (
    BOXES,
    box_contours,
    box_mask,
    make_export,
    make_params,
    write_ct,
    write_patient_images,
    write_rtstruct,
)
from pydicom.fileset import FileSet

from analysis.ingest.layout import EXPECTED
from analysis.ingest.run import run_ingest
from analysis.labels import STATION_LABEL
from analysis.store import CohortStore


def _run(tmp_path):
    res = run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path), progress=False)
    return res, CohortStore(res.store_path)


def _check_planted(store: CohortStore, pid: str) -> None:
    np.testing.assert_array_equal(store.read(pid, "gtv"), box_mask(BOXES["GTV"]))
    np.testing.assert_array_equal(store.read(pid, "ctv"), box_mask(BOXES["CTV"]))
    st = store.read(pid, "stations_ref")
    assert int((st == STATION_LABEL["7"]).sum()) == int(box_mask(BOXES["LN_7"]).sum())
    assert int((st == STATION_LABEL["4R"]).sum()) == int(box_mask(BOXES["LN_4R"]).sum())


def _flatten(export: Path, mrns: list[str]) -> None:
    """Move every file of the patients' folders into ``images/`` itself, renamed the
    way scanners and PACS write them (``IM00001``, no suffix), and drop the folders."""
    images = export / "images"
    k = 0
    for mrn in mrns:
        for f in sorted((images / mrn).rglob("*")):
            if f.is_file():
                k += 1
                shutil.move(f, images / f"IM{k:05d}")
        shutil.rmtree(images / mrn)


def test_a_nifti_patient_among_dicom_patients_is_read_as_nifti(tmp_path):
    """The format is decided per patient folder.

    Injected fault: the format decided from the first patient folder (the code before
    this change, run on this export): the first folder is the NIfTI one, so both DICOM
    patients were excluded with "no CT.nii.gz", n_included 1 instead of 3.
    """
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    mrn = ex["idents"][0]["mrn"]  # the first folder in sorted order
    shutil.rmtree(tmp_path / "export" / "images" / mrn)
    write_patient_images(tmp_path / "export" / "images" / mrn, "nifti")
    res, store = _run(tmp_path)
    assert res.n_included == 3, res.exclusions.to_dict("records")
    formats = sorted(store.meta(p)["source_format"] for p in store.patient_ids())
    assert formats == ["dicom", "dicom", "nifti"]
    for pid in store.patient_ids():
        _check_planted(store, pid)


def test_a_flat_folder_is_read_by_series_grouped_by_patient_id(tmp_path):
    """Every patient's CT slices and RTSTRUCT in one folder, files named ``IM00001``.

    Injected fault: the code before this change (only ``images/<MRN>`` folders),
    run on this export: n_included 0, every patient "image folder ... not found".
    """
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    _flatten(tmp_path / "export", [i["mrn"] for i in ex["idents"]])
    res, store = _run(tmp_path)
    assert res.n_included == 3, res.exclusions.to_dict("records")
    for pid in store.patient_ids():
        _check_planted(store, pid)
    # the views were links, removed once read
    assert not (res.store_path / "layout_views").exists()


def test_a_pacs_media_export_with_dicomdir_is_read(tmp_path):
    """A DICOMDIR file set written by pydicom (``PT000000/ST000000/SE000000/IM000000``)
    beside a patient folder in NIfTI: both layouts in one export.

    Injected fault: the code before this change: n_included 1 (the two PACS patients
    "image folder ... not found")."""
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    images = tmp_path / "export" / "images"
    staged = tmp_path / "staged"
    staged.mkdir()
    fs = FileSet()
    for ident in ex["idents"][1:]:
        for k, f in enumerate(sorted((images / ident["mrn"]).rglob("*.dcm"))):
            ds = pydicom.dcmread(f)
            # the attributes a DICOMDIR's study / series / image records require
            ds.StudyDate, ds.StudyTime, ds.StudyID = "20190304", "090000", "1"
            ds.SeriesNumber, ds.InstanceNumber = 1 + (ds.Modality != "CT"), k + 1
            if ds.Modality == "RTSTRUCT":
                ds.StructureSetLabel, ds.StructureSetDate = "RS", "20190304"
                ds.StructureSetTime = "090000"
            fs.add(ds)
        shutil.move(images / ident["mrn"], staged / ident["mrn"])
    fs.write(images)
    assert (images / "DICOMDIR").is_file()
    first = ex["idents"][0]["mrn"]
    shutil.rmtree(images / first)
    write_patient_images(images / first, "nifti")
    res, store = _run(tmp_path)
    assert res.n_included == 3, res.exclusions.to_dict("records")
    for pid in store.patient_ids():
        _check_planted(store, pid)


def test_a_patient_missing_from_a_flat_layout_is_refused_naming_the_layout(tmp_path):
    """A patient whose PatientID is in no file of the flat folder, and a flat folder of
    NIfTI files: refused with the layout found and the one expected, and without the
    patient's record number."""
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    mrns = [i["mrn"] for i in ex["idents"]]
    _flatten(tmp_path / "export", mrns[:2])
    shutil.rmtree(tmp_path / "export" / "images" / mrns[2])
    res, _ = _run(tmp_path)
    assert res.n_included == 2
    why = res.exclusions["reason"].tolist()
    assert len(why) == 1 and "a flat folder of DICOM files" in why[0], why
    assert EXPECTED in why[0] and mrns[2] not in why[0]

    # NIfTI files directly under images/: not a layout ingest reads
    (tmp_path / "export" / "images").rename(tmp_path / "dicom_flat")
    nifti = tmp_path / "export" / "images"
    for m in mrns:
        write_patient_images(tmp_path / "nii" / m, "nifti")
        nifti.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp_path / "nii" / m / "CT.nii.gz", nifti / f"{m}_CT.nii.gz")
    res, _ = _run(tmp_path)
    assert res.n_included == 0
    for why in res.exclusions["reason"]:
        assert "flat NIfTI layout" in why and EXPECTED in why, why
        assert not any(m in why for m in mrns)


def test_a_patient_folder_of_loose_dicom_files_is_read_by_series(tmp_path):
    """``images/<MRN>/`` holding the CT slices and the RTSTRUCT side by side (no ``CT/``
    sub-folder), plus an RTPLAN-like object: read by series."""
    ex = make_export(tmp_path / "export", n=1, fmt="dicom")
    d = tmp_path / "export" / "images" / ex["idents"][0]["mrn"]
    for f in sorted((d / "CT").iterdir()):
        shutil.move(f, d / f"CT.1.3.12.{f.stem}")
    (d / "CT").rmdir()
    shutil.move(d / "RS.dcm", d / "RS.1.3.12.9")
    res, store = _run(tmp_path)
    assert res.n_included == 1, res.exclusions.to_dict("records")
    _check_planted(store, store.patient_ids()[0])


def test_folders_of_excluded_patients_are_not_taken_for_a_flat_layout(tmp_path):
    """A patient excluded before the images (no follow-up row) keeps its folder; a second
    patient has no images at all: its reason is "image folder not found", not a flat
    layout made of the excluded patient's files.

    Injected fault: only the valid patients' folders skipped when looking for loose
    files -> the reason reads "... (found a flat folder of DICOM files: 7 file(s), 1
    PatientID(s)) ..." (measured)."""
    ex = make_export(tmp_path / "export", n=3, fmt="dicom")
    mrns = [i["mrn"] for i in ex["idents"]]
    fu = tmp_path / "export" / "followup.csv"
    fu.write_text("\n".join(ln for ln in fu.read_text().splitlines()
                            if not ln.startswith(mrns[0])) + "\n")
    shutil.rmtree(tmp_path / "export" / "images" / mrns[1])
    res, _ = _run(tmp_path)
    assert res.n_included == 1
    why = dict(zip(res.exclusions["reason_code"], res.exclusions["reason"], strict=True))
    assert set(why) == {"no_followup", "no_images"}
    assert "not found" in why["no_images"] and "(found" not in why["no_images"]


def _flat_patient(images: Path, ident: dict, *, second_series: bool = False,
                  second_study: bool = False) -> np.ndarray:
    """One patient's files written flat into ``images/`` (``IM<k>``): a CT and its
    RTSTRUCT, plus a second CT series of the same study (HU + 7, not referenced), or a
    second CT + RTSTRUCT in another study. Returns the referenced CT's HU."""
    tmp = images.parent / f"tmp_{ident['mrn']}"
    ct = write_ct(tmp / "CT", ident=ident)
    write_rtstruct(tmp / "RS.dcm", ct, {r: box_contours(BOXES[r]) for r in BOXES},
                   ident=ident)
    if second_series:
        other = write_ct(tmp / "CT2", ident=ident, hu=ct["hu"] + 7)
        for f in other["files"]:  # the same study: another reconstruction
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID = ct["study_uid"]
            ds.save_as(f)
    if second_study:
        again = write_ct(tmp / "CT3", ident=ident)
        write_rtstruct(tmp / "RS3.dcm", again, {"GTV": box_contours(BOXES["GTV"])},
                       ident=ident)
    for k, f in enumerate(sorted(p for p in tmp.rglob("*") if p.is_file())):
        shutil.move(f, images / f"IM{ident['mrn']}{k:04d}")
    shutil.rmtree(tmp)
    return ct["hu"]


def test_a_flat_patient_uses_the_series_its_rtstruct_references(tmp_path):
    """Two CT series in the planning study (a second reconstruction, HU + 7): the one the
    RTSTRUCT references is stored, the other is left out with a note.

    Injected fault: every CT series of the study put in the view (references ignored)
    -> the CT reader's own series selection (issue 22) still stores the referenced
    series, but no note says another series was left out: the last assertion fails
    (measured; before that reader, the patient was excluded with "2 series mixed in one
    folder")."""
    ex = make_export(tmp_path / "export", n=1, fmt="dicom")
    ident = ex["idents"][0]
    images = tmp_path / "export" / "images"
    shutil.rmtree(images / ident["mrn"])
    hu = _flat_patient(images, ident, second_series=True)
    res, store = _run(tmp_path)
    assert res.n_included == 1, res.exclusions.to_dict("records")
    pid = store.patient_ids()[0]
    np.testing.assert_array_equal(store.read(pid, "ct"), hu)
    assert any("1 other image series (CT) left out" in w for w in res.warnings)


def test_two_planning_studies_of_a_flat_patient_are_refused(tmp_path):
    ex = make_export(tmp_path / "export", n=1, fmt="dicom")
    ident = ex["idents"][0]
    images = tmp_path / "export" / "images"
    shutil.rmtree(images / ident["mrn"])
    _flat_patient(images, ident, second_study=True)
    res, _ = _run(tmp_path)
    assert res.n_included == 0
    why = res.exclusions["reason"].iloc[0]
    assert "2 studies with an RTSTRUCT (flat folder)" in why, why
    assert ident["mrn"] not in why
