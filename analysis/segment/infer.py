"""Station inference on any CT grid: resample, sliding window, resample back, clean up.

:func:`predict_stations` is the array function; :func:`predict_cohort` runs it over
every patient of a cohort store (through :func:`analysis.scheduling.parallel.map_patients`) and
writes ``stations_pred``.

Steps for one CT (``ct`` int16 HU, ``gtv`` bool, both (z, y, x) on ``grid``):

1. Region: the whole volume (plain path) or, on the fast path, the box around the lungs
   found from the CT (:func:`mediastinal_box`) plus ``segment.roi_margin_mm`` (and
   ``segment.roi_superior_mm`` above the apices for stations 1R/1L). Outside it the label
   is 0. Every station lies between and around the lungs, so nothing is lost, and a
   512 x 512 x 93 CT shrinks several-fold.
2. The region's CT (normalised as the checkpoint records: :func:`ct_norm_of`) and mask
   are resampled to the model's spacing
   (trilinear; the mask is then thresholded at 0.5) and
   :func:`monai.inferers.sliding_window_inference` computes softmax probabilities with
   the training patch size, patches blended with Gaussian weights (nnU-Net); with
   ``segment.tta_mirror`` the left-right mirrored input is predicted too and its
   probabilities, flipped back with the L/R station channels swapped, are averaged in.
3. The probabilities are resampled back to the CT grid (trilinear, separably: z first,
   then slab by slab in-plane to bound memory) and the label is their argmax, so station
   labels are disjoint by construction.
4. Post-processing (:func:`remove_small_islands`): per station, the largest connected
   component is kept, and every other component smaller than ``segment.min_island_mm3``
   becomes background.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from scipy import ndimage

from analysis import paths
from analysis.grid import Grid
from analysis.labels import N_STATIONS
from analysis.scheduling.parallel import map_patients
from analysis.segment.checkpoint import Checkpoint, load_checkpoint
from analysis.segment.networks import resolve_device
from analysis.segment.qc import check_prediction
from analysis.segment.transforms import (  # noqa: F401
    BODY_HU,
    LUNG_HU,
    coarse_body,
    ct_norm_of,
    gross_tumour_mask,
    left_right_lut,
    normalize_ct,
    resample_to_shape,
    shape_at_spacing,
)
from analysis.store import CohortStore


def mediastinal_box(ct_hu: np.ndarray, spacing_mm: Sequence[float], margin_mm: float = 20.0,
                    superior_mm: float = 40.0) -> tuple[slice, slice, slice] | None:
    """Box (z, y, x slices) around both lungs plus margins, found by thresholding the CT.

    The body is the largest connected component above ``BODY_HU``, its holes filled
    slice by slice; the lungs are voxels below ``LUNG_HU`` inside it (connected
    components larger than 1% of the body's air). The box spans the lungs, widened by
    ``margin_mm`` on every side and by ``superior_mm`` more above (supraclavicular
    stations lie above the apices). Returns None when no lung is found (the caller then
    uses the whole volume).
    """
    ct = np.asarray(ct_hu)
    sp = np.asarray(spacing_mm, dtype=float)
    # work on a coarse copy (about 8 mm) for speed
    small, filled, step = coarse_body(ct, sp, 8.0)
    if not filled.any():
        return None
    air = filled & (small < LUNG_HU)
    lab, n = ndimage.label(air)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    keep = np.flatnonzero(sizes >= max(1, 0.01 * sizes.sum())) + 1
    lungs = np.isin(lab, keep)
    idx = np.nonzero(lungs)
    out = []
    for ax in range(3):
        lo = idx[ax].min() * step[ax]
        hi = (idx[ax].max() + 1) * step[ax] - 1
        m = int(np.ceil(margin_mm / sp[ax]))
        top = int(np.ceil(superior_mm / sp[ax])) if ax == 0 else 0
        out.append(slice(max(0, lo - m), min(ct.shape[ax], hi + m + top + 1)))
    return tuple(out)


def softmax_window(net: torch.nn.Module, image: torch.Tensor, patch: Sequence[int],
                   overlap: float, mirror: bool = False) -> torch.Tensor:
    """Softmax probabilities (C, z, y, x) of ``image`` (2, z, y, x) by sliding window
    (Gaussian-weighted patch blending, ``overlap`` of the patch; used by training's
    validation too). Runs on the network's device (CUDA: automatic mixed precision);
    returns float32 on the CPU. ``mirror``: average with the prediction of the
    left-right flipped image, flipped back with lateral station channels swapped."""
    dev = next(net.parameters()).device

    def one(img: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=dev.type, enabled=dev.type == "cuda"):
            logits = sliding_window_inference(
                img[None].to(dev), roi_size=tuple(patch), sw_batch_size=2, predictor=net,
                overlap=overlap, mode="gaussian", padding_mode="constant", cval=0.0)
        return torch.softmax(logits[0].float(), dim=0).cpu()

    with torch.inference_mode():
        probs = one(image)
        if mirror:
            flipped = one(torch.flip(image, dims=(-1,)))
            lut = torch.as_tensor(left_right_lut())
            probs = 0.5 * (probs + torch.flip(flipped, dims=(-1,))[lut])
        return probs


def channel_argmax(x: torch.Tensor) -> torch.Tensor:
    """``x.argmax(1).to(torch.uint8)`` for ``x`` of shape (N, C, ...), C <= 256, computed as
    a running maximum over the channels (about 3x faster than torch's argmax over a
    strided channel axis). Ties go to the first channel, as with argmax (strict ``>``);
    where a voxel has a NaN, torch's argmax decides (it returns the NaN's channel)."""
    best = x[:, 0].clone()
    idx = torch.zeros(best.shape, dtype=torch.uint8)
    higher = torch.empty(best.shape, dtype=torch.bool)
    for c in range(1, x.shape[1]):
        xc = x[:, c]
        torch.gt(xc, best, out=higher)
        torch.maximum(best, xc, out=best)  # NaN propagates: best is NaN where any x is
        idx.masked_fill_(higher, c)
    if bool(torch.isnan(best).any()):
        return x.argmax(1).to(torch.uint8)
    return idx


def _probs_to_labels(probs: torch.Tensor, shape_zyx: Sequence[int], slab: int = 8) -> np.ndarray:
    """Trilinear resampling of probabilities (C, z', y', x') to ``shape_zyx``, then argmax.

    Separable: z first at the coarse in-plane size, then bilinear per slab of ``slab``
    slices, so memory stays at C x slab x y x x floats.
    """
    nz, ny, nx = (int(s) for s in shape_zyx)
    if tuple(probs.shape[1:]) == (nz, ny, nx):
        return channel_argmax(probs[None])[0].numpy()
    c, _, y0, x0 = probs.shape
    pz = F.interpolate(probs[None], size=(nz, y0, x0), mode="trilinear",
                       align_corners=False)[0]
    out = np.empty((nz, ny, nx), dtype=np.uint8)
    for z0 in range(0, nz, slab):
        chunk = pz[:, z0:z0 + slab].permute(1, 0, 2, 3)  # (slab, C, y0, x0)
        up = F.interpolate(chunk, size=(ny, nx), mode="bilinear", align_corners=False)
        out[z0:z0 + slab] = channel_argmax(up).numpy()
    return out


def remove_small_islands(labels: np.ndarray, spacing_mm: Sequence[float],
                         min_island_mm3: float) -> np.ndarray:
    """Per station, keep the largest connected component and every component of at least
    ``min_island_mm3``; smaller islands become background (0). Returns a new array.

    Connectivity is 26 (faces, edges, corners). Example: a station of a 27-voxel cube and
    a lone voxel 10 voxels away on a 1 mm grid, ``min_island_mm3 = 5`` -> the lone voxel
    is removed; with ``min_island_mm3 = 1`` both stay.
    """
    lab = np.array(labels, dtype=np.uint8, copy=True)
    if min_island_mm3 <= 0:
        return lab
    vox_mm3 = float(np.prod(spacing_mm))
    structure = np.ones((3, 3, 3), dtype=bool)
    boxes = ndimage.find_objects(lab, max_label=N_STATIONS)
    for k, box in enumerate(boxes, start=1):
        if box is None:
            continue
        sub = lab[box]
        comp, n = ndimage.label(sub == k, structure=structure)
        if n <= 1:
            continue
        sizes = np.bincount(comp.ravel())[1:]
        small = (sizes * vox_mm3 < min_island_mm3)
        small[int(np.argmax(sizes))] = False
        if small.any():
            sub[np.isin(comp, np.flatnonzero(small) + 1)] = 0
    return lab


def _as_checkpoint(model) -> Checkpoint:
    if isinstance(model, Checkpoint):
        return model
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        return load_checkpoint(model)
    raise TypeError(f"model: expected a Checkpoint or a checkpoint path, got {type(model)}")


def predict_stations(ct: np.ndarray, gtv: np.ndarray, grid: Grid, model, params, *,
                     gtvnd: np.ndarray | None = None, fast: bool | None = None,
                     patient: str = "<array>", return_confidence: bool = False):
    """Station label map (uint8, 0..16, shape of ``ct``) predicted for one CT.

    With ``return_confidence``, returns ``(labels, confidence)``: the mean, over the
    model-space voxels predicted as a station, of the winning softmax probability (NaN
    when no station is predicted), for :func:`analysis.segment.qc.check_prediction`.

    Parameters
    ----------
    ct : ndarray of int16, shape (z, y, x)
        CT in HU on ``grid``.
    gtv : ndarray of bool, shape (z, y, x)
        Gross tumour; pass ``gtvnd`` too (or the union here) - the model's mask input is
        GTV ∪ GTVnd. May be empty.
    grid : Grid
        The CT grid (only ``spacing_mm`` is used).
    model : Checkpoint or path
        A loaded checkpoint (:func:`analysis.segment.checkpoint.load_checkpoint`).
    params : Params
        ``params.segment`` gives the HU window, overlap, margins, island size, threads.
    fast : bool, optional
        Infer only inside :func:`mediastinal_box` (default ``params.segment.fast_path``).
    patient : str
        Named in error messages.
    """
    seg = params.segment
    ck = _as_checkpoint(model)
    ct = np.asarray(ct)
    if ct.ndim != 3:
        raise ValueError(f"patient {patient}: ct must be 3D (z, y, x), got shape {ct.shape}")
    if tuple(ct.shape) != tuple(grid.shape_zyx):
        raise ValueError(f"patient {patient}: ct shape {ct.shape} != grid {grid.shape_zyx}")
    mask = gross_tumour_mask(gtv, gtvnd)
    if mask.shape != ct.shape:
        raise ValueError(f"patient {patient}: gtv shape {mask.shape} != ct shape {ct.shape}")
    torch.set_num_threads(int(seg.num_threads))
    use_fast = seg.fast_path if fast is None else fast
    box = (mediastinal_box(ct, grid.spacing_mm, seg.roi_margin_mm, seg.roi_superior_mm)
           if use_fast else None)
    if box is None:
        box = tuple(slice(0, n) for n in ct.shape)
    ct_roi, mask_roi = ct[box], mask[box]
    roi_shape = ct_roi.shape
    target = ck.target_spacing_mm
    shape_m = shape_at_spacing(roi_shape, grid.spacing_mm, target)
    img = torch.from_numpy(np.stack([normalize_ct(ct_roi, ct_norm_of(ck.segment_params)),
                                     mask_roi.astype(np.float32)]))
    img = resample_to_shape(img, shape_m)
    img[1] = (img[1] > 0.5).float()
    patch = tuple(int(p) for p in ck.segment_params["patch_zyx"])
    dev = resolve_device(seg.device)
    if next(ck.network.parameters()).device != dev:
        ck.network.to(dev)
    probs = softmax_window(ck.network, img, patch, seg.sw_overlap, mirror=seg.tta_mirror)
    # outside the box every label is 0, so the islands are those of the box alone
    labels_roi = remove_small_islands(_probs_to_labels(probs, roi_shape), grid.spacing_mm,
                                      seg.min_island_mm3)
    out = np.zeros(ct.shape, dtype=np.uint8)
    out[box] = labels_roi
    if not return_confidence:
        return out
    top, arg = probs.max(0)
    fg = arg > 0
    conf = float(top[fg].mean()) if bool(fg.any()) else float("nan")
    return out, conf


# ----------------------------------------------------------------------------- cohort
_WORKER_CK: dict[str, Checkpoint] = {}


def _checkpoint_cached(path: str) -> Checkpoint:
    if path not in _WORKER_CK:
        _WORKER_CK[path] = load_checkpoint(path)
    return _WORKER_CK[path]


def _predict_one(args: tuple) -> dict:
    root, pid, ck_path, params = args

    store = CohortStore(root)
    t0 = time.perf_counter()
    grid = store.grid(pid)
    ct = store.read(pid, "ct")
    gtv = store.read(pid, "gtv")
    gtvnd = store.read(pid, "gtvnd") if store.has(pid, "gtvnd") else None
    ck = _checkpoint_cached(ck_path)
    pred, conf = predict_stations(ct, gtv, grid, ck, params, gtvnd=gtvnd, patient=pid,
                                  return_confidence=True)
    store.write(pid, "stations_pred", pred, grid)
    qc = check_prediction(pred, ct, grid, ck, confidence=conf, on_phantom=params.is_phantom,
                          accept_phantom_model=params.segment.accept_phantom_model)
    return {"seconds": time.perf_counter() - t0,
            "stations_present": int(qc.stations_found), "qc": qc.as_row()}


def predict_cohort(store, params, *, checkpoint: str | None = None,
                   scheduler: str | None = None, n_workers: int | None = None):
    """Predict and write ``stations_pred`` for every patient of ``store``.

    Runs through :func:`analysis.scheduling.parallel.map_patients` (``params.scheduler`` by default).
    With processes, each worker loads the checkpoint once and uses
    ``num_threads // n_workers`` torch threads. Returns the :class:`MapResult`
    (per patient: seconds, number of stations present, and ``qc``: the domain check's
    row, :meth:`analysis.segment.qc.PredictionQC.as_row`; failures by patient).
    """
    ck_path = str(paths.resolve(checkpoint or params.segment.checkpoint))
    load_checkpoint(ck_path)  # fail early, with the file's name, before any worker starts
    sched = scheduler or params.scheduler
    workers = n_workers or params.n_workers
    run_params = params
    if sched != "serial" and workers > 1:
        threads = max(1, params.segment.num_threads // workers)
        run_params = params.model_copy(update={"segment": params.segment.model_copy(
            update={"num_threads": threads})})
    items = {pid: (str(store.root), pid, ck_path, run_params) for pid in store.patient_ids()}
    return map_patients(_predict_one, items, scheduler=sched, n_workers=workers,
                        desc="stations")
