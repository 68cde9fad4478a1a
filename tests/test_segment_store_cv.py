"""Training on a cohort store built from a DICOM export whose RTSTRUCTs carry the station
ROIs (``LN_<station>``, as the phantom's export writes them and ingest reads them), with
2-fold cross-validation: out-of-fold predictions land in ``stations_cv``, the patient
without reference stations is listed and skipped, and the model card lists per-fold Dice
that agree with the stored out-of-fold maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.grid import Grid
from analysis.io import read_ct_series, read_rtstruct, read_rtstruct_labels
from analysis.io.dicom_write import write_ct_series, write_rtstruct
from analysis.labels import STATION_LABEL, STATIONS
from analysis.params import load_params
from analysis.segment.checkpoint import load_checkpoint, read_sidecar
from analysis.segment.cv import fold_assignment
from analysis.segment.metrics import dice
from analysis.segment.toy import make_toy_patient
from analysis.segment.train import train
from analysis.store import CohortStore

GRID = Grid((16, 32, 32), (5.0, 8.0, 8.0), (-128.0, -128.0, -40.0))


def _export_patient(folder, i: int, with_stations: bool) -> None:
    p = make_toy_patient(100 + i, GRID)
    ids = {"PatientName": f"Toy^{i}", "PatientID": f"T{i}"}
    write_ct_series(p["ct"], GRID, folder / "CT", patient=ids, study_uid=f"1.2.3.{i}.1",
                    series_uid=f"1.2.3.{i}.2", frame_of_reference_uid=f"1.2.3.{i}.3",
                    uid_seed=f"toy{i}")
    masks = {"GTV": p["gtv"], "GTVnd": p["gtvnd"] | False, "CTV": p["ctv"]}
    if with_stations:
        masks |= {f"LN_{s}": p["stations"] == STATION_LABEL[s] for s in STATIONS}
    write_rtstruct(masks, folder / "CT", folder / "RS.dcm", uid_seed=f"toy{i}")


def _store_from_export(export, store: CohortStore, pids: list[str]) -> None:
    """What ingest does for a DICOM patient: CT, GTV / GTVnd from their ROIs, and the
    LN_<station> ROIs painted into one station map (analysis.io readers)."""
    store.write_table("cohort", pd.DataFrame(index=pd.Index(pids, name="pid")))
    for pid in pids:
        d = export / pid
        ct = read_ct_series(d / "CT", patient=pid)
        masks = read_rtstruct(d / "RS.dcm", ct, roi_names=["GTV", "GTVnd"], patient=pid)
        store.write_meta(pid, {"grid": ct.grid.to_dict()})
        store.write(pid, "ct", ct.hu, ct.grid)
        store.write(pid, "gtv", masks["GTV"], ct.grid)
        store.write(pid, "gtvnd", masks["GTVnd"], ct.grid)
        from analysis.io import rtstruct_roi_names

        ln = {n: STATION_LABEL[n[3:]] for n in rtstruct_roi_names(d / "RS.dcm")
              if n.startswith("LN_")}
        if ln:
            store.write(pid, "stations_ref", read_rtstruct_labels(d / "RS.dcm", ct, ln), ct.grid)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("store_cv")
    pids = [f"P{i:03d}" for i in range(6)]
    for i, pid in enumerate(pids):
        _export_patient(tmp / "export" / pid, i, with_stations=i != 5)
    store = CohortStore(tmp / "store")
    _store_from_export(tmp / "export", store, pids)
    p = load_params("params/ci.yaml")
    seg = p.segment.model_copy(update={
        "patch_zyx": (16, 32, 32), "channels": (4, 8, 16), "val_every": 1, "num_threads": 1,
        "batch_size": 2, "target_spacing_mm": (5.0, 8.0, 8.0), "affine_prob": 0.0,
        "train_source": "store", "cv_folds": 2, "checkpoint": str(tmp / "dept.pt"),
        "min_island_mm3": 0.0, "device": "cpu"})
    params = p.model_copy(update={"segment": seg, "scheduler": "serial"})
    metrics = train(params, store=store, max_epochs=2, log=lambda s: None)
    return {"store": store, "pids": pids, "metrics": metrics, "ck": tmp / "dept.pt",
            "params": params}


def test_fold_assignment_is_a_balanced_partition():
    """n = 5, k = 2: every patient in exactly one fold, sizes 3 and 2 (by hand)."""
    f = fold_assignment(5, 2, seed=7)
    assert sorted(np.bincount(f).tolist()) == [2, 3]
    assert set(f.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="cv_folds"):
        fold_assignment(3, 4, seed=7)


def test_store_training_skips_the_patient_without_reference_stations(trained):
    m = trained["metrics"]
    assert m["skipped_pids"] == ["P005"]
    assert m["n_store_patients"] == 5 and m["n_skipped_no_reference"] == 1
    assert m["train_source"] == "store"
    ck = load_checkpoint(trained["ck"])
    assert ck.metrics["training_stats"]["n_patients"] == 5
    assert ck.segment_params["ct_norm"]["kind"] == "window"


def test_out_of_fold_predictions_are_written_and_match_the_card(trained):
    """Per-fold mean Dice of station 7 recomputed from the stored ``stations_cv`` maps
    equals the card's per-fold values.

    Injected fault (once, by hand): ``_score`` writing ``np.zeros_like(pred)`` as
    stations_cv -> station 7: recomputed fold Dice 0.0 / 0.0 vs the card's 0.0058 / 0.0049
    (2 epochs on toys): the test fails.
    """
    store, pids = trained["store"], trained["pids"]
    assert not store.has("P005", "stations_cv")
    cv = trained["metrics"]["cv"]
    assert cv["folds"] == [0, 1] and cv["n_patients"] == 5
    folds = fold_assignment(5, 2, trained["params"].seed)
    for st in ("7", "4R"):
        k = STATION_LABEL[st]
        per_fold = {0: [], 1: []}
        for i, pid in enumerate(pids[:5]):
            pred = store.read(pid, "stations_cv")
            assert pred.shape == GRID.shape_zyx and pred.dtype == np.uint8
            per_fold[int(folds[i])].append(dice(pred == k, store.read(pid, "stations_ref") == k))
        want = [float(np.nanmean(per_fold[f])) if not np.all(np.isnan(per_fold[f]))
                else float("nan") for f in (0, 1)]
        # same voxels, same formula: equal to float precision
        np.testing.assert_allclose(cv["per_station"][st]["dice_folds"], want, atol=1e-9)
    card = trained["ck"].with_suffix(".md").read_text()
    assert "dice_fold1" in card and "dice_fold2" in card and "DeepStationing" in card
    assert "2-fold cross-validation" in card
    assert read_sidecar(trained["ck"])["metrics"]["cv"]["folds"] == [0, 1]
