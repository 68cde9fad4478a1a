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
import re
import secrets
import stat
import warnings
from datetime import date
from pathlib import Path

from analysis import paths

PID_HEX_CHARS = 12


class DeidError(ValueError):
    """A de-identification input (key, date) that cannot be used."""


def check_key_location(path: Path) -> None:
    """Refuse a key file inside ``reports/`` or ``data/`` (both are shared or published:
    whoever holds the key and a store can re-identify its patients)."""
    path = Path(path).resolve()
    for name, root in (("reports", paths.REPORTS_DIR), ("data", paths.DATA_DIR),
                       ("reports", paths.REPO_ROOT / "reports"),
                       ("data", paths.REPO_ROOT / "data")):
        if path.is_relative_to(Path(root).resolve()):
            raise DeidError(f"ingest.pseudonym_key_file: the key must not live inside "
                            f"{name}/ (it would travel with the reports or the store); "
                            "keep it in .secrets/ or outside the repository")


def load_or_create_key(key_file: str | Path) -> bytes:
    """The pseudonymisation key in ``key_file`` (resolved from the repo root).

    Created (32 random bytes as hex, mode 0600, parents made) when absent. A key file
    inside ``reports/`` or ``data/`` is refused (:func:`check_key_location`); one that
    group or others may read is warned about and its mode tightened to 0600.
    """
    path = paths.resolve(key_file)
    check_key_location(path)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            warnings.warn(f"ingest.pseudonym_key_file: the key file was readable by group "
                          f"or others (mode {mode:04o}); tightened to 0600", stacklevel=2)
            os.chmod(path, 0o600)
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


#: earliest and latest plausible calendar year of a date in a clinical table
PLAUSIBLE_YEARS = (1950, 2100)
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def parse_date(value: str) -> date:
    """A strict ISO ``YYYY-MM-DD`` date, optionally followed by a time ``THH:MM[:SS]``.

    Anything else (trailing text, another format) and a year outside
    :data:`PLAUSIBLE_YEARS` is a :class:`DeidError`; the message never repeats the value.
    """
    text = str(value).strip()
    m = _ISO_DATE.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        d = date.fromisoformat(m.group(1))
    except ValueError:
        raise DeidError("not a strict ISO date (YYYY-MM-DD, optionally THH:MM[:SS])"
                        ) from None
    if not PLAUSIBLE_YEARS[0] <= d.year <= PLAUSIBLE_YEARS[1]:
        raise DeidError(f"date outside the plausible years {PLAUSIBLE_YEARS[0]}-"
                        f"{PLAUSIBLE_YEARS[1]}")
    return d


def days_from(start: str, when: str) -> int:
    """Days from ``start`` to ``when`` (both ISO dates); negative when ``when`` is earlier."""
    return (parse_date(when) - parse_date(start)).days
