"""Steps 06-07 (notebooks 06_model, 07_model_eval): the paper's recurrence model.

- :mod:`analysis.model.fit`: labels and inputs from the store, RFE + random forest as one
  scikit-learn pipeline, Table 6 (06);
- :mod:`analysis.model.artefact`: the fitted model saved and loaded with its hashes;
- :mod:`analysis.model.evaluate`: Table 7, repeated nested CV, 0.632+ (07);
- :mod:`analysis.model.calibration`: calibration and decision curves;
- :mod:`analysis.model.features`: selection stability, permutation importance;
- :mod:`analysis.model.plots`, :mod:`analysis.model.verdict`,
  :mod:`analysis.model.tripod`: figures, the plain-language verdict, TRIPOD+AI;
- :mod:`analysis.model.agreement`: the procedure on AI vs reference stations (issue 25);
- :mod:`analysis.model.step`: each step in one call (:func:`run_model`,
  :func:`run_model_eval`).
"""

from __future__ import annotations

from analysis.model.artefact import load_model, manifest_entry, save_model
from analysis.model.evaluate import (
    bootstrap_632plus,
    nested_cv,
    nested_summary,
    percentile_ci,
    table7,
)
from analysis.model.fit import (
    ModelInputError,
    PaperModel,
    fit_paper_model,
    inputs_from_store,
    table6,
)
from analysis.model.step import ModelEvalResult, ModelResult, run_model, run_model_eval
from analysis.model.tripod import tripod_ai_table
from analysis.model.verdict import verdict

__all__ = ["ModelEvalResult", "ModelInputError", "ModelResult", "PaperModel",
           "bootstrap_632plus", "fit_paper_model", "inputs_from_store", "load_model",
           "manifest_entry", "nested_cv", "nested_summary", "percentile_ci", "run_model",
           "run_model_eval", "save_model", "table6", "table7", "tripod_ai_table", "verdict"]
