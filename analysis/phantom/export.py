"""Write the phantom as a department export (docs/data_layout.md section 1) + truth.json.

:func:`generate` runs three steps:

1. the clinical table of every screened candidate (:mod:`.clinical`), fake identifiers,
   MRNs, dates, and the screening defects of the surplus candidates;
2. per patient, on ``params.scheduler`` (:func:`analysis.scheduling.parallel.map_patients`): the
   images (:func:`.make_patient`), the 110 partition features
   (:func:`analysis.partition.partition_parameters`, GTV = GTV ∪ GTVnd, reference
   stations) and the files (DICOM CT + RTSTRUCT, or NIfTI), with the patient's defect
   applied;
3. in the main process: the planted outcomes (:mod:`.outcomes`), recurrence sites, and
   for NIfTI exports a small recurrence mask per failing patient (value k = SiteNo k).

Screening defects (surplus candidates, ``truth["screening_defects"]``: MRN -> reason):

- ``no_followup``: no row in followup.csv;
- ``missing_slice``: DICOM: the middle CT slice is not written; NIfTI: CT.nii.gz lacks
  the middle slice, so its grid no longer matches the masks;
- ``missing_structure``: no CTV (no ROI "CTV" in RS.dcm, no CTV.nii.gz);
- ``unreadable_file``: DICOM: the middle CT file is cut to 256 bytes; NIfTI: CT.nii.gz is
  cut in half;
- ``duplicate_mrn``: two rows of clinical.csv carry the same MRN with different names and
  birth dates (one image folder); neither row can be trusted.

Same params (seed and ``phantom`` section) and same code give identical bytes; a stamp
file (``stamp.json``) lets a second call return at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paper, paths
from analysis.clinical import DAYS_PER_MONTH
from analysis.grid import Grid
from analysis.io import write_nifti
from analysis.io.dicom_write import deterministic_uid, write_ct_series, write_rtstruct
from analysis.labels import FEATURE_NAMES, STATION_LABEL, STATIONS
from analysis.partition.counting import PartitionWarning
from analysis.partition.formulas import partition_parameters_reference
from analysis.phantom import outcomes as O
from analysis.phantom.clinical import sample_clinical
from analysis.phantom.disease import make_patient
from analysis.scheduling.parallel import map_patients

DEFECTS = ("no_followup", "missing_slice", "missing_structure", "unreadable_file")
SITE_RADIUS_MM = 6.0
N_SITE_CANDIDATES = 16
CLINICAL_COLUMNS = ("MRN", "Name", "BirthDate", "Sex", "Age", "Pathology", "TumourType", "cT",
                    "cN", "cM", "Stage", "Paraneoplastic", "SVCS", "SmokingIndex",
                    "ChemoSequence", "RT_Start")
_SURNAMES = ("ZHANG", "WANG", "LI", "LIU", "CHEN", "YANG", "HUANG", "ZHAO", "WU", "ZHOU", "XU",
             "SUN", "MA", "ZHU", "HU", "GUO", "HE", "LIN", "LUO", "GAO", "SHEN", "TANG")
_GIVEN = ("WEI", "FANG", "MIN", "JING", "LEI", "QIANG", "JUN", "YAN", "HUI", "PING", "GANG",
          "LING", "TAO", "XIN", "BIN", "HONG", "YU", "JIE", "MEI", "CHAO", "LAN", "PENG")


def _code_version() -> str:
    """Hash of the source files whose change changes the export."""
    root = paths.REPO_ROOT / "analysis"
    files = sorted((root / "phantom").glob("*.py")) + [
        root / "io" / "dicom_write.py", root / "io" / "nifti.py", root / "partition.py",
        root / "labels.py", root / "paper.py", root / "grid.py"]
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _params_digest(params) -> str:
    blob = json.dumps({"seed": params.seed, "phantom": params.phantom.model_dump(mode="json")},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _grid(params) -> Grid:
    g = params.phantom.grid
    shape, sp = g.shape_zyx, g.spacing_mm
    origin = (-0.5 * (shape[2] - 1) * sp[2], -0.5 * (shape[1] - 1) * sp[1],
              -0.5 * (shape[0] - 1) * sp[0])
    return Grid(shape, sp, tuple(round(o, 4) for o in origin))


def _defect_plan(n_surplus: int) -> list[str]:
    """Reason for each surplus candidate; a duplicate pair when there are >= 6."""
    plan: list[str] = []
    if n_surplus >= 6:
        plan += ["duplicate_mrn", "duplicate_mrn"]
    i = 0
    while len(plan) < n_surplus:
        plan.append(DEFECTS[i % len(DEFECTS)])
        i += 1
    return plan


def _date(d: dt.date) -> str:
    return d.isoformat()


def _dicom_date(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _candidates(params) -> pd.DataFrame:
    """Every screened candidate: canonical clinical columns + identifiers + defects."""
    ph = params.phantom
    n_inc, n_scr = ph.n_included, ph.n_screened
    if n_scr < n_inc:
        raise ValueError(f"phantom.n_screened ({n_scr}) must be >= phantom.n_included ({n_inc})")
    rng = np.random.default_rng([params.seed, 1])
    if ph.scale_to_n:
        inc = sample_clinical(n_inc, rng)
    else:
        inc = sample_clinical(paper.N_PATIENTS, rng)
        inc = inc.iloc[np.sort(rng.permutation(len(inc))[:n_inc])].reset_index(drop=True)
    n_sur = n_scr - n_inc
    sur = sample_clinical(max(n_sur, 1), rng).iloc[:n_sur]
    inc["defect"] = ""
    sur = sur.assign(defect=_defect_plan(n_sur))
    df = pd.concat([inc, sur], ignore_index=True)
    n = len(df)
    mrn_num = rng.choice(9_000_000, size=n, replace=False) + 1_000_000
    df["mrn"] = [f"H{m}" for m in mrn_num]
    dup = np.flatnonzero(df["defect"].to_numpy() == "duplicate_mrn")
    df["has_images"] = True
    if len(dup) == 2:
        df.loc[dup[1], "mrn"] = df.loc[dup[0], "mrn"]
        df.loc[dup[1], "has_images"] = False
    df["name"] = [f"{_SURNAMES[a]}^{_GIVEN[b]}" for a, b in
                  zip(rng.integers(len(_SURNAMES), size=n), rng.integers(len(_GIVEN), size=n),
                      strict=True)]
    start0 = dt.date(2015, 1, 5)
    rt = [start0 + dt.timedelta(days=int(d)) for d in rng.integers(0, 5 * 365, size=n)]
    df["rt_start"] = rt
    df["birth_date"] = [r - dt.timedelta(days=int(round(a * 365.25)) + int(x))
                        for r, a, x in zip(rt, df["age"], rng.integers(1, 360, size=n),
                                           strict=True)]
    df["included"] = df["defect"] == ""
    df["patient_seed"] = np.arange(n)
    return df


def _department_clinical(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns -> the department's own names and codes (docs/data_layout.md)."""
    yn = {"yes": "Y", "no": "N"}
    out = pd.DataFrame({
        "MRN": df["mrn"],
        "Name": df["name"].str.replace("^", " ", regex=False).str.title(),
        "BirthDate": [_date(d) for d in df["birth_date"]],
        "Sex": df["sex"].map({"male": "M", "female": "F"}),
        "Age": df["age"].astype(int),
        "Pathology": df["histology"].map({"small_cell": "SCLC", "mixed": "SCLC+NSCLC"}),
        "TumourType": df["location"].map({"central": "Central", "peripheral": "Peripheral"}),
        "cT": df["t_stage"].str[1:].astype(int),
        "cN": df["n_stage"].str[1:].astype(int),
        "cM": df["m_stage"].str[1:].astype(int),
        "Stage": df["tnm_stage"],
        "Paraneoplastic": df["paraneoplastic"].map(yn),
        "SVCS": df["svc_syndrome"].map(yn),
        "SmokingIndex": df["smoking_index"].astype(int),
        "ChemoSequence": df["chemo"].map({"concurrent": "Concurrent",
                                          "sequential": "Sequential"}),
        "RT_Start": [_date(d) for d in df["rt_start"]],
    })
    return out[list(CLINICAL_COLUMNS)]


def _truncate(path: Path, n_bytes: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:n_bytes])


def build_patient(item: dict) -> dict:
    """Step 2 for one patient (module-level so the process pool can pickle it).

    The planted features come from the plain reference implementation of the formulas
    (:func:`analysis.partition.formulas.partition_parameters_reference`), never from the
    fast path that 03_partition runs and the checks test."""
    grid = Grid.from_dict(item["grid"])
    ss = np.random.SeedSequence(item["entropy"])
    s_img, s_sites = ss.spawn(2)
    pat = make_patient(np.random.default_rng(s_img), grid,
                       mass_effect=item.get("mass_effect", False), **item["overrides"])
    with warnings.catch_warnings():  # e.g. an N0 CTV touching no station: expected here
        warnings.simplefilter("ignore", PartitionWarning)
        feats = partition_parameters_reference(pat["ctv"], pat["gtv"], pat["gtvnd"], pat["stations"],
                                               grid.spacing_mm, gtv_definition="union")
    st = pat["stations"]
    n_st = np.bincount(st.ravel(), minlength=17)
    gross = pat["gtv"] | pat["gtvnd"]
    n_gross = np.bincount(st[gross], minlength=17)
    n_ctv = np.bincount(st[pat["ctv"]], minlength=17)
    r = np.random.default_rng(s_sites)
    cand = {}
    for s in STATIONS:
        vox = np.argwhere(st == STATION_LABEL[s])
        if len(vox):
            pick = r.choice(len(vox), size=min(N_SITE_CANDIDATES, len(vox)), replace=False)
            cand[s] = vox[np.sort(pick)].tolist()
    if item["write"]:
        _write_images(item, pat, grid)
    return {
        "features": {k: float(v) for k, v in feats.items()},
        "gross_stations": [s for s in STATIONS if n_gross[STATION_LABEL[s]] > 0],
        "ctv_coverage": {s: round(float(n_ctv[STATION_LABEL[s]] / n_st[STATION_LABEL[s]]), 4)
                         for s in STATIONS if n_st[STATION_LABEL[s]] > 0},
        "station_voxels": {s: int(n_st[STATION_LABEL[s]]) for s in STATIONS},
        "site_candidates": cand,
        "involved_stations": pat["involved_stations"],
        "elective_stations": pat["elective_stations"],
        "gtv_centre_mm": [round(v, 3) for v in pat["gtv_centre_mm"]],
        "landmarks_mm": {k: [round(v, 3) for v in p] for k, p in pat["landmarks_mm"].items()},
    }


def _write_images(item: dict, pat: dict, grid: Grid) -> None:
    out = Path(item["out_dir"])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    defect = item["defect"]
    mid = grid.shape_zyx[0] // 2
    structures = {"GTV": pat["gtv"], "GTVnd": pat["gtvnd"], "CTV": pat["ctv"]}
    if defect == "missing_structure":
        del structures["CTV"]
    if item["format"] == "nifti":
        if defect == "missing_slice":
            ct = np.delete(pat["ct"], mid, axis=0)
            write_nifti(out / "CT.nii.gz", ct, Grid(ct.shape, grid.spacing_mm, grid.origin_mm))
        else:
            write_nifti(out / "CT.nii.gz", pat["ct"], grid)
        for name, m in structures.items():
            write_nifti(out / f"{name}.nii.gz", m.astype(np.uint8), grid)
        write_nifti(out / "stations.nii.gz", pat["stations"], grid)
        if defect == "unreadable_file":
            p = out / "CT.nii.gz"
            _truncate(p, p.stat().st_size // 2)
        return
    ids = item["dicom"]
    files = write_ct_series(
        pat["ct"], grid, out / "CT", patient=ids["patient"], study_uid=ids["study_uid"],
        series_uid=ids["series_uid"], frame_of_reference_uid=ids["for_uid"],
        uid_seed=ids["uid_seed"], study_date=ids["study_date"], extra_tags=ids["extra_tags"],
        skip_slices=[mid] if defect == "missing_slice" else ())
    masks = dict(structures)
    for s in STATIONS:
        masks[f"LN_{s}"] = pat["stations"] == STATION_LABEL[s]
    if defect == "missing_slice":
        masks = {k: np.delete(v, mid, axis=0) for k, v in masks.items()}
    write_rtstruct(masks, out / "CT", out / "RS.dcm", uid_seed=ids["uid_seed"])
    if defect == "unreadable_file":
        _truncate(files[len(files) // 2], 256)


def write_recurrence_mask(item: dict) -> str:
    """Step 3 (NIfTI): paint k = SiteNo around each site point, inside its station."""
    from analysis.io import read_nifti

    folder = Path(item["out_dir"])
    st, grid = read_nifti(folder / "stations.nii.gz", dtype=np.uint8)
    out = np.zeros(grid.shape_zyx, dtype=np.uint8)
    idx = np.indices(grid.shape_zyx, sparse=True)
    for site in item["sites"]:
        c = grid.mm_to_index(np.array([site["x_mm"], site["y_mm"], site["z_mm"]]))
        d2 = sum(((ix - ci) * sp) ** 2 for ix, ci, sp in zip(idx, c, grid.spacing_mm,
                                                             strict=True))
        ball = (d2 <= SITE_RADIUS_MM ** 2) & (st == STATION_LABEL[site["station"]])
        ball[tuple(np.clip(np.rint(c).astype(int), 0, np.array(grid.shape_zyx) - 1))] = True
        out[ball & (out == 0)] = site["site_no"]
    write_nifti(folder / "recurrence.nii.gz", out, grid)
    return str(folder)


@contextlib.contextmanager
def _progress(show: bool):
    """Hide tqdm's bars (``TQDM_DISABLE``, read by tqdm >= 4.66) when ``show`` is False."""
    old = os.environ.get("TQDM_DISABLE")
    if not show:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old


def _round(x: float, nd: int = 6) -> float:
    return float(round(float(x), nd))


def generate(params, out_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Write the phantom export and ``truth.json``; return the phantom folder.

    Parameters
    ----------
    params : analysis.params.Params with a ``phantom`` section
    out_dir : folder to write (default ``analysis.paths.phantom_dir(params.run_name)``);
        it receives ``export/``, ``truth.json`` and ``stamp.json``
    progress : show progress bars (tqdm)

    Returns
    -------
    Path of the phantom folder. When ``stamp.json`` there matches the seed, the phantom
    section and the generator's code, nothing is redone.
    """
    if params.phantom is None:
        raise ValueError("params.phantom: required to generate the phantom")
    if params.phantom.n_screened < params.phantom.n_included:
        raise ValueError(f"phantom.n_screened ({params.phantom.n_screened}) must be >= "
                         f"phantom.n_included ({params.phantom.n_included})")
    out = Path(out_dir) if out_dir is not None else paths.phantom_dir(params.run_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    # one writer at a time (notebooks and ingest may call generate concurrently); the
    # second caller waits, then finds the stamp and returns
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _generate_locked(params, out, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _generate_locked(params, out: Path, progress: bool) -> Path:
    ph = params.phantom
    stamp = {"params_digest": _params_digest(params), "code_version": _code_version()}
    stamp_path = out / "stamp.json"
    if (stamp_path.exists() and (out / "truth.json").exists()
            and json.loads(stamp_path.read_text()) == stamp):
        return out
    export = out / "export"
    if export.exists():
        shutil.rmtree(export)
    for p in (stamp_path, out / "truth.json"):
        p.unlink(missing_ok=True)
    (export / "images").mkdir(parents=True)
    grid = _grid(params)
    df = _candidates(params)

    # ---- step 2: images and features
    items = {}
    for _, row in df[df["has_images"]].iterrows():
        mrn = row["mrn"]
        uid_seed = f"phantom|{params.seed}|{mrn}"
        study_date = _dicom_date(row["rt_start"] - dt.timedelta(days=7))
        name = row["name"]
        items[mrn] = {
            "entropy": [params.seed, 2, int(row["patient_seed"])],
            "grid": grid.to_dict(), "format": ph.format, "defect": row["defect"],
            "mass_effect": ph.mass_effect,
            "write": True, "out_dir": str(export / "images" / mrn),
            "overrides": {"diameter_cm": float(row["diameter_cm"]), "side": row["side"],
                          "lobe": row["lobe"], "location": row["location"],
                          "n_stage": row["n_stage"]},
            "dicom": {
                "patient": {"PatientName": name, "PatientID": mrn,
                            "PatientBirthDate": _dicom_date(row["birth_date"]),
                            "PatientSex": "M" if row["sex"] == "male" else "F",
                            "OtherPatientIDs": f"ADM{mrn[1:]}"},
                "study_uid": deterministic_uid(uid_seed, "study"),
                "series_uid": deterministic_uid(uid_seed, "ct-series"),
                "for_uid": deterministic_uid(uid_seed, "frame-of-reference"),
                "uid_seed": uid_seed, "study_date": study_date,
                "extra_tags": {"StudyDescription": f"CT SIM THORAX {name.replace('^', ' ')}",
                               "SeriesDescription": "Planning CT 5mm",
                               "InstitutionName": "Phantom General Hospital",
                               "ImageComments": f"RT planning for {name.replace('^', ' ')}"
                                                f" ({mrn})"},
            },
        }
    with _progress(progress):
        mapped = map_patients(build_patient, items, scheduler=params.scheduler,
                              n_workers=params.n_workers, desc="phantom patients")
    if mapped.failures:
        raise RuntimeError("phantom generation failed for "
                           + "; ".join(f"{k}: {v}" for k, v in mapped.failures.items()))
    res = mapped.results

    # ---- step 3: outcomes from the planted model
    coefs = O.planted_coefficients(ph.planted_hr_diameter)
    design = O.clinical_design(df)
    # the second row of a duplicate MRN shares the first one's images
    feats = pd.DataFrame([res[m]["features"] for m in df["mrn"]], index=df.index)
    for k in coefs:
        if k not in design:
            design[k] = feats[k].to_numpy()
    lp = O.linear_predictor(design, coefs)
    inc = df["included"].to_numpy()
    rng_o = np.random.default_rng([params.seed, 3])
    # included and surplus drawn apart, so the stratified follow-up holds for the included
    e = np.empty(len(df))
    c = np.empty(len(df))
    e[inc], c[inc] = O.draw_latent(lp[inc], rng_o)
    e[~inc], c[~inc] = O.draw_latent(lp[~inc], rng_o)
    # deaths (competing with local failure) from their own stream: follow-up ends at
    # min(C, D) and a failure is observed when T <= min(C, D)
    death = O.draw_death_times(len(df), np.random.default_rng([params.seed, 5]))
    n_target = int(round(O.TARGET_EVENT_FRACTION * int(inc.sum())))
    if 0 < n_target < int(inc.sum()):
        scale = O.scale_for_event_count(lp[inc], e[inc], np.minimum(c, death)[inc], n_target)
    else:  # a cohort of one or two: the expected share instead
        scale = O.calibrate_scale(lp[inc], death=O.DEATH_MODEL)
    draws = O.outcomes_from_latent(lp, e, c, scale, death_months=death)
    draws.index = df.index
    fu_days = np.rint(draws["followup_months"] * DAYS_PER_MONTH).astype(int)
    t_days = np.rint(draws["failure_time_months"] * DAYS_PER_MONTH).astype(int)
    event = draws["lc_event"].to_numpy().astype(bool)
    died = draws["os_event"].to_numpy().astype(bool)
    t_days = np.minimum(t_days, fu_days)

    # recurrence sites
    fail_inc = [m for m, e, i in zip(df["mrn"], event, inc, strict=True) if e and i]
    weights = O.site_probabilities([res[m]["gross_stations"] for m in fail_inc])
    rng_s = np.random.default_rng([params.seed, 4])
    sites: dict[str, list[dict]] = {}
    for i, m in enumerate(df["mrn"]):
        if not event[i] or not df.loc[i, "has_images"]:
            continue
        r = res[m]
        chosen = O.draw_sites(rng_s, r["gross_stations"], weights,
                              available=list(r["site_candidates"]))
        lst = []
        for k, s in enumerate(chosen, start=1):
            cands = r["site_candidates"][s]
            v = np.array(cands[rng_s.integers(len(cands))], dtype=float)
            v = v + rng_s.uniform(-0.25, 0.25, size=3)
            x, y, z = grid.index_to_mm(v)
            lst.append({"site_no": k, "station": s, "x_mm": _round(x, 2), "y_mm": _round(y, 2),
                        "z_mm": _round(z, 2)})
        sites[m] = lst
    if ph.format == "nifti":
        rec_items = {m: {"out_dir": str(export / "images" / m), "sites": s}
                     for m, s in sites.items() if s}
        with _progress(progress):
            rm = map_patients(write_recurrence_mask, rec_items, scheduler=params.scheduler,
                              n_workers=params.n_workers, desc="recurrence masks")
        if rm.failures:
            raise RuntimeError(f"recurrence masks failed: {rm.failures}")

    # ---- tables
    dept = _department_clinical(df).sort_values("MRN", kind="stable")
    dept.to_csv(export / "clinical.csv", index=False, lineterminator="\n")
    fu_rows = []
    for i, m in enumerate(df["mrn"]):
        if df.loc[i, "defect"] in ("no_followup",) or not df.loc[i, "has_images"]:
            continue
        start = df.loc[i, "rt_start"]
        fu_rows.append({
            "MRN": m, "RT_Start": _date(start),
            "LastFollowUp": _date(start + dt.timedelta(days=int(fu_days[i]))),
            "LocalFailure": int(event[i]),
            "LocalFailureDate": _date(start + dt.timedelta(days=int(t_days[i])))
            if event[i] else "",
            "Death": int(died[i]),
            "DeathDate": _date(start + dt.timedelta(days=int(fu_days[i]))) if died[i] else "",
        })
    pd.DataFrame(fu_rows, columns=["MRN", "RT_Start", "LastFollowUp", "LocalFailure",
                                   "LocalFailureDate", "Death", "DeathDate"]
                 ).sort_values("MRN").to_csv(
        export / "followup.csv", index=False, lineterminator="\n")
    rec_rows = [{"MRN": m, "SiteNo": s["site_no"], "X_mm": s["x_mm"], "Y_mm": s["y_mm"],
                 "Z_mm": s["z_mm"]} for m in sorted(sites) for s in sites[m]]
    pd.DataFrame(rec_rows, columns=["MRN", "SiteNo", "X_mm", "Y_mm", "Z_mm"]).to_csv(
        export / "recurrences.csv", index=False, lineterminator="\n")

    # ---- truth.json
    p_obs = O.observed_failure_probability(lp, scale, death=O.DEATH_MODEL)
    p_own = O.failure_probability(lp, scale, draws["followup_months"].to_numpy())
    p36 = O.failure_probability(lp, scale, 36.0)
    patients = {}
    for i, m in enumerate(df["mrn"]):
        if not df.loc[i, "has_images"]:
            continue
        r = res[m]
        patients[m] = {
            "included": bool(inc[i]), "defect": df.loc[i, "defect"] or None,
            "linear_predictor": _round(lp[i]), "p_failure_observed": _round(p_obs[i]),
            "p_failure_by_own_followup": _round(p_own[i]),
            "p_failure_36m": _round(p36[i]),
            "lc_event": int(event[i]),
            "lc_time_months": _round((t_days[i] if event[i] else fu_days[i]) / DAYS_PER_MONTH),
            "followup_months": _round(fu_days[i] / DAYS_PER_MONTH),
            "os_event": int(died[i]), "death_without_lf": int(died[i] and not event[i]),
            "diameter_cm_planned": float(df.loc[i, "diameter_cm"]),
            "gtv_size_cm_measured": _round(r["features"]["GTV_size_cm"], 4),
            "side": df.loc[i, "side"], "lobe": df.loc[i, "lobe"],
            "location": df.loc[i, "location"], "n_stage": df.loc[i, "n_stage"],
            "involved_stations": r["involved_stations"],
            "elective_stations": r["elective_stations"],
            "gross_stations": r["gross_stations"], "ctv_coverage": r["ctv_coverage"],
            "station_voxels": r["station_voxels"],
            "informative_feature_values": {k: _round(r["features"][k]) for k in O.PARTITION_BETA},
            "recurrence_sites": sites.get(m, []),
            "landmarks_mm": r["landmarks_mm"], "gtv_centre_mm": r["gtv_centre_mm"],
        }
    defects = {m: d for m, d in zip(df["mrn"], df["defect"], strict=True) if d}
    fu_inc = fu_days[inc] / DAYS_PER_MONTH
    truth = {
        "synthetic": True,
        "warning": "Phantom truth: holds fake MRNs; never copy into reports/ or the store.",
        "run_name": params.run_name, "seed": params.seed,
        "params_digest": stamp["params_digest"], "code_version": stamp["code_version"],
        "format": ph.format, "grid": grid.to_dict(),
        "n_screened": int(len(df)), "n_included": int(inc.sum()),
        "model": O.model_description(coefs, scale),
        "informative_features": list(O.PARTITION_BETA),
        "uninformative_features": [f for f in FEATURE_NAMES if f not in O.PARTITION_BETA],
        "screening_defects": defects,
        "included_mrns": sorted(df.loc[inc, "mrn"]),
        "realised": {
            "n_failures_included": int(event[inc].sum()),
            "n_deaths_included": int(died[inc].sum()),
            "n_deaths_without_lf_included": int((died & ~event)[inc].sum()),
            "median_followup_months_included": _round(float(np.median(fu_inc)), 3),
            "n_recurrence_sites_included": int(sum(len(sites.get(m, [])) for m in
                                                   df.loc[inc, "mrn"])),
            "n_diameter_ge_5cm_included": int((df.loc[inc, "diameter_cm"] >= 5).sum()),
        },
        "recurrence_site_probabilities": {s: {"involved": _round(a), "not_involved": _round(b)}
                                          for s, (a, b) in weights.items()},
        "partition_feature_pool": {k: [_round(v) for v in feats.loc[inc, k]]
                                   for k in O.PARTITION_BETA},
        "patients": patients,
        "paper_conflicts_handled": "see analysis.phantom.outcomes docstring",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    stamp_path.write_text(json.dumps(stamp, sort_keys=True) + "\n")
    if not math.isfinite(scale):
        raise RuntimeError("phantom: baseline calibration failed")
    return out


def load_truth(params) -> dict:
    """The planted truth of the phantom generated for ``params`` (generate it first)."""
    p = paths.phantom_dir(params.run_name) / "truth.json"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no phantom truth; run `make phantom PARAMS=...` "
                                "or analysis.phantom.generate(params) first")
    return json.loads(p.read_text(encoding="utf-8"))
