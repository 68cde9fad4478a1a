"""One patient's outcome of a per-patient step, shared by every scheduler.

:mod:`analysis.scheduling.parallel` (serial and process pools) and :mod:`analysis.scheduling.distributed`
(Dask) both run :func:`call_step` and report :class:`Outcome`; keeping them here lets
``parallel`` import ``distributed`` (for the ``dask:*`` schedulers) without
``distributed`` importing ``parallel`` back: no import cycle.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One patient's outcome as a scheduler reports it."""

    key: str
    ok: bool
    #: the result when ok, else "ExceptionType: message"
    value: Any
    #: full traceback text when not ok
    detail: str | None = None


def call_step(fn: Callable[[Any], Any], key: str, item: Any) -> Outcome:
    """Run ``fn(item)``; an exception becomes a failed :class:`Outcome` (never dropped)."""
    try:
        return Outcome(key, True, fn(item))
    except Exception as err:  # recorded per patient, never dropped
        msg = traceback.format_exception_only(type(err), err)[-1].strip()
        return Outcome(key, False, msg, traceback.format_exc())
