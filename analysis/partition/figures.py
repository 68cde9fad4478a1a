"""What 03_partition shows: summary tables and figures (no patient identifier in any)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.labels import FEATURE_NAMES, N_STATIONS, OVERLAP_STATIONS, RATIO_FAMILIES, STATIONS
from analysis.ledger import figure1_table
from analysis.paper import TABLE2_RANGES
from analysis.partition.run import PartitionTable


def feature_summary(features: pd.DataFrame) -> pd.DataFrame:
    """Per feature across patients: mean, sd, min, median, max, patients with a non-zero
    value, and the paper's Table 2 range where it gives one (``paper_min/max``).

    Returns a DataFrame indexed by feature (SPEC order) with ``row`` (Table 2 number).
    """
    f = features.reindex(columns=list(FEATURE_NAMES))
    out = pd.DataFrame({
        "row": [FEATURE_NAMES.index(n) + 1 for n in f.columns],
        "mean": f.mean(), "sd": f.std(ddof=1), "min": f.min(), "median": f.median(),
        "max": f.max(), "n_nonzero": (f != 0).sum(),
    })
    ratio = out.index.str.startswith(tuple(f"{fam}_" for fam in RATIO_FAMILIES))
    overlap = out.index.str.startswith("CTV_overlaps_")
    out["paper_min"] = np.where(ratio, 0.0, np.where(overlap, 0.0, np.nan))
    out["paper_max"] = np.where(ratio | overlap, 1.0, np.nan)
    for name, (lo, hi) in TABLE2_RANGES.items():
        out.loc[name, ["paper_min", "paper_max"]] = [lo, hi]
    out.index.name = "feature"
    return out


def issue_summary(table: PartitionTable) -> pd.DataFrame:
    """Failures and warnings of a :class:`PartitionTable`, counted by message, with the
    patient identifiers removed (for reports): columns ``kind, message, n_patients``."""
    rows = []
    for pid, err in table.failures["error"].items():
        rows.append(("failure", str(err).replace(str(pid), "<pid>"), pid))
    for pid, msg in table.warnings[["pid", "warning"]].itertuples(index=False):
        rows.append(("warning", str(msg).replace(str(pid), "<pid>"), pid))
    df = pd.DataFrame(rows, columns=["kind", "message", "pid"])
    if df.empty:
        return pd.DataFrame({"kind": pd.Series(dtype=object),
                             "message": pd.Series(dtype=object),
                             "n_patients": pd.Series(dtype=int)})
    return (df.groupby(["kind", "message"])["pid"].nunique().rename("n_patients")
            .reset_index().sort_values(["kind", "n_patients"], ascending=[True, False],
                                       ignore_index=True))


def coverage_heatmap(features: pd.DataFrame, family: str = "RctvLN"):
    """Heatmap of one ratio family (default CTV coverage ``RctvLN_i``): patients (rows,
    numbered 1..n in table order, no identifiers) x the 16 stations. Returns a Figure."""
    import matplotlib.pyplot as plt

    if family not in RATIO_FAMILIES:
        raise ValueError(f"family: expected one of {RATIO_FAMILIES}, got {family!r}")
    cols = [f"{family}_{i}" for i in range(1, N_STATIONS + 1)]
    data = features[cols].to_numpy(dtype=float)
    n = len(data)
    fig, ax = plt.subplots(figsize=(7.5, max(3.0, min(12.0, 0.06 * n + 2.0))))
    im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0,
                   vmax=1, extent=(-0.5, N_STATIONS - 0.5, n + 0.5, 0.5))
    ax.set_xticks(range(N_STATIONS), STATIONS)
    ax.set_xlabel("station")
    ax.set_ylabel(f"patient (1..{n})")
    ax.set_title(f"{family}_i by station")
    fig.colorbar(im, ax=ax, label=family)
    fig.tight_layout()
    return fig


def family_distributions(features: pd.DataFrame):
    """Box plots of the six ratio families by station (one panel each). Returns a Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(11, 9), sharey=True)
    for ax, fam in zip(axes.ravel(), RATIO_FAMILIES, strict=True):
        cols = [f"{fam}_{i}" for i in range(1, N_STATIONS + 1)]
        ax.boxplot([features[c].to_numpy(dtype=float) for c in cols], showfliers=True,
                   flierprops={"markersize": 2})
        ax.set_xticks(range(1, N_STATIONS + 1), STATIONS, fontsize=7)
        ax.set_title(fam)
        ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    return fig


def scalar_distributions(features: pd.DataFrame):
    """Histograms of rows 97-102 and 110, and the share of patients with each of rows
    103-109 set. Returns a Figure."""
    import matplotlib.pyplot as plt


    names = ["CTV_volume", "GTVnd_volume", "image_resolution", "n_LN_CTV", "n_LN_GTVnd",
             "GTV_lung_location", "GTV_size_cm"]
    fig, axes = plt.subplots(2, 4, figsize=(13, 6))
    for ax, name in zip(axes.ravel(), names, strict=False):
        v = features[name].to_numpy(dtype=float)
        discrete = name in ("n_LN_CTV", "n_LN_GTVnd", "GTV_lung_location")
        if discrete:
            vals, cnt = np.unique(v, return_counts=True)
            ax.bar(vals, cnt, width=0.8)
        else:
            ax.hist(v, bins=20)
        title = name
        if name in TABLE2_RANGES:
            lo, hi = TABLE2_RANGES[name]
            title += f"\n(paper's range {lo:g}-{hi:g})"
        ax.set_title(title, fontsize=9)
    ax = axes.ravel()[-1]
    cols = [f"CTV_overlaps_{s}" for s in OVERLAP_STATIONS]
    ax.bar(range(len(cols)), features[cols].mean().to_numpy(), width=0.8)
    ax.set_xticks(range(len(cols)), OVERLAP_STATIONS)
    ax.set_ylim(0, 1)
    ax.set_title("CTV_overlaps (share of patients)", fontsize=9)
    fig.tight_layout()
    return fig


def qc_exclusion_table(table: PartitionTable) -> pd.DataFrame:
    """The patients left out by segmentation QC, numbered 1..k (no identifiers), with
    their reasons: columns ``patient, reasons`` (empty when nobody was left out)."""
    ex = table.excluded
    return pd.DataFrame({"patient": np.arange(1, len(ex) + 1, dtype=int),
                         "reasons": ex["reasons"].astype(str).to_numpy(dtype=object)})


def figure1_after_qc(table: PartitionTable) -> pd.DataFrame:
    """Figure 1 counted through to the analysis, from the analysis ledger of ``table``
    (:func:`analysis.ledger.figure1_table`): screened, excluded at each step by reason,
    analysed, and "kept despite QC flag" when ``analysis.include_qc_failed`` is set.
    Every screened patient is counted exactly once."""
    if table.ledger is None:
        raise ValueError("table: no analysis ledger (use ledger_partition_table)")
    return figure1_table(table.ledger)


def figure1_flowchart_after_qc(f1: pd.DataFrame,
                               title: str = "Figure 1: screened to analysed"):
    """Figure 1 as a flowchart counted through to the analysis, from
    :func:`figure1_after_qc`'s table (rows ``step, reason, n``): the screened patients at
    the top, one side box per step that excluded anyone (its total and each reason), the
    analysed patients at the bottom, and the patients kept despite a QC flag under them.
    The boxes carry the table's numbers only (screened = the step totals + analysed)."""
    import matplotlib.pyplot as plt

    def n_of(step: str, reason: str = "") -> int:
        hit = f1[(f1["step"] == step) & (f1["reason"] == reason)]
        return int(hit["n"].iloc[0]) if len(hit) else 0

    steps = [s for s in dict.fromkeys(f1["step"]) if s not in ("screened", "analysed")
             and (f1["reason"] == "total").loc[f1["step"] == s].any()
             and n_of(s, "total") > 0]
    sides = []
    for s in steps:
        reasons = f1[(f1["step"] == s) & (f1["reason"] != "total")]
        sides.append("\n".join([f"{s[0].upper()}{s[1:]}  n = {n_of(s, 'total')}"]
                               + [f"  {r.reason}: {r.n}" for r in reasons.itertuples()]))
    kept = f1[~f1["step"].isin(["screened", "analysed", *steps])
              & (f1["reason"] != "total")]
    lines = sum(t.count("\n") + 1 for t in sides)
    fig, ax = plt.subplots(figsize=(8.5, max(4.0, 2.2 + 0.28 * lines + 0.9 * len(sides))))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.5", "fc": "white", "ec": "black", "lw": 1.2}
    ax.text(2.2, 9.4, f"Patients screened\nn = {n_of('screened')}", ha="center",
            va="center", bbox=box, fontsize=11)
    bottom = [f"Patients analysed\nn = {n_of('analysed')}"]
    bottom += [f"of whom {r.step}: {r.n}" for r in kept.itertuples() if r.n]
    ax.text(2.2, 0.7, "\n".join(bottom), ha="center", va="center", bbox=box, fontsize=11)
    arrow = {"arrowstyle": "-|>", "lw": 1.2, "color": "black"}
    ax.annotate("", xy=(2.2, 1.5), xytext=(2.2, 8.6), arrowprops=arrow)
    for k, text in enumerate(sides):
        y = 8.6 - (k + 1) * 7.1 / (len(sides) + 1)
        ax.annotate("", xy=(4.3, y), xytext=(2.2, y), arrowprops=arrow)
        ax.text(4.4, y, text, ha="left", va="center", fontsize=9,
                bbox={**box, "fc": "#f6f6f6"})
    ax.set_title(title, fontsize=11)
    return fig


#: the features counted in voxels (SPEC rows 97-98): comparable across patients only on
#: one voxel size
VOXEL_COUNT_FEATURES: tuple[str, ...] = ("CTV_volume", "GTVnd_volume")
#: their volumes in ml, shown beside the 110 (from the partition's cm^3 volumes)
ML_COLUMNS: dict[str, str] = {"CTV_volume_ml": "CTV_cm3", "GTVnd_volume_ml": "GTVnd_cm3"}
#: voxel volumes differing by more than this factor (max / min) make the voxel counts
#: not comparable across the cohort
VOXEL_SIZE_TOLERANCE = 1.10


def features_with_ml(table: PartitionTable) -> pd.DataFrame:
    """The 110 features (SPEC: ``CTV_volume`` and ``GTVnd_volume`` in voxels, as the
    paper's Table 2) with ``CTV_volume_ml`` and ``GTVnd_volume_ml`` beside them (1 ml =
    1 cm^3), for the report. The store's feature table keeps exactly the 110."""
    extra = pd.DataFrame({ml: table.volumes.reindex(table.features.index)[cm3]
                          if cm3 in table.volumes.columns else np.nan
                          for ml, cm3 in ML_COLUMNS.items()}, index=table.features.index)
    return table.features.join(extra)


def voxel_size_warning(spacings_mm: pd.DataFrame) -> str | None:
    """A warning when voxel volumes of the analysed patients differ by more than
    :data:`VOXEL_SIZE_TOLERANCE` (max / min), naming the columns then not comparable;
    None otherwise.

    Parameters
    ----------
    spacings_mm : DataFrame, one row per analysed patient, three columns (z, y, x) in mm

    Examples
    --------
    5 x 1 x 1 mm (5 mm^3) beside 3 x 1 x 1 mm (3 mm^3): ratio 1.67 > 1.10 -> a warning;
    5 x 1 x 1 beside 5 x 1.02 x 1.02 (5.2 mm^3): ratio 1.04 -> None.
    """
    if len(spacings_mm) < 2:
        return None
    vox = spacings_mm.to_numpy(dtype=float).prod(axis=1)
    ratio = float(vox.max() / vox.min())
    if ratio <= VOXEL_SIZE_TOLERANCE:
        return None
    return (f"voxel volumes differ {ratio:.2f}-fold across the {len(vox)} analysed patients "
            f"({vox.min():.3g} to {vox.max():.3g} mm^3, more than "
            f"{VOXEL_SIZE_TOLERANCE - 1:.0%}): the voxel counts "
            f"{', '.join(VOXEL_COUNT_FEATURES)} (SPEC rows 97-98, as the paper) are not "
            f"comparable across patients; use {', '.join(ML_COLUMNS)} instead")


def cohort_spacings(store, pids) -> pd.DataFrame:
    """Voxel spacing (z, y, x) in mm of each patient of ``pids`` (from the store's grids)."""
    return pd.DataFrame([list(store.grid(p).spacing_mm) for p in pids],
                        index=pd.Index(list(pids), name="pid"),
                        columns=["z_mm", "y_mm", "x_mm"], dtype=float)
