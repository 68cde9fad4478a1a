"""A domain check on every station prediction: is this CT like the model's training data?

:func:`training_statistics` summarises the training patients (own grids): each station's
volume, the field of view, the lung volume, the body's HU and the HU inside the stations.
It is stored in the checkpoint (``metrics["training_stats"]``, with the mean softmax
confidence of the held-out predictions). :func:`check_prediction` compares one
prediction with it and returns a :class:`PredictionQC`:

* stations found; a station present in at least 95% of training patients but absent here
  counts as missing; **2 or more missing** -> unusable;
* each station's volume against its training range: a volume below a third of the
  training minimum or above 3 times the maximum is an outlier; **3 or more** -> unusable;
* connected components (26-connectivity) per station; **a station in more than 3
  pieces** -> unusable (a station is one region);
* mean softmax confidence over the predicted station voxels (model space); **below the
  training held-out minimum and more than 4 SD (at least 0.02 each) under its mean** ->
  unusable;
* image features: the lung volume and the median HU inside the predicted stations
  (mediastinal fat, vessels and nodes); **a value outside the training range and more
  than 4 SD from its mean** -> unusable (the CT is unlike the training CTs). The field of
  view (z, y, x) and the body's median HU are compared the same way but only warn
  (``.warnings``): the model infers inside the box around the lungs, so a wider scan is
  not by itself out of domain. Each SD is at least :data:`MIN_SD` (a phantom trained on
  one grid has SD 0 for the field of view).

The rules are deliberately wide (4 SD, factor 3): they catch a CT from another domain,
not an unusual patient. What cannot be checked (no statistics in the checkpoint, no
confidence passed) is listed in ``.unchecked``, never silently passed. A model trained
on the synthetic phantom says so in ``.notes``, and, when it fails, its reasons end with
the command that trains on the department's own delineations. Applied to a cohort that
is not the phantom, such a model makes EVERY prediction unusable (``phantom_model``),
whatever the other rules say, unless ``segment.accept_phantom_model: true``, which keeps
them with the same reason and command as a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from analysis.grid import Grid
from analysis.labels import N_STATIONS, STATIONS
from analysis.segment.transforms import LUNG_HU, coarse_body

#: HU thresholds: body (vs outside air), lung / air inside the body
#: a station present in this share of training patients is expected
EXPECTED_PRESENT = 0.95
MAX_MISSING = 1
VOLUME_FACTOR = 3.0
MAX_VOLUME_OUTLIERS = 2
MAX_COMPONENTS = 3
N_SD = 4.0
#: image features compared with the training CTs: out of range -> unusable
IMAGE_FEATURES = ("lung_volume_ml", "station_hu_median")
#: image features that only warn when out of range
WARN_FEATURES = ("fov_z_mm", "fov_y_mm", "fov_x_mm", "body_hu_median")
#: the smallest spread assumed for each image feature and the confidence, so that a
#: training set of identical grids (SD 0) does not flag every other field of view
MIN_SD = {"fov_z_mm": 40.0, "fov_y_mm": 60.0, "fov_x_mm": 60.0, "lung_volume_ml": 500.0,
          "body_hu_median": 15.0, "station_hu_median": 15.0, "confidence": 0.02}
TRAIN_COMMAND = ("python -m analysis.segment.train --params <your params> with "
                 "segment.train_source: store (and segment.cv_folds: 5 to cross-validate) "
                 "trains on your department's delineated stations (stations_ref)")


def image_features(ct_hu: np.ndarray, stations: np.ndarray, spacing_mm: Sequence[float], *,
                   within: tuple[slice, ...] | None = None) -> dict[str, float]:
    """Field of view (mm), lung volume (ml: voxels below ``LUNG_HU`` inside the body, holes
    filled slice by slice, on a ~4 mm copy), body median HU and the median HU inside
    ``stations`` (> 0) of one CT (z, y, x). ``within``: a box (slices) outside which
    ``stations`` is 0, so that only it is searched (the result is the same)."""
    ct = np.asarray(ct_hu)
    sp = np.asarray(spacing_mm, dtype=float)
    small, body, step = coarse_body(ct, sp, 4.0)
    lung = body & (small < LUNG_HU)
    st = np.asarray(stations)
    if st.shape != ct.shape:
        raise ValueError(f"image_features: stations shape {st.shape} != ct shape {ct.shape}")
    box = within if within is not None else (slice(None),) * ct.ndim
    inside = ct[box][st[box] > 0].astype(float)
    return {"fov_z_mm": float(ct.shape[0] * sp[0]), "fov_y_mm": float(ct.shape[1] * sp[1]),
            "fov_x_mm": float(ct.shape[2] * sp[2]),
            "lung_volume_ml": float(lung.sum() * np.prod(sp * step) / 1000.0),
            "body_hu_median": float(np.median(small[body])) if body.any() else float("nan"),
            "station_hu_median": float(np.median(inside)) if inside.size else float("nan")}


def _summary(values: Sequence[float]) -> dict:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"n": 0}
    return {"n": int(v.size), "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def training_statistics(patients: Sequence[dict]) -> dict:
    """Per-station volume (ml) and image-feature summaries of training patients.

    ``patients``: dicts with ``ct`` (HU), ``label`` (stations 0..16) and ``spacing_mm``,
    on their own grids. Returns ``{"n_patients", "station_volume_ml": {st: {n, mean, sd,
    min, max, frac_present}}, "image": {feature: {n, mean, sd, min, max}}}``.
    """
    vols: dict[str, list[float]] = {s: [] for s in STATIONS}
    feats: dict[str, list[float]] = {f: [] for f in IMAGE_FEATURES + WARN_FEATURES}
    for p in patients:
        vox_ml = float(np.prod(p["spacing_mm"])) / 1000.0
        counts = np.bincount(np.asarray(p["label"]).ravel(), minlength=N_STATIONS + 1)
        for k, s in enumerate(STATIONS, start=1):
            if counts[k]:
                vols[s].append(counts[k] * vox_ml)
        for f, v in image_features(p["ct"], p["label"], p["spacing_mm"]).items():
            feats[f].append(v)
    n = len(patients)
    return {"n_patients": n,
            "station_volume_ml": {s: {**_summary(v), "frac_present": len(v) / max(n, 1)}
                                  for s, v in vols.items()},
            "image": {f: _summary(v) for f, v in feats.items()}}


@dataclass
class PredictionQC:
    """The domain check of one prediction (see the module docstring for the rules)."""

    usable: bool
    reasons: list[str]
    stations_found: int
    missing_stations: list[str]
    volume_ml: dict[str, float]
    volume_outliers: list[str]
    components: dict[str, int]
    confidence: float
    image: dict[str, float]
    unchecked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: one short code per reason (no_station, split_station, missing_stations,
    #: volume_outliers, lung_volume_ml, station_hu_median, low_confidence, phantom_model)
    codes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        """One flat row for the ``segment_qc`` table (reasons joined by "; ")."""
        return {"usable": bool(self.usable), "reasons": "; ".join(self.reasons),
                "reason_codes": " ".join(self.codes),
                "stations_found": self.stations_found,
                "missing_stations": " ".join(self.missing_stations),
                "volume_outliers": " ".join(self.volume_outliers),
                "max_components": max(self.components.values(), default=0),
                "confidence": self.confidence, **self.image,
                "warnings": "; ".join(self.warnings), "unchecked": "; ".join(self.unchecked)}


def _stats_of(checkpoint) -> tuple[dict | None, str]:
    metrics = getattr(checkpoint, "metrics", None)
    if metrics is None and isinstance(checkpoint, dict):
        metrics = checkpoint.get("metrics", checkpoint)
    metrics = metrics or {}
    return metrics.get("training_stats"), metrics.get("train_source", "phantom")


def _union_of_boxes(boxes: Sequence[tuple[slice, ...] | None], ndim: int
                    ) -> tuple[slice, ...]:
    """The smallest box holding every box of ``boxes`` (an empty box when all are None)."""
    present = [b for b in boxes if b is not None]
    if not present:
        return (slice(0, 0),) * ndim
    return tuple(slice(min(b[ax].start for b in present), max(b[ax].stop for b in present))
                 for ax in range(ndim))


def check_prediction(labels: np.ndarray, ct: np.ndarray, grid: Grid, checkpoint, *,
                     confidence: float | None = None, on_phantom: bool = True,
                     accept_phantom_model: bool = False) -> PredictionQC:
    """Check one station prediction against the checkpoint's training statistics.

    Parameters
    ----------
    labels : ndarray of uint8, shape (z, y, x)
        The predicted stations (0..16) on ``grid``.
    ct : ndarray, shape (z, y, x)
        The CT in HU on ``grid``.
    grid : Grid
    checkpoint : Checkpoint (or its metrics dict)
        ``metrics["training_stats"]`` (:func:`training_statistics`) holds the reference.
    confidence : float, optional
        Mean softmax confidence of the prediction
        (``predict_stations(..., return_confidence=True)``).
    on_phantom : bool
        Whether the CT belongs to the synthetic phantom cohort (``params.is_phantom``).
        A model trained on phantoms applied to any other cohort makes the prediction
        unusable (code ``phantom_model``, with the training command), whatever the
        other rules say, unless ``accept_phantom_model``.
    accept_phantom_model : bool
        ``segment.accept_phantom_model``: keep such predictions; the reason and the
        training command are then given as a warning.
    """
    lab = np.asarray(labels)
    sp = np.asarray(grid.spacing_mm, dtype=float)
    vox_ml = float(np.prod(sp)) / 1000.0
    # every station is counted and split into components inside its own box (one pass
    # over the volume, by find_objects); the HU inside the stations is read inside the
    # union of the boxes unless some label lies outside 0..N_STATIONS
    counts = np.zeros(N_STATIONS + 1, dtype=np.intp)
    comps: dict[str, int] = {}
    structure = np.ones((3, 3, 3), dtype=bool)
    boxes = ndimage.find_objects(lab, max_label=N_STATIONS)
    for k, box in enumerate(boxes, start=1):
        if box is not None:
            sub = lab[box] == k
            counts[k] = np.count_nonzero(sub)
            comps[STATIONS[k - 1]] = int(ndimage.label(sub, structure=structure)[1])
    found = [s for k, s in enumerate(STATIONS, start=1) if counts[k]]
    volume = {s: float(counts[k] * vox_ml) for k, s in enumerate(STATIONS, start=1)}
    within = None
    if lab.size and int(lab.max()) <= N_STATIONS:
        within = _union_of_boxes(boxes, lab.ndim)
    image = image_features(ct, lab, sp, within=within)
    stats, source = _stats_of(checkpoint)
    reasons: list[str] = []
    codes: list[str] = []
    warns: list[str] = []

    def flag(code: str, text: str) -> None:
        codes.append(code)
        reasons.append(text)

    unchecked: list[str] = []
    missing: list[str] = []
    outliers: list[str] = []
    if len(found) == 0:
        flag("no_station", "no station predicted")
    split = sorted(s for s, c in comps.items() if c > MAX_COMPONENTS)
    if split:
        flag("split_station", f"stations in more than {MAX_COMPONENTS} pieces: {', '.join(split)}")
    if stats is None:
        unchecked.append("station volumes, missing stations, image features and confidence "
                         "(the checkpoint holds no training statistics: "
                         "python -m analysis.segment.backfill --params ... adds them)")
    else:
        sv = stats["station_volume_ml"]
        missing = [s for s in STATIONS if sv[s].get("frac_present", 0) >= EXPECTED_PRESENT
                   and counts[STATIONS.index(s) + 1] == 0]
        if len(missing) > MAX_MISSING:
            flag("missing_stations", f"{len(missing)} stations present in >= {EXPECTED_PRESENT:.0%} of "
                           f"training patients are missing: {', '.join(missing)}")
        outliers = [s for s in found if sv[s].get("n", 0) > 0 and not (
            sv[s]["min"] / VOLUME_FACTOR <= volume[s] <= sv[s]["max"] * VOLUME_FACTOR)]
        if len(outliers) > MAX_VOLUME_OUTLIERS:
            flag("volume_outliers", f"{len(outliers)} station volumes outside 1/{VOLUME_FACTOR:g} of "
                           f"the training minimum to {VOLUME_FACTOR:g} x the maximum: "
                           f"{', '.join(outliers)}")
        for f, v in image.items():
            ref = stats["image"].get(f, {})
            if not ref.get("n") or not np.isfinite(v):
                continue
            far = abs(v - ref["mean"]) > N_SD * max(ref["sd"], MIN_SD[f])
            text = (f"{f} = {v:.4g} outside the training range [{ref['min']:.4g}, "
                    f"{ref['max']:.4g}] (mean {ref['mean']:.4g}, SD {ref['sd']:.3g})")
            if far and not ref["min"] <= v <= ref["max"] and f in IMAGE_FEATURES:
                flag(f, text)
            elif far and not ref["min"] <= v <= ref["max"]:
                warns.append(text)
        conf_ref = stats.get("confidence", {})
        if confidence is None:
            unchecked.append("softmax confidence (not passed)")
        elif not conf_ref.get("n"):
            unchecked.append("softmax confidence (no training reference)")
        elif not np.isfinite(confidence) or (
                confidence < conf_ref["min"]
                and confidence < conf_ref["mean"] - N_SD * max(conf_ref["sd"],
                                                               MIN_SD["confidence"])):
            flag("low_confidence", f"mean softmax confidence {confidence:.3f} below the training "
                           f"minimum {conf_ref['min']:.3f} (mean {conf_ref['mean']:.3f})")
    notes = []
    if source == "phantom":
        notes.append("this model was trained on synthetic phantoms only")
        foreign = not on_phantom
        why = ("the model was trained on synthetic phantoms, not on CTs like this one"
               + (" (a cohort that is not the phantom)" if foreign else ""))
        if foreign and accept_phantom_model:
            warns.append(f"{why}; kept by segment.accept_phantom_model: true: {TRAIN_COMMAND}")
        elif foreign or reasons:
            keep = (" (segment.accept_phantom_model: true keeps the predictions)"
                    if foreign else "")
            flag("phantom_model", f"{why}{keep}: {TRAIN_COMMAND}")
    return PredictionQC(usable=not reasons, reasons=reasons, stations_found=len(found),
                        missing_stations=missing, volume_ml=volume, volume_outliers=outliers,
                        components=comps,
                        confidence=float("nan") if confidence is None else float(confidence),
                        image=image, unchecked=unchecked, warnings=warns, codes=codes,
                        notes=notes)


def confidence_stats(confs: Sequence[float]) -> dict:
    """n, mean, SD and minimum of per-patient mean softmax confidences (NaN dropped)."""
    c = np.asarray([v for v in confs if np.isfinite(v)], dtype=float)
    if c.size == 0:
        return {"n": 0}
    return {"n": int(c.size), "mean": float(c.mean()), "sd": float(c.std(ddof=1))
            if c.size > 1 else 0.0, "min": float(c.min())}
