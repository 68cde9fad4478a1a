"""The domain check: rules against hand-made statistics, then the shipped DiUNet on
ordinary phantom patients (pass) and on two CTs unlike its training data (flagged)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.grid import Grid
from analysis.labels import STATION_LABEL, STATIONS
from analysis.params import load_params
from analysis.phantom import make_patient as phantom_make_patient
from analysis.segment.checkpoint import load_checkpoint
from analysis.segment.infer import predict_stations
from analysis.segment.qc import TRAIN_COMMAND, check_prediction, training_statistics
from analysis.store import SEGMENT_QC

SMALL = Grid((10, 20, 20), (2.0, 2.0, 2.0))


def _labels_with_cubes(side: dict[str, int]) -> np.ndarray:
    """Station s as a cube of side[s] voxels, each in its own corner of the grid."""
    lab = np.zeros(SMALL.shape_zyx, dtype=np.uint8)
    for i, (s, n) in enumerate(side.items()):
        y, x = divmod(i, 4)
        lab[0:n, 5 * y:5 * y + n, 5 * x:5 * x + n] = STATION_LABEL[s]
    return lab


def test_rules_against_hand_made_statistics():
    """Training: 3 patients, every station a 2-voxel cube (8 voxels x 8 mm^3 = 0.064 ml).

    Injected fault (once, by hand): ``len(missing) >= MAX_MISSING`` instead of ``>`` -> one
    missing station (7) already makes the prediction unusable: the test fails there.
    """
    ct = np.full(SMALL.shape_zyx, -90, dtype=np.int16)
    ct[:, :, 18:] = -850  # a strip of "lung"
    train = [{"ct": ct, "label": _labels_with_cubes({s: 2 for s in STATIONS}),
              "spacing_mm": SMALL.spacing_mm} for _ in range(3)]
    stats = training_statistics(train)
    assert stats["station_volume_ml"]["7"]["mean"] == pytest.approx(0.064)  # 8 x 8 mm^3
    assert stats["station_volume_ml"]["7"]["frac_present"] == 1.0
    ck = {"metrics": {"training_stats": stats, "train_source": "store"}}
    same = check_prediction(train[0]["label"], ct, SMALL, ck)
    assert same.usable, same.reasons
    assert same.stations_found == 16 and same.missing_stations == []
    assert same.unchecked == ["softmax confidence (not passed)"]
    # two stations missing -> unusable; one missing -> still usable (MAX_MISSING = 1)
    lab = train[0]["label"].copy()
    lab[lab == STATION_LABEL["7"]] = 0
    assert check_prediction(lab, ct, SMALL, ck).usable
    lab[lab == STATION_LABEL["4R"]] = 0
    q = check_prediction(lab, ct, SMALL, ck)
    assert not q.usable and q.missing_stations == ["4R", "7"]
    # three stations 8 x the training volume (4^3 vs 2^3 voxels) -> volume outliers
    big = _labels_with_cubes({s: (4 if s in ("1R", "1L", "2R") else 2) for s in STATIONS})
    q = check_prediction(big, ct, SMALL, ck)
    assert not q.usable and q.volume_outliers == ["1R", "1L", "2R"]
    # no statistics (an old checkpoint): nothing silently passed
    q = check_prediction(train[0]["label"], ct, SMALL, {"metrics": {}})
    assert q.usable and "training statistics" in q.unchecked[0]
    # confidence far below the training minimum -> unusable
    ck["metrics"]["training_stats"]["confidence"] = {"n": 5, "mean": 0.9, "sd": 0.01,
                                                      "min": 0.88}
    assert not check_prediction(train[0]["label"], ct, SMALL, ck, confidence=0.7).usable
    assert check_prediction(train[0]["label"], ct, SMALL, ck, confidence=0.87).usable


@pytest.fixture(scope="module")
def shipped():
    torch.set_num_threads(1)
    params = load_params("params/ci.yaml")
    params = params.model_copy(update={"segment": params.segment.model_copy(
        update={"num_threads": 1, "device": "cpu"})})
    return params, load_checkpoint("models/diunet_default.pt")


def _qc(ct, gtv, gtvnd, grid, shipped):
    params, ck = shipped
    lab, conf = predict_stations(ct, gtv, grid, ck, params, gtvnd=gtvnd,
                                 return_confidence=True)
    return check_prediction(lab, ct, grid, ck, confidence=conf)


def test_shipped_model_passes_phantom_patients_and_flags_foreign_cts(shipped):
    """Phantom patients of other seeds pass. Two foreign CTs fail, with reasons:

    * the mediastinum around the stations replaced by soft tissue (40 HU): measured
      station HU median 39 vs the training range [-90, -86];
    * the lowest 14 slices only (upper abdomen, 70 mm): 14 expected stations missing,
      lung volume 822 ml vs >= 3011 ml, confidence 0.77 vs >= 0.89.

    Injected fault (once, by hand): ``IMAGE_FEATURES = ("lung_volume_ml",)`` (the
    station HU only warns) -> the soft-tissue CT passes (usable True): the test fails.
    """
    from scipy import ndimage

    assert load_checkpoint("models/diunet_default.pt").metrics.get("training_stats")
    make_patient = phantom_make_patient
    grid = Grid((48, 96, 96), (5.0, 4.0, 4.0))
    for i in range(2):
        p = make_patient(np.random.default_rng([99, i]), grid)
        q = _qc(p["ct"], p["gtv"], p["gtvnd"], grid, shipped)
        assert q.usable, q.reasons
        assert q.stations_found == 16
        assert q.notes == ["this model was trained on synthetic phantoms only"]
    p = make_patient(np.random.default_rng([99, 0]), grid)
    ct = p["ct"].copy()
    around = ndimage.binary_dilation(p["stations"] > 0, iterations=3)
    soft = around & (ct > -400) & (ct < 200)
    ct[soft] = (40 + np.random.default_rng(0).normal(0, 10, soft.sum())).astype(np.int16)
    q = _qc(ct, p["gtv"], p["gtvnd"], grid, shipped)
    assert not q.usable
    assert any(r.startswith("station_hu_median") for r in q.reasons), q.reasons
    assert TRAIN_COMMAND in q.reasons[-1] and "synthetic phantoms" in q.reasons[-1]
    crop = Grid((14, 96, 96), grid.spacing_mm)
    q = _qc(p["ct"][:14], p["gtv"][:14], p["gtvnd"][:14], crop, shipped)
    assert not q.usable
    assert len(q.missing_stations) >= 10
    assert any(r.startswith("lung_volume_ml") for r in q.reasons), q.reasons
    row = q.as_row()
    assert row["usable"] is False and "lung_volume_ml" in row["reasons"]


def test_write_qc_table_for_the_store(tmp_path):
    """The store table segment_qc: index pid, usable bool, reasons str; the report's copy
    is numbered without identifiers; counts by reason code."""
    from types import SimpleNamespace

    import pandas as pd

    from analysis.segment.report import qc_summary, write_qc
    from analysis.store import CohortStore

    store = CohortStore(tmp_path)
    store.write_table("cohort", pd.DataFrame(index=pd.Index(["P1", "P2", "P3"], name="pid")))
    rows = {"P1": {"usable": True, "reasons": "", "reason_codes": "", "confidence": 0.9},
            "P3": {"usable": False, "reasons": "a; b", "reason_codes": "lung_volume_ml "
                   "phantom_model", "confidence": 0.7}}
    res = SimpleNamespace(results={k: {"qc": v} for k, v in rows.items()},
                          failures={"P2": "boom"})
    shown = write_qc(store, res)
    t = store.read_table(SEGMENT_QC)
    assert t.index.tolist() == ["P1", "P3"] and t["usable"].dtype == bool
    assert t.loc["P3", "reasons"] == "a; b"
    assert shown.index.tolist() == [1, 2] and "P1" not in shown.to_string()
    s = qc_summary(shown)["n"]
    assert s["usable"] == 1 and s["reason: lung_volume_ml"] == 1
    empty = write_qc(store, SimpleNamespace(results={}, failures={}))
    assert empty.empty and store.read_table(SEGMENT_QC).empty


def _definition_of_counts_and_features(lab, ct, spacing):
    """The check's numbers as first written: whole-volume bincount, the HU inside the
    stations read from the whole volume."""
    from scipy import ndimage

    from analysis.segment.transforms import LUNG_HU, coarse_body

    counts = np.bincount(lab.ravel(), minlength=17)
    comps = {STATIONS[k - 1]: int(ndimage.label(lab[b] == k, structure=np.ones((3, 3, 3)))[1])
             for k, b in enumerate(ndimage.find_objects(lab, max_label=16), start=1)
             if b is not None}
    sp = np.asarray(spacing, dtype=float)
    small, body, step = coarse_body(ct, sp, 4.0)
    inside = ct[lab > 0].astype(float)
    image = {"fov_z_mm": float(ct.shape[0] * sp[0]), "fov_y_mm": float(ct.shape[1] * sp[1]),
             "fov_x_mm": float(ct.shape[2] * sp[2]),
             "lung_volume_ml": float((body & (small < LUNG_HU)).sum() * np.prod(sp * step)
                                     / 1000.0),
             "body_hu_median": float(np.median(small[body])) if body.any() else float("nan"),
             "station_hu_median": float(np.median(inside)) if inside.size else float("nan")}
    return counts, comps, image


def test_check_prediction_counts_and_features_equal_the_whole_volume_definition():
    """Counts, components and the station HU are taken inside the stations' boxes; they
    equal the whole-volume definition, also with a label outside 1..16 (counted in the HU
    median, not as a station) and with no station at all."""
    make_patient = phantom_make_patient
    grid = Grid((30, 80, 80), (5.0, 4.0, 4.0))
    p = make_patient(np.random.default_rng([7, 1]), grid)
    lab = p["stations"].astype(np.uint8)
    lab[2, 3, 4] = lab[29, 79, 79] = STATION_LABEL["5"]  # station 5 in 3+ pieces, corners
    odd = lab.copy()
    odd[0:2, 0:30, 0:30] = 17                  # outside every station's box
    rng = np.random.default_rng(5)
    ct = p["ct"] + rng.integers(-30, 30, size=p["ct"].shape).astype(np.int16)
    for labels in (lab, odd, np.zeros_like(lab)):
        q = check_prediction(labels, ct, grid, {"metrics": {}})
        counts, comps, image = _definition_of_counts_and_features(labels, ct, grid.spacing_mm)
        vox_ml = float(np.prod(grid.spacing_mm)) / 1000.0
        assert q.volume_ml == {s: float(counts[k] * vox_ml) for k, s in
                               enumerate(STATIONS, start=1)}
        assert q.stations_found == int((counts[1:17] > 0).sum())
        assert q.components == comps
        assert list(q.image) == list(image)
        np.testing.assert_array_equal(list(q.image.values()), list(image.values()))
    assert check_prediction(lab, ct, grid, {"metrics": {}}).components["5"] >= 3
    hu = [check_prediction(x, ct, grid, {"metrics": {}}).image["station_hu_median"]
          for x in (lab, odd)]
    assert hu[0] != hu[1]  # the label 17 counts in the station HU


def test_phantom_model_on_another_cohort_is_unusable_unless_accepted():
    """Issue 21 item 4: the domain check is unconditional. A prediction that passes every
    other rule (the training patient itself) from a phantom-trained model is usable on the
    phantom, unusable on any other cohort (code phantom_model, with the training command),
    and kept with the same reason as a warning under segment.accept_phantom_model.
    Injected fault (once, by hand): the old condition ``if reasons:`` alone -> the
    prediction on the other cohort is usable (usable=True), so the test fails there."""
    ct = np.full(SMALL.shape_zyx, -90, dtype=np.int16)
    ct[:, :, 18:] = -850
    lab = _labels_with_cubes({s: 2 for s in STATIONS})
    stats = training_statistics([{"ct": ct, "label": lab, "spacing_mm": SMALL.spacing_mm}
                                 for _ in range(3)])
    ck = {"metrics": {"training_stats": stats, "train_source": "phantom"}}
    assert check_prediction(lab, ct, SMALL, ck, on_phantom=True).usable
    other = check_prediction(lab, ct, SMALL, ck, on_phantom=False)
    assert not other.usable and other.codes == ["phantom_model"]
    assert TRAIN_COMMAND in other.reasons[0] and "accept_phantom_model" in other.reasons[0]
    kept = check_prediction(lab, ct, SMALL, ck, on_phantom=False, accept_phantom_model=True)
    assert kept.usable and kept.codes == []
    assert any(TRAIN_COMMAND in w and "accept_phantom_model" in w for w in kept.warnings)
    # a store-trained model is not concerned
    ck["metrics"]["train_source"] = "store"
    assert check_prediction(lab, ct, SMALL, ck, on_phantom=False).usable
