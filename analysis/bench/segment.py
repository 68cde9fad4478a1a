"""Station inference speed and memory: ``python -m analysis.bench segment``.

Per case, on ``segment.num_threads`` torch threads (2), in a fresh process per path:
wall time and peak resident memory (the process's, and above the loaded model) of :func:`analysis.segment.infer.predict_stations` on a phantom patient at the
default grid (48 x 96 x 96 at 5 x 4 x 4 mm) and at full resolution (93 x 512 x 512 at
5 x 1.1543 x 1.1543 mm, the paper's CT), with the fast path (inference only inside the
box around the lungs, at the model's spacing) and the plain path (sliding window over
the whole volume resampled to the model's spacing) side by side, and the mean station
Dice of both against the phantom's reference. ``quick`` runs one repeat and a
half-resolution stand-in (93 x 256 x 256) for the full-resolution case.

Also, each in a fresh process: the fast path with nnU-Net's z-score CT normalisation and
with test-time mirroring (the shipped weights under a z-score record: timing only, its
Dice is meaningless), and training on the CPU (``train``): patches per second, seconds
per epoch and peak resident memory of :func:`analysis.segment.fit.fit` on
``n_train`` phantom patients of the default grid with the default patch and batch.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from analysis import paths
from analysis.grid import Grid
from analysis.paper import CT_PIXEL_MM, CT_SHAPE_YX, CT_SLICE_MM
from analysis.phantom import make_patient


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ``getrusage``: Linux keeps
    ``ru_maxrss`` across ``execve``, so a spawned child would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _timed_child(args: tuple) -> dict:
    """In a fresh process: load the checkpoint, predict ``repeats`` times; return the
    times, the prediction, the peak RSS of the process and its RSS before predicting."""
    import torch

    from analysis.segment.checkpoint import load_checkpoint
    from analysis.segment.infer import predict_stations

    ct, gtv, gtvnd, grid, ck_path, params, fast, repeats = args
    torch.set_num_threads(params.segment.num_threads)
    ck = load_checkpoint(ck_path)
    before = _rss_mib()
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred = predict_stations(ct, gtv, grid, ck, params, gtvnd=gtvnd, fast=fast)
        secs.append(time.perf_counter() - t0)
    peak = _peak_rss_mib()
    return {"seconds": secs, "pred": pred, "peak_rss_mib": peak, "rss_before_mib": before}


def _train_child(args: tuple) -> dict:
    """In a fresh process: fit ``epochs`` epochs on ``patients``; throughput and peak RSS."""
    import torch

    from analysis.segment.fit import ct_normalisation, fit

    patients, params, epochs = args
    torch.set_num_threads(params.segment.num_threads)
    seg = params.segment
    norm = ct_normalisation(seg, patients)
    before = _rss_mib()
    res = fit(patients[:-1], patients[-1:], params, seg.architecture, norm=norm,
              max_epochs=epochs, max_minutes=60.0, log=lambda s: None)
    peak = _peak_rss_mib()
    return {"patches_per_second": res.metrics["patches_per_second"],
            "seconds_per_epoch": res.metrics["train_seconds"] / res.metrics["epochs_run"],
            "epochs": res.metrics["epochs_run"], "n_train_patients": len(patients) - 1,
            "peak_rss_mib": peak, "rss_before_mib": before}


def run_train(quick: bool = False, n_train: int = 12) -> dict:
    """Training throughput on the CPU (see module docstring)."""
    from analysis.params import load_params
    from analysis.segment.data import generate_patients
    from analysis.segment.fit import model_space

    params = load_params(paths.PARAMS_DIR / "default.yaml")
    params = params.model_copy(update={"segment": params.segment.model_copy(
        update={"device": "cpu", "val_every": 100})})
    grid = Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm)
    pts = model_space(generate_patients(params.seed, "train", n_train, grid,
                                        make_patient=make_patient),
                      params.segment.target_spacing_mm)
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        r = pool.submit(_train_child, (pts, params, 1 if quick else 2)).result()
    return {**r, "threads": params.segment.num_threads,
            "batch_size": params.segment.batch_size,
            "patch_zyx": list(params.segment.patch_zyx),
            "load_average_1min": os.getloadavg()[0]}


def _variant_checkpoint(ck_path: str, out: str) -> str:
    """The shipped weights saved under a z-score normalisation record (timing only)."""
    from analysis.segment.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(ck_path)
    sp = {**ck.segment_params, "ct_norm": {"kind": "zscore", "clip_hu": [-1000.0, 1000.0],
                                           "mean_hu": -90.0, "sd_hu": 150.0}}
    save_checkpoint(out, ck.network, architecture=ck.architecture, channels=ck.channels,
                    segment_params=sp, seed=ck.seed, data_hash=ck.data_hash)
    return out


def run(quick: bool = False, checkpoint: str | None = None,
        num_threads: int | None = None) -> dict:
    """Median time (s), peak memory (MiB) and mean Dice per case and path.

    ``checkpoint`` and ``num_threads`` override ``segment.checkpoint`` and
    ``segment.num_threads`` of params/default.yaml (default: the committed DiUNet, 2).
    """
    import torch

    from analysis.params import load_params
    from analysis.segment.checkpoint import load_checkpoint
    from analysis.segment.infer import mediastinal_box
    from analysis.segment.metrics import station_metrics

    params = load_params(paths.PARAMS_DIR / "default.yaml")
    update = {k: v for k, v in (("checkpoint", checkpoint), ("num_threads", num_threads))
              if v is not None}
    params = params.model_copy(update={"segment": params.segment.model_copy(update=update)})
    load_checkpoint(paths.resolve(params.segment.checkpoint))  # fail early, by name
    threads = params.segment.num_threads
    torch.set_num_threads(threads)
    repeats = 1 if quick else 3
    full_yx = (CT_SHAPE_YX[0] // 2, CT_SHAPE_YX[1] // 2) if quick else CT_SHAPE_YX
    full_px = CT_PIXEL_MM * (2 if quick else 1)
    cases = {
        "default_48x96x96": Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm),
        f"full_93x{full_yx[0]}x{full_yx[1]}": Grid((93, *full_yx),
                                                   (CT_SLICE_MM, full_px, full_px)),
    }
    out: dict = {"threads": threads, "repeats": repeats, "quick": quick,
                 "checkpoint": params.segment.checkpoint,
                 "load_average_1min": os.getloadavg()[0], "cases": {}}
    for name, grid in cases.items():
        p = make_patient(np.random.default_rng([params.seed, 99]), grid)
        box = mediastinal_box(p["ct"], grid.spacing_mm, params.segment.roi_margin_mm,
                              params.segment.roi_superior_mm)
        case = {"shape_zyx": list(grid.shape_zyx), "spacing_mm": list(grid.spacing_mm),
                "roi_fraction": (float(np.prod([s.stop - s.start for s in box]))
                                 / float(np.prod(grid.shape_zyx))) if box else 1.0}
        preds = {}
        ck_path = str(paths.resolve(params.segment.checkpoint))
        for path_name, fast in (("fast", True), ("plain", False)):
            with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                r = pool.submit(_timed_child, (p["ct"], p["gtv"], p["gtvnd"], grid, ck_path,
                                               params, fast, repeats)).result()
            preds[path_name] = r["pred"]
            m = station_metrics(r["pred"], p["stations"], grid.spacing_mm, hd95=False)
            case[path_name] = {"seconds_median": float(np.median(r["seconds"])),
                               "seconds_all": [round(x, 3) for x in r["seconds"]],
                               "peak_rss_mib": r["peak_rss_mib"],
                               "peak_above_loaded_model_mib": r["peak_rss_mib"]
                               - r["rss_before_mib"],
                               "dice_mean": float(m["dice"].mean())}
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            zck = _variant_checkpoint(ck_path, f"{tmp}/zscore.pt")
            for vname, vck, vparams in (
                    ("fast_zscore", zck, params),
                    ("fast_mirror", ck_path, params.model_copy(update={
                        "segment": params.segment.model_copy(update={"tta_mirror": True})}))):
                with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                    r = pool.submit(_timed_child, (p["ct"], p["gtv"], p["gtvnd"], grid, vck,
                                                   vparams, True, repeats)).result()
                case[vname] = {"seconds_median": float(np.median(r["seconds"])),
                               "peak_rss_mib": r["peak_rss_mib"],
                               "ratio_to_fast": float(np.median(r["seconds"]))
                               / case["fast"]["seconds_median"]}
        case["speedup_fast_vs_plain"] = (case["plain"]["seconds_median"]
                                         / case["fast"]["seconds_median"])
        case["label_agreement_fast_vs_plain"] = float(
            (preds["fast"] == preds["plain"])[(preds["fast"] > 0) | (preds["plain"] > 0)]
            .mean())
        out["cases"][name] = case
    out["train"] = run_train(quick)
    return out
