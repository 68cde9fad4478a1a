"""Recurrence sites -> stations: pure functions on arrays, and the per-patient step.

Arrays are station label maps ``(z, y, x)``; points are LPS mm ``(x, y, z)``. The choices
(nearest station within a tolerance, "GTV affected") are written in
:mod:`analysis.recurrence`. :func:`patient_sites` is the thin per-patient wrapper on the
cohort store that :func:`analysis.recurrence.run.recurrence_analysis` maps over the
cohort.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from analysis.grid import Grid
from analysis.labels import STATION_LABEL, STATIONS
from analysis.partition.counting import bounding_box, count_table
from analysis.partition.formulas import rctv_ln
from analysis.store import CohortStore

OUTSIDE = "outside stations"


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


def nearest_station_at(stations: np.ndarray, spacing_mm: Sequence[float],
                       query_zyx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`station_distance_map` at a few voxels only, on a crop: the same numbers.

    The Euclidean distance transform runs on the smallest box holding every station
    voxel and every query voxel, not on the whole volume (at the paper's geometry,
    512 x 512 x 93, the whole-volume transform took about 10 s a patient; the box is
    typically 10 times smaller). Exact: the nearest station voxel of any voxel is a
    station voxel, and all of them lie in the box; the transform's distances and its
    choice among equally near voxels depend only on positions relative to the station
    voxels, which the crop keeps (tested against the whole-volume map, ties included).

    Parameters
    ----------
    stations : integer ndarray of shape (z, y, x), labels 0..16
    spacing_mm : 3 floats, (z, y, x)
    query_zyx : int ndarray of shape (k, 3)
        Voxel indices inside the grid.

    Returns
    -------
    distance_mm : float ndarray of shape (k,); 0 inside a station
    nearest_label : uint8 ndarray of shape (k,)
    """
    lab = np.asarray(stations)
    if lab.ndim != 3:
        raise ValueError(f"stations must be 3-D (z, y, x), got shape {lab.shape}")
    box = bounding_box(lab)
    if box is None:
        raise ValueError("stations: the label map holds no station")
    q = np.asarray(query_zyx, dtype=np.intp).reshape(-1, 3)
    lo = np.array([b.start for b in box])
    hi = np.array([b.stop for b in box])
    if len(q):
        lo = np.minimum(lo, q.min(axis=0))
        hi = np.maximum(hi, q.max(axis=0) + 1)
    crop = lab[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    dist, idx = ndimage.distance_transform_edt(crop == 0, sampling=spacing_mm,
                                               return_indices=True)
    qz, qy, qx = (q - lo).T
    near = crop[idx[0, qz, qy, qx], idx[1, qz, qy, qx], idx[2, qz, qy, qx]]
    return dist[qz, qy, qx], near.astype(np.uint8)


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
    idx = np.rint(grid.mm_to_index(pts)).astype(int) if len(pts) else np.zeros((0, 3), int)
    shape = np.asarray(grid.shape_zyx)
    in_grid = ((idx >= 0) & (idx < shape)).all(axis=1)
    d = np.empty(len(pts))
    lbl = np.zeros(len(pts), dtype=int)
    inside = np.zeros(len(pts), dtype=bool)
    if distance_maps is None:
        # only the query voxels are needed: the transform runs on a crop (exact)
        d_in, l_in = nearest_station_at(lab, grid.spacing_mm, idx[in_grid])
    if in_grid.any():
        zi, yi, xi = idx[in_grid].T
        if distance_maps is not None:
            dist, near = distance_maps
            d_in, l_in = dist[zi, yi, xi], near[zi, yi, xi]
        d[in_grid] = d_in
        lbl[in_grid] = l_in
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
    absent station. Used when the partition feature table is not there.

    The numbers come from partition's own count table and formula
    (:func:`analysis.partition.count_table`, :func:`analysis.partition.rctv_ln`), so the
    two can never disagree.

    Parameters
    ----------
    stations : integer ndarray of shape (z, y, x), labels 0..16
    ctv : bool ndarray of shape (z, y, x)

    Returns
    -------
    dict ``{"RctvLN_1": float, ..., "RctvLN_16": float}``
    """
    c = np.asarray(ctv, dtype=bool)
    none = np.zeros(c.shape, dtype=bool)
    counts = count_table(c, none, none, np.asarray(stations))
    return {f"RctvLN_{i}": float(v) for i, v in enumerate(rctv_ln(counts), start=1)}


def patient_sites(item: dict) -> dict:
    """Per-patient step for :func:`analysis.scheduling.parallel.map_patients`.

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
