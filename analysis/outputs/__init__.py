"""What the notebooks write, and under which registered names (on the floor).

- :mod:`analysis.outputs.writer`: :class:`Outputs`, which writes a table or figure under
  ``reports/<run>/`` and shows it in the notebook;
- :mod:`analysis.outputs.names`: the registry of every table and figure name (the index
  and the scorecard read it).
"""

from __future__ import annotations

from analysis.outputs.writer import PHANTOM_MARK, Outputs

__all__ = ["PHANTOM_MARK", "Outputs"]
