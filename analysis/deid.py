"""De-identification: keyed pseudonyms, dates as days from the start of radiotherapy.

* A patient's record number (MRN) becomes ``pid = "P" + HMAC-SHA256(key, center + ":" +
  MRN)[:12]`` (hex). Without the key nobody can recompute or reverse it; with the same
  key the same MRN always gives the same pid, so re-runs and later exports line up.
* The key (32 random bytes, hex) lives in ``params.ingest.pseudonym_key_file``
  (default ``.secrets/pseudonym.key``, outside reports/ and the store), created on first
  use with mode 0600. Losing it only breaks the link to earlier stores.
* Record numbers are compared by one rule, :func:`normalise_mrn` (NFKC, zero-width
  characters removed, stripped, case folded), for tables and image folder names alike.
* The way back is the key holder's alone: ``python -m analysis.deid lookup <pid>
  [--params params/x.yaml]`` recomputes the pseudonyms of the clinical table with the key
  and prints the record number and image folder of ``<pid>``; no file maps pseudonyms to
  record numbers.
* Calendar dates become integer days from the start of radiotherapy
  (:func:`days_from`); names, birth dates, free text and every DICOM header field are
  never copied: ingest keeps only the canonical columns and pixel data.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import secrets
import stat
import sys
import unicodedata
import warnings
from datetime import date
from pathlib import Path

from analysis import paths
from analysis.io.tables import read_table
from analysis.params import load_params

PID_HEX_CHARS = 12
#: zero-width and other invisible format characters a copied record number may carry
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH}]")


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
            try:
                os.chmod(path, 0o600)
            except OSError as err:
                raise DeidError(f"ingest.pseudonym_key_file: {path}: cannot tighten the "
                                f"key file's mode to 0600 ({err.strerror}); do it by hand "
                                "(chmod 600)") from None
    if not path.exists():
        def refuse(err: OSError) -> DeidError:
            return DeidError(f"ingest.pseudonym_key_file: cannot create the key file in "
                             f"{path.parent} ({err.strerror}): make that folder writable, "
                             "or point ingest.pseudonym_key_file at a writable folder "
                             "(never inside reports/ or data/)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # read-only, permission, a file in the way
            raise refuse(err) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created meanwhile by another process
            pass
        except OSError as err:
            raise refuse(err) from None
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_text().strip()
    except OSError as err:
        raise DeidError(f"ingest.pseudonym_key_file: {path}: cannot read the key "
                        f"({err.strerror})") from None
    if len(key) < 32:
        raise DeidError(f"{path}: pseudonym key too short ({len(key)} chars, need >= 32)")
    return key.encode()


def clean_mrn(value) -> str:
    """A record number as written, cleaned: Unicode NFKC (full-width ``ＭＲＮ１２`` ->
    ``MRN12``; a name stored in NFD, as macOS writes folder names, -> composed), zero-width
    characters (:data:`ZERO_WIDTH`) removed, surrounding spaces stripped. The pseudonym is
    keyed on this spelling of the clinical table's cell."""
    return _ZERO_WIDTH_RE.sub("", unicodedata.normalize("NFKC", str(value))).strip()


def normalise_mrn(value) -> str:
    """THE rule by which record numbers (MRNs) of two tables, and image folder names, are
    compared: :func:`clean_mrn`, then case folded (``" m0012 "``, ``"M0012"``,
    ``"ＭＲＮ００１２"`` and ``"M\u200b0012"`` are one patient)."""
    return clean_mrn(value).casefold()


def image_folders(images_dir: str | Path) -> dict[str, list[Path]]:
    """The patient folders under ``images_dir`` grouped by :func:`normalise_mrn` of their
    names (a key with two folders is ambiguous: one patient, two folders)."""
    out: dict[str, list[Path]] = {}
    d = Path(images_dir)
    if d.is_dir():
        for c in sorted(d.iterdir()):
            if c.is_dir():
                out.setdefault(normalise_mrn(c.name), []).append(c)
    return out


def pseudonym(record_id: str, key: bytes, center: str = "") -> str:
    """Keyed pseudonym of a patient record number.

    Parameters
    ----------
    record_id : str
        The department's patient ID (MRN); cleaned by :func:`clean_mrn` (NFKC, no
        zero-width characters, stripped).
    key : bytes
        From :func:`load_or_create_key`.
    center : str
        Mixed into the message so that equal MRNs of two centers differ.

    Returns
    -------
    str
        ``"P"`` followed by 12 lowercase hex digits.
    """
    rid = clean_mrn(record_id)
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


# --- the key holder's way back -------------------------------------------------------
def find_record(pid: str, record_ids, key: bytes, center: str = "") -> str | None:
    """The record number among ``record_ids`` whose pseudonym is ``pid`` (None if none).

    Only the key holder can do this: it recomputes every pseudonym with the key; no
    table anywhere maps pseudonyms to record numbers."""
    for rid in record_ids:
        if rid is not None and clean_mrn(rid) and pseudonym(rid, key, center) == pid:
            return clean_mrn(rid)
    return None


def lookup(params, pid: str) -> tuple[str, list[Path]]:
    """(record number, its image folders) of pseudonym ``pid`` for the key holder.

    Reads the clinical table the params name and the key file (never creating one); the
    folders are those of ``images/`` whose names match the record number by
    :func:`normalise_mrn`."""
    cp = params.cohort
    export = (paths.phantom_dir(params.run_name) / "export" if params.is_phantom
              else paths.resolve(cp.export_dir) if cp.export_dir else None)
    clinical = paths.resolve(cp.clinical_csv) if cp.clinical_csv else \
        (export / "clinical.csv" if export is not None else None)
    if clinical is None:
        raise DeidError("lookup: the params name no clinical table (cohort.clinical_csv "
                        "or cohort.export_dir)")
    key_path = paths.resolve(params.ingest.pseudonym_key_file)
    if not key_path.is_file():
        raise DeidError(f"lookup: no key file at {key_path}: only the person holding the "
                        "pseudonym key can map a pseudonym back")
    key = _read_key(key_path)
    raw = read_table(clinical, na_values=cp.na_values)
    col = next((c for c, t in cp.column_map.items() if t == "patient_id"), "MRN")
    if col not in raw.columns:
        raise DeidError(f"lookup: {clinical.name} has no column {col!r}")
    mrn = find_record(pid, raw[col].dropna().tolist(), key, cp.center)
    if mrn is None:
        raise DeidError(f"lookup: no record of {clinical.name} has the pseudonym {pid} "
                        "with this key and center")
    folders = image_folders(export / "images").get(normalise_mrn(mrn), []) \
        if export is not None else []
    return mrn, folders


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.deid lookup <pid> [--params params/x.yaml]``: print the record
    number and image folder(s) of a pseudonym (for the person holding the key)."""
    ap = argparse.ArgumentParser(prog="python -m analysis.deid", description="Map a "
                                 "pseudonym back to its record number and image folder "
                                 "(needs the pseudonym key).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    lk = sub.add_parser("lookup", help="pseudonym -> record number and image folder")
    lk.add_argument("pid", help="the pseudonym, e.g. P3f2a9c0d1e4b")
    lk.add_argument("--params", default="params/default.yaml", help="params YAML file")
    a = ap.parse_args(argv)
    try:
        mrn, folders = lookup(load_params(a.params), a.pid.strip())
    except DeidError as err:
        print(f"deid: {err}", file=sys.stderr)
        return 1
    print(f"{a.pid}: record number {mrn}")
    for f in folders:
        print(f"{a.pid}: image folder {f}")
    if not folders:
        print(f"{a.pid}: no image folder matches this record number")
    return 0


if __name__ == "__main__":
    sys.exit(main())
