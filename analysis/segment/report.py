"""What notebook 02_segment shows: load or train, evaluate the cohort, tables, figures.

Every function takes arrays, a store or params and returns a DataFrame or a matplotlib
figure; the notebook only calls them and hands the results to
:class:`analysis.outputs.Outputs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import paths
from analysis.labels import STATIONS
from analysis.paper import DSC, DSC_VALUE
from analysis.scheduling.parallel import map_patients
from analysis.segment.card import cv_table
from analysis.segment.checkpoint import Checkpoint, load_checkpoint
from analysis.segment.metrics import station_metrics
from analysis.store import SEGMENT_QC, CohortStore
from analysis.viewers.slices import PLANES, compose, mark_edges, plane_aspect, station_rgba


def load_or_train(params) -> Checkpoint:
    """Train on the store (``segment.train: true`` with ``train_source: store``) with
    :func:`analysis.segment.train.train`, then load ``segment.checkpoint``. Training on the
    phantom (``train_source: phantom``) is the report runner's, before 02 runs (the
    phantom supplies the patients: ``make train``)."""
    if params.segment.train and params.segment.train_source == "store":
        from analysis.segment.train import train

        train(params)
    return load_checkpoint(paths.resolve(params.segment.checkpoint))


def checkpoint_summary(ck: Checkpoint) -> pd.DataFrame:
    """One-row table: architecture, parameters, seed, data hash, epochs, training time."""
    from analysis.segment.networks import n_parameters

    m = ck.metrics
    return pd.DataFrame([{
        "architecture": ck.architecture, "parameters": n_parameters(ck.network),
        "channels": str(ck.channels), "target_spacing_mm": str(ck.target_spacing_mm),
        "seed": ck.seed, "data_hash": ck.data_hash[:16],
        "epochs_run": m.get("epochs_run"), "train_minutes": (m.get("train_seconds") or 0) / 60,
        "heldout_mean_dice": m.get("heldout", {}).get("mean_over_stations", {}).get(
            "dice_mean"),
    }]).set_index("architecture")



def failures_table(result) -> pd.DataFrame:
    """Patients whose inference failed (numbered in store order, no identifier) and why."""
    rows = [{"failure": i, "reason": why}
            for i, why in enumerate(result.failures.values(), start=1)]
    return pd.DataFrame(rows, columns=["failure", "reason"]).set_index("failure")


def write_qc(store, result) -> pd.DataFrame:
    """Write the store table ``segment_qc`` (index pid; ``usable`` bool, ``reasons``
    "; "-joined, and the numbers of :meth:`PredictionQC.as_row`) from
    :func:`analysis.segment.infer.predict_cohort`'s result; return the same rows indexed
    by patient number (store order) for the report, without identifiers."""
    pids = [p for p in store.patient_ids() if p in result.results]
    df = pd.DataFrame([result.results[p]["qc"] for p in pids],
                      index=pd.Index(pids, name="pid"),
                      columns=None if pids else ["usable", "reasons", "reason_codes"])
    df["usable"] = df["usable"].astype(bool)
    store.write_table(SEGMENT_QC, df)
    shown = df.reset_index(drop=True)
    shown.index = pd.RangeIndex(1, len(shown) + 1, name="patient")
    return shown


def qc_summary(qc: pd.DataFrame) -> pd.DataFrame:
    """Counts: patients checked, usable, flagged, and how often each reason code occurs."""
    rows = [{"item": "patients checked", "n": len(qc)},
            {"item": "usable", "n": int(qc["usable"].sum())},
            {"item": "flagged (left out of the analysis unless analysis.include_qc_failed)",
             "n": int((~qc["usable"]).sum())}]
    kinds = qc.loc[~qc["usable"], "reason_codes"].str.split().explode().value_counts()
    rows += [{"item": f"reason: {k}", "n": int(v)} for k, v in sorted(kinds.items())]
    return pd.DataFrame(rows).set_index("item")


def cv_report(ck: Checkpoint) -> pd.DataFrame:
    """Cross-validated per-station Dice / HD95 (mean, SD, per fold) of a store-trained
    checkpoint with ``segment.cv_folds``; otherwise a one-row table saying there is none."""
    t = cv_table(ck.metrics)
    if t.empty:
        return pd.DataFrame([{"station": "-", "note": "no cross-validation in this run "
                              "(segment.train_source: store with segment.cv_folds: k)"}]
                            ).set_index("station")
    return t


def _evaluate_one(args: tuple) -> pd.DataFrame | None:
    root, pid = args

    store = CohortStore(root)
    if not store.has(pid, "stations_ref"):
        return None
    m = station_metrics(store.read(pid, "stations_pred"), store.read(pid, "stations_ref"),
                        store.grid(pid).spacing_mm)
    return m.reset_index()


def evaluate_cohort(store, params) -> pd.DataFrame:
    """Per patient and station: Dice and HD95 (mm) of ``stations_pred`` vs
    ``stations_ref`` (patients without a reference are skipped and counted in the
    ``attrs['no_reference']``; failures in ``attrs['failures']``).

    Returns a long DataFrame: patient (1..n in store order, no identifier), station,
    dice, hd95_mm, ref_voxels, pred_voxels.
    """
    pids = store.patient_ids()
    res = map_patients(_evaluate_one, {p: (str(store.root), p) for p in pids},
                       scheduler=params.scheduler, n_workers=params.n_workers,
                       desc="evaluate stations")
    frames, missing = [], 0
    for i, pid in enumerate(pids, start=1):
        df = res.results.get(pid)
        if df is None:
            missing += pid not in res.failures
            continue
        df.insert(0, "patient", i)
        frames.append(df)
    cols = ["patient", "station", "dice", "hd95_mm", "ref_voxels", "pred_voxels"]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    long.attrs["no_reference"] = missing
    long.attrs["failures"] = dict(res.failures)
    return long


def station_table(long: pd.DataFrame) -> pd.DataFrame:
    """Per station: n, Dice mean / SD / median, HD95 mean / median (mm), and the paper's
    DSC beside them (SPEC: only 4R, 7, 10R and 3P are given)."""
    rows = []
    for st in STATIONS:
        s = long[long["station"] == st]
        rows.append({"station": st, "n": int(s["dice"].notna().sum()),
                     "dice_mean": s["dice"].mean(), "dice_sd": s["dice"].std(),
                     "dice_median": s["dice"].median(), "hd95_mm_mean": s["hd95_mm"].mean(),
                     "hd95_mm_median": s["hd95_mm"].median(), "paper_dsc": DSC.get(st, "")})
    t = pd.DataFrame(rows).set_index("station")
    t.loc["mean over stations"] = {"n": int(t["n"].sum()), "dice_mean": t["dice_mean"].mean(),
                                   "dice_sd": np.nan, "dice_median": t["dice_median"].mean(),
                                   "hd95_mm_mean": t["hd95_mm_mean"].mean(),
                                   "hd95_mm_median": t["hd95_mm_median"].mean(),
                                   "paper_dsc": ""}
    return t


def dice_boxplot(long: pd.DataFrame):
    """Box plot of Dice per station across patients, the paper's DSC as red marks."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    data = [long.loc[long["station"] == st, "dice"].dropna().to_numpy() for st in STATIONS]
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(STATIONS) + 1), STATIONS)
    for i, st in enumerate(STATIONS, start=1):
        if st in DSC_VALUE:
            ax.plot([i - 0.35, i + 0.35], [DSC_VALUE[st]] * 2, color="crimson", lw=2)
            ax.text(i, DSC_VALUE[st] + 0.02, f"paper {DSC[st]}", ha="center", fontsize=7,
                    color="crimson")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("station")
    ax.set_ylabel("Dice (predicted vs reference)")
    ax.set_title("DiUNet station Dice per patient; red: the paper's DSC")
    fig.tight_layout()
    return fig


def overlay_figure(ct, stations_pred, grid, *, stations_ref=None, gtv=None, ctv=None):
    """Axial, coronal and sagittal slices through the stations' centre: predicted
    stations (top row) and, when given, the reference (bottom row)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch


    lab = np.asarray(stations_pred)
    fg = np.argwhere(lab > 0) if (lab > 0).any() else np.argwhere(np.ones_like(lab))
    centre = np.round(fg.mean(axis=0)).astype(int)
    rows = [("predicted", lab)] + ([("reference", np.asarray(stations_ref))]
                                   if stations_ref is not None else [])
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for r, (name, st) in enumerate(rows):
        for c, plane in enumerate(PLANES):
            ax = axes[r, c]
            ax.imshow(compose(ct, st, plane, int(centre[c]), gtv=gtv, ctv=ctv, opacity=0.55),
                      aspect=plane_aspect(grid.spacing_mm, plane), interpolation="nearest")
            ax.set_title(f"{name}: {plane}")
            ax.axis("off")
            mark_edges(ax, plane)
    lut = station_rgba()
    present = sorted({int(k) for _, st in rows for k in np.unique(st) if k > 0})
    handles = [Patch(color=lut[k, :3], label=STATIONS[k - 1]) for k in present]
    if gtv is not None:
        handles.append(Line2D([], [], color="red", label="GTV ∪ GTVnd"))
    if ctv is not None:
        handles.append(Line2D([], [], color="0.6", label="CTV (white)"))
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    return fig
