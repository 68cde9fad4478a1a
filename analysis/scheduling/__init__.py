"""Per-patient steps on any scheduler (serial, processes, dask), with a resumable cache.

- :mod:`analysis.scheduling.parallel`: :func:`map_patients`, the one way steps run a
  function over patients, and :func:`input_digest` for cache keys;
- :mod:`analysis.scheduling.distributed`: the dask cluster (docs/distributed.md);
- :mod:`analysis.scheduling.outcome`: one patient's outcome (result or named failure).
"""

from __future__ import annotations

from analysis.scheduling.distributed import get_client, shutdown, worker_pids
from analysis.scheduling.outcome import Outcome, call_step
from analysis.scheduling.parallel import MapResult, input_digest, map_patients

__all__ = ["MapResult", "Outcome", "call_step", "get_client", "input_digest",
           "map_patients", "shutdown", "worker_pids"]
