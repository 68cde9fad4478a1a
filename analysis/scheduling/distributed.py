"""Per-patient steps on a Dask cluster (the ``dask:*`` schedulers of map_patients).

- ``dask:local`` starts a :class:`distributed.LocalCluster` on this machine: ``n_workers``
  worker processes (each under a nanny that restarts it if it dies), one thread each,
  no dashboard. The cluster is started once per Python process and per ``n_workers``
  and reused by every later call (a start costs seconds); :func:`shutdown` closes it
  (also done at exit).
- ``dask:tcp://host:port`` joins an existing cluster (``dask scheduler`` /
  ``dask worker tcp://host:port``); ``n_workers`` is then the cluster's business.
  Every worker must see the cohort store, the export and the models at the same paths
  as the client (a shared file system); see ``docs/distributed.md``.

A worker that dies mid-task (killed, out of memory) is replaced by its nanny and the
scheduler reruns its tasks elsewhere, up to ``distributed.scheduler.allowed-failures``
times (default 3) per task. The scheduler counts a lost worker against every task
assigned to it, so a patient that merely shared a worker with one that kills it can be
declared ``KilledWorker`` too (and a finished result held by a killed worker is lost).
Every patient whose task failed outside the step (``KilledWorker``, lost data, a lost
connection) is therefore rerun alone (one task on the cluster at a time) after the
others: an innocent one then succeeds, and only a patient that fails on its own is
reported as a failure (``KilledWorker: ...``), never dropped. Task keys carry no patient
identifier (a run token and an index), so none reaches the scheduler's logs.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from analysis.scheduling.outcome import Outcome

log = logging.getLogger(__name__)

#: tasks kept in flight: this many per worker thread, and at least MIN_IN_FLIGHT
IN_FLIGHT_PER_THREAD = 4
MIN_IN_FLIGHT = 16

_LOCK = threading.Lock()
#: (address, n_workers) -> (client, cluster or None)
_CLIENTS: dict[tuple[str, int], tuple[Any, Any]] = {}


def start_local_cluster(n_workers: int, *, memory_limit: str | float | None = "auto",
                        threads_per_worker: int = 1) -> Any:
    """A LocalCluster of ``n_workers`` processes, one thread each, quiet and dashboard-less.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    memory_limit : str, float or None
        Per worker ("auto": the machine's memory divided by ``n_workers``; "4GiB"; None:
        no limit). A worker above 95 % of its limit is restarted by its nanny.
    threads_per_worker : int
        Threads in each worker (1: the per-patient steps are not thread-safe for
        torch/ITK thread pools and hold the GIL in Python code).
    """
    from distributed import LocalCluster

    if n_workers < 1:
        raise ValueError(f"n_workers: expected >= 1, got {n_workers}")
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                        processes=True, dashboard_address=None,
                        silence_logs=logging.WARNING, memory_limit=memory_limit)


def get_client(address: str, n_workers: int = 2, *, timeout: str = "30s") -> Any:
    """The (cached) client for ``address``: "local" (a LocalCluster) or "tcp://host:port".

    A connection failure (after ``timeout``) names the address and says what to check.
    """
    from distributed import Client

    address = address.strip()
    key = (address, n_workers if address == "local" else 0)
    with _LOCK:
        cached = _CLIENTS.get(key)
        if cached is not None and cached[0].status == "running":
            return cached[0]
        if address == "local":
            cluster = start_local_cluster(n_workers)
            client = Client(cluster, set_as_default=False)
        else:
            cluster = None
            try:
                client = Client(address, set_as_default=False, timeout=timeout)
            except OSError as err:
                raise ConnectionError(
                    f"scheduler: cannot reach the Dask scheduler at {address!r} ({err}); "
                    "is `dask scheduler` running there and the port open?") from None
        _CLIENTS[key] = (client, cluster)
        return client


def shutdown() -> None:
    """Close every client and LocalCluster started by :func:`get_client`."""
    with _LOCK:
        for client, cluster in _CLIENTS.values():
            try:
                client.close()
                if cluster is not None:
                    cluster.close()
            except Exception as err:  # closing at exit must not raise
                log.debug("dask shutdown: %s", err)
        _CLIENTS.clear()


atexit.register(shutdown)


def iter_dask(call: Callable[..., Any], fn: Callable[[Any], Any], items: Mapping[str, Any],
              *, address: str, n_workers: int) -> Iterator[Any]:
    """Run ``call(fn, key, item)`` for every item on the cluster; yield outcomes as they come.

    ``call`` returns an :class:`analysis.scheduling.parallel.Outcome`. A task lost with more workers
    than ``allowed-failures`` (``KilledWorker``) or failing outside ``call`` yields a
    failed outcome for its patient, so every patient gets exactly one outcome.
    """
    import cloudpickle
    from distributed import as_completed


    client = get_client(address, n_workers)
    _check_workers_import(client)
    token = uuid.uuid4().hex[:12]
    fname = getattr(fn, "__name__", type(fn).__name__)
    # a bounded window of tasks in flight: the client never holds the whole cohort's
    # inputs at once, and the cluster gets enough to keep every worker busy
    window = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
    pending = iter(enumerate(items.items()))
    futs: dict[Any, str] = {}
    ac = as_completed(loop=client.loop)

    def submit_next() -> None:
        nxt = next(pending, None)
        if nxt is None:
            return
        i, (k, item) = nxt
        # the step and its item travel as bytes, unpickled inside the task: a worker that
        # cannot import them (stale code, a missing module) fails that patient cleanly
        # instead of crashing on the message (which can stall the whole map)
        blob = cloudpickle.dumps((fn, item), protocol=5)
        fut = client.submit(_run_blob, call, k, blob, key=f"{fname}-{token}-{i}", pure=False)
        futs[fut] = k
        ac.add(fut)

    for _ in range(window):
        submit_next()
    suspects: list[str] = []
    try:
        for fut in ac:
            k = futs.pop(fut)
            try:
                yield fut.result()
            except Exception:  # noqa: BLE001 - KilledWorker, a lost worker's data, a lost
                # connection: outside the step; decided by a rerun alone below
                suspects.append(k)
            finally:
                fut.release()
            submit_next()
        # rerun each patient whose task failed outside the step alone: was it the
        # culprit (its outcome stays a failure), or a bystander of another's crash?
        for n, k in enumerate(sorted(suspects)):
            blob = cloudpickle.dumps((fn, items[k]), protocol=5)
            fut = client.submit(_run_blob, call, k, blob, key=f"{fname}-{token}-alone-{n}",
                                pure=False)
            futs[fut] = k
            try:
                yield fut.result()
            except Exception as err:  # noqa: BLE001 - reported for this patient
                yield Outcome(k, False, f"{type(err).__name__}: {err}",
                              "the Dask task failed outside the step, again when run "
                              "alone (see the message)")
            finally:
                futs.pop(fut, None)
                fut.release()
    finally:
        for fut in futs:
            if not fut.done():
                fut.cancel()


def _run_blob(call: Callable[..., Any], key: str, blob: bytes) -> Any:
    """Inside a worker: unpickle ``(fn, item)`` and run ``call(fn, key, item)``."""
    import pickle


    try:
        fn, item = pickle.loads(blob)
    except Exception as err:
        return Outcome(key, False, f"{type(err).__name__}: the worker cannot load the step "
                       f"or its input ({err}); is the same code installed on every worker?",
                       None)
    return call(fn, key, item)


def _check_workers_import(client: Any) -> None:
    """Fail early, and clearly, when a worker cannot import this package."""
    if getattr(client, "_sclc_checked", False):
        return
    import importlib

    try:
        client.run(importlib.import_module, "analysis.scheduling.distributed")
    except Exception as err:
        raise RuntimeError(
            f"scheduler: a Dask worker cannot import the analysis package ({err}); install "
            "it on every worker (pip install -e <repo> on the shared file system)") from None
    client._sclc_checked = True


def dask_map(call: Callable[..., Any], fn: Callable[[Any], Any], items: Mapping[str, Any],
             *, address: str, n_workers: int, desc: str = "patients") -> dict[str, tuple[bool, Any]]:
    """Compatibility wrapper: ``{patient: (ok, result or error)}`` from :func:`iter_dask`."""
    return {o.key: (o.ok, o.value)
            for o in iter_dask(call, fn, items, address=address, n_workers=n_workers)}


def worker_pids(client: Any) -> dict[str, int]:
    """Worker address -> OS process id (to sample memory, or to kill one in a test)."""
    import os

    return client.run(os.getpid)
