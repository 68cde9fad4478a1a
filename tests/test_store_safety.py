"""Never complete with lost data (issue #22, item 5): a failed store write stops the run
with a named error and no COMPLETE.json; one run at a time holds the store's lock.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pytest
from _ingest_fixtures import make_export, make_params

from analysis import store
from analysis.ingest import run as ingest
from analysis.ingest.run import IngestError, is_store_failure, run_ingest
from analysis.store import COMPLETE, LOCK, CohortStore, StoreLockedError


def _enospc_after(n_ok: int, monkeypatch):
    """Make ``analysis.store.write_nifti`` fail with ENOSPC after ``n_ok`` volumes."""
    real = store.write_nifti
    calls = {"n": 0}

    def fake(path, array, grid):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, array, grid)

    monkeypatch.setattr(store, "write_nifti", fake)


def test_a_full_disk_stops_the_run_and_no_complete_marker_is_written(tmp_path, monkeypatch):
    """Injected fault: with ``is_store_failure`` answering False (the failure taken as
    the patient's), run_ingest returned: 1 of 3 patients included, the other two
    "error: ... No space left on device", and COMPLETE.json written."""
    make_export(tmp_path / "export", n=3, fmt="nifti")
    params = make_params(tmp_path)
    root = tmp_path / "store"
    first = run_ingest(CohortStore(root), params, progress=False)
    assert first.n_included == 3 and (root / COMPLETE).is_file()
    # the export changed (so every patient is rewritten) and the disk fills up after
    # the first patient's 4 volumes (ct, gtv, gtvnd, ctv) and its station map
    for d in sorted((tmp_path / "export" / "images").iterdir()):
        (d / "notes.txt").write_text("changed\n")
    _enospc_after(5, monkeypatch)
    with pytest.raises(IngestError) as err:
        run_ingest(CohortStore(root), params, progress=False)
    msg = str(err.value)
    assert "2 patient(s) could not be written" in msg and "No space left on device" in msg
    assert "NOT marked complete" in msg and str(tmp_path) not in msg
    assert not (root / COMPLETE).exists()
    assert (root / LOCK).read_text() == ""  # released
    with pytest.raises(store.IncompleteStoreError):
        CohortStore(root).require_complete()


@pytest.mark.parametrize("code,name", [(errno.ENOSPC, "ENOSPC"), (errno.EROFS, "EROFS"),
                                       (errno.EACCES, "EACCES")])
def test_a_failed_table_write_is_a_named_error(tmp_path, monkeypatch, code, name):
    make_export(tmp_path / "export", n=2, fmt="nifti")

    def fail(self, table, df):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(CohortStore, "write_table", fail)
    with pytest.raises(IngestError, match=f"cannot write \\({name}: "):
        run_ingest(CohortStore(tmp_path / "store"), make_params(tmp_path), progress=False)
    assert not (tmp_path / "store" / COMPLETE).exists()


def test_store_failures_are_told_from_data_failures():
    assert is_store_failure("analysis.store.StoreWriteError: [Errno 13] patient P1: cannot "
                            "write to the cohort store (Permission denied: x)")
    assert is_store_failure("OSError: [Errno 28] No space left on device: 'x'")
    assert is_store_failure("OSError: [Errno 30] Read-only file system: 'x'")
    # an unreadable INPUT file, a bad value: the patient's data
    assert not is_store_failure("PermissionError: [Errno 13] Permission denied: 'CT#1'")
    assert not is_store_failure("ValueError: [Errno 28] looks alike but is no OSError")
    assert not is_store_failure("analysis.io.dicom_read.DicomError: bad slice")


def test_a_second_run_on_the_same_store_refuses_and_the_first_completes_as_alone(
        tmp_path, monkeypatch):
    """Two runs at once: the second refuses naming the first (pid, start time), the
    first's tables equal those of a lone run.

    Injected fault: with ``CohortStore.lock`` yielding without creating the lock file,
    the second run did not refuse (DID NOT RAISE StoreLockedError)."""
    make_export(tmp_path / "export", n=2, fmt="nifti")
    params = make_params(tmp_path)
    lone = run_ingest(CohortStore(tmp_path / "lone"), params, progress=False)
    started, release = threading.Event(), threading.Event()
    real = ingest.ingest_patient

    def slow(task):
        started.set()
        assert release.wait(60)
        return real(task)

    monkeypatch.setattr(ingest, "ingest_patient", slow)
    out: dict = {}

    def first():
        try:
            out["res"] = run_ingest(CohortStore(tmp_path / "shared"), params, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            out["err"] = e

    t = threading.Thread(target=first)
    t.start()
    try:
        assert started.wait(60)
        monkeypatch.setattr(ingest, "ingest_patient", real)
        with pytest.raises(StoreLockedError) as err:
            run_ingest(CohortStore(tmp_path / "shared"), params, progress=False)
    finally:
        release.set()
        t.join(120)
    assert (tmp_path / "shared" / LOCK).read_text() == ""  # the first released its lock
    msg = str(err.value)
    assert f"pid {os.getpid()}" in msg and "started 20" in msg
    assert "err" not in out, out.get("err")
    assert out["res"].n_included == lone.n_included == 2
    a, b = CohortStore(tmp_path / "lone"), CohortStore(tmp_path / "shared")
    for table in ("cohort", "screening", "recurrences"):
        pd.testing.assert_frame_equal(a.read_table(table), b.read_table(table))
    assert (tmp_path / "shared" / COMPLETE).is_file()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    """A run killed while holding the lock: the kernel released its flock, its content is
    left behind. Injected fault: with a lock file that holds content counted as held
    (``flock`` patched to raise BlockingIOError then), the next run refused: "cohort store
    s: in use by another run (pid 30465 on vm, killed started ...)"."""
    s = CohortStore(tmp_path / "s")
    s.root.mkdir()
    code = ("import sys, os; sys.path.insert(0, sys.argv[1]); "
            "from analysis.store import CohortStore; "
            "cm = CohortStore(sys.argv[2]).lock('killed'); cm.__enter__(); "
            "print(os.getpid(), flush=True); os._exit(0)")  # dies holding it
    dead = subprocess.run([sys.executable, "-c", code, os.getcwd(), str(s.root)],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    assert json.loads((s.root / LOCK).read_text())["pid"] == pid  # left behind
    with s.lock("test") as held:
        assert held["stale"]["pid"] == pid and held["pid"] == os.getpid()
        assert json.loads((s.root / LOCK).read_text())["token"] == held["token"]
        # a second run while this one holds it: refused, naming it
        with pytest.raises(StoreLockedError, match=rf"in use by another run \(pid "
                                                   rf"{os.getpid()} on .*test started 20"):
            with s.lock("second"):
                pass
        assert json.loads((s.root / LOCK).read_text())["token"] == held["token"]
        # a kernel of the runner holding it (its token in the environment) runs inside it
        os.environ[store.LOCK_TOKEN_ENV] = held["token"]
        try:
            with s.lock("01_ingest") as inner:
                assert inner["token"] == held["token"]
        finally:
            del os.environ[store.LOCK_TOKEN_ENV]
        assert json.loads((s.root / LOCK).read_text())["token"] == held["token"]
    assert (s.root / LOCK).read_text() == ""  # released by its holder only
    with s.lock("again") as held:  # and free again
        assert held["stale"] is None


def test_a_second_make_report_on_a_store_in_use_refuses_before_running(tmp_path):
    """Injected fault: without the lock in ``run_report``, the call below ran the chain
    (DID NOT RAISE ReportError) while another run held the store."""
    from analysis.report.runner import ReportError, run_report

    f = tmp_path / "p.yaml"
    f.write_text("run_name: busy\ncohort: {source: clinical_only}\n"
                 "report: {notebooks: [01_ingest]}\n")
    s = CohortStore(tmp_path / "data" / "store" / "busy")
    log: list[str] = []
    with s.lock("make report"):
        with pytest.raises(ReportError, match=rf"in use by another run \(pid {os.getpid()} "):
            run_report(f, notebooks_dir=tmp_path, reports_root=tmp_path / "reports",
                       data_root=tmp_path / "data", echo=log.append)
    assert not log and not (tmp_path / "reports" / "busy").exists()
