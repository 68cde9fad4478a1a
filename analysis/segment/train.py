"""Train a station segmentation network: ``make train PARAMS=...``.

``python -m analysis.phantom.segmentation train --params params/default.yaml [--architecture A]``
(``make train``: the phantom supplies the patients for ``train_source: phantom``; for
``train_source: store``, ``python -m analysis.segment.train`` alone also works)

* data (``segment.train_source``): ``phantom``: ``segment.n_train_patients`` phantom
  patients generated in memory (:mod:`analysis.segment.data`), the last ``val_fraction``
  of them for validation, cached under ``data/cache/segment/`` keyed by the seed, the
  grid and the phantom code; ``store``: the cohort store's patients with reference
  stations on their own grids (:mod:`analysis.segment.cv`, with optional k-fold
  cross-validation, ``segment.cv_folds``); ``segment.init_checkpoint`` fine-tunes;
* device (``segment.device``): CUDA with automatic mixed precision when there is one,
  else the CPU; the checkpoint records which;
* loss: Dice (stations only, batch-wise) + cross-entropy (all 17 classes), MONAI
  ``DiceCELoss``;
* optimiser: Adam, cosine learning-rate decay over ``max_epochs``;
* validation every ``val_every`` epochs: mean station Dice on the validation patients
  (sliding window, as at inference); the best epoch's weights are kept; early stopping
  after ``early_stopping_patience`` epochs without improvement; a wall-clock safety stop
  at ``max_train_minutes`` (recorded on the card);
* afterwards the best weights are evaluated once on ``n_heldout_patients`` phantom
  patients of other seeds through the full inference pipeline
  (:func:`analysis.segment.infer.predict_stations`): per-station Dice and HD95 (mm) go
  into the checkpoint, its JSON sidecar and ``models/MODEL_CARD.md``.

Deterministic given ``params.seed`` (``monai.utils.set_determinism``, seeded transforms
and data order), unless the safety stop fires.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from analysis import paths
from analysis.grid import Grid
from analysis.labels import N_CLASSES
from analysis.params import ParamsError, load_params
from analysis.segment.card import write_model_card
from analysis.segment.checkpoint import Checkpoint, default_checkpoint_path, save_checkpoint
from analysis.segment.cv import train_from_store
from analysis.segment.data import data_hash, generate_patients
from analysis.segment.fit import (
    checkpoint_params,
    ct_normalisation,
    fit,
    heldout_metrics,
    model_space,
    summarise_metrics,
)
from analysis.segment.qc import confidence_stats, training_statistics

#: the phantom modules that decide the images and labels (export, clinical table and
#: outcomes do not)
PHANTOM_IMAGE_MODULES: tuple[str, ...] = ("anatomy.py", "stations.py", "disease.py",
                                         "mass_effect.py")


def phantom_code_hash() -> str:
    """SHA-256 of the phantom's image-making source files (part of the data cache key)."""
    h = hashlib.sha256()
    for name in PHANTOM_IMAGE_MODULES:
        f = paths.REPO_ROOT / "analysis" / "phantom" / name
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _cached_patients(params, split: str, n: int, grid: Grid,
                     make_patient: Callable, cache_data: bool) -> list[dict]:
    """Generate (or load from data/cache/segment) ``n`` patients of ``split``."""
    seg = params.segment
    key = hashlib.sha256(json.dumps(
        [params.seed, split, n, grid.to_dict(), list(seg.target_spacing_mm),
         phantom_code_hash()]).encode()).hexdigest()[:16]
    cache = paths.DATA_DIR / "cache" / "segment" / f"{split}_{key}.npz"
    if cache_data and cache.exists():
        z = np.load(cache)
        return [{"ct": z[f"ct{i}"], "mask": z[f"mask{i}"], "label": z[f"label{i}"],
                 "spacing_mm": tuple(z[f"spacing{i}"])} for i in range(n)]
    pts = generate_patients(params.seed, split, n, grid, make_patient=make_patient,
                            scheduler=params.scheduler if cache_data else "serial",
                            n_workers=params.n_workers)
    if cache_data:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, p in enumerate(pts):
            arrays.update({f"ct{i}": p["ct"], f"mask{i}": p["mask"], f"label{i}": p["label"],
                           f"spacing{i}": np.asarray(p["spacing_mm"])})
        tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(cache)
    return pts


def train(params, *, architecture: str | None = None, out_path: str | Path | None = None,
          make_patient: Callable | None = None, cache_data: bool = False,
          max_epochs: int | None = None,
          max_minutes: float | None = None, store=None,
          log: Callable[[str], None] = print) -> dict:
    """Train ``architecture`` (default ``segment.architecture``) and save the checkpoint.

    Parameters
    ----------
    params : Params
        ``segment`` (``train_source`` picks the data) and, for phantom training,
        ``phantom.grid`` (the grid patients are drawn on).
    make_patient : callable, optional
        Draws one phantom patient (``analysis.phantom.make_patient``, passed by
        :mod:`analysis.phantom.segmentation`, or a test's stand-in); needed for
        ``train_source: phantom``.
    cache_data : bool
        Keep the generated patients under ``data/cache/segment/`` (the phantom's command).
    max_epochs, max_minutes : optional overrides of ``segment.max_epochs`` /
        ``segment.max_train_minutes``.
    store : CohortStore, optional
        The store for ``train_source: store`` (default: the params' own).

    Returns
    -------
    dict : the metrics written into the checkpoint (history, held-out summary, ...).
    """
    seg = params.segment
    arch = architecture or seg.architecture
    epochs = int(max_epochs or seg.max_epochs)
    minutes = float(max_minutes or seg.max_train_minutes)
    out = Path(out_path) if out_path else default_checkpoint_path(params, arch)
    torch.set_num_threads(seg.num_threads)
    if seg.train_source == "store":
        return train_from_store(params, arch, out, store=store, max_epochs=epochs,
                                max_minutes=minutes, log=log)
    if make_patient is None:
        raise ValueError("segment.train_source: phantom: the phantom supplies the training "
                         "patients; run make train PARAMS=... (python -m "
                         "analysis.phantom.segmentation train)")
    if params.phantom is None:
        raise ValueError("params.phantom: training generates phantom patients and needs "
                         "phantom.grid")
    grid = Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm)

    t_data = time.perf_counter()
    raw = _cached_patients(params, "train", seg.n_train_patients, grid, make_patient,
                           cache_data)
    patients = model_space(raw, seg.target_spacing_mm)
    n_val = max(1, int(round(seg.val_fraction * len(patients))))
    if n_val >= len(patients):
        raise ValueError(f"segment.n_train_patients={len(patients)} leaves no training "
                         f"patient with val_fraction={seg.val_fraction}")
    train_pts, val_pts = patients[:-n_val], patients[-n_val:]
    dhash = data_hash(raw)
    log(f"[train] {arch}: {len(train_pts)} training + {len(val_pts)} validation patients, "
        f"data {dhash[:12]} ({time.perf_counter() - t_data:.0f} s)")
    norm = ct_normalisation(seg, train_pts)
    res = fit(train_pts, val_pts, params, arch, norm=norm, max_epochs=epochs,
              max_minutes=minutes, log=log)
    net = res.network
    metrics = {**res.metrics, "train_source": "phantom", "phantom_grid": grid.to_dict(),
               "phantom_code_sha256": phantom_code_hash(),
               "training_stats": training_statistics(raw[:len(train_pts)])}
    seg_dump = checkpoint_params(seg, norm, seg.target_spacing_mm)
    save_kw = {"architecture": arch, "channels": tuple(seg.channels),
               "segment_params": seg_dump, "seed": params.seed, "data_hash": dhash}
    # save before the held-out evaluation, so that a failure there loses no training
    save_checkpoint(out, net, metrics=metrics, **save_kw)
    ck = Checkpoint(network=net, architecture=arch, channels=tuple(seg.channels),
                    n_classes=N_CLASSES, segment_params=seg_dump,
                    seed=params.seed, data_hash=dhash)
    held_raw = _cached_patients(params, "heldout", seg.n_heldout_patients, grid,
                                make_patient, cache_data)
    confs: list[float] = []
    long = heldout_metrics(ck, held_raw, params, confs)
    metrics["heldout"] = summarise_metrics(long)
    metrics["heldout_n_patients"] = len(held_raw)
    metrics["training_stats"]["confidence"] = confidence_stats(confs)
    save_checkpoint(out, net, metrics=metrics, **save_kw)
    log(f"[train] saved {out} (best val Dice {res.metrics['best_val_dice']:.3f} at epoch "
        f"{res.metrics['best_epoch']}, held-out mean Dice "
        f"{metrics['heldout']['mean_over_stations']['dice_mean']:.3f}, "
        f"{res.metrics['train_seconds'] / 60:.1f} min)")
    return metrics


def main(argv: list[str] | None = None, make_patient: Callable | None = None) -> None:

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--architecture", choices=["diunet", "unet_ct", "unet_ct_gtv"])
    ap.add_argument("--out", help="checkpoint path (default from the params)")
    ap.add_argument("--max-epochs", type=int)
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--threads", type=int,
                    help="torch threads (overrides segment.num_threads; 1 on a loaded machine)")
    ap.add_argument("--card", action="store_true",
                    help="only rewrite models/MODEL_CARD.md from the checkpoints' JSON")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as err:  # a user's error: one message, no traceback
        raise SystemExit(f"make train: {err}") from None
    if args.threads:
        params = params.model_copy(update={"segment": params.segment.model_copy(
            update={"num_threads": args.threads})})
    if not args.card:
        train(params, architecture=args.architecture, out_path=args.out,
              max_epochs=args.max_epochs, max_minutes=args.max_minutes,
              make_patient=make_patient, cache_data=make_patient is not None)
    print(f"[train] model card: {write_model_card(params)}")


if __name__ == "__main__":
    main()
