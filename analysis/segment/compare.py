"""Does the dual encoder help near the tumour? DiUNet vs two UNets against the phantom's
ceiling, paired over held-out phantom patients.

``python -m analysis.segment.compare --params params/default.yaml`` writes
``models/comparison_default.json`` (and, with ``--geometry N``,
``models/geometry_default.json``: DiUNet at the default grid and at the paper's CT
geometry), which the model card and 02_segment read (:func:`result_path`).

* Held-out phantom patients (seeds never used in training) are predicted by each
  checkpoint through the full inference pipeline.
* The **ceiling** is the Dice of the nominal station map: the patient's own anatomy with
  the stations placed without their per-patient jitter (2.5 mm SD shift, size factor
  0.9-1.12), which the CT does not show (station fat looks like the fat around it). No
  predictor that sees only the CT can beat it on average; each model's Dice is also
  given as a share of it.
* **Near the tumour**: the stations whose reference voxels come within ``near_mm``
  (10 mm) of gross tumour (GTV ∪ GTVnd), per patient.
* Per patient, the mean Dice over stations (all, and near) is computed per model; the
  paired difference between two models is bootstrapped over patients (percentile 95% CI,
  ``n_boot`` resamples, seeded by ``params.seed``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm.auto import tqdm

from analysis import paths
from analysis.fsutil import atomic_write_text
from analysis.grid import Grid
from analysis.labels import N_STATIONS, STATIONS
from analysis.paper import CT_PIXEL_MM, CT_SHAPE_YX, CT_SLICE_MM
from analysis.params import load_params
from analysis.segment.checkpoint import default_checkpoint_path, load_checkpoint
from analysis.segment.metrics import dice
from analysis.segment.networks import ARCHITECTURES

NEAR_MM = 10.0
PAIRS: tuple[tuple[str, str], ...] = (("diunet", "unet_ct"), ("diunet", "unet_ct_gtv"),
                                      ("unet_ct_gtv", "unet_ct"))


def _checkpoints(params) -> dict:
    return {a: default_checkpoint_path(params, a) for a in ARCHITECTURES}


def near_stations(label: np.ndarray, gross: np.ndarray, spacing_mm: Sequence[float],
                  near_mm: float = NEAR_MM) -> list[str]:
    """Stations with a reference voxel within ``near_mm`` of gross tumour (EDT in mm).
    Example: a station voxel 2 voxels of 4 mm from the tumour (8 mm) is near at 10 mm."""
    if not np.asarray(gross).any():
        return []
    dist = ndimage.distance_transform_edt(~np.asarray(gross, dtype=bool), sampling=spacing_mm)
    lab = np.asarray(label)
    mins = ndimage.minimum(dist, labels=lab, index=np.arange(1, N_STATIONS + 1))
    return [s for s, d in zip(STATIONS, mins, strict=True)
            if np.isfinite(d) and d <= near_mm and (lab == STATIONS.index(s) + 1).any()]


def per_patient_dice(preds: dict[str, np.ndarray], label: np.ndarray) -> pd.DataFrame:
    """Dice per station (rows) and predictor (columns) for one patient."""
    return pd.DataFrame({m: [dice(p == k, label == k) for k in range(1, N_STATIONS + 1)]
                         for m, p in preds.items()}, index=pd.Index(STATIONS, name="station"))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> dict:
    """Mean of ``a - b`` over patients with a percentile bootstrap 95% CI (patients
    resampled). Example: a - b = (1, 1, 1) -> mean 1, CI (1, 1)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return {"n": 0, "mean_diff": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan")}
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"n": int(d.size), "mean_diff": float(d.mean()), "ci_low": float(lo),
            "ci_high": float(hi)}


def compare(params, make_patient: Callable, n_patients: int = 16, n_boot: int = 2000,
            near_mm: float = NEAR_MM) -> dict:
    """Run the comparison on ``n_patients`` held-out phantoms of ``phantom.grid``."""
    from analysis.segment.data import heldout_with_ceiling
    from analysis.segment.infer import predict_stations

    grid = Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm)
    cks = {a: load_checkpoint(p) for a, p in _checkpoints(params).items() if p.exists()}
    mass = bool(params.phantom.mass_effect)
    pts = heldout_with_ceiling(params.seed, n_patients, grid, make_patient,
                               mass_effect=mass)
    rows = []
    for i, p in enumerate(tqdm(pts, desc="compare")):
        preds = {a: predict_stations(p["ct"], p["mask"], grid, ck, params,
                                     patient=f"heldout{i}") for a, ck in cks.items()}
        preds["ceiling"] = p["nominal"]
        d = per_patient_dice(preds, p["label"])
        near = set(near_stations(p["label"], p["mask"], grid.spacing_mm, near_mm))
        d["near_gtv"] = [s in near for s in d.index]
        d.insert(0, "patient", i + 1)
        rows.append(d.reset_index())
    long = pd.concat(rows, ignore_index=True)
    return {**summarise(long, list(cks), n_boot, params.seed, near_mm), "mass_effect": mass}


def summarise(long: pd.DataFrame, models: Sequence[str], n_boot: int, seed: int,
              near_mm: float = NEAR_MM) -> dict:
    """Per model and subset (all / near): mean Dice (patients' means), share of the
    ceiling; paired bootstrap differences for :data:`PAIRS`."""
    out: dict = {"n_patients": int(long["patient"].nunique()), "near_mm": near_mm,
                 "n_boot": n_boot, "models": {}, "pairs": {}}
    cols = list(models) + ["ceiling"]
    for subset, rows in (("all", long), ("near_gtv", long[long["near_gtv"]])):
        per_pt = rows.groupby("patient")[cols].mean()
        out["models"][subset] = {
            m: {"dice_mean": float(per_pt[m].mean()),
                "share_of_ceiling": float(per_pt[m].mean() / per_pt["ceiling"].mean())}
            for m in cols}
        out["models"][subset]["n_station_cases"] = int(len(rows))
        out["pairs"][subset] = {f"{a} - {b}": paired_bootstrap(per_pt[a], per_pt[b], n_boot,
                                                                seed)
                                for a, b in PAIRS if a in per_pt and b in per_pt}
    return out


def geometry_eval(params, make_patient: Callable, grids: dict[str, Grid], n_patients: int,
                  architecture: str = "diunet") -> dict:
    """One checkpoint on held-out phantoms drawn on each of ``grids`` (name -> grid):
    mean over patients of the mean station Dice and HD95 (mm), and per station."""
    from analysis.segment.data import generate_patients
    from analysis.segment.infer import predict_stations
    from analysis.segment.metrics import station_metrics

    ck = load_checkpoint(_checkpoints(params)[architecture])
    out = {}
    for name, grid in grids.items():
        frames = []
        for i, p in enumerate(generate_patients(params.seed, "heldout", n_patients, grid,
                                                desc=f"geometry {name}",
                                                make_patient=make_patient)):
            pred = predict_stations(p["ct"], p["mask"], grid, ck, params,
                                    patient=f"heldout{i}")
            frames.append(station_metrics(pred, p["label"], grid.spacing_mm)
                          .assign(patient=i + 1).reset_index())
        long = pd.concat(frames, ignore_index=True)
        per_st = long.groupby("station")[["dice", "hd95_mm"]].mean()
        out[name] = {"shape_zyx": list(grid.shape_zyx), "spacing_mm": list(grid.spacing_mm),
                     "n_patients": n_patients,
                     "dice_mean": float(per_st["dice"].mean()),
                     "hd95_mm_mean": float(per_st["hd95_mm"].mean()),
                     "per_station": {s: {"dice": float(per_st.loc[s, "dice"]),
                                         "hd95_mm": float(per_st.loc[s, "hd95_mm"])}
                                     for s in STATIONS}}
    return out


def geometry_table(result: dict) -> pd.DataFrame:
    """Mean Dice and HD95 per geometry (rows) and per station (columns Dice)."""
    rows = [{"geometry": k, "shape_zyx": "x".join(map(str, v["shape_zyx"])),
             "spacing_mm": ", ".join(f"{s:g}" for s in v["spacing_mm"]),
             "n_patients": v["n_patients"], "dice_mean": v["dice_mean"],
             "hd95_mm_mean": v["hd95_mm_mean"],
             **{f"dice_{s}": v["per_station"][s]["dice"] for s in STATIONS}}
            for k, v in result.items()]
    return pd.DataFrame(rows).set_index("geometry")


def result_path(params, kind: str):
    """``<kind>_<tag>.json`` beside the params' checkpoint, ``tag`` being the checkpoint's
    name without its architecture (``models/diunet_default.pt`` -> ``default``), so that
    every run using the shipped models finds the shipped comparison."""
    ck = paths.resolve(params.segment.checkpoint)
    tag = ck.stem.removeprefix(f"{params.segment.architecture}_")
    return ck.parent / f"{kind}_{tag}.json"


def comparison_tables(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(models table: mean Dice and share of ceiling, all and near-GTV stations;
    pairs table: paired differences with bootstrap 95% CIs)."""
    m = pd.DataFrame({(sub, k): {model: v[k] for model, v in res.items()
                                 if isinstance(v, dict)}
                      for sub, res in result["models"].items()
                      for k in ("dice_mean", "share_of_ceiling")})
    m.columns = [f"{sub}_{k}" for sub, k in m.columns]
    m.index.name = "model"
    p = pd.DataFrame([{"subset": sub, "difference": name, **v}
                      for sub, pairs in result["pairs"].items() for name, v in pairs.items()])
    return m, p.set_index(["subset", "difference"])


def verdict(result: dict) -> str:
    """One sentence on DiUNet vs UNet (CT) near the tumour, whichever way it comes out."""
    v = result["pairs"]["near_gtv"].get("diunet - unet_ct")
    if not v or not v["n"]:
        return "No near-tumour comparison (no checkpoint pair or no station near a tumour)."
    if v["ci_low"] > 0:
        word = "better than"
    elif v["ci_high"] < 0:
        word = "worse than"
    else:
        word = "not distinguishable from"
    return (f"Near the tumour (stations within {result['near_mm']:g} mm of GTV ∪ GTVnd), "
            f"DiUNet is {word} the UNet on CT alone: mean Dice difference "
            f"{v['mean_diff']:+.3f} (95% CI {v['ci_low']:+.3f} to {v['ci_high']:+.3f}, "
            f"{v['n']} held-out phantom patients, paired bootstrap).")


def main(argv: list[str] | None, make_patient: Callable) -> None:
    """``python -m analysis.phantom.segmentation compare ...`` (the phantom supplies the
    held-out patients)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--n-patients", type=int, default=16)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--mass-effect", action="store_true",
                    help="held-out phantoms with mass effect (models/comparison_mass_<tag>"
                         ".json); the shipped models were trained without it")
    ap.add_argument("--geometry", type=int, metavar="N",
                    help="instead: DiUNet on N held-out phantoms at the default grid and at "
                         "the paper's geometry (models/geometry_<run>.json)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.geometry:
        grids = {"default": Grid(params.phantom.grid.shape_zyx, params.phantom.grid.spacing_mm),
                 "paper": Grid((93, *CT_SHAPE_YX), (CT_SLICE_MM, CT_PIXEL_MM, CT_PIXEL_MM))}
        res = geometry_eval(params, make_patient, grids, args.geometry)
        path = result_path(params, "geometry")
        atomic_write_text(path, json.dumps(res, indent=1, sort_keys=True) + "\n")
        print(f"[compare] {path}\n{geometry_table(res).iloc[:, :6].to_string()}")
        return
    if args.mass_effect:
        params = params.model_copy(update={"phantom": params.phantom.model_copy(
            update={"mass_effect": True})})
    res = compare(params, make_patient, args.n_patients, args.n_boot)
    path = result_path(params, "comparison_mass" if args.mass_effect else "comparison")
    atomic_write_text(path, json.dumps(res, indent=1, sort_keys=True) + "\n")
    print(f"[compare] {path}\n{verdict(res)}")

