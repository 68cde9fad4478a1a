"""The one atomic writer and hasher (analysis.fsutil)."""

from __future__ import annotations

import pytest

from analysis import fsutil

#: FIPS 180-2 appendix B.1: SHA-256("abc")
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_matches_the_published_vector(tmp_path):
    f = tmp_path / "abc.txt"
    f.write_bytes(b"abc")
    assert fsutil.sha256_bytes(b"abc") == SHA256_ABC
    # a chunk of 1 byte exercises the chunked loop three times
    assert fsutil.sha256_file(f, chunk_bytes=1) == SHA256_ABC


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "sub" / "table.parquet"
    fsutil.atomic_write_text(target, "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        fsutil.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.parquet"]


def test_atomic_write_passes_the_target_suffixes(tmp_path):
    seen = []
    fsutil.atomic_write(tmp_path / "ct.nii.gz", lambda tmp: (seen.append(tmp.name),
                                                            tmp.write_bytes(b"x")))
    assert seen[0].startswith(fsutil.TMP_PREFIX) and seen[0].endswith(".nii.gz")


def test_remove_stale_tmp_removes_only_temporary_files(tmp_path):
    (tmp_path / "a").mkdir()
    keep = tmp_path / "a" / "cohort.parquet"
    keep.write_bytes(b"k")
    stale = tmp_path / "a" / f"{fsutil.TMP_PREFIX}x.parquet"
    stale.write_bytes(b"s")
    assert fsutil.remove_stale_tmp(tmp_path) == [stale]
    assert keep.exists() and not stale.exists()


def test_tree_digest_sees_renames_and_edits_but_not_order(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1")
    b.write_text("2")
    d0 = fsutil.sha256_tree([a, b], tmp_path)
    assert fsutil.sha256_tree([b, a], tmp_path) == d0
    b.write_text("3")
    d1 = fsutil.sha256_tree([a, b], tmp_path)
    assert d1 != d0
    c = tmp_path / "c.csv"
    b.rename(c)
    assert fsutil.sha256_tree([a, c], tmp_path) not in (d0, d1)


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    """Fault: without the chmod, mkstemp's 0600 stays (report pages unreadable to a group)."""
    import os
    old = os.umask(0o022)
    try:
        f = fsutil.atomic_write_text(tmp_path / "index.html", "x")
    finally:
        os.umask(old)
    assert f.stat().st_mode & 0o777 == 0o644


def test_prefetch_is_a_hint_that_never_fails(tmp_path):
    """``prefetch`` skips what it cannot open (a missing file, a folder it may not open
    read-only on some systems) and changes nothing on disk.
    Injected fault (once): the ``except OSError: continue`` around ``os.open`` removed ->
    FileNotFoundError for the missing file: fails."""
    f = tmp_path / "a.dcm"
    f.write_bytes(b"x" * 10)
    fsutil.prefetch([f, tmp_path / "missing.dcm", tmp_path])
    assert f.read_bytes() == b"x" * 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm"]
