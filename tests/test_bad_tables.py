"""Tables as departments write them (issue #22, item 4): one small bad export per class,
built in the test from the ingest fixtures (NIfTI, 2 patients), each with the outcome a
user expects: read (possibly with a note) or refused with a named reason.

Patient MRN9000 (local failure, one recurrence site) is the one made bad; MRN9001
(censored) stays valid unless a test says otherwise.

Injected fault: run against the ingest code before issue #22 (main at 1c1184d, same
venv), the 21 cases below gave 19 failed, 2 passed (the NA spellings "NA" and "n/a",
which the old default of cohort.na_values already held).
"""

from __future__ import annotations

import unicodedata

import openpyxl
import pytest
from _ingest_fixtures import CATEGORY_MAP, COLUMN_MAP, make_export

from analysis.clinical import CATEGORIES
from analysis.deid import load_or_create_key, pseudonym
from analysis.ingest.run import run_ingest
from analysis.io import TableError
from analysis.params import parse_params
from analysis.store import CohortStore


def _export(tmp_path):
    make_export(tmp_path / "export", n=2, fmt="nifti")
    return tmp_path / "export"


def _params(tmp_path, **cohort):
    return parse_params({
        "run_name": "t", "scheduler": "serial",
        "cohort": {"source": "export", "export_dir": str(tmp_path / "export"),
                   "center": "c1", "column_map": COLUMN_MAP, "category_map": CATEGORY_MAP,
                   **cohort},
        "ingest": {"pseudonym_key_file": str(tmp_path / "key")}})


def _run(tmp_path, **kw):
    return run_ingest(CohortStore(tmp_path / "store"), _params(tmp_path, **kw), progress=False)


def _pid(tmp_path, mrn="MRN9000"):
    return pseudonym(mrn, load_or_create_key(tmp_path / "key"), "c1")


def _outcome(res, pid) -> str:
    row = res.screening.set_index("pid").loc[pid]
    return "included" if row["included"] else row["reason"]


def _edit(path, old, new, encoding="utf-8"):
    text = path.read_text(encoding=encoding)
    assert old in text, old
    path.write_bytes(text.replace(old, new).encode(encoding))


# --- decimal commas and semicolons ------------------------------------------------------
def test_semicolon_table_with_decimal_commas_is_read_with_a_note(tmp_path):
    exp = _export(tmp_path)
    text = (exp / "clinical.csv").read_text().replace(",", ";")
    (exp / "clinical.csv").write_text(text.replace(";55;", ";62,5;"))
    res = _run(tmp_path)
    pid = _pid(tmp_path)
    assert _outcome(res, pid) == "included"
    assert CohortStore(tmp_path / "store").cohort().loc[pid, "age"] == 62.5
    assert any("clinical.csv: decimal commas read as decimal points (1 cell(s)" in w
               for w in res.warnings)


def test_decimal_comma_in_a_comma_table_is_named(tmp_path):
    exp = _export(tmp_path)
    _edit(exp / "clinical.csv", ",M,55,", ',M,"62,5",')
    assert "age: not a number in column 'Age' (a decimal comma" in \
        _outcome(_run(tmp_path), _pid(tmp_path))


def test_recurrence_coordinates_with_decimal_commas(tmp_path):
    """';' table: parsed. ',' table with a quoted "1,5": the patient is refused, never
    kept with 0 sites (the old code dropped the site with a warning and kept him)."""
    exp = _export(tmp_path)
    (exp / "recurrences.csv").write_text("MRN;SiteNo;X_mm;Y_mm;Z_mm\nMRN9000;1;1,5;2,0;13,0\n")
    res = _run(tmp_path)
    pid = _pid(tmp_path)
    assert _outcome(res, pid) == "included"
    rec = CohortStore(tmp_path / "store").recurrences()
    assert rec[["x_mm", "y_mm", "z_mm"]].values.tolist() == [[1.5, 2.0, 13.0]]
    (exp / "recurrences.csv").write_text('MRN,SiteNo,X_mm,Y_mm,Z_mm\nMRN9000,1,"1,5",2,13\n')
    out = _outcome(_run(tmp_path), pid)
    assert out.startswith("invalid_followup: recurrences.csv: a site's X_mm/Y_mm/Z_mm is "
                          "missing or not a number (decimal commas")
    # unquoted in a ',' table: the row has too many cells, and the stop says why
    (exp / "recurrences.csv").write_text("MRN,SiteNo,X_mm,Y_mm,Z_mm\nMRN9000,1,1,5,2,13\n")
    with pytest.raises(TableError, match=r"recurrences\.csv: .* a row has more cells than "
                                         r"the header: decimal commas \(62,5\)"):
        _run(tmp_path)


# --- missing values -------------------------------------------------------------------
@pytest.mark.parametrize("na", ["#N/A", "-", "NA", "n/a", "null"])
def test_na_spellings_are_missing_values_not_errors(tmp_path, na):
    exp = _export(tmp_path)
    _edit(exp / "clinical.csv", ",M,55,", f",M,{na},")
    res = _run(tmp_path)
    pid = _pid(tmp_path)
    assert _outcome(res, pid) == "included"
    assert CohortStore(tmp_path / "store").cohort()["age"].isna().tolist() == [
        p == pid for p in sorted([pid, _pid(tmp_path, "MRN9001")])]


def test_na_values_is_a_param(tmp_path):
    exp = _export(tmp_path)
    _edit(exp / "clinical.csv", ",M,55,", ",M,unk,")
    assert "add it to cohort.na_values" in _outcome(_run(tmp_path), _pid(tmp_path))
    assert _outcome(_run(tmp_path, na_values=["", "unk"]), _pid(tmp_path)) == "included"


# --- rows that are not patients -------------------------------------------------------
def test_repeated_header_and_total_row_are_not_screened(tmp_path):
    exp = _export(tmp_path)
    lines = (exp / "clinical.csv").read_text().splitlines()
    lines.insert(2, lines[0])  # a header repeated mid-table (two sheets pasted together)
    lines.append("Total,2,,,,,,,,,,,,,,")
    (exp / "clinical.csv").write_text("\n".join(lines) + "\n")
    res = _run(tmp_path)
    assert (res.n_screened, res.n_included) == (2, 2)  # the old code: screened 4
    assert any("1 row(s) repeating the header skipped" in w for w in res.warnings)
    assert any("1 total row(s) skipped" in w for w in res.warnings)


# --- Excel ------------------------------------------------------------------------------
def test_xlsx_clinical_table_is_read(tmp_path):
    exp = _export(tmp_path)
    rows = [line.split(",") for line in (exp / "clinical.csv").read_text().splitlines()]
    wb = openpyxl.Workbook()
    for r in rows:  # numbers as Excel numbers (T stage 2, age 55), dates as text
        wb.active.append([int(c) if c.isdigit() else c for c in r])
    (exp / "clinical.csv").unlink()
    wb.save(exp / "clinical.xlsx")
    res = _run(tmp_path)
    assert (res.n_screened, res.n_included) == (2, 2)
    assert any("clinical.csv: absent; read clinical.xlsx" in w for w in res.warnings)
    assert CohortStore(tmp_path / "store").cohort()["t_stage"].tolist() == ["T2", "T2"]


def test_legacy_xls_is_refused_with_save_as_csv(tmp_path):
    exp = _export(tmp_path)
    (exp / "clinical.csv").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(TableError, match=r"clinical\.csv: a legacy Excel \(\.xls\) "
                                         r"workbook, not a CSV table: save it as CSV"):
        _run(tmp_path)


# --- encodings ----------------------------------------------------------------------
def test_gb18030_table_with_a_chinese_header_is_read(tmp_path):
    exp = _export(tmp_path)
    text = (exp / "clinical.csv").read_text().replace("MRN,Name,", "病历号,姓名,")
    text = text.replace("Zzyzx^Quentin0", "王芳").replace("Zzyzx^Quentin1", "李娜")
    (exp / "clinical.csv").write_bytes(text.encode("gb18030"))
    cmap = {("病历号" if k == "MRN" else "姓名" if k == "Name" else k): v
            for k, v in COLUMN_MAP.items()}
    res = _run(tmp_path, column_map=cmap)
    assert (res.n_screened, res.n_included) == (2, 2)
    assert any("clinical.csv: not valid UTF-8" in w and "read as gb18030" in w
               for w in res.warnings)


def test_european_ansi_table_is_still_cp1252(tmp_path):
    exp = _export(tmp_path)
    text = (exp / "clinical.csv").read_text().replace("Zzyzx^Quentin0", "Müller^Jörg")
    (exp / "clinical.csv").write_bytes(text.encode("cp1252"))
    res = _run(tmp_path)
    assert res.n_included == 2
    assert any("read as cp1252" in w for w in res.warnings)


# --- record numbers and folders -------------------------------------------------------
def test_full_width_and_zero_width_mrns_match(tmp_path):
    exp = _export(tmp_path)
    _edit(exp / "followup.csv", "MRN9000,", "ＭＲＮ９０００,")  # full-width (IME input)
    _edit(exp / "clinical.csv", "MRN9001,", "MRN\u200b9001,")  # a zero-width space
    res = _run(tmp_path)
    assert _outcome(res, _pid(tmp_path)) == "included"
    assert _outcome(res, _pid(tmp_path, "MRN9001")) == "included"
    assert CohortStore(tmp_path / "store").cohort().loc[_pid(tmp_path), "lc_event"] == 1


def test_folder_name_in_nfd_is_found(tmp_path):
    exp = _export(tmp_path)
    for f in ("clinical.csv", "followup.csv", "recurrences.csv"):
        _edit(exp / f, "MRN9000", "MRNÉ9000")  # composed É (NFC) in the tables
    nfd = unicodedata.normalize("NFD", "MRNÉ9000")
    assert nfd != "MRNÉ9000"
    (exp / "images" / "MRN9000").rename(exp / "images" / nfd)  # as macOS writes it
    assert _outcome(_run(tmp_path), _pid(tmp_path, "MRNÉ9000")) == "included"


def test_two_folders_for_one_patient_are_refused_as_ambiguous(tmp_path):
    exp = _export(tmp_path)
    (exp / "images" / "MRN9000").rename(exp / "images" / "mrn9000")
    make_export(tmp_path / "other", n=1, fmt="nifti")
    (tmp_path / "other" / "images" / "MRN9000").rename(exp / "images" / "MRN9000")
    assert _outcome(_run(tmp_path), _pid(tmp_path)) == (
        "no_images: 2 image folders match this patient's record number (names equal after "
        "NFKC, zero-width characters removed and case folded): ambiguous; keep one")


# --- outcomes and categories ------------------------------------------------------------
def test_follow_up_after_death_is_refused(tmp_path):
    exp = _export(tmp_path)
    fu = (exp / "followup.csv").read_text().splitlines()
    fu[0] += ",Death,DeathDate"
    fu[1] += ",1,2020-03-04"  # LastFollowUp 2022-03-04: two years after death
    fu[2] += ",0,"
    (exp / "followup.csv").write_text("\n".join(fu) + "\n")
    assert _outcome(_run(tmp_path), _pid(tmp_path)) == (
        "invalid_followup: last follow-up 730 days after death in followup.csv (follow-up "
        "ends at death: LastFollowUp must equal DeathDate)")


@pytest.mark.parametrize(("cell", "column", "source", "canon"), [
    ("2.0", "t_stage", "cT", "T2"), ("T2a", "t_stage", "cT", "T2"),
    ("IIIA", "tnm_stage", "Stage", "III")])
def test_unknown_category_suggests_the_category_map_entry(tmp_path, cell, column, source,
                                                         canon):
    exp = _export(tmp_path)
    row = "MRN9000,Zzyzx^Quentin0,1948-01-10,M,55,SCLC,Central,2,2,0,III,"
    new = row.replace(",Central,2,", f",Central,{cell},") if column == "t_stage" else \
        row.replace(",III,", f",{cell},")
    _edit(exp / "clinical.csv", row, new)
    out = _outcome(_run(tmp_path), _pid(tmp_path))
    assert out == (f"invalid_clinical: {column}: unknown value in column {source!r} "
                   f"(expected one of {', '.join(CATEGORIES[column])}); to accept it, add "
                   f"to the params: cohort.category_map: {{{column}: {{'{cell}': {canon}}}}}")
    # the suggested entry fixes it
    cmap = {**CATEGORY_MAP, column: {**CATEGORY_MAP.get(column, {}), cell: canon}}
    res = run_ingest(CohortStore(tmp_path / "store2"), _params(tmp_path, category_map=cmap), progress=False)
    assert _outcome(res, _pid(tmp_path)) == "included"
