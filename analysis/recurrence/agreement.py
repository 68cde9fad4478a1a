"""Does the recurrence map change when AI stations replace reference stations?
(issue 25, item 3)

Every recurrence site is assigned twice (:func:`analysis.recurrence.sites.patient_sites`,
same tolerance), once on the reference map and once on the AI map, for the patients
:func:`analysis.partition.agreement.agreement_patients` compares. Then:

- :func:`site_agreement`: per-site agreement, Cohen's kappa over the stations ("outside
  stations" is a category like any station), with a patient-clustered bootstrap CI;
- :func:`table5_comparison`: Table 5's counts per station on both maps;
- :func:`top_share_difference`: the share of sites in 10R, 10L, 4R and 7 on both maps and
  the paired, patient-clustered bootstrap CI of the difference (AI minus reference: the
  same patients are drawn for both maps in each replicate);
- :func:`appendix2_comparison`: Appendix 2's rates on both maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import paper
from analysis.labels import STATIONS
from analysis.partition.agreement import agreement_patients, ai_station_source
from analysis.recurrence.sites import OUTSIDE, collect_sites, patient_sites, site_items
from analysis.recurrence.tables import appendix2
from analysis.scheduling.parallel import map_patients
from analysis.stats.agreement import cohen_kappa
from analysis.store import AGREEMENT_SITES, StoreError

#: store table of both assignments (``pid, site_no, station_ref, station_ai``), read by 07
SITES_TABLE = AGREEMENT_SITES
_AI_VOLUME = {"predicted": "stations_pred", "cv": "stations_cv"}


def paired_sites(sites_ref: pd.DataFrame, sites_ai: pd.DataFrame) -> pd.DataFrame:
    """One row per site with its station on each map: ``pid``, ``site_no``,
    ``station_ref``, ``station_ai`` (sites assigned on only one map are dropped)."""
    cols = ["pid", "site_no", "station"]
    return (sites_ref[cols].rename(columns={"station": "station_ref"})
            .merge(sites_ai[cols].rename(columns={"station": "station_ai"}),
                   on=["pid", "site_no"], how="inner")
            .sort_values(["pid", "site_no"], ignore_index=True))


def _patient_draws(pids: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Patient index of each site and multinomial draw counts (n_boot, m patients)."""
    _, patient = np.unique(pids.astype(str), return_inverse=True)
    m = int(patient.max()) + 1
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot)
    return patient, counts


def site_agreement(paired: pd.DataFrame, *, n_boot: int = 500, seed: int = 0,
                   confidence: float = 0.95) -> dict:
    """Cohen's kappa of the two maps' stations over the recurrence sites.

    The CI resamples patients with replacement (their sites cluster) and recomputes
    kappa over all their sites (percentile interval).

    Returns
    -------
    dict: ``sites``, ``patients``, ``same_station`` (sites), ``share_same``, ``kappa``,
    ``kappa_lower``, ``kappa_upper``, ``moved`` ("4R -> 7: 2; ..." the changes, most
    frequent first).
    """
    n = len(paired)
    out = {"sites": n, "patients": int(paired["pid"].nunique()) if n else 0}
    if not n:
        return {**out, "same_station": 0, "share_same": np.nan, "kappa": np.nan,
                "kappa_lower": np.nan, "kappa_upper": np.nan, "moved": ""}
    a = paired["station_ref"].astype(str).to_numpy()
    b = paired["station_ai"].astype(str).to_numpy()
    patient, counts = _patient_draws(paired["pid"].to_numpy(), n_boot, seed)
    boots = []
    for c in counts:
        idx = np.repeat(np.arange(len(patient)), c[patient])
        boots.append(cohen_kappa(a[idx], b[idx]))
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(boots, [alpha, 1 - alpha]) if np.isfinite(boots).any() \
        else (np.nan, np.nan)
    moved = paired.loc[a != b].groupby(["station_ref", "station_ai"]).size()
    moved = moved.sort_values(ascending=False, kind="stable")
    return {**out, "same_station": int((a == b).sum()), "share_same": float((a == b).mean()),
            "kappa": cohen_kappa(a, b), "kappa_lower": float(lo), "kappa_upper": float(hi),
            "moved": "; ".join(f"{r} -> {s}: {k}" for (r, s), k in moved.items())}


def table5_comparison(paired: pd.DataFrame) -> pd.DataFrame:
    """Table 5's site counts per station on both maps, with the paper's beside them.

    Returns
    -------
    DataFrame indexed by station (16 stations, "outside stations" when used, "Total"):
    ``n_ref``, ``n_ai``, ``difference`` (AI minus reference), ``share_ref``,
    ``share_ai``, ``paper_n``.
    """
    names = list(STATIONS)
    if (paired[["station_ref", "station_ai"]] == OUTSIDE).any().any():
        names.append(OUTSIDE)
    n_ref = paired["station_ref"].value_counts().reindex(names, fill_value=0)
    n_ai = paired["station_ai"].value_counts().reindex(names, fill_value=0)
    out = pd.DataFrame({"n_ref": n_ref, "n_ai": n_ai})
    out.loc["Total"] = [len(paired), len(paired)]
    out = out.astype(int)
    out["difference"] = out["n_ai"] - out["n_ref"]
    total = max(len(paired), 1)
    out["share_ref"] = out["n_ref"] / total
    out["share_ai"] = out["n_ai"] / total
    out["paper_n"] = [paper.TABLE5[s][0] if s in paper.TABLE5 else
                      (paper.N_RECURRENCE_SITES if s == "Total" else np.nan) for s in out.index]
    out.index.name = "station"
    return out


def top_share_difference(paired: pd.DataFrame, stations: Sequence[str] = paper.TOP4_STATIONS,
                         *, n_boot: int = 500, seed: int = 0,
                         confidence: float = 0.95) -> dict:
    """Share of sites in ``stations`` (paper: 10R, 10L, 4R, 7) on both maps, and the
    difference (AI minus reference) with a paired, patient-clustered bootstrap CI.

    .. math:: \\Delta^* = \\frac{\\sum_j w_j k^{AI}_j - \\sum_j w_j k^{ref}_j}{\\sum_j w_j n_j},
              \\qquad w \\sim \\mathrm{Multinomial}(m, 1/m)

    (``k_j``: patient j's sites in the stations on each map, ``n_j`` its sites); the
    same draw ``w`` serves both maps, so the interval is of the paired difference.
    """
    n = len(paired)
    st = list(stations)
    k_ref = paired["station_ref"].isin(st).to_numpy(float)
    k_ai = paired["station_ai"].isin(st).to_numpy(float)
    row = {"stations": ", ".join(st), "sites": n,
           "share_ref": k_ref.mean() if n else np.nan,
           "share_ai": k_ai.mean() if n else np.nan}
    row["difference"] = row["share_ai"] - row["share_ref"]
    lo = hi = np.nan
    if n:
        patient, counts = _patient_draws(paired["pid"].to_numpy(), n_boot, seed)
        m = counts.shape[1]
        per = np.zeros((m, 3))
        np.add.at(per, patient, np.column_stack([k_ref, k_ai, np.ones(n)]))
        tot = counts @ per  # (n_boot, 3)
        diff = (tot[:, 1] - tot[:, 0]) / tot[:, 2]
        alpha = (1 - confidence) / 2
        lo, hi = np.quantile(diff, [alpha, 1 - alpha])
    row.update(diff_lower=float(lo), diff_upper=float(hi),
               ci_method=f"paired patient-clustered bootstrap (percentile), B = {n_boot}",
               paper_share=paper.TOP4_SHARE)
    return row


def appendix2_comparison(involved_ref: pd.DataFrame, involved_ai: pd.DataFrame,
                         paired: pd.DataFrame, recurred: pd.Series) -> pd.DataFrame:
    """Appendix 2 (:func:`analysis.recurrence.tables.appendix2`) on both maps: per station
    the initially involved patients and the same-station recurrence rate of each."""
    sites_ref = paired.rename(columns={"station_ref": "station"})
    sites_ai = paired.rename(columns={"station_ai": "station"})
    a = appendix2(involved_ref, sites_ref, recurred)
    b = appendix2(involved_ai, sites_ai, recurred)
    out = pd.DataFrame({"n_involved_ref": a["n_involved"], "n_involved_ai": b["n_involved"],
                        "rate_same_ref": a["rate_same"], "rate_same_ai": b["rate_same"],
                        "rate_any_ref": a["rate_any"], "rate_any_ai": b["rate_any"]})
    out["rate_same_difference"] = out["rate_same_ai"] - out["rate_same_ref"]
    out["paper_rate"] = a["paper_rate"]
    return out


@dataclass
class RecurrenceAgreement:
    """Result of :func:`recurrence_agreement`; tables in report order."""

    ai_source: str = "predicted"
    paired: pd.DataFrame | None = None
    sites: dict | None = None
    table5: pd.DataFrame | None = None
    top4: dict | None = None
    appendix2: pd.DataFrame | None = None
    skip_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    def report(self) -> str:
        return "\n".join(self.notes + ([self.skip_reason] if self.skip_reason else []))

    def site_table(self) -> pd.DataFrame:
        """The kappa summary as a one-row table."""
        return pd.DataFrame([self.sites]).rename(index={0: "reference vs AI"})

    def top4_table(self) -> pd.DataFrame:
        return pd.DataFrame([self.top4]).set_index("stations")

    def save(self, store) -> None:
        """Write both assignments of every site into the store (07's verdict reads it;
        an empty table when skipped, so that no earlier run's sites are read)."""
        empty = pd.DataFrame(columns=["pid", "site_no", "station_ref", "station_ai"])
        store.write_table(SITES_TABLE, empty if self.paired is None else self.paired)


def _assign(store, params, pids, volume: str):
    recurrences = store.recurrences()
    rec = recurrences[recurrences["pid"].isin(pids)]
    items = site_items(store.root, rec, pids, volume, params.recurrence.tolerance_mm)
    res = map_patients(patient_sites, items, scheduler=params.scheduler,
                       n_workers=params.n_workers, desc=f"sites on {volume}")
    sites, involved, _ = collect_sites(res.results)
    return sites, involved, len(res.failures)


def recurrence_agreement(store, params) -> RecurrenceAgreement:
    """Item 3 of issue 25 for a run (bootstrap: ``params.agreement.n_boot``, ``seed``)."""
    res = RecurrenceAgreement(ai_source=ai_station_source(params))
    try:
        store.recurrences()
    except StoreError as err:
        res.skip_reason = f"No recurrence sites in the cohort store ({err}): not compared."
        return res
    pids = [p for p in agreement_patients(store, params) if store.has(p, "gtv")]
    if len(pids) < 3:
        res.skip_reason = (f"Only {len(pids)} patient(s) have both station maps: the "
                           "recurrence maps are not compared.")
        return res
    sites_ref, inv_ref, f_ref = _assign(store, params, pids, "stations_ref")
    sites_ai, inv_ai, f_ai = _assign(store, params, pids, _AI_VOLUME[res.ai_source])
    res.paired = paired_sites(sites_ref, sites_ai)
    boot = {"n_boot": params.agreement.n_boot, "seed": params.seed}
    res.sites = site_agreement(res.paired, **boot)
    res.table5 = table5_comparison(res.paired)
    res.top4 = top_share_difference(res.paired, **boot)
    both = inv_ref.index.intersection(inv_ai.index)
    cohort = store.cohort()
    recurred = cohort.reindex(both)["lc_event"].fillna(0).astype(int) == 1
    recurred |= both.isin(res.paired["pid"])
    res.appendix2 = appendix2_comparison(inv_ref.loc[both], inv_ai.loc[both], res.paired,
                                         pd.Series(recurred, index=both))
    res.notes.append(
        f"{len(res.paired)} recurrence sites of {res.paired['pid'].nunique()} patients "
        f"assigned on both maps (reference vs {res.ai_source}, tolerance "
        f"{params.recurrence.tolerance_mm:g} mm); patients failing on the reference / AI "
        f"map: {f_ref} / {f_ai}.")
    return res
