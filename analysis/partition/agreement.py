"""Do AI-drawn stations give the same 110 partition parameters as reference stations?
(issue 25, items 1-2)

For the patients that have both a reference station map (``stations_ref``) and an AI map
(``stations_pred``, or the out-of-fold ``stations_cv``), the 110 parameters are computed
on each map with 03's own feature function (:func:`analysis.partition.partition_table`)
and compared parameter by parameter (:func:`feature_agreement`): ICC(A,1) with its 95%
CI, Lin's CCC and Bland-Altman bias and limits (:mod:`analysis.stats.agreement`). The
comparison is summarised per family and per station (:func:`agreement_summary`: share of
parameters at Koo and Li's ICC bands) and drawn as a heatmap (:func:`icc_heatmap`).

The floor to judge the AI against is a second observer (:func:`perturb_stations`): each
station of the reference map dilated or eroded by ``dilate_erode_vox`` voxels (or left)
and shifted by up to ``max_shift_mm`` per axis, seeded; the ICC(A,1) over the reference
and ``n_perturbations`` such observers (:func:`observer_agreement`) says how much
reasonable observers disagree on each parameter.

Choices (the issue leaves them open)
------------------------------------
- A parameter whose values are identical on every patient and both maps (e.g. a station
  no gross tumour reaches in anyone: ``RgtvLN_i`` = 0 throughout) has no between-patient
  variance: its ICC is undefined (NaN, ``note`` "constant"), and it is left out of the
  shares (counted in ``n_constant``).
- A shift of ``s`` mm on a grid of spacing ``h`` mm moves the station by
  ``floor(s / h + u)`` voxels, ``u ~ U(0, 1)`` (stochastic rounding: the expected shift
  is ``s / h``; plain rounding would never move a 4 mm grid by a draw of at most 2 mm).
- An erosion that would delete a station keeps it as drawn (an observer does not forget
  a station). Perturbed stations are painted in a random order and a voxel keeps the
  first station painted on it, so a dilated station does not overwrite its neighbour
  more often than the neighbour overwrites it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import ndimage

from analysis.labels import FEATURE_NAMES, N_STATIONS, RATIO_FAMILIES, STATIONS
from analysis.ledger import ledger_for
from analysis.partition.run import (
    PartitionJob,
    StationSource,
    compute_patient,
    partition_table,
)
from analysis.scheduling.parallel import map_patients
from analysis.stats.agreement import KOO_LI_BANDS, bland_altman, icc_a1, lin_ccc
from analysis.store import (
    AGREEMENT_FEATURE_ICC,
    AGREEMENT_FEATURES_AI,
    AGREEMENT_FEATURES_REF,
    CohortStore,
)

#: store tables written by :meth:`StationAgreement.save` (04 and 07 read them)
REF_FEATURES_TABLE = AGREEMENT_FEATURES_REF
AI_FEATURES_TABLE = AGREEMENT_FEATURES_AI
FEATURE_ICC_TABLE = AGREEMENT_FEATURE_ICC
#: family label of the binary CTV-overlap rows and of the scalar rows
OVERLAP_FAMILY = "CTV_overlaps"
SCALAR_FAMILY = "scalar"


def feature_family(name: str) -> tuple[str, str]:
    """(family, station name) of a partition parameter: ``RctvLN_11`` -> ("RctvLN", "7"),
    ``CTV_overlaps_4L`` -> ("CTV_overlaps", "4L"), ``GTV_size_cm`` -> ("scalar", "")."""
    if name.startswith(OVERLAP_FAMILY + "_"):
        return OVERLAP_FAMILY, name.removeprefix(OVERLAP_FAMILY + "_")
    fam, _, idx = name.rpartition("_")
    if fam in RATIO_FAMILIES:
        return fam, STATIONS[int(idx) - 1]
    return SCALAR_FAMILY, ""


def feature_agreement(ref: pd.DataFrame, ai: pd.DataFrame,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Agreement of every parameter between two feature tables of the same patients.

    Parameters
    ----------
    ref, ai : DataFrame (n_patients, n_features), indexed by pid
        Same index and columns (e.g. the 110 parameters on the reference and AI maps).

    Returns
    -------
    DataFrame indexed by feature: ``family``, ``station``, ``icc`` (ICC(A,1)),
    ``icc_lower``, ``icc_upper`` (McGraw-Wong CI), ``ccc`` (Lin), ``ba_bias``,
    ``ba_loa_lower``, ``ba_loa_upper`` (Bland-Altman, AI minus reference),
    ``ref_mean``, ``ai_mean``, ``note`` ("constant" when the ICC is undefined).
    """
    if not ref.index.equals(ai.index) or list(ref.columns) != list(ai.columns):
        raise ValueError("feature_agreement: ref and ai must have the same patients "
                         "(index, in order) and features (columns)")
    if len(ref) < 2:
        raise ValueError(f"feature_agreement: needs >= 2 patients, got {len(ref)}")
    rows = []
    for col in ref.columns:
        x = ref[col].to_numpy(dtype=float)
        y = ai[col].to_numpy(dtype=float)
        icc, lo, hi = icc_a1(np.column_stack([x, y]), confidence)
        ba = bland_altman(x, y, confidence)
        fam, st = feature_family(str(col))
        rows.append({"feature": col, "family": fam, "station": st, "icc": icc,
                     "icc_lower": lo, "icc_upper": hi, "ccc": lin_ccc(x, y),
                     "ba_bias": ba["bias"], "ba_loa_lower": ba["loa_lower"],
                     "ba_loa_upper": ba["loa_upper"], "ref_mean": float(x.mean()),
                     "ai_mean": float(y.mean()), "note": "constant" if np.isnan(icc) else ""})
    return pd.DataFrame(rows).set_index("feature")


def agreement_summary(table: pd.DataFrame, by: str = "family", icc_col: str = "icc",
                      bands: tuple[float, ...] = KOO_LI_BANDS) -> pd.DataFrame:
    """Per family (or per station) the share of parameters at each ICC band.

    Parameters
    ----------
    table : DataFrame from :func:`feature_agreement` (or :func:`observer_agreement`)
    by : "family" or "station"
    icc_col : the ICC column summarised

    Returns
    -------
    DataFrame indexed by group (then ``all``): ``n_parameters``, ``n_constant`` (ICC
    undefined), ``median_icc``, ``min_icc``, and ``share_icc_ge_<b>`` for each band
    ``b`` (share of the parameters with a defined ICC).
    """
    if by not in ("family", "station"):
        raise ValueError(f"by: expected 'family' or 'station', got {by!r}")
    t = table if by == "family" else table[table["station"] != ""]
    order = ([*RATIO_FAMILIES, OVERLAP_FAMILY, SCALAR_FAMILY] if by == "family"
             else list(STATIONS))
    groups = [(g, t[t[by] == g]) for g in order if (t[by] == g).any()] + [("all", t)]
    rows = []
    for g, sub in groups:
        icc = sub[icc_col].dropna()
        row = {by: g, "n_parameters": len(sub), "n_constant": int(sub[icc_col].isna().sum()),
               "median_icc": float(icc.median()) if len(icc) else np.nan,
               "min_icc": float(icc.min()) if len(icc) else np.nan}
        for b in sorted(bands, reverse=True):
            row[f"share_icc_ge_{b:g}"] = float((icc >= b).mean()) if len(icc) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index(by)


def icc_heatmap(table: pd.DataFrame, icc_col: str = "icc", title: str | None = None):
    """Heatmap of the ICC per station (columns) by family (rows: the six ratio families
    and the CTV-overlap row); undefined ICCs grey, each cell annotated. Returns a Figure."""
    fams = [*RATIO_FAMILIES, OVERLAP_FAMILY]
    data = np.full((len(fams), N_STATIONS), np.nan)
    for name, row in table.iterrows():
        fam, st = feature_family(str(name))
        if fam in fams and st:
            data[fams.index(fam), STATIONS.index(st)] = row[icc_col]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                fontsize=7)
    ax.set_xticks(range(N_STATIONS), STATIONS)
    ax.set_yticks(range(len(fams)), fams)
    ax.set_xlabel("station")
    ax.set_title(title or "ICC(A,1), AI vs reference stations (grey: constant, undefined)")
    fig.colorbar(im, ax=ax, label="ICC(A,1)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# the second observer
# --------------------------------------------------------------------------------------
def shift_mask(mask: np.ndarray, shift_zyx) -> np.ndarray:
    """``mask`` moved by whole voxels ``shift_zyx`` (z, y, x); voxels moved off the grid
    are lost, the uncovered edge is False (no wrap-around)."""
    m = np.asarray(mask, dtype=bool)
    out = np.zeros_like(m)
    src, dst = [], []
    for s, n in zip((int(v) for v in shift_zyx), m.shape, strict=True):
        if abs(s) >= n:
            return out
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = m[tuple(src)]
    return out


def shift_station(stations: np.ndarray, label: int, shift_zyx) -> np.ndarray:
    """Station ``label`` moved by ``shift_zyx`` voxels; the other stations keep their
    voxels (where the moved station lands on one, the moved station wins)."""
    lab = np.asarray(stations).copy()
    moved = shift_mask(lab == label, shift_zyx)
    lab[lab == label] = 0
    lab[moved] = label
    return lab


def perturb_stations(stations: np.ndarray, spacing_mm, rng: np.random.Generator, *,
                     max_shift_mm: float = 2.0, dilate_erode_vox: int = 1) -> np.ndarray:
    """A second observer's version of a station map (module docstring, "Choices").

    Each station, in a random order: dilated, eroded (by ``dilate_erode_vox`` voxels,
    6-connected) or left, with equal chance; then shifted by ``floor(s / h + u)`` voxels
    per axis with ``s ~ U(-max_shift_mm, max_shift_mm)``, ``h`` the spacing and
    ``u ~ U(0, 1)``; painted where no earlier station lies.

    Parameters
    ----------
    stations : integer ndarray (z, y, x), labels 0..16
    spacing_mm : (z, y, x) spacing
    rng : numpy Generator (seeded by the caller)
    """
    lab = np.asarray(stations)
    sp = np.asarray(spacing_mm, dtype=float)
    out = np.zeros(lab.shape, dtype=np.uint8)
    labels = [int(v) for v in np.unique(lab) if v > 0]
    rng.shuffle(labels)
    for v in labels:
        m = lab == v
        op = int(rng.integers(-1, 2))
        if dilate_erode_vox and op > 0:
            m = ndimage.binary_dilation(m, iterations=dilate_erode_vox)
        elif dilate_erode_vox and op < 0:
            eroded = ndimage.binary_erosion(m, iterations=dilate_erode_vox)
            m = eroded if eroded.any() else m
        s = rng.uniform(-max_shift_mm, max_shift_mm, 3)
        vox = np.floor(s / sp + rng.uniform(0.0, 1.0, 3)).astype(int)
        m = shift_mask(m, vox)
        out[m & (out == 0)] = v
    return out


def _pid_seed(pid: str) -> int:
    return int(hashlib.sha256(str(pid).encode()).hexdigest()[:8], 16)


def perturbed_features(item: dict) -> list[list[float]]:
    """Per-patient step (:func:`analysis.scheduling.parallel.map_patients`): the 110 parameters on
    ``n`` second-observer versions of the patient's reference map.

    ``item``: ``store_root``, ``pid``, ``gtv_definition``, ``n``, ``seed``,
    ``max_shift_mm``, ``dilate_erode_vox``. Observer ``r`` of a patient is drawn from
    ``default_rng([seed, r, sha256(pid)])``: the same params give the same observers,
    whatever the patient order or scheduler.
    """
    store = CohortStore(item["store_root"])
    pid = item["pid"]
    arrays = [store.read(pid, n) for n in ("ctv", "gtv", "gtvnd", "stations_ref")]
    sp = store.grid(pid).spacing_mm
    feats = []
    for r in range(item["n"]):
        rng = np.random.default_rng([item["seed"], r, _pid_seed(pid)])
        st = perturb_stations(arrays[3], sp, rng, max_shift_mm=item["max_shift_mm"],
                              dilate_erode_vox=item["dilate_erode_vox"])
        job = PartitionJob(item["gtv_definition"], pid, arrays=(*arrays[:3], st, sp))
        feats.append(compute_patient(job)["features"])
    return feats


def observer_agreement(ref: pd.DataFrame, observers: list[pd.DataFrame],
                       confidence: float = 0.95) -> pd.DataFrame:
    """ICC(A,1) of each parameter over the reference and the perturbed observers
    (k = 1 + len(observers) raters): the agreement of any one observer with another.

    Returns
    -------
    DataFrame indexed by feature: ``family``, ``station``, ``observer_icc``,
    ``observer_lower``, ``observer_upper``.
    """
    rows = []
    for col in ref.columns:
        x = np.column_stack([ref[col].to_numpy(float)]
                            + [o.loc[ref.index, col].to_numpy(float) for o in observers])
        icc, lo, hi = icc_a1(x, confidence)
        fam, st = feature_family(str(col))
        rows.append({"feature": col, "family": fam, "station": st, "observer_icc": icc,
                     "observer_lower": lo, "observer_upper": hi})
    return pd.DataFrame(rows).set_index("feature")


def robustness_table(agreement: pd.DataFrame, observer: pd.DataFrame,
                     robust_icc: float = 0.9) -> pd.DataFrame:
    """Per parameter: the second-observer ICC beside the AI's.

    ``robust``: observer ICC >= ``robust_icc`` (Zwanenburg et al. 2019);
    ``ai_within_observer``: the AI's ICC reaches the lower 95% bound of the observers'
    (1.0 yes, 0.0 no, NaN when either is undefined).
    """
    t = observer.join(agreement[["icc", "icc_lower", "icc_upper"]].rename(
        columns={"icc": "ai_icc", "icc_lower": "ai_lower", "icc_upper": "ai_upper"}))
    t["robust"] = t["observer_icc"] >= robust_icc
    ok = t["observer_lower"].notna() & t["ai_icc"].notna()
    t["ai_within_observer"] = (t["ai_icc"] >= t["observer_lower"]).astype(float).where(ok)
    return t


# --------------------------------------------------------------------------------------
# the cohort
# --------------------------------------------------------------------------------------
def ai_station_source(params) -> StationSource:
    """Which AI map is compared with the reference: the analysis' choice when it is an
    AI map (``analysis.stations``: ``predicted`` or ``cv``), else the predicted maps."""
    choice = params.analysis.stations
    return choice if choice in ("predicted", "cv") else "predicted"


def agreement_patients(store, params) -> list[str]:
    """The patients compared: the analysis ledger's analysed patients
    (:func:`analysis.ledger.ledger_for`) whose AI map did not fail segmentation QC
    (unless ``analysis.include_qc_failed``) and that have both a reference and an AI map,
    in store order."""
    source = ai_station_source(params)
    name = {"predicted": "stations_pred", "cv": "stations_cv"}[source]
    ledger = ledger_for(store, params)
    t = ledger.table
    keep_flagged = params.analysis.include_qc_failed
    ok = {p for p in ledger.analysed if keep_flagged or t.at[p, "qc"] != "flagged"}
    return [p for p in store.patient_ids() if p in ok
            and store.has(p, "stations_ref") and store.has(p, name)]


@dataclass
class StationAgreement:
    """Result of :func:`station_agreement` (frames indexed by pid or by feature).

    ref, ai : the 110 parameters on the reference and AI maps (same patients)
    table : :func:`feature_agreement`; robustness : :func:`robustness_table`
    skip_reason : why nothing was compared (None when compared)
    """

    ai_source: str = "predicted"
    ref: pd.DataFrame | None = None
    ai: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    n_failed: int = 0
    skip_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    def report(self) -> str:
        """What the notebook prints (no identifier)."""
        return "\n".join(self.notes + ([self.skip_reason] if self.skip_reason else []))

    def by_family(self) -> pd.DataFrame:
        return agreement_summary(self.table, "family")

    def by_station(self) -> pd.DataFrame:
        return agreement_summary(self.table, "station")

    def perturbation_summary(self) -> pd.DataFrame:
        """Per family: the observers' ICC bands beside the AI's, and the share of
        parameters where the AI reaches the observers' floor."""
        obs = agreement_summary(self.robustness, "family", icc_col="observer_icc")
        ai = agreement_summary(self.robustness, "family", icc_col="ai_icc")
        out = obs.add_prefix("observer_").join(ai.drop(columns="n_parameters")
                                               .add_prefix("ai_"))
        out = out.rename(columns={"observer_n_parameters": "n_parameters"})
        hit = self.robustness["ai_within_observer"].astype(float)
        within = hit.groupby(self.robustness["family"]).mean()
        within["all"] = hit.mean()
        out["share_ai_within_observer_floor"] = within.reindex(out.index)
        return out

    def save(self, store) -> None:
        """Write the two feature tables and the per-parameter ICCs (with the second
        observers' ICC and whether the AI reaches their floor) into the store (empty
        tables when skipped, so that no earlier run's tables are read by 07)."""
        empty = pd.DataFrame({"icc": pd.Series(dtype=float)})
        store.write_table(REF_FEATURES_TABLE, empty if self.skipped else self.ref)
        store.write_table(AI_FEATURES_TABLE, empty if self.skipped else self.ai)
        if self.skipped:
            store.write_table(FEATURE_ICC_TABLE, empty)
            return
        floor = self.robustness[["observer_icc", "observer_lower", "ai_within_observer"]]
        store.write_table(FEATURE_ICC_TABLE, self.table.join(floor))


def station_agreement(store, params, *, cache: bool = True) -> StationAgreement:
    """Items 1-2 of issue 25 for a run: features on both maps, their agreement, and the
    second-observer floor (``params.agreement``; seeds from ``params.seed``)."""
    res = StationAgreement(ai_source=ai_station_source(params))
    pids = agreement_patients(store, params)
    if len(pids) < 3:
        res.skip_reason = (f"Only {len(pids)} patient(s) have both a reference and an AI "
                           f"({res.ai_source}) station map: agreement not computed.")
        return res
    cache_dir = store.root / "cache" / "partition" if cache else None
    kw = {"gtv_definition": params.partition.gtv_definition, "cache_dir": cache_dir,
          "scheduler": params.scheduler, "n_workers": params.n_workers, "patient_ids": pids}
    ref = partition_table(store, stations="reference", **kw)
    ai = partition_table(store, stations=res.ai_source, **kw)
    both = ref.features.index.intersection(ai.features.index)
    res.n_failed = len(pids) - len(both)
    res.ref, res.ai = ref.features.loc[both], ai.features.loc[both]
    res.table = feature_agreement(res.ref, res.ai)
    ap = params.agreement
    items = {p: {"store_root": str(store.root), "pid": p, "n": ap.n_perturbations,
                 "seed": params.seed, "max_shift_mm": ap.max_shift_mm,
                 "dilate_erode_vox": ap.dilate_erode_vox,
                 "gtv_definition": params.partition.gtv_definition} for p in both}
    pert = map_patients(perturbed_features, items, scheduler=params.scheduler,
                        n_workers=params.n_workers, desc="second observers")
    ok = [p for p in both if p in pert.results]
    observers = [pd.DataFrame([pert.results[p][r] for p in ok], index=pd.Index(ok),
                              columns=list(FEATURE_NAMES)) for r in range(ap.n_perturbations)]
    res.robustness = robustness_table(res.table, observer_agreement(res.ref.loc[ok],
                                                                    observers))
    n_const = int(res.table["icc"].isna().sum())
    res.notes += [
        f"{len(both)} patients with both maps (reference vs {res.ai_source}); "
        f"{res.n_failed} failed on either map; {len(ok)} with {ap.n_perturbations} "
        f"second observer(s) each (dilate/erode {ap.dilate_erode_vox} voxel, shift up to "
        f"{ap.max_shift_mm:g} mm).",
        f"{n_const} of {len(res.table)} parameters are constant on both maps (ICC "
        f"undefined, left out of the shares)."]
    return res


__all__ = [
    "AI_FEATURES_TABLE", "FEATURE_ICC_TABLE", "OVERLAP_FAMILY",
    "REF_FEATURES_TABLE", "SCALAR_FAMILY", "StationAgreement", "agreement_patients",
    "agreement_summary", "ai_station_source", "feature_agreement", "feature_family",
    "icc_heatmap", "observer_agreement", "perturb_stations", "perturbed_features",
    "robustness_table", "shift_mask", "shift_station", "station_agreement",
]
