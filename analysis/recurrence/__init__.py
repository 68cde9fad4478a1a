"""Recurrence patterns by lymph-node station (paper Table 5, Appendix 2).

Pure functions on arrays (station label maps ``(z, y, x)``, points LPS mm ``(x, y, z)``)
and DataFrames, one concept per module:

- :mod:`analysis.recurrence.sites`: sites -> stations, and :func:`patient_sites`, the thin
  per-patient wrapper on the cohort store;
- :mod:`analysis.recurrence.tables`: Table 5, the top-4 share, Appendix 2;
- :mod:`analysis.recurrence.figures`: the schematic station map and the bar chart;
- :mod:`analysis.recurrence.run`: :func:`recurrence_analysis`, Table 5, Appendix 2 and
  the figures as one call returning tables, figures and a skip reason;
- :mod:`analysis.recurrence.agreement`: the recurrence map on AI vs reference stations;
- :mod:`analysis.recurrence.step`: the step in one call (:func:`run_recurrence`).

Choices (SPEC is silent on them)
--------------------------------
- A recurrence site is the voxel whose centre is nearest to its point. Inside a station
  -> that station (distance 0). Else the nearest station voxel (Euclidean distance in mm
  between voxel centres, ``scipy.ndimage.distance_transform_edt`` with
  ``sampling=spacing_mm``) if it lies within ``tolerance_mm`` -> that station with its
  distance; else ``"outside stations"`` with its distance. A point outside the CT grid
  is measured to the nearest station voxel centre directly (k-d tree), same rule.
- "GTV affected": the site's station overlapped the gross tumour (GTV ∪ GTVnd) at the
  start; otherwise the site counts as "CTV-GTV" (SPEC). Sites outside the stations are
  counted in their own row and are neither.
- Table 5's "mean and range of RctvLN_i among the recurring patients": over the distinct
  patients with at least one site in station i.
- Appendix 2: a station is "initially involved" when GTV ∪ GTVnd overlaps it; the rate
  "same station" is the share of those patients with a site in that station, the rate
  "anywhere" the share with any recurrence (``lc_event == 1`` or any site).
"""

from __future__ import annotations

from analysis.recurrence.figures import (
    SCHEMATIC_XY,
    station_bar_figure,
    station_map_figure,
)
from analysis.recurrence.run import (
    OutputItem,
    RecurrenceAnalysis,
    recurrence_analysis,
)
from analysis.recurrence.sites import (
    OUTSIDE,
    assign_sites,
    assignment_summary,
    collect_sites,
    failure_table,
    involved_stations,
    nearest_station_at,
    patient_sites,
    rctv_per_station,
    site_items,
    station_distance_map,
)
from analysis.recurrence.step import RecurrenceResult, run_recurrence
from analysis.recurrence.tables import appendix2, table5, top_share

__all__ = [
    "OUTSIDE", "SCHEMATIC_XY", "OutputItem", "RecurrenceAnalysis", "RecurrenceResult",
    "appendix2",
    "assign_sites", "assignment_summary", "collect_sites",
    "failure_table", "involved_stations", "nearest_station_at", "patient_sites", "rctv_per_station",
    "recurrence_analysis", "run_recurrence", "site_items", "station_bar_figure", "station_distance_map",
    "station_map_figure", "table5", "top_share",
]
