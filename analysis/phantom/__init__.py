"""The synthetic phantom cohort: a department export calibrated to the paper (SPEC).

Every number made from it is synthetic. What it holds:

- anatomy (:mod:`.anatomy`): body, subcutaneous fat, muscle, ribs, lungs with diaphragm
  domes, liver, heart, trachea, carina and main / lobar bronchi, oesophagus, aorta
  (ascending, arch, descending), pulmonary trunk and arteries, SVC, azygos arch, arch
  branches, left brachiocephalic vein, vertebrae with discs and posterior elements,
  sternum, mediastinal fat; in HU with noise; each patient differs in size, position,
  rotation and a smooth deformation;
- the 16 stations (:mod:`.stations`) as disjoint regions placed by IASLC rules;
- disease and CTV (:mod:`.disease`, :func:`make_patient`);
- a clinical table with Table 3's counts (:mod:`.clinical`, :func:`sample_clinical`);
- outcomes from a planted Cox-type model and recurrence sites (:mod:`.outcomes`,
  :func:`sample_outcomes`), written with the model to ``truth.json``;
- the export itself, screening defects and fake identifiers (:mod:`.export`,
  :func:`generate`, :func:`load_truth`).

The planted model, and which of the paper's figures the generator matches and which it
cannot, are documented in :mod:`analysis.phantom.outcomes`. In short: local-failure
hazard ``h0(t) exp(beta . x)`` with Weibull baseline (shape 1.2); HR 1.635
(``phantom.planted_hr_diameter``) for diameter >= 5 cm, 1.8 for male sex, 1.35 for age
>= 60, 1.5 for smoking index > 400, and the partition features ``RgtvLN_13``,
``RgtvLN_14`` (beta 1.4 per unit), ``RctvLN_7`` (beta -0.8) and ``n_LN_GTVnd`` (beta 0.10
per station); follow-up uniform on 12-60 months (median 36); baseline scale set so that
exactly 94 of 180 included patients fail (``round(94/180 n)`` at other n).

Run it with ``python -m analysis.phantom --params params/default.yaml`` (``make phantom``).
"""

from __future__ import annotations

from analysis.phantom.clinical import sample_clinical
from analysis.phantom.disease import make_patient
from analysis.phantom.export import generate, load_truth
from analysis.phantom.outcomes import sample_outcomes

__all__ = ["generate", "load_truth", "make_patient", "sample_clinical", "sample_outcomes"]
