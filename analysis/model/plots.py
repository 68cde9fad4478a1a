"""Figures of 07_model_eval: ROC with bands (Figure 4), calibration, decision curve,
selection stability. Each function returns a matplotlib Figure."""

from __future__ import annotations

import pandas as pd


def plot_roc(curves: dict[str, tuple[pd.DataFrame, float]]):
    """Figure 4: ROC curves with bootstrap 95% bands; ``curves``: label -> (roc_band, auc)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (band, auc) in curves.items():
        line, = ax.plot(band["fpr"], band["tpr"], label=f"{label} (AUC {auc:.2f})")
        ax.fill_between(band["fpr"], band["tpr_lo"], band["tpr_hi"], alpha=0.2,
                        color=line.get_color())
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(-0.01, 1), ylim=(0, 1.01),
           title="ROC (shaded: bootstrap 95% band)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))  # room for the phantom mark
    return fig


def plot_calibration(cal: pd.DataFrame, brier: float, smooth: pd.DataFrame | None = None):
    """Calibration of the out-of-fold risk: quantile bins (points) and, given ``smooth``
    (:func:`analysis.model.calibration.smoothed_calibration_by_repeat`), the loess curve
    of each repeat with its bootstrap 95% band; the identity line for reference."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    if smooth is not None:
        for rep, g in smooth.groupby("repeat", sort=True):
            line, = ax.plot(g["predicted"], g["observed"], lw=1.2,
                            label=f"loess, repeat {rep + 1}")
            ax.fill_between(g["predicted"], g["observed_lo"], g["observed_hi"], alpha=0.15,
                            color=line.get_color())
    ax.plot(cal["mean_predicted"], cal["observed_rate"], "o", color="k", label="quantile bins")
    ax.set(xlabel="mean predicted risk", ylabel="observed recurrence rate", xlim=(0, 1),
           ylim=(0, 1), title=f"Calibration (out-of-fold), Brier {brier:.3f}")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_decision_curve(dc: pd.DataFrame):
    """Net benefit vs threshold, with treat-all and treat-none references."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(dc["threshold"], dc["model"], label="model (out-of-fold)")
    ax.plot(dc["threshold"], dc["treat_all"], ls="--", label="treat all")
    ax.plot(dc["threshold"], dc["treat_none"], ls=":", color="k", label="treat none")
    lo = min(-0.05, float(dc["model"].min()) - 0.02)
    ax.set(xlabel="threshold probability", ylabel="net benefit",
           ylim=(lo, max(0.05, float(dc[["model", "treat_all"]].max().max()) + 0.05)),
           title="Decision curve")
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_selection_frequency(freq: pd.DataFrame, top: int = 30,
                             informative: list[str] | None = None):
    """Bar chart of the most often kept features (planted informative ones highlighted)."""
    import matplotlib.pyplot as plt

    f = freq.head(top)
    fig, ax = plt.subplots(figsize=(6, 0.22 * len(f) + 1))
    colors = ["tab:red" if informative and n in informative else "tab:blue" for n in f.index]
    ax.barh(range(len(f)), f["frequency"], color=colors)
    ax.set_yticks(range(len(f)), f.index, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="share of outer folds where kept", xlim=(0, 1),
           title="Feature-selection stability" + (" (red: planted)" if informative else ""))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
