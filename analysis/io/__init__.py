"""File formats live here and nowhere else (NIfTI, DICOM CT, RTSTRUCT, tables).

Everything outside :mod:`analysis.io` takes numpy arrays in the package's ``(z, y, x)``
convention plus a :class:`analysis.grid.Grid`.
"""

from __future__ import annotations

from analysis.io.nifti import read_nifti, write_nifti

__all__ = ["read_nifti", "write_nifti"]
