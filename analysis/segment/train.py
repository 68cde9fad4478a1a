"""Train a station segmentation network on phantom patients: ``make train PARAMS=...``.

``python -m analysis.segment.train --params params/default.yaml [--architecture A]``

* data: ``segment.n_train_patients`` phantom patients generated in memory
  (:mod:`analysis.segment.data`), the last ``val_fraction`` of them for validation;
  cached under ``data/cache/segment/`` keyed by the seed, the grid and the phantom code;
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
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.data import DataLoader, Dataset
from monai.losses import DiceCELoss
from monai.utils import set_determinism
from tqdm.auto import tqdm

from analysis import paths
from analysis.grid import Grid
from analysis.labels import N_CLASSES, N_STATIONS, STATIONS
from analysis.segment.card import write_model_card
from analysis.segment.checkpoint import Checkpoint, default_checkpoint_path, save_checkpoint
from analysis.segment.data import data_hash, generate_patients, to_sample
from analysis.segment.infer import predict_stations, softmax_window
from analysis.segment.metrics import dice, station_metrics
from analysis.segment.networks import build_network, n_parameters
from analysis.segment.transforms import train_transforms, window_hu

#: the phantom modules that decide the images and labels (export, clinical table and
#: outcomes do not)
PHANTOM_IMAGE_MODULES: tuple[str, ...] = ("anatomy.py", "stations.py", "disease.py")


def phantom_code_hash() -> str:
    """SHA-256 of the phantom's image-making source files (part of the data cache key)."""
    h = hashlib.sha256()
    for name in PHANTOM_IMAGE_MODULES:
        f = paths.REPO_ROOT / "analysis" / "phantom" / name
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def hardware() -> dict:
    """CPU model name, torch threads, versions (for the model card)."""
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import monai

    return {"cpu": model, "torch_threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "monai": str(monai.__version__),
            "python": platform.python_version()}


def _cached_patients(params, split: str, n: int, grid: Grid,
                     make_patient: Callable | None) -> list[dict]:
    """Generate (or load from data/cache/segment) ``n`` patients of ``split``."""
    seg = params.segment
    key = hashlib.sha256(json.dumps(
        [params.seed, split, n, grid.to_dict(), list(seg.target_spacing_mm),
         phantom_code_hash()]).encode()).hexdigest()[:16]
    cache = paths.DATA_DIR / "cache" / "segment" / f"{split}_{key}.npz"
    if make_patient is None and cache.exists():
        z = np.load(cache)
        return [{"ct": z[f"ct{i}"], "mask": z[f"mask{i}"], "label": z[f"label{i}"],
                 "spacing_mm": tuple(z[f"spacing{i}"])} for i in range(n)]
    pts = generate_patients(params.seed, split, n, grid, make_patient=make_patient,
                            scheduler=params.scheduler if make_patient is None else "serial",
                            n_workers=params.n_workers)
    if make_patient is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, p in enumerate(pts):
            arrays.update({f"ct{i}": p["ct"], f"mask{i}": p["mask"], f"label{i}": p["label"],
                           f"spacing{i}": np.asarray(p["spacing_mm"])})
        tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(cache)
    return pts


def _model_space(patients: list[dict], target: Sequence[float]) -> list[dict]:
    from analysis.segment.data import model_arrays

    return [model_arrays(p["ct"], p["mask"], None, p["label"],
                         Grid(p["ct"].shape, p["spacing_mm"]), target) for p in patients]


def validation_dice(net: torch.nn.Module, patients: list[dict], seg) -> float:
    """Mean over patients of the mean Dice over stations present (model space)."""
    net.eval()
    scores = []
    for p in patients:
        img = torch.from_numpy(np.stack([window_hu(p["ct"], seg.hu_window),
                                         p["mask"].astype(np.float32)]))
        pred = softmax_window(net, img, seg.patch_zyx, seg.sw_overlap).argmax(0).numpy()
        d = [dice(pred == k, p["label"] == k) for k in range(1, N_STATIONS + 1)]
        scores.append(np.nanmean(d))
    net.train()
    return float(np.mean(scores))


def heldout_metrics(ck: Checkpoint, patients: list[dict], params) -> pd.DataFrame:
    """Per-patient, per-station Dice and HD95 through the full inference pipeline.

    Returns a long DataFrame: patient, station, dice, hd95_mm, ref_voxels, pred_voxels.
    """
    rows = []
    for i, p in enumerate(tqdm(patients, desc="held-out", leave=False)):
        grid = Grid(p["ct"].shape, p["spacing_mm"])
        pred = predict_stations(p["ct"], p["mask"], grid, ck, params, patient=f"heldout{i}")
        m = station_metrics(pred, p["label"], grid.spacing_mm).reset_index()
        m.insert(0, "patient", i)
        rows.append(m)
    return pd.concat(rows, ignore_index=True)


def summarise_metrics(long: pd.DataFrame) -> dict:
    """Per-station mean / SD / min Dice and mean / median HD95 from :func:`heldout_metrics`."""
    out = {}
    for st in STATIONS:
        s = long[long["station"] == st]
        out[st] = {"dice_mean": float(s["dice"].mean()), "dice_sd": float(s["dice"].std()),
                   "dice_min": float(s["dice"].min()),
                   "hd95_mm_mean": float(s["hd95_mm"].mean()),
                   "hd95_mm_median": float(s["hd95_mm"].median()),
                   "n": int(s["dice"].notna().sum())}
    out["mean_over_stations"] = {
        "dice_mean": float(np.mean([out[s]["dice_mean"] for s in STATIONS])),
        "hd95_mm_mean": float(np.nanmean([out[s]["hd95_mm_mean"] for s in STATIONS]))}
    return out


def train(params, *, architecture: str | None = None, out_path: str | Path | None = None,
          make_patient: Callable | None = None, max_epochs: int | None = None,
          max_minutes: float | None = None, log: Callable[[str], None] = print) -> dict:
    """Train ``architecture`` (default ``segment.architecture``) and save the checkpoint.

    Parameters
    ----------
    params : Params
        Needs ``phantom.grid`` (the grid patients are drawn on) and ``segment``.
    make_patient : callable, optional
        Replaces :func:`analysis.phantom.make_patient` (tests); disables the data cache.
    max_epochs, max_minutes : optional overrides of ``segment.max_epochs`` /
        ``segment.max_train_minutes``.

    Returns
    -------
    dict : the metrics written into the checkpoint (history, held-out summary, ...).
    """
    seg = params.segment
    arch = architecture or seg.architecture
    if params.phantom is None:
        raise ValueError("params.phantom: training generates phantom patients and needs "
                         "phantom.grid")
    epochs = int(max_epochs or seg.max_epochs)
    minutes = float(max_minutes or seg.max_train_minutes)
    out = Path(out_path) if out_path else default_checkpoint_path(params, arch)
    torch.set_num_threads(seg.num_threads)
    set_determinism(seed=params.seed)
    grid = Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm)

    t_data = time.perf_counter()
    raw = _cached_patients(params, "train", seg.n_train_patients, grid, make_patient)
    patients = _model_space(raw, seg.target_spacing_mm)
    n_val = max(1, int(round(seg.val_fraction * len(patients))))
    if n_val >= len(patients):
        raise ValueError(f"segment.n_train_patients={len(patients)} leaves no training "
                         f"patient with val_fraction={seg.val_fraction}")
    train_pts, val_pts = patients[:-n_val], patients[-n_val:]
    dhash = data_hash(raw)
    log(f"[train] {arch}: {len(train_pts)} training + {len(val_pts)} validation patients, "
        f"data {dhash[:12]} ({time.perf_counter() - t_data:.0f} s)")

    tfm = train_transforms(seg.patch_zyx, flip_prob=seg.flip_prob,
                           affine_prob=seg.affine_prob, intensity_prob=seg.intensity_prob)
    tfm.set_random_state(seed=params.seed)
    ds = Dataset([to_sample(p, seg.hu_window) for p in train_pts], transform=tfm)
    gen = torch.Generator().manual_seed(params.seed)
    loader = DataLoader(ds, batch_size=seg.batch_size, shuffle=True, num_workers=0,
                        generator=gen, drop_last=len(train_pts) > seg.batch_size)

    torch.manual_seed(params.seed)
    net = build_network(arch, seg.channels, out_channels=N_CLASSES,
                        num_res_units=seg.num_res_units)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
    opt = torch.optim.Adam(net.parameters(), lr=seg.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    history: list[dict] = []
    best = (-1.0, 0)
    best_state = {k: v.clone() for k, v in net.state_dict().items()}
    stop_reason = "max_epochs"
    t0 = time.perf_counter()
    net.train()
    bar = tqdm(range(1, epochs + 1), desc=f"train {arch}")
    for epoch in bar:
        losses = []
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(batch["image"]), batch["label"])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        rec = {"epoch": epoch, "loss": float(np.mean(losses)),
               "minutes": (time.perf_counter() - t0) / 60}
        if epoch % seg.val_every == 0 or epoch == epochs:
            rec["val_dice"] = validation_dice(net, val_pts, seg)
            if rec["val_dice"] > best[0]:
                best = (rec["val_dice"], epoch)
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", val=f"{best[0]:.3f}@{best[1]}")
        log(f"[train] epoch {epoch}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in rec.items() if k != "epoch"))
        if epoch - best[1] >= seg.early_stopping_patience and best[1] > 0:
            stop_reason = "early_stopping"
            break
        if rec["minutes"] >= minutes:
            stop_reason = "time_budget"
            break
    train_seconds = time.perf_counter() - t0
    net.load_state_dict(best_state)
    net.eval()

    metrics = {
        "architecture": arch, "n_parameters": n_parameters(net),
        "epochs_run": len(history), "best_epoch": best[1], "best_val_dice": best[0],
        "stop_reason": stop_reason, "train_seconds": train_seconds,
        "n_train": len(train_pts), "n_val": len(val_pts), "hardware": hardware(),
        "phantom_grid": grid.to_dict(), "phantom_code_sha256": phantom_code_hash(),
        "history": history,
    }
    save_kw = {"architecture": arch, "channels": tuple(seg.channels),
               "segment_params": seg.model_dump(mode="json"), "seed": params.seed,
               "data_hash": dhash}
    # save before the held-out evaluation, so that a failure there loses no training
    save_checkpoint(out, net, metrics=metrics, **save_kw)
    ck = Checkpoint(network=net, architecture=arch, channels=tuple(seg.channels),
                    n_classes=N_CLASSES, segment_params=seg.model_dump(mode="json"),
                    seed=params.seed, data_hash=dhash)
    held_raw = _cached_patients(params, "heldout", seg.n_heldout_patients, grid, make_patient)
    long = heldout_metrics(ck, held_raw, params)
    metrics["heldout"] = summarise_metrics(long)
    metrics["heldout_n_patients"] = len(held_raw)
    save_checkpoint(out, net, metrics=metrics, **save_kw)
    log(f"[train] saved {out} (best val Dice {best[0]:.3f} at epoch {best[1]}, "
        f"held-out mean Dice {metrics['heldout']['mean_over_stations']['dice_mean']:.3f}, "
        f"{train_seconds / 60:.1f} min)")
    return metrics


def main(argv: list[str] | None = None) -> None:
    from analysis.params import load_params

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
    params = load_params(args.params)
    if args.threads:
        params = params.model_copy(update={"segment": params.segment.model_copy(
            update={"num_threads": args.threads})})
    if not args.card:
        train(params, architecture=args.architecture, out_path=args.out,
              max_epochs=args.max_epochs, max_minutes=args.max_minutes)
    print(f"[train] model card: {write_model_card(params)}")


if __name__ == "__main__":
    main()
