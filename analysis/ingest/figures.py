"""Figure 1 (screening flowchart and table), Table 3 and the exclusion list of 01_ingest."""

from __future__ import annotations

import pandas as pd

from analysis import clinical as cohort
from analysis import paper
from analysis.clinical import REASON_LABELS
from analysis.store import CohortStore


def figure1_table(screening: pd.DataFrame) -> pd.DataFrame:
    """Figure 1 as a table: screened, excluded by reason (first reason), included."""
    n = len(screening)
    exc = screening[~screening["included"]]
    rows = [("screened", "", n)]
    counts = exc["reason_code"].value_counts()
    for code, label in REASON_LABELS.items():
        if counts.get(code, 0):
            rows.append(("excluded", label, int(counts[code])))
    rows.append(("excluded", "total", len(exc)))
    rows.append(("included", "", int(screening["included"].sum())))
    return pd.DataFrame(rows, columns=["step", "reason", "n"])


def figure1_flowchart(screening: pd.DataFrame, title: str = "Figure 1: patient screening"):
    """Figure 1 as a flowchart (matplotlib boxes and arrows): screened -> excluded -> included."""
    import matplotlib.pyplot as plt

    tab = figure1_table(screening)
    n_scr = int(tab.loc[tab.step == "screened", "n"].iloc[0])
    n_inc = int(tab.loc[tab.step == "included", "n"].iloc[0])
    reasons_ = tab[(tab.step == "excluded") & (tab.reason != "total")]
    n_exc = n_scr - n_inc
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.5", "fc": "white", "ec": "black", "lw": 1.2}
    ax.text(3, 9, f"Patients screened\nn = {n_scr}", ha="center", va="center", bbox=box,
            fontsize=11)
    exc_lines = [f"Excluded  n = {n_exc}"] + [f"  {r.reason}: {r.n}"
                                              for r in reasons_.itertuples()]
    ax.text(6.2, 5.5, "\n".join(exc_lines), ha="left", va="center", fontsize=9,
            bbox={**box, "fc": "#f6f6f6"})
    ax.text(3, 1.5, f"Patients included\nn = {n_inc}", ha="center", va="center", bbox=box,
            fontsize=11)
    arrow = {"arrowstyle": "-|>", "lw": 1.2, "color": "black"}
    ax.annotate("", xy=(3, 2.3), xytext=(3, 8.2), arrowprops=arrow)
    ax.annotate("", xy=(6.1, 5.5), xytext=(3, 5.5), arrowprops=arrow)
    ax.set_title(title, fontsize=11)
    return fig


def exclusion_list(screening: pd.DataFrame) -> pd.DataFrame:
    """Every excluded screened patient: pid, Figure 1 reason label, full reason(s)."""
    exc = screening[~screening["included"]]
    return pd.DataFrame({
        "pid": exc["pid"].to_numpy(),
        "reason": [REASON_LABELS.get(c, c) for c in exc["reason_code"]],
        "detail": exc["reason"].to_numpy(),
    })


def write_outputs(params, outputs, store: CohortStore | None = None) -> dict:
    """Figure 1 (flowchart + table), Table 3 with the paper's column and the exclusion
    list, written through ``outputs`` (an :class:`analysis.outputs.Outputs`).

    Returns
    -------
    dict
        ``figure1`` (Figure), ``figure1_table``, ``table3``, ``exclusions`` (DataFrames),
        for the notebook to display.
    """
    store = store or CohortStore.for_params(params)
    scr = store.screening()
    coh = store.cohort()
    what = "synthetic phantom" if params.is_phantom else f"center {params.cohort.center}"
    fig = figure1_flowchart(scr, title=f"Figure 1: patient screening ({what})")
    outputs.figure(fig, "figure1_flowchart",
                   "Figure 1: screened -> excluded by reason -> included")
    f1 = outputs.table(figure1_table(scr), "figure1_table",
                       "Figure 1 as a table (first reason of each excluded patient)",
                       index=False)
    t3 = outputs.table(
        cohort.table3(coh, paper.TABLE3, paper_n=paper.N_PATIENTS,
                      age_median=paper.AGE_MEDIAN, age_mean=paper.AGE_MEAN).reset_index(),
        "table3", "Table 3: baseline characteristics, n and % (this run) beside the paper "
                  "(n = 180)", index=False)
    ex = outputs.table(exclusion_list(scr), "exclusions",
                       "Excluded patients (pseudonyms) and their reasons", index=False)
    return {"figure1": fig, "figure1_table": f1, "table3": t3, "exclusions": ex}
