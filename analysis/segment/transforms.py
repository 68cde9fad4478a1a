"""Pre-processing and augmentation for station segmentation (array functions first).

Array functions (numpy / torch, no dictionaries):

* :func:`window_hu` maps Hounsfield units to [0, 1] through a window;
* :func:`normalize_ct` applies a checkpoint's recorded CT normalisation (``window``, the
  shipped models, or nnU-Net's ``zscore``: clip to foreground percentiles, then z-score);
  :func:`zscore_stats` computes the latter's numbers from training data;
* :func:`gross_tumour_mask` is the mask input of DiUNet: GTV ∪ GTVnd (SPEC's "gross
  disease"; the stations a node sits in are what the network must place);
* :func:`resample_to_spacing` / :func:`resample_to_shape` change the voxel size;
* :func:`swap_left_right_labels` maps every lateralised station to its mirror (1R <-> 1L,
  2R <-> 2L, 4R <-> 4L, 10R <-> 10L, 11R <-> 11L), used with a left-right flip.

Dictionary transforms (MONAI ``Compose``) for training: :func:`train_transforms` builds
random crops centred on stations, a left-right flip with label swap, a small affine
(rotation about z, scaling) and small intensity scale and shift on the CT channel.
Keys: ``"ct"`` (1, z, y, x) float in [0, 1], ``"mask"`` (1, z, y, x) float {0, 1},
``"label"`` (1, z, y, x) int labels 0..16; the output adds ``"image"`` (2, z, y, x).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import (
    Compose,
    ConcatItemsd,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandCropByPosNegLabeld,
    RandomizableTransform,
    RandScaleIntensityd,
    RandShiftIntensityd,
    SpatialPadd,
)
from scipy import ndimage

from analysis.labels import N_CLASSES, STATION_LABEL

#: label value -> label value of the mirrored station (identity for midline stations)
_LR_PAIRS = (("1R", "1L"), ("2R", "2L"), ("4R", "4L"), ("10R", "10L"), ("11R", "11L"))


def left_right_lut() -> np.ndarray:
    """Lookup table (N_CLASSES,) mapping each label to its left-right mirror label."""
    lut = np.arange(N_CLASSES, dtype=np.int64)
    for right, left in _LR_PAIRS:
        lut[STATION_LABEL[right]], lut[STATION_LABEL[left]] = (STATION_LABEL[left],
                                                                STATION_LABEL[right])
    return lut


def swap_left_right_labels(labels: np.ndarray) -> np.ndarray:
    """Replace every lateralised station label by its mirror (1R <-> 1L, ...); same shape."""
    lab = np.asarray(labels)
    return left_right_lut()[lab.astype(np.int64)].astype(lab.dtype)


def window_hu(ct_hu: np.ndarray, window_hu: Sequence[float] = (-1000.0, 1000.0)) -> np.ndarray:
    """Clip ``ct_hu`` to ``window_hu = (low, high)`` and scale linearly to [0, 1].

    .. math:: I = \\min(1, \\max(0, (HU - low) / (high - low)))

    Example: with the window (-1000, 1000), -1000 HU -> 0, 0 HU -> 0.5, 3000 HU -> 1.
    """
    lo, hi = (float(w) for w in window_hu)
    if not hi > lo:
        raise ValueError(f"window_hu: high must exceed low, got {window_hu!r}")
    out = (np.asarray(ct_hu, dtype=np.float32) - lo) / (hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def zscore_stats(cts_hu: Sequence[np.ndarray], foregrounds: Sequence[np.ndarray]) -> dict:
    """nnU-Net's CT normalisation numbers from training data: the 0.5 and 99.5 percentiles
    of the foreground voxels' HU (here: voxels of any station), then the mean and SD of
    the clipped foreground voxels.

    Returns ``{"kind": "zscore", "clip_hu": [lo, hi], "mean_hu": m, "sd_hu": s}``.
    Example: foreground HU 0..100 uniformly -> clip ~[0.5, 99.5], mean ~50.
    """
    vals = np.concatenate([np.asarray(c)[np.asarray(f, dtype=bool)].ravel()
                           for c, f in zip(cts_hu, foregrounds, strict=True)])
    if vals.size == 0:
        raise ValueError("zscore_stats: no foreground voxel in the training data")
    lo, hi = np.percentile(vals.astype(np.float64), [0.5, 99.5])
    clipped = np.clip(vals, lo, hi)
    return {"kind": "zscore", "clip_hu": [float(lo), float(hi)],
            "mean_hu": float(clipped.mean()), "sd_hu": float(max(clipped.std(), 1e-3))}


def normalize_ct(ct_hu: np.ndarray, norm: dict | Sequence[float]) -> np.ndarray:
    """CT channel as the network sees it (float32, same shape).

    ``norm`` is a checkpoint's recorded normalisation: ``{"kind": "window", "window_hu":
    [lo, hi]}`` (:func:`window_hu`), ``{"kind": "zscore", "clip_hu": [lo, hi],
    "mean_hu": m, "sd_hu": s}`` (clip, then ``(HU - m) / s``), or a bare ``(lo, hi)``
    window. Example: zscore with clip (-100, 100), mean 0, sd 50: 300 HU -> 2.0.
    """
    if not isinstance(norm, dict):
        return window_hu(ct_hu, norm)
    if norm["kind"] == "window":
        return window_hu(ct_hu, norm["window_hu"])
    if norm["kind"] != "zscore":
        raise ValueError(f"normalize_ct: unknown kind {norm['kind']!r}")
    lo, hi = (float(v) for v in norm["clip_hu"])
    out = np.clip(np.asarray(ct_hu, dtype=np.float32), lo, hi)
    out -= np.float32(norm["mean_hu"])
    out /= np.float32(norm["sd_hu"])
    return out


def ct_norm_of(segment_params: dict) -> dict:
    """The CT normalisation a checkpoint was trained with: its recorded ``ct_norm``, or,
    for checkpoints that predate it (the shipped ones), the HU window of its params."""
    if segment_params.get("ct_norm"):
        return dict(segment_params["ct_norm"])
    return {"kind": "window",
            "window_hu": list(segment_params.get("hu_window", (-1000.0, 1000.0)))}


def gross_tumour_mask(gtv: np.ndarray, gtvnd: np.ndarray | None) -> np.ndarray:
    """DiUNet's mask input: GTV ∪ GTVnd (bool, same shape); ``gtvnd`` may be None."""
    g = np.asarray(gtv, dtype=bool)
    if gtvnd is None:
        return g.copy()
    n = np.asarray(gtvnd, dtype=bool)
    if n.shape != g.shape:
        raise ValueError(f"gtvnd: shape {n.shape} differs from gtv shape {g.shape}")
    return g | n


def shape_at_spacing(shape_zyx: Sequence[int], spacing_mm: Sequence[float],
                     target_spacing_mm: Sequence[float]) -> tuple[int, int, int]:
    """Shape of the same field of view at ``target_spacing_mm`` (rounded, at least 1)."""
    return tuple(max(1, int(round(n * s / t)))
                 for n, s, t in zip(shape_zyx, spacing_mm, target_spacing_mm,
                                    strict=True))


def resample_to_shape(volume: torch.Tensor | np.ndarray, shape_zyx: Sequence[int],
                      mode: str = "trilinear") -> torch.Tensor:
    """Resample ``volume`` of shape (C, z, y, x) to (C, *shape_zyx), same field of view.

    ``mode`` is ``"trilinear"`` (images, probabilities) or ``"nearest"`` (labels).
    Voxel centres follow ``align_corners=False`` (the field of view's edges match).
    """
    t = torch.as_tensor(volume)
    if t.ndim != 4:
        raise ValueError(f"volume: expected (C, z, y, x), got shape {tuple(t.shape)}")
    shape = tuple(int(s) for s in shape_zyx)
    if tuple(t.shape[1:]) == shape:
        return t
    if mode == "nearest":
        return F.interpolate(t[None].float(), size=shape, mode="nearest-exact")[0].to(t.dtype)
    return F.interpolate(t[None].float(), size=shape, mode="trilinear",
                         align_corners=False)[0]


def resample_to_spacing(volume: torch.Tensor | np.ndarray, spacing_mm: Sequence[float],
                        target_spacing_mm: Sequence[float],
                        mode: str = "trilinear") -> torch.Tensor:
    """Resample (C, z, y, x) from ``spacing_mm`` to ``target_spacing_mm`` (same FOV)."""
    t = torch.as_tensor(volume)
    shape = shape_at_spacing(t.shape[1:], spacing_mm, target_spacing_mm)
    return resample_to_shape(t, shape, mode)


def network_input(ct_hu: np.ndarray, mask: np.ndarray,
                  window: Sequence[float] = (-1000.0, 1000.0)) -> np.ndarray:
    """Stack the windowed CT and the mask -> float32 array (2, z, y, x)."""
    ct = np.asarray(ct_hu)
    m = np.asarray(mask)
    if ct.shape != m.shape:
        raise ValueError(f"mask: shape {m.shape} differs from ct shape {ct.shape}")
    return np.stack([window_hu(ct, window), m.astype(np.float32)])


class RandFlipLeftRightd(RandomizableTransform, MapTransform):
    """Flip along x (the patient's left-right axis) and swap lateralised station labels.

    Parameters
    ----------
    keys : image keys to flip (e.g. ``("ct", "mask")``)
    label_key : the station label key (flipped and relabelled)
    prob : probability of the flip
    """

    def __init__(self, keys: Sequence[str], label_key: str = "label", prob: float = 0.5):
        MapTransform.__init__(self, list(keys) + [label_key])
        RandomizableTransform.__init__(self, prob)
        self.image_keys = tuple(keys)
        self.label_key = label_key
        self._lut = torch.as_tensor(left_right_lut())

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        for k in self.image_keys:
            d[k] = torch.flip(torch.as_tensor(d[k]), dims=(-1,))
        lab = torch.flip(torch.as_tensor(d[self.label_key]), dims=(-1,))
        d[self.label_key] = self._lut[lab.long()].to(lab.dtype)
        return d


def train_transforms(patch_zyx: Sequence[int], *, flip_prob: float = 0.0,
                     affine_prob: float = 0.2, intensity_prob: float = 0.3,
                     gamma_prob: float = 0.0) -> Compose:
    """Random training transforms on a dict of ``ct``, ``mask``, ``label`` tensors.

    Crops one patch of ``patch_zyx`` centred, 4 times in 5, on a station voxel (the
    stations fill a small part of the chest, so random crops would mostly see
    background; nnU-Net oversamples foreground in 1 patch of 3); pads first when the
    volume is smaller than the patch. ``gamma_prob > 0`` adds a random gamma
    (0.7-1.5) on the CT channel (nnU-Net); at 0 the chain is exactly the shipped models'.
    """
    patch = tuple(int(p) for p in patch_zyx)
    keys = ["ct", "mask", "label"]
    gamma = ([RandAdjustContrastd(["ct"], prob=gamma_prob, gamma=(0.7, 1.5))]
             if gamma_prob > 0 else [])
    return Compose([
        SpatialPadd(keys, spatial_size=patch),
        RandCropByPosNegLabeld(keys, label_key="label", spatial_size=patch, pos=4, neg=1,
                               num_samples=1, allow_smaller=False),
        RandFlipLeftRightd(["ct", "mask"], "label", prob=flip_prob),
        RandAffined(keys, prob=affine_prob, rotate_range=(0.1, 0.0, 0.0),
                    scale_range=(0.05, 0.05, 0.05), mode=("bilinear", "bilinear", "nearest"),
                    padding_mode="zeros"),
        RandScaleIntensityd(["ct"], factors=0.05, prob=intensity_prob),
        RandShiftIntensityd(["ct"], offsets=0.03, prob=intensity_prob),
        *gamma,
        ConcatItemsd(["ct", "mask"], "image"),
    ])


#: HU below which a voxel inside the body counts as lung / air
LUNG_HU = -400.0
#: HU above which a voxel counts as body (vs outside air)
BODY_HU = -500.0


def fill_holes_by_slice(mask: np.ndarray) -> np.ndarray:
    """``np.stack([ndimage.binary_fill_holes(s) for s in mask])`` for a 3D bool ``mask``,
    in one labelling: background regions (4-connected within a slice) that touch the
    slice's edge stay background, every other one is a hole and is filled."""
    within_slice = np.zeros((3, 3, 3), dtype=bool)
    within_slice[1] = ndimage.generate_binary_structure(2, 1)
    bg, n = ndimage.label(~mask, structure=within_slice)
    keep = np.ones(n + 1, dtype=bool)
    for edge in (bg[:, 0, :], bg[:, -1, :], bg[:, :, 0], bg[:, :, -1]):
        keep[edge] = False
    keep[0] = True  # the mask itself
    return keep[bg]


def coarse_body(ct_hu: np.ndarray, spacing_mm: Sequence[float], step_mm: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A coarse copy of the CT and its body mask.

    Returns ``(small, body, step)``: the CT sampled every ``step`` voxels (about
    ``step_mm`` apart, at least 1), the body on it (the largest connected component above
    ``BODY_HU``, holes filled slice by slice; all False when there is none), and ``step``.
    """
    ct = np.asarray(ct_hu)
    sp = np.asarray(spacing_mm, dtype=float)
    step = np.maximum(1, np.floor(step_mm / sp)).astype(int)
    small = np.ascontiguousarray(ct[::step[0], ::step[1], ::step[2]])
    body = small > BODY_HU
    lab, n = ndimage.label(body)
    if n:
        body = lab == (1 + int(np.argmax(np.bincount(lab.ravel())[1:])))
        body = fill_holes_by_slice(body)
    return small, body, step
