"""How the report runner executes one notebook: quietly over IPC, with cell progress.

- **Transport.** The kernels of ``make report`` talk to the runner over IPC (Unix domain
  sockets in Jupyter's runtime folder, readable by this user only) instead of TCP on
  127.0.0.1: ipykernel then has no reason to print "Kernel is running over TCP without
  encryption ... susceptible to eavesdropping" once per notebook. Where Unix sockets are
  missing (Windows), TCP is used and the runner explains the warning once
  (:data:`TCP_NOTE`).
- **No widget state.** The executed copies keep each widget's static snapshot (a PNG the
  HTML exports show) but not the widgets' state: the 3D view's state holds its volumes
  (NIfTI, base64), 11.5 MB for one ci patient, far more at full resolution. The state is
  removed after the run (:func:`drop_widget_state`): nbclient's own
  ``store_widget_state=False`` fails with a KeyError on any ``ipywidgets.Output``.
- **Progress.** :class:`ProgressEngine` (a papermill engine) calls back after every
  cell; :class:`CellProgress` prints ``cell 12/31, 95 s so far, about 150 s left (last
  run 244 s)``, the estimate being what the remaining cells took in the last executed
  copy of the notebook (papermill records each cell's duration), printed at most every
  :data:`PRINT_EVERY_S` seconds; while one cell runs long (a step's whole work is one
  call), a line every :data:`HEARTBEAT_S` seconds says how long it has run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import papermill
from jupyter_client import AsyncKernelManager
from papermill.engines import NBClientEngine, papermill_engines
from traitlets import CaselessStrEnum

#: the papermill engine name registered by this module
ENGINE = "sclc-progress"
#: least seconds between two progress lines of one notebook
PRINT_EVERY_S = 10.0
#: seconds of silence after which a long-running cell is reported (:meth:`CellProgress.beat`)
HEARTBEAT_S = 30.0
#: IPC needs Unix domain sockets
IPC = os.name == "posix"
#: said once per run when the kernels must use TCP
TCP_NOTE = ("note: the kernels talk to this runner over TCP on 127.0.0.1 (no Unix sockets "
            "here), so ipykernel warns that the connection is not encrypted; nothing "
            "leaves this machine")


class IpcKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels use IPC (Unix sockets) rather than local TCP.

    Each kernel's sockets live in a private temporary folder: jupyter_client's default
    path is ``kernel-ipc`` in the working directory, which two runs (or two pytest
    workers) share, so one kernel read another's messages ("Invalid Signature").
    """

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc" if IPC else "tcp",
                                config=True)

    def _ip_default(self) -> str:
        if self.transport == "ipc":
            return os.path.join(tempfile.mkdtemp(prefix="sclc-kernel-"), "ipc")
        return super()._ip_default()

    def cleanup_ipc_files(self) -> None:
        super().cleanup_ipc_files()
        if self.transport == "ipc" and os.path.basename(self.ip) == "ipc":
            shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)


def last_cell_seconds(executed: Path) -> list[float] | None:
    """Seconds each cell took in an executed copy of a notebook (papermill's metadata),
    or None when there is no readable copy."""
    try:
        nb = json.loads(Path(executed).read_text())
    except (OSError, ValueError):
        return None
    return [float((c.get("metadata", {}).get("papermill") or {}).get("duration") or 0.0)
            for c in nb.get("cells", [])]


class CellProgress:
    """Prints a notebook's cell progress with an estimate from its last run.

    Parameters
    ----------
    name : str
        The notebook, as the runner names it.
    last : list of float, optional
        Seconds per cell of the last run (:func:`last_cell_seconds`).
    echo : callable
        Where the lines go (``print``).
    """

    def __init__(self, name: str, last: list[float] | None, echo=print,
                 clock=time.monotonic):
        self.name, self.last, self.echo, self.clock = name, last, echo, clock
        self.t0 = clock()
        self.printed = self.t0
        #: cells done, cells in all (None before the first), when the last one ended
        self.done, self.total, self.cell_t0 = 0, None, self.t0

    def line(self, done: int, total: int, running: float = 0.0) -> str:
        """``cell 12/31, 95 s so far, about 150 s left (last run 244 s)``; ``running``:
        seconds the next cell has run already (taken off the estimate, never below 0)."""
        so_far = self.clock() - self.t0
        text = f"[report] {self.name}: cell {done}/{total}, {so_far:.0f} s so far"
        if self.last and len(self.last) == total:
            left = max(sum(self.last[done:]) - running, 0.0)
            text += f", about {left:.0f} s left (last run {sum(self.last):.0f} s)"
        return text

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        self.done, self.total, self.cell_t0 = done, total, now
        if now - self.printed >= PRINT_EVERY_S and done < total:
            self.printed = now
            self.echo(self.line(done, total))

    def beat(self) -> None:
        """Called every few seconds while the notebook runs: after :data:`HEARTBEAT_S`
        seconds without a line, say that cell ``done + 1`` is still running and for how
        long (``cell 5/25, 312 s so far, about 230 s left (last run 544 s); cell 6
        running for 300 s``)."""
        now = self.clock()
        if self.total is None or self.done >= self.total or \
                now - self.printed < HEARTBEAT_S:
            return
        self.printed = now
        running = now - self.cell_t0
        self.echo(f"{self.line(self.done, self.total, running)}; cell {self.done + 1} "
                  f"running for {running:.0f} s")


class ProgressEngine(NBClientEngine):
    """papermill's nbclient engine, calling ``on_cell(done, total)`` after each cell."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, **kwargs):
        if on_cell is not None:
            complete = nb_man.cell_complete

            def cell_complete(cell, cell_index=None, **kw):
                complete(cell, cell_index=cell_index, **kw)
                on_cell(0 if cell_index is None else cell_index + 1, len(nb_man.nb.cells))

            nb_man.cell_complete = cell_complete
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ProgressEngine)


def execute(src: Path, dest: Path, params_arg: str, cwd: Path, *, name: str,
            echo=print) -> None:
    """Run one notebook through papermill (kernel ``python3`` over IPC), injecting
    ``params_file``, printing cell progress."""
    progress = CellProgress(name, last_cell_seconds(dest), echo)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_S / 6):
            progress.beat()

    beating = threading.Thread(target=heartbeat, name=f"progress-{name}", daemon=True)
    beating.start()
    try:
        papermill.execute_notebook(str(src), str(dest),
                                   parameters={"params_file": params_arg}, cwd=str(cwd),
                                   kernel_name="python3", progress_bar=False,
                                   log_output=False, engine_name=ENGINE, on_cell=progress,
                                   kernel_manager_class=IpcKernelManager)
    finally:
        stop.set()
        beating.join()
    drop_widget_state(Path(dest))


def drop_widget_state(executed: Path) -> bool:
    """Remove ``metadata.widgets`` from an executed notebook; True when there was one."""
    nb = nbformat.read(executed, as_version=4)
    if nb.metadata.pop("widgets", None) is None:
        return False
    nbformat.write(nb, executed)
    return True
