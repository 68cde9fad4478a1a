"""The one atomic writer and the one file hasher of the package.

Every file the package writes (cohort store tables and volumes, per-patient cache
entries, checkpoints, report outputs) goes through :func:`atomic_write`: the content is
written to a temporary file in the target's folder, flushed to disk, then renamed over the
target, so a crash or a kill never leaves half a file. Temporary files carry the prefix
:data:`TMP_PREFIX`; :func:`remove_stale_tmp` deletes those that a killed run left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

#: prefix of every temporary file written by :func:`atomic_write`
TMP_PREFIX = ".tmp-"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp_path)``, then :func:`os.replace` it into place.

    ``write`` receives a path in the same folder with the target's suffixes (so writers
    that pick the format from the suffix, like nibabel, still work). The folder is created
    when missing. The file gets the mode a plain ``open()`` would give it
    (``0o666 & ~umask``), not mkstemp's 0600. On any exception, the temporary file is removed and the target is left
    as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX,
                               suffix="".join(path.suffixes))
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with tmp_path.open("rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 & ~umask)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed run left in ``folder`` (recursively).

    Returns the removed paths. Only files named with :data:`TMP_PREFIX` are touched.
    Call it at the start of a run, never while another run writes to the same folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for f in sorted(folder.rglob(f"{TMP_PREFIX}*")):
        if f.is_file():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def prefetch(files: Iterable[str | Path]) -> None:
    """Ask the kernel to start reading ``files`` now (``posix_fadvise`` WILLNEED), so that
    reading a patient's many small DICOM files meets data already on its way instead of
    waiting on one file at a time. A hint only: files that cannot be opened, and systems
    without ``posix_fadvise``, are skipped."""
    if not hasattr(os, "posix_fadvise"):
        return
    for f in files:
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks of ``chunk_bytes``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_bytes), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(files: Iterable[Path], root: str | Path) -> str:
    """Hex SHA-256 over (path relative to ``root``, file digest) of ``files``, sorted.

    Renaming, adding, removing or editing any file changes the digest; the order in
    which ``files`` are given does not.
    """
    root = Path(root)
    h = hashlib.sha256()
    for f in sorted(Path(p) for p in files):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(sha256_file(f).encode() + b"\n")
    return h.hexdigest()
