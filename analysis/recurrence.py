"""Recurrence patterns by lymph-node station (paper Table 5, Appendix 2).

Pure functions on arrays (station label maps ``(z, y, x)``, points LPS mm ``(x, y, z)``)
and DataFrames; :func:`patient_sites` is the thin per-patient wrapper on the cohort
store that the notebook ``04_recurrence`` maps over the cohort.

Choices (SPEC is silent on them)
--------------------------------
- A recurrence site is the voxel whose centre is nearest to its point. Inside a station
  -> that station (distance 0). Else the nearest station voxel (Euclidean distance in mm
  between voxel centres, ``scipy.ndimage.distance_transform_edt`` with
  ``sampling=spacing_mm``) if it lies within ``tolerance_mm`` -> that station with its
  distance; else ``"outside stations"`` with its distance. A point outside the CT grid
  is measured to the nearest station voxel centre directly (k-d tree), same rule.
- "GTV affected": the site's station overlapped the gross tumour (GTV ∪ GTVnd) at the
  start; otherwise the site counts as "CTV-GTV" (SPEC). Sites outside the stations are
  counted in their own row and are neither.
- Table 5's "mean and range of RctvLN_i among the recurring patients": over the distinct
  patients with at least one site in station i.
- Appendix 2: a station is "initially involved" when GTV ∪ GTVnd overlaps it; the rate
  "same station" is the share of those patients with a site in that station, the rate
  "anywhere" the share with any recurrence (``lc_event == 1`` or any site).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from analysis import paper
from analysis.grid import Grid
from analysis.labels import N_STATIONS, STATION_LABEL, STATIONS
from analysis.stats.intervals import wilson_interval

OUTSIDE = "outside stations"


# --------------------------------------------------------------------------------------
# Wilson interval
# --------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------
# sites -> stations
# --------------------------------------------------------------------------------------
def station_distance_map(stations: np.ndarray, spacing_mm: Sequence[float],
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) from every voxel to the nearest station voxel, and that station.

    Parameters
    ----------
    stations : ndarray of shape (z, y, x), int
        Station label map (0 = none, i = LN_i).
    spacing_mm : 3 floats, (z, y, x)

    Returns
    -------
    distance_mm : ndarray (z, y, x), float; 0 inside a station
    nearest_label : ndarray (z, y, x), uint8; the label of the nearest station voxel
    """
    lab = np.asarray(stations)
    if lab.ndim != 3:
        raise ValueError(f"stations must be 3-D (z, y, x), got shape {lab.shape}")
    if not (lab > 0).any():
        raise ValueError("stations: the label map holds no station")
    dist, idx = ndimage.distance_transform_edt(lab == 0, sampling=spacing_mm,
                                               return_indices=True)
    return dist, lab[tuple(idx)].astype(np.uint8)


def assign_sites(points_xyz_mm: np.ndarray, stations: np.ndarray, grid: Grid,
                 tolerance_mm: float, *, gross: np.ndarray | None = None,
                 distance_maps: tuple[np.ndarray, np.ndarray] | None = None,
                 who: str = "") -> pd.DataFrame:
    """Assign recurrence sites to stations.

    Parameters
    ----------
    points_xyz_mm : ndarray of shape (k, 3)
        Recurrence sites, LPS mm (x, y, z), on the planning-CT frame of ``grid``.
    stations : ndarray of shape (z, y, x), int
        Station label map on ``grid``.
    grid : Grid
    tolerance_mm : float
        Largest distance to a station for a site outside every station to be assigned
        to the nearest one.
    gross : ndarray of shape (z, y, x), bool, optional
        GTV ∪ GTVnd; when given, ``gtv_affected`` says whether the site's station
        overlapped it.
    distance_maps : (distance_mm, nearest_label), optional
        :func:`station_distance_map` of ``stations``, to compute it once per patient.
    who : str
        Names the patient in error messages.

    Returns
    -------
    DataFrame, one row per point: ``station`` (name or ``"outside stations"``),
    ``label`` (0 outside), ``distance_mm``, ``how`` ("inside", "nearest within
    tolerance", "outside"), ``in_grid``, and ``gtv_affected`` when ``gross`` is given.
    """
    where = f" (patient {who})" if who else ""
    pts = np.asarray(points_xyz_mm, dtype=float).reshape(-1, 3) \
        if np.size(points_xyz_mm) else np.zeros((0, 3))
    if not np.isfinite(pts).all():
        raise ValueError(f"points_xyz_mm: non-finite coordinates{where}")
    lab = np.asarray(stations)
    if lab.shape != grid.shape_zyx:
        raise ValueError(f"stations shape {lab.shape} differs from the grid "
                         f"{grid.shape_zyx}{where}")
    if tolerance_mm < 0:
        raise ValueError(f"tolerance_mm must be >= 0, got {tolerance_mm}")
    if gross is not None and np.shape(gross) != lab.shape:
        raise ValueError(f"gross shape {np.shape(gross)} differs from stations "
                         f"{lab.shape}{where}")
    dist, near = distance_maps if distance_maps is not None else \
        station_distance_map(lab, grid.spacing_mm)
    idx = np.rint(grid.mm_to_index(pts)).astype(int) if len(pts) else np.zeros((0, 3), int)
    shape = np.asarray(grid.shape_zyx)
    in_grid = ((idx >= 0) & (idx < shape)).all(axis=1)
    d = np.empty(len(pts))
    lbl = np.zeros(len(pts), dtype=int)
    inside = np.zeros(len(pts), dtype=bool)
    if in_grid.any():
        zi, yi, xi = idx[in_grid].T
        d[in_grid] = dist[zi, yi, xi]
        lbl[in_grid] = near[zi, yi, xi]
        inside[in_grid] = lab[zi, yi, xi] > 0
    if (~in_grid).any():
        from scipy.spatial import cKDTree

        vox = np.argwhere(lab > 0)
        tree = cKDTree(grid.index_to_mm(vox))
        dd, ii = tree.query(pts[~in_grid])
        d[~in_grid] = dd
        lbl[~in_grid] = lab[tuple(vox[ii].T)]
    assigned = inside | (d <= tolerance_mm)
    how = np.where(inside, "inside", np.where(assigned, "nearest within tolerance",
                                              "outside"))
    out = pd.DataFrame({
        "station": [STATIONS[v - 1] if a else OUTSIDE for v, a in zip(lbl, assigned,
                                                                     strict=True)],
        "label": np.where(assigned, lbl, 0),
        "distance_mm": d,
        "how": how,
        "in_grid": in_grid,
    })
    if gross is not None:
        involved = involved_stations(lab, gross)
        out["gtv_affected"] = [bool(v in involved) if v else False for v in out["label"]]
    return out


def involved_stations(stations: np.ndarray, gross: np.ndarray) -> set[int]:
    """Labels of the stations that overlap the gross tumour mask (GTV ∪ GTVnd).

    Parameters
    ----------
    stations : ndarray (z, y, x), int; gross : ndarray (z, y, x), bool
    """
    lab = np.asarray(stations)
    g = np.asarray(gross, dtype=bool)
    if lab.shape != g.shape:
        raise ValueError(f"stations {lab.shape} and gross {g.shape} differ in shape")
    return {int(v) for v in np.unique(lab[g]) if v > 0}


def rctv_per_station(stations: np.ndarray, ctv: np.ndarray) -> dict[str, float]:
    """RctvLN_i = |CTV ∩ LN_i| / |LN_i| per station (SPEC Table 2 rows 1-16); 0 for an
    absent station. Used when the partition feature table is not there."""
    lab = np.asarray(stations)
    c = np.asarray(ctv, dtype=bool)
    size = np.bincount(lab.ravel(), minlength=N_STATIONS + 1)
    inside = np.bincount(lab[c].ravel(), minlength=N_STATIONS + 1)
    return {f"RctvLN_{i}": float(inside[i] / size[i]) if size[i] else 0.0
            for i in range(1, N_STATIONS + 1)}


def patient_sites(item: dict) -> dict:
    """Per-patient step for :func:`analysis.parallel.map_patients`.

    Parameters
    ----------
    item : dict
        ``store_root``, ``pid``, ``stations_name`` ("stations_pred" or "stations_ref"),
        ``tolerance_mm``, ``points_xyz_mm`` (k, 3), ``site_no`` (k,).

    Returns
    -------
    dict with ``sites`` (DataFrame: site_no + :func:`assign_sites` columns),
    ``involved`` (sorted station labels overlapping GTV ∪ GTVnd), ``rctv`` (dict).
    """
    from analysis.store import CohortStore

    store = CohortStore(item["store_root"])
    pid = item["pid"]
    lab = store.read(pid, item["stations_name"])
    grid = store.grid(pid)
    gross = store.read(pid, "gtv") | (store.read(pid, "gtvnd") if store.has(pid, "gtvnd")
                                      else False)
    pts = np.asarray(item["points_xyz_mm"], dtype=float).reshape(-1, 3)
    sites = assign_sites(pts, lab, grid, item["tolerance_mm"], gross=gross, who=pid) \
        if len(pts) else pd.DataFrame()
    if len(pts):
        sites.insert(0, "site_no", np.asarray(item["site_no"]))
    return {"sites": sites, "involved": sorted(involved_stations(lab, gross)),
            "rctv": rctv_per_station(lab, store.read(pid, "ctv"))}


# --------------------------------------------------------------------------------------
# Table 5 and Appendix 2
# --------------------------------------------------------------------------------------
def table5(sites: pd.DataFrame, rctv: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 5: recurrences per station, RctvLN_i among the recurring patients,
    GTV affected / CTV-GTV counts; the paper's columns beside ours.

    Parameters
    ----------
    sites : DataFrame
        One row per site with ``pid``, ``station``, ``gtv_affected``.
    rctv : DataFrame
        Indexed by pid with columns ``RctvLN_1`` ... ``RctvLN_16`` (the partition
        feature table).

    Returns
    -------
    DataFrame indexed by station (the 16 stations, then "outside stations" if any,
    then "Total"): ``n``, ``rctv_mean``, ``rctv_min``, ``rctv_max``, ``gtv_affected``,
    ``ctv_gtv``, ``paper_n``, ``paper_rctv_mean``, ``paper_rctv_range``,
    ``paper_gtv_affected``, ``paper_ctv_gtv``, ``note``.
    """
    for col in ("pid", "station", "gtv_affected"):
        if col not in sites.columns:
            raise ValueError(f"sites: column {col!r} missing")
    rows = []
    names = list(STATIONS) + ([OUTSIDE] if (sites["station"] == OUTSIDE).any() else [])
    for st in names:
        s = sites.loc[sites["station"] == st]
        n = len(s)
        row = {"station": st, "n": n, "gtv_affected": int(s["gtv_affected"].sum()),
               "ctv_gtv": int(n - s["gtv_affected"].sum()) if st != OUTSIDE else 0,
               "rctv_mean": None, "rctv_min": None, "rctv_max": None, "note": ""}
        if st == OUTSIDE:
            row["gtv_affected"] = 0
            row["note"] = (f"farther than the tolerance from every station "
                           f"(median {s['distance_mm'].median():.1f} mm)"
                           if "distance_mm" in s else "outside every station")
        elif n:
            col = f"RctvLN_{STATION_LABEL[st]}"
            pids = pd.unique(s["pid"])
            missing = [p for p in pids if p not in rctv.index]
            vals = rctv.reindex([p for p in pids if p in rctv.index])[col].astype(float)
            if len(vals):
                row.update(rctv_mean=float(vals.mean()), rctv_min=float(vals.min()),
                           rctv_max=float(vals.max()))
            if missing:
                row["note"] = f"{len(missing)} patient(s) without partition features"
        else:
            row["note"] = "no recurrence"
        p = paper.TABLE5.get(st)
        if p is not None:
            row.update(paper_n=p[0], paper_rctv_mean=p[1],
                       paper_rctv_range=f"{p[2][0]:g}-{p[2][1]:g}" if p[2] else "–",
                       paper_gtv_affected=p[3], paper_ctv_gtv=p[4])
        rows.append(row)
    total = {"station": "Total", "n": len(sites),
             "gtv_affected": int(sum(r["gtv_affected"] for r in rows)),
             "ctv_gtv": int(sum(r["ctv_gtv"] for r in rows)),
             "paper_n": paper.N_RECURRENCE_SITES,
             "paper_gtv_affected": sum(v[3] for v in paper.TABLE5.values()),
             "paper_ctv_gtv": sum(v[4] for v in paper.TABLE5.values()),
             "note": f"{sites['pid'].nunique()} patients (paper {paper.N_RECURRED})"}
    rows.append(total)
    cols = ["station", "n", "rctv_mean", "rctv_min", "rctv_max", "gtv_affected", "ctv_gtv",
            "paper_n", "paper_rctv_mean", "paper_rctv_range", "paper_gtv_affected",
            "paper_ctv_gtv", "note"]
    return pd.DataFrame(rows).reindex(columns=cols).set_index("station")


def top_share(sites: pd.DataFrame, stations: Sequence[str] = paper.TOP4_STATIONS) -> dict:
    """Share of all sites held by ``stations`` (paper: 10R, 10L, 4R, 7 hold 115/170)."""
    n = len(sites)
    k = int(sites["station"].isin(stations).sum())
    lo, hi = wilson_interval(k, n) if n else (np.nan, np.nan)
    return {"stations": ", ".join(stations), "sites_in_stations": k, "sites_total": n,
            "share": k / n if n else np.nan, "share_lower": lo, "share_upper": hi,
            "paper_sites_in_stations": round(paper.TOP4_SHARE * paper.N_RECURRENCE_SITES),
            "paper_sites_total": paper.N_RECURRENCE_SITES, "paper_share": paper.TOP4_SHARE,
            "note": "" if n else "no recurrence site: share undefined"}


def _paper_appendix2(st: str) -> str:
    if st in paper.APPENDIX2_TEXT:
        return f"{paper.APPENDIX2_TEXT[st]:.1%}"
    lo, hi = paper.APPENDIX2_TEXT["4R_7_11R_11L_range"]
    if st in ("4R", "7", "11R", "11L"):
        return f"{lo:.1%}-{hi:.1%} (range over 4R, 7, 11R, 11L)"
    return ""


def appendix2(involved: pd.DataFrame, sites: pd.DataFrame, recurred: pd.Series,
              confidence: float = 0.95) -> pd.DataFrame:
    """Paper Appendix 2: recurrence rate per initially involved station, Wilson CIs.

    Parameters
    ----------
    involved : DataFrame (patients x 16 stations), bool
        Indexed by pid, columns the station names: GTV ∪ GTVnd overlapped the station.
    sites : DataFrame with ``pid``, ``station``
    recurred : Series of bool indexed by pid
        Any recurrence during follow-up.

    Returns
    -------
    DataFrame indexed by station: ``n_involved``, ``n_same``, ``rate_same``,
    ``same_lower``, ``same_upper``, ``n_any``, ``rate_any``, ``any_lower``,
    ``any_upper``, ``paper_rate``, ``note``.
    """
    missing = set(involved.index) - set(recurred.index)
    if missing:
        raise ValueError(f"recurred: {len(missing)} patient(s) of `involved` missing")
    rows = []
    for st in STATIONS:
        inv = involved.index[involved[st].astype(bool)] if st in involved else []
        n = len(inv)
        row = {"station": st, "n_involved": n, "paper_rate": _paper_appendix2(st)}
        if n == 0:
            row.update(n_same=0, n_any=0, note="never initially involved: no rate")
        else:
            same = sites.loc[(sites["station"] == st) & sites["pid"].isin(inv), "pid"]
            k_same = int(same.nunique())
            k_any = int(recurred.reindex(inv).astype(bool).sum())
            ls, hs = wilson_interval(k_same, n, confidence)
            la, ha = wilson_interval(k_any, n, confidence)
            row.update(n_same=k_same, rate_same=k_same / n, same_lower=ls, same_upper=hs,
                       n_any=k_any, rate_any=k_any / n, any_lower=la, any_upper=ha,
                       note="")
        rows.append(row)
    cols = ["station", "n_involved", "n_same", "rate_same", "same_lower", "same_upper",
            "n_any", "rate_any", "any_lower", "any_upper", "paper_rate", "note"]
    return pd.DataFrame(rows).reindex(columns=cols).set_index("station")


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# thin wrappers on the cohort store (used by 04_recurrence)
# --------------------------------------------------------------------------------------
def choose_stations(store, pids: Sequence[str], preference: str = "auto") -> tuple[str, str]:
    """Which station maps to use: ``"stations_pred"`` or ``"stations_ref"``, and why.

    ``preference`` (params.recurrence.stations): "auto" takes the predicted maps
    (02_segment) when every patient has them, else the reference maps when every
    patient has those, else whichever more patients have.

    Returns
    -------
    (volume name, sentence saying which and why)
    """
    n_pred = sum(store.has(p, "stations_pred") for p in pids)
    n_ref = sum(store.has(p, "stations_ref") for p in pids)
    n = len(pids)
    if preference == "predicted":
        return "stations_pred", f"predicted station maps (params), {n_pred}/{n} patients"
    if preference == "reference":
        return "stations_ref", f"reference station maps (params), {n_ref}/{n} patients"
    if preference != "auto":
        raise ValueError(f"recurrence.stations: unknown value {preference!r}")
    if n_pred == n and n:
        return "stations_pred", f"predicted station maps (02_segment), all {n} patients"
    if n_ref == n and n:
        return "stations_ref", (f"reference station maps: predicted maps exist for only "
                                f"{n_pred}/{n} patients")
    name = "stations_pred" if n_pred >= n_ref else "stations_ref"
    return name, (f"{name}: the only maps most patients have (predicted {n_pred}, "
                  f"reference {n_ref} of {n}); the others are listed as failures")


def site_items(store_root, recurrences: pd.DataFrame, pids: Sequence[str],
               stations_name: str, tolerance_mm: float) -> dict[str, dict]:
    """Per-patient inputs of :func:`patient_sites` for every patient in ``pids``
    (patients without recurrence too: their involved stations feed Appendix 2)."""
    for col in ("pid", "site_no", "x_mm", "y_mm", "z_mm"):
        if col not in recurrences.columns:
            raise ValueError(f"recurrences: column {col!r} missing")
    by_pid = {p: g for p, g in recurrences.groupby("pid")}
    unknown = sorted(set(by_pid) - set(pids))
    if unknown:
        raise ValueError(f"recurrences: {len(unknown)} patient(s) not in the cohort")
    items = {}
    for p in pids:
        g = by_pid.get(p, recurrences.iloc[:0])
        items[p] = {"store_root": str(store_root), "pid": p, "stations_name": stations_name,
                    "tolerance_mm": float(tolerance_mm),
                    "points_xyz_mm": g[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float),
                    "site_no": g["site_no"].to_numpy()}
    return items


def collect_sites(results: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Gather :func:`patient_sites` results.

    Returns
    -------
    sites : DataFrame, one row per site, with ``pid``
    involved : DataFrame (patients x 16 station names), bool
    rctv : DataFrame (patients x RctvLN_1..16)
    """
    frames = [r["sites"].assign(pid=p) for p, r in results.items() if len(r["sites"])]
    cols = ["pid", "site_no", "station", "label", "distance_mm", "how", "in_grid",
            "gtv_affected"]
    sites = pd.concat(frames, ignore_index=True)[cols] if frames else \
        pd.DataFrame(columns=cols)
    involved = pd.DataFrame(
        {st: [STATION_LABEL[st] in r["involved"] for r in results.values()]
         for st in STATIONS}, index=pd.Index(list(results), name="pid"))
    rctv = pd.DataFrame([r["rctv"] for r in results.values()],
                        index=pd.Index(list(results), name="pid"))
    return sites, involved, rctv


def assignment_summary(sites: pd.DataFrame, tolerance_mm: float) -> pd.DataFrame:
    """How the sites were assigned: counts and distances per rule."""
    rows = []
    for how in ("inside", "nearest within tolerance", "outside"):
        s = sites.loc[sites["how"] == how, "distance_mm"]
        rows.append({"rule": how, "sites": len(s),
                     "share": len(s) / len(sites) if len(sites) else np.nan,
                     "median_distance_mm": float(s.median()) if len(s) else None,
                     "max_distance_mm": float(s.max()) if len(s) else None})
    out = pd.DataFrame(rows).set_index("rule")
    out.attrs["tolerance_mm"] = tolerance_mm
    return out


def failure_table(failures: dict[str, str]) -> pd.DataFrame:
    """Per-patient failures numbered 1..k, the pseudonym replaced by its number in the
    message, so that no patient identifier reaches reports/."""
    rows = []
    for k, (pid, err) in enumerate(sorted(failures.items()), start=1):
        rows.append({"patient": k, "error": str(err).replace(str(pid), f"#{k}")})
    return pd.DataFrame(rows, columns=["patient", "error"])
