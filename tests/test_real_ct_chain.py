"""A real chest CT through ingest, 02 and 03, and its station exports (issue 21, "Real
files"; issue 24.7, the one-CT command).

The CT and its GTV are real (tests/data/ibsi-lung-ct: a lung-cancer planning CT and the
RTSTRUCT that CERR wrote for it, ROI ``GTV-1``). A GTVnd and a CTV are drawn here and
appended to that RTSTRUCT, so that the department export is the real file plus two ROIs
whose voxels are known: the GTVnd a box of voxels, the CTV the union of GTV and GTVnd
dilated by 3 voxels in-plane and 1 slice. The phantom-trained model has never seen a real
CT: segmentation QC must flag it, 03 must leave it out (and compute it when told to keep
it), and the RTSTRUCT and DICOM-SEG of its predicted stations must read back voxel for
voxel, with pydicom (rasterised by analysis.io) and highdicom.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pydicom
import pytest
from _ingest_fixtures import CATEGORY_MAP, CLINICAL_HEADER, COLUMN_MAP, patient_row
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from scipy import ndimage

from analysis import paths
from analysis.ingest.run import run_ingest
from analysis.io import read_ct_series, read_nifti, read_rtstruct, write_nifti
from analysis.io.dicom_write import mask_contours
from analysis.params import parse_params
from analysis.partition import ledger_partition_table
from analysis.segment.__main__ import main as segment_main
from analysis.segment.export import labels_from_masks, read_stations_seg
from analysis.segment.export_cohort import analysed_patients, export_cohort
from analysis.segment.infer import predict_cohort
from analysis.segment.report import write_qc
from analysis.store import SEGMENT_QC, CohortStore

REAL = paths.REFERENCE_DATA_DIR / "ibsi-lung-ct" / "dicom"
MRN = "IBSI0001"
#: the drawn GTVnd: voxel box (z0, z1, y0, y1, x0, x1), inclusive, beside the tumour
GTVND_BOX = (25, 28, 120, 126, 150, 156)


def _append_roi(ds: Dataset, name: str, mask: np.ndarray, ct, itype: str) -> None:
    """Append ROI ``name`` (contours through boundary-pixel centres, as
    analysis.io.dicom_write writes them) to the RTSTRUCT dataset ``ds``."""
    number = max(int(r.ROINumber) for r in ds.StructureSetROISequence) + 1
    roi = Dataset()
    roi.ROINumber, roi.ROIName = number, name
    roi.ReferencedFrameOfReferenceUID = ct.frame_of_reference_uid
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence.append(roi)
    (oz, sz), (sy, sx) = (ct.grid.origin_mm[2], ct.grid.spacing_mm[0]), ct.grid.spacing_mm[1:]
    ox, oy = ct.grid.origin_mm[:2]
    contours = []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        for c in mask_contours(mask[k]):
            pts = np.column_stack([ox + c[:, 0] * sx, oy + c[:, 1] * sy,
                                   np.full(len(c), oz + k * sz)])
            item = Dataset()
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(pts)
            item.ContourData = [f"{v:.4f}" for v in pts.ravel()]
            contours.append(item)
    rc = Dataset()
    rc.ReferencedROINumber = number
    rc.ROIDisplayColor = [255, 255, 0]
    rc.ContourSequence = Sequence(contours)
    ds.ROIContourSequence.append(rc)
    obs = Dataset()
    obs.ObservationNumber, obs.ReferencedROINumber = number, number
    obs.RTROIInterpretedType, obs.ROIInterpreter = itype, ""
    ds.RTROIObservationsSequence.append(obs)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The department export (the real CT, its RTSTRUCT + GTVnd + CTV), ingested, with
    02's prediction and QC table written."""
    tmp = tmp_path_factory.mktemp("real")
    pdir = tmp / "export" / "images" / MRN
    shutil.copytree(REAL / "image", pdir / "CT")
    ct = read_ct_series(pdir / "CT")
    rs_file = REAL / "mask" / "DCM_RS_00060.dcm"
    gtv = read_rtstruct(rs_file, ct)["GTV-1"]
    gtvnd = np.zeros_like(gtv)
    z0, z1, y0, y1, x0, x1 = GTVND_BOX
    gtvnd[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = True
    ctv = ndimage.binary_dilation(gtv | gtvnd, np.ones((3, 7, 7), bool))
    ds = pydicom.dcmread(rs_file)
    _append_roi(ds, "GTVnd", gtvnd, ct, "GTV")
    _append_roi(ds, "CTV", ctv, ct, "CTV")
    ds.save_as(pdir / "RS.dcm")
    (tmp / "export" / "clinical.csv").write_text(
        f"{CLINICAL_HEADER}\n{patient_row(MRN, 'Lambin^Phantom', '1950-01-01')}\n")
    (tmp / "export" / "followup.csv").write_text(
        "MRN,RT_Start,LastFollowUp,LocalFailure,LocalFailureDate\n"
        f"{MRN},2019-03-04,2021-09-04,0,\n")
    params = parse_params({
        "run_name": "ibsi", "scheduler": "serial", "n_workers": 1,
        "cohort": {"source": "export", "export_dir": str(tmp / "export"), "center": "c1",
                   "column_map": COLUMN_MAP, "category_map": CATEGORY_MAP},
        "ingest": {"pseudonym_key_file": str(tmp / "key")}})
    res = run_ingest(CohortStore(tmp / "store"), params, progress=False)
    store = CohortStore(res.store_path)
    result = predict_cohort(store, params)
    write_qc(store, result)
    return {"tmp": tmp, "params": params, "store": store, "res": res, "dept": pdir,
            "gtv": gtv, "gtvnd": gtvnd, "ctv": ctv, "ct": ct}


def test_ingest_reads_the_real_ct_and_its_own_rtstruct(real):
    """The stored structures are the planted masks voxel for voxel; the GTV is CERR's."""
    res, store = real["res"], real["store"]
    assert res.n_included == 1, res.exclusions.to_dict("records")
    pid = store.patient_ids()[0]
    assert store.grid(pid).shape_zyx == (60, 201, 204)
    for name in ("gtv", "gtvnd", "ctv"):
        assert (store.read(pid, name) == real[name]).all(), name
    assert int(real["gtv"].sum()) > 100_000  # CERR's GTV-1, not an empty stand-in
    np.testing.assert_array_equal(store.read(pid, "ct"), real["ct"].hu)


def test_qc_flags_the_real_ct_and_03_leaves_it_out(real):
    """The phantom-trained model on a real CT: flagged, with the training command; 03
    leaves it out, and computes its 110 parameters when told to keep it.

    Injected fault: check_prediction returning ``usable=True`` whatever its reasons ->
    the first assertion fails (usable True; measured), and 03 would analyse the
    patient."""
    store, params = real["store"], real["params"]
    pid = store.patient_ids()[0]
    qc = store.read_table(SEGMENT_QC)
    assert not bool(qc.loc[pid, "usable"])
    assert "phantom_model" in qc.loc[pid, "reason_codes"].split()
    assert "segment.train_source: store" in qc.loc[pid, "reasons"]
    table = ledger_partition_table(store, params, cache=False, write=False)
    assert list(table.excluded.index) == [pid] and table.features.empty
    assert analysed_patients(store, params) == []
    kept = params.model_copy(update={"analysis": params.analysis.model_copy(
        update={"include_qc_failed": True})})
    table = ledger_partition_table(store, kept, cache=False, write=False)
    assert list(table.features.index) == [pid] and table.features.shape[1] == 110
    # the paper's volumes are voxel counts (SPEC): the drawn masks' counts
    assert table.features.loc[pid, "CTV_volume"] == int(real["ctv"].sum())
    assert table.features.loc[pid, "GTVnd_volume"] == int(real["gtvnd"].sum())


def test_exports_of_the_real_ct_read_back_voxel_for_voxel(real):
    """Exported on the department's own series (its UIDs, CT files untouched): the
    RTSTRUCT (pydicom) and the SEG (highdicom) give the predicted stations back."""
    store, params = real["store"], real["params"]
    pid = store.patient_ids()[0]
    pred = store.read(pid, "stations_pred")
    assert int((pred > 0).sum()) > 0
    out = real["tmp"] / "exports"
    assert export_cohort(store, params, out).empty  # flagged: not analysed
    table = export_cohort(store, params, out, patients=[pid])
    assert table.loc[0, "status"] == "written" and table.loc[0, "frame"] == "department CT"
    ct = read_ct_series(real["dept"] / "CT")
    rs = read_rtstruct(out / pid / "RS_stations.dcm", ct)
    assert int((labels_from_masks(rs, ct.grid.shape_zyx) != pred).sum()) == 0
    seg = read_stations_seg(out / pid / "SEG_stations.dcm", list(ct.sop_uids))
    assert int((seg != pred).sum()) == 0
    ref = pydicom.dcmread(out / pid / "SEG_stations.dcm")
    assert ref.FrameOfReferenceUID == ct.frame_of_reference_uid
    assert pydicom.dcmread(ct.files[0]).Manufacturer == "CMS, Inc."  # the department's


def test_one_ct_command_on_the_dicom_series(real):
    """``python -m analysis.segment predict --ct <DICOM folder> --gtv <RTSTRUCT>``: the
    maps, the QC verdict (flagged) and exports that read back voxel for voxel; the same
    prediction as 02's (the model's input is GTV ∪ GTVnd of the RTSTRUCT in both)."""
    out = real["tmp"] / "one_dicom"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(paths.REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "analysis.segment", "predict", "--ct",
                          str(real["dept"] / "CT"), "--gtv", str(real["dept"] / "RS.dcm"),
                          "--out", str(out), "--pid", "P_ONE"], cwd=paths.REPO_ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "QC: flagged" in run.stdout, run.stdout
    qc = pd.read_json(out / "qc.json", typ="series")
    assert not bool(qc["usable"]) and "phantom_model" in qc["codes"]
    pred, _ = read_nifti(out / "stations_pred.nii.gz")
    store = real["store"]
    assert (pred == store.read(store.patient_ids()[0], "stations_pred")).all()
    ct = read_ct_series(real["dept"] / "CT")
    rs = read_rtstruct(out / "RS_stations.dcm", ct)
    assert int((labels_from_masks(rs, ct.grid.shape_zyx) != pred).sum()) == 0
    seg = read_stations_seg(out / "SEG_stations.dcm", list(ct.sop_uids))
    assert int((seg != pred).sum()) == 0
    assert (out / "stations_pred_ColorTable.ctbl").is_file()


def test_one_ct_command_on_nifti(real, capsys):
    """The same CT as NIfTI (+ GTV and GTVnd masks): the exports reference a
    pseudonymous CT copy written beside them, and read back voxel for voxel."""
    d = real["tmp"] / "nifti_in"
    d.mkdir()
    grid = real["ct"].grid
    write_nifti(d / "CT.nii.gz", real["ct"].hu, grid)
    write_nifti(d / "GTV.nii.gz", real["gtv"].astype(np.uint8), grid)
    write_nifti(d / "GTVnd.nii.gz", real["gtvnd"].astype(np.uint8), grid)
    out = real["tmp"] / "one_nifti"
    assert segment_main(["predict", "--ct", str(d / "CT.nii.gz"), "--gtv",
                         str(d / "GTV.nii.gz"), "--gtvnd", str(d / "GTVnd.nii.gz"),
                         "--out", str(out)]) == 0
    assert "QC: flagged" in capsys.readouterr().out
    pred, _ = read_nifti(out / "stations_pred.nii.gz")
    assert int((pred > 0).sum()) > 0
    ct = read_ct_series(out / "CT")
    assert pydicom.dcmread(ct.files[0]).Manufacturer == ""
    rs = read_rtstruct(out / "RS_stations.dcm", ct)
    assert int((labels_from_masks(rs, ct.grid.shape_zyx) != pred).sum()) == 0
    seg = read_stations_seg(out / "SEG_stations.dcm", list(ct.sop_uids))
    assert int((seg != pred).sum()) == 0
