"""Speed and memory benchmarks (`make bench`), one module per topic.

Each topic module defines ``run(quick: bool = False) -> dict`` returning its measured
numbers (medians and ratios measured side by side in one run). ``python -m
analysis.bench [topic ...]`` runs them and writes ``reports/bench/<topic>.json``.
"""

from __future__ import annotations

TOPICS: tuple[str, ...] = ("phantom", "partition", "recurrence", "segment", "ingest", "model",
                           "distributed", "chain")
