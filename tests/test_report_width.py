"""The index reads at 1400 px: wide tables are split into parts that fit, very wide
ones folded; a print stylesheet (issue 24, item 4). The rendered check at 1400 px of a
real run is in tests/test_report_ci.py (test_index_fits_1400_px)."""

from __future__ import annotations

import pandas as pd

from analysis.report import html as report_html
from analysis.report.html import column_chunks, column_width_px, table_html


def test_column_widths_and_chunks_hand_computed():
    """Widths: header "hr" (2 x 7.8 = 15.6) vs cells up to 5 characters (36.0) -> 36 +
    14 = 50.0; a 60-character cell wraps at 416 -> 430.0. Four columns of 430 px in a
    budget of 1000: [0, 1] (860), then [0, 2], [0, 3], each repeating column 0."""
    assert column_width_px("hr", ["1.635", "0.9"]) == 50.0
    assert column_width_px("x", ["a" * 60]) == 430.0
    df = pd.DataFrame({c: ["a" * 60] for c in "wxyz"})
    assert column_chunks(df, budget_px=1000) == [[0, 1], [0, 2], [0, 3]]
    assert column_chunks(df, budget_px=5000) == [[0, 1, 2, 3]]
    # one column wider than the budget still gets a part of its own
    assert column_chunks(df, budget_px=100) == [[0, 1], [0, 2], [0, 3]]


def test_wide_tables_split_and_very_wide_fold(tmp_path):
    """Fault injected: ``column_chunks`` returning one chunk -> one table of 20 columns
    (about 2,000 px estimated) and the count of tables below fails."""
    wide = pd.DataFrame({f"column_{k:02d}": ["0.123456789"] for k in range(20)})
    wide.insert(0, "variable", ["diameter_ge_5cm"])
    wide.to_csv(tmp_path / "t.csv", index=False)
    page = table_html(tmp_path / "t.csv", "tbl-t")
    n_tables = page.count("<table")
    assert n_tables >= 2 and 'id="tbl-t"' in page and 'id="tbl-t-part2"' in page
    assert page.count("<th>variable</th>") == n_tables  # each part names its rows
    df = pd.DataFrame({f"RctvLN_{k}": [0.5] for k in range(1, 112)})
    df.to_csv(tmp_path / "f.csv", index=False)
    folded = table_html(tmp_path / "f.csv", "tbl-f")
    assert folded.startswith('<details class="wide"><summary>111 columns, 1 rows')
    assert folded.count("<table") == 1


def test_print_stylesheet_hides_the_sidebar():
    css = report_html._CSS
    assert "@media print{" in css and "nav#toc{display:none}" in css.split("@media print")[1]


def test_feature_columns_carry_the_station_name():
    """SPEC's exact name (paper index) stays; the station follows (issue 24: RctvLN_5
    read as station 5 when it is 3A). STATIONS order: 1R 1L 2R 2L 3A ..."""
    from analysis.labels import FEATURE_NAMES, display_name

    assert display_name("RctvLN_5") == "RctvLN_5 (3A)"
    assert display_name("RIcmgLN_16") == "RIcmgLN_16 (11L)"
    assert display_name("CTV_overlaps_4L") == "CTV_overlaps_4L"
    assert display_name("GTV_size_cm") == "GTV_size_cm"
    assert len({display_name(n) for n in FEATURE_NAMES}) == 110
