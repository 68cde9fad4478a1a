"""The offline 3D station viewer: NiiVue in JupyterLab (ipyniivue) and in report pages.

Both views draw the same scene: the CT in grey, the 16 station labels in the colours of
:data:`analysis.labels.STATION_COLORS` (a legend with one toggle per station),
GTV, GTVnd and CTV as translucent overlays (NiiVue refuses outlines on 0/1 masks), and, when a reference map is given, the
reference stations beside the predicted ones. Clicking a voxel of a station shows its
name and volume (mL).

- In a notebook, :func:`widget` (``analysis.viewers.slices.show(..., mode="3d")``) returns an
  ipywidgets box around two ``ipyniivue.NiiVue`` widgets; NiiVue's code comes from the
  ipyniivue wheel (its ``static/widget.js``), nothing is fetched when it is displayed.
  The box also carries a static PNG snapshot (three planes, matplotlib), which exports
  show where the live widget cannot run.
- In the report, :func:`write_page` writes a self-contained HTML page that works from
  ``file://`` with no network: the volumes are embedded (gzip NIfTI, base64) and NiiVue
  is the same ``widget.js``, turned into a classic script by :func:`vendor_niivue`
  (its one ``export`` statement becomes ``window.Niivue = <class>``).

Volumes leave this module as NIfTI in RAS+ (``analysis.io.nifti``'s convention: x and y
of the LPS grid negated). Both views are **radiological**, like every view of the package:
the 2D tiles show the patient's left on the screen's right (NiiVue's
``isRadiologicalConvention``, edge letters R / L, A / P, S / I), and the 3D tile looks at
the patient from the front (:data:`RENDER_AZIMUTH_ELEVATION`, an orientation cube), so
the patient's left is on the right there too. Overlays are drawn CTV first and GTV last
(:data:`DRAW_ORDER`), so the GTV stays visible, in its own colour, inside the CTV.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.fsutil import atomic_write_text
from analysis.grid import Grid
from analysis.io import write_nifti
from analysis.labels import N_CLASSES, STATION_COLORS, STATIONS
from analysis.viewers import render as viewer

#: name of the vendored NiiVue script in a report's assets folder
NIIVUE_ASSET = "niivue.js"
#: CT display window (HU) of both views
WINDOW_HU = (-400.0, 400.0)
#: overlays drawn as outlines: store name -> (NiiVue colormap, label in the legend); the
#: CTV is white ("gray" at its top), a colour no station has (4R is yellow)
OVERLAYS: dict[str, tuple[str, str]] = {"gtv": ("red", "GTV (red)"),
                                        "gtvnd": ("violet", "GTVnd (violet)"),
                                        "ctv": ("gray", "CTV (white)")}
#: overlays are loaded in this order, each drawn over the one before: GTV on top
DRAW_ORDER: tuple[str, ...] = ("ctv", "gtvnd", "gtv")
#: overlay opacity: the CTV faint enough for the GTV inside it to show in 3D
OPACITY: dict[str, float] = {"ctv": 0.2, "gtvnd": 0.7, "gtv": 0.8}
#: the 3D tile's camera (degrees): from the front, the patient's left on screen right
RENDER_AZIMUTH_ELEVATION = (180.0, 15.0)
#: crosshair colour (RGBA 0..1): cyan, unlike the red GTV
CROSSHAIR_RGBA = (0.3, 0.9, 1.0, 1.0)


def ordered_overlays(overlays: dict[str, np.ndarray] | None) -> list[tuple[str, np.ndarray]]:
    """``overlays`` in :data:`DRAW_ORDER` (unknown keys first): the GTV is drawn last.

    Example: ``{"gtv": a, "ctv": b}`` -> ``[("ctv", b), ("gtv", a)]``.
    """
    rank = {k: i for i, k in enumerate(DRAW_ORDER)}
    return sorted((overlays or {}).items(), key=lambda kv: rank.get(kv[0], -1))


@dataclass(frozen=True)
class Scene:
    """What one 3D view shows (arrays (z, y, x) on ``grid``)."""

    ct: np.ndarray
    stations: np.ndarray
    grid: Grid
    reference: np.ndarray | None = None
    overlays: dict[str, np.ndarray] | None = None
    title: str = ""


def station_volumes_ml(stations: np.ndarray, grid: Grid) -> dict[str, float]:
    """Volume in mL of each station present in a label map (0..16).

    Example: 1000 voxels of 1 x 1 x 1 mm labelled 1 -> ``{"1": 1.0}``.
    """
    counts = np.bincount(np.asarray(stations, dtype=np.int64).ravel(), minlength=N_CLASSES)
    ml = counts * grid.voxel_volume_mm3 / 1000.0
    return {st: float(ml[k]) for k, st in enumerate(STATIONS, start=1) if counts[k] > 0}


def label_lut(visible: Sequence[int] | None = None) -> dict:
    """NiiVue label colormap (R, G, B, A, I, labels) of the stations; hidden ones alpha 0.

    Entry 0 is the transparent background; entry k is station ``STATIONS[k - 1]``.
    """

    show = set(range(1, N_CLASSES)) if visible is None else {int(v) for v in visible}
    rgb = [(0, 0, 0)] + [STATION_COLORS[s] for s in STATIONS]
    return {"R": [c[0] for c in rgb], "G": [c[1] for c in rgb], "B": [c[2] for c in rgb],
            "A": [0] + [255 if k in show else 0 for k in range(1, N_CLASSES)],
            "I": list(range(N_CLASSES)), "labels": ["background", *STATIONS]}


def nifti_gz(volume: np.ndarray, grid: Grid) -> bytes:
    """A (z, y, x) volume as gzip-compressed NIfTI bytes (``analysis.io``'s writer)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_nifti(Path(tmp) / "v.nii.gz", np.asarray(volume), grid)
        return path.read_bytes()


def _ct_for_view(ct: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(ct), -1024, 3071).astype(np.int16)


# --- the notebook widget -----------------------------------------------------------------

def _niivue(scene: Scene, labels: np.ndarray, height: int):
    from ipyniivue import MultiplanarType, NiiVue, ShowRender, SliceType, Volume

    nv = NiiVue(height=height, back_color=(0.05, 0.05, 0.08, 1.0), is_colorbar=False,
                slice_type=SliceType.MULTIPLANAR, show_3d_crosshair=True,
                multiplanar_layout=MultiplanarType.GRID,
                multiplanar_show_render=ShowRender.ALWAYS,
                is_radiological_convention=True, is_orient_cube=True,
                crosshair_color=CROSSHAIR_RGBA)
    vols = [Volume(data=nifti_gz(_ct_for_view(scene.ct), scene.grid), name="ct.nii.gz",
                   colormap="gray", cal_min=WINDOW_HU[0], cal_max=WINDOW_HU[1]),
            Volume(data=nifti_gz(labels.astype(np.uint8), scene.grid), name="stations.nii.gz",
                   opacity=0.7)]
    for key, mask in ordered_overlays(scene.overlays):
        cmap = OVERLAYS.get(key, ("red", key))[0]
        vols.append(Volume(data=nifti_gz(np.asarray(mask, np.uint8), scene.grid),
                           name=f"{key}.nii.gz", colormap=cmap, cal_min=0.5, cal_max=1.0,
                           opacity=OPACITY.get(key, 0.45)))
    nv.load_volumes(vols)
    nv.volumes[1].set_colormap_label(label_lut())
    nv.set_clip_plane(0.05, 180, 0)  # the body cut open: stations visible in the 3D tile
    nv.set_render_azimuth_elevation(*RENDER_AZIMUTH_ELEVATION)
    return nv


def widget(scene: Scene, *, height: int = 420):
    """The JupyterLab 3D view of ``scene`` (see the module docstring).

    Returns
    -------
    ``analysis.viewers.slices.SnapshotBox``: the NiiVue view(s), a toggle per station present,
    the click read-out; its static PNG snapshot shows in exports. ``box.niivue`` lists
    the NiiVue widgets (predicted first), ``box.station_toggles`` the checkboxes.
    """
    import ipywidgets as w

    labels = np.asarray(scene.stations)
    views = [_niivue(scene, labels, height)]
    sources = {"predicted": station_volumes_ml(labels, scene.grid)}
    if scene.reference is not None:
        views.append(_niivue(scene, np.asarray(scene.reference), height))
        sources["reference"] = station_volumes_ml(scene.reference, scene.grid)
    present = sorted({STATIONS.index(s) + 1 for vols in sources.values() for s in vols})
    info = w.HTML("click a station to see its name and volume")
    toggles = [w.Checkbox(True, description=STATIONS[k - 1], indent=False,
                          layout=w.Layout(width="80px")) for k in present]

    def retint(*_):
        lut = label_lut([k for k, t in zip(present, toggles, strict=True) if t.value])
        for nv in views:
            nv.volumes[1].set_colormap_label(lut)

    for t in toggles:
        t.observe(retint, names="value")

    def clicked(location: dict, which: str = "predicted"):
        info.value = html.escape(f"{which}: {click_text(location, sources[which])}")

    views[0].on_location_change(clicked)
    if len(views) > 1:
        views[1].on_location_change(lambda loc: clicked(loc, "reference"))
    heads = [w.HTML(f"<b>{name}</b>") for name in sources]
    row = w.HBox([w.VBox([h, v], layout=w.Layout(width=f"{100 // len(views)}%"))
                  for h, v in zip(heads, views, strict=True)])
    legend = w.HTML(legend_html(present, sources))
    snap = viewer.snapshot_png(scene.ct, labels, scene.grid,
                               gtv=(scene.overlays or {}).get("gtv"),
                               ctv=(scene.overlays or {}).get("ctv"))
    box = viewer.SnapshotBox([row, w.HBox(toggles, layout=w.Layout(flex_flow="row wrap")),
                              info, legend], snapshot_png=snap)
    box.niivue = views
    box.station_toggles = dict(zip([STATIONS[k - 1] for k in present], toggles, strict=True))
    return box


def click_text(location: dict, volumes_ml: dict[str, float]) -> str:
    """What a click shows: the station under the pointer and its volume.

    ``location`` is NiiVue's location event: ``values`` holds the value of each loaded
    volume at the pointer (the stations are volume 1; a value may be a number or a dict
    with ``"value"``, as the JS side sends it). NiiVue's ``vox`` is in its RAS-reoriented
    voxel space, so the label is read from ``values``, not looked up by index. Example:
    value 4 where station 2L has 12.5 mL -> ``"station 2L: 12.5 mL"``.
    """
    values = location.get("values") or []
    if len(values) < 2:
        return "no voxel under the pointer"
    v = values[1]["value"] if isinstance(values[1], dict) else values[1]
    k = int(round(float(v)))
    if not 1 <= k <= len(STATIONS):
        return "no station here"
    st = STATIONS[k - 1]
    return f"station {st}: {volumes_ml.get(st, 0.0):.1f} mL"


def legend_html(present: Sequence[int], sources: dict[str, dict[str, float]]) -> str:
    """A legend table: colour swatch, station, volume (mL) in each source."""

    head = "".join(f"<th>{html.escape(s)} (mL)</th>" for s in sources)
    rows = []
    for k in present:
        st = STATIONS[k - 1]
        r, g, b = STATION_COLORS[st]
        cells = "".join(f"<td>{vols.get(st, 0.0):.1f}</td>" for vols in sources.values())
        rows.append(f'<tr data-label="{k}"><td><span class="sw" style="display:inline-block;'
                    f'width:12px;height:12px;background:rgb({r},{g},{b})"></span></td>'
                    f"<td>{html.escape(st)}</td>{cells}</tr>")
    return (f'<table class="legend"><tr><th></th><th>station</th>{head}</tr>'
            + "".join(rows) + "</table>")


# --- the standalone page -----------------------------------------------------------------

def vendor_niivue(assets_dir: Path) -> Path:
    """Write NiiVue (from the installed ipyniivue wheel) as a classic script.

    ipyniivue's ``static/widget.js`` is one ES module whose only ``export`` is the
    anywidget entry; the NiiVue class is the one it instantiates (``new <cls>(...)`` in
    its ``initialize``). The module statement is replaced by ``window.Niivue = <cls>``
    so that a page opened from ``file://`` can load it with ``<script src>`` (module
    scripts are blocked there). Written only when missing or different.
    """
    import ipyniivue

    src = (Path(ipyniivue.__file__).parent / "static" / "widget.js").read_text("utf-8")
    exports = re.findall(r"export\s*\{[^}]*\};?", src)
    cls = re.findall(r"=new ([A-Za-z_$][\w$]*)\(C\)\}return", src)
    if len(exports) != 1 or len(set(cls)) != 1 or re.search(r"\bimport\s*[{*(\"']", src):
        raise RuntimeError("ipyniivue's widget.js is not laid out as expected (one export, "
                           "one NiiVue construction, no import); check its version "
                           f"({ipyniivue.__version__}) against requirements.lock")
    script = src.replace(exports[0], f"window.Niivue={cls[0]};")
    out = Path(assets_dir) / NIIVUE_ASSET
    if not out.is_file() or out.read_text("utf-8") != script:
        atomic_write_text(out, script)
    return out


_PAGE_CSS = """
body{font-family:sans-serif;margin:0;background:#fafafa;color:#222}
header{padding:8px 16px} h1{font-size:20px;margin:4px 0}
.wrap{display:flex;gap:12px;padding:0 16px 16px}
.views{display:flex;gap:8px;flex:1}
.view{flex:1;min-width:0} .view h3{margin:4px 0;font-size:14px}
div.gl{height:520px;position:relative;overflow:hidden}
canvas{width:100%;height:100%;background:#000;display:block}
.side{width:340px;font-size:12px}
#info{background:#fff;border:1px solid #ccc;padding:6px;margin-bottom:8px;min-height:20px}
table.legend{border-collapse:collapse} table.legend td,table.legend th{padding:1px 6px;
border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
"""

_PAGE_JS = """
const D = JSON.parse(document.getElementById('scene').textContent);
function buf(s){const b=atob(s);const u=new Uint8Array(b.length);
  for(let i=0;i<b.length;i++)u[i]=b.charCodeAt(i);return u.buffer;}
const views = [];
window.sclcReady = 0;
async function view(id, labelsB64){
  const nv = new Niivue({backColor:[0.05,0.05,0.08,1], show3Dcrosshair:true,
                         isColorbar:false, loadingText:'loading',
                         isRadiologicalConvention:true, isOrientCube:true,
                         crosshairColor:D.crosshair,
                         multiplanarLayout:2, multiplanarShowRender:1});
  await nv.attachTo(id);
  await nv.loadFromArrayBuffer(buf(D.ct), 'ct.nii.gz');
  await nv.loadFromArrayBuffer(buf(labelsB64), 'stations.nii.gz');
  for (const o of D.overlays) await nv.loadFromArrayBuffer(buf(o.data), o.key + '.nii.gz');
  const ct = nv.volumes[0]; ct.colormap='gray'; ct.cal_min=D.window[0]; ct.cal_max=D.window[1];
  nv.volumes[1].opacity = 0.7; nv.volumes[1].setColormapLabel(lut());
  D.overlays.forEach((o,i)=>{const v=nv.volumes[2+i]; v.colormap=o.cmap; v.cal_min=0.5;
                             v.cal_max=1; v.opacity=o.opacity;});
  nv.setSliceType(nv.sliceTypeMultiplanar);
  nv.setClipPlane([0.05, 180, 0]);  // cut the body open: stations visible in 3D
  nv.setRenderAzimuthElevation(D.camera[0], D.camera[1]);  // from the front
  nv.updateGLVolume();
  nv.onLocationChange = (loc) => {
    const k = Math.round(loc.values && loc.values[1] ? loc.values[1].value : 0);
    const st = D.stations[k-1];
    document.getElementById('info').textContent = k > 0 && st ?
      `station ${st} (${id==='gl1'?'predicted':'reference'}): ` +
      `${(D.volumes[id==='gl1'?'predicted':'reference'][st]||0).toFixed(1)} mL`
      : 'no station here';
  };
  views.push(nv);
  window.sclcReady += 1;
}
function visible(){return Array.from(document.querySelectorAll('input.tog'))
  .filter(c=>c.checked).map(c=>+c.dataset.label);}
function lut(){const m=JSON.parse(JSON.stringify(D.lut)); const v=new Set(visible());
  for(let k=1;k<m.A.length;k++) m.A[k]=v.has(k)?255:0; return m;}
document.querySelectorAll('input.tog').forEach(c=>c.addEventListener('change',()=>{
  for (const nv of views){nv.volumes[1].setColormapLabel(lut()); nv.updateGLVolume();}}));
view('gl1', D.predicted).catch(e=>{document.getElementById('info').textContent='3D view '+
  'failed: '+e; window.sclcError=String(e);});
if (D.reference) view('gl2', D.reference).catch(e=>{window.sclcError=String(e);});
"""


def page_html(scene: Scene, *, niivue_src: str = f"assets/{NIIVUE_ASSET}",
              banner: str = "", back_link: str = "") -> str:
    """The standalone 3D page of ``scene`` (needs :func:`vendor_niivue` at ``niivue_src``).

    Volumes are embedded; the page's only other resource is the NiiVue script, a
    relative path. ``window.sclcReady`` counts the views that finished loading.
    """
    labels = np.asarray(scene.stations)
    sources = {"predicted": station_volumes_ml(labels, scene.grid)}
    data = {"ct": base64.b64encode(nifti_gz(_ct_for_view(scene.ct), scene.grid)).decode(),
            "predicted": base64.b64encode(nifti_gz(labels.astype(np.uint8),
                                                   scene.grid)).decode(),
            "reference": None, "window": list(WINDOW_HU), "stations": list(STATIONS),
            "lut": label_lut(), "overlays": [], "crosshair": list(CROSSHAIR_RGBA),
            "camera": list(RENDER_AZIMUTH_ELEVATION)}
    if scene.reference is not None:
        ref = np.asarray(scene.reference)
        data["reference"] = base64.b64encode(nifti_gz(ref.astype(np.uint8),
                                                      scene.grid)).decode()
        sources["reference"] = station_volumes_ml(ref, scene.grid)
    for key, mask in ordered_overlays(scene.overlays):
        data["overlays"].append({"key": key, "cmap": OVERLAYS.get(key, ("red", key))[0],
                                 "opacity": OPACITY.get(key, 0.45),
                                 "data": base64.b64encode(nifti_gz(
                                     np.asarray(mask, np.uint8), scene.grid)).decode()})
    data["volumes"] = sources
    present = sorted({STATIONS.index(s) + 1 for vols in sources.values() for s in vols})
    toggles = "".join(f'<label style="margin-right:6px;white-space:nowrap"><input '
                      f'type="checkbox" class="tog" data-label="{k}" checked>'
                      f"{html.escape(STATIONS[k - 1])}</label> " for k in present)
    overlay_note = ", ".join(OVERLAYS.get(k, ("", k))[1]
                             for k, _ in reversed(ordered_overlays(scene.overlays)))
    views = '<div class="view"><h3>predicted stations</h3><div class="gl"><canvas id="gl1"></canvas></div></div>'
    if scene.reference is not None:
        views += ('<div class="view"><h3>reference stations</h3><div class="gl">'
                  '<canvas id="gl2"></canvas></div></div>')
    payload = json.dumps(data).replace("</", "<\\/")
    return "".join([
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(scene.title or '3D stations')}</title>",
        f"<style>{_PAGE_CSS}</style>",
        f'<script src="{html.escape(niivue_src)}"></script></head><body>', banner,
        f"<header>{back_link}<h1>{html.escape(scene.title)}</h1>",
        "<div>Radiological: the patient's left is on the screen's right (2D tiles and the "
        "3D tile, seen from the front). Drag to rotate the 3D tile, scroll to move "
        "through slices, click a station for its name and volume. Overlays: "
        f"{html.escape(overlay_note or 'none')}.</div></header>",
        f'<div class="wrap"><div class="views">{views}</div><div class="side">',
        '<div id="info">click a station</div>', f"<div>{toggles}</div>",
        legend_html(present, sources), "</div></div>",
        f'<script type="application/json" id="scene">{payload}</script>',
        f"<script>{_PAGE_JS}</script></body></html>"])


def write_page(scene: Scene, out_file: Path, assets_dir: Path, **kwargs) -> Path:
    """Write :func:`page_html` of ``scene`` to ``out_file`` with NiiVue in ``assets_dir``."""
    vendor_niivue(assets_dir)
    rel = os.path.relpath(Path(assets_dir).resolve() / NIIVUE_ASSET,
                          Path(out_file).resolve().parent)
    return atomic_write_text(out_file, page_html(scene, niivue_src=Path(rel).as_posix(),
                                                 **kwargs))
