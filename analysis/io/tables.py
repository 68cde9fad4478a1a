"""Clinical tables (CSV, or an Excel .xlsx workbook) read robustly, every cell as text.

Tables as departments write them:

* Encoding: UTF-16 when the file starts with a UTF-16 byte-order mark (or has a NUL
  byte in every other position of its first line: UTF-16 without a mark), else UTF-8
  (with or without a byte-order mark). A file that is not valid UTF-8 is decoded by
  :func:`decode_text`'s stated rule: GB18030 (what Chinese Windows spreadsheets export)
  when every run of non-ASCII bytes is an even number of bytes in the GB2312 range
  0xA1-0xFE (two bytes per Chinese character), else cp1252 (Windows "ANSI" of Europe),
  else latin-1; a decoding whose header holds more of the required columns wins over
  that order. Each fallback gives a note naming the file (never its folder) and the
  encoding used.
* Excel: an ``.xlsx`` workbook (or an xlsx saved under a ``.csv`` name) is read with
  openpyxl, first sheet; numbers become text as they show (``2``, ``62.5``), dates ISO
  ``YYYY-MM-DD``. A legacy ``.xls`` is refused with "save as CSV". When ``clinical.csv``
  is absent and ``clinical.xlsx`` is there, the workbook is read with a note.
* Delimiter: sniffed among ``, ; TAB |`` from the first lines; when the header then
  lacks a required column, the error names the file, the number of columns found and
  the delimiter used (a wrong delimiter shows up as one long column name).
* Decimal commas: in a table delimited by ``;`` or TAB, cells written ``62,5`` are read as
  ``62.5`` when no cell of the table uses a decimal point (one convention per table),
  with a note; otherwise they stay as written and a number parse names the column.
* Blank lines and comment lines (first non-space character ``#``) are skipped; so are
  a header repeated mid-table and total rows (first non-empty cell ``Total``, ``Sum``,
  ``合计``...), each with a note: none of them is a patient, none is counted as screened.
* A missing required column fails naming the columns expected and how many columns were
  found, never the found header cells (a table exported without its header row has the
  first patient's identifiers there).
* Every cell is kept as a string (no float "2.0" for a T stage of 2); values in
  ``na_values`` (case-insensitive) become missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from analysis.params import DEFAULT_NA_VALUES

DELIMITERS = ",;\t|"
#: first cells that mark a total row (case-folded, a trailing colon ignored)
TOTAL_WORDS = frozenset({"total", "totals", "sum", "summe", "gesamt", "totaal", "totale",
                         "合计", "总计", "小计", "合計", "總計"})
#: file signatures of Excel workbooks: xlsx (a zip) and legacy xls (OLE2)
_XLSX_MAGIC, _XLS_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d+\.\d+$")
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]+")


class TableError(ValueError):
    """A clinical table that cannot be read."""


def looks_gb18030(raw: bytes) -> bool:
    """The stated GB18030 rule: some non-ASCII bytes, and every run of them an even
    number of bytes in 0xA1-0xFE (GB2312's two-byte range). European text in cp1252 has
    single accented letters between ASCII ones ("Müller": one byte 0xFC)."""
    runs = _NON_ASCII_RUN.findall(raw)
    return bool(runs) and all(len(r) % 2 == 0 and min(r) >= 0xA1 for r in runs)


def decode_text(path: str | Path, required: Iterable[str] = ()) -> tuple[str, str]:
    """Read ``path`` as text -> (text, encoding used). See the module docstring."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise TableError(f"{path.name}: cannot read table ({err.strerror})") from None
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
    order = ("gb18030", "cp1252", "latin-1") if looks_gb18030(raw) else \
        ("cp1252", "latin-1", "gb18030")
    decoded = {}
    for enc in order:
        try:
            decoded[enc] = raw.decode(enc)
        except UnicodeDecodeError:
            continue
    required = list(required)

    def score(enc: str) -> int:
        first = next((ln for ln in decoded[enc].splitlines()
                      if ln.strip() and not ln.lstrip().startswith("#")), "")
        return sum(c in first for c in required)

    enc = max(decoded, key=lambda e: (score(e), -order.index(e)))  # latin-1 decodes all
    warnings.warn(f"{path.name}: not valid UTF-8 (byte {first_bad}); read as {enc}",
                  stacklevel=2)
    return decoded[enc], enc


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


def _cell_text(v) -> str:
    """An Excel cell as the text it shows: integers without ``.0``, dates ISO."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_xlsx(path: Path) -> list[list[str]]:
    """The first sheet of an xlsx workbook as rows of text cells."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged workbook, named
        raise TableError(f"{path.name}: cannot read the Excel workbook "
                         f"({type(err).__name__}); save it as CSV (UTF-8)") from None
    try:
        ws = wb.worksheets[0]
        return [[_cell_text(v).strip() for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _is_skipped_line(cells: list[str]) -> bool:
    first = next((c for c in cells if str(c).strip()), None)
    return first is None or str(first).lstrip().startswith("#")


def _frame_from_text(path: Path, text: str) -> tuple[pd.DataFrame, str]:
    text = "\n".join(line for line in text.splitlines()
                     if line.strip().strip(",;\t|").strip()
                     and not line.lstrip().startswith("#"))
    if not text.strip():
        raise TableError(f"{path.name}: empty table (no row that is not blank or a comment)")
    delim = sniff_delimiter(text)
    try:
        # index_col=False and ParserWarning as an error: rows with one cell more than the
        # header are refused, never read with their first column as the index (pandas'
        # default) or their last cell dropped
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                             skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as err:
        hint = ("a row has more cells than the header: decimal commas (62,5) or text "
                "with commas in a comma-delimited table? quote those cells or delimit the "
                "table with ';'" if isinstance(err, pd.errors.ParserWarning)
                or "fields" in str(err) else "an Excel workbook? save it as CSV (UTF-8)")
        raise TableError(f"{path.name}: cannot parse as CSV with delimiter {delim!r} "
                         f"({err}); {hint}") from None
    return df, delim


def _frame_from_rows(path: Path, rows: list[list[str]]) -> pd.DataFrame:
    rows = [r for r in rows if not _is_skipped_line(r)]
    if not rows:
        raise TableError(f"{path.name}: empty table (no row that is not blank or a comment)")
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = rows[0]
    while header and not header[-1] and all(not r[len(header) - 1] for r in rows):
        header = header[:-1]
        rows = [r[:len(header)] for r in rows]
    return pd.DataFrame(rows[1:], columns=header, dtype=str)


def _open(path: Path, required: list[str]) -> tuple[pd.DataFrame, str, Path]:
    """(frame of text cells, delimiter or "xlsx", the file read)."""
    if not path.exists() and path.suffix.lower() == ".csv" and \
            path.with_suffix(".xlsx").is_file():
        warnings.warn(f"{path.name}: absent; read {path.with_suffix('.xlsx').name} "
                      "(Excel) instead", stacklevel=3)
        path = path.with_suffix(".xlsx")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as err:
        raise TableError(f"{path.name}: cannot read table ({err.strerror})") from None
    if magic == _XLS_MAGIC or path.suffix.lower() == ".xls":
        raise TableError(f"{path.name}: a legacy Excel (.xls) workbook, not a CSV table: "
                         "save it as CSV (UTF-8) or .xlsx")
    if magic == _XLSX_MAGIC:
        return _frame_from_rows(path, _read_xlsx(path)), "xlsx", path
    return (*_frame_from_text(path, decode_text(path, required)[0]), path)


def _skip_headers_and_totals(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Drop rows that repeat the header and total rows, each with a note."""
    if df.empty:
        return df
    header = [str(c).strip() for c in df.columns]
    cells = df.astype(str).apply(lambda s: s.str.strip())
    repeat = cells.apply(lambda r: r.tolist() == header, axis=1)
    first = cells.apply(lambda r: next((c for c in r if c and c.lower() != "nan"), ""),
                        axis=1)
    total = first.str.casefold().str.rstrip(":：").isin(TOTAL_WORDS) & ~repeat
    if repeat.any():
        warnings.warn(f"{name}: {int(repeat.sum())} row(s) repeating the header skipped "
                      "(not patients)", stacklevel=3)
    if total.any():
        warnings.warn(f"{name}: {int(total.sum())} total row(s) skipped (first cell "
                      "Total/Sum; not patients)", stacklevel=3)
    return df[~(repeat | total)].reset_index(drop=True)


def _decimal_commas(df: pd.DataFrame, delim: str, name: str) -> pd.DataFrame:
    """Cells ``62,5`` -> ``62.5`` in a table that is not comma-delimited and uses no
    decimal point anywhere (see the module docstring)."""
    if delim == ",":
        return df
    flat = pd.Series(df.to_numpy().ravel()).dropna().astype(str)
    commas = flat.str.match(_DECIMAL_COMMA)
    if not commas.any() or flat.str.match(_DECIMAL_POINT).any():
        return df
    warnings.warn(f"{name}: decimal commas read as decimal points ({int(commas.sum())} "
                  "cell(s) such as 62,5 -> 62.5)", stacklevel=3)
    return df.apply(lambda s: s.map(lambda v: v.replace(",", ".")
                                    if isinstance(v, str) and _DECIMAL_COMMA.match(v)
                                    else v))


def read_table(path: str | Path, *, required: Iterable[str] = (),
               na_values: Iterable[str] = DEFAULT_NA_VALUES) -> pd.DataFrame:
    """Read a CSV table (or an xlsx workbook) with every cell as a string (missing cells
    as ``NaN``).

    Parameters
    ----------
    path : path
        The CSV file (see the module docstring for xlsx).
    required : iterable of str
        Columns that must be present; their absence is a :class:`TableError` naming the
        file, the number of columns found and the delimiter. They also decide between
        candidate encodings of a file that is not UTF-8.
    na_values : iterable of str
        Cell values read as missing (after stripping spaces, case-insensitive).

    Returns
    -------
    DataFrame
        Column names and cells stripped of surrounding spaces; skipped rows (blank,
        comment, repeated header, total) removed.
    """
    path = Path(path)
    required = list(required)
    df, delim, path = _open(path, required)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        n_known = len(required) - len(missing)
        hint = (" (one column only: wrong delimiter?)" if len(df.columns) == 1 else
                " (no expected column found: is the header row missing, or is the "
                "encoding not detected? save it as UTF-8)" if not n_known else "")
        raise TableError(f"{path.name}: missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(required)}; found {len(df.columns)} column(s), "
                         f"{n_known} of them expected, with delimiter {delim!r}{hint}")
    df = df.apply(lambda s: s.str.strip())
    df = _skip_headers_and_totals(df, path.name)
    df = _decimal_commas(df, delim, path.name)
    na = {str(v).strip().casefold() for v in na_values}
    return df.mask(df.isna() | df.apply(lambda s: s.str.casefold().isin(na)))
