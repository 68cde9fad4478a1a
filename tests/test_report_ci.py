"""``make report`` on ``params/ci.yaml``: the real chain of notebooks, end to end.

The report runs twice, into two temporary report roots and data folders: once
normally, once with ``--force`` so that every notebook re-executes on a fresh cohort
store (ingest, segmentation, partition, ... all recomputed); only the phantom export is
shared (copied), since generating it twice would add its time for no new check. Every CSV table of the two runs must be
identical byte for byte. The index, the QC gallery and the 3D pages are then opened in
headless Chromium with the network off (:mod:`analysis.report.browser`): every image decodes,
every table is in the rendered DOM, each screenshot (kept in the test's temporary
folder) is not blank and no request fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from analysis import paths
from analysis.params import load_params
from analysis.report import runner as report
from analysis.report.runner import PAPER_ITEMS

pytestmark = pytest.mark.slow

CI_PARAMS = "params/ci.yaml"
#: generous: the ci chain takes a few minutes on 2 cores (README, "Measured")
RUN_TIMEOUT_S = 1500
PARAMS = load_params(CI_PARAMS)


def _run(reports_root, data_root, *extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "analysis.report", "--params", CI_PARAMS,
           "--reports-root", str(reports_root), "--data-root", str(data_root), *extra]
    proc = subprocess.run(cmd, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    missing = [n for n in PARAMS.report.notebooks
               if not (paths.NOTEBOOKS_DIR / f"{n}.ipynb").is_file()]
    assert not missing, f"notebooks missing from notebooks/: {missing}"
    tmp = tmp_path_factory.mktemp("report_ci")
    _run(tmp / "reports_a", tmp / "data_a")
    # the second run re-executes every notebook (--force) on a fresh cohort store; it
    # shares only the phantom export (same seed and code give the same bytes, tested by
    # the phantom's own tests), copied so that its stamp lets the generator skip it
    phantom = report.phantom_dir(PARAMS)
    rel = phantom.relative_to(paths.DATA_DIR)
    shutil.copytree(tmp / "data_a" / rel, tmp / "data_b" / rel)
    _run(tmp / "reports_b", tmp / "data_b", "--force")
    return tmp / "reports_a" / PARAMS.run_name, tmp / "reports_b" / PARAMS.run_name


def _items(run_dir):
    for f in sorted((run_dir / "outputs").glob("*.json")):
        data = json.loads(f.read_text())
        for item in data["items"]:
            yield data["notebook"], item


def test_every_notebook_ran_without_error(runs):
    run_dir, _ = runs
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [n["notebook"] for n in manifest["notebooks"]] == PARAMS.report.notebooks
    assert {n["status"] for n in manifest["notebooks"]} == {"ran"}
    for name in PARAMS.report.notebooks:
        executed = json.loads((run_dir / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0]['ename']}"
        for html in (f"{name}.html", f"{name}_nocode.html"):
            page = (run_dir / "html" / html).read_text()
            assert 'id="phantom-banner"' in page, html  # ci is the phantom


def test_every_recorded_output_exists_and_is_not_empty(runs):
    run_dir, _ = runs
    items = list(_items(run_dir))
    assert items, "no notebook recorded any output"
    for nb, item in items:
        assert item["files"], f"{nb}: {item['name']} records no file"
        for f in item["files"]:
            assert (run_dir / f).stat().st_size > 0, f"{nb}: {f} is empty"


def test_every_recorded_name_is_registered(runs):
    """The exact names of a real run are in analysis.outputs.names (issue 12)."""
    from analysis.outputs.names import REGISTRY

    run_dir, _ = runs
    unregistered = [(nb, it["name"]) for nb, it in _items(run_dir) if it["name"] not in REGISTRY]
    assert not unregistered, f"register these in analysis/outputs/names.py: {unregistered}"


def test_every_figure_is_shown_in_its_executed_notebook_and_html(runs):
    """Each recorded figure is an image/png output of its notebook (its caption is the
    output's text/plain), and the HTML exports embed the images and load no script from
    the internet (issue 15)."""
    from analysis.report.html import external_scripts

    run_dir, _ = runs
    for name in PARAMS.report.notebooks:
        executed = json.loads((run_dir / "notebooks" / f"{name}.ipynb").read_text())
        shown = ["".join(o["data"].get("text/plain", "")) for c in executed["cells"]
                 for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        figures = [it["caption"] for nb, it in _items(run_dir)
                   if nb == name and it["kind"] == "figure"]
        missing = [c for c in figures if c not in shown]
        assert not missing, f"{name}: figures not shown inline: {missing}"
        for html in (f"{name}.html", f"{name}_nocode.html"):
            page = (run_dir / "html" / html).read_text()
            assert page.count('src="data:image/png;base64,') >= len(figures), html
            assert external_scripts(page) == [], html


def test_manifest_fields(runs):
    run_dir, _ = runs
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["params_digest"] == PARAMS.digest() and m["seed"] == PARAMS.seed
    assert m["params"]["run_name"] == PARAMS.run_name and m["phantom"] is True
    assert m["packages"]["python"] and m["packages"]["pandas"]
    assert m["inputs"]["truth_json_sha256"], "phantom truth.json not hashed"
    assert m["inputs"]["phantom_export"]["n_files"] > 0
    assert all(isinstance(n["seconds"], float | int) for n in m["notebooks"])
    assert {"commit", "dirty"} <= set(m["git"]) and m["started"] <= m["finished"]


def test_index_shows_every_paper_item(runs):
    run_dir, _ = runs
    index = (run_dir / "index.html").read_text()
    assert 'id="phantom-banner"' in index
    missing = [p.label for p in PAPER_ITEMS
               if f"expected from {p.notebook} as <code>{p.stems[0]}</code>" in index]
    assert not missing, f"paper items no notebook produced: {missing}"


def test_no_patient_identifier_reaches_the_report(runs):
    """No MRN, name, birth or treatment date of the phantom's clinical.csv appears in any report file."""
    run_dir, _ = runs
    data_a = run_dir.parent.parent / "data_a"
    export = report.phantom_dir(PARAMS, data_a) / "export"
    clinical = pd.read_csv(export / "clinical.csv", dtype=str, keep_default_na=False)
    secrets = {v for col in ("MRN", "Name", "BirthDate", "RT_Start") for v in clinical[col] if len(v) >= 5}
    assert secrets, "no identifier read from the phantom's clinical.csv"
    for f in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.suffix != ".png"):
        text = f.read_text(encoding="utf-8", errors="replace")
        leaked = sorted(v for v in secrets if v in text)
        assert not leaked, f"{f.relative_to(run_dir)} holds identifiers, e.g. {leaked[:3]}"


def test_two_runs_give_identical_tables(runs):
    a, b = runs
    tables_a = sorted(p.name for p in (a / "tables").glob("*.csv"))
    tables_b = sorted(p.name for p in (b / "tables").glob("*.csv"))
    assert tables_a and tables_a == tables_b
    differ = [t for t in tables_a
              if (a / "tables" / t).read_bytes() != (b / "tables" / t).read_bytes()]
    assert not differ, f"tables differ between two runs of {CI_PARAMS}: {differ}"


def _chromium() -> str:
    from analysis.report import browser

    exe = browser.chromium_path()
    if exe is None:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.fail("chromium missing; `make test` installs it (tools/ensure_chromium.sh)")
        pytest.skip("chromium missing; as root: apt-get install -y chromium "
                    "(or bash tools/ensure_chromium.sh)")
    return exe


def test_index_gallery_and_3d_pages_render_offline(runs, tmp_path):
    """The real chain's report in headless Chromium with the network off: the index
    (scorecard, contents, every figure decoded, every table in the DOM), the gallery
    (every thumbnail decoded) and each 3D page (both canvases drawn), each screenshot
    non-blank, no request failed or blocked."""
    from analysis.report import browser

    run_dir, _ = runs
    _chromium()
    pages = sorted((run_dir / "3d").glob("*.html"))
    assert len(pages) == PARAMS.report.n_3d_pages, pages
    with browser.offline_page(width=1280, height=1000) as (page, log):
        page.goto((run_dir / "index.html").as_uri())
        assert page.is_visible("#phantom-banner") and page.is_visible("nav#toc")
        assert page.eval_on_selector_all("#scorecard tbody tr", "r => r.length") >= 10
        widths = page.eval_on_selector_all("img", "is => is.map(i => i.naturalWidth)")
        assert widths and min(widths) > 10, widths
        source = (run_dir / "index.html").read_text()
        for tid in re.findall(r'<table[^>]*id="(tbl-[^"]+)"', source):
            assert page.query_selector(f'[id="{tid}"]') is not None, tid
        shot = page.screenshot(path=tmp_path / "index.png", full_page=True)
        assert browser.blank_score(shot) > 5.0

        page.goto((run_dir / "gallery.html").as_uri())
        widths = page.eval_on_selector_all("#cards img", "is => is.map(i => i.naturalWidth)")
        assert len(widths) == PARAMS.phantom.n_included and min(widths) > 10
        assert browser.blank_score(page.screenshot(path=tmp_path / "gallery.png")) > 5.0
        for p in pages:
            page.goto(p.as_uri())
            browser.wait_for(page, "window.sclcReady >= 2 || window.sclcError", 90)
            assert page.evaluate("window.sclcError") is None, p.name
            page.wait_for_timeout(500)
            for cid in ("gl1", "gl2"):
                box = page.query_selector(f"#{cid}").bounding_box()
                assert browser.blank_score(page.screenshot(clip=box)) > 5.0, (p.name, cid)
    assert log.failed == [] and log.blocked == [], log
