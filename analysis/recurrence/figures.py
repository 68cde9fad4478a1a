"""Figures of 04_recurrence: the schematic station map and the bar chart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.labels import STATIONS

#: approximate station positions on a frontal (coronal) schematic of the mediastinum:
#: x from the patient's right (negative, drawn on the viewer's left) to left, y from
#: caudal to cranial, arbitrary units; 3A / 3P / 8 are anterior / posterior stations
#: drawn beside the trachea and marked as such
SCHEMATIC_XY: dict[str, tuple[float, float]] = {
    "1R": (-2.0, 9.4), "1L": (2.0, 9.4),
    "2R": (-1.5, 7.9), "2L": (1.5, 7.9),
    "3A": (-3.7, 7.0), "3P": (0.0, 8.8),
    "4R": (-1.5, 6.0), "4L": (1.5, 6.0),
    "5": (3.0, 4.9), "6": (3.8, 6.5),
    "7": (0.0, 3.0), "8": (0.9, 1.1),
    "10R": (-2.9, 3.9), "10L": (2.9, 3.9),
    "11R": (-3.8, 2.1), "11L": (3.8, 2.1),
}


def station_map_figure(counts: pd.Series, paper_counts: pd.Series | None = None,
                       title: str = "Recurrences per station"):
    """Recurrence frequency per station on a schematic map of the mediastinum.

    Circles at approximate station positions (:data:`SCHEMATIC_XY`), area and colour
    by our count; each label reads ``station: ours (paper)``. The trachea and main
    bronchi are drawn as an outline for orientation (patient's right on the left).
    """
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    counts = counts.reindex(list(STATIONS)).fillna(0).astype(int)
    fig, ax = plt.subplots(figsize=(7.5, 7))
    # trachea and main bronchi (outline only)
    ax.plot([-0.45, -0.45, -2.6], [10, 4.3, 2.8], color="0.6", lw=2)
    ax.plot([0.45, 0.45, 2.6], [10, 4.3, 2.8], color="0.6", lw=2)
    ax.plot([-0.45, 0, 0.45], [4.3, 3.9, 4.3], color="0.6", lw=2)
    vmax = max(int(counts.max()), 1)
    norm = colors.Normalize(0, vmax)
    cmap = plt.get_cmap("OrRd")
    for st, (x, y) in SCHEMATIC_XY.items():
        k = int(counts[st])
        size = 120 + 1500 * k / vmax
        ax.scatter([x], [y], s=size, color=cmap(norm(k)) if k else "white",
                   edgecolors="0.3", linewidths=1, zorder=3)
        ptxt = f" (paper {int(paper_counts[st])})" if paper_counts is not None else ""
        ax.annotate(f"{st}: {k}{ptxt}", (x, y), xytext=(0, -np.sqrt(size / np.pi) - 3),
                    textcoords="offset points",
                    ha="center", va="top", fontsize=8, zorder=4)
    ax.text(-3.7, 7.6, "(anterior)", ha="center", fontsize=7, color="0.4")
    ax.text(0.0, 9.3, "(posterior)", ha="center", fontsize=7, color="0.4")
    ax.text(-4.2, 10.2, "patient's right", fontsize=8, color="0.4")
    ax.text(4.2, 10.2, "patient's left", fontsize=8, color="0.4", ha="right")
    ax.set_xlim(-4.6, 4.6)
    ax.set_ylim(0.2, 10.6)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6,
                 label="recurrence sites (this run)")
    ax.set_title(title)
    return fig


def station_bar_figure(counts: pd.Series, paper_counts: pd.Series,
                       label_ours: str = "this run"):
    """Recurrence sites per station, ours beside the paper's (grouped bars)."""
    import matplotlib.pyplot as plt

    st = list(STATIONS)
    ours = counts.reindex(st).fillna(0).to_numpy()
    theirs = paper_counts.reindex(st).fillna(0).to_numpy()
    x = np.arange(len(st))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x - 0.2, ours, 0.4, label=f"{label_ours} (n = {int(ours.sum())})",
           color="tab:red")
    ax.bar(x + 0.2, theirs, 0.4, label=f"paper (n = {int(theirs.sum())})", color="0.6")
    ax.set_xticks(x, st)
    ax.set_xlabel("station")
    ax.set_ylabel("recurrence sites")
    ax.legend()
    fig.tight_layout()
    return fig
