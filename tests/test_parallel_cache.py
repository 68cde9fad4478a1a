"""Resumable map_patients: per-patient atomic results keyed by input hash, failure records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.scheduling.parallel import input_digest, map_patients


def scaled(item: tuple[int, str]) -> int:
    """Toy step: 10 * value; raises for a negative value; logs each call to a file."""
    value, log_file = item
    with open(log_file, "a") as f:
        f.write(f"{value}\n")
    if value < 0:
        raise ValueError(f"negative value {value}")
    return 10 * value


class Interrupt:
    """Toy step that is interrupted (Ctrl-C) when it reaches patient value ``stop_at``."""

    def __init__(self, stop_at: int) -> None:
        self.stop_at = stop_at

    def __call__(self, item: tuple[int, str]) -> int:
        if item[0] == self.stop_at:
            raise KeyboardInterrupt
        return scaled(item)


def calls(log_file: Path) -> list[int]:
    return [int(s) for s in log_file.read_text().split()] if log_file.exists() else []


@pytest.fixture
def cohort(tmp_path):
    log_file = tmp_path / "calls.log"
    items = {f"P{i}": (i, str(log_file)) for i in range(6)}
    return items, log_file, tmp_path / "cache"


def test_interrupted_run_resumes_only_missing(cohort):
    items, log_file, cache = cohort
    full = map_patients(scaled, items, scheduler="serial")
    log_file.unlink()
    hashes = {k: input_digest(v[0]) for k, v in items.items()}
    with pytest.raises(KeyboardInterrupt):
        map_patients(Interrupt(3), items, scheduler="serial", cache_dir=cache,
                     input_hash=hashes)
    assert calls(log_file) == [0, 1, 2]  # P0..P2 done and written before the interrupt
    assert len(list(cache.glob("*.pkl"))) == 3
    log_file.unlink()
    (cache / ".tmp-killedwhilewriting.pkl").write_bytes(b"half")  # a SIGKILLed writer
    res = map_patients(scaled, items, scheduler="processes", n_workers=2, cache_dir=cache,
                       input_hash=hashes)
    assert res.results == full.results
    assert sorted(calls(log_file)) == [3, 4, 5]
    assert res.computed == ["P3", "P4", "P5"] and res.loaded == ["P0", "P1", "P2"]
    assert not list(cache.glob(".tmp-*"))  # no half-written file left, the stale one gone


def test_prepopulated_half_cache_recomputes_half(cohort):
    items, log_file, cache = cohort
    half = {k: items[k] for k in ["P0", "P2", "P4"]}
    map_patients(scaled, half, scheduler="serial", cache_dir=cache)
    log_file.unlink()
    res = map_patients(scaled, items, scheduler="serial", cache_dir=cache)
    assert res.n_computed == 3 and res.n_loaded == 3
    assert sorted(calls(log_file)) == [1, 3, 5]
    assert res.results == {f"P{i}": 10 * i for i in range(6)}
    # a third run computes nothing
    log_file.unlink()
    again = map_patients(scaled, items, scheduler="serial", cache_dir=cache)
    assert again.n_computed == 0 and again.results == res.results
    assert calls(log_file) == []


def test_changed_input_hash_recomputes_that_patient(cohort):
    items, log_file, cache = cohort
    hashes = {k: input_digest("v1", v[0]) for k, v in items.items()}
    map_patients(scaled, items, scheduler="serial", cache_dir=cache, input_hash=hashes)
    hashes["P4"] = input_digest("v2", 4)
    res = map_patients(scaled, items, scheduler="serial", cache_dir=cache, input_hash=hashes)
    assert res.computed == ["P4"]


def test_failure_recorded_then_retried_on_request(cohort):
    items, log_file, cache = cohort
    items["P9"] = (-1, str(log_file))
    first = map_patients(scaled, items, scheduler="serial", cache_dir=cache)
    assert first.failures == {"P9": "ValueError: negative value -1"}
    (err_file,) = cache.glob("P9.*.error.json")
    rec = json.loads(err_file.read_text())
    assert rec["error"] == "ValueError: negative value -1"
    assert "Traceback" in rec["traceback"]
    log_file.unlink()
    second = map_patients(scaled, items, scheduler="serial", cache_dir=cache)
    assert second.failures == first.failures  # reported again, not silently dropped
    assert second.n_computed == 0 and calls(log_file) == []
    third = map_patients(scaled, items, scheduler="serial", cache_dir=cache,
                         retry_failed=True)
    assert third.computed == ["P9"] and calls(log_file) == [-1]
    assert third.failures == first.failures


def test_retry_that_succeeds_removes_error_record(tmp_path):
    log_file = tmp_path / "calls.log"
    cache = tmp_path / "cache"
    hashes = {"P1": "0123456789abcdef"}
    map_patients(scaled, {"P1": (-1, str(log_file))}, scheduler="serial", cache_dir=cache,
                 input_hash=hashes)
    res = map_patients(scaled, {"P1": (1, str(log_file))}, scheduler="serial",
                       cache_dir=cache, input_hash=hashes, retry_failed=True)
    assert res.results == {"P1": 10} and res.failures == {}
    assert not list(cache.glob("*.error.json"))


def test_caller_save_load_pair(tmp_path):
    def save(arr, path: Path) -> None:
        np.save(path.open("wb"), arr)

    def load(path: Path):
        return np.load(path)

    items = {"A": 2, "B": 3}
    first = map_patients(np.arange, items, scheduler="serial", cache_dir=tmp_path,
                         save=save, load=load)
    second = map_patients(np.arange, items, scheduler="serial", cache_dir=tmp_path,
                          save=save, load=load)
    assert second.n_loaded == 2
    np.testing.assert_array_equal(second.results["B"], first.results["B"])


def test_unsafe_pid_still_cached(tmp_path):
    log_file = tmp_path / "calls.log"
    items = {"../etc/passwd": (1, str(log_file)), "a b": (2, str(log_file))}
    map_patients(scaled, items, scheduler="serial", cache_dir=tmp_path / "c")
    assert all(p.parent == tmp_path / "c" for p in (tmp_path / "c").iterdir())
    res = map_patients(scaled, items, scheduler="serial", cache_dir=tmp_path / "c")
    assert res.n_loaded == 2 and res.results == {"../etc/passwd": 10, "a b": 20}


def test_input_digest_contract(tmp_path):
    f = tmp_path / "ct.bin"
    f.write_bytes(b"abc")
    d1 = input_digest(f, {"b": 1, "a": np.arange(3)})
    assert d1 == input_digest(f, {"a": np.arange(3), "b": 1})  # key order irrelevant
    assert input_digest(1) != input_digest("1")
    assert input_digest(np.arange(3)) != input_digest(np.arange(3.0))
    f.write_bytes(b"abd")
    assert input_digest(f, {"b": 1, "a": np.arange(3)}) != d1
    with pytest.raises(TypeError, match="input_digest"):
        input_digest(object())
    with pytest.raises(ValueError, match="input_hash: patient P1"):
        map_patients(scaled, {"P1": (1, str(f))}, scheduler="serial", cache_dir=tmp_path,
                     input_hash={"P1": "x"})
