"""Reproduce Shen et al. (Front. Oncol. 2025;15:1534740) end to end on any cohort.

Array-axis convention (stated once for the whole package)
----------------------------------------------------------
Every volume is a numpy array indexed ``(z, y, x)``: ``z`` runs from inferior to
superior (slice 0 is the most inferior slice), ``y`` from anterior to posterior
(image rows), ``x`` from the patient's right to the patient's left (image columns).
``spacing_mm`` is always given in the same ``(z, y, x)`` order. Physical points are
DICOM patient coordinates (LPS, millimetres) written ``(x, y, z)``; only
:mod:`analysis.io` and :class:`analysis.grid.Grid` convert between the two.
"""

from __future__ import annotations

__version__ = "0.1.0"
