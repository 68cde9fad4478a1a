"""Never complete with lost data (issue #22, item 5): a failed store write stops the run
with a named error and no COMPLETE.json; one run at a time holds the store's lock.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading

import pandas as pd
import pytest
from _ingest_fixtures import make_export, make_params

from analysis import ingest, store
from analysis.ingest import IngestError, is_store_failure, run_ingest
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
    first = run_ingest(params, progress=False, store_root=root)
    assert first.n_included == 3 and (root / COMPLETE).is_file()
    # the export changed (so every patient is rewritten) and the disk fills up after
    # the first patient's 4 volumes (ct, gtv, gtvnd, ctv) and its station map
    for d in sorted((tmp_path / "export" / "images").iterdir()):
        (d / "notes.txt").write_text("changed\n")
    _enospc_after(5, monkeypatch)
    with pytest.raises(IngestError) as err:
        run_ingest(params, progress=False, store_root=root)
    msg = str(err.value)
    assert "2 patient(s) could not be written" in msg and "No space left on device" in msg
    assert "NOT marked complete" in msg and str(tmp_path) not in msg
    assert not (root / COMPLETE).exists()
    assert not (root / LOCK).exists()  # released
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
        run_ingest(make_params(tmp_path), progress=False, store_root=tmp_path / "store")
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
    lone = run_ingest(params, progress=False, store_root=tmp_path / "lone")
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
            out["res"] = run_ingest(params, progress=False, store_root=tmp_path / "shared")
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            out["err"] = e

    t = threading.Thread(target=first)
    t.start()
    try:
        assert started.wait(60)
        monkeypatch.setattr(ingest, "ingest_patient", real)
        with pytest.raises(StoreLockedError) as err:
            run_ingest(params, progress=False, store_root=tmp_path / "shared")
    finally:
        release.set()
        t.join(120)
    assert not (tmp_path / "shared" / LOCK).exists()  # the first released its lock
    msg = str(err.value)
    assert f"pid {os.getpid()}" in msg and "started 20" in msg
    assert "err" not in out, out.get("err")
    assert out["res"].n_included == lone.n_included == 2
    a, b = CohortStore(tmp_path / "lone"), CohortStore(tmp_path / "shared")
    for table in ("cohort", "screening", "recurrences"):
        pd.testing.assert_frame_equal(a.read_table(table), b.read_table(table))
    assert (tmp_path / "shared" / COMPLETE).is_file()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # that process has exited
    s = CohortStore(tmp_path / "s")
    s.root.mkdir()
    (s.root / LOCK).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                           "started": "2026-01-01T00:00:00+00:00",
                                           "token": "t0"}))
    with s.lock("test") as held:
        assert held["stale"]["pid"] == pid and held["pid"] == os.getpid()
        assert json.loads((s.root / LOCK).read_text())["token"] == held["token"]
    assert not (s.root / LOCK).exists()
    # a live process (this test's parent) holds it: refused, naming it
    (s.root / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                           "started": "2026-01-02T03:04:05+00:00",
                                           "token": "t1", "what": "make report"}))
    with pytest.raises(StoreLockedError, match=rf"pid {os.getppid()} .*make report started "
                                               r"2026-01-02T03:04:05"), s.lock("test"):
        pass
    assert (s.root / LOCK).exists()  # not removed by the refused run
    # a kernel of the runner holding it (its token in the environment) runs inside it
    os.environ[store.LOCK_TOKEN_ENV] = "t1"
    try:
        with s.lock("01_ingest") as held:
            assert held["token"] == "t1"
    finally:
        del os.environ[store.LOCK_TOKEN_ENV]
    assert (s.root / LOCK).exists()  # the holder releases it, not the kernel


def test_a_second_make_report_on_a_store_in_use_refuses_before_running(tmp_path):
    """Injected fault: without the lock in ``run_report``, the call below ran the chain
    (DID NOT RAISE ReportError) while another run held the store."""
    from analysis.report import ReportError, run_report

    f = tmp_path / "p.yaml"
    f.write_text("run_name: busy\ncohort: {source: clinical_only}\n"
                 "report: {notebooks: [01_ingest]}\n")
    s = CohortStore(tmp_path / "data" / "store" / "busy")
    s.root.mkdir(parents=True)
    (s.root / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                           "started": "2026-01-02T03:04:05+00:00",
                                           "token": "t1", "what": "make report"}))
    log: list[str] = []
    with pytest.raises(ReportError, match=rf"in use by another run \(pid {os.getppid()} "):
        run_report(f, notebooks_dir=tmp_path, reports_root=tmp_path / "reports",
                   data_root=tmp_path / "data", echo=log.append)
    assert not log and not (tmp_path / "reports" / "busy").exists()
