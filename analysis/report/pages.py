"""The report's patient pages: a QC gallery of every patient and 3D pages for a few.

``reports/<run>/gallery.html`` shows one thumbnail per patient (axial and coronal
planes through the centre of the GTV, stations overlaid, GTV outlined) with its mean
Dice against the reference stations (when the store has them) and its QC flag from the
segmentation domain check (the store table ``segment_qc``: index pid, columns
``usable`` (bool) and ``reasons`` (str), when the segment notebook wrote it). The
gallery sorts by either; a thumbnail links to the patient's 3D page when there is one.

``reports/<run>/3d/<pid>.html`` (:mod:`analysis.viewers.volume`) are written for
``params.report.n_3d_pages`` patients: with Dice, the best, the median and the worst
(then the next ones in Dice order); without, the first patients. NiiVue is vendored once
into ``reports/<run>/assets/``. Every page works from ``file://`` with no network.
Patients are named by their store pseudonym only.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.fsutil import atomic_write_bytes, atomic_write_text
from analysis.labels import STATION_COLORS, STATIONS
from analysis.scheduling.parallel import map_patients
from analysis.segment.metrics import dice
from analysis.store import ANALYSIS_LEDGER, SEGMENT_QC, CohortStore, StoreError
from analysis.viewers import slices as viewer
from analysis.viewers import volume as viewer3d
from analysis.viewers.slices import EDGES

GALLERY = "gallery.html"
PAGES_DIR = "3d"
ASSETS_DIR = "assets"
THUMBS_DIR = "gallery"


@dataclass
class PatientPages:
    """What :func:`write_patient_pages` wrote (paths relative to the run folder)."""

    gallery: str | None = None
    pages_3d: dict[str, str] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    skipped: str = ""


def mean_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean Dice over the stations present in either map (NaN when none is).

    Example: pred has station 1 on voxels {a, b}, ref on {a}; station 2 on {c} in both
    -> mean(2*1/3, 1) = 0.833.

    One pass: the joint histogram of (pred, ref) labels gives every station's overlap and
    sizes (a full-resolution patient in 0.1 s instead of 3 s of per-label passes).
    """
    p, r = np.asarray(pred).ravel(), np.asarray(ref).ravel()
    if p.shape != r.shape:
        raise ValueError(f"mean_dice: shapes differ, {np.shape(pred)} vs {np.shape(ref)}")
    if p.size == 0:
        return float("nan")
    lo = int(min(p.min(), r.min()))
    if lo < 0 or not (np.issubdtype(p.dtype, np.integer) and np.issubdtype(r.dtype,
                                                                           np.integer)):
        return _mean_dice_by_label(p, r)
    n = int(max(p.max(), r.max())) + 1
    joint = np.bincount(p.astype(np.int64) * n + r, minlength=n * n).reshape(n, n)
    in_pred, in_ref = joint.sum(1), joint.sum(0)
    vals = [2.0 * int(joint[k, k]) / (int(in_pred[k]) + int(in_ref[k]))
            for k in range(1, n) if in_pred[k] or in_ref[k]]
    return float(np.mean(vals)) if vals else float("nan")


def _mean_dice_by_label(p: np.ndarray, r: np.ndarray) -> float:
    """:func:`mean_dice` label by label (float or negative labels)."""
    labels = sorted((set(np.unique(p).tolist()) | set(np.unique(r).tolist())) - {0})
    vals = [dice(p == k, r == k) for k in labels]
    return float(np.mean(vals)) if vals else float("nan")


def _patient_item(args: tuple) -> tuple[float, bytes]:
    """One gallery patient: (mean Dice against the reference or NaN, thumbnail PNG)."""
    root, pid = args
    store = CohortStore(root)
    pred = store.read(pid, "stations_pred")
    d = mean_dice(pred, store.read(pid, "stations_ref")) if store.has(pid, "stations_ref") \
        else float("nan")
    gtv = None
    for k in ("gtv", "gtvnd"):
        if store.has(pid, k):
            m = store.read(pid, k).astype(bool)
            gtv = m if gtv is None else gtv | m
    return d, thumbnail_png(store.read(pid, "ct"), pred, gtv, store.grid(pid).spacing_mm)


def _with_qc(store, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (index pid, column dice) with ``usable`` and ``reasons`` from segment_qc."""
    df["usable"] = pd.Series(pd.NA, index=df.index, dtype="boolean")
    df["reasons"] = ""
    try:
        qc = store.read_table(SEGMENT_QC)
    except Exception:  # noqa: BLE001 - the table is optional: no QC flag then
        qc = None
    if qc is not None and {"usable", "reasons"} <= set(qc.columns):
        qc.index = qc.index.astype(str)
        common = df.index.intersection(qc.index)
        df.loc[common, "usable"] = qc.loc[common, "usable"].astype("boolean")
        df.loc[common, "reasons"] = qc.loc[common, "reasons"].fillna("").astype(str)
    return _with_analysis(store, df)


def analysis_label(row) -> str:
    """The analysis ledger's decision on one patient, in a few words: "analysed",
    "analysed (kept despite QC flag)", or "left out at <step>: <reason>"."""
    if bool(row.get("included")):
        return "analysed" + (" (kept despite QC flag)" if row.get("kept_by") else "")
    return f"left out at {row.get('step') or '?'}: {row.get('reason') or 'no reason'}"


def _with_analysis(store, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``analysis``: the ledger's decision per patient (:func:`analysis_label`),
    "" where 03 wrote no ledger; so that the gallery says who the analysis counts, not
    only whom the QC flagged."""
    df["analysis"] = ""
    if store.has_table(ANALYSIS_LEDGER):
        ledger = store.read_table(ANALYSIS_LEDGER)
        ledger.index = ledger.index.astype(str)
        common = df.index.intersection(ledger.index)
        df.loc[common, "analysis"] = [analysis_label(ledger.loc[p]) for p in common]
    return df


def choose_3d(summary: pd.DataFrame, n: int) -> list[str]:
    """Patients given a 3D page: best, median and worst Dice first, then by Dice order.

    Without any Dice, the first ``n`` patients. Example: Dice (a 0.9, b 0.5, c 0.7,
    d 0.1), n = 3 -> [a, c, d] (best a; median of 4 sorted descending: index 2 // 2 = 1
    -> c; worst d).
    """
    if n <= 0 or summary.empty:
        return []
    scored = summary["dice"].dropna().sort_values(ascending=False, kind="mergesort")
    if scored.empty:
        return list(summary.index[:n])
    order = list(scored.index)
    picks = [order[0], order[(len(order) - 1) // 2], order[-1]]
    picks += order
    out: list[str] = []
    for p in picks:
        if p not in out:
            out.append(p)
    return out[:n]


def _plane_rgb(ct, stations, gtv, plane, index, spacing_mm) -> np.ndarray:
    from PIL import Image


    rgba = viewer.compose(ct, stations, plane, index, gtv=gtv, opacity=0.45)
    img = Image.fromarray((rgba[..., :3] * 255).astype(np.uint8))
    aspect = viewer.plane_aspect(spacing_mm, plane)  # row spacing / column spacing
    h = max(1, int(round(img.height * aspect)))
    return np.asarray(img.resize((img.width, h), Image.NEAREST))


def thumbnail_png(ct, stations, gtv, spacing_mm, height_px: int = 150) -> bytes:
    """Axial and coronal planes through the GTV's centre (the volume's without GTV),
    side by side, each scaled to ``height_px``; PNG bytes."""
    from PIL import Image

    g = np.asarray(gtv, dtype=bool) if gtv is not None else None
    pts = np.argwhere(g) if g is not None and g.any() else np.argwhere(np.ones(1))[:0]
    centre = (pts.mean(axis=0) if len(pts) else np.asarray(np.shape(ct)) / 2).astype(int)
    from PIL import ImageDraw


    tiles = []
    for plane, idx in (("axial", centre[0]), ("coronal", centre[1])):
        arr = _plane_rgb(ct, stations, g, plane, int(idx), spacing_mm)
        im = Image.fromarray(arr)
        w = max(1, int(round(im.width * height_px / im.height)))
        tile = im.resize((w, height_px), Image.BILINEAR)
        draw = ImageDraw.Draw(tile)
        left, right, top, _ = EDGES[plane]  # radiological: the patient's left on the right
        for xy, letter, anchor in (((2, height_px // 2), left, "lm"),
                                   ((w - 3, height_px // 2), right, "rm"),
                                   ((w // 2, 1), top, "mt")):
            draw.text(xy, letter, fill=(255, 255, 0), anchor=anchor)
        tiles.append(tile)
    out = Image.new("RGB", (sum(t.width for t in tiles) + 4, height_px), (255, 255, 255))
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + 4
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_GALLERY_CSS = """
body{font-family:sans-serif;margin:0 auto;max-width:1300px;padding:0 16px 40px;color:#222}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #ccc;border-radius:4px;padding:4px;background:#fff;font-size:12px}
.card img{display:block;height:150px}
.card.flagged{border:2px solid #c00}
.bar{margin:10px 0} button{margin-right:6px}
.flag-no{color:#c00;font-weight:bold} .flag-yes{color:#070}
"""

_GALLERY_JS = """
function sortCards(key, desc){
  const box = document.getElementById('cards');
  const cards = Array.from(box.children);
  cards.sort((a, b) => {
    const x = parseFloat(a.dataset[key]), y = parseFloat(b.dataset[key]);
    const nx = isNaN(x), ny = isNaN(y);
    if (nx || ny) return nx - ny;
    return desc ? y - x : x - y;
  });
  cards.forEach(c => box.appendChild(c));
  document.getElementById('sorted').textContent = key + (desc ? ' (descending)' : '');
}
"""


def station_legend_html() -> str:
    """One line of colour swatches, a station each (the colours of every view)."""

    items = "".join(f'<span style="white-space:nowrap;margin-right:8px"><span '
                    f'style="display:inline-block;width:11px;height:11px;background:'
                    f'rgb{STATION_COLORS[s]};vertical-align:middle"></span> {s}</span>'
                    for s in STATIONS)
    return f'<p class="legend" id="station-legend">stations: {items}</p>'


def gallery_html(summary: pd.DataFrame, thumbs: dict[str, str], pages: dict[str, str],
                 *, banner: str = "", title: str = "") -> str:
    """The gallery page (links relative to the run folder)."""
    cards = []
    for pid, r in summary.iterrows():
        d = r["dice"]
        usable = r["usable"]
        flag = "-" if pd.isna(usable) else ("usable" if usable else "flagged")
        qc_num = "" if pd.isna(usable) else ("1" if usable else "0")
        cls = "card flagged" if flag == "flagged" else "card"
        img = f'<img src="{html.escape(thumbs[pid])}" alt="{html.escape(str(pid))}">'
        if pid in pages:
            img = f'<a href="{html.escape(pages[pid])}" title="3D view">{img}</a>'
        dice = "no reference" if isinstance(d, float) and math.isnan(d) else f"{d:.3f}"
        why = f' title="{html.escape(r["reasons"])}"' if r["reasons"] else ""
        cards.append(
            f'<div class="{cls}" data-pid="{html.escape(str(pid))}" '
            f'data-dice="{"" if dice == "no reference" else f"{d:.6f}"}" data-qc="{qc_num}">'
            f"{img}<div><b>{html.escape(str(pid))}</b> Dice {dice} | QC "
            f'<span class="flag-{"no" if flag == "flagged" else "yes"}"{why}>{flag}</span>'
            f' | <span class="analysis">{html.escape(r.get("analysis", "") or "-")}</span>'
            f'{" | <a href=" + chr(34) + html.escape(pages[pid]) + chr(34) + ">3D</a>" if pid in pages else ""}'
            "</div></div>")
    return "".join([
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>QC gallery {html.escape(title)}</title><style>{_GALLERY_CSS}</style>",
        "</head><body>", banner,
        '<p><a href="index.html">&larr; report index</a></p>',
        f"<h1>QC gallery: {len(summary)} patients</h1>",
        "<p>Axial and coronal planes through the centre of the GTV, radiological (the "
        "patient's left on the right: R and L at the edges); predicted stations in "
        "colour, GTV outlined in red. Dice: mean over the stations, predicted vs reference. "
        "QC: the segmentation domain check (table segment_qc; '-' when it was not run). "
        "Then the analysis ledger's decision: analysed (kept despite a QC flag when "
        "analysis.include_qc_failed is set), or the step and reason the patient left "
        "('-' before 03_partition wrote the ledger). "
        "Click a thumbnail with a 3D page to open it.</p>",
        '<div class="bar">sort by: <button onclick="sortCards(\'dice\', true)">Dice '
        "(best first)</button><button onclick=\"sortCards('dice', false)\">Dice (worst "
        "first)</button><button onclick=\"sortCards('qc', false)\">QC (flagged first)"
        '</button> <span id="sorted"></span></div>', station_legend_html(),
        f'<div class="cards" id="cards">{"".join(cards)}</div>',
        f"<script>{_GALLERY_JS}</script></body></html>"])


def write_patient_pages(run_dir: Path, store, n_3d: int, *, banner: str = "",
                        title: str = "", scheduler: str = "serial",
                        n_workers: int = 1) -> PatientPages:
    """Write the gallery, its thumbnails and the 3D pages of a run; see the module doc.

    Each patient's Dice and thumbnail come from one pass over its volumes, through
    :func:`analysis.scheduling.parallel.map_patients` on ``scheduler`` (the run's params); a patient
    whose volumes cannot be read gets no card and is counted in ``skipped``."""
    run_dir = Path(run_dir)
    try:
        pids = store.patient_ids()
    except (StoreError, OSError, ValueError) as err:
        return PatientPages(skipped=f"no cohort store to draw from ({type(err).__name__})")
    pids = [p for p in pids if store.has(p, "ct") and store.has(p, "stations_pred")]
    if not pids:
        return PatientPages(skipped="no patient with a CT and predicted stations "
                                    "(02_segment not run, or a clinical-only cohort)")
    res = map_patients(_patient_item, {p: (str(store.root), p) for p in pids},
                       scheduler=scheduler, n_workers=n_workers, desc="gallery")
    done = [p for p in pids if p in res.results]
    summary = _with_qc(store, pd.DataFrame({"dice": [res.results[p][0] for p in done]},
                                           index=pd.Index(done, name="pid")))
    chosen = choose_3d(summary, n_3d)
    thumbs, pages = {}, {}
    for pid in chosen:
        grid = store.grid(pid)
        ref = store.read(pid, "stations_ref") if store.has(pid, "stations_ref") else None
        overlays = {k: store.read(pid, k) for k in ("gtv", "gtvnd", "ctv") if store.has(pid, k)}
        d = summary.loc[pid, "dice"]
        label = "" if math.isnan(d) else f", mean Dice {d:.3f}"
        scene = viewer3d.Scene(store.read(pid, "ct"), store.read(pid, "stations_pred"), grid,
                               reference=ref, overlays=overlays,
                               title=f"Patient {pid}: stations in 3D{label}")
        rel = f"{PAGES_DIR}/{pid}.html"
        viewer3d.write_page(scene, run_dir / rel, run_dir / ASSETS_DIR, banner=banner,
                            back_link='<a href="../index.html">&larr; report index</a> | '
                                      '<a href="../gallery.html">QC gallery</a>')
        pages[pid] = rel
    for pid in done:
        rel = f"{THUMBS_DIR}/{pid}.png"
        atomic_write_bytes(run_dir / rel, res.results[pid][1])
        thumbs[pid] = rel
    atomic_write_text(run_dir / GALLERY, gallery_html(summary, thumbs, pages, banner=banner,
                                                      title=title))
    skipped = (f"{len(res.failures)} patient(s) without a card: their volumes could not be "
               "read" if res.failures else "")
    return PatientPages(gallery=GALLERY, pages_3d=pages, summary=summary, skipped=skipped)
