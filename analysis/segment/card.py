"""The model card ``models/MODEL_CARD.md``, written from the checkpoints' JSON sidecars.

:func:`comparison_table` (held-out Dice and HD95 of DiUNet and the two baselines, per
station) is also what notebook 02_segment shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis import paths
from analysis.fsutil import atomic_write_text
from analysis.labels import STATIONS
from analysis.paper import DSC
from analysis.segment.checkpoint import default_checkpoint_path, read_sidecar
from analysis.segment.networks import ARCHITECTURES

#: published station-segmentation results beside ours (issue #16), each checked against
#: its source's abstract. DeepStationing: Guo et al., MICCAI 2021 (arXiv:2109.09271), 12
#: stations, four-fold cross-validation on 98 oesophageal cancer patients, mean Dice 81.1%.
#: nnU-Net: Zhang et al., ASTRO annual meeting abstract 2301 (Shandong Cancer Hospital),
#: lymph-node CTVs of 10 levels in NSCLC, 1,013 patients: DSC 0.71-0.86 and mean 95HD
#: 3.12-9.76 mm over the levels.
ANCHORS: tuple[dict, ...] = (
    {"model": "DeepStationing", "dice": "0.811 (mean over 12 stations)", "hd95_mm": "",
     "source": "Guo et al., MICCAI 2021, arXiv:2109.09271; 4-fold CV, 98 oesophageal "
               "cancer CTs"},
    {"model": "nnU-Net station model", "dice": "0.71-0.86 (per level)",
     "hd95_mm": "3.12-9.76 (per level)",
     "source": "Zhang et al., ASTRO abstract 2301; lymph-node CTVs of levels 1-10, 1,013 "
               "NSCLC patients"},
)

ARCH_LABEL = {"diunet": "DiUNet (CT + GTV encoders)", "unet_ct": "UNet, CT only",
              "unet_ct_gtv": "UNet, CT + GTV channels"}


def checkpoint_paths(params) -> dict[str, Path]:
    """Architecture -> checkpoint path (the params' own, and its siblings)."""
    return {a: default_checkpoint_path(params, a) for a in ARCHITECTURES}


def load_cards(params) -> dict[str, dict]:
    """Architecture -> JSON sidecar, for the checkpoints that exist."""
    out = {}
    for arch, p in checkpoint_paths(params).items():
        if p.exists() and p.with_suffix(".json").exists():
            out[arch] = read_sidecar(p)
    return out


def station_table(card: dict) -> pd.DataFrame:
    """Per-station held-out Dice (mean, SD, min) and HD95 (mm) of one checkpoint, with the
    paper's DSC beside them; index: station names."""
    held = card["metrics"].get("heldout", {})
    rows = []
    for st in STATIONS:
        m = held.get(st, {})
        rows.append({"station": st, "dice_mean": m.get("dice_mean"),
                     "dice_sd": m.get("dice_sd"), "dice_min": m.get("dice_min"),
                     "hd95_mm_mean": m.get("hd95_mm_mean"),
                     "hd95_mm_median": m.get("hd95_mm_median"),
                     "paper_dsc": DSC.get(st, "")})
    return pd.DataFrame(rows).set_index("station")


def comparison_table(cards: dict[str, dict]) -> pd.DataFrame:
    """Held-out mean Dice and mean HD95 per station for every architecture, plus the
    mean over stations, epochs and training time."""
    cols = {}
    for arch, card in cards.items():
        held = card["metrics"].get("heldout", {})
        d = {st: held.get(st, {}).get("dice_mean") for st in STATIONS}
        d["mean over stations"] = held.get("mean_over_stations", {}).get("dice_mean")
        h = {st: held.get(st, {}).get("hd95_mm_mean") for st in STATIONS}
        h["mean over stations"] = held.get("mean_over_stations", {}).get("hd95_mm_mean")
        cols[(arch, "dice")] = d
        cols[(arch, "hd95_mm")] = h
    df = pd.DataFrame(cols)
    df.index.name = "station"
    df["paper_dsc"] = [DSC.get(s, "") for s in df.index]
    return df


#: nnU-Net's conventions, what the shipped models do, and what new training can do
CONVENTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("target spacing", "median spacing of the training data",
     "fixed 5 x 4 x 4 mm (= the phantom grid, so also its median)",
     "`target_spacing_from_data: true` uses the median (store training)"),
    ("CT normalisation", "clip to the 0.5 / 99.5 foreground percentiles, then z-score",
     "HU window -1000..1000 mapped to [0, 1]",
     "`normalization: zscore` (foreground = station voxels); recorded as `ct_norm`"),
    ("GTV channel", "(no such channel)", "binary 0 / 1, not normalised", "same"),
    ("patch sampling", "1 patch in 3 forced onto foreground",
     "4 in 5 centred on a station voxel (stations fill ~1% of the CT)", "same"),
    ("sliding window", "Gaussian-weighted blending, overlap 0.5",
     "Gaussian-weighted blending, overlap 0.25 (CPU time)", "`sw_overlap`"),
    ("test-time mirroring", "all axes", "none",
     "`tta_mirror: true`: left-right only, L/R station channels swapped back (the "
     "other axes are not symmetric anatomy)"),
    ("augmentation", "rotation, scaling, elastic, intensity, gamma, mirroring, low-res",
     "rotation about z (0.1 rad), scaling 5%, intensity scale / shift; no gamma, no flip",
     "`gamma_prob` adds gamma 0.7-1.5; `flip_prob` adds L/R flips with label swap"),
    ("loss", "Dice + cross-entropy, deep supervision", "Dice + cross-entropy, no deep "
     "supervision", "same"),
    ("schedule", "SGD (Nesterov), poly decay, 1000 epochs",
     "Adam, cosine decay, 20 epochs (CPU budget)", "`max_epochs`, `learning_rate`"),
    ("device", "GPU with mixed precision", "CPU (2 threads); no GPU was available",
     "`device: auto` uses CUDA with AMP when present; the checkpoint records the device"),
)


def conventions_table() -> pd.DataFrame:
    """nnU-Net's preprocessing / inference conventions beside the shipped models' and the
    options of new training (each deviation with its reason)."""
    return pd.DataFrame([{"item": a, "nnU-Net": b, "shipped models": c, "new training": d}
                         for a, b, c, d in CONVENTIONS]).set_index("item")


def _json_beside(params, kind: str) -> dict | None:
    from analysis.segment.compare import result_path

    p = result_path(params, kind)
    return json.loads(p.read_text()) if p.exists() else None


def _missing(what: str, command: str) -> pd.DataFrame:
    return pd.DataFrame([{"item": what, "note": f"not computed: {command}"}]).set_index("item")


def comparison_frames(params, kind: str = "comparison"
                      ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(each model's and the ceiling's mean Dice and share of the ceiling, all and near-GTV
    stations; paired differences with bootstrap 95% CIs; the verdict sentence), from
    ``models/<kind>_<tag>.json`` (:mod:`analysis.segment.compare`; ``kind`` is
    ``comparison`` or ``comparison_mass``: held-out phantoms with mass effect)."""
    from analysis.segment.compare import comparison_tables, verdict

    res = _json_beside(params, kind)
    if res is None:
        cmd = "python -m analysis.segment.compare --params ..."
        return (_missing("ceiling", cmd), _missing("near-GTV comparison", cmd),
                "No comparison computed for this run.")
    models, pairs = comparison_tables(res)
    pairs.index = pd.Index([f"{sub}: {diff}" for sub, diff in pairs.index],
                           name="stations: difference")
    return models, pairs, verdict(res)


def geometry_frame(params) -> pd.DataFrame:
    """DiUNet's held-out Dice / HD95 at the default grid and the paper's geometry, from
    ``models/geometry_<tag>.json``."""
    from analysis.segment.compare import geometry_table

    res = _json_beside(params, "geometry")
    if res is None:
        return _missing("geometries", "python -m analysis.segment.compare --geometry N")
    return geometry_table(res)


def comparison_section(params, kind: str = "comparison") -> list[str]:
    """Model card lines: the phantom's ceiling, each model's share of it, and DiUNet vs
    the UNets on all and near-tumour stations (models/<kind>_<tag>.json)."""
    from analysis.segment.compare import comparison_tables, verdict

    res = _json_beside(params, kind)
    if res is None:
        return ["Not computed: `python -m analysis.segment.compare --params ...`.", ""]
    models, pairs = comparison_tables(res)
    return [f"{res['n_patients']} held-out phantom patients; the ceiling is the Dice of the "
            "nominal station map (same anatomy, no per-station jitter). " + verdict(res), "",
            models.to_markdown(floatfmt=".3f"), "",
            "The default phantom has no mass effect (the shipped models were trained on it): "
            "the gross tumour tells little about station boundaries there." if kind ==
            "comparison" else "", "",
            "Paired differences of the per-patient mean Dice (bootstrap 95% CI):", "",
            pairs.reset_index().to_markdown(index=False, floatfmt=".3f"), ""]


def geometry_section(params) -> list[str]:
    """Model card lines: DiUNet at the default grid and at the paper's geometry."""
    from analysis.segment.compare import geometry_table

    res = _json_beside(params, "geometry")
    if res is None:
        return ["Not computed: `python -m analysis.segment.compare --geometry N`.", ""]
    t = geometry_table(res)
    return [t.iloc[:, :5].to_markdown(floatfmt=".3f"), "",
            "Per station (Dice):", "", t.iloc[:, 5:].T.to_markdown(floatfmt=".2f"), "",
            "The shipped model was trained on the default grid only; at the paper's "
            "geometry it is applied through resampling to its 5 x 4 x 4 mm spacing.", ""]


def anchors_table() -> pd.DataFrame:
    """Published station-segmentation results to read our numbers against."""
    return pd.DataFrame(list(ANCHORS)).set_index("model")


def cv_table(card: dict) -> pd.DataFrame:
    """Cross-validated per-station Dice and HD95 (mm): mean and SD over patients and each
    fold's mean (``dice_fold1`` ...), with the paper's DSC; from ``metrics["cv"]``
    (:func:`analysis.segment.cv.cv_summary`). Empty when the checkpoint has no CV."""
    cv = card.get("metrics", card).get("cv")
    if not cv:
        return pd.DataFrame()
    rows = []
    stations = {**cv["per_station"], "mean over stations": cv["mean_over_stations"]}
    for st, m in stations.items():
        row = {"station": st, "dice_mean": m["dice_mean"], "dice_sd": m.get("dice_sd")}
        row |= {f"dice_fold{i + 1}": v for i, v in enumerate(m["dice_folds"])}
        row |= {"hd95_mm_mean": m["hd95_mm_mean"], "hd95_mm_sd": m.get("hd95_mm_sd")}
        row |= {f"hd95_mm_fold{i + 1}": v for i, v in enumerate(m.get("hd95_mm_folds", []))}
        row["paper_dsc"] = DSC.get(st, "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("station")


def training_summary(cards: dict[str, dict]) -> pd.DataFrame:
    """One row per architecture: parameters, epochs, best epoch, stop reason, minutes."""
    rows = []
    for arch, card in cards.items():
        m = card["metrics"]
        rows.append({"architecture": arch, "description": ARCH_LABEL[arch],
                     "parameters": m.get("n_parameters"), "epochs_run": m.get("epochs_run"),
                     "best_epoch": m.get("best_epoch"),
                     "best_val_dice": m.get("best_val_dice"),
                     "stop_reason": m.get("stop_reason"),
                     "train_minutes": (m.get("train_seconds") or 0) / 60,
                     "torch_threads": m.get("hardware", {}).get("torch_threads"),
                     "heldout_mean_dice": m.get("heldout", {}).get(
                         "mean_over_stations", {}).get("dice_mean"),
                     "data_hash": card["data_hash"][:16]})
    return pd.DataFrame(rows).set_index("architecture")


def write_store_card(checkpoint: str | Path, path: Path | None = None) -> Path:
    """The card of a model trained on a cohort store's delineations (``<checkpoint>.md``
    beside it): training run, cross-validated per-station Dice / HD95 with per-fold
    values, the paper's DSC and the published anchors."""
    checkpoint = Path(checkpoint)
    card = read_sidecar(checkpoint)
    m = card["metrics"]
    path = path or checkpoint.with_suffix(".md")
    lines = [f"# Station segmentation model `{checkpoint.name}` (trained on a cohort store)",
             "", f"Written by `python -m analysis.segment.train`; training source: store "
             f"({m.get('n_store_patients')} patients with reference stations, "
             f"{m.get('n_skipped_no_reference')} without, skipped); model spacing "
             f"{m.get('target_spacing_mm')} mm; device {m.get('hardware', {}).get('device')}; "
             f"fine-tuned from: {m.get('init_checkpoint') or 'random initialisation'}.", "",
             "## Training run", "",
             training_summary({card["architecture"]: card}).to_markdown(floatfmt=".4g"), "",
             f"## Per station: {m.get('heldout_kind')}", ""]
    cvt = cv_table(card)
    lines += [cvt.to_markdown(floatfmt=".3f") if not cvt.empty
              else station_table(card).to_markdown(floatfmt=".3f"), "",
              "## Published anchors", "", anchors_table().to_markdown(), "",
              "## Segment parameters", "", "```json",
              json.dumps(card["segment_params"], indent=1), "```", ""]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def write_model_card(params, path: Path | None = None, notes: str = "", *,
                     checkpoint: str | Path | None = None) -> Path:
    """Write ``models/MODEL_CARD.md`` from the checkpoints' JSON sidecars, or, for a model
    trained on a cohort store (``segment.train_source: store``), its own card beside
    ``checkpoint`` (:func:`write_store_card`): the shipped card is never overwritten by a
    department's run."""
    if checkpoint is not None or params.segment.train_source == "store":
        return write_store_card(checkpoint or paths.resolve(params.segment.checkpoint), path)
    cards = load_cards(params)
    path = path or paths.MODELS_DIR / "MODEL_CARD.md"
    lines = ["# Station segmentation models (DiUNet and baselines)", "",
             "**Trained on the synthetic phantom only: every number here is synthetic.** "
             "Written by `python -m analysis.segment.train` from the JSON beside each "
             "checkpoint.", ""]
    if notes:
        lines += [notes, ""]
    if not cards:
        lines.append("No checkpoint found.")
    else:
        lines += ["## Training runs", "", training_summary(cards).to_markdown(floatfmt=".4g"),
                  ""]
        first = next(iter(cards.values()))
        hw = first["metrics"].get("hardware", {})
        lines += [f"- Hardware: {hw.get('cpu')}, torch {hw.get('torch')}, "
                  f"MONAI {hw.get('monai')}, Python {hw.get('python')}",
                  f"- Seed: {first['seed']}; data hash (SHA-256 of the training patients' "
                  f"arrays): `{first['data_hash']}`",
                  f"- Phantom code SHA-256: `{first['metrics'].get('phantom_code_sha256')}`",
                  f"- Phantom grid: {first['metrics'].get('phantom_grid')}",
                  f"- Held-out patients (other seeds): "
                  f"{first['metrics'].get('heldout_n_patients')}", "",
                  "## Segment parameters", "", "```json",
                  json.dumps(first["segment_params"], indent=1), "```", ""]
        lines += ["## Held-out Dice and HD95 (mm) per station, all architectures", "",
                  comparison_table(cards).to_markdown(floatfmt=".3f"), ""]
        lines += ["## The phantom's ceiling and the dual encoder near the tumour", ""]
        lines += comparison_section(params)
        lines += ["### The same comparison on held-out phantoms with mass effect", "",
                  "`phantom.mass_effect`: bulky nodes (half axis >= 10 mm) push the "
                  "vessels, airway, oesophagus and heart they would overlap aside, so that "
                  "these touch the node with their volume kept; the reference stations "
                  "move with them, and the station holding a node includes it. The "
                  "shipped models were trained without it; the ceiling knows the pushed "
                  "organs and the nodes.", ""]
        lines += comparison_section(params, "comparison_mass")
        lines += ["## Both geometries: default grid and the paper's CT (DiUNet)", ""]
        lines += geometry_section(params)
        lines += ["## Published anchors", "", anchors_table().to_markdown(), "",
                  "## Preprocessing and inference against nnU-Net's conventions", "",
                  conventions_table().to_markdown(), "",
                  "## Domain check (QC) statistics", "",
                  "Each checkpoint holds `metrics.training_stats` (station volumes, lung "
                  "volume, HU, field of view, held-out softmax confidence) for "
                  "`analysis.segment.qc.check_prediction`; the shipped ones got them "
                  "afterwards (`python -m analysis.segment.backfill`): "
                  f"{first['metrics'].get('training_stats', {}).get('source', 'at training')}.",
                  ""]
        for arch, card in cards.items():
            lines += [f"## {ARCH_LABEL[arch]} (`{arch}`): held-out per station", "",
                      station_table(card).to_markdown(floatfmt=".3f"), ""]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
