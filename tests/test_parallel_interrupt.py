"""A process pool ends with its parent: SIGKILL of the parent leaves no orphan worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analysis import paths

SCRIPT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    from analysis.scheduling.parallel import map_patients

    OUT = Path(sys.argv[1])

    def slow(i):
        (OUT / f"worker-{os.getpid()}").write_text("")
        time.sleep(120)
        return i

    if __name__ == "__main__":
        (OUT / "parent").write_text(str(os.getpid()))
        map_patients(slow, {f"P{i}": i for i in range(4)}, scheduler="processes",
                     n_workers=2)
''')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) is not an orphan that runs on
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and SIGKILL")
def test_sigkill_of_the_parent_leaves_no_orphan_worker(tmp_path):
    """Injected fault: without the parent watch (``initializer=_watch_parent`` removed
    from ``parallel._run_pool``), both workers (and the resource tracker) were still alive
    10 s after the SIGKILL, re-parented to init."""
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("worker-*"))) < 2:
            assert time.monotonic() < deadline, "the workers never started"
            assert proc.poll() is None, "the parent exited early"
            time.sleep(0.2)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert all(_alive(w) for w in workers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # each worker polls its parent every 0.5 s; 10 s is 20 polls of slack on a busy CI
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "orphan worker(s) survived"
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]:
            if _alive(w):  # only after a failure: never leave the test's own orphans
                os.kill(w, signal.SIGKILL)
