"""Save and load segmentation checkpoints: weights + params + data hash, checked on load.

A checkpoint ``<name>.pt`` is a ``torch.save`` dictionary::

    {"format": "analysis.segment/1", "architecture": "diunet", "channels": [...],
     "n_classes": 17, "segment_params": {...}, "seed": int, "data_hash": "sha256...",
     "state_dict": {...}, "metrics": {...}}

Beside it, ``<name>.json`` holds everything but the weights, plus ``sha256`` of the
``.pt`` file. :func:`load_checkpoint` refuses, with a message naming the file:
a missing, empty or truncated file (unreadable, or its SHA-256 differs from the JSON's),
a file of another format, and a class count other than the expected one.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from analysis import paths
from analysis.fsutil import atomic_write_bytes, sha256_file
from analysis.labels import N_CLASSES
from analysis.segment.networks import ARCHITECTURES, build_network

FORMAT = "analysis.segment/1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (missing, truncated, wrong format or classes)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode) and its metadata."""

    network: nn.Module
    architecture: str
    channels: tuple[int, ...]
    n_classes: int
    segment_params: dict
    seed: int
    data_hash: str
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def target_spacing_mm(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in self.segment_params["target_spacing_mm"])


def default_checkpoint_path(params, architecture: str) -> Path:
    """``segment.checkpoint`` for the params' own architecture, else
    ``models/<architecture>_<run_name>.pt`` beside it."""
    ck = paths.resolve(params.segment.checkpoint)
    if architecture == params.segment.architecture:
        return ck
    return ck.parent / f"{architecture}_{params.run_name}.pt"


def sidecar_path(path: str | Path) -> Path:
    """The JSON beside a checkpoint (``x.pt`` -> ``x.json``)."""
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | Path, network: nn.Module, *, architecture: str,
                    channels: tuple[int, ...], segment_params: dict, seed: int,
                    data_hash: str, metrics: dict | None = None,
                    n_classes: int = N_CLASSES) -> Path:
    """Write ``path`` (.pt) and its JSON sidecar atomically; return the .pt path."""
    path = Path(path)
    # plain JSON types only, so that torch.load(weights_only=True) accepts the file
    metrics = json.loads(json.dumps(metrics or {}, default=float))
    segment_params = json.loads(json.dumps(segment_params, default=str))
    meta = {"format": FORMAT, "architecture": architecture, "channels": list(channels),
            "n_classes": int(n_classes), "segment_params": segment_params, "seed": int(seed),
            "data_hash": str(data_hash), "metrics": metrics}
    buf = io.BytesIO()
    torch.save({**meta, "state_dict": {k: v.detach().cpu().clone()
                                       for k, v in network.state_dict().items()}}, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    meta_out = {**meta, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
    atomic_write_bytes(sidecar_path(path),
                       (json.dumps(meta_out, indent=1, sort_keys=True) + "\n").encode())
    return path


def read_sidecar(path: str | Path) -> dict:
    """The JSON metadata beside checkpoint ``path`` (metrics, hash, params)."""
    side = sidecar_path(path)
    if not side.exists():
        raise CheckpointError(f"{side}: no model card JSON beside checkpoint {Path(path).name}")
    return json.loads(side.read_text())


def load_checkpoint(path: str | Path, *, expected_classes: int = N_CLASSES,
                    verify_hash: bool = True) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (network in eval mode).

    Raises
    ------
    CheckpointError
        Missing / empty / truncated / corrupted file, wrong format, unknown architecture,
        or a class count other than ``expected_classes``; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file not found (train it with "
                              "`make train` or set segment.checkpoint)")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty (0 bytes)")
    side = sidecar_path(path)
    if verify_hash and side.exists():
        meta = json.loads(side.read_text())
        if meta.get("size_bytes") not in (None, size):
            raise CheckpointError(
                f"{path}: checkpoint is truncated or altered: {size} bytes, its model card "
                f"{side.name} says {meta['size_bytes']} bytes")
        if meta.get("sha256") and sha256_file(path) != meta["sha256"]:
            raise CheckpointError(f"{path}: checkpoint SHA-256 differs from {side.name} "
                                  "(corrupted or replaced file)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError ...
        raise CheckpointError(f"{path}: unreadable checkpoint (truncated or not a torch "
                              f"file): {type(err).__name__}: {str(err)[:200]}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an analysis.segment checkpoint (format "
                              f"{obj.get('format') if isinstance(obj, dict) else type(obj)!r})")
    n_classes = int(obj.get("n_classes", -1))
    if n_classes != expected_classes:
        raise CheckpointError(f"{path}: checkpoint predicts {n_classes} classes, expected "
                              f"{expected_classes} (background + 16 stations)")
    arch = obj.get("architecture")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}")
    channels = tuple(int(c) for c in obj["channels"])
    net = build_network(arch, channels, out_channels=n_classes,
                        num_res_units=int(obj["segment_params"].get("num_res_units", 2)))
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit a {arch} with channels {channels} "
                              f"and {n_classes} classes: {str(err)[:300]}") from None
    net.eval()
    return Checkpoint(network=net, architecture=arch, channels=channels, n_classes=n_classes,
                      segment_params=dict(obj["segment_params"]), seed=int(obj["seed"]),
                      data_hash=str(obj["data_hash"]), metrics=dict(obj.get("metrics", {})),
                      path=path)
