"""Keyed pseudonyms, the key file, dates as days."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pytest

from analysis import deid


def test_key_created_0600_and_reused(tmp_path):
    kf = tmp_path / "sub" / "pseudonym.key"
    k1 = deid.load_or_create_key(kf)
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600
    assert len(k1) == 64  # 32 bytes as hex
    assert deid.load_or_create_key(kf) == k1


def test_pseudonym_is_hmac_sha256():
    key = b"k" * 40
    expected = "P" + hmac.new(key, b"c1:MRN42", hashlib.sha256).hexdigest()[:12]
    assert deid.pseudonym(" MRN42 ", key, "c1") == expected
    assert deid.pseudonym("MRN42", key, "c2") != expected
    assert deid.pseudonym("MRN42", b"j" * 40, "c1") != expected


def test_pseudonym_rejects_empty():
    with pytest.raises(deid.DeidError, match="record_id"):
        deid.pseudonym("  ", b"k" * 40)


def test_short_key_rejected(tmp_path):
    (tmp_path / "k").write_text("abc")
    with pytest.raises(deid.DeidError, match="too short"):
        deid.load_or_create_key(tmp_path / "k")


def test_days_from_by_hand():
    assert deid.days_from("2020-02-28", "2020-03-01") == 2  # leap year
    assert deid.days_from("2020-01-10", "2020-01-01") == -9
    with pytest.raises(deid.DeidError, match="ISO"):
        deid.days_from("2020-01-01", "01/02/2020")


@pytest.mark.parametrize("where", ["REPORTS_DIR", "DATA_DIR"])
def test_key_inside_reports_or_data_is_refused(tmp_path, monkeypatch, where):
    from analysis import paths

    monkeypatch.setattr(paths, where, tmp_path / "shared")
    with pytest.raises(deid.DeidError, match="must not live inside"):
        deid.load_or_create_key(tmp_path / "shared" / "run" / "pseudonym.key")
    assert not (tmp_path / "shared").exists()  # refused before anything is created


def test_key_readable_by_others_is_warned_about_and_tightened(tmp_path):
    kf = tmp_path / "pseudonym.key"
    kf.write_text("ab" * 32 + "\n")
    kf.chmod(0o644)
    with pytest.warns(UserWarning, match=r"readable by group or others \(mode 0644\); "
                                         r"tightened to 0600"):
        key = deid.load_or_create_key(kf)
    assert key == b"ab" * 32
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["2019-03-04x", "2019-03-04 (approx)", "04.03.2019",
                                  "20190304", "1822-03-04", "2019-3-4"])
def test_dates_are_parsed_strictly(text):
    with pytest.raises(deid.DeidError) as err:
        deid.parse_date(text)
    assert text not in str(err.value)  # the value is never repeated


def test_iso_date_with_a_time_part_is_accepted():
    assert deid.days_from("2019-03-04T08:30:00", "2019-03-05 23:59") == 1
