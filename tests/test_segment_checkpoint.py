"""Checkpoints: save/load round trip; truncated, corrupted, foreign, wrong-class files
refused with a message naming the file."""

from __future__ import annotations

import json

import pytest
import torch

from analysis.segment.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from analysis.segment.networks import build_network

SEG = {"target_spacing_mm": [5.0, 4.0, 4.0], "patch_zyx": [8, 16, 16], "num_res_units": 1}


def _save(path, n_classes=17, arch="diunet"):
    torch.manual_seed(0)
    net = build_network(arch, (4, 8), out_channels=n_classes, num_res_units=1)
    save_checkpoint(path, net, architecture=arch, channels=(4, 8), segment_params=SEG,
                    seed=3, data_hash="abc", metrics={"x": 1}, n_classes=n_classes)
    return net


def test_round_trip(tmp_path):
    p = tmp_path / "m.pt"
    net = _save(p)
    ck = load_checkpoint(p)
    assert ck.architecture == "diunet" and ck.seed == 3 and ck.data_hash == "abc"
    assert ck.target_spacing_mm == (5.0, 4.0, 4.0)
    for k, v in net.state_dict().items():
        assert torch.equal(v, ck.network.state_dict()[k])
    side = json.loads(p.with_suffix(".json").read_text())
    assert side["metrics"] == {"x": 1} and len(side["sha256"]) == 64


def test_truncated_file_refused(tmp_path):
    p = tmp_path / "m.pt"
    _save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="m.pt: checkpoint is truncated"):
        load_checkpoint(p)
    # without its JSON the reader itself must fail, still naming the file
    p.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="m.pt: unreadable checkpoint"):
        load_checkpoint(p)


def test_altered_bytes_refused(tmp_path):
    p = tmp_path / "m.pt"
    _save(p)
    data = bytearray(p.read_bytes())
    data[-100] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 differs"):
        load_checkpoint(p)


def test_wrong_class_count_refused(tmp_path):
    p = tmp_path / "m.pt"
    _save(p, n_classes=5)
    with pytest.raises(CheckpointError, match="predicts 5 classes, expected 17"):
        load_checkpoint(p)


def test_missing_empty_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "e.pt")
    torch.save({"weights": 1}, tmp_path / "f.pt")
    with pytest.raises(CheckpointError, match="not an analysis.segment checkpoint"):
        load_checkpoint(tmp_path / "f.pt")
