"""Write environment.yml from requirements.lock (``make env``): one pinned set, two installers.

The conda environment takes only Python and pip from conda-forge and installs the exact
pins of ``requirements.lock`` with pip, so that conda users and ``make setup`` run the
same versions (conda-forge's own builds of torch, SimpleITK or pyarrow differ from the
wheels the lock was resolved and tested with). ``tests/test_environment.py`` checks that
the two files agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"


def lock_pins(text: str) -> list[str]:
    """The ``name==version`` lines of a lock file, in order (comments and blanks dropped)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def python_minor(pyproject_text: str) -> str:
    """``3.11`` from ``requires-python = ">=3.11,<3.12"``."""
    m = re.search(r'requires-python\s*=\s*">=(\d+\.\d+)', pyproject_text)
    if m is None:
        raise ValueError("pyproject.toml: requires-python '>=X.Y,...' not found")
    return m.group(1)


def render(pins: list[str], python: str) -> str:
    lines = [
        "# Conda alternative to `make setup`; generated from requirements.lock by `make env`.",
        "# Do not edit by hand: tests/test_environment.py checks it against the lock.",
        "# conda env create -f environment.yml && conda activate sclc-stations",
        "name: sclc-stations",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
        *[f"      - {p}" for p in pins],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render(lock_pins(LOCK.read_text()), python_minor(PYPROJECT.read_text()))
    ENV.write_text(text)
    print(f"wrote {ENV.relative_to(ROOT)} ({text.count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
