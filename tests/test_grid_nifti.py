"""Grid conversions and the NIfTI round trip keep the (z, y, x) / LPS convention."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from analysis.grid import Grid
from analysis.io import read_nifti, write_nifti
from analysis.io.nifti import NiftiError


def test_index_to_mm_by_hand():
    g = Grid((4, 5, 6), (5.0, 2.0, 1.5), (-10.0, 20.0, 100.0))
    # voxel z=2, y=1, x=3 -> x = -10 + 3*1.5, y = 20 + 1*2, z = 100 + 2*5
    np.testing.assert_allclose(g.index_to_mm([2, 1, 3]), [-5.5, 22.0, 110.0])
    np.testing.assert_allclose(g.mm_to_index([-5.5, 22.0, 110.0]), [2, 1, 3])


def test_nifti_round_trip(tmp_path):
    g = Grid((3, 4, 5), (5.0, 1.25, 1.5), (-100.0, -50.0, 30.0))
    arr = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    write_nifti(tmp_path / "a.nii.gz", arr, g)
    back, g2 = read_nifti(tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(back, arr)
    assert g2.same_as(g)


def test_nifti_ras_world_position(tmp_path):
    """Voxel (z=2, y=1, x=3) must sit at LPS (x, y, z) = origin + index * spacing in RAS terms."""
    g = Grid((3, 4, 5), (5.0, 1.0, 2.0), (10.0, 20.0, 30.0))
    write_nifti(tmp_path / "a.nii", np.zeros((3, 4, 5), np.uint8), g)
    aff = nib.load(str(tmp_path / "a.nii")).affine
    ras = aff @ np.array([3, 1, 2, 1.0])  # NIfTI index order (x, y, z)
    np.testing.assert_allclose(ras[:3], [-(10 + 3 * 2.0), -(20 + 1 * 1.0), 30 + 2 * 5.0])


def test_nifti_flipped_axes_read_back_in_lps(tmp_path):
    """A file stored in RAS+ voxel order (x increasing to the right) is flipped on reading."""
    data_xyz = np.zeros((5, 4, 3), np.uint8)
    data_xyz[0, 0, 0] = 1  # RAS voxel 0 is the most right-anterior-inferior
    aff = np.diag([2.0, 1.0, 5.0, 1.0])
    aff[:3, 3] = [-50.0, -40.0, 0.0]
    nib.save(nib.Nifti1Image(data_xyz, aff), str(tmp_path / "ras.nii"))
    arr, g = read_nifti(tmp_path / "ras.nii")
    # in LPS order the marked voxel is at x index 4 (rightmost = smallest LPS x ... largest
    # RAS x index 0 means smallest RAS x = largest LPS x), y index 3, z index 0
    assert arr[0, 3, 4] == 1
    np.testing.assert_allclose(g.index_to_mm([0, 3, 4]), [50.0, 40.0, 0.0])


def test_nifti_shape_mismatch_rejected(tmp_path):
    with pytest.raises(NiftiError, match="a.nii.gz: array shape"):
        write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 2, 2)), Grid((2, 2, 3), (1, 1, 1)))
