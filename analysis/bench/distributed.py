"""Benchmark of the per-patient steps on 1 and 2 Dask workers (issue 9).

A small phantom department export (DICOM CT series + RTSTRUCT, ``N`` patients on the CI
grid 48 x 96 x 96 of 5 x 4 x 4 mm) is written once in a temporary folder; then, for
each scheduler (``serial`` in this process for reference, ``dask:local`` with 1 worker,
``dask:local`` with 2 workers; each cluster started and warmed before timing), the three
real per-patient steps run through :func:`analysis.scheduling.parallel.map_patients` on a fresh
cohort store:

- ``ingest``: :func:`analysis.ingest.ingest_patient` (read DICOM + RTSTRUCT, check,
  write the patient's NIfTI volumes into the store);
- ``inference``: the per-patient step of :func:`analysis.segment.infer.predict_cohort`
  (read the CT, sliding-window DiUNet on one torch thread, write ``stations_pred``),
  with an untrained network of the configured size (the cost does not depend on the
  weights);
- ``partition``: the per-patient step of :func:`analysis.partition.partition_table`
  (read four volumes, the 110 features; no cache).

Reported per step and scheduler: wall seconds, throughput in patients per minute, CPU
seconds per patient (user + system of the worker processes: what a patient costs an
idle core, whatever else the machine is running), and the peak resident memory (psutil RSS, sampled every 50 ms) of each worker process (of this
process for ``serial``). With ``quick=False`` one patient at the paper's full resolution
(93 x 512 x 512, 5 x 1.1543 x 1.1543 mm) is also timed serially for each step, which is
what ``docs/distributed.md`` extrapolates to 10,000 patients.

The machine's cores may be shared with other work: ``cpu_count`` and the 1-minute load
average at the start are recorded beside the numbers.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from analysis.ingest import run as ingest
from analysis.params import parse_params
from analysis.scheduling import distributed as dd
from analysis.scheduling.parallel import map_patients

CI_GRID = {"shape_zyx": [48, 96, 96], "spacing_mm": [5.0, 4.0, 4.0]}
_STEP_MODULES = ("analysis.ingest", "analysis.segment.infer", "analysis.partition")
FULLRES_GRID = {"shape_zyx": [93, 512, 512], "spacing_mm": [5.0, 1.1543, 1.1543]}


class _PeakRSS:
    """Sample the RSS of some processes in a background thread; keep each one's peak."""

    def __init__(self, pids: list[int], every_s: float = 0.05) -> None:
        self.procs = {p: psutil.Process(p) for p in pids}
        self.peak = dict.fromkeys(pids, 0)
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid, proc in self.procs.items():
                try:
                    self.peak[pid] = max(self.peak[pid], proc.memory_info().rss)
                except psutil.Error:  # a worker restarted: its new pid is not followed
                    pass
            self._stop.wait(self.every_s)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (not their children)."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _bench_params(n: int, grid: dict, seed: int = 11):
    return parse_params({
        "run_name": "bench_distributed", "seed": seed, "scheduler": "serial",
        "cohort": {"source": "phantom", "center": "phantom"},
        "phantom": {"n_included": n, "n_screened": n, "grid": grid, "format": "dicom"},
        "segment": {"num_threads": 1},
    }, source="bench")


def _write_export(params, out: Path) -> Path:
    from analysis.phantom import generate

    generate(params, out_dir=out, progress=False)
    return out / "export"


def _checkpoint(params, out: Path) -> str:
    import torch

    from analysis.segment.checkpoint import save_checkpoint
    from analysis.segment.networks import build_network

    torch.manual_seed(0)
    seg = params.segment
    seg_params = seg.model_dump(mode="json")
    net = build_network(seg.architecture, seg.channels,
                        num_res_units=int(seg_params.get("num_res_units", 2)))
    path = save_checkpoint(out / "untrained.pt", net, architecture=seg.architecture,
                           channels=tuple(seg.channels),
                           segment_params=seg_params, seed=0,
                           data_hash="untrained-benchmark")
    return str(path)


def _step_items(params, export: Path, store_root: Path, ck_path: str) -> dict[str, Callable]:
    """Per step: a function returning (fn, items) for map_patients (built lazily)."""
    from analysis import partition as P
    from analysis.segment import infer

    mrns = sorted(d.name for d in (export / "images").iterdir() if d.is_dir())
    pids = {m: f"B{i:04d}" for i, m in enumerate(mrns)}
    pkey = ingest._params_key(params, "dicom")

    def ingest_items():
        return ingest.ingest_patient, {pids[m]: ingest.PatientTask(
            pid=pids[m], mrn=m, image_dir=str(export / "images" / m),
            export_dir=str(export), format="dicom", store_root=str(store_root),
            roi_synonyms=dict(params.ingest.roi_synonyms),
            required=tuple(params.ingest.required_structures),
            tolerance_mm=params.ingest.geometry_tolerance_mm, params_key=pkey)
            for m in mrns}

    def inference_items():
        return infer._predict_one, {p: (str(store_root), p, ck_path, params)
                                    for p in pids.values()}

    def partition_items():
        return P.run.compute_patient, {p: P.PartitionJob(
            gtv_definition="union", pid=p, store_root=str(store_root),
            station_volume="stations_ref") for p in pids.values()}

    return {"ingest": ingest_items, "inference": inference_items,
            "partition": partition_items}


def _run_steps(params, export: Path, store_root: Path, ck_path: str, scheduler: str,
               n_workers: int, worker_pids: list[int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for step, make in _step_items(params, export, store_root, ck_path).items():
        fn, items = make()
        cpu0 = _cpu_seconds(worker_pids)
        with _PeakRSS(worker_pids) as mem:
            t0 = time.perf_counter()
            res = map_patients(fn, items, scheduler=scheduler, n_workers=n_workers,
                               desc=f"bench {step}")
            wall = time.perf_counter() - t0
        cpu_s = _cpu_seconds(worker_pids) - cpu0
        bad = [r for r in res.results.values() if isinstance(r, dict) and r.get("ok") is False]
        out[step] = {
            "n_patients": len(items), "wall_s": round(wall, 3),
            "patients_per_min": round(60 * len(items) / wall, 2),
            "s_per_patient": round(wall / len(items), 3),
            "cpu_s_per_patient": round(cpu_s / len(items), 3),
            "peak_rss_mib_per_worker": [round(v / 2**20, 1) for v in mem.peak.values()],
            "n_failed": res.n_failed + len(bad),
        }
        if res.failures or bad:
            out[step]["first_error"] = (next(iter(res.failures.values())) if res.failures
                                        else bad[0].get("reason", ""))
    return out


def _fullres_single(tmp: Path) -> dict[str, Any]:
    """One full-resolution phantom patient, each step serially in this process."""
    params = _bench_params(1, FULLRES_GRID, seed=12)
    t0 = time.perf_counter()
    export = _write_export(params, tmp / "fullres_phantom")
    gen_s = time.perf_counter() - t0
    ck = _checkpoint(params, tmp)
    out: dict[str, Any] = {"grid": FULLRES_GRID, "phantom_generation_s": round(gen_s, 2)}
    steps = _run_steps(params, export, tmp / "fullres_store", ck, "serial", 1, [os.getpid()])
    out.update({k: {"s_per_patient": v["s_per_patient"],
                    "cpu_s_per_patient": v["cpu_s_per_patient"], "n_failed": v["n_failed"],
                    "peak_rss_mib": v["peak_rss_mib_per_worker"][0]}
                for k, v in steps.items()})
    return out


def run(quick: bool = False) -> dict:
    """Throughput (patients per minute) and peak memory per worker, 1 and 2 workers.

    Parameters
    ----------
    quick : bool
        4 patients and no full-resolution patient (instead of 8 and one).

    Returns
    -------
    dict
        ``machine`` (cores, load, memory), ``grid``, ``steps``: scheduler -> step -> wall
        seconds, patients per minute, seconds per patient, peak RSS per worker (MiB);
        ``speedup_2_vs_1`` per step; ``fullres`` (quick=False): one full-resolution
        patient, seconds and peak RSS per step.
    """
    n = 4 if quick else 8
    result: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "n_patients": n, "grid": CI_GRID, "steps": {},
    }
    params = _bench_params(n, CI_GRID)
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp_s:
        tmp = Path(tmp_s)
        export = _write_export(params, tmp / "phantom")
        ck = _checkpoint(params, tmp)
        configs = [("serial", "serial", 1), ("dask_1_worker", "dask:local", 1),
                   ("dask_2_workers", "dask:local", 2)]
        for name, sched, nw in configs:
            if sched == "serial":
                pids = [os.getpid()]
            else:
                t0 = time.perf_counter()
                client = dd.get_client("local", nw)
                client.wait_for_workers(nw, timeout=120)
                for mod in _STEP_MODULES:  # imports (torch, monai...) are not timed
                    client.run(importlib.import_module, mod)
                result.setdefault("cluster_start_s", {})[name] = round(
                    time.perf_counter() - t0, 2)
                pids = list(dd.worker_pids(client).values())
            result["steps"][name] = _run_steps(params, export, tmp / f"store_{name}", ck,
                                               sched, nw, pids)
            if sched != "serial":
                dd.shutdown()
        one, two = result["steps"]["dask_1_worker"], result["steps"]["dask_2_workers"]
        result["speedup_2_vs_1"] = {s: round(two[s]["patients_per_min"]
                                             / one[s]["patients_per_min"], 2) for s in one}
        if not quick:
            result["fullres"] = _fullres_single(tmp)
    return result
