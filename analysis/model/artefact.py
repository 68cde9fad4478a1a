"""The fitted paper model as a file: 06_model saves it, 07_model_eval loads it.

The artefact is a joblib pickle of ``{"model": PaperModel, "params_digest": str,
"sklearn": str}`` at ``<store>/paper_model.joblib`` (:func:`artefact_path`, beside the
cohort store tables of the run; never under reports/). Its SHA-256 goes into the run's
manifest (``analysis.report.build_manifest``, key ``model_artefact``).

:func:`load_model` refuses an artefact fitted under other params (a stale file from an
earlier run), naming the file, so 07 never evaluates a model that 06 did not just fit.
Loading a pickle runs code from it: load only artefacts this package wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import sklearn

from analysis import paths
from analysis.fsutil import atomic_write, sha256_file
from analysis.model.fit import PaperModel

#: file name of the fitted model inside the run's store folder
ARTEFACT_NAME = "paper_model.joblib"


class ModelArtefactError(RuntimeError):
    """The saved model is missing, unreadable or was fitted under other params."""


@dataclass(frozen=True)
class ModelArtefact:
    """Where a fitted model was saved and the SHA-256 (hex) of the file."""

    path: Path
    sha256: str


def artefact_path(run_name: str, data_root: Path | None = None) -> Path:
    """``<store of run_name>/paper_model.joblib``; ``data_root`` replaces ``paths.DATA_DIR``."""
    store = paths.store_dir(run_name)
    if data_root is not None:
        store = Path(data_root) / store.relative_to(paths.DATA_DIR)
    return store / ARTEFACT_NAME


def save_model(model: PaperModel, params) -> ModelArtefact:
    """Save ``model`` fitted under ``params`` (analysis.params.Params) to its artefact path."""
    path = artefact_path(params.run_name)
    blob = {"model": model, "params_digest": params.digest(), "sklearn": sklearn.__version__}
    atomic_write(path, lambda tmp: joblib.dump(blob, tmp))
    return ModelArtefact(path, sha256_file(path))


def load_model(params) -> PaperModel:
    """Load the model 06_model saved for ``params``; refuse one fitted under other params."""
    path = artefact_path(params.run_name)
    fix = f"make report-06 PARAMS={params.source}"
    if not path.is_file():
        raise ModelArtefactError(f"{path}: no fitted model; run 06_model first: {fix}")
    try:
        blob = joblib.load(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        raise ModelArtefactError(f"{path}: cannot be read ({err}); rerun 06_model: "
                                 f"{fix}") from err
    if blob.get("params_digest") != params.digest():
        raise ModelArtefactError(f"{path}: fitted under other params (digest "
                                 f"{str(blob.get('params_digest'))[:12]}); rerun 06_model: "
                                 f"{fix}")
    return blob["model"]


def manifest_entry(run_name: str, data_root: Path | None = None) -> dict | None:
    """File name and SHA-256 of the run's saved model, or None when there is none."""
    path = artefact_path(run_name, data_root)
    return {"file": ARTEFACT_NAME, "sha256": sha256_file(path)} if path.is_file() else None
