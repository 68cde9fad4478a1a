"""The station model's phantom commands: the phantom supplies the patients, and
:mod:`analysis.segment` does the work (no step imports the phantom).

``python -m analysis.phantom.segmentation train --params P [...]`` (``make train``)
    train on phantom patients (``segment.train_source: phantom``), or on the store's
    patients (``store``), then rewrite ``models/MODEL_CARD.md``;
``python -m analysis.phantom.segmentation compare --params P [...]``
    compare the architectures on held-out phantoms (the model card's comparison);
``python -m analysis.phantom.segmentation backfill --params P [...]``
    add training statistics to phantom-trained checkpoints that predate them.

Each takes the same options as the segment command it wraps (``--help`` after the verb).
"""

from __future__ import annotations

import sys

from analysis.phantom import make_patient
from analysis.segment import backfill, compare, train

COMMANDS = {"train": train.main, "compare": compare.main, "backfill": backfill.main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    COMMANDS[argv[0]](argv[1:], make_patient=make_patient)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
