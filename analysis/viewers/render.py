"""Drawing a CT with its station map as pictures: the pure functions behind every viewer.

:func:`station_rgba`, :func:`slice_of`, :func:`overlay_rgba`, :func:`outline` and
:func:`compose` hold the logic and are tested without a browser; :func:`render` and
:func:`snapshot_png` draw the three planes with matplotlib; :class:`SnapshotBox` is the
ipywidgets box of every viewer (:mod:`analysis.viewers.slices`, :mod:`analysis.viewers.volume`) that
also carries a static PNG for the HTML exports. Planes and orientation: see
:mod:`analysis.viewers.slices`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage

from analysis.labels import N_CLASSES, STATION_COLORS, STATIONS

PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
#: outline colours (RGB 0..1) of the gross tumour and the CTV (white: no station has it;
#: 4R is yellow), the same as the 3D views' (analysis.viewers.volume.OVERLAYS)
GTV_RGB = (1.0, 0.15, 0.15)
CTV_RGB = (1.0, 1.0, 1.0)
#: the patient's side at each screen edge of a plane (left, right, top, bottom):
#: radiological, the patient's left on the screen's right
EDGES: dict[str, tuple[str, str, str, str]] = {"axial": ("R", "L", "A", "P"),
                                               "coronal": ("R", "L", "S", "I"),
                                               "sagittal": ("A", "P", "S", "I")}


def mark_edges(ax, plane: str, color: str = "yellow") -> None:
    """Write the patient's side (:data:`EDGES`) at the four edges of an image axis."""
    left, right, top, bottom = EDGES[plane]
    kw = {"transform": ax.transAxes, "color": color, "fontsize": 9, "fontweight": "bold"}
    ax.text(0.02, 0.5, left, ha="left", va="center", **kw)
    ax.text(0.98, 0.5, right, ha="right", va="center", **kw)
    ax.text(0.5, 0.98, top, ha="center", va="top", **kw)
    ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **kw)


def position_mm(plane: str, index: int, grid=None) -> float:
    """The plane's position in DICOM LPS mm (z for axial, y coronal, x sagittal);
    ``index`` itself (1 mm voxels at 0) without a grid.

    Example: axial index 4 on a grid with 3 mm slices from z = -30 mm -> -18.0.
    """
    if grid is None:
        return float(index)
    axis = PLANES.index(plane)  # 0 z, 1 y, 2 x
    return float(grid.origin_mm[2 - axis] + index * grid.spacing_mm[axis])


def station_rgba(alpha: float = 1.0) -> np.ndarray:
    """Colour table (N_CLASSES, 4), RGBA in 0..1; row 0 (background) is transparent."""

    lut = np.zeros((N_CLASSES, 4), dtype=np.float32)
    for k, st in enumerate(STATIONS, start=1):
        lut[k, :3] = np.asarray(STATION_COLORS[st], dtype=np.float32) / 255.0
        lut[k, 3] = alpha
    return lut


def slice_of(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """2-D slice of a (z, y, x) volume in display orientation (see module docstring)."""
    v = np.asarray(volume)
    if plane not in PLANES:
        raise ValueError(f"plane: unknown {plane!r}; known: {', '.join(PLANES)}")
    ax = PLANES.index(plane)
    if not 0 <= index < v.shape[ax]:
        raise IndexError(f"index: {index} outside 0..{v.shape[ax] - 1} for the {plane} plane")
    if plane == "axial":
        return v[index]
    if plane == "coronal":
        return v[::-1, index, :]
    return v[::-1, :, index]


def plane_aspect(spacing_mm: Sequence[float], plane: str) -> float:
    """matplotlib ``aspect`` (row spacing / column spacing) of a plane."""
    sz, sy, sx = (float(s) for s in spacing_mm)
    return {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}[plane]


def outline(mask2d: np.ndarray) -> np.ndarray:
    """Boundary pixels of a 2-D mask (pixels of the mask with a 4-neighbour outside it)."""
    m = np.asarray(mask2d, dtype=bool)
    return m & ~ndimage.binary_erosion(m, border_value=0)


def grey(ct2d_hu: np.ndarray, window_hu: Sequence[float] = (-400.0, 400.0)) -> np.ndarray:
    """CT slice (HU) -> RGB (h, w, 3) grey levels in 0..1 through ``window_hu``."""
    lo, hi = window_hu
    g = np.clip((np.asarray(ct2d_hu, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return np.repeat(g[..., None], 3, axis=-1)


def overlay_rgba(base_rgb: np.ndarray, labels2d: np.ndarray, visible: Iterable[int] | None,
                 opacity: float) -> np.ndarray:
    """Blend station colours over an RGB image: ``out = (1 - a) base + a colour``.

    Parameters
    ----------
    base_rgb : (h, w, 3) floats in 0..1
    labels2d : (h, w) ints 0..16
    visible : labels to draw (None: all stations)
    opacity : a in 0..1

    Returns
    -------
    (h, w, 4) RGBA, alpha 1. Example: base 0.0 and a visible station of colour (1, 0, 0)
    at opacity 0.5 -> (0.5, 0, 0, 1); a hidden station leaves the base unchanged.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity: must be in [0, 1], got {opacity}")
    base = np.asarray(base_rgb, dtype=np.float32)
    lab = np.asarray(labels2d).astype(np.int64)
    if base.shape[:2] != lab.shape:
        raise ValueError(f"labels2d: shape {lab.shape} differs from the image {base.shape[:2]}")
    lut = station_rgba()
    show = np.zeros(N_CLASSES, dtype=bool)
    show[1:] = True
    if visible is not None:
        show[:] = False
        idx = [int(v) for v in visible]
        if any(not 1 <= v < N_CLASSES for v in idx):
            raise ValueError(f"visible: labels must be in 1..{N_CLASSES - 1}, got {idx}")
        show[idx] = True
    a = np.where(show[lab], opacity, 0.0)[..., None].astype(np.float32)
    rgb = (1.0 - a) * base + a * lut[lab, :3]
    return np.concatenate([rgb, np.ones(lab.shape + (1,), dtype=np.float32)], axis=-1)


def compose(ct: np.ndarray, stations: np.ndarray, plane: str, index: int, *,
            visible: Iterable[int] | None = None, opacity: float = 0.5,
            gtv: np.ndarray | None = None, ctv: np.ndarray | None = None,
            window_hu: Sequence[float] = (-400.0, 400.0)) -> np.ndarray:
    """The RGBA image (h, w, 4) of one plane: grey CT, station colours, GTV/CTV outlines."""
    ct = np.asarray(ct)
    if np.shape(stations) != ct.shape:
        raise ValueError(f"stations: shape {np.shape(stations)} differs from ct {ct.shape}")
    img = overlay_rgba(grey(slice_of(ct, plane, index), window_hu),
                       slice_of(stations, plane, index), visible, opacity)
    for mask, rgb, name in ((ctv, CTV_RGB, "ctv"), (gtv, GTV_RGB, "gtv")):
        if mask is None:
            continue
        if np.shape(mask) != ct.shape:
            raise ValueError(f"{name}: shape {np.shape(mask)} differs from ct {ct.shape}")
        edge = outline(slice_of(mask, plane, index))
        img[edge, :3] = rgb
    return img


def _legend_handles(visible: Iterable[int]):
    from matplotlib.patches import Patch

    lut = station_rgba()
    return [Patch(color=lut[k, :3], label=STATIONS[k - 1]) for k in sorted(visible)]


def render(ct, stations, index_zyx: Sequence[int], *, visible=None, opacity=0.5, gtv=None,
           ctv=None, spacing_mm=(1.0, 1.0, 1.0), window_hu=(-400.0, 400.0), grid=None):
    """A matplotlib figure with the three planes through ``index_zyx``, the patient's
    side at each edge (radiological), each plane's position in mm and a legend."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    for ax, plane, idx in zip(axes, PLANES, index_zyx, strict=True):
        ax.imshow(compose(ct, stations, plane, int(idx), visible=visible, opacity=opacity,
                          gtv=gtv, ctv=ctv, window_hu=window_hu),
                  aspect=plane_aspect(spacing_mm, plane), interpolation="nearest")
        ax.set_title(f"{plane} {position_mm(plane, int(idx), grid):.1f} mm")
        ax.axis("off")
        mark_edges(ax, plane)
    vis = range(1, N_CLASSES) if visible is None else visible
    present = set(np.unique(stations).tolist())
    handles = _legend_handles([k for k in vis if k in present])
    if gtv is not None:
        handles.append(Line2D([], [], color=GTV_RGB, label="GTV ∪ GTVnd"))
    if ctv is not None:
        handles.append(Line2D([], [], color="0.6", label="CTV (white)"))
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.01, right=0.9, wspace=0.05)
    return fig


def snapshot_png(ct, stations, grid=None, *, gtv=None, ctv=None,
                 window_hu: Sequence[float] = (-400.0, 400.0)) -> bytes:
    """PNG bytes of :func:`render` through the centre of the stations (or of the volume)."""
    import io

    import matplotlib.pyplot as plt

    lab = np.asarray(stations)
    idx = np.argwhere(lab > 0)
    centre = (idx.mean(axis=0) if len(idx) else np.asarray(lab.shape) / 2).astype(int)
    spacing = tuple(grid.spacing_mm) if grid is not None else (1.0, 1.0, 1.0)
    fig = render(ct, lab, tuple(int(c) for c in centre), gtv=gtv, ctv=ctv,
                 spacing_mm=spacing, window_hu=window_hu, grid=grid)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _snapshot_box_class():
    import ipywidgets as w

    class SnapshotBox(w.VBox):
        """A VBox that also offers a static ``image/png`` of what it shows.

        JupyterLab renders the live widget (its MIME type ranks first); an HTML export,
        which cannot run widgets, shows the PNG instead.
        """

        def __init__(self, children=(), *, snapshot_png: bytes = b"", **kwargs):
            super().__init__(children, **kwargs)
            self.snapshot_png = snapshot_png

        def _repr_mimebundle_(self, **kwargs):
            import base64

            data = super()._repr_mimebundle_(**kwargs)
            if self.snapshot_png:
                data["image/png"] = base64.b64encode(self.snapshot_png).decode("ascii")
            return data

    return SnapshotBox


def __getattr__(name: str):
    # SnapshotBox subclasses an ipywidgets class: built on first use, so that importing
    # this module does not import ipywidgets
    if name == "SnapshotBox":
        cls = _snapshot_box_class()
        globals()["SnapshotBox"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
