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
(model card), :mod:`~analysis.segment.report` (what 02_segment shows).
"""

from __future__ import annotations

from analysis.segment.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from analysis.segment.export import export_patient
from analysis.segment.infer import predict_cohort, predict_stations
from analysis.segment.metrics import dice, station_metrics
from analysis.segment.qc import check_prediction
from analysis.segment.report import evaluate_cohort, load_or_train, write_qc

__all__ = ["Checkpoint", "check_prediction", "dice", "evaluate_cohort", "export_patient",
           "load_checkpoint", "load_or_train", "predict_cohort", "predict_stations",
           "save_checkpoint", "station_metrics", "write_qc"]
