"""Training data for station segmentation: phantom patients generated in memory, or
the patients of a cohort store that carry reference stations (:func:`store_patients`).

Phantom patients are drawn with a ``make_patient(rng, grid)`` the caller passes (the
phantom's, from its commands in :mod:`analysis.phantom.segmentation`: no step imports the
phantom) from seeds derived
from ``params.seed`` and a split code, so that training, validation and held-out
patients never share a seed and every run with the same params sees the same data:

* ``"train"`` (split code 1): ``segment.n_train_patients`` patients, of which the last
  ``round(val_fraction * n)`` are the validation set (early stopping, model choice);
* ``"heldout"`` (split code 2): ``segment.n_heldout_patients`` patients, used once after
  training for the model card's per-station Dice / HD95.

The data hash is the SHA-256 of every training patient's arrays (CT, mask, labels) and
grid, so it changes with the phantom's code or the params that generated the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from analysis.grid import Grid
from analysis.scheduling.parallel import map_patients
from analysis.segment.transforms import (
    gross_tumour_mask,
    normalize_ct,
    resample_to_spacing,
)

SPLIT_CODES: dict[str, int] = {"train": 1, "heldout": 2}


def patient_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of patient ``index`` of ``split`` (independent streams)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split: unknown {split!r}; known: {', '.join(SPLIT_CODES)}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_CODES[split],
                                                         int(index)]))


def _one_patient(args: tuple) -> dict:
    seed, split, index, grid, make_patient = args
    p = make_patient(patient_rng(seed, split, index), grid)
    return model_arrays(p["ct"], p["gtv"], p.get("gtvnd"), p["stations"], p["grid"])


def model_arrays(ct_hu: np.ndarray, gtv: np.ndarray, gtvnd: np.ndarray | None,
                 stations: np.ndarray | None, grid: Grid,
                 target_spacing_mm: Sequence[float] | None = None) -> dict:
    """One patient's arrays as the trainer keeps them (compact dtypes).

    Returns
    -------
    dict with ``ct`` int16 HU (z, y, x), ``mask`` bool (GTV ∪ GTVnd), ``label`` uint8
    (or None) and ``spacing_mm``; resampled to ``target_spacing_mm`` when given.
    """
    ct = np.asarray(ct_hu)
    mask = gross_tumour_mask(gtv, gtvnd)
    if mask.shape != ct.shape:
        raise ValueError(f"gtv: shape {mask.shape} differs from ct shape {ct.shape}")
    label = None if stations is None else np.asarray(stations, dtype=np.uint8)
    spacing = tuple(grid.spacing_mm)
    if target_spacing_mm is not None and not np.allclose(spacing, target_spacing_mm):
        ct = resample_to_spacing(ct[None].astype(np.float32), spacing,
                                 target_spacing_mm)[0].round().numpy().astype(np.int16)
        mask = (resample_to_spacing(mask[None].astype(np.float32), spacing,
                                    target_spacing_mm)[0] > 0.5).numpy()
        if label is not None:
            label = resample_to_spacing(label[None], spacing, target_spacing_mm,
                                        mode="nearest")[0].numpy()
        spacing = tuple(float(s) for s in target_spacing_mm)
    return {"ct": ct.astype(np.int16), "mask": mask, "label": label, "spacing_mm": spacing}


def generate_patients(seed: int, split: str, n: int, grid: Grid, *,
                      make_patient: Callable,
                      target_spacing_mm: Sequence[float] | None = None,
                      scheduler: str = "serial", n_workers: int = 1,
                      desc: str | None = None) -> list[dict]:
    """Generate ``n`` phantom patients of ``split`` on ``grid`` (see :func:`model_arrays`).

    ``make_patient(rng, grid)`` draws one patient (the phantom's
    ``analysis.phantom.make_patient``, or a test's stand-in); a failing patient raises
    (training data must be complete).
    """
    items = {f"{split}{i:04d}": (seed, split, i, grid, make_patient) for i in range(n)}
    res = map_patients(_one_patient, items, scheduler=scheduler, n_workers=n_workers,
                       desc=desc or f"phantom {split}")
    if res.failures:
        k, v = next(iter(res.failures.items()))
        raise RuntimeError(f"{len(res.failures)} phantom patients failed, first {k}: {v}")
    out = [res.results[k] for k in sorted(res.results)]
    if target_spacing_mm is not None:
        out = [model_arrays(p["ct"], p["mask"], None, p["label"],
                            Grid(p["ct"].shape, p["spacing_mm"]), target_spacing_mm)
               for p in out]
    return out


def data_hash(patients: Sequence[dict]) -> str:
    """SHA-256 over every patient's ``ct``, ``mask``, ``label`` bytes, shape and spacing."""
    h = hashlib.sha256()
    for p in patients:
        for key in ("ct", "mask", "label"):
            a = p[key]
            if a is None:
                h.update(b"none")
                continue
            a = np.ascontiguousarray(a)
            h.update(f"{key}{a.shape}{a.dtype}".encode())
            h.update(a.tobytes())
        h.update(repr(tuple(float(s) for s in p["spacing_mm"])).encode())
    return h.hexdigest()


def to_sample(patient: dict, norm: dict | Sequence[float]) -> dict:
    """A patient as the dict the MONAI transforms expect: float ``ct``/``mask`` (1, z, y, x),
    int ``label`` (1, z, y, x). ``norm``: a CT normalisation (see
    :func:`analysis.segment.transforms.normalize_ct`) or a bare HU window."""
    import torch

    return {
        "ct": torch.from_numpy(normalize_ct(patient["ct"], norm)[None]),
        "mask": torch.from_numpy(patient["mask"].astype(np.float32)[None]),
        "label": torch.from_numpy(patient["label"].astype(np.int64)[None]),
    }


def store_patients(store, pids: Sequence[str] | None = None,
                   progress: bool = True) -> tuple[list[dict], list[str], list[str]]:
    """The store's patients with reference stations, on their own CT grids.

    Returns ``(patients, used, skipped)``: one dict per used patient as
    :func:`model_arrays` returns it (``ct``, ``mask`` = GTV ∪ GTVnd, ``label`` =
    ``stations_ref``, ``spacing_mm``), their pids, and the pids without ``stations_ref``
    (listed, never an error).
    """
    from tqdm.auto import tqdm

    pts, used, skipped = [], [], []
    for pid in tqdm(list(pids if pids is not None else store.patient_ids()),
                    desc="store patients", disable=not progress, leave=False):
        if not store.has(pid, "stations_ref"):
            skipped.append(pid)
            continue
        grid = store.grid(pid)
        gtvnd = store.read(pid, "gtvnd") if store.has(pid, "gtvnd") else None
        pts.append(model_arrays(store.read(pid, "ct"), store.read(pid, "gtv"), gtvnd,
                                store.read(pid, "stations_ref"), grid))
        used.append(pid)
    return pts, used, skipped


def median_spacing(patients: Sequence[dict]) -> tuple[float, float, float]:
    """Median voxel spacing (z, y, x) in mm over patients (nnU-Net's target spacing)."""
    sp = np.array([p["spacing_mm"] for p in patients], dtype=float)
    return tuple(float(v) for v in np.median(sp, axis=0))


def heldout_with_ceiling(seed: int, n: int, grid: Grid, make_patient: Callable,
                         progress: bool = True, mass_effect: bool = False) -> list[dict]:
    """``n`` held-out phantom patients (split ``"heldout"``) with what the comparison of
    models needs: ``ct``, ``mask`` (GTV ∪ GTVnd), ``label`` (reference stations),
    ``spacing_mm`` and ``nominal`` (the phantom's ceiling prediction,
    ``make_patient(..., ceiling=True)``: the same anatomy, stations without their jitter;
    with ``mass_effect``, the organs where the bulky nodes pushed them and each node's
    voxels given, as in the reference, to the station that holds it: organs and nodes
    are visible, so the ceiling knows them)."""
    from tqdm.auto import tqdm

    out = []
    for i in tqdm(range(n), desc="held-out + ceiling", disable=not progress, leave=False):
        p = make_patient(patient_rng(seed, "heldout", i), grid, mass_effect=mass_effect,
                         ceiling=True)
        d = model_arrays(p["ct"], p["gtv"], p["gtvnd"], p["stations"], grid)
        d["nominal"] = p["nominal_stations"]
        out.append(d)
    return out
