"""The slice viewer's pure functions (overlay composition, toggling, planes, outlines) and
the widget built offline, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.grid import Grid
from analysis.viewers import slices as viewer


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


# --- the 3D viewer (NiiVue) ---------------------------------------------------------------

def _scene():
    from analysis.viewers import volume as viewer3d

    grid = Grid((6, 8, 10), (2.0, 1.0, 1.0))
    ct = np.zeros(grid.shape_zyx, np.int16)
    st = np.zeros(grid.shape_zyx, np.uint8)
    st[1:3, 2:4, 1:4] = 7  # 12 voxels of 2 mm^3: 0.024 mL of station 4R
    st[3:5, 5:7, 6:9] = 8  # 4L
    ref = st.copy()
    ref[1:3, 2:4, 4] = 7  # the reference 4R is 4 voxels larger
    gtv = np.zeros(grid.shape_zyx, bool)
    gtv[2:4, 3:6, 3:6] = True
    return viewer3d.Scene(ct, st, grid, reference=ref, overlays={"gtv": gtv, "ctv": gtv})


def test_station_volumes_and_click_read_out():
    from analysis.viewers import volume as viewer3d

    sc = _scene()
    assert viewer3d.station_volumes_ml(sc.stations, sc.grid) == {"4R": 0.024, "4L": 0.024}
    vols = viewer3d.station_volumes_ml(sc.reference, sc.grid)
    assert vols["4R"] == pytest.approx(0.032)  # 16 voxels x 2 mm^3
    loc = {"values": [{"value": -1000}, {"value": 7.0}]}
    assert viewer3d.click_text(loc, vols) == "station 4R: 0.0 mL"
    assert viewer3d.click_text({"values": [0.0, 0.0]}, vols) == "no station here"
    assert viewer3d.click_text({}, vols) == "no voxel under the pointer"


def test_label_lut_colours_and_toggles():
    from analysis.labels import STATION_COLORS
    from analysis.viewers import volume as viewer3d

    lut = viewer3d.label_lut([7])
    assert lut["labels"][7] == "4R" and len(lut["R"]) == 17
    assert (lut["R"][7], lut["G"][7], lut["B"][7]) == STATION_COLORS["4R"]
    assert lut["A"][0] == 0 and lut["A"][7] == 255 and lut["A"][8] == 0


def test_nifti_bytes_hold_the_volume_in_ras():
    import gzip

    import nibabel as nib

    from analysis.viewers import volume as viewer3d

    sc = _scene()
    img = nib.Nifti1Image.from_bytes(gzip.decompress(viewer3d.nifti_gz(sc.stations, sc.grid)))
    data = np.asarray(img.dataobj)
    assert data.shape == (10, 8, 6)  # (x, y, z)
    assert (data.transpose(2, 1, 0) == sc.stations).all()
    # LPS -> RAS: x and y negated (the patient's right is RAS -x)
    np.testing.assert_allclose(np.diag(img.affine)[:3], [-1.0, -1.0, 2.0])


def test_3d_widget_state_holds_the_volumes_and_toggles():
    """Fault injected: the toggles not wired (no observe) -> 4R's alpha stays 255."""
    import ipyniivue

    sc = _scene()
    box = viewer.show(sc.ct, sc.stations, gtv=sc.overlays["gtv"], ctv=sc.overlays["ctv"],
                      grid=sc.grid, mode="3d", reference=sc.reference)
    assert len(box.niivue) == 2 and all(isinstance(v, ipyniivue.NiiVue) for v in box.niivue)
    names = [v.name for v in box.niivue[0].volumes]
    # the CTV first, the GTV last: drawn over it (issue 24)
    assert names == ["ct.nii.gz", "stations.nii.gz", "ctv.nii.gz", "gtv.nii.gz"]
    assert box.niivue[0].opts.is_radiological_convention is True
    assert all(v.data for v in box.niivue[0].volumes)  # the bytes travel in the state
    assert box.niivue[0].volumes[1].colormap_label.labels[7] == "4R"
    assert sorted(box.station_toggles) == ["4L", "4R"]
    box.station_toggles["4R"].value = False
    for nv in box.niivue:
        assert nv.volumes[1].colormap_label.lut[4 * 7 + 3] == 0  # 4R hidden in both
        assert nv.volumes[1].colormap_label.lut[4 * 8 + 3] == 255  # 4L still shown
    bundle = box._repr_mimebundle_()
    assert {"image/png", "application/vnd.jupyter.widget-view+json"} <= set(bundle)


def test_slice_viewer_carries_a_png_snapshot():
    import base64
    import io

    from PIL import Image

    sc = _scene()
    box = viewer.show(sc.ct, sc.stations, grid=sc.grid)
    png = base64.b64decode(box._repr_mimebundle_()["image/png"])
    img = Image.open(io.BytesIO(png))
    assert img.size[0] > 200 and img.size[1] > 50


def _left_gtv_scene():
    """A body with a GTV on the patient's left (high x) inside a CTV, stations 4R, 7."""
    grid = Grid((12, 32, 32), (3.0, 1.5, 1.5), (-100.0, -50.0, -90.0))
    ct = np.full(grid.shape_zyx, -900, np.int16)
    ct[:, 4:28, 4:28] = 40
    st = np.zeros(grid.shape_zyx, np.uint8)
    st[4:8, 8:14, 8:14] = 7  # 4R on the patient's right (low x)
    st[4:8, 16:22, 12:18] = 11  # 7
    gtv = np.zeros(grid.shape_zyx, bool)
    gtv[3:9, 12:20, 22:27] = True  # x 22..26 of 0..31: the patient's left
    ctv = np.zeros(grid.shape_zyx, bool)
    ctv[2:10, 10:22, 19:29] = True
    return grid, ct, st, gtv, ctv


def _red_x_per_axes(fig) -> dict[str, float]:
    """Mean horizontal position (0 left .. 1 right) of the GTV's red in each image axes."""
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = img.shape[0]
    red = (img[..., 0] > 200) & (img[..., 1] < 90) & (img[..., 2] < 90)
    out = {}
    for ax in fig.axes:
        if not ax.images:
            continue
        b = ax.get_window_extent()
        sub = red[int(height - b.y1):int(height - b.y0), int(b.x0):int(b.x1)]
        _, xs = np.nonzero(sub)
        out[ax.get_title()] = float(xs.mean() / sub.shape[1]) if len(xs) else float("nan")
    return out


def test_a_left_sided_gtv_is_on_the_right_of_every_figure():
    """Radiological (issue 24): the planted left GTV is right of centre in the slice
    viewer's axial and coronal planes, in 02_segment's overlay figure and in the
    gallery thumbnails, and each plane names the patient's side at its edges (R left, L
    right). Fault injected: ``slice_of`` returning ``v[index][:, ::-1]`` for axial (a
    neurological axial plane) -> the viewer's axial GTV at 0.23 (measured) and the test
    fails."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from analysis.report.pages import thumbnail_png
    from analysis.segment.report import overlay_figure

    grid, ct, st, gtv, ctv = _left_gtv_scene()
    fig = viewer.render(ct, st, (6, 16, 24), gtv=gtv, ctv=ctv, spacing_mm=grid.spacing_mm,
                        grid=grid)
    where = _red_x_per_axes(fig)
    assert where["axial -72.0 mm"] > 0.6 and where["coronal -26.0 mm"] > 0.6, where
    edges = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in fig.axes}
    assert edges["axial -72.0 mm"] == ["R", "L", "A", "P"]
    assert edges["coronal -26.0 mm"] == ["R", "L", "S", "I"]
    plt.close(fig)

    fig = overlay_figure(ct, st, grid, stations_ref=st, gtv=gtv, ctv=ctv)
    where = _red_x_per_axes(fig)
    for title in ("predicted: axial", "predicted: coronal", "reference: axial"):
        assert where[title] > 0.6, where
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["4R", "7"] and "CTV (white)" in labels
    plt.close(fig)

    thumb = np.asarray(Image.open(io.BytesIO(thumbnail_png(ct, st, gtv, grid.spacing_mm))),
                       dtype=int)
    red = (thumb[..., 0] > 200) & (thumb[..., 1] < 90) & (thumb[..., 2] < 90)
    half = thumb.shape[1] // 2  # axial tile, then coronal tile, of about equal width
    for tile in (red[:, :half], red[:, half:]):
        _, xs = np.nonzero(tile)
        assert len(xs) and xs.mean() / tile.shape[1] > 0.6


def test_slider_stops_read_mm():
    """3 slices of 3 mm from z = -30 mm: stops -30.0, -27.0, -24.0 mm (hand-computed)."""
    grid = Grid((3, 2, 2), (3.0, 1.5, 1.5), (-10.0, -20.0, -30.0))
    axial, coronal, sagittal = viewer.slider_options(grid.shape_zyx, grid)
    assert axial == [("-30.0 mm", 0), ("-27.0 mm", 1), ("-24.0 mm", 2)]
    assert coronal == [("-20.0 mm", 0), ("-18.5 mm", 1)]
    assert sagittal == [("-10.0 mm", 0), ("-8.5 mm", 1)]
    assert viewer.slider_options((2, 1, 1))[0] == [("0.0", 0), ("1.0", 1)]
