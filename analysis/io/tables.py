"""Clinical tables (CSV) read robustly, every cell as text.

* Encoding: UTF-16 when the file starts with a UTF-16 byte-order mark (or has a NUL
  byte in every other position of its first line: UTF-16 without a mark), else UTF-8
  (with or without a byte-order mark); a file that is not valid
  UTF-8 is read as cp1252 (Windows "ANSI", what spreadsheets export in Europe), and as
  latin-1 when cp1252 cannot decode a byte; both fallbacks give a warning naming the file.
* Delimiter: sniffed among ``, ; TAB |`` from the first lines; when the header then
  lacks a required column, the error names the file, the columns found and the
  delimiter used (a wrong delimiter shows up as one long column name).
* Blank lines and comment lines (first non-space character ``#``) are skipped: they are
  not rows, so they are never counted as screened patients.
* A missing required column fails naming the columns expected and how many columns were
  found, never the found header cells (a table exported without its header row has the
  first patient's identifiers there).
* Every cell is kept as a string (no float "2.0" for a T stage of 2); values in
  ``na_values`` become missing.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

DELIMITERS = ",;\t|"


class TableError(ValueError):
    """A clinical table that cannot be read."""


def decode_text(path: str | Path) -> tuple[str, str]:
    """Read ``path`` as text -> (text, encoding used). See the module docstring."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise TableError(f"{path}: cannot read table ({err.strerror})") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16"), "utf-16"
    head = raw[:200]
    if len(head) >= 4 and head[1::2].count(0) > 0.9 * len(head[1::2]):
        return raw.decode("utf-16-le", errors="strict"), "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > 0.9 * len(head[0::2]):
        return raw.decode("utf-16-be", errors="strict"), "utf-16-be"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as err:
        first_bad = err.start
    for enc in ("cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        warnings.warn(f"{path}: not valid UTF-8 (byte {first_bad}); read as {enc}",
                      stacklevel=2)
        return text, enc
    raise TableError(f"{path}: undecodable text")  # latin-1 decodes any byte: unreachable


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text, among ``, ; TAB |`` (comma when undecidable)."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] > 0 else ","


def read_table(path: str | Path, *, required: Iterable[str] = (),
               na_values: Iterable[str] = ("", "NA", "NaN", "n/a")) -> pd.DataFrame:
    """Read a CSV table with every cell as a string (missing cells as ``NaN``).

    Parameters
    ----------
    path : path
        The CSV file.
    required : iterable of str
        Columns that must be present; their absence is a :class:`TableError` naming the
        file, the columns found and the delimiter.
    na_values : iterable of str
        Cell values read as missing (after stripping spaces).

    Returns
    -------
    DataFrame
        Column names and cells stripped of surrounding spaces.
    """
    path = Path(path)
    text, _ = decode_text(path)
    text = "\n".join(line for line in text.splitlines()
                     if line.strip().strip(",;\t|").strip()
                     and not line.lstrip().startswith("#"))
    if not text.strip():
        raise TableError(f"{path.name}: empty table (no row that is not blank or a comment)")
    delim = sniff_delimiter(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                         skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as err:
        raise TableError(f"{path.name}: cannot parse as CSV with delimiter {delim!r} ({err})") from None
    df.columns = [str(c).strip() for c in df.columns]
    required = list(required)
    missing = [c for c in required if c not in df.columns]
    if missing:
        n_known = len(required) - len(missing)
        hint = (" (one column only: wrong delimiter?)" if len(df.columns) == 1 else
                " (no expected column found: is the header row missing?)" if not n_known
                else "")
        raise TableError(f"{path.name}: missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(required)}; found {len(df.columns)} column(s), "
                         f"{n_known} of them expected, with delimiter {delim!r}{hint}")
    na = {str(v).strip() for v in na_values}
    df = df.apply(lambda s: s.str.strip())
    return df.mask(df.isin(na) | df.isna())
