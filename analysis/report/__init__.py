"""``make report``: run the notebooks in order and assemble ``reports/<run>/``.

- :mod:`analysis.report.runner`: the chain, content-hash stamps, the manifest
  (``python -m analysis.report``);
- :mod:`analysis.report.inputs`: what each step reads, for the stamps;
- :mod:`analysis.report.html`: the index and the notebooks' HTML;
- :mod:`analysis.report.pages`: the gallery and the 3D pages;
- :mod:`analysis.report.scorecard`: the paper's headline numbers beside ours;
- :mod:`analysis.report.browser`: headless Chromium for rendering checks.
"""

from __future__ import annotations

from analysis.report.runner import ReportError, StepResult, build_manifest, main, run_report

__all__ = ["ReportError", "StepResult", "build_manifest", "main", "run_report"]
