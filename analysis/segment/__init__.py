"""Station segmentation: DiUNet and baselines (train, infer, evaluate, check, export).

Modules: :mod:`~analysis.segment.networks` (DiUNet, baselines, device),
:mod:`~analysis.segment.transforms` (normalisation, resampling, augmentation),
:mod:`~analysis.segment.data` (phantom and cohort-store training data),
:mod:`~analysis.segment.fit` (one training run), :mod:`~analysis.segment.train`
(``make train``), :mod:`~analysis.segment.cv` (store training, k-fold CV ->
``stations_cv``), :mod:`~analysis.segment.infer` (sliding window, fast path,
post-processing, cohort), :mod:`~analysis.segment.qc` (domain check of a prediction),
:mod:`~analysis.segment.backfill` (QC statistics for old checkpoints),
:mod:`~analysis.segment.metrics` (Dice, HD95 in mm), :mod:`~analysis.segment.compare`
(ceiling, near-tumour comparison, geometries), :mod:`~analysis.segment.checkpoint`,
:mod:`~analysis.segment.export` (NIfTI, RTSTRUCT), :mod:`~analysis.segment.card`
(model card), :mod:`~analysis.segment.report` (what 02_segment shows),
:mod:`~analysis.segment.step` (the step in one call: :func:`run_segment`).
"""

from __future__ import annotations

import importlib

#: the public face, loaded on first use: importing one light module of this package
#: (``segment.metrics``, ``segment.export``) must not import torch and MONAI
_FACE = {
    "Checkpoint": "checkpoint", "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint", "export_patient": "export",
    "predict_cohort": "infer", "predict_stations": "infer", "dice": "metrics",
    "station_metrics": "metrics", "check_prediction": "qc", "evaluate_cohort": "report",
    "load_or_train": "report", "write_qc": "report", "SegmentResult": "step",
    "run_segment": "step",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(importlib.import_module(f"analysis.segment.{_FACE[name]}"), name)
    raise AttributeError(f"module 'analysis.segment' has no attribute {name!r}")
