"""Inspect a CT with its station map: an offline slice viewer and an offline 3D view.

``analysis.viewers.slices.show(ct, stations, gtv=None, ctv=None, grid=None, mode="slices")``
returns an ipywidgets viewer (three planes with sliders, station overlay with legend and
opacity, stations toggled on and off, GTV/CTV outlines) rendered by matplotlib into an
``ipywidgets.Output``: it needs no internet. ``mode="3d"`` returns the NiiVue 3D view of
:mod:`analysis.viewers.volume` (offline: NiiVue's code comes from the ipyniivue wheel; pass
``reference=`` for the reference stations side by side). ``mode="itk"`` returns an
itkwidgets view for users who are online (itkwidgets 1.0a55 loads its viewer code from
the internet when displayed; it is imported only then).

Every viewer is a :class:`SnapshotBox`: besides the live widget it carries a static PNG
of the three planes, which the executed notebook's HTML export shows where no widget can
run (:func:`analysis.report.html.static_outputs`).

The pure functions (:func:`station_rgba`, :func:`slice_of`, :func:`overlay_rgba`,
:func:`outline`, :func:`compose`) hold the logic and are tested without a browser.
Planes: ``"axial"`` (z fixed; rows y, columns x), ``"coronal"`` (y fixed; rows z with
superior at the top, columns x), ``"sagittal"`` (x fixed; rows z superior at the top,
columns y). Images are shown in radiological convention as stored (x runs from the
patient's right to left, so the patient's right is on the left of the screen), with the
patient's side written at each edge (R / L, A / P, S / I); the sliders read the plane's
position in mm (DICOM LPS) when a grid is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.grid import Grid
from analysis.labels import N_CLASSES, STATIONS
from analysis.viewers import render as viewer_render
from analysis.viewers import volume as viewer3d
from analysis.viewers.render import (  # noqa: F401 - the viewer's public drawing API
    CTV_RGB,
    EDGES,
    GTV_RGB,
    PLANES,
    compose,
    grey,
    mark_edges,
    outline,
    overlay_rgba,
    plane_aspect,
    position_mm,
    render,
    slice_of,
    snapshot_png,
    station_rgba,
)


def __getattr__(name: str):
    # SnapshotBox is built on first use (it subclasses an ipywidgets class)
    return getattr(viewer_render, name)


def slider_options(shape_zyx: Sequence[int], grid=None) -> list[list[tuple[str, int]]]:
    """The slice viewer's slider stops per plane (axial, coronal, sagittal): ``(label,
    index)`` with the plane's position in mm (``"-18.0 mm"``; the index without a grid).

    Example: 3 slices of 3 mm from z = -30 mm -> axial stops ``[("-30.0 mm", 0),
    ("-27.0 mm", 1), ("-24.0 mm", 2)]``.
    """
    unit = " mm" if grid is not None else ""
    return [[(f"{position_mm(plane, k, grid):.1f}{unit}", k) for k in range(int(n))]
            for plane, n in zip(PLANES, shape_zyx, strict=True)]


def _show_slices(ct, stations, gtv, ctv, spacing_mm, window_hu, grid=None):
    import ipywidgets as w
    from IPython.display import Image, display

    present = [int(k) for k in np.unique(stations) if k > 0]
    sz, sy, sx = (w.SelectionSlider(options=options, value=options[len(options) // 2][1],
                                    description=f"{plane} {axis}")
                  for (plane, axis), options in zip(
                      (("axial", "z"), ("coronal", "y"), ("sagittal", "x")),
                      slider_options(np.shape(ct), grid), strict=True))
    op = w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="opacity")
    pick = w.SelectMultiple(options=[(STATIONS[k - 1], k) for k in range(1, N_CLASSES)],
                            value=tuple(present), rows=8, description="stations")
    show_gtv = w.Checkbox(gtv is not None, description="GTV outline",
                          disabled=gtv is None)
    show_ctv = w.Checkbox(ctv is not None, description="CTV outline",
                          disabled=ctv is None)
    out = w.Output()

    def redraw(*_):
        import io

        import matplotlib.pyplot as plt

        fig = render(ct, stations, (sz.value, sy.value, sx.value), visible=pick.value,
                     opacity=op.value, gtv=gtv if show_gtv.value else None,
                     ctv=ctv if show_ctv.value else None, spacing_mm=spacing_mm,
                     window_hu=window_hu, grid=grid)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        with out:
            out.clear_output(wait=True)
            display(Image(buf.getvalue()))  # a PNG whatever the matplotlib backend

    for c in (sz, sy, sx, op, pick, show_gtv, show_ctv):
        c.observe(redraw, names="value")
    redraw()
    controls = w.HBox([w.VBox([sz, sy, sx, op, show_gtv, show_ctv]), pick])
    snap = snapshot_png(ct, stations, grid, gtv=gtv, ctv=ctv, window_hu=window_hu)
    return viewer_render.SnapshotBox([controls, out], snapshot_png=snap)


def _show_itk(stations, spacing_mm, ct=None):
    try:
        from itkwidgets import view
    except ImportError as err:
        raise ImportError("the itk view needs itkwidgets 1.0a55 (with ngff-zarr<0.33 and "
                          f"zarr<3), and internet access when displayed ({err}); use "
                          'mode="3d" (NiiVue, offline) or mode="slices"') from None
    label = np.ascontiguousarray(np.asarray(stations, dtype=np.uint8))
    try:
        import itk

        lab_img = itk.image_from_array(label)
        lab_img.SetSpacing([float(s) for s in spacing_mm[::-1]])
        img = None
        if ct is not None:
            img = itk.image_from_array(np.ascontiguousarray(np.asarray(ct, dtype=np.int16)))
            img.SetSpacing([float(s) for s in spacing_mm[::-1]])
    except ImportError:
        lab_img, img = label, (None if ct is None else np.asarray(ct))
    return view(image=img, label_image=lab_img) if img is not None else view(
        label_image=lab_img)


def show(ct: np.ndarray, stations: np.ndarray, gtv: np.ndarray | None = None,
         ctv: np.ndarray | None = None, grid=None, mode: str = "slices",
         window_hu: Sequence[float] = (-400.0, 400.0), *,
         reference: np.ndarray | None = None, gtvnd: np.ndarray | None = None):
    """Open a viewer on a CT and its station map (one call from a notebook).

    Parameters
    ----------
    ct : ndarray (z, y, x), HU
    stations : ndarray (z, y, x), labels 0..16
    gtv, ctv : optional bool masks (z, y, x), drawn as outlines (overlays in 3D)
    grid : Grid, optional (voxel aspect; isotropic if None)
    mode : ``"slices"`` (offline ipywidgets viewer), ``"3d"`` (NiiVue, offline) or
        ``"itk"`` (itkwidgets, needs the internet when displayed)
    reference : ndarray (z, y, x), optional
        Reference stations, shown beside the predicted ones (``mode="3d"``).
    gtvnd : bool mask (z, y, x), optional
        Nodal GTV, its own overlay in ``mode="3d"``.

    Returns
    -------
    The widget (display it, or leave it as the cell's last expression).
    """
    ct = np.asarray(ct)
    if ct.ndim != 3:
        raise ValueError(f"ct: expected (z, y, x), got shape {ct.shape}")
    if np.shape(stations) != ct.shape:
        raise ValueError(f"stations: shape {np.shape(stations)} differs from ct {ct.shape}")
    for name, arr in (("reference", reference), ("gtvnd", gtvnd)):
        if arr is not None and np.shape(arr) != ct.shape:
            raise ValueError(f"{name}: shape {np.shape(arr)} differs from ct {ct.shape}")
    spacing = tuple(grid.spacing_mm) if grid is not None else (1.0, 1.0, 1.0)
    if mode == "slices":
        return _show_slices(ct, np.asarray(stations), gtv, ctv, spacing, window_hu, grid)
    if mode == "3d":
        overlays = {k: np.asarray(v, dtype=bool) for k, v in
                    (("gtv", gtv), ("gtvnd", gtvnd), ("ctv", ctv)) if v is not None}
        scene = viewer3d.Scene(ct, np.asarray(stations), grid or Grid(ct.shape, spacing),
                               reference=reference, overlays=overlays)
        return viewer3d.widget(scene)
    if mode == "itk":
        return _show_itk(stations, spacing, ct)
    raise ValueError(f"mode: unknown {mode!r} (slices, 3d, itk)")
