"""The key holder's way back (``python -m analysis.deid lookup <pid>``), the one MRN rule,
and a key folder that cannot be written (issue #22, item 7).

Injected fault: against deid before issue #22 (main at 1c1184d; normalise_mrn then in
analysis.clinical), the 7 cases gave 6 failed, 1 passed (spaces and case, which the old
rule already folded, and nothing else).
"""

from __future__ import annotations

import errno
import os

import pytest
import yaml
from _ingest_fixtures import CATEGORY_MAP, COLUMN_MAP, make_export

from analysis import deid
from analysis.deid import DeidError, load_or_create_key, normalise_mrn, pseudonym


def _params_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({
        "run_name": "lk", "cohort": {"source": "export", "export_dir": str(tmp_path / "export"),
                                     "center": "c1", "column_map": COLUMN_MAP,
                                     "category_map": CATEGORY_MAP},
        "ingest": {"pseudonym_key_file": str(tmp_path / "secrets" / "key")}}))
    return f


def test_lookup_maps_a_pseudonym_back_to_its_folder_for_the_key_holder(tmp_path, capsys):
    make_export(tmp_path / "export", n=2, fmt="nifti")
    (tmp_path / "export" / "images" / "MRN9001").rename(
        tmp_path / "export" / "images" / "mrn9001")  # matched by the MRN rule
    f = _params_file(tmp_path)
    # no key yet: nobody can look up, and the lookup never creates one
    assert deid.main(["lookup", "P000000000000", "--params", str(f)]) == 1
    assert "only the person holding the pseudonym key" in capsys.readouterr().err
    assert not (tmp_path / "secrets" / "key").exists()
    key = load_or_create_key(tmp_path / "secrets" / "key")
    pid = pseudonym("MRN9001", key, "c1")
    assert deid.main(["lookup", pid, "--params", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{pid}: record number MRN9001",
                   f"{pid}: image folder {tmp_path / 'export' / 'images' / 'mrn9001'}"]
    # another center's pseudonym of the same MRN is not this patient
    assert deid.main(["lookup", pseudonym("MRN9001", key, "c2"), "--params", str(f)]) == 1
    assert "no record of clinical.csv has the pseudonym" in capsys.readouterr().err


@pytest.mark.parametrize(("a", "b"), [(" m0012 ", "M0012"), ("ＭＲＮ００１２", "mrn0012"),
                                      ("M\u200b0012\ufeff", "M0012"),
                                      ("Mü0012", "Mu\u03080012")])
def test_one_mrn_rule(a, b):
    """Spaces, case, full-width (NFKC), zero-width characters, NFD: one patient."""
    assert normalise_mrn(a) == normalise_mrn(b)


def test_the_pseudonym_keys_on_the_cleaned_spelling():
    key = b"k" * 32
    assert pseudonym("ＭＲＮ００１２", key) == pseudonym("MRN0012", key)
    assert pseudonym("M\u200b0012", key) == pseudonym(" M0012 ", key)
    assert pseudonym("m0012", key) != pseudonym("M0012", key)  # the table's spelling


def test_a_key_folder_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    """Injected fault: without the OSError handling in load_or_create_key, the call raised
    the raw OSError ("[Errno 30] Read-only file system")."""
    real = os.open

    def read_only(path, flags, *a):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, flags, *a)

    monkeypatch.setattr(deid.os, "open", read_only)
    with pytest.raises(DeidError, match=r"ingest\.pseudonym_key_file: cannot create the "
                                        r"key file in .*ro \(Read-only file system\): make "
                                        r"that folder writable"):
        load_or_create_key(tmp_path / "ro" / "key")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DeidError, match="cannot create the key file"):
        load_or_create_key(blocker / "key")  # its folder is a file: NotADirectoryError
