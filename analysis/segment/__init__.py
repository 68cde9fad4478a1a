"""Station segmentation: DiUNet and baselines (train, infer, evaluate, export).

Modules: :mod:`~analysis.segment.networks` (DiUNet, baselines),
:mod:`~analysis.segment.transforms`, :mod:`~analysis.segment.data` (phantom training
data), :mod:`~analysis.segment.train` (``make train``), :mod:`~analysis.segment.infer`
(sliding window, fast path, post-processing, cohort), :mod:`~analysis.segment.metrics`
(Dice, HD95 in mm), :mod:`~analysis.segment.checkpoint`, :mod:`~analysis.segment.export`
(NIfTI, RTSTRUCT), :mod:`~analysis.segment.card` (model card).
"""

from __future__ import annotations
