"""What every DICOM reader of :mod:`analysis.io` shares: the error, the CT series record,
file reading (with or without preamble and file meta) and the tolerances."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from analysis.grid import Grid

#: relative tolerance on slice spacing (5 % of the nominal spacing: positions rounded to
#: 0.1 mm on 2 mm slices pass, a missing slice (100 %) never does)
SPACING_RTOL = 0.05
#: absolute tolerance (mm) on positions and pixel spacings
POSITION_TOL_MM = 0.01
#: precision of slice positions in real exports (rounded to 0.1 mm): each gap may then
#: be off by twice that from the median gap, whatever the slice spacing
POSITION_ROUNDING_MM = 0.1
#: tolerance on direction cosines between the slices of one series
ORIENTATION_TOL = 1e-3
#: an orientation within this angle (degrees) of an axial one is read as axial, with a
#: note giving how far voxel centres then lie from their true position
AXIAL_TOL_DEG = 1.0
#: a contour's z must lie within this fraction of the slice spacing from a slice
CONTOUR_Z_TOL = 0.1


class DicomError(ValueError):
    """A DICOM file or series that cannot be read into the package's convention."""


@dataclass(frozen=True)
class CTSeries:
    """A CT series read from a folder.

    Attributes
    ----------
    hu : ndarray of int16, shape (z, y, x)
        Hounsfield units, slice 0 most inferior.
    grid : Grid
    series_uid, frame_of_reference_uid : str
    sop_uids : tuple of str
        SOPInstanceUID of each slice, in z order.
    files : tuple of Path
        File of each slice, in z order.
    """

    hu: np.ndarray
    grid: Grid
    series_uid: str
    frame_of_reference_uid: str
    sop_uids: tuple[str, ...]
    files: tuple[Path, ...] = field(default=())


def who(patient: str | None) -> str:
    """``"patient P...: "`` (or nothing), the start of every message."""
    return f"patient {patient}: " if patient else ""


def plain(values) -> str:
    """Numbers as plain text (``1, 0, 0``), never ``np.float64(1.0)``."""
    return ", ".join(f"{float(v):g}" for v in np.ravel(values))


def floats(value, n: int, what: str, path: Path, patient: str | None) -> np.ndarray:
    """``value`` as ``n`` floats, or a DicomError naming the attribute."""
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,):
        shown = "absent" if value is None else f"{value!r}"
        raise DicomError(f"{who(patient)}{path}: {what} missing or malformed ({shown})")
    return arr


def is_dicom_file(path: str | Path) -> bool:
    """True when ``path`` looks like DICOM: the ``DICM`` prefix after the preamble, or
    (files without a preamble) a dataset with SOPClassUID or Modality when parsed."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - anything unparsable is not DICOM
        return False
    return "SOPClassUID" in ds or "Modality" in ds


def add_missing_transfer_syntax(ds: pydicom.Dataset) -> None:
    """A dataset read without file meta (no preamble, no group 0002: allowed by the
    standard for media other than files, and common in old archives) gets the transfer
    syntax its encoding was detected as, so that its pixel data can be decoded."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def read_file(path: Path, patient: str | None, data: bytes | None = None
              ) -> pydicom.Dataset:
    """Read a DICOM file (``data``: its bytes, when already read), preamble and file
    meta optional; a DicomError naming the file when it cannot be parsed."""
    try:
        src = io.BytesIO(data) if data is not None else str(path)
        ds = pydicom.dcmread(src, force=True)
    except Exception as err:  # pydicom raises many types on damaged files
        raise DicomError(f"{who(patient)}{path}: unreadable DICOM file "
                         f"({type(err).__name__}: {err})") from None
    add_missing_transfer_syntax(ds)
    return ds
