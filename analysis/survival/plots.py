"""Survival figures: Kaplan-Meier curves with numbers at risk, the coverage zip plot.

Figures are returned, never saved here (``analysis.outputs.Outputs.figure`` saves them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats.km import km_table


def km_figure(df: pd.DataFrame, group_col: str, time_col: str, event_col: str, *,
              horizon_months: float, landmarks: pd.DataFrame, logrank_p: float,
              paper_p: float | None = None, ylabel: str = "Local control",
              title: str = ""):
    """Kaplan-Meier curves per group with a number-at-risk table under the axes.

    ``landmarks`` is :func:`landmark_table`'s output; ours and the paper's values at the
    horizon are written on the plot.
    """
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    fitters = []
    for lv in landmarks.index:
        sub = df.loc[df[group_col] == lv]
        kmf = KaplanMeierFitter(label=str(lv)).fit(sub[time_col], sub[event_col])
        kmf.plot_survival_function(ax=ax, ci_show=True, show_censors=True,
                                   censor_styles={"ms": 4, "marker": "|"})
        fitters.append(kmf)
    ax.axvline(horizon_months, color="grey", ls=":", lw=1)
    lines = []
    for lv, r in landmarks.iterrows():
        ours = f"{r['survival']:.1%} ({r['lower']:.1%}-{r['upper']:.1%})" \
            if np.isfinite(r["lower"]) else f"{r['survival']:.1%} (CI undefined)"
        pap = f"; paper {r['paper']:.1%}" if r["paper"] is not None and \
            np.isfinite(r["paper"]) else ""
        lines.append(f"{lv}: {horizon_months:g}-month {ours}{pap}")
    p_txt = f"log-rank p = {logrank_p:.3g}" if np.isfinite(logrank_p) else "log-rank: no test"
    if paper_p is not None:
        p_txt += f" (paper p = {paper_p:g})"
    lines.append(p_txt)
    ax.text(0.02, 0.03, "\n".join(lines), transform=ax.transAxes, fontsize=8,
            va="bottom", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Months from the start of radiotherapy")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    fig.tight_layout()
    return fig


def coverage_figure(per_replicate: pd.DataFrame, planted_hr: float, max_shown: int = 200):
    """The replicate 95% CIs of the diameter HR, sorted by estimate, against the planted
    HR (a "zip plot"): CIs that miss the planted HR in red."""
    import matplotlib.pyplot as plt

    d = per_replicate.dropna(subset=["hr"]).sort_values("hr").head(max_shown)
    y = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(6, 5))
    col = np.where(d["covered"], "0.55", "crimson")
    ax.hlines(y, d["hr_lower"], d["hr_upper"], colors=col, lw=1)
    ax.plot(d["hr"], y, "k.", ms=2)
    ax.axvline(planted_hr, color="tab:blue", lw=1.5, label=f"planted HR {planted_hr:g}")
    ax.set_xscale("log")
    ax.set_xlabel("hazard ratio, diameter >= 5 cm (95% CI)")
    ax.set_ylabel("replicate (sorted by estimate)")
    k = int(d["covered"].sum())
    ax.set_title(f"Coverage {k}/{len(d)} = {k / max(len(d), 1):.1%}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def cif_figure(fits: dict, lc_time_months: np.ndarray, lc_event: np.ndarray,
               horizon_months: float, endpoint_label: str = "Local control"):
    """Cumulative incidence of local failure (death competing) beside 1 - Kaplan-Meier.

    Parameters
    ----------
    fits : dict
        Group name -> (cumulative incidence table of local failure, of death without
        local failure (:func:`analysis.stats.competing.cumulative_incidence`), boolean
        row mask), as ``analysis.survival.competing.competing_risks`` builds it; the ``"all"``
        group is drawn on the left, the others on the right.
    lc_time_months, lc_event : ndarray (n,)
        Local-failure time and flag (1 - KM of the same rows, deaths censored).
    """
    import matplotlib.pyplot as plt

    def step(ax, tab, **kw):
        x = np.concatenate([[0.0], tab.index.to_numpy()])
        ax.step(x, np.concatenate([[0.0], tab["cif"].to_numpy()]), where="post", **kw)

    def one_minus_km(ax, m, **kw):
        km = km_table(lc_time_months[m], lc_event[m])
        x = np.concatenate([[0.0], km.index.to_numpy()])
        ax.step(x, 1 - np.concatenate([[1.0], km["survival"].to_numpy()]), where="post",
                ls="--", **kw)

    others = [g for g in fits if g != "all"]
    fig, axes = plt.subplots(1, 2 if others else 1, figsize=(11 if others else 6, 4.5),
                             squeeze=False)
    ax = axes[0, 0]
    lf, dth, m = fits["all"]
    step(ax, lf, color="C0", label="local failure, cumulative incidence (death competing)")
    step(ax, dth, color="C1", label="death without local failure, cumulative incidence")
    one_minus_km(ax, m, color="k", label="1 - KM of local failure (deaths censored)")
    ax.set_title("All patients")
    for i, g in enumerate(others):
        lf_g, _, m_g = fits[g]
        ax2 = axes[0, 1]
        color = f"C{i + 2}"
        step(ax2, lf_g, color=color, label=f"{g}: cumulative incidence")
        one_minus_km(ax2, m_g, color=color, label=f"{g}: 1 - KM")
        ax2.set_title("Local failure by group")
    for a in axes[0]:
        a.axvline(horizon_months, color="grey", ls=":", lw=1)
        a.set_ylim(0, 1)
        a.set_xlabel("Months from the start of radiotherapy")
        a.set_ylabel(f"Cumulative probability ({endpoint_label.lower()} failure / death)")
        a.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def note_figure(text: str):
    """A small figure that only says ``text`` (why a figure could not be drawn)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig
