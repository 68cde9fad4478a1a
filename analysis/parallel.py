"""Map a per-patient step over a cohort: one function for every scheduler.

Every per-patient step (ingest, station inference, partition parameters) goes through
:func:`map_patients`. A patient whose step raises is recorded in ``failures`` with its
error and never silently dropped; the others carry on.

Schedulers (params ``scheduler``): ``serial``; ``processes`` (a local process pool, the
default); ``dask:local`` (a dask.distributed LocalCluster) or ``dask:tcp://host:port``
(an existing cluster). The results do not depend on the scheduler.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm


@dataclass
class MapResult:
    """Results of a per-patient map, keyed by patient, in sorted patient order."""

    results: dict[str, Any] = field(default_factory=dict)
    #: patient -> "ExceptionType: message"
    failures: dict[str, str] = field(default_factory=dict)


def _call(fn: Callable[[Any], Any], key: str, item: Any) -> tuple[str, bool, Any]:
    try:
        return key, True, fn(item)
    except Exception as err:  # recorded per patient, never dropped
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        return key, False, tb


def map_patients(
    fn: Callable[[Any], Any],
    items: Mapping[str, Any],
    *,
    scheduler: str = "processes",
    n_workers: int = 2,
    desc: str = "patients",
) -> MapResult:
    """Apply ``fn`` to every item of ``items`` (patient -> input) on ``scheduler``.

    ``fn`` must be a module-level function (picklable) for the process and Dask schedulers.
    """
    out = MapResult()
    keys = sorted(items)
    raw: dict[str, tuple[bool, Any]] = {}
    if scheduler == "serial" or n_workers == 1 or len(keys) <= 1:
        for k in tqdm(keys, desc=desc, leave=False):
            _, ok, val = _call(fn, k, items[k])
            raw[k] = (ok, val)
    elif scheduler == "processes":
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futs = [pool.submit(_call, fn, k, items[k]) for k in keys]
            for fut in tqdm(as_completed(futs), total=len(futs), desc=desc, leave=False):
                k, ok, val = fut.result()
                raw[k] = (ok, val)
    elif scheduler.startswith("dask:"):
        from analysis.distributed import dask_map

        raw = dask_map(_call, fn, items, address=scheduler.removeprefix("dask:"),
                       n_workers=n_workers, desc=desc)
    else:
        raise ValueError(f"scheduler: unknown value {scheduler!r} "
                         "(serial, processes, dask:local, dask:tcp://host:port)")
    for k in keys:
        ok, val = raw[k]
        if ok:
            out.results[k] = val
        else:
            out.failures[k] = val
    return out
