"""The 110 partition parameters of SPEC Table 2 (paper Table 2), one concept per module.

- :mod:`analysis.partition.counting`: input checks and the (17, 8) count table;
- :mod:`analysis.partition.formulas`: one pure function per feature family, the primary
  GTV's location, the 110 assembled; its docstring records each SPEC choice (the GTV's
  size is on the floor, :mod:`analysis.geometry`, as 01 needs it too);
- :mod:`analysis.partition.run`: the cohort jobs, the per-patient cache and the feature
  table written into the store (:func:`partition_table`, :func:`ledger_partition_table`);
- :mod:`analysis.partition.agreement`: the parameters on AI vs reference stations;
- :mod:`analysis.partition.figures`: the tables and figures 03_partition shows;
- :mod:`analysis.partition.step`: the step in one call (:func:`run_partition`).

The public face below is what notebook 03 and the later steps call; everything else is
imported from its module.
"""

from __future__ import annotations

from analysis.partition.counting import PartitionWarning, count_table
from analysis.partition.figures import (
    cohort_spacings,
    coverage_heatmap,
    family_distributions,
    feature_summary,
    features_with_ml,
    figure1_after_qc,
    figure1_flowchart_after_qc,
    issue_summary,
    qc_exclusion_table,
    scalar_distributions,
    voxel_size_warning,
)
from analysis.partition.formulas import partition_parameters, partition_parameters_reference
from analysis.partition.run import (
    FEATURES_CSV,
    FEATURES_PARQUET,
    PartitionJob,
    PartitionTable,
    ledger_partition_table,
    partition_table,
    read_partition_features,
)
from analysis.partition.step import PartitionResult, run_partition

__all__ = [
    "FEATURES_CSV", "FEATURES_PARQUET", "PartitionJob", "PartitionResult",
    "PartitionTable",
    "PartitionWarning", "cohort_spacings", "count_table",
    "coverage_heatmap", "family_distributions", "feature_summary", "features_with_ml",
    "figure1_after_qc", "figure1_flowchart_after_qc", "issue_summary", "partition_parameters",
    "partition_parameters_reference", "partition_table", "ledger_partition_table",
    "qc_exclusion_table", "read_partition_features", "scalar_distributions",
    "run_partition", "voxel_size_warning",
]
