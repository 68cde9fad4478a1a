"""Figures are shown inline: Outputs displays each saved PNG in a kernel, importing it sets
no backend, and the HTML export of an executed notebook is self-contained (issue 15)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # this test process draws without a display
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from analysis import paths
from analysis.outputs import Outputs  # noqa: E402
from analysis.outputs import writer as outputs
from analysis.report import html as report_html  # noqa: E402


def test_import_sets_no_matplotlib_backend():
    """Fault injected: ``matplotlib.use("Agg")`` back at import -> prints "Agg", not "None"."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(paths.REPO_ROOT)
    code = ("import matplotlib as m; import analysis.outputs; "
            "print(m.rcParams._get_backend_or_none())")
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    assert got == "None"


def _fig():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    return fig


def test_figure_is_displayed_once_as_the_saved_png_in_a_kernel(tmp_path, monkeypatch):
    """Fault injected: no display call in Outputs.figure -> ``shown`` is empty."""
    shown = []
    monkeypatch.setattr(outputs, "in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display",
                        lambda obj, raw=False: shown.append((obj, raw)))
    out = Outputs("run", "nb", phantom=False, root=tmp_path)
    fig = _fig()
    returned = out.figure(fig, "figure4_roc", "a caption")
    assert len(shown) == 1 and shown[0][1] is True
    bundle = shown[0][0]
    png = (tmp_path / "run/figures/figure4_roc.png").read_bytes()
    assert base64.b64decode(bundle["image/png"]) == png
    assert bundle["text/plain"] == "a caption"
    assert returned is fig and not plt.fignum_exists(fig.number)  # closed: shown once
    assert fig._ipython_display_() is None  # the last-expression repr adds nothing


def test_figure_outside_a_kernel_only_writes(tmp_path):
    out = Outputs("run", "nb", phantom=False, root=tmp_path)
    fig = _fig()
    out.figure(fig, "model_rfecv_curve", "c")
    assert plt.fignum_exists(fig.number) and not hasattr(fig, "_ipython_display_")
    assert (tmp_path / "run/figures/model_rfecv_curve.svg").stat().st_size > 0
    pdf = (tmp_path / "run/figures/model_rfecv_curve.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf  # same figure, same bytes
    plt.close(fig)


def test_static_outputs_keeps_the_snapshot_and_notes_bare_widgets():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    with_png = nbformat.v4.new_output("display_data", data={
        report_html.WIDGET_MIME: view, "image/png": "iVBO", "text/plain": "VBox()"})
    bare = nbformat.v4.new_output("display_data", data={
        report_html.WIDGET_MIME: view, "text/plain": "VBox()"})
    plain = nbformat.v4.new_output("display_data", data={"text/plain": "x"})
    cell = nbformat.v4.new_code_cell("v", outputs=[with_png, bare, plain])
    nb.cells.append(cell)
    assert report_html.static_outputs(nb) == 2
    assert "widgets" not in nb.metadata
    assert set(cell.outputs[0]["data"]) == {"image/png", "text/plain"}
    assert cell.outputs[1]["data"] == {"text/plain": report_html.WIDGET_NOTE}
    assert cell.outputs[2]["data"] == {"text/plain": "x"}


def test_external_scripts_finds_cdn_scripts_only():
    page = ('<script src="https://cdn.example/require.js"></script>'
            "<script src='//cdn.example/x.js'></script><script src=\"assets/niivue.js\">"
            "</script><script>var a = 'http://x';</script>")
    assert report_html.external_scripts(page) == ["https://cdn.example/require.js",
                                                  "//cdn.example/x.js"]


NOTEBOOK_SOURCE = [
    "import numpy as np\nimport matplotlib.pyplot as plt\nfrom pathlib import Path\n"
    "from analysis.viewers import slices as viewer\nfrom analysis.outputs import Outputs\n"
    "out = Outputs('run', 'nb', phantom=False, root=Path(ROOT))",
    # a figure inside a block (not the last expression): still shown
    "for k in range(2):\n    fig, ax = plt.subplots(figsize=(2, 2))\n"
    "    ax.plot([0, k])\n    out.figure(fig, f'loop_{k}', f'loop figure {k}')",
    # the last expression: shown once
    "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([1, 0])\n"
    "out.figure(fig, 'last', 'last figure')",
    "ct = np.zeros((6, 8, 8), np.int16)\nst = np.zeros((6, 8, 8), np.uint8)\n"
    "st[2:4, 2:5, 2:5] = 7\nviewer.show(ct, st)",
]


@pytest.mark.slow
def test_executed_notebook_shows_figures_and_exports_offline(tmp_path):
    """A notebook run in a kernel whose parent set MPLBACKEND=Agg (as `make test` does):
    every figure is an image/png output, exactly once, and the HTML export embeds them
    with no script from the internet. Fault injected: Outputs without the display call
    -> 1 image/png output (the viewer's snapshot only; under Agg the last expression's
    figure is text/plain), not 3 figures + the snapshot."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"ROOT = {str(tmp_path)!r}")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in NOTEBOOK_SOURCE]
    env_backup = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(paths.REPO_ROOT)}}).execute()
    finally:
        if env_backup is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backup
    pngs = [o for c in nb.cells for o in c.outputs if "image/png" in o.get("data", {})]
    captions = [o["data"].get("text/plain") for o in pngs]
    assert captions[:3] == ["loop figure 0", "loop figure 1", "last figure"]
    assert len(pngs) == 4  # the three figures and the viewer's snapshot
    assert report_html.WIDGET_MIME in pngs[3]["data"]
    nb_file = tmp_path / "nb.ipynb"
    nbformat.write(nb, nb_file)
    for page in report_html.export_html(nb_file, tmp_path / "html", phantom=False):
        text = page.read_text()
        assert text.count('src="data:image/png;base64,') == 4, page.name
        assert report_html.external_scripts(text) == [], page.name
