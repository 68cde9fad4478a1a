"""Where notebooks put their tables and figures, so that `make report` can gather them.

A notebook makes one :class:`Outputs` from its params and hands every table and figure
to it. Tables are written as CSV and Markdown, figures as PNG and SVG, under
``reports/<run-name>/{tables,figures}/``; each is recorded (name, caption, notebook,
files) in ``reports/<run-name>/outputs/<notebook>.json`` for the index page. When the
cohort is the synthetic phantom, every figure carries a visible "synthetic phantom"
mark, so that no phantom number can pass for a clinical finding.

Figures are shown inline: under an IPython kernel (JupyterLab, papermill),
:meth:`Outputs.figure` displays the saved PNG as the cell's output and closes the figure,
so it appears once, in the notebook and in its HTML export, whatever matplotlib backend
the kernel runs. Importing this module has no side effect (it does not pick a backend).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import paths
from analysis.fsutil import atomic_write, atomic_write_text
from analysis.outputs import names as output_names

if TYPE_CHECKING:
    import matplotlib.figure

PHANTOM_MARK = "SYNTHETIC PHANTOM COHORT - not clinical data"


class Outputs:
    """Collects the tables and figures of one notebook of one run.

    Parameters
    ----------
    run_name : str
        The params' run name; outputs go to ``reports/<run_name>/``.
    notebook : str
        Notebook stem, e.g. ``"05_survival"``.
    phantom : bool
        True when the cohort is the synthetic phantom.
    root : Path, optional
        Override ``reports/`` (tests).
    """

    def __init__(self, run_name: str, notebook: str, phantom: bool, root: Path | None = None):
        self.run_name = run_name
        self.notebook = notebook
        self.phantom = phantom
        self.dir = (root or paths.REPORTS_DIR) / run_name
        self.items: list[dict] = []
        self._index = self.dir / "outputs" / f"{notebook}.json"

    @classmethod
    def for_params(cls, params, notebook: str) -> Outputs:
        return cls(params.run_name, notebook, params.is_phantom)

    def _record(self, item: dict) -> None:
        if output_names.lookup(item["name"]) is None:
            warnings.warn(f"output name {item['name']!r} of {self.notebook} is not in "
                          "analysis.outputs.names: the report lists it under other "
                          "outputs; register it there", stacklevel=3)
        self.items = [i for i in self.items if i["name"] != item["name"]] + [item]
        self._index.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._index, json.dumps({"notebook": self.notebook,
                                                   "items": self.items}, indent=1))

    def table(self, df: pd.DataFrame, name: str, caption: str, *, index: bool = True,
              float_format: str = "%.4g") -> pd.DataFrame:
        """Write ``df`` as ``tables/<name>.csv`` and ``.md``; return it for display."""
        out = self.dir / "tables"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / f"{name}.csv",
                     lambda tmp: df.to_csv(tmp, index=index, float_format=float_format))
        md = df.to_markdown(index=index, floatfmt=".4g")
        if self.phantom:
            md = f"_{PHANTOM_MARK}_\n\n{md}"
        atomic_write_text(out / f"{name}.md", f"**{caption}**\n\n{md}\n")
        self._record({"name": name, "kind": "table", "caption": caption,
                      "files": [f"tables/{name}.csv", f"tables/{name}.md"]})
        return df

    def figure(self, fig: matplotlib.figure.Figure, name: str, caption: str
               ) -> matplotlib.figure.Figure:
        """Write ``fig`` as ``figures/<name>.png``, ``.svg`` and ``.pdf`` (for print and
        papers; no creation date, so the same figure gives the same bytes), show it,
        return it.

        Under an IPython kernel the PNG is displayed at once (a display bundle with
        ``image/png`` and the caption as ``text/plain``) and the figure is closed, so a
        cell shows each figure exactly once, also inside loops and ``if`` blocks; the
        returned figure then displays as nothing when it is the cell's last expression.
        """
        out = self.dir / "figures"
        out.mkdir(parents=True, exist_ok=True)
        if self.phantom and not getattr(fig, "_phantom_marked", False):
            fig.text(0.995, 0.005, PHANTOM_MARK, ha="right", va="bottom", fontsize=7,
                     color="crimson", alpha=0.8)
            fig._phantom_marked = True
        atomic_write(out / f"{name}.png",
                     lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
        atomic_write(out / f"{name}.svg",
                     lambda tmp: fig.savefig(tmp, format="svg", bbox_inches="tight",
                                             metadata={"Date": None}))
        atomic_write(out / f"{name}.pdf",
                     lambda tmp: fig.savefig(tmp, format="pdf", bbox_inches="tight",
                                             metadata={"CreationDate": None}))
        self._record({"name": name, "kind": "figure", "caption": caption,
                      "files": [f"figures/{name}.png", f"figures/{name}.svg",
                                f"figures/{name}.pdf"]})
        show_png_in_kernel(fig, (out / f"{name}.png").read_bytes(), caption)
        return fig


def in_kernel() -> bool:
    """True when running inside an IPython kernel (a notebook), not a plain interpreter."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_png_in_kernel(fig, png: bytes, caption: str) -> bool:
    """Display ``png`` as the figure's output and close ``fig`` when in a kernel.

    The figure is marked as shown (its ``_ipython_display_`` does nothing), so returning
    it as a cell's last expression does not show it a second time. Outside a kernel
    nothing happens. Returns whether it was displayed.
    """
    if not in_kernel():
        return False
    import base64

    import matplotlib.pyplot as plt
    from IPython.display import display

    display({"image/png": base64.b64encode(png).decode("ascii"), "text/plain": caption},
            raw=True)
    plt.close(fig)
    fig._ipython_display_ = _already_shown
    return True


def _already_shown() -> None:
    """``_ipython_display_`` of a figure already displayed by :meth:`Outputs.figure`."""
