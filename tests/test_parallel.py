"""map_patients on the serial and process schedulers: results, failures, worker crashes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from analysis.scheduling.parallel import WORKER_DIED, MapResult, map_patients


def cube_stats(item: tuple[int, int]) -> dict[str, float]:
    """A deterministic toy step: statistics of a seeded random cube."""
    seed, size = item
    if seed < 0:
        raise ValueError(f"negative seed {seed}")
    arr = np.random.default_rng(seed).normal(size=(size, size, size))
    return {"mean": float(arr.mean()), "max": float(arr.max()), "n": arr.size}


def die_once(item: tuple[int, str, str]) -> int:
    """Square ``value``; kill its own process the first time it sees patient ``victim``."""
    value, marker, victim_flag = item
    if victim_flag == "victim" and not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(3)
    if victim_flag == "always":
        os._exit(4)
    return value * value


ITEMS = {f"P{i:02d}": (i, 4) for i in range(8)}


def test_serial_matches_direct_calls_in_sorted_order():
    items = {"b": (2, 3), "a": (1, 3), "c": (3, 3)}
    res = map_patients(cube_stats, items, scheduler="serial")
    assert list(res.results) == ["a", "b", "c"]
    assert res.results == {k: cube_stats(v) for k, v in sorted(items.items())}
    assert res.failures == {}
    assert res.computed == ["a", "b", "c"] and res.loaded == []


def test_processes_identical_to_serial():
    serial = map_patients(cube_stats, ITEMS, scheduler="serial")
    procs = map_patients(cube_stats, ITEMS, scheduler="processes", n_workers=2)
    assert list(procs.results) == sorted(ITEMS)
    assert procs.results == serial.results
    assert procs.n_computed == len(ITEMS)


@pytest.mark.parametrize("scheduler", ["serial", "processes"])
def test_failure_recorded_not_dropped(scheduler):
    items = {"A": (1, 2), "B": (-5, 2), "C": (3, 2)}
    res = map_patients(cube_stats, items, scheduler=scheduler, n_workers=2)
    assert sorted(res.results) == ["A", "C"]
    assert res.failures == {"B": "ValueError: negative seed -5"}
    assert res.n_failed == 1


def test_bad_arguments_named():
    with pytest.raises(ValueError, match="scheduler"):
        map_patients(cube_stats, ITEMS, scheduler="threads")
    with pytest.raises(ValueError, match="n_workers"):
        map_patients(cube_stats, ITEMS, n_workers=0)
    with pytest.raises(TypeError, match="items"):
        map_patients(cube_stats, [1, 2])  # type: ignore[arg-type]


def test_empty_cohort():
    res = map_patients(cube_stats, {}, scheduler="processes")
    assert res == MapResult()


def test_processes_worker_killed_loses_no_patient(tmp_path):
    marker = str(tmp_path / "died")
    items = {f"P{i}": (i, marker, "victim" if i == 2 else "") for i in range(6)}
    res = map_patients(die_once, items, scheduler="processes", n_workers=2)
    assert Path(marker).exists()  # the worker really died once
    assert res.results == {f"P{i}": i * i for i in range(6)}
    assert res.failures == {}
    assert "P2" in res.retried


def test_processes_patient_that_always_kills_is_recorded(tmp_path):
    marker = str(tmp_path / "unused")
    items = {f"P{i}": (i, marker, "always" if i == 1 else "") for i in range(4)}
    res = map_patients(die_once, items, scheduler="processes", n_workers=2)
    assert res.failures == {"P1": WORKER_DIED}
    assert res.results == {"P0": 0, "P2": 4, "P3": 9}


@pytest.mark.parametrize("value, ok", [
    ("serial", True), ("processes", True), ("dask:local", True),
    ("dask:tcp://10.0.0.5:8786", True), ("dask:foo", False), ("threads", False),
    ("dask:", False),
])
def test_params_scheduler_checked_on_load(value, ok):
    from analysis.params import ParamsError, parse_params

    data = {"run_name": "t", "scheduler": value, "cohort": {"source": "clinical_only"}}
    if ok:
        assert parse_params(data).scheduler == value
    else:
        with pytest.raises(ParamsError, match="scheduler"):
            parse_params(data)
