"""De-identification: keyed pseudonyms, dates as days from the start of radiotherapy.

* A patient's record number (MRN) becomes ``pid = "P" + HMAC-SHA256(key, center + ":" +
  MRN)[:12]`` (hex). Without the key nobody can recompute or reverse it; with the same
  key the same MRN always gives the same pid, so re-runs and later exports line up.
* The key (32 random bytes, hex) lives in ``params.ingest.pseudonym_key_file``
  (default ``.secrets/pseudonym.key``, outside reports/ and the store), created on first
  use with mode 0600. Losing it only breaks the link to earlier stores.
* Calendar dates become integer days from the start of radiotherapy
  (:func:`days_from`); names, birth dates, free text and every DICOM header field are
  never copied: ingest keeps only the canonical columns and pixel data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import date
from pathlib import Path

from analysis import paths

PID_HEX_CHARS = 12


class DeidError(ValueError):
    """A de-identification input (key, date) that cannot be used."""


def load_or_create_key(key_file: str | Path) -> bytes:
    """The pseudonymisation key in ``key_file`` (resolved from the repo root).

    Created (32 random bytes as hex, mode 0600, parents made) when absent.
    """
    path = paths.resolve(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created meanwhile by another process
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    key = path.read_text().strip()
    if len(key) < 32:
        raise DeidError(f"{path}: pseudonym key too short ({len(key)} chars, need >= 32)")
    return key.encode()


def pseudonym(record_id: str, key: bytes, center: str = "") -> str:
    """Keyed pseudonym of a patient record number.

    Parameters
    ----------
    record_id : str
        The department's patient ID (MRN); stripped of surrounding spaces.
    key : bytes
        From :func:`load_or_create_key`.
    center : str
        Mixed into the message so that equal MRNs of two centers differ.

    Returns
    -------
    str
        ``"P"`` followed by 12 lowercase hex digits.
    """
    rid = str(record_id).strip()
    if not rid:
        raise DeidError("record_id: empty patient ID cannot be pseudonymised")
    digest = hmac.new(key, f"{center}:{rid}".encode(), hashlib.sha256).hexdigest()
    return "P" + digest[:PID_HEX_CHARS]


def parse_date(value: str) -> date:
    """An ISO ``YYYY-MM-DD`` date (a time part after it is ignored)."""
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise DeidError(f"not an ISO date (YYYY-MM-DD): {value!r}") from None


def days_from(start: str, when: str) -> int:
    """Days from ``start`` to ``when`` (both ISO dates); negative when ``when`` is earlier."""
    return (parse_date(when) - parse_date(start)).days
