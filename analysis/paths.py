"""Every path the package uses, derived from the repository root, never from the cwd.

Importing this module has no side effects: nothing is created until a caller asks.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = REPO_ROOT / "params"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: generated reports; env SCLC_REPORTS_DIR overrides it (tests write to a temporary folder)
REPORTS_DIR = Path(os.environ.get("SCLC_REPORTS_DIR") or REPO_ROOT / "reports")
#: generated data (phantom exports, cohort stores, caches); ignored by git;
#: env SCLC_DATA_DIR overrides it (tests)
DATA_DIR = Path(os.environ.get("SCLC_DATA_DIR") or REPO_ROOT / "data")
#: keys that must never reach reports/ (pseudonymisation key); ignored by git
SECRETS_DIR = REPO_ROOT / ".secrets"
#: committed model weights and their model cards
MODELS_DIR = REPO_ROOT / "models"
#: real files written by others (rt-utils DICOM, the Lung1 table), with their licences
REFERENCE_DATA_DIR = REPO_ROOT / "tests" / "data"


def resolve(path: str | Path) -> Path:
    """Resolve a path from a params file: absolute as given, else relative to the repo root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p).resolve()


def phantom_dir(run_name: str) -> Path:
    """Folder of the phantom department export generated for ``run_name``."""
    return DATA_DIR / "phantom" / run_name


def store_dir(run_name: str) -> Path:
    """Folder of the pseudonymised cohort store written by ingest for ``run_name``."""
    return DATA_DIR / "store" / run_name


def stations_export_dir(run_name: str) -> Path:
    """Folder of the run's station exports (RTSTRUCT, DICOM-SEG, NIfTI + Slicer colour
    table per analysed patient; written by 02_segment and ``make export``): pseudonymous
    patient data, so under ``DATA_DIR`` (ignored by git), never under ``reports/``."""
    return DATA_DIR / "exports" / run_name


def report_dir(run_name: str) -> Path:
    """Folder of the generated report for ``run_name``."""
    return REPORTS_DIR / run_name
