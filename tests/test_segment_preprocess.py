"""nnU-Net-style preprocessing and inference options against hand-computed values: the
z-score normalisation and its statistics, the checkpoint's recorded normalisation (old
checkpoints keep their HU window), median spacing, left-right test-time mirroring,
device choice and fine-tuning from a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.labels import N_CLASSES, STATION_LABEL
from analysis.segment.data import median_spacing
from analysis.segment.infer import softmax_window
from analysis.segment.networks import build_network, resolve_device
from analysis.segment.transforms import ct_norm_of, normalize_ct, window_hu, zscore_stats


def test_zscore_by_hand():
    """clip (-100, 100), mean 0, sd 50: 300 HU -> 100 -> 2.0; -40 HU -> -0.8."""
    norm = {"kind": "zscore", "clip_hu": [-100.0, 100.0], "mean_hu": 0.0, "sd_hu": 50.0}
    np.testing.assert_allclose(normalize_ct(np.array([300, -40, -1000]), norm),
                               [2.0, -0.8, -2.0])


def test_zscore_stats_use_foreground_percentiles():
    """Foreground HU 0..999 (uniform, 1000 voxels): numpy's linear percentiles give clip
    (4.995, 994.005); the clipped mean stays 499.5 by symmetry. Background (-1000) is
    ignored.

    Injected fault (once): statistics over all voxels instead of the foreground -> clip
    low -1000 instead of 4.995: fails."""
    ct = np.concatenate([np.arange(1000), np.full(1000, -1000)]).astype(np.int16)
    fg = np.arange(2000) < 1000
    s = zscore_stats([ct], [fg])
    np.testing.assert_allclose(s["clip_hu"], [4.995, 994.005], atol=1e-9)
    assert s["mean_hu"] == pytest.approx(499.5, abs=1e-9)


def test_old_checkpoints_keep_their_window():
    """A checkpoint without ``ct_norm`` (the shipped ones) normalises by its HU window."""
    norm = ct_norm_of({"hu_window": [-1000.0, 1000.0]})
    assert norm == {"kind": "window", "window_hu": [-1000.0, 1000.0]}
    ct = np.array([-1000, 0, 3000])
    np.testing.assert_array_equal(normalize_ct(ct, norm), window_hu(ct, (-1000, 1000)))
    z = {"kind": "zscore", "clip_hu": [0, 1], "mean_hu": 0, "sd_hu": 1}
    assert ct_norm_of({"hu_window": [-1, 1], "ct_norm": z}) == z


def test_median_spacing_by_hand():
    pts = [{"spacing_mm": (5.0, 1.0, 1.0)}, {"spacing_mm": (3.0, 0.8, 0.8)},
           {"spacing_mm": (2.5, 0.9, 0.9)}]
    assert median_spacing(pts) == (3.0, 0.9, 0.9)


class _RightHalf(torch.nn.Module):
    """Logits that put station 1R wherever x < width / 2 and background elsewhere."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, _, z, y, w = x.shape
        out = torch.zeros(b, N_CLASSES, z, y, w) + self.w
        out[:, STATION_LABEL["1R"], ..., : w // 2] = 10.0
        out[:, 0, ..., w // 2:] = 10.0
        return out


def test_mirroring_swaps_left_and_right_stations():
    """A 'network' that always paints 1R on the image's left half (x < 4). On the mirrored
    image it paints the left half too, which flipped back is the right half, and with
    the L/R swap it is 1L there: the patient's anatomy mirrored. Averaged: 1R on the
    left and 1L on the right each get half of softmax(10 vs 16 zeros) = 0.99927 / 2.

    Injected fault (once): no label swap after the flip back -> 1L on the right half is
    4.5e-5 instead of 0.4996: fails."""
    img = torch.zeros(2, 4, 8, 8)
    p = softmax_window(_RightHalf(), img, (4, 8, 8), 0.0, mirror=True)
    left, right = p[..., :4], p[..., 4:]
    assert float(left[STATION_LABEL["1R"]].mean()) == pytest.approx(0.4996, abs=1e-3)
    assert float(right[STATION_LABEL["1L"]].mean()) == pytest.approx(0.4996, abs=1e-3)
    assert float(left[STATION_LABEL["1L"]].max()) < 1e-3
    plain = softmax_window(_RightHalf(), img, (4, 8, 8), 0.0)
    assert float(plain[STATION_LABEL["1L"]].max()) < 1e-3


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            resolve_device("cuda")


def test_init_checkpoint_must_match_the_architecture(tmp_path):
    from analysis.params import load_params
    from analysis.segment.checkpoint import save_checkpoint
    from analysis.segment.fit import fit

    ck = tmp_path / "init.pt"
    save_checkpoint(ck, build_network("unet_ct", (4, 8), num_res_units=1),
                    architecture="unet_ct", channels=(4, 8),
                    segment_params={"num_res_units": 1}, seed=0, data_hash="x")
    p = load_params("params/ci.yaml")
    p = p.model_copy(update={"segment": p.segment.model_copy(update={
        "init_checkpoint": str(ck), "channels": (4, 8)})})
    with pytest.raises(ValueError, match="init_checkpoint"):
        fit([], [], p, "diunet", norm={"kind": "window", "window_hu": [-1000, 1000]},
            max_epochs=1, max_minutes=1.0, log=lambda s: None)
