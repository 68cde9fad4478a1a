"""Fitting one station network on model-space patients (shared by phantom and store
training, :mod:`analysis.segment.train` and :mod:`analysis.segment.cv`).

Loss Dice (stations only, batch-wise) + cross-entropy (all 17 classes), MONAI
``DiceCELoss``; Adam with cosine learning-rate decay; validation Dice every ``val_every``
epochs by Gaussian-weighted sliding window (the best epoch's weights are kept); early
stopping; a wall-clock stop. ``segment.device``: CUDA with automatic mixed precision when
available, else the CPU, through the same code; ``segment.init_checkpoint`` fine-tunes.
"""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
from analysis.segment.checkpoint import Checkpoint, load_checkpoint
from analysis.segment.data import model_arrays, to_sample
from analysis.segment.infer import predict_stations, softmax_window
from analysis.segment.metrics import dice, station_metrics
from analysis.segment.networks import build_network, n_parameters, resolve_device
from analysis.segment.transforms import normalize_ct, train_transforms, zscore_stats


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


def model_space(patients: list[dict], target: Sequence[float]) -> list[dict]:
    """Patients (own grids) resampled to the model's spacing ``target`` (z, y, x) mm."""
    return [model_arrays(p["ct"], p["mask"], None, p["label"],
                         Grid(p["ct"].shape, p["spacing_mm"]), target) for p in patients]


def validation_dice(net: torch.nn.Module, patients: list[dict], seg,
                    norm: dict | None = None) -> float:
    """Mean over patients of the mean Dice over stations present (model space)."""
    norm = norm or {"kind": "window", "window_hu": list(seg.hu_window)}
    net.eval()
    scores = []
    for p in patients:
        img = torch.from_numpy(np.stack([normalize_ct(p["ct"], norm),
                                         p["mask"].astype(np.float32)]))
        pred = softmax_window(net, img, seg.patch_zyx, seg.sw_overlap).argmax(0).numpy()
        d = [dice(pred == k, p["label"] == k) for k in range(1, N_STATIONS + 1)]
        scores.append(np.nanmean(d))
    net.train()
    return float(np.mean(scores))


def heldout_metrics(ck: Checkpoint, patients: list[dict], params,
                    confidences: list[float] | None = None) -> pd.DataFrame:
    """Per-patient, per-station Dice and HD95 through the full inference pipeline.

    Returns a long DataFrame: patient, station, dice, hd95_mm, ref_voxels, pred_voxels.
    ``confidences``, when given, receives each patient's mean softmax confidence.
    """
    rows = []
    for i, p in enumerate(tqdm(patients, desc="held-out", leave=False)):
        grid = Grid(p["ct"].shape, p["spacing_mm"])
        pred, conf = predict_stations(p["ct"], p["mask"], grid, ck, params,
                                      patient=f"heldout{i}", return_confidence=True)
        if confidences is not None:
            confidences.append(conf)
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


def ct_normalisation(seg, patients: list[dict]) -> dict:
    """The CT normalisation a new model is trained with (recorded in its checkpoint):
    the HU window, or nnU-Net's z-score from the training patients' station voxels."""
    if seg.normalization == "zscore":
        return zscore_stats([p["ct"] for p in patients], [p["label"] > 0 for p in patients])
    return {"kind": "window", "window_hu": [float(v) for v in seg.hu_window]}


@dataclass
class FitResult:
    """A trained network (best validation weights, on the CPU, eval mode) and its log."""

    network: torch.nn.Module
    metrics: dict


def fit(train_pts: list[dict], val_pts: list[dict], params, architecture: str, *,
        norm: dict, max_epochs: int, max_minutes: float,
        log: Callable[[str], None] = print, desc: str = "") -> FitResult:
    """Train ``architecture`` on model-space patients (:func:`model_space`).

    Loss Dice + cross-entropy, Adam, cosine decay, validation Dice every ``val_every``
    epochs (best weights kept), early stopping, wall-clock stop. Starts from
    ``segment.init_checkpoint`` when set. On CUDA: automatic mixed precision.
    """
    seg = params.segment
    device = resolve_device(seg.device)
    init = src = None
    if seg.init_checkpoint:  # checked first: a wrong checkpoint fails before any work
        init = paths.resolve(seg.init_checkpoint)
        src = load_checkpoint(init)
        if src.architecture != architecture or tuple(src.channels) != tuple(seg.channels):
            raise ValueError(f"segment.init_checkpoint {init}: a {src.architecture} with "
                             f"channels {src.channels}, not {architecture} with "
                             f"{tuple(seg.channels)}")
    set_determinism(seed=params.seed)
    tfm = train_transforms(seg.patch_zyx, flip_prob=seg.flip_prob,
                           affine_prob=seg.affine_prob, intensity_prob=seg.intensity_prob,
                           gamma_prob=seg.gamma_prob)
    tfm.set_random_state(seed=params.seed)
    ds = Dataset([to_sample(p, norm) for p in train_pts], transform=tfm)
    gen = torch.Generator().manual_seed(params.seed)
    loader = DataLoader(ds, batch_size=seg.batch_size, shuffle=True, num_workers=0,
                        generator=gen, drop_last=len(train_pts) > seg.batch_size)

    torch.manual_seed(params.seed)
    net = build_network(architecture, seg.channels, out_channels=N_CLASSES,
                        num_res_units=seg.num_res_units)
    if src is not None:
        net.load_state_dict(src.network.state_dict())
    net.to(device)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
    opt = torch.optim.Adam(net.parameters(), lr=seg.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max_epochs)

    history: list[dict] = []
    best = (-1.0, 0)
    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    stop_reason = "max_epochs"
    t0 = time.perf_counter()
    n_patches = 0
    net.train()
    bar = tqdm(range(1, max_epochs + 1), desc=f"train {architecture}{desc}")
    for epoch in bar:
        losses = []
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=amp):
                loss = loss_fn(net(batch["image"].to(device)), batch["label"].to(device))
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())
            n_patches += int(batch["image"].shape[0])
        sched.step()
        rec = {"epoch": epoch, "loss": float(np.mean(losses)),
               "minutes": (time.perf_counter() - t0) / 60}
        if epoch % seg.val_every == 0 or epoch == max_epochs:
            rec["val_dice"] = validation_dice(net, val_pts, seg, norm)
            if rec["val_dice"] > best[0]:
                best = (rec["val_dice"], epoch)
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", val=f"{best[0]:.3f}@{best[1]}")
        log(f"[train] epoch {epoch}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in rec.items() if k != "epoch"))
        if epoch - best[1] >= seg.early_stopping_patience and best[1] > 0:
            stop_reason = "early_stopping"
            break
        if rec["minutes"] >= max_minutes:
            stop_reason = "time_budget"
            break
    train_seconds = time.perf_counter() - t0
    net.to("cpu")
    net.load_state_dict(best_state)
    net.eval()
    return FitResult(net, {
        "architecture": architecture, "n_parameters": n_parameters(net),
        "epochs_run": len(history), "best_epoch": best[1], "best_val_dice": best[0],
        "stop_reason": stop_reason, "train_seconds": train_seconds,
        "patches_per_second": n_patches / max(train_seconds, 1e-9),
        "n_train": len(train_pts), "n_val": len(val_pts),
        "hardware": {**hardware(), "device": str(device), "amp": amp},
        "init_checkpoint": str(init.relative_to(paths.REPO_ROOT)
                               if init and init.is_relative_to(paths.REPO_ROOT) else init)
        if init else None,
        "history": history})


def checkpoint_params(seg, norm: dict, target_spacing_mm: Sequence[float]) -> dict:
    """The segment params a checkpoint records: the run's, with the CT normalisation and
    the model spacing actually used (inference reads them from the checkpoint)."""
    return {**seg.model_dump(mode="json"), "ct_norm": norm,
            "target_spacing_mm": [float(v) for v in target_spacing_mm]}
