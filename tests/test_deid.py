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
