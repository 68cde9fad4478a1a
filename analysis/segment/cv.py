"""Training on a cohort store's own delineations, with k-fold cross-validation.

``segment.train_source: store``: the patients of the cohort store that have reference
stations (``stations_ref``, from RTSTRUCT ROIs ``LN_<station>`` or ``stations.nii.gz``)
are the training data, each read on its own CT grid and resampled to the model's spacing
(``segment.target_spacing_mm``, or the median spacing of the patients with
``segment.target_spacing_from_data``). Patients without reference stations are listed
(log and return value) and skipped.

``segment.cv_folds = k``: the patients are split into k disjoint folds (a permutation
seeded by ``params.seed``; fold sizes differ by at most one). For each fold a model is
trained on the other folds (their last ``val_fraction`` validates) and predicts the
fold's patients on their own grids through the full inference pipeline; the prediction
is written to the store volume ``stations_cv`` and scored against ``stations_ref``
(Dice, HD95 mm). The checkpoint saved is then trained on all patients; its metrics hold
the cross-validated per-station Dice / HD95 (mean and SD over patients, and each fold's
mean) under ``metrics["cv"]``, which the model card and 02_segment report. Without
``cv_folds``, the card reports the validation patients' metrics (used for model choice:
optimistic).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from analysis.grid import Grid
from analysis.labels import N_CLASSES, STATIONS
from analysis.segment.card import write_model_card
from analysis.segment.checkpoint import Checkpoint, save_checkpoint
from analysis.segment.data import data_hash, median_spacing, store_patients
from analysis.segment.fit import (
    checkpoint_params,
    ct_normalisation,
    fit,
    model_space,
    summarise_metrics,
)
from analysis.segment.infer import predict_stations
from analysis.segment.metrics import station_metrics
from analysis.segment.qc import confidence_stats, training_statistics
from analysis.store import CohortStore


def fold_assignment(n: int, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) of each of ``n`` patients: a seeded permutation dealt round
    robin, so fold sizes differ by at most one. Example: n = 5, k = 2 -> sizes 3 and 2."""
    if k < 2 or k > n:
        raise ValueError(f"segment.cv_folds = {k}: needs 2 <= k <= {n} patients with "
                         "reference stations")
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 3])).permutation(n)
    folds = np.empty(n, dtype=int)
    folds[perm] = np.arange(n) % k
    return folds


def _split_val(pts: list, val_fraction: float) -> tuple[list, list]:
    if len(pts) < 2:
        return pts, pts
    n_val = min(len(pts) - 1, max(1, int(round(val_fraction * len(pts)))))
    return pts[:-n_val], pts[-n_val:]


def cv_summary(long: pd.DataFrame) -> dict:
    """Per station: Dice and HD95 mean / SD over patients and each fold's mean; plus the
    mean over stations (overall and per fold; its SD is over patients of each patient's
    mean over stations). ``long``: patient, fold, station, dice, hd95_mm."""
    folds = sorted(int(f) for f in long["fold"].unique())
    out: dict = {"folds": folds, "n_patients": int(long["patient"].nunique()),
                 "per_station": {}}
    for st in STATIONS:
        s = long[long["station"] == st]
        by = s.groupby("fold")
        out["per_station"][st] = {
            "dice_mean": float(s["dice"].mean()), "dice_sd": float(s["dice"].std()),
            "dice_folds": [float(by["dice"].mean().get(f, np.nan)) for f in folds],
            "hd95_mm_mean": float(s["hd95_mm"].mean()),
            "hd95_mm_sd": float(s["hd95_mm"].std()),
            "hd95_mm_folds": [float(by["hd95_mm"].mean().get(f, np.nan)) for f in folds],
            "n": int(s["dice"].notna().sum())}
    ps = out["per_station"]
    per_pt = long.groupby("patient")[["dice", "hd95_mm"]].mean()  # mean over stations
    out["mean_over_stations"] = {
        "dice_mean": float(np.nanmean([ps[s]["dice_mean"] for s in STATIONS])),
        "dice_sd": float(per_pt["dice"].std()),
        "hd95_mm_mean": float(np.nanmean([ps[s]["hd95_mm_mean"] for s in STATIONS])),
        "hd95_mm_sd": float(per_pt["hd95_mm"].std()),
        "dice_folds": [float(np.nanmean([ps[s]["dice_folds"][i] for s in STATIONS]))
                       for i in range(len(folds))],
        "hd95_mm_folds": [float(np.nanmean([ps[s]["hd95_mm_folds"][i] for s in STATIONS]))
                          for i in range(len(folds))]}
    return out


def _score(ck: Checkpoint, pts: Sequence[dict], pids: Sequence[str], params, store,
           fold: int | None, write: bool, confs: list[float]) -> list[pd.DataFrame]:
    rows = []
    for p, pid in zip(pts, pids, strict=True):
        grid = store.grid(pid) if store is not None else Grid(p["ct"].shape, p["spacing_mm"])
        pred, conf = predict_stations(p["ct"], p["mask"], grid, ck, params, patient=pid,
                                      return_confidence=True)
        confs.append(conf)
        if write:
            store.write(pid, "stations_cv", pred, grid)
        m = station_metrics(pred, p["label"], grid.spacing_mm).reset_index()
        m.insert(0, "fold", fold if fold is not None else -1)
        m.insert(0, "pid", pid)
        rows.append(m)
    return rows


def train_from_store(params, architecture: str, out: Path, *, store=None, max_epochs: int,
                     max_minutes: float, log: Callable[[str], None] = print) -> dict:
    """Train on the store's delineated patients (k-fold CV first when ``cv_folds``) and save
    the checkpoint at ``out``; returns its metrics (plus ``skipped_pids``, not saved)."""
    seg = params.segment
    store = store or CohortStore.for_params(params)
    raw, pids, skipped = store_patients(store)
    if skipped:
        log(f"[train] {len(skipped)} patients without reference stations skipped: "
            f"{', '.join(skipped)}")
    if len(raw) < 2:
        raise ValueError(f"{store.root}: {len(raw)} patients with reference stations "
                         "(stations_ref); store training needs at least 2")
    target = median_spacing(raw) if seg.target_spacing_from_data else seg.target_spacing_mm
    dhash = data_hash(raw)
    log(f"[train] {architecture} on {len(raw)} store patients at {target} mm, "
        f"data {dhash[:12]}")
    t0 = time.perf_counter()
    confs: list[float] = []
    cv = None
    if seg.cv_folds:
        folds = fold_assignment(len(raw), seg.cv_folds, params.seed)
        frames = []
        for f in tqdm(range(seg.cv_folds), desc="cv folds"):
            tr = [i for i in range(len(raw)) if folds[i] != f]
            te = [i for i in range(len(raw)) if folds[i] == f]
            tr_raw = [raw[i] for i in tr]
            fit_tr, fit_val = _split_val(model_space(tr_raw, target), seg.val_fraction)
            norm = ct_normalisation(seg, fit_tr)
            res = fit(fit_tr, fit_val, params, architecture, norm=norm, max_epochs=max_epochs,
                      max_minutes=max_minutes, log=log, desc=f" fold {f + 1}/{seg.cv_folds}")
            ck = Checkpoint(network=res.network, architecture=architecture,
                            channels=tuple(seg.channels), n_classes=N_CLASSES,
                            segment_params=checkpoint_params(seg, norm, target),
                            seed=params.seed, data_hash=dhash)
            frames += _score(ck, [raw[i] for i in te], [pids[i] for i in te], params, store,
                             f, True, confs)
        long = pd.concat(frames, ignore_index=True)
        long["patient"] = long["pid"].map({p: i for i, p in enumerate(pids, start=1)})
        cv = cv_summary(long.drop(columns="pid"))
        log(f"[train] {seg.cv_folds}-fold CV: mean Dice "
            f"{cv['mean_over_stations']['dice_mean']:.3f} (folds "
            f"{', '.join(f'{v:.3f}' for v in cv['mean_over_stations']['dice_folds'])})")
    all_model = model_space(raw, target)
    fit_tr, fit_val = _split_val(all_model, seg.val_fraction)
    norm = ct_normalisation(seg, fit_tr)
    res = fit(fit_tr, fit_val, params, architecture, norm=norm, max_epochs=max_epochs,
              max_minutes=max_minutes, log=log, desc=" all patients")
    seg_dump = checkpoint_params(seg, norm, target)
    ck = Checkpoint(network=res.network, architecture=architecture,
                    channels=tuple(seg.channels), n_classes=N_CLASSES,
                    segment_params=seg_dump, seed=params.seed, data_hash=dhash)
    n_fit = len(fit_tr)
    val_pids = pids[n_fit:] if len(all_model) >= 2 else pids
    val_rows = _score(ck, raw[n_fit:] if len(all_model) >= 2 else raw, val_pids, params,
                      store, None, False, [] if cv else confs)
    val_long = pd.concat(val_rows, ignore_index=True)
    stats = training_statistics(raw)
    stats["confidence"] = confidence_stats(confs)
    metrics = {**res.metrics, "train_source": "store", "n_store_patients": len(raw),
               "n_skipped_no_reference": len(skipped), "target_spacing_mm": list(target),
               "total_seconds": time.perf_counter() - t0, "training_stats": stats,
               "heldout": cv["per_station"] | {"mean_over_stations":
                                               cv["mean_over_stations"]}
               if cv else summarise_metrics(val_long),
               "heldout_kind": f"{seg.cv_folds}-fold cross-validation (out-of-fold)"
               if cv else "validation patients (also used for model choice: optimistic)",
               "heldout_n_patients": len(raw) if cv else len(val_pids)}
    if cv:
        metrics["cv"] = cv
    save_checkpoint(out, ck.network, architecture=architecture, channels=tuple(seg.channels),
                    segment_params=seg_dump, seed=params.seed, data_hash=dhash,
                    metrics=metrics)
    log(f"[train] saved {out}; model card {write_model_card(params, checkpoint=out)}")
    return {**metrics, "skipped_pids": list(skipped)}
