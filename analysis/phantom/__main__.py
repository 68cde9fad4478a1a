"""``python -m analysis.phantom --params params/x.yaml``: write the phantom export."""

from __future__ import annotations

import argparse
import sys
import time

from analysis.params import ParamsError, load_params
from analysis.phantom import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.phantom", description=__doc__)
    ap.add_argument("--params", default="params/default.yaml", help="params YAML file")
    ap.add_argument("--out", default=None, help="output folder (default data/phantom/<run>)")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as err:  # a user's error: one message, no traceback
        print(f"make phantom: {err}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    out = generate(params, out_dir=args.out)
    print(f"phantom written to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
