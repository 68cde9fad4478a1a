"""Add training statistics to phantom-trained checkpoints that predate them (the shipped
ones), so that :func:`analysis.segment.qc.check_prediction` can check everything:
``python -m analysis.phantom.segmentation backfill --params params/default.yaml`` (the
phantom supplies the patients)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from analysis import paths
from analysis.grid import Grid
from analysis.params import load_params
from analysis.segment.card import checkpoint_paths
from analysis.segment.checkpoint import load_checkpoint, save_checkpoint
from analysis.segment.data import generate_patients
from analysis.segment.infer import predict_stations
from analysis.segment.qc import confidence_stats, training_statistics


def add_training_statistics(checkpoint_path, params, make_patient: Callable,
                            n_patients: int = 60,
                            n_confidence: int | None = None) -> dict:
    """Compute and save the training statistics of a phantom-trained checkpoint that lacks
    them (the shipped ones): image and volume statistics from the first ``n_patients`` of
    its training phantoms (same seed and grid), confidence from ``n_confidence``
    held-out phantoms (default ``segment.n_heldout_patients``). The weights, parameters
    and data hash are kept; only ``metrics["training_stats"]`` is added. Returns it."""
    ck = load_checkpoint(checkpoint_path)
    if ck.metrics.get("train_source", "phantom") != "phantom":
        raise ValueError(f"{checkpoint_path}: not phantom-trained; its statistics come "
                         "from training")
    g = ck.metrics.get("phantom_grid") or params.phantom.grid.model_dump()
    grid = Grid(g["shape_zyx"], g["spacing_mm"])
    train_pts = generate_patients(params.seed, "train", n_patients, grid, desc="qc train",
                                  make_patient=make_patient)
    stats = training_statistics(train_pts)
    n_conf = n_confidence or params.segment.n_heldout_patients
    held = generate_patients(params.seed, "heldout", n_conf, grid, desc="qc held-out",
                             make_patient=make_patient)
    confs = [predict_stations(p["ct"], p["mask"], grid, ck, params, return_confidence=True,
                              patient=f"heldout{i}")[1] for i, p in enumerate(held)]
    stats["confidence"] = confidence_stats(confs)
    stats["source"] = (f"added afterwards from {n_patients} training and {n_conf} held-out "
                       "phantoms (same seed and grid)")
    metrics = {**ck.metrics, "training_stats": stats}
    save_checkpoint(checkpoint_path, ck.network, architecture=ck.architecture,
                    channels=ck.channels, segment_params=ck.segment_params, seed=ck.seed,
                    data_hash=ck.data_hash, metrics=metrics, n_classes=ck.n_classes)
    return stats


def main(argv: list[str] | None, make_patient: Callable) -> None:
    """``python -m analysis.phantom.segmentation backfill --params P [--checkpoint C ...]``:
    add training statistics to phantom-trained checkpoints that lack them."""
    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--checkpoint", nargs="*", help="default: the params' three checkpoints")
    ap.add_argument("--n-patients", type=int, default=60)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    cks = ([paths.resolve(c) for c in args.checkpoint] if args.checkpoint
           else [p for p in checkpoint_paths(params).values() if p.exists()])
    for c in cks:
        s = add_training_statistics(c, params, make_patient, args.n_patients)
        print(f"[qc] {c.name}: training statistics added ({s['source']})")

