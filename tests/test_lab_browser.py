"""JupyterLab, headless and offline, shows the figures and both viewers (issue 15, item 0).

``jupyter lab`` is started as ``make lab`` starts it (MPLBACKEND unset, so the kernel
gets the inline backend) on 127.0.0.1, a free port and a random token; Chromium (network
off except that server) opens a notebook, runs all cells from the Run menu, and must
find: the figure written through ``Outputs.figure``, a plain matplotlib figure (inline
backend), the slice viewer's widget with its image, and NiiVue's 3D canvas, non-blank.

The notebook is a small one made here rather than 02_segment: 02_segment needs a cohort
store and takes minutes on the ci cohort (its inference), far over this test's budget;
the calls it makes to show figures and viewers are the same (``out.figure``,
``viewer.show``). ``tests/test_report_ci.py`` checks 02_segment's executed outputs.
"""

from __future__ import annotations

import json
import urllib.request

import nbformat
import pytest
from _lab import running_lab

from analysis import paths
from analysis.report import browser

pytestmark = pytest.mark.slow

CELLS = [
    "import numpy as np\nimport matplotlib.pyplot as plt\nfrom pathlib import Path\n"
    "from analysis.viewers import slices as viewer\nfrom analysis.grid import Grid\n"
    "from analysis.outputs import Outputs\nimport matplotlib\nmatplotlib.get_backend()",
    "out = Outputs('lab', '07_model_eval', phantom=False, root=Path('reports'))\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1], [0, 1])\n"
    "out.figure(fig, 'figure4_roc', 'saved and shown')",
    "plt.figure(figsize=(3, 2))\nplt.plot([1, 0]);",
    "g = Grid((12, 32, 32), (3.0, 1.5, 1.5))\nct = np.full(g.shape_zyx, -900, np.int16)\n"
    "ct[:, 6:26, 6:26] = 40\nst = np.zeros(g.shape_zyx, np.uint8)\n"
    "st[3:8, 8:16, 6:14] = 7\nst[5:10, 16:24, 18:26] = 8\nviewer.show(ct, st, grid=g)",
    "viewer.show(ct, st, grid=g, mode='3d', reference=st)",
]


def test_make_lab_leaves_the_backend_to_the_kernel():
    """Fault injected: `export MPLBACKEND := Agg` back in the Makefile -> fails here."""
    text = (paths.REPO_ROOT / "Makefile").read_text()
    assert "export MPLBACKEND" not in text
    lab = text.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "env -u MPLBACKEND" in lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if browser.chromium_path() is None:
        pytest.skip("chromium missing: bash tools/ensure_chromium.sh (as root)")
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "check.ipynb")
    settings = {"notebook-extension/tracker": {"windowingMode": "none"}}  # every cell in the DOM
    with running_lab(root, root, {}, settings) as (base, token):
        yield base, token, root


def test_lab_runs_the_notebook_and_shows_figures_and_viewers(lab, tmp_path):
    """Fault injected: the kernel started with MPLBACKEND=Agg (the old Makefile) -> the
    first cell shows 'Agg' (measured) and the assertion on the backend fails. Fault
    injected: JUPYTER_CONFIG_PATH not set (the project's settings missing) -> Lab asks
    "Would you like to get notified about official Jupyter news?" (measured) and the
    news assertion fails."""
    base, token, _ = lab
    with browser.offline_page(width=1400, height=1000, local_prefix=base) as (page, log):
        page.goto(f"{base}lab/tree/check.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(".jp-StatusBar-Widget :text('Idle')", timeout=60_000)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:
            browser.wait_for(page, "((document.querySelectorAll('.jp-InputPrompt')[4] || {})"
                             ".textContent || '').includes('[5]')", 90,
                             on_timeout=lambda: str(log))
        finally:
            page.screenshot(path=tmp_path / "lab_run.png")
        last = page.query_selector(".jp-Cell:nth-child(5)")
        last.scroll_into_view_if_needed()
        page.wait_for_selector(".jp-Cell:nth-child(5) .jp-OutputArea-output canvas",
                               timeout=30_000)
        page.wait_for_timeout(2500)  # NiiVue draws after its volumes load
        page.screenshot(path=tmp_path / "lab.png")
        backend = page.inner_text(".jp-Cell:nth-child(1) .jp-OutputArea-output")
        assert "inline" in backend, backend
        # the project's page config disables the announcements plugin: no news prompt
        assert "official Jupyter news" not in page.inner_text("body")
        for k in (2, 3, 4):  # out.figure, a plain plt figure, the slice viewer's image
            widths = page.eval_on_selector_all(
                f".jp-Cell:nth-child({k}) .jp-OutputArea-output img",
                "is => is.map(i => i.naturalWidth)")
            assert widths and max(widths) > 10, (k, widths)
        assert page.query_selector(".jp-Cell:nth-child(4) .widget-slider") is not None
        canvas = page.query_selector(".jp-Cell:nth-child(5) .jp-OutputArea-output canvas")
        score = browser.blank_score(page.screenshot(clip=canvas.bounding_box()))
        assert score > 5.0, score  # blank: 0
    assert not log.blocked and not [u for u in log.failed if not u.startswith(base)], log


def test_lab_saves_notebooks_of_notebooks_dir_without_outputs(lab):
    """The project's save hook (jupyter/jupyter_server_config.py) runs in the server:
    a notebook saved through Lab's contents API into notebooks/ loses its outputs, one
    saved elsewhere keeps them. Fault injected: JUPYTER_CONFIG_PATH not set -> the
    saved notebook keeps its output and the first assertion fails."""
    base, token, root = lab
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "1 + 1", execution_count=1,
        outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                        execution_count=1)])])
    for folder in ("notebooks", "elsewhere"):
        (root / folder).mkdir(exist_ok=True)
        body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
        req = urllib.request.Request(f"{base}api/contents/{folder}/saved.ipynb?token={token}",
                                     data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
    saved = nbformat.read(root / "notebooks" / "saved.ipynb", as_version=4)
    assert saved.cells[0].outputs == [] and saved.cells[0].execution_count is None
    kept = nbformat.read(root / "elsewhere" / "saved.ipynb", as_version=4)
    assert len(kept.cells[0].outputs) == 1
