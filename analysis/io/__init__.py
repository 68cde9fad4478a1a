"""File formats live here and nowhere else (NIfTI, DICOM CT, RTSTRUCT, tables).

Everything outside :mod:`analysis.io` takes numpy arrays in the package's ``(z, y, x)``
convention plus a :class:`analysis.grid.Grid`.
"""

from __future__ import annotations

from analysis.io.dicom_read import (
    CTSeries,
    DicomError,
    match_roi_names,
    read_ct_series,
    read_rtstruct,
    read_rtstruct_labels,
    rtstruct_roi_names,
)
from analysis.io.nifti import read_nifti, write_nifti
from analysis.io.tables import TableError, read_table

__all__ = [
    "CTSeries", "DicomError", "TableError", "match_roi_names", "read_ct_series",
    "read_rtstruct", "read_rtstruct_labels", "read_table", "rtstruct_roi_names",
    "read_nifti", "write_nifti"]
