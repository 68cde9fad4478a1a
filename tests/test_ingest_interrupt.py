"""An interrupted ingest: the completion marker, refusal of an incomplete store, resuming
after a kill (stale temporary files removed, same tables), an unwritable store."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from _ingest_fixtures import make_export, make_params

from analysis.ingest.run import IngestError, run_ingest
from analysis.store import COMPLETE, INGEST_TABLES, CohortStore, IncompleteStoreError


@pytest.fixture
def ingested(tmp_path):
    make_export(tmp_path / "export", n=3, fmt="nifti")
    params = make_params(tmp_path)
    run_ingest(CohortStore(tmp_path / "store"), params, progress=False)
    return params, CohortStore(tmp_path / "store")


def test_complete_marker_holds_the_table_digests(ingested):
    _, store = ingested
    marker = store.completion()
    assert sorted(marker["tables"]) == sorted(INGEST_TABLES)
    assert marker["imaging"] is True and store.has_imaging()
    store.require_complete()  # no error


def test_incomplete_or_changed_store_is_refused(ingested):
    """Injected fault: with ``require_complete`` returning at once, both ``raises``
    below failed (DID NOT RAISE)."""
    _, store = ingested
    coh = store.cohort()
    store.write_table("cohort", coh.iloc[:1])  # a table changed after ingest
    with pytest.raises(IncompleteStoreError, match="table cohort differs.*make report-01"):
        store.require_complete()
    (store.root / COMPLETE).unlink()  # ingest killed before its marker
    with pytest.raises(IncompleteStoreError, match=r"incomplete \(no COMPLETE.json.*"
                                                   r"make report-01"):
        store.require_complete()


def test_a_missing_store_names_the_params_file_and_the_command(tmp_path, monkeypatch):
    """The store of the selected run is missing (``make lab PARAMS=params/ci.yaml`` before
    any ``make report PARAMS=params/ci.yaml``): the message names both the params file
    and the command that makes the store (issue 24). Fault injected: ``for_params``
    calling ``require_complete()`` without the params file -> the message says
    ``PARAMS=<your params file>`` and the match on ``params/ci.yaml`` fails."""
    from analysis import paths
    from analysis.params import PARAMS_ENV, load_params

    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv(PARAMS_ENV, "params/ci.yaml")
    params = load_params(None)  # what a notebook opened by make lab loads
    assert params.source == "params/ci.yaml"
    with pytest.raises(IncompleteStoreError) as err:
        CohortStore.for_params(params)
    assert str(err.value) == (
        "cohort store ci has not been made; made by params/ci.yaml: run make report "
        "PARAMS=params/ci.yaml (or its first step only: make report-01 "
        "PARAMS=params/ci.yaml)")


def test_resume_after_a_kill_gives_the_same_tables(ingested, tmp_path):
    params, store = ingested
    before = {t: store.read_table(t) for t in INGEST_TABLES}
    # what a run killed mid-way leaves: no marker, a stale temporary file, a patient
    # folder without its meta.json (volumes half written), a missing table
    (store.root / COMPLETE).unlink()
    stale = store.root / ".tmp-abc123.parquet"
    stale.write_bytes(b"half")
    pid = before["cohort"].index[0]
    (store.patient_dir(pid) / "meta.json").unlink()
    (store.root / "recurrences.parquet").unlink()
    res = run_ingest(CohortStore(store.root), params, progress=False)
    assert res.n_skipped == 2  # the two intact patients were not re-read
    assert not stale.exists()
    store.require_complete()
    for t in INGEST_TABLES:
        pd.testing.assert_frame_equal(store.read_table(t), before[t])
    assert (store.patient_dir(pid) / "meta.json").exists()


def test_unwritable_store_names_the_store_not_a_raw_oserror(tmp_path, tiny_export):
    params, _ = tiny_export  # the shared fixture of tests/conftest.py
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(IngestError, match=r"cohort store store: cannot write"):
        run_ingest(CohortStore(blocker / "store"), params, progress=False)


def test_a_removed_patient_folder_is_redone(ingested):
    params, store = ingested
    pid = store.cohort().index[1]
    shutil.rmtree(store.patient_dir(pid))
    res = run_ingest(CohortStore(store.root), params, progress=False)
    assert res.n_included == 3 and res.n_skipped == 2
    assert store.has(pid, "ct")
