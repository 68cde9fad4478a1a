"""The commands the report runner starts before the notebooks: the phantom export, and
the station model's training on phantoms. Each runs as its own process (``python -m
analysis.phantom``, ``python -m analysis.phantom.segmentation train``), as ``make phantom``
and ``make train`` run them, so that no step imports the phantom package.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from analysis import paths
from analysis.params import Params
from analysis.report.inputs import phantom_dir


class ReportError(RuntimeError):
    """A notebook of the chain failed, a command before it failed, or the report cannot be
    assembled (the runner's one error, printed without a traceback)."""


def generate_phantom(params: Params, params_file, data_root: Path | None, echo) -> float:
    """Generate the phantom export (a no-op when its stamp is current); return seconds.

    01_ingest never generates it: it reads the export this writes. The phantom runs as
    its own command (``python -m analysis.phantom``, as ``make phantom`` runs it), so no
    step imports the phantom package (docs/architecture.md).
    """
    t0 = time.perf_counter()
    echo("[report] phantom: generating (skipped at once when up to date) ...")
    cmd = [sys.executable, "-m", "analysis.phantom", "--params",
           str(paths.resolve(params_file)), "--out", str(phantom_dir(params, data_root))]
    done = subprocess.run(cmd, cwd=paths.REPO_ROOT, check=False)
    if done.returncode != 0:
        raise ReportError(f"phantom: generation failed (exit {done.returncode}, its message "
                          f"is above); rerun it alone with make phantom PARAMS={params_file}")
    seconds = time.perf_counter() - t0
    echo(f"[report] phantom: ready in {seconds:.1f} s")
    return round(seconds, 2)


def train_on_phantom(params_file, echo) -> None:
    """``segment.train: true`` on the phantom: train before 02 runs, as ``make train``
    does (the phantom supplies the patients; 02 then loads the new checkpoint)."""
    echo("[report] segment: training on phantom patients (make train) ...")
    cmd = [sys.executable, "-m", "analysis.phantom.segmentation", "train", "--params",
           str(paths.resolve(params_file))]
    done = subprocess.run(cmd, cwd=paths.REPO_ROOT, check=False)
    if done.returncode != 0:
        raise ReportError(f"segment: training failed (exit {done.returncode}, its message "
                          f"is above); rerun it alone with make train PARAMS={params_file}")
