"""DiUNet and baselines: shapes, a forward/backward pass on a tiny volume, bad input."""

from __future__ import annotations

import pytest
import torch

from analysis.labels import N_CLASSES
from analysis.segment.networks import ARCHITECTURES, DiUNet, build_network, n_parameters

torch.set_num_threads(1)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_forward_backward_tiny_volume(arch):
    torch.manual_seed(0)
    net = build_network(arch, (4, 8, 16), num_res_units=1)
    x = torch.rand(1, 2, 8, 16, 16, requires_grad=False)
    y = net(x)
    assert y.shape == (1, N_CLASSES, 8, 16, 16)
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_diunet_uses_the_mask_and_unet_ct_ignores_it():
    torch.manual_seed(0)
    x = torch.rand(1, 2, 8, 16, 16)
    x2 = x.clone()
    x2[:, 1] = 1.0 - x2[:, 1]
    for arch, differs in (("diunet", True), ("unet_ct_gtv", True), ("unet_ct", False)):
        net = build_network(arch, (4, 8), num_res_units=1).eval()
        with torch.no_grad():
            d = float((net(x) - net(x2)).abs().max())
        assert (d > 1e-6) == differs, arch


def test_parameter_counts_are_small():
    # the CPU budget of the issue: well under 1 M parameters at (8, 16, 32, 64)
    for arch in ARCHITECTURES:
        assert 50_000 < n_parameters(build_network(arch, (8, 16, 32, 64), num_res_units=1)) \
            < 1_000_000


def test_bad_input_named():
    net = DiUNet((4, 8))
    with pytest.raises(ValueError, match="expected \\(batch, 2, z, y, x\\)"):
        net(torch.rand(1, 1, 8, 8, 8))
    with pytest.raises(ValueError, match="architecture: unknown"):
        build_network("vnet")
    with pytest.raises(ValueError, match="channels"):
        build_network("diunet", (8,))
