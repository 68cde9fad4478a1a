"""Map a per-patient step over a cohort: one function for every scheduler.

Every per-patient step (ingest, station inference, partition parameters) goes through
:func:`map_patients`. A patient whose step raises is recorded in ``failures`` with its
error and never silently dropped; the others carry on.

Schedulers (params ``scheduler``): ``serial``; ``processes`` (a local process pool, the
default); ``dask:local`` (a dask.distributed LocalCluster, see :mod:`analysis.scheduling.distributed`)
or ``dask:tcp://host:port`` (an existing cluster). The results do not depend on the
scheduler: they are keyed by patient, in sorted patient order.

Resumable runs
--------------
With ``cache_dir``, each patient's outcome is written as soon as it is known, atomically
(a temporary file in the same folder, then :func:`os.replace`), by the calling process:

- ``<cache_dir>/<pid>.<hash>.pkl``: the result (pickle, or the caller's ``save``/``load``);
- ``<cache_dir>/<pid>.<hash>.error.json``: a failure, with its error and traceback.

``<hash>`` is the patient's input hash (``input_hash``; by default a hash of the step
function and the patient's item). A rerun loads what exists for the same input hash and
computes only the rest; a recorded failure is reported again in ``failures`` without
being recomputed unless ``retry_failed=True``. A run killed halfway (Ctrl-C, a killed
job, a lost machine) therefore costs only the patients in flight.

Interruptions
-------------
A process pool's workers end with their parent: an interrupted parent (Ctrl-C, an
exception) terminates them before re-raising, and each worker watches its parent's pid
(:func:`_watch_parent`) and exits within :data:`PARENT_POLL_S` once the parent is gone
(SIGKILL), so no worker is left behind as an orphan.

Worker crashes
--------------
- ``processes``: a worker that dies (segfault, out-of-memory kill, ``os._exit``) breaks the
  pool (:class:`concurrent.futures.process.BrokenProcessPool`) and every unfinished
  patient of that pool is lost. The lost patients are rerun once in a fresh pool; those
  lost again are then run one at a time, each in its own one-process pool, so that a
  patient that kills its process is recorded as a failure ("worker process died") and
  the others complete. ``MapResult.retried`` lists the patients rerun after a crash.
- ``dask:*``: the scheduler reschedules the tasks of a lost worker on the other workers
  (up to ``distributed.scheduler.allowed-failures`` times, default 3); a patient that
  kills more workers than that is recorded as a failure (``KilledWorker``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from analysis.fsutil import atomic_write, remove_stale_tmp, sha256_bytes, sha256_file
from analysis.scheduling.distributed import iter_dask
from analysis.scheduling.outcome import Outcome, call_step

log = logging.getLogger(__name__)

#: the schedulers map_patients accepts (the same pattern checks params.scheduler)
SCHEDULER_PATTERN = r"^(serial|processes|dask:(local|(tcp|tls|ucx|ws|wss|inproc)://\S+))$"
#: characters of the input hash kept in cache file names (64 bits)
HASH_CHARS = 16
_SAFE_PID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
WORKER_DIED = "WorkerDied: the worker process died while processing this patient"


@dataclass
class MapResult:
    """Results of a per-patient map, keyed by patient, in sorted patient order.

    Attributes
    ----------
    results : dict
        patient -> result of the step, for every patient that succeeded.
    failures : dict
        patient -> ``"ExceptionType: message"`` for every patient that failed (now, or in
        an earlier run whose failure record was loaded from the cache).
    computed : list of str
        Patients whose step ran in this call (succeeded or failed), sorted.
    loaded : list of str
        Patients whose outcome (result or failure record) was loaded from ``cache_dir``.
    retried : list of str
        Patients rerun because a worker process died (``processes`` scheduler).
    """

    results: dict[str, Any] = field(default_factory=dict)
    #: patient -> "ExceptionType: message"
    failures: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)

    @property
    def n_computed(self) -> int:
        """Number of patients whose step ran in this call."""
        return len(self.computed)

    @property
    def n_loaded(self) -> int:
        """Number of patients whose outcome came from the cache."""
        return len(self.loaded)

    @property
    def n_failed(self) -> int:
        """Number of patients that failed (now or in a recorded earlier run)."""
        return len(self.failures)


#: kept under its old name (tests and the Dask path call it)
_call = call_step


# --------------------------------------------------------------------------- hashing
def _feed(h: Any, obj: Any, file_mode: str) -> None:
    """Feed ``obj`` into the hash ``h`` with a type tag (so 1 and "1" differ)."""
    from pydantic import BaseModel

    if obj is None or isinstance(obj, bool | int | float | str):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, bytes):
        h.update(b"bytes:%d;" % len(obj))
        h.update(obj)
    elif isinstance(obj, Path):
        if obj.is_dir():
            files = sorted(p for p in obj.rglob("*") if p.is_file())
            h.update(f"dir:{len(files)};".encode())
            for p in files:
                h.update(f"{p.relative_to(obj).as_posix()};".encode())
                _feed_file(h, p, file_mode)
        elif obj.is_file():
            _feed_file(h, obj, file_mode)
        else:
            raise FileNotFoundError(f"input_digest: {obj} does not exist")
    elif isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        h.update(f"ndarray:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    elif isinstance(obj, np.generic):
        _feed(h, obj.item(), file_mode)
    elif isinstance(obj, BaseModel):
        h.update(f"model:{type(obj).__name__}:".encode())
        h.update(obj.model_dump_json().encode())
    elif isinstance(obj, Mapping):
        h.update(f"map:{len(obj)};".encode())
        for k in sorted(obj, key=str):
            _feed(h, str(k), file_mode)
            _feed(h, obj[k], file_mode)
    elif isinstance(obj, list | tuple):
        h.update(f"seq:{len(obj)};".encode())
        for v in obj:
            _feed(h, v, file_mode)
    else:
        raise TypeError(f"input_digest: cannot hash a {type(obj).__name__}; pass str, "
                        "numbers, bytes, Path, ndarray, pydantic models, or containers of them")


def _feed_file(h: Any, path: Path, file_mode: str) -> None:
    if file_mode == "stat":
        st = path.stat()
        h.update(f"stat:{st.st_size}:{st.st_mtime_ns};".encode())
        return
    h.update(f"file:{path.stat().st_size}:{sha256_file(path)};".encode())


def input_digest(*parts: Any, file_mode: str = "content") -> str:
    """SHA-256 (hex) of everything that determines a patient's result.

    Use it to build ``input_hash`` for :func:`map_patients`, e.g.
    ``input_digest(patient_dir, params.partition, "partition-v1")``.

    Parameters
    ----------
    *parts
        str, int, float, bool, None, bytes, :class:`~pathlib.Path` (a file's contents, or a
        folder's relative file names and contents), ndarray (dtype, shape and bytes),
        pydantic models (their JSON), and lists, tuples and mappings of these.
    file_mode : {"content", "stat"}
        "content" hashes file bytes (exact, reads every byte); "stat" hashes size and
        modification time only (cheap for terabyte cohorts; trusts the file system).
    """
    if file_mode not in ("content", "stat"):
        raise ValueError(f"file_mode: expected 'content' or 'stat', got {file_mode!r}")
    h = hashlib.sha256()
    for part in parts:
        _feed(h, part, file_mode)
    return h.hexdigest()


def _default_hash(fn: Callable[[Any], Any], key: str, item: Any) -> str:
    try:
        blob = pickle.dumps((fn, item), protocol=4)
    except Exception as err:
        raise TypeError(f"input_hash: patient {key}: the step and its item cannot be pickled "
                        f"to hash them ({err}); pass input_hash=") from None
    return sha256_bytes(blob)


# --------------------------------------------------------------------------- cache
def _pickle_save(obj: Any, path: Path) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(path: Path) -> Any:
    with path.open("rb") as f:
        return pickle.load(f)


def _stem(key: str) -> str:
    """File-name stem of a patient: the pid itself when file-safe, else a hash of it."""
    if _SAFE_PID.match(key):
        return key
    return "h" + sha256_bytes(key.encode())[:24]


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """:func:`analysis.fsutil.atomic_write` (the package's one atomic writer)."""
    atomic_write(path, write)


class _Cache:
    """Per-patient result and failure files in one folder (see the module docstring)."""

    def __init__(self, root: Path, save: Callable[[Any, Path], None],
                 load: Callable[[Path], Any]) -> None:
        self.root = root
        self.save = save
        self.load = load
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(root)  # what a killed run left half-written

    def result_path(self, key: str, digest: str) -> Path:
        return self.root / f"{_stem(key)}.{digest[:HASH_CHARS]}.pkl"

    def error_path(self, key: str, digest: str) -> Path:
        return self.root / f"{_stem(key)}.{digest[:HASH_CHARS]}.error.json"

    def get(self, key: str, digest: str, retry_failed: bool) -> Outcome | None:
        res = self.result_path(key, digest)
        if res.exists():
            try:
                return Outcome(key, True, self.load(res))
            except Exception as err:  # a damaged file (e.g. edited by hand): recompute
                log.warning("map_patients: unreadable cache file recomputed (%s)",
                            type(err).__name__)
        err_path = self.error_path(key, digest)
        if err_path.exists() and not retry_failed:
            try:
                rec = json.loads(err_path.read_text(encoding="utf-8"))
                return Outcome(key, False, str(rec["error"]), rec.get("traceback"))
            except (ValueError, KeyError, OSError):
                return None
        return None

    def put(self, out: Outcome, digest: str) -> None:
        if out.ok:
            _atomic_write(self.result_path(out.key, digest),
                          lambda p: self.save(out.value, p))
            self.error_path(out.key, digest).unlink(missing_ok=True)
        else:
            rec = {"error": out.value, "traceback": out.detail, "input_hash": digest}
            _atomic_write(self.error_path(out.key, digest),
                          lambda p: p.write_text(json.dumps(rec, indent=1), encoding="utf-8"))


# --------------------------------------------------------------------------- schedulers
def _iter_serial(fn: Callable[[Any], Any], items: Mapping[str, Any],
                 keys: list[str]) -> Iterator[Outcome]:
    for k in keys:
        yield _call(fn, k, items[k])


def _run_pool(fn: Callable[[Any], Any], items: Mapping[str, Any], keys: list[str],
              n_workers: int, lost: list[str]) -> Iterator[Outcome]:
    """Run ``keys`` in one pool; yield the outcomes; append to ``lost`` what a crash lost."""
    # spawn, not fork: a process that has already started torch / OpenMP threads (a notebook
    # kernel after loading a model) can fork children that deadlock on a lock one of those
    # threads held (seen: 02_segment on the default cohort hung with idle workers)
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))
    try:
        futs = {pool.submit(_call, fn, k, items[k]): k for k in keys}
        for fut in as_completed(futs):
            try:
                yield fut.result()
            except BrokenProcessPool:
                lost.append(futs[fut])
    except BaseException:  # Ctrl-C, a closed generator: end the workers now, not later
        _terminate_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: seconds between two checks of a worker that its parent is still alive
PARENT_POLL_S = 0.5


def _watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit as soon as the parent process is gone (SIGKILL, a lost
    session), so that no worker outlives the run as an orphan."""
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes (the parent is being interrupted)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, ValueError):  # already gone
            pass


def _iter_processes(fn: Callable[[Any], Any], items: Mapping[str, Any], keys: list[str],
                    n_workers: int, retried: list[str]) -> Iterator[Outcome]:
    lost: list[str] = []
    yield from _run_pool(fn, items, keys, n_workers, lost)
    if not lost:
        return
    # round 2: a fresh pool for every patient the crash took down
    retried.extend(sorted(lost))
    log.warning("map_patients: a worker process died; %d patient(s) rerun in a fresh pool",
                len(lost))
    again: list[str] = []
    yield from _run_pool(fn, items, sorted(lost), n_workers, again)
    # round 3: one patient per one-process pool, so a patient that kills its process
    # is identified and recorded, and no other patient is taken down with it
    for k in sorted(again):
        died: list[str] = []
        yield from _run_pool(fn, items, [k], 1, died)
        if died:
            yield Outcome(k, False, WORKER_DIED,
                          "the process running this patient exited without a Python "
                          "exception (segfault, out-of-memory kill or os._exit) twice")


def map_patients(
    fn: Callable[[Any], Any],
    items: Mapping[str, Any],
    *,
    scheduler: str = "processes",
    n_workers: int = 2,
    desc: str = "patients",
    cache_dir: Path | str | None = None,
    input_hash: Callable[[Any], str] | Mapping[str, str] | None = None,
    retry_failed: bool = False,
    save: Callable[[Any, Path], None] | None = None,
    load: Callable[[Path], Any] | None = None,
) -> MapResult:
    """Apply ``fn`` to every item of ``items`` (patient -> input) on ``scheduler``.

    Parameters
    ----------
    fn : callable
        ``fn(item) -> result``, one patient. Must be a module-level function (or a
        :func:`functools.partial` of one) for the process and Dask schedulers.
    items : mapping of str to any
        Patient identifier -> the input of ``fn`` for that patient.
    scheduler : str
        ``serial``, ``processes``, ``dask:local`` or ``dask:tcp://host:port``.
    n_workers : int
        Worker processes (``processes``, ``dask:local``); ignored when joining an
        existing cluster. ``serial`` is used for ``processes`` when ``n_workers == 1`` or
        there is a single patient.
    desc : str
        Label of the progress bar.
    cache_dir : path, optional
        Folder of per-patient result and failure files (resumable runs). It must be
        private to one step (one ``fn``): ``ingest``, ``partition``... are separate folders.
    input_hash : callable or mapping, optional
        ``input_hash(item) -> str`` or ``{patient: str}``: a digest of everything that
        determines the patient's result (see :func:`input_digest`). Default: a SHA-256
        of the pickled ``(fn, item)`` (right when the item carries the data itself; pass a
        content hash when the item is only a path to files that may change).
    retry_failed : bool
        Recompute patients whose failure is recorded in ``cache_dir`` (default: report
        the recorded failure again without recomputing).
    save, load : callable, optional
        ``save(result, path)`` and ``load(path) -> result`` replacing pickle in the cache.
        ``save`` writes to a temporary path that is then atomically renamed.

    Returns
    -------
    MapResult
        ``results`` and ``failures`` keyed by patient in sorted order, plus the
        ``computed``, ``loaded`` and ``retried`` patients.
    """
    if not isinstance(items, Mapping):
        raise TypeError(f"items: expected a mapping patient -> input, got {type(items).__name__}")
    if not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers: expected an integer >= 1, got {n_workers!r}")
    if not isinstance(scheduler, str) or not re.match(SCHEDULER_PATTERN, scheduler):
        raise ValueError(f"scheduler: unknown value {scheduler!r} "
                         "(serial, processes, dask:local, dask:tcp://host:port)")
    if (save is None) != (load is None):
        raise ValueError("save, load: give both or neither")
    keys = sorted(items)
    for k in keys:
        if not isinstance(k, str) or not k:
            raise TypeError(f"items: patient keys must be non-empty str, got {k!r}")

    out = MapResult()
    done: dict[str, Outcome] = {}
    cache: _Cache | None = None
    digests: dict[str, str] = {}
    if cache_dir is not None:
        cache = _Cache(Path(cache_dir), save or _pickle_save, load or _pickle_load)
        for k in keys:
            digests[k] = _digest_of(fn, k, items[k], input_hash)
            hit = cache.get(k, digests[k], retry_failed)
            if hit is not None:
                done[k] = hit
                out.loaded.append(k)
    todo = [k for k in keys if k not in done]

    stream: Iterable[Outcome]
    if not todo:
        stream = ()
    elif scheduler.startswith("dask:"):
        stream = iter_dask(_call, fn, {k: items[k] for k in todo},
                           address=scheduler.removeprefix("dask:"), n_workers=n_workers)
    elif scheduler == "serial" or n_workers == 1 or len(todo) <= 1:
        stream = _iter_serial(fn, items, todo)
    else:
        stream = _iter_processes(fn, items, todo, n_workers, out.retried)

    bar = tqdm(total=len(keys), initial=len(done), desc=desc, leave=False)
    try:
        for res in stream:
            if res.key in done:  # a duplicate (e.g. a task rerun after a lost worker)
                continue
            done[res.key] = res
            out.computed.append(res.key)
            if cache is not None:
                cache.put(res, digests[res.key])
            bar.update(1)
    finally:
        bar.close()

    missing = [k for k in keys if k not in done]
    if missing:  # a scheduler that returned without every patient: a bug, say so loudly
        raise RuntimeError(f"map_patients: {len(missing)} patient(s) got no outcome "
                           f"from scheduler {scheduler!r}")
    out.computed.sort()
    out.retried.sort()
    for k in keys:
        res = done[k]
        if res.ok:
            out.results[k] = res.value
        else:
            out.failures[k] = res.value
    return out


def _digest_of(fn: Callable[[Any], Any], key: str, item: Any,
               input_hash: Callable[[Any], str] | Mapping[str, str] | None) -> str:
    if input_hash is None:
        return _default_hash(fn, key, item)
    if isinstance(input_hash, Mapping):
        if key not in input_hash:
            raise ValueError(f"input_hash: no hash for patient {key}")
        digest = input_hash[key]
    else:
        digest = input_hash(item)
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9A-Za-z_-]{8,}", digest):
        raise ValueError(f"input_hash: patient {key}: expected a str of at least 8 "
                         f"file-safe characters (e.g. a hex digest), got {digest!r}")
    return digest
