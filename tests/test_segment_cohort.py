"""predict_cohort writes stations_pred for every patient of a store and records a
patient whose inputs are broken as a failure (never dropped silently)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from analysis.grid import Grid
from analysis.params import load_params
from analysis.segment.checkpoint import save_checkpoint
from analysis.segment.infer import predict_cohort
from analysis.segment.networks import build_network
from analysis.segment.toy import make_toy_patient
from analysis.store import CohortStore

GRID = Grid((12, 24, 24), (5.0, 8.0, 8.0))


def test_predict_cohort_writes_every_patient_and_records_failures(tmp_path):
    torch.manual_seed(0)
    ck = tmp_path / "tiny.pt"
    seg_dump = {"target_spacing_mm": [5.0, 8.0, 8.0], "patch_zyx": [8, 16, 16],
                "num_res_units": 1}
    save_checkpoint(ck, build_network("diunet", (4, 8), num_res_units=1),
                    architecture="diunet", channels=(4, 8), segment_params=seg_dump, seed=0,
                    data_hash="x")
    store = CohortStore(tmp_path / "store")
    pids = ["P001", "P002", "P003"]
    store.write_table("cohort", pd.DataFrame(index=pd.Index(pids, name="pid")))
    for i, pid in enumerate(pids):
        p = make_toy_patient(i, GRID)
        store.write_meta(pid, {"grid": GRID.to_dict()})
        for name in ("ct", "gtv", "gtvnd"):
            store.write(pid, name, p[name], GRID)
    # P003's GTV lies on another grid: its inference must fail, by name
    other = Grid((12, 24, 23), GRID.spacing_mm)
    from analysis.io import write_nifti

    write_nifti(store.patient_dir("P003") / "gtv.nii.gz", np.zeros(other.shape_zyx, bool),
                other)
    params = load_params("params/ci.yaml")
    params = params.model_copy(update={"segment": params.segment.model_copy(
        update={"checkpoint": str(ck), "num_threads": 1})})
    res = predict_cohort(store, params, scheduler="serial")
    assert sorted(res.results) == ["P001", "P002"]
    assert list(res.failures) == ["P003"] and "gtv shape" in res.failures["P003"]
    for pid in ("P001", "P002"):
        pred = store.read(pid, "stations_pred")
        assert pred.shape == GRID.shape_zyx and pred.dtype == np.uint8
