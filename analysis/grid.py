"""The geometry of a CT grid, and conversions between voxel indices and patient mm.

Arrays are indexed ``(z, y, x)`` (see :mod:`analysis`). Patient coordinates are DICOM
LPS millimetres written ``(x, y, z)``. Only axial grids are supported: the direction
cosines must be the identity within ``1e-3`` (checked by the readers in analysis.io).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A voxel grid.

    Attributes
    ----------
    shape_zyx : tuple of 3 int
    spacing_mm : tuple of 3 float, (z, y, x) order
    origin_mm : tuple of 3 float
        LPS position ``(x, y, z)`` in mm of the centre of voxel ``[0, 0, 0]``
        (DICOM ImagePositionPatient of the most inferior slice).
    """

    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape_zyx", tuple(int(s) for s in self.shape_zyx))
        object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))
        object.__setattr__(self, "origin_mm", tuple(float(s) for s in self.origin_mm))
        if len(self.shape_zyx) != 3 or min(self.shape_zyx) < 1:
            raise ValueError(f"shape_zyx must be 3 positive ints, got {self.shape_zyx}")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ValueError(f"spacing_mm must be 3 positive floats, got {self.spacing_mm}")

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    def index_to_mm(self, index_zyx: np.ndarray) -> np.ndarray:
        """Voxel indices ``(..., 3)`` in (z, y, x) -> LPS points ``(..., 3)`` in (x, y, z) mm."""
        idx = np.asarray(index_zyx, dtype=float)
        zyx_mm = idx * np.asarray(self.spacing_mm)
        return zyx_mm[..., ::-1] + np.asarray(self.origin_mm)

    def mm_to_index(self, points_xyz_mm: np.ndarray) -> np.ndarray:
        """LPS points ``(..., 3)`` in (x, y, z) mm -> fractional voxel indices (z, y, x)."""
        p = np.asarray(points_xyz_mm, dtype=float) - np.asarray(self.origin_mm)
        return p[..., ::-1] / np.asarray(self.spacing_mm)

    def same_as(self, other: Grid, tol_mm: float = 1e-3) -> bool:
        """True when shapes are equal and spacing and origin agree within ``tol_mm``."""
        return (
            self.shape_zyx == other.shape_zyx
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=tol_mm)
            and np.allclose(self.origin_mm, other.origin_mm, atol=tol_mm)
        )

    def to_dict(self) -> dict:
        return {"shape_zyx": list(self.shape_zyx), "spacing_mm": list(self.spacing_mm),
                "origin_mm": list(self.origin_mm)}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(tuple(d["shape_zyx"]), tuple(d["spacing_mm"]), tuple(d["origin_mm"]))
