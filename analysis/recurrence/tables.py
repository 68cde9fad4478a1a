"""Paper Table 5 and Appendix 2 from the assigned sites (DataFrames in, DataFrames out)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import paper
from analysis.labels import STATION_LABEL, STATIONS
from analysis.recurrence.sites import OUTSIDE
from analysis.stats.intervals import clustered_wilson, pooled_icc, wilson_interval

SHARE_CI_METHOD = ("Wilson on the effective number of sites (sites / design effect; "
                   "within-patient correlation pooled over all stations)")


def station_shares(sites: pd.DataFrame, groups: dict[str, Sequence[str]], *,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Share of all recurrence sites in each group of stations, with patient-clustered CIs.

    A patient's sites are not independent (they cluster in the same stations), so
    Wilson's interval is taken on the effective number of sites ``N / deff``
    (:func:`analysis.stats.intervals.clustered_wilson`). The design effect
    ``1 + rho (sum n_j^2 / N - 1)`` uses the within-patient correlation ``rho`` of
    station membership pooled over every station in ``sites``
    (:func:`analysis.stats.intervals.pooled_icc`), so a station with no or one site
    gets an interval of nominal coverage (issue #23 item 2: the patient bootstrap gave
    0-0 at no site). Plain Wilson stays for per-patient rates (Appendix 2).

    Parameters
    ----------
    sites : DataFrame with ``pid`` and ``station``, one row per site
    groups : mapping name -> station names (e.g. ``{"10R": ["10R"]}`` or the top 4)
    confidence : two-sided level

    Returns
    -------
    DataFrame indexed by group name: ``k`` (sites in the group), ``share``,
    ``share_lower``, ``share_upper``, ``icc``, ``design_effect`` (the last two the same
    on every row); all NaN but ``k`` when there is no site.
    """
    for col in ("pid", "station"):
        if col not in sites.columns:
            raise ValueError(f"sites: column {col!r} missing")
    names = list(groups)
    k_site = np.stack([sites["station"].isin(list(groups[g])).to_numpy() for g in names],
                      axis=1).astype(float) if names else np.zeros((len(sites), 0))
    out = pd.DataFrame({"k": k_site.sum(axis=0).astype(int)}, index=pd.Index(names))
    cols = ["share", "share_lower", "share_upper", "icc", "design_effect"]
    if not len(sites):
        out[cols] = np.nan
        return out
    _, patient = np.unique(sites["pid"].astype(str).to_numpy(), return_inverse=True)
    _, category = np.unique(sites["station"].astype(str).to_numpy(), return_inverse=True)
    m = int(patient.max()) + 1
    k = np.zeros((m, len(names)))
    np.add.at(k, patient, k_site)
    k_cat = np.zeros((m, int(category.max()) + 1))
    np.add.at(k_cat, (patient, category), 1.0)
    n = k_cat.sum(axis=1)
    icc = pooled_icc(k_cat, n)
    share, lo, hi, deff = clustered_wilson(k, n, icc=icc, confidence=confidence)
    out["share"], out["share_lower"], out["share_upper"] = share, lo, hi
    out["icc"], out["design_effect"] = icc, deff
    return out


def table5(sites: pd.DataFrame, rctv: pd.DataFrame, *,
           confidence: float = 0.95) -> pd.DataFrame:
    """Paper Table 5: recurrences per station, their share of all sites with a
    patient-clustered CI (design-effect Wilson, :func:`station_shares`), RctvLN_i among the
    recurring patients, GTV affected / CTV-GTV counts; the paper's columns beside ours.

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
    then "Total"): ``n``, ``share``, ``share_lower``, ``share_upper``, ``rctv_mean``,
    ``rctv_min``, ``rctv_max``, ``gtv_affected``, ``ctv_gtv``, ``paper_n``,
    ``paper_share`` (paper_n / 170), ``paper_rctv_mean``, ``paper_rctv_range``,
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
            row.update(paper_n=p[0], paper_share=p[0] / paper.N_RECURRENCE_SITES,
                       paper_rctv_mean=p[1],
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
    cols = ["station", "n", "share", "share_lower", "share_upper", "rctv_mean", "rctv_min",
            "rctv_max", "gtv_affected", "ctv_gtv", "paper_n", "paper_share",
            "paper_rctv_mean", "paper_rctv_range", "paper_gtv_affected", "paper_ctv_gtv",
            "note"]
    shares = station_shares(sites, {st: [st] for st in names}, confidence=confidence)
    out = pd.DataFrame(rows).set_index("station")
    out = out.join(shares[["share", "share_lower", "share_upper"]])
    if len(sites):
        out.loc["Total", "share"] = 1.0
    return out.reindex(columns=cols[1:])


def top_share(sites: pd.DataFrame, stations: Sequence[str] = paper.TOP4_STATIONS, *,
              confidence: float = 0.95) -> dict:
    """Share of all sites held by ``stations`` (paper: 10R, 10L, 4R, 7 hold 115/170).

    ``share_lower`` / ``share_upper``: the patient-clustered CI (:func:`station_shares`:
    the sites of one patient are not independent), with its ``icc`` and
    ``design_effect``;
    ``wilson_lower`` / ``wilson_upper``: Wilson's interval, which treats the sites as
    independent trials, shown beside it for comparison (it is too narrow when sites
    cluster within patients).
    """
    n = len(sites)
    k = int(sites["station"].isin(stations).sum())
    lo = hi = wlo = whi = icc = deff = np.nan
    if n:
        sh = station_shares(sites, {"top": list(stations)}, confidence=confidence).loc["top"]
        lo, hi = float(sh["share_lower"]), float(sh["share_upper"])
        icc, deff = float(sh["icc"]), float(sh["design_effect"])
        wlo, whi = wilson_interval(k, n, confidence)
    return {"stations": ", ".join(stations), "sites_in_stations": k, "sites_total": n,
            "patients": int(sites["pid"].nunique()) if n else 0,
            "share": k / n if n else np.nan, "share_lower": lo, "share_upper": hi,
            "ci_method": SHARE_CI_METHOD, "icc": icc, "design_effect": deff,
            "wilson_lower": wlo, "wilson_upper": whi,
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
