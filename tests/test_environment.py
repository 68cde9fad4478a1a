"""environment.yml (conda) installs exactly the pinned set of requirements.lock (pip)."""

from __future__ import annotations

import re

import yaml

from analysis import paths

LOCK = paths.REPO_ROOT / "requirements.lock"
ENV = paths.REPO_ROOT / "environment.yml"


def _lock_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _env_pins(env: dict) -> tuple[str, dict[str, str]]:
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    pins = dict(p.lower().split("==") for p in pip if "==" in p)
    return python.split("=")[1], pins


def _differences(lock: dict[str, str], env: dict[str, str]) -> list[str]:
    return sorted([f"{n}: lock {lock.get(n)} vs environment.yml {env.get(n)}"
                   for n in set(lock) | set(env) if lock.get(n) != env.get(n)])


def test_environment_matches_the_lock():
    env = yaml.safe_load(ENV.read_text())
    assert env["channels"] == ["conda-forge"]
    python, env_pins = _env_pins(env)
    requires = re.search(r'requires-python\s*=\s*">=(\d+\.\d+)',
                         (paths.REPO_ROOT / "pyproject.toml").read_text()).group(1)
    assert python == requires
    lock = _lock_pins(LOCK.read_text())
    assert lock["torch"] == "2.13.0"
    assert _differences(lock, env_pins) == [], "run `make env` after changing the lock"
    assert "-e ." in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_the_comparison_sees_a_drifted_pin():
    """Fault: numpy bumped in the lock only -> one difference, naming it."""
    lock = _lock_pins(LOCK.read_text())
    _, env_pins = _env_pins(yaml.safe_load(ENV.read_text()))
    drifted = {**lock, "numpy": "0.0.1"}
    assert _differences(drifted, env_pins) == [
        f"numpy: lock 0.0.1 vs environment.yml {env_pins['numpy']}"]
    missing = {k: v for k, v in lock.items() if k != "tabulate"}
    assert _differences(missing, env_pins) == [
        f"tabulate: lock None vs environment.yml {env_pins['tabulate']}"]
