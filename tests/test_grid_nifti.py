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


def test_nifti_gz_is_plain_gzip_and_deterministic(tmp_path):
    """``.nii.gz`` files are written by ISA-L (analysis.io.nifti.GZIP_LEVEL) but are plain
    gzip: Python's gzip module and nibabel's own reader give back the exact single-file
    bytes and array; two writes of the same volume are byte-identical, the gzip header's
    mtime (bytes 4-8) being 0. Injected fault (once): ``mtime=None`` -> header mtime
    1796179975 (the clock) in the injected run, not 0: fails."""
    import gzip

    g = Grid((7, 9, 11), (5.0, 1.1543, 1.1543), (-3.0, 4.0, -50.0))
    arr = np.random.default_rng(0).integers(-1000, 1500, size=(7, 9, 11)).astype(np.int16)
    p1, p2 = write_nifti(tmp_path / "a.nii.gz", arr, g), write_nifti(tmp_path / "b.nii.gz",
                                                                     arr, g)
    assert p1.read_bytes() == p2.read_bytes()
    assert p1.read_bytes()[4:8] == b"\0\0\0\0"
    raw = gzip.decompress(p1.read_bytes())
    assert int.from_bytes(raw[:4], "little") == 348 and raw[344:348] == b"n+1\0"
    by_nibabel = np.asarray(nib.load(str(p1)).dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(by_nibabel, arr)
    back, g2 = read_nifti(p1)
    np.testing.assert_array_equal(back, arr)
    assert g2.same_as(g)


def test_nifti_gz_written_by_nibabel_and_nifti2_read_back(tmp_path):
    """The fast reader (ISA-L, NIfTI-1 only) and the nib.load fallback give the same
    volume: a file nibabel wrote itself (zlib gzip), and a NIfTI-2 ``.nii.gz`` (a
    department's export may use it), whose header the fast path must not parse.
    Injected fault (once): the header check (sizeof_hdr 348 and magic "n+1") reduced to
    ``len(raw) > 348`` -> the NIfTI-2 file raises
    NiftiError ("unreadable NIfTI (HeaderDataError: data code 0 not supported)"): fails."""
    arr_xyz = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    aff = np.diag([-1.5, -1.25, 5.0, 1.0])
    for cls, name in ((nib.Nifti1Image, "n1.nii.gz"), (nib.Nifti2Image, "n2.nii.gz")):
        nib.save(cls(arr_xyz, aff), str(tmp_path / name))
        back, g = read_nifti(tmp_path / name)
        np.testing.assert_array_equal(back, arr_xyz.transpose(2, 1, 0))
        assert g.spacing_mm == (5.0, 1.25, 1.5)


def test_damaged_nifti_gz_is_refused_by_name(tmp_path):
    """A truncated ``.nii.gz`` raises NiftiError naming the file, from either reader."""
    g = Grid((3, 4, 5), (5.0, 1.0, 1.0))
    p = write_nifti(tmp_path / "ct.nii.gz", np.zeros((3, 4, 5), np.int16), g)
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(NiftiError, match="ct.nii.gz"):
        read_nifti(p)
