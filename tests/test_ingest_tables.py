"""Clinical CSVs: delimiter sniffing, encodings, and clear errors naming the file."""

from __future__ import annotations

import pytest

from analysis.io import TableError, read_table

ROWS = ["MRN;Name;Age", "A1;Müller^Jörg;61", "A2;NA;"]


def test_semicolon_utf8_bom(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes(("\n".join(ROWS) + "\n").encode("utf-8-sig"))
    df = read_table(p, required=["MRN", "Age"])
    assert list(df.columns) == ["MRN", "Name", "Age"]
    assert df.loc[0, "Name"] == "Müller^Jörg" and df.loc[0, "Age"] == "61"
    assert df.isna().loc[1].tolist() == [False, True, True]


def test_cp1252_fallback_warns(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes(("\n".join(ROWS) + "\n").replace(";", "\t").encode("cp1252"))
    with pytest.warns(UserWarning, match=r"c\.csv: not valid UTF-8.*cp1252"):
        df = read_table(p, required=["MRN"])
    assert df.loc[0, "Name"] == "Müller^Jörg"


def test_latin1_when_cp1252_cannot(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes(b"MRN,Name\nA1,\x81x\n")  # 0x81 is undefined in cp1252
    with pytest.warns(UserWarning, match="latin-1"):
        df = read_table(p)
    assert df.loc[0, "Name"] == "\x81x"


def test_wrong_delimiter_named(tmp_path):
    p = tmp_path / "clinical.csv"
    p.write_text("MRN:Name:Age\nA1:X:61\n")
    # the found header cells are never echoed (a header-less table has identifiers there)
    with pytest.raises(TableError, match=r"clinical\.csv: missing column\(s\) MRN, Age; "
                                         r"expected MRN, Age; found 1 column\(s\), 0 of them "
                                         r"expected.*wrong delimiter\?"):
        read_table(p, required=["MRN", "Age"])


def test_numbers_stay_text(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text('"id","T"\n"a",2\n"b",NA\n')
    df = read_table(p)
    assert df["T"].tolist()[0] == "2"  # never "2.0"


def test_missing_file_named(tmp_path):
    with pytest.raises(TableError, match=r"nope\.csv: cannot read"):
        read_table(tmp_path / "nope.csv")
