"""NIfTI volumes <-> (array in (z, y, x), Grid in LPS mm).

NIfTI stores voxels as ``(i, j, k)`` with an affine to RAS+ millimetres. This package
keeps ``(z, y, x)`` arrays and LPS coordinates, so on writing the array is transposed
to ``(x, y, z)`` and the affine negates the first two axes (LPS -> RAS); reading undoes
both. Only axis-aligned affines are accepted (oblique volumes are rejected by name).

Orientation rule (ingest): reading brings any axis-aligned volume to LPS, but volumes of
one patient are never reoriented relative to each other: a mask must carry its CT's
affine (:func:`nifti_affine`, within the geometry tolerance). A mask whose affine was
flipped but not its data (a mirrored structure) is therefore refused, not read.

Checked before any voxel is allocated: the header's dimensions x bytes per voxel against
the image data the file holds ("NIfTI size mismatch", e.g. a header claiming 30000
cubed in a small file). A 4-D (or 5-D) file whose extra axes are all of length 1 (a CT
saved as ``(x, y, z, 1)``) is read as 3-D; more than one volume is refused. Reading into
an integer ``dtype`` refuses values outside its range instead of wrapping them.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from isal import igzip

from analysis.fsutil import atomic_write, atomic_write_bytes
from analysis.grid import Grid

#: ISA-L gzip level of written ``.nii.gz`` files. ISA-L writes the same gzip format as
#: zlib (any reader opens it) about four times as fast: a 93 x 512 x 512 int16 CT takes
#: 0.22 s at ISA-L level 2 against 0.85 s at zlib level 1 (nibabel's default), to the
#: same size (24.6 MB); reading it back takes 0.09 s against 0.3 s.
GZIP_LEVEL = 2


class NiftiError(ValueError):
    """A NIfTI file that cannot be read into the package's convention."""


def _affine(grid: Grid) -> np.ndarray:
    sz, sy, sx = grid.spacing_mm
    ox, oy, oz = grid.origin_mm
    aff = np.diag([-sx, -sy, sz, 1.0])
    aff[:3, 3] = [-ox, -oy, oz]
    return aff


def write_nifti(path: str | Path, array: np.ndarray, grid: Grid) -> Path:
    """Write ``array`` (z, y, x) on ``grid`` as a (compressed when ``.gz``) NIfTI, atomically."""
    path = Path(path)
    if tuple(array.shape) != grid.shape_zyx:
        raise NiftiError(f"{path}: array shape {array.shape} != grid shape {grid.shape_zyx}")
    data = np.asarray(array)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    # a transposed view: F-ordered, so nibabel (which writes F order) copies nothing
    img = nib.Nifti1Image(data.transpose(2, 1, 0), _affine(grid))
    img.header.set_xyzt_units("mm")
    if path.name.endswith(".nii.gz"):  # the single-file bytes nib.save writes, compressed
        return atomic_write_bytes(path, igzip.compress(img.to_bytes(), GZIP_LEVEL, mtime=0))
    return atomic_write(path, lambda tmp: nib.save(img, str(tmp)))


def _load(path: Path):
    """(nibabel image of ``path``, bytes of the file's image data after its header).

    A ``.nii.gz`` NIfTI-1 file is decompressed in one call by ISA-L (nibabel's own reader
    goes through Python's gzip module in small reads); anything else (NIfTI-2, a damaged
    file) goes through ``nib.load``."""
    raw = None
    if path.name.endswith(".nii.gz"):
        try:
            raw = igzip.decompress(path.read_bytes())
        except Exception as err:  # noqa: BLE001 - zlib, EOF and ISA-L errors
            raise NiftiError(f"{path}: unreadable NIfTI (damaged or truncated gzip data: "
                             f"{type(err).__name__})") from None
        # only a single-file NIfTI-1 header (sizeof_hdr 348, magic "n+1"): nibabel would
        # "fix" a NIfTI-2 header read as NIfTI-1 instead of refusing it
        if len(raw) > 348 and raw[344:348] == b"n+1\0" and \
                348 in (int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")):
            img = nib.Nifti1Image.from_bytes(raw)
            return img, len(raw) - _data_offset(img)
    img = nib.load(str(path))
    size = len(raw) if raw is not None else path.stat().st_size
    return img, size - _data_offset(img)


def _data_offset(img) -> int:
    """Where the image data start (the array proxy's offset: a header's vox_offset of 0
    means "after the header and its extensions")."""
    offset = getattr(img.dataobj, "offset", None)
    return int(offset) if offset is not None else int(img.header.get_data_offset())


def _check_size(img, available: int, path: Path) -> None:
    """The header's dimensions against the image data the file holds (before reading)."""
    shape = tuple(int(n) for n in img.shape)
    dtype = np.dtype(img.get_data_dtype())
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need > available:
        raise NiftiError(f"{path}: NIfTI size mismatch: the header declares "
                         f"{' x '.join(map(str, shape))} voxels of {dtype.name} ({need} bytes), "
                         f"the file holds {max(available, 0)} bytes of image data (a damaged "
                         "header or a truncated file; nothing allocated)")


def nifti_affine(path: str | Path) -> np.ndarray:
    """The stored voxel-to-RAS affine (4, 4) of a NIfTI file (header only)."""
    try:
        return np.asarray(nib.load(str(path)).affine, dtype=float)
    except Exception as err:  # nibabel raises many types for a damaged file
        raise NiftiError(f"{path}: unreadable NIfTI ({type(err).__name__})") from None


def read_nifti(path: str | Path, dtype: np.dtype | type | None = None) -> tuple[np.ndarray, Grid]:
    """Read a NIfTI file -> (array in (z, y, x), Grid). Rejects oblique affines by name."""
    path = Path(path)
    try:
        img, available = _load(path)
    except NiftiError:
        raise
    except Exception as err:  # nibabel raises many types for a damaged file
        raise NiftiError(f"{path}: unreadable NIfTI ({type(err).__name__}: {err})") from None
    _check_size(img, available, path)
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 3 or any(n != 1 for n in shape[3:]):
        raise NiftiError(f"{path}: expected a 3D volume, got shape "
                         f"{' x '.join(map(str, shape))}"
                         + (" (more than one volume)" if len(shape) > 3 else ""))
    try:
        data = np.asarray(img.dataobj).reshape(shape[:3])
    except Exception as err:  # nibabel raises many types for a damaged file
        raise NiftiError(f"{path}: unreadable NIfTI ({type(err).__name__}: {err})") from None
    aff = img.affine
    lin = aff[:3, :3]
    if not np.allclose(lin, np.diag(np.diag(lin)), atol=1e-4):
        raise NiftiError(f"{path}: oblique or rotated affine is not supported")
    d = np.diag(lin)
    # bring every axis to LPS order: x to the left (RAS x negative), y posterior, z superior
    flips = [d[0] > 0, d[1] > 0, d[2] < 0]
    for ax, flip in enumerate(flips):
        if flip:
            data = np.flip(data, axis=ax)
    spacing_xyz = np.abs(d)
    ras0 = aff[:3, 3] + np.where(flips, d * (np.array(data.shape) - 1), 0.0)
    origin_lps = (-ras0[0], -ras0[1], ras0[2])
    arr = np.ascontiguousarray(data.transpose(2, 1, 0))
    if dtype is not None:
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        if info is not None and arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise NiftiError(f"{path}: values in [{arr.min():g}, {arr.max():g}] outside the "
                             f"{np.dtype(dtype).name} range; refusing to wrap them")
        arr = arr.astype(dtype, copy=False)
    grid = Grid(arr.shape, tuple(spacing_xyz[::-1]), origin_lps)
    return arr, grid
