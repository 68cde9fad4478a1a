"""JupyterLab started as ``make lab`` starts it, for the tests that drive it in Chromium
(``test_lab_browser.py``, ``test_report_ci.py``): the project's ``jupyter/`` settings,
MPLBACKEND unset, 127.0.0.1 on a free port with a random token, no user settings."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from analysis import paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(root_dir: Path, state_dir: Path, env_extra: dict[str, str],
                lab_settings: dict[str, dict], start_timeout: float = 90
                ) -> Iterator[tuple[str, str]]:
    """Start JupyterLab on ``root_dir`` (also its working directory) with its state,
    settings and log (``lab.log``) under ``state_dir``; ``lab_settings`` maps a
    ``@jupyterlab`` plugin to its settings. Yields (base URL, token); stops it after."""
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # as `make lab`
    env.update({"PYTHONPATH": str(paths.REPO_ROOT),
                # the project's settings, as `make lab` passes them: save hook, no news
                "JUPYTER_CONFIG_PATH": str(paths.REPO_ROOT / "jupyter"),
                "JUPYTER_CONFIG_DIR": str(state_dir / ".jupyter"),  # no user settings
                "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / ".workspaces"),
                "JUPYTERLAB_SETTINGS_DIR": str(state_dir / ".settings"), **env_extra})
    for plugin, value in lab_settings.items():
        f = state_dir / ".settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root_dir}", "--ServerApp.port_retries=0",
           "--allow-root", "--LabApp.extension_manager=readonly"]
    log_file = state_dir / "lab.log"
    proc = subprocess.Popen(cmd, env=env, cwd=root_dir, stdout=subprocess.DEVNULL,
                            stderr=open(log_file, "wb"))
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not start: "
                                       + log_file.read_text()[-2000:]) from None
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
