"""Shared fixtures of the test suite.

Test modules never import one another: helpers shared by several modules live in
helper modules (``tests/_ingest_fixtures.py``: tiny DICOM/NIfTI exports, planted
identifiers) and are offered here as fixtures too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the helper modules beside this file import as top-level modules in every import mode
sys.path.insert(0, str(Path(__file__).parent))

import _ingest_fixtures  # noqa: E402


@pytest.fixture
def ingest_fx():
    """The ingest helper module (exports, params, leak search)."""
    return _ingest_fixtures


@pytest.fixture
def tiny_export(tmp_path):
    """A valid 3-patient DICOM export in ``tmp_path/export`` and its params:
    ``(params, planted)``, where ``planted["idents"]`` lists each patient's MRN, name and
    birth date."""
    planted = _ingest_fixtures.make_export(tmp_path / "export", n=3, fmt="dicom")
    return _ingest_fixtures.make_params(tmp_path), planted
