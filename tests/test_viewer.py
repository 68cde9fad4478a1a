"""The slice viewer's pure functions (overlay composition, toggling, planes, outlines) and
the widget built offline, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import viewer
from analysis.grid import Grid


def test_overlay_hand_values_and_toggling():
    base = np.zeros((1, 2, 3), np.float32)
    lab = np.array([[1, 0]])
    lut = viewer.station_rgba()
    out = viewer.overlay_rgba(base, lab, visible=None, opacity=0.5)
    np.testing.assert_allclose(out[0, 0, :3], 0.5 * lut[1, :3])
    np.testing.assert_allclose(out[0, 1], [0, 0, 0, 1])
    # station 1 toggled off: the base shows through unchanged
    off = viewer.overlay_rgba(base, lab, visible=[2], opacity=0.5)
    np.testing.assert_allclose(off[0, 0], [0, 0, 0, 1])
    full = viewer.overlay_rgba(np.ones((1, 2, 3), np.float32), lab, visible=[1], opacity=1.0)
    np.testing.assert_allclose(full[0, 0, :3], lut[1, :3])
    with pytest.raises(ValueError, match="opacity"):
        viewer.overlay_rgba(base, lab, None, 1.5)
    with pytest.raises(ValueError, match="visible"):
        viewer.overlay_rgba(base, lab, [0], 0.5)


def test_planes_orientation():
    v = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert viewer.slice_of(v, "axial", 1).shape == (3, 4)
    cor = viewer.slice_of(v, "coronal", 2)
    assert cor.shape == (2, 4) and cor[0, 0] == v[1, 2, 0]  # superior slice on top
    sag = viewer.slice_of(v, "sagittal", 3)
    assert sag.shape == (2, 3) and sag[-1, 0] == v[0, 0, 3]
    assert viewer.plane_aspect((5.0, 1.0, 2.0), "coronal") == 2.5
    with pytest.raises(IndexError):
        viewer.slice_of(v, "axial", 2)


def test_outline_and_compose_draw_gtv_edges():
    m = np.zeros((5, 5), bool)
    m[1:4, 1:4] = True
    edge = viewer.outline(m)
    assert edge.sum() == 8 and not edge[2, 2]
    ct = np.full((1, 5, 5), -1000, np.int16)
    st = np.zeros((1, 5, 5), np.uint8)
    img = viewer.compose(ct, st, "axial", 0, gtv=m[None], opacity=0.5)
    np.testing.assert_allclose(img[1, 1, :3], viewer.GTV_RGB)
    np.testing.assert_allclose(img[2, 2, :3], 0.0)


def test_show_builds_an_offline_widget():
    import ipywidgets

    ct = np.zeros((4, 6, 6), np.int16)
    st = np.zeros((4, 6, 6), np.uint8)
    st[1:3, 2:4, 2:4] = 7
    w = viewer.show(ct, st, gtv=st > 0, grid=Grid((4, 6, 6), (5.0, 1.0, 1.0)))
    assert isinstance(w, ipywidgets.VBox)
    with pytest.raises(ValueError, match="mode"):
        viewer.show(ct, st, mode="vr")
    with pytest.raises(ValueError, match="stations: shape"):
        viewer.show(ct, st[:2])
