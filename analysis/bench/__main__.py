"""Run the benchmarks: ``python -m analysis.bench [--quick] [topic ...]``."""

from __future__ import annotations

import argparse
import importlib
import json

from analysis import paths
from analysis.bench import TOPICS


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("topics", nargs="*", default=list(TOPICS))
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    args = ap.parse_args(argv)
    out_dir = paths.REPORTS_DIR / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for topic in args.topics:
        if topic not in TOPICS:
            raise SystemExit(f"unknown benchmark topic {topic!r}; known: {', '.join(TOPICS)}")
        try:
            mod = importlib.import_module(f"analysis.bench.{topic}")
        except ModuleNotFoundError:
            print(f"[bench] {topic}: not written yet, skipped")
            continue
        print(f"[bench] {topic} ...", flush=True)
        result = mod.run(quick=args.quick)
        (out_dir / f"{topic}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
