"""Compare every table of two report runs: ``python tools/compare_reports.py A B``.

A and B are ``reports/<run>/`` folders (for example the same params before and after a
refactor, each made from its own clean checkout). Each CSV table under ``tables/`` is
compared three ways:

- ``identical``: the same bytes;
- ``pseudonym only``: equal once every pseudonym (``P`` + 12 hex digits, each checkout
  has its own key) is replaced by one placeholder and the rows are sorted (a table
  sorted by pseudonym lists the same rows in another order);
- ``DIFFERENT``: anything else, with the first differing line.

Exits 1 when any table differs, or when a table is only in one run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PSEUDONYM = re.compile(r"\bP[0-9a-f]{12}\b")


def _canonical(text: str) -> list[str]:
    lines = PSEUDONYM.sub("<pid>", text).splitlines()
    return lines[:1] + sorted(lines[1:])


def compare(a: Path, b: Path) -> dict[str, list[str]]:
    ta = {p.name: p for p in sorted((a / "tables").glob("*.csv"))}
    tb = {p.name: p for p in sorted((b / "tables").glob("*.csv"))}
    out: dict[str, list[str]] = {"identical": [], "pseudonym only": [], "DIFFERENT": [],
                                 "only in A": sorted(set(ta) - set(tb)),
                                 "only in B": sorted(set(tb) - set(ta))}
    for name in sorted(set(ta) & set(tb)):
        x, y = ta[name].read_bytes(), tb[name].read_bytes()
        if x == y:
            out["identical"].append(name)
        elif _canonical(x.decode()) == _canonical(y.decode()):
            out["pseudonym only"].append(name)
        else:
            ca, cb = _canonical(x.decode()), _canonical(y.decode())
            first = next((i for i, (p, q) in enumerate(zip(ca, cb, strict=False)) if p != q),
                         min(len(ca), len(cb)))
            out["DIFFERENT"].append(f"{name} (line {first + 1})")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    res = compare(Path(args[0]), Path(args[1]))
    for k, v in res.items():
        print(f"{k}: {len(v)}")
        if k != "identical":
            for n in v:
                print(f"  {n}")
    bad = res["DIFFERENT"] or res["only in A"] or res["only in B"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
