"""Where notebooks put their tables and figures, so that `make report` can gather them.

A notebook makes one :class:`Outputs` from its params and hands every table and figure
to it. Tables are written as CSV and Markdown, figures as PNG and SVG, under
``reports/<run-name>/{tables,figures}/``; each is recorded (name, caption, notebook,
files) in ``reports/<run-name>/outputs/<notebook>.json`` for the index page. When the
cohort is the synthetic phantom, every figure carries a visible "synthetic phantom"
mark, so that no phantom number can pass for a clinical finding.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import paths  # noqa: E402

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
        self.items = [i for i in self.items if i["name"] != item["name"]] + [item]
        self._index.parent.mkdir(parents=True, exist_ok=True)
        self._index.write_text(json.dumps({"notebook": self.notebook, "items": self.items},
                                          indent=1))

    def table(self, df: pd.DataFrame, name: str, caption: str, *, index: bool = True,
              float_format: str = "%.4g") -> pd.DataFrame:
        """Write ``df`` as ``tables/<name>.csv`` and ``.md``; return it for display."""
        out = self.dir / "tables"
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / f"{name}.csv", index=index, float_format=float_format)
        md = df.to_markdown(index=index, floatfmt=".4g")
        if self.phantom:
            md = f"_{PHANTOM_MARK}_\n\n{md}"
        (out / f"{name}.md").write_text(f"**{caption}**\n\n{md}\n")
        self._record({"name": name, "kind": "table", "caption": caption,
                      "files": [f"tables/{name}.csv", f"tables/{name}.md"]})
        return df

    def figure(self, fig: plt.Figure, name: str, caption: str) -> plt.Figure:
        """Write ``fig`` as ``figures/<name>.png`` and ``.svg``; return it for display."""
        out = self.dir / "figures"
        out.mkdir(parents=True, exist_ok=True)
        if self.phantom and not getattr(fig, "_phantom_marked", False):
            fig.text(0.995, 0.005, PHANTOM_MARK, ha="right", va="bottom", fontsize=7,
                     color="crimson", alpha=0.8)
            fig._phantom_marked = True
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
        fig.savefig(out / f"{name}.svg", bbox_inches="tight",
                    metadata={"Date": None})
        self._record({"name": name, "kind": "figure", "caption": caption,
                      "files": [f"figures/{name}.png", f"figures/{name}.svg"]})
        return fig
