"""HTML of the report: notebooks exported with and without code, and the index page.

Every page carries a fixed banner when the cohort is the synthetic phantom. All links are
relative to ``reports/<run>/``, so the folder can be zipped and opened anywhere.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, paths
from analysis.fsutil import atomic_write_text
from analysis.ledger import read_ledger
from analysis.outputs import PHANTOM_MARK
from analysis.outputs.names import STATIONS_VERDICT_TABLE
from analysis.report import browser, scorecard
from analysis.report import pages as report_pages
from analysis.report import why as scorecard_why
from analysis.store import CohortStore

#: rows of a table shown in the index (the CSV beside it holds them all)
MAX_INDEX_ROWS = 300
#: width (px) a table of the index may take: the page at 1400 px less the contents
#: sidebar (230) and the margins (48), less a little slack
TABLE_BUDGET_PX = 1080
#: a table with more columns than this is folded (``<details>``) rather than split
MAX_SPLIT_COLUMNS = 40

BANNER_HTML = (
    '<div id="phantom-banner" class="phantom-banner" style="position:sticky;top:0;'
    'z-index:10000;background:#b00020;color:#fff;padding:8px 12px;font:bold 15px '
    'sans-serif;text-align:center">'
    f"{html.escape(PHANTOM_MARK)}: every number on this page is synthetic</div>"
)

_CSS = """
body{font-family:sans-serif;margin:0;color:#222}
nav#toc{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;background:#f6f7f9;
border-right:1px solid #ddd;padding:44px 10px 12px;font-size:13px;box-sizing:border-box}
nav#toc a{display:block;padding:2px 0;color:#1a4c9c;text-decoration:none}
nav#toc a.sub{padding-left:12px;color:#345} nav#toc b{display:block;margin-top:10px}
main{margin-left:230px;padding:0 24px 48px;max-width:1250px}
h1{margin-top:16px} h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}
.paper{background:#eef4ff;border-left:4px solid #3366cc;padding:6px 10px;margin:8px 0}
.missing{color:#a00;font-style:italic}
.caption{font-weight:bold;margin:14px 0 4px}
.files{font-size:12px;color:#555}
.tw{overflow-x:auto;max-width:100%}
table.tbl{border-collapse:collapse;font-size:13px;margin:6px 0;width:max-content}
table.tbl th,table.tbl td{border:1px solid #ccc;padding:2px 6px;text-align:right}
table.tbl th{background:#f3f3f3;white-space:nowrap;word-break:keep-all;overflow-wrap:normal;
hyphens:none}
table.tbl td{max-width:32em;overflow-wrap:break-word;word-break:normal;hyphens:none;
vertical-align:top}
table.score td.q,table.score td.why{text-align:left}
table.score td.verdict{font-weight:bold;white-space:nowrap} table.score td:nth-child(4){white-space:nowrap}
tr.v-within td.verdict{color:#066b1f} tr.v-outside td.verdict{color:#b00020}
tr.v-nc td.verdict{color:#777}
table.runs td,table.runs th{border:1px solid #ccc;padding:2px 8px;white-space:nowrap}
img.fig{max-width:100%;border:1px solid #ddd}
.failed{background:#fdd;padding:8px;white-space:pre-wrap;font-family:monospace}
ul.pages li{margin:3px 0}
details.wide summary{cursor:pointer;color:#1a4c9c;font-size:13px}
@media print{
nav#toc{display:none} main{margin-left:0;max-width:none;padding:0}
.phantom-banner{position:static!important}
.tw{overflow:visible} table.tbl{font-size:10px;width:auto} table.tbl td{max-width:none}
h2{break-after:avoid} .caption,table.tbl tr,img.fig{break-inside:avoid}
img.fig{max-width:100%} a{color:inherit;text-decoration:none}
}
"""


def inject_banner(page: str, banner: str) -> str:
    """Insert ``banner`` right after the ``<body>`` tag of an HTML page."""
    m = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    if m is None:
        return banner + page
    return page[:m.end()] + banner + page[m.end():]


#: nbconvert template: the lab template without the scripts it loads from CDNs
#: (require.js, MathJax, mermaid, the widget manager); pages must open offline
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: shown in an export in place of a live widget that left no static snapshot
WIDGET_NOTE = ("[interactive widget: open the notebook in JupyterLab (make lab) to use it; "
               "an export cannot run it]")


def static_outputs(nb) -> int:
    """Make widget outputs of a notebook exportable without a widget manager (in place).

    An output that carries a static snapshot (``image/png``, ``text/html``) beside its
    widget view loses the widget view, so the export shows the snapshot; an output that
    carries only a widget view gets :data:`WIDGET_NOTE` as ``text/plain`` instead. The
    notebook's saved widget state is dropped (it would need the widget manager from a
    CDN). Returns the number of widget outputs changed.
    """
    n = 0
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or WIDGET_MIME not in data:
                continue
            del data[WIDGET_MIME]
            if not any(k in data for k in ("image/png", "text/html", "image/svg+xml")):
                data["text/plain"] = WIDGET_NOTE
            n += 1
    return n


def export_html(notebook_file: Path, html_dir: Path, phantom: bool) -> tuple[Path, Path]:
    """Write ``<stem>.html`` (with code) and ``<stem>_nocode.html`` of an executed notebook.

    The pages are self-contained: figures are embedded (data URIs), widgets appear as
    their static snapshots (:func:`static_outputs`) and no script is loaded from the
    internet (:data:`OFFLINE_TEMPLATE`).

    Returns
    -------
    (with_code, without_code) : tuple of Path
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook_file, as_version=4)
    static_outputs(nb)
    html_dir.mkdir(parents=True, exist_ok=True)
    stem = notebook_file.stem
    nav = ('<div style="font:13px sans-serif;padding:4px 12px"><a href="../index.html">'
           f'&larr; report index</a> | <a href="{stem}.html">with code</a> | '
           f'<a href="{stem}_nocode.html">without code</a> | '
           f'<a href="../notebooks/{stem}.ipynb">executed notebook</a></div>')
    written = []
    for exclude, suffix in ((False, ""), (True, "_nocode")):
        exporter = HTMLExporter(template_name="lab", exclude_input=exclude,
                                exclude_input_prompt=exclude, exclude_output_prompt=exclude,
                                extra_loaders=[DictLoader({"sclc_offline.html.j2":
                                                           OFFLINE_TEMPLATE})],
                                template_file="sclc_offline.html.j2")
        body, _ = exporter.from_notebook_node(nb)
        body = inject_banner(body, (BANNER_HTML if phantom else "") + nav)
        out = html_dir / f"{stem}{suffix}.html"
        atomic_write_text(out, body)
        written.append(out)
    return written[0], written[1]


def external_scripts(page: str) -> list[str]:
    """``src`` of every ``<script>`` of an HTML page that is loaded over the network."""
    return re.findall(r"<script[^>]*\ssrc=[\"']((?:https?:)?//[^\"']+)", page,
                      flags=re.IGNORECASE)


def assign_outputs(outputs: Sequence[tuple[str, dict]], paper_items: Sequence
                   ) -> tuple[dict[str, list[tuple[str, dict]]], list[tuple[str, dict]]]:
    """Split recorded outputs into paper items (in order) and the others.

    Parameters
    ----------
    outputs : sequence of (notebook, item)
        Items as recorded by :class:`analysis.outputs.Outputs`, in notebook order.
    paper_items : sequence of PaperItem
        An output goes to the item whose ``stems`` (exact names, from
        :mod:`analysis.outputs.names`) hold its name.

    Returns
    -------
    by_label : dict
        Paper item label -> its outputs (an empty list when none matched).
    others : list of (notebook, item)
        Outputs of no paper item, in notebook order.
    """
    owner = {name: p.label for p in paper_items for name in p.stems}
    by_label: dict[str, list[tuple[str, dict]]] = {p.label: [] for p in paper_items}
    others = []
    for nb, item in outputs:
        label = owner.get(item["name"])
        if label is None:
            others.append((nb, item))
        else:
            by_label[label].append((nb, item))
    return by_label, others


def column_width_px(header: str, cells: Sequence[str]) -> float:
    """Estimated rendered width (px) of a column of the index's tables (13 px sans-serif:
    about 7.8 px per bold header character, 7.2 per cell character; a cell wraps at
    32em = 416 px; 14 px of padding and border).

    Example: header ``"hr"``, cells ``["1.635", "0.9"]`` -> 5 x 7.2 + 14 = 50.0.
    """
    longest = max((len(c) for c in cells), default=0)
    return min(max(len(str(header)) * 7.8, longest * 7.2), 416.0) + 14.0


def column_chunks(df: pd.DataFrame, budget_px: float = TABLE_BUDGET_PX) -> list[list[int]]:
    """Split a table's columns into groups that each fit ``budget_px``; every group
    after the first repeats column 0 (the row's label), so each part reads alone."""
    widths = [column_width_px(c, df.iloc[:, k].tolist()) for k, c in enumerate(df.columns)]
    chunks, current, used = [], [0], widths[0] if widths else 0.0
    for k in range(1, len(widths)):
        if used + widths[k] > budget_px and len(current) > 1:
            chunks.append(current)
            current, used = [0], widths[0]
        current.append(k)
        used += widths[k]
    chunks.append(current)
    return chunks


def table_html(csv_file: Path, table_id: str) -> str:
    """A CSV table as HTML, cells exactly as written in the CSV. A table wider than the
    page at 1400 px (:data:`TABLE_BUDGET_PX`) is split into parts stacked one below the
    other, each repeating the first column; one of more than :data:`MAX_SPLIT_COLUMNS`
    columns is folded instead (open it to scroll; the CSV holds it all)."""
    df = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
    df.columns = ["" if str(c).startswith("Unnamed:") else c for c in df.columns]
    note = ""
    if len(df) > MAX_INDEX_ROWS:
        note = (f'<div class="files">first {MAX_INDEX_ROWS} of {len(df)} rows; all in '
                "the CSV</div>")
        df = df.head(MAX_INDEX_ROWS)

    def one(part: pd.DataFrame, tid: str) -> str:
        return ('<div class="tw">' + part.to_html(index=False, border=0, classes="tbl",
                                                 table_id=tid) + "</div>")

    if df.shape[1] > MAX_SPLIT_COLUMNS:
        return (f'<details class="wide"><summary>{df.shape[1]} columns, {len(df)} rows: '
                "open to scroll through them</summary>" + one(df, table_id)
                + "</details>" + note)
    chunks = column_chunks(df)
    parts = [one(df.iloc[:, cols], table_id if i == 0 else f"{table_id}-part{i + 1}")
             for i, cols in enumerate(chunks)]
    if len(parts) > 1:
        parts.insert(0, f'<div class="files">{len(parts)} parts, side by side in the '
                        "CSV</div>")
    return "".join(parts) + note


def _item_html(run_dir: Path, nb: str, item: dict) -> str:
    name, kind = item["name"], item.get("kind", "")
    files = item.get("files", [])
    links = " | ".join(f'<a href="{html.escape(f)}">{html.escape(Path(f).suffix[1:])}</a>'
                       for f in files)
    head = (f'<div class="caption">{html.escape(item.get("caption", name))}</div>'
            f'<div class="files">{html.escape(name)} from '
            f'<a href="html/{nb}_nocode.html">{nb}</a> | {links}</div>')
    if kind == "table":
        csv = next((f for f in files if f.endswith(".csv")), None)
        if csv is None or not (run_dir / csv).is_file():
            return head + '<p class="missing">table file missing</p>'
        return head + table_html(run_dir / csv, f"tbl-{name}")
    png = next((f for f in files if f.endswith(".png")), None)
    if png is None:
        return head + '<p class="missing">figure file missing</p>'
    return head + (f'<img class="fig" id="fig-{html.escape(name)}" src="{html.escape(png)}" '
                   f'alt="{html.escape(item.get("caption", name))}">')


def _runs_table(results: Sequence, run_dir: Path) -> str:
    """The notebooks of the run; links only to executed copies that exist and belong to
    this run (a step that never ran, or was not run after a failure, has none)."""
    rows = []
    for r in results:
        nb = r.notebook
        have = (r.status in {"ran", "up to date", "failed", "not selected"}
                and (run_dir / "notebooks" / f"{nb}.ipynb").is_file())
        link = (f'<a href="notebooks/{nb}.ipynb">ipynb</a> | <a href="html/{nb}.html">'
                f'html</a> | <a href="html/{nb}_nocode.html">html without code</a>'
                if have else "")
        sec = "" if r.seconds is None else f"{r.seconds:.1f}"
        rows.append(f"<tr><td>{nb}</td><td>{html.escape(r.status)}</td><td>{sec}</td>"
                    f"<td>{len(r.outputs)}</td><td>{link}</td></tr>")
    return ('<table class="runs"><tr><th>notebook</th><th>status</th><th>seconds</th>'
            "<th>outputs</th><th>links</th></tr>" + "".join(rows) + "</table>")


def _slug(text: str) -> str:
    return "item-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _patient_pages_html(pages) -> str:
    if pages is None or pages.gallery is None:
        why = "" if pages is None else pages.skipped
        return f'<p class="missing">no gallery in this run{": " + html.escape(why) if why else ""}</p>'
    items = []
    for pid, rel in pages.pages_3d.items():
        d = pages.summary.loc[pid, "dice"] if pages.summary is not None else float("nan")
        dice = "" if d != d else f" (mean Dice {d:.3f})"
        items.append(f'<li><a href="{html.escape(rel)}">{html.escape(pid)}</a>{dice}</li>')
    note = f'<p class="missing">{html.escape(pages.skipped)}</p>' if pages.skipped else ""
    return (f'<p><a href="{html.escape(pages.gallery)}" id="gallery-link">QC gallery</a>: '
            f"one thumbnail per patient ({len(pages.summary)}), sortable by Dice and QC "
            f"flag.</p>{note}<p>3D station views (NiiVue, offline):</p>"
            f'<ul class="pages" id="pages-3d">{"".join(items) or "<li>none</li>"}</ul>')


def exports_html(run_dir: Path, export_dir: Path) -> str:
    """The report's link to the run's station exports (``exports.csv`` of
    :mod:`analysis.segment.export_cohort`), relative to the run folder, with the count of
    patients written; a line saying how to make them when there are none. No pid."""
    index = Path(export_dir) / "exports.csv"
    if not index.is_file():
        return ('<p class="missing" id="exports">no station exports for this run '
                "(segment.export: false, or 02_segment has not run): make export "
                "PARAMS=... writes them</p>")
    table = pd.read_csv(index)
    ok = int((table["status"] == "written").sum())
    rel_index = os.path.relpath(index, run_dir)
    rel_dir = os.path.relpath(export_dir, run_dir)
    return (f'<p id="exports">Station exports: <a href="{html.escape(rel_dir)}/">'
            f"{html.escape(rel_dir)}/</a>, {ok} of {len(table)} analysed patient(s) written "
            "as RTSTRUCT and DICOM-SEG on the patient's own CT frame and as NIfTI with a "
            f'3D Slicer colour table; <a href="{html.escape(rel_index)}">exports.csv</a> '
            "lists them (pseudonymous, kept under data/, not in the report).</p>")


def _stations_verdict_html(run_dir: Path, nb: str, item: dict) -> str:
    """Issue 25's verdict (AI vs reference stations) in bold with the numbers that
    decided it (each judged criterion: its value and rule), then its table."""
    csv = next((f for f in item.get("files", []) if f.endswith(".csv")), None)
    text, numbers = "", []
    if csv is not None and (run_dir / csv).is_file():
        df = pd.read_csv(run_dir / csv, dtype=str, keep_default_na=False)
        text = df["verdict"].iloc[0] if "verdict" in df and len(df) else ""
        numbers = verdict_numbers(df)
    because = (f" Decided by: {'; '.join(numbers)}." if numbers else "")
    return ('<h2 id="stations-verdict">Do AI-drawn stations reproduce the reference '
            f'analysis?</h2><p id="stations-verdict-text"><b>{html.escape(text)}</b>'
            f"{html.escape(because)}</p>" + _item_html(run_dir, nb, item))


def verdict_numbers(table: pd.DataFrame) -> list[str]:
    """The judged rows of the stations verdict table as "criterion: value (rule ...:
    holds)"; rows shown but not judged, and criteria not measured, are left out."""
    out = []
    for _, row in table.iterrows():
        if str(row.get("holds")) not in ("yes", "no"):
            continue
        try:
            value = f"{float(row['value']):.3g}"
        except (TypeError, ValueError):
            value = str(row["value"])
        out.append(f"{row['criterion']}: {value} (rule {row['rule']}: "
                   f"{'holds' if row['holds'] == 'yes' else 'fails'})")
    return out


def _toc(paper_items: Sequence, other_notebooks: Sequence[str], pages) -> str:
    links = ['<b>This run</b>', '<a href="#scorecard-section">Headline scorecard</a>',
             '<a href="#runs">Notebooks</a>', '<a href="#patients">Patients: gallery, 3D</a>',
             "<b>The paper, in order</b>"]
    links += [f'<a class="sub" href="#{_slug(p.label)}">{html.escape(p.label)}</a>'
              for p in paper_items]
    links.append('<b><a href="#others">Beyond the paper</a></b>')
    links.append('<a class="sub" href="#stations-verdict">AI vs reference stations</a>')
    links += [f'<a class="sub" href="#{_slug("nb " + nb)}">{html.escape(nb)}</a>'
              for nb in other_notebooks]
    links.append('<b><a href="#conflicts">Where the paper contradicts itself</a></b>')
    if pages is not None and pages.gallery:
        links.append(f'<b><a href="{html.escape(pages.gallery)}">QC gallery &rarr;</a></b>')
    return '<nav id="toc">' + "".join(links) + "</nav>"


def _ledger_line(params, store_dir: Path | None) -> str:
    """The analysis ledger in one sentence (who 03-07 analysed, on which maps, who left
    at which step), or why there is none."""
    if store_dir is None:
        return "Analysis ledger: no cohort store given."
    try:
        return read_ledger(CohortStore(store_dir), params).describe()
    except Exception as err:  # noqa: BLE001 - shown in the index, never fatal
        return f"Analysis ledger: not available ({type(err).__name__}: {err})."


def write_index(run_dir: Path, params, results: Sequence, paper_items: Sequence, *,
                store_dir: Path | None = None, truth_file: Path | None = None) -> Path:
    """Write ``index.html``: the headline scorecard, the paper's items in order, the other
    outputs, links to the QC gallery and the 3D pages, with a table of contents.

    ``truth_file``: the phantom's truth.json; every "outside" headline gets its reason
    from it, from the paper's documented contradictions, or a red flag
    (:mod:`analysis.report.why`).

    ``store_dir``: the run's cohort store; when given, the gallery and the 3D pages
    (:mod:`analysis.report.pages`) are written first (a failure there is shown in the
    index, not raised, so that the index is always written).
    """
    outputs = [(r.notebook, it) for r in results for it in r.outputs]
    by_label, others = assign_outputs(outputs, paper_items)
    manifest = {}
    if (run_dir / "manifest.json").is_file():
        manifest = json.loads((run_dir / "manifest.json").read_text())
    git = manifest.get("git", {})
    banner = BANNER_HTML if params.is_phantom else ""
    pages = None
    if store_dir is not None:
        try:
            pages = report_pages.write_patient_pages(
                run_dir, CohortStore(store_dir), params.report.n_3d_pages, banner=banner,
                title=params.run_name, scheduler=params.scheduler,
                n_workers=params.n_workers)
        except Exception as err:  # noqa: BLE001 - shown in the index, never fatal
            pages = report_pages.PatientPages(
                skipped=f"the patient pages failed: {type(err).__name__}: {err}")
    other_nbs = list(dict.fromkeys(nb for nb, _ in others))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Report {html.escape(params.run_name)}</title><style>{_CSS}</style>",
        "</head><body>", banner, _toc(paper_items, other_nbs, pages), "<main>",
        f"<h1>SCLC lymph-node stations and recurrence: run "
        f"<code>{html.escape(params.run_name)}</code></h1>",
        f"<p>params <code>{html.escape(str(manifest.get('params_file', '')))}</code>, "
        f"digest <code>{params.digest()[:12]}</code>, seed {params.seed}, git "
        f"<code>{html.escape(str(git.get('commit')))}</code>"
        f"{' (dirty)' if git.get('dirty') else ''}; started "
        f"{html.escape(str(manifest.get('started', '')))}, finished "
        f"{html.escape(str(manifest.get('finished', '')))}; "
        '<a href="manifest.json">manifest.json</a>'
        + ('; printable: <a href="index.pdf">index.pdf</a>' if browser.chromium_path()
           else "") + "</p>",
        '<h2 id="scorecard-section">Did this run reproduce the paper? Headline scorecard</h2>',
        '<div class="tw">' + scorecard.scorecard_html(scorecard_why.explain(
            scorecard.headlines(run_dir), phantom=params.is_phantom,
            truth=scorecard_why.read_truth(truth_file) if params.is_phantom else None,
            planted_hr=getattr(params.phantom, "planted_hr_diameter", None)),
            params.is_phantom) + "</div>",
        '<h2 id="runs">Notebooks</h2>', _runs_table(results, run_dir),
        f'<p class="files" id="ledger">{html.escape(_ledger_line(params, store_dir))}</p>',
    ]
    parts += [f'<div class="failed">{html.escape(r.message)}</div>'
              for r in results if r.status == "failed"]
    exports = paths.stations_export_dir(params.run_name)
    if store_dir is not None:  # the data folder of this run (tests move it)
        exports = Path(store_dir).parent.parent / exports.relative_to(paths.DATA_DIR)
    parts += ['<h2 id="patients">Patients: QC gallery and 3D views</h2>',
              _patient_pages_html(pages), exports_html(run_dir, exports)]
    parts.append("<h1>The paper's tables and figures, in the paper's order</h1>")
    for p in paper_items:
        parts.append(f'<section class="paper-item"><h2 id="{_slug(p.label)}">'
                     f"{html.escape(p.label)}: {html.escape(p.title)}</h2>")
        parts.append(f'<div class="paper">paper: {html.escape(p.paper_value)}</div>')
        got = by_label[p.label]
        if not got:
            parts.append(f'<p class="missing">not produced in this run (expected from '
                         f"{html.escape(p.notebook)} as <code>{html.escape(p.stems[0])}"
                         "</code>)</p>")
        parts += [_item_html(run_dir, nb, it) for nb, it in got]
        parts.append("</section>")
    parts.append('<h1 id="others">Beyond the paper: other outputs</h1>')
    verdict = [(nb, it) for nb, it in others if it["name"] == STATIONS_VERDICT_TABLE]
    if verdict:
        parts.append(_stations_verdict_html(run_dir, *verdict[0]))
        others = [(nb, it) for nb, it in others if it["name"] != STATIONS_VERDICT_TABLE]
    if not others:
        parts.append("<p>none</p>")
    current = None
    for nb, it in others:
        if nb != current:
            parts.append(f'<h2 id="{_slug("nb " + nb)}">{html.escape(nb)}</h2>')
            current = nb
        parts.append(_item_html(run_dir, nb, it))
    parts.append('<h1 id="conflicts">Where the paper contradicts itself</h1><ul>')
    parts += [f"<li>{html.escape(c)}</li>" for c in paper.CONFLICTS]
    parts.append("</ul></main></body></html>")
    out = run_dir / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(parts))
    return out
