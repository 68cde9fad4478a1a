"""map_patients on a Dask LocalCluster (2 worker processes): same tables, no lost patient."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from analysis.scheduling import distributed as dd  # noqa: E402
from analysis.scheduling.parallel import map_patients  # noqa: E402


def row_of(item: tuple[int, int]) -> dict[str, float]:
    """Deterministic toy step: one table row from a seeded random cube."""
    seed, size = item
    if seed < 0:
        raise ValueError(f"negative seed {seed}")
    arr = np.random.default_rng(seed).gamma(2.0, size=(size, size, size))
    return {"mean": float(arr.mean()), "p95": float(np.percentile(arr, 95)), "n": arr.size}


def die_once_in_worker(item: tuple[int, str, bool]) -> int:
    """Square ``value``; the first call for the victim kills its own worker process."""
    value, marker, victim = item
    if victim and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return value * value


def always_die(item: tuple[int, str, bool]) -> int:
    """Square ``value``; kill the worker process every time for the victim."""
    value, _, victim = item
    if victim:
        os._exit(1)
    return value * value


@pytest.fixture(scope="module")
def address():
    """One LocalCluster for the module; ``dask:local`` with 2 workers reuses it.

    allowed-failures = 1: a task may lose one worker and is rerun; losing a second makes
    it a KilledWorker failure (keeps the "always kills" test short).
    """
    import dask

    dd.shutdown()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        client = dd.get_client("local", 2)
    client.wait_for_workers(2, timeout=60)
    yield client.scheduler.address
    dd.shutdown()


def table(res) -> pd.DataFrame:
    return pd.DataFrame.from_dict(res.results, orient="index")


def test_local_cluster_table_identical_to_serial(address):
    items = {f"P{i:03d}": (i, 6) for i in range(12)}
    items["P999"] = (-1, 6)
    serial = map_patients(row_of, items, scheduler="serial")
    local = map_patients(row_of, items, scheduler="dask:local", n_workers=2)
    tcp = map_patients(row_of, items, scheduler=f"dask:{address}")
    for res in (local, tcp):
        pd.testing.assert_frame_equal(table(res), table(serial), check_exact=True)
        assert list(res.results) == sorted(k for k in items if k != "P999")
        assert res.failures == {"P999": "ValueError: negative seed -1"}


def test_more_patients_than_tasks_in_flight(address, monkeypatch):
    monkeypatch.setattr(dd, "MIN_IN_FLIGHT", 1)
    monkeypatch.setattr(dd, "IN_FLIGHT_PER_THREAD", 1)  # window = 2 tasks for 10 patients
    items = {f"Q{i}": (i, 2) for i in range(10)}
    res = map_patients(row_of, items, scheduler=f"dask:{address}")
    assert res.results == {k: row_of(v) for k, v in sorted(items.items())}
    assert res.computed == sorted(items)


def test_worker_killed_mid_run_loses_no_patient(address, tmp_path):
    marker = tmp_path / "killed"
    items = {f"P{i}": (i, str(marker), i == 3) for i in range(8)}
    res = map_patients(die_once_in_worker, items, scheduler=f"dask:{address}",
                       cache_dir=tmp_path / "cache")
    assert marker.exists()  # a worker process really died on P3
    assert res.results == {f"P{i}": i * i for i in range(8)}
    assert res.failures == {}
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 8


def test_patient_that_kills_every_worker_is_recorded(address, tmp_path):
    """Only the patient that kills its worker fails; the others complete.

    Why it could flake: the scheduler counts a lost worker against every task
    ``processing`` on it (distributed.scheduler ``remove_worker``: ``ts.suspicious += 1``
    for each; with worker-saturation 1.1 a one-thread worker holds up to 2), so P0 or P2,
    assigned to the worker P1 killed twice, can reach allowed-failures too and come back
    as a second ``KilledWorker``; a killed worker also loses the results it held. Fix
    (analysis.scheduling.distributed.iter_dask): every patient whose task failed outside the step is
    rerun alone after the others; a bystander then succeeds, the culprit fails again.
    Honest record: the flake was seen once here (pytest -n 2 on a loaded machine) while
    only ``KilledWorker`` patients were rerun; its message was not captured, so the rerun
    now covers every failure outside the step and the final wait for the restarted
    workers allows 180 s (60 s before). With the rerun removed, 10 runs of a variant (3
    and 8 patients, bystanders sleeping 1 s and 0.3 s) all passed: the fix rests on the
    scheduler rule above, not on a reproduction.
    """
    items = {f"P{i}": (i, "", i == 1) for i in range(3)}
    res = map_patients(always_die, items, scheduler=f"dask:{address}")
    assert sorted(res.results) == ["P0", "P2"]
    assert list(res.failures) == ["P1"]
    assert res.failures["P1"].startswith("KilledWorker")
    # the nannies restart the killed workers; on a loaded machine that takes a while
    dd.get_client("local", 2).wait_for_workers(2, timeout=180)


def test_dask_resumes_from_serial_cache(address, tmp_path):
    items = {f"P{i}": (i, 3) for i in range(6)}
    half = {k: items[k] for k in ["P1", "P4"]}
    map_patients(row_of, half, scheduler="serial", cache_dir=tmp_path)
    res = map_patients(row_of, items, scheduler=f"dask:{address}", cache_dir=tmp_path)
    assert res.loaded == ["P1", "P4"] and res.computed == ["P0", "P2", "P3", "P5"]
    assert res.results == map_patients(row_of, items, scheduler="serial").results


def test_real_partition_table_identical_to_serial(address):
    """The real step: analysis.partition on three tiny phantom patients."""
    from analysis.grid import Grid
    from analysis.partition import partition_table
    from analysis.phantom import make_patient

    grid = Grid((32, 64, 64), (7.5, 6.0, 6.0))
    source = {}
    for i in range(3):
        pat = make_patient(100 + i, grid)
        source[f"T{i}"] = (pat["ctv"], pat["gtv"], pat["gtvnd"], pat["stations"],
                           grid.spacing_mm)
    serial = partition_table(source, scheduler="serial")
    dask = partition_table(source, scheduler=f"dask:{address}")
    assert len(serial.features) == 3 and serial.features.shape[1] == 110
    pd.testing.assert_frame_equal(dask.features, serial.features, check_exact=True)
    pd.testing.assert_frame_equal(dask.volumes, serial.volumes, check_exact=True)


def test_step_workers_cannot_import_fails_each_patient(address, monkeypatch):
    """A step whose module exists only in the client: every patient fails, no hang."""
    ghost = types.ModuleType("ghost_step_only_in_client")
    exec("def double(x):\n    return 2 * x\n", ghost.__dict__)
    monkeypatch.setitem(sys.modules, ghost.__name__, ghost)
    res = map_patients(ghost.double, {"a": 1, "b": 2}, scheduler=f"dask:{address}")
    assert res.results == {}
    assert sorted(res.failures) == ["a", "b"]
    assert "cannot load the step" in res.failures["a"]


def test_unreachable_scheduler_named():
    with pytest.raises(ConnectionError, match="tcp://127.0.0.1:1"):
        dd.get_client("tcp://127.0.0.1:1", timeout="1s")


def test_dask_map_compatibility_wrapper(address):
    from analysis.scheduling.parallel import _call

    out = dd.dask_map(_call, row_of, {"A": (1, 2), "B": (-1, 2)}, address=address,
                      n_workers=2)
    assert out["A"] == (True, row_of((1, 2)))
    assert out["B"] == (False, "ValueError: negative seed -1")
