"""DiUNet and the two baselines, built from MONAI blocks.

DiUNet (dual-input U-Net) has two encoders, one for the CT and one for the gross-tumour
mask (GTV ∪ GTVnd). At every scale the two encoders' features are concatenated and
fused by a 1x1x1 convolution; the fused features are the skip connections of a single
decoder, which ends in a 1x1x1 convolution to ``N_CLASSES`` logits (background + 16
stations). The layout (strides, decoder) follows MONAI's UNet, so that the baselines
differ only by the second encoder and the fusion. The two encoders do not share weights and each keeps its own stream (the
fusion feeds only the decoder), so the CT stream learns anatomy and the mask stream
learns where the disease sits.

Baselines (same harness, same data):

* ``unet_ct``: :class:`monai.networks.nets.UNet` on the CT alone (1 input channel);
* ``unet_ct_gtv``: the same UNet on CT and GTV concatenated (2 input channels).

Every network takes a tensor ``(batch, 2, z, y, x)`` (channel 0 CT, channel 1 mask) and
returns logits ``(batch, N_CLASSES, z, y, x)``; ``unet_ct`` ignores channel 1. The
spatial size of the input must be divisible by ``2 ** (len(channels) - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from monai.networks.nets import UNet
from torch import nn

from analysis.labels import N_CLASSES

ARCHITECTURES: tuple[str, ...] = ("diunet", "unet_ct", "unet_ct_gtv")


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    ch = tuple(int(c) for c in channels)
    if len(ch) < 2 or min(ch) < 1:
        raise ValueError(f"channels: need at least 2 positive widths, got {channels!r}")
    return ch


class _Encoder(nn.Module):
    """A residual encoder laid out like MONAI's UNet: one ResidualUnit per scale, stride 2
    at every scale but the deepest (so the first features are at half resolution)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], num_res_units: int):
        super().__init__()
        blocks = []
        prev = in_channels
        for i, c in enumerate(channels):
            blocks.append(ResidualUnit(3, prev, c, strides=2 if i < len(channels) - 1 else 1,
                                       subunits=num_res_units, norm="INSTANCE"))
            prev = c
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class DiUNet(nn.Module):
    """Dual-encoder U-Net: CT encoder + mask encoder, fusion at every scale, one decoder.

    The layout is that of :class:`monai.networks.nets.UNet` with the same ``channels``
    (stride 2 at every scale but the deepest; the decoder concatenates each scale's skip
    with the deeper output, up-samples by a transposed convolution and refines with a
    ResidualUnit, the top unit ending in a bare convolution to the logits), so that the
    baselines differ from DiUNet only by the second encoder and the fusion.

    Parameters
    ----------
    channels : sequence of int
        Feature widths of the CT encoder, finest first, e.g. ``(8, 16, 32, 64)``.
    mask_channels : sequence of int, optional
        Widths of the mask encoder (same length); default half of ``channels``
        (at least 4): a binary mask needs fewer features than the CT.
    out_channels : int
        Classes (default ``N_CLASSES`` = 17).
    num_res_units : int
        Sub-units per encoder ResidualUnit.
    """

    def __init__(self, channels: Sequence[int] = (8, 16, 32, 64),
                 mask_channels: Sequence[int] | None = None,
                 out_channels: int = N_CLASSES, num_res_units: int = 2):
        super().__init__()
        ch = _check_channels(channels)
        mch = (tuple(max(4, c // 2) for c in ch) if mask_channels is None
               else _check_channels(mask_channels))
        if len(mch) != len(ch):
            raise ValueError(f"mask_channels: need {len(ch)} widths like channels, got {mch}")
        self.channels = ch
        self.ct_encoder = _Encoder(1, ch, num_res_units)
        self.mask_encoder = _Encoder(1, mch, num_res_units)
        self.fusion = nn.ModuleList(
            Convolution(3, c + m, c, kernel_size=1, norm="INSTANCE")
            for c, m in zip(ch, mch, strict=True)
        )
        # decoder laid out as MONAI UNet's up layers: a transposed 3x3x3 convolution with
        # norm and activation, then a ResidualUnit; the top one ends in a bare convolution
        # to the logits. (A first version up-sampled by a bare 2x2x2 deconvolution and put
        # a 1x1x1 head after a normalised unit: it started at 3x the loss and stayed at
        # "all background" for 20 epochs.)
        ups, decs = [], []
        deeper = ch[-1]
        for i in range(len(ch) - 2, -1, -1):
            top = i == 0
            out_c = ch[i - 1] if not top else out_channels
            ups.append(Convolution(3, ch[i] + deeper, out_c, strides=2, kernel_size=3,
                                   norm="INSTANCE", is_transposed=True))
            decs.append(ResidualUnit(3, out_c, out_c, subunits=1, norm="INSTANCE",
                                     last_conv_only=top))
            deeper = out_c
        self.ups = nn.ModuleList(ups)
        self.decoders = nn.ModuleList(decs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, 2, z, y, x): CT, mask -> logits (batch, out_channels, z, y, x)."""
        if x.ndim != 5 or x.shape[1] != 2:
            raise ValueError(f"DiUNet input: expected (batch, 2, z, y, x), got {tuple(x.shape)}")
        f_ct = self.ct_encoder(x[:, :1])
        f_mask = self.mask_encoder(x[:, 1:2])
        fused = [fuse(torch.cat([a, b], dim=1))
                 for fuse, a, b in zip(self.fusion, f_ct, f_mask, strict=True)]
        y = fused[-1]
        for k, (up, dec) in enumerate(zip(self.ups, self.decoders, strict=True)):
            skip = fused[-2 - k]
            y = dec(up(torch.cat([skip, y], dim=1)))
        return y


class _UNetCT(nn.Module):
    """MONAI UNet on the CT channel alone (ignores the mask channel)."""

    def __init__(self, channels: tuple[int, ...], out_channels: int, num_res_units: int):
        super().__init__()
        self.unet = UNet(3, 1, out_channels, channels, (2,) * (len(channels) - 1),
                         num_res_units=num_res_units, norm="INSTANCE")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x[:, :1])


def build_network(architecture: str, channels: Sequence[int] = (8, 16, 32, 64),
                  out_channels: int = N_CLASSES, num_res_units: int = 2) -> nn.Module:
    """The network named ``architecture`` (one of :data:`ARCHITECTURES`).

    All three take ``(batch, 2, z, y, x)`` input (CT, mask) and return
    ``(batch, out_channels, z, y, x)`` logits.
    """
    ch = _check_channels(channels)
    if architecture == "diunet":
        return DiUNet(ch, out_channels=out_channels, num_res_units=num_res_units)
    if architecture == "unet_ct":
        return _UNetCT(ch, out_channels, num_res_units)
    if architecture == "unet_ct_gtv":
        return UNet(3, 2, out_channels, ch, (2,) * (len(ch) - 1),
                    num_res_units=num_res_units, norm="INSTANCE")
    raise ValueError(f"architecture: unknown {architecture!r}; known: {', '.join(ARCHITECTURES)}")


def n_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; ``"cuda"`` without a GPU raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("segment.device: cuda requested but torch sees no GPU "
                           "(use auto or cpu)")
    return torch.device(name)
