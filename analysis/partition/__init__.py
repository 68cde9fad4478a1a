"""The 110 partition parameters of SPEC Table 2 (paper Table 2), one concept per module.

- :mod:`analysis.partition.counting`: input checks and the (17, 8) count table;
- :mod:`analysis.partition.formulas`: one pure function per feature family, the primary
  GTV's location and size, the 110 assembled; its docstring records each SPEC choice;
- :mod:`analysis.partition.cohort`: the cohort jobs, the per-patient cache and the feature
  table written into the store (:func:`partition_table`, :func:`partition_table_for_params`);
- :mod:`analysis.partition.figures`: the tables and figures 03_partition shows.

Everything public is re-exported here, so ``from analysis.partition import X`` works for
any of them.
"""

from __future__ import annotations

from analysis.partition.cohort import (
    FEATURES_CSV,
    FEATURES_PARQUET,
    PartitionJob,
    PartitionTable,
    StationSource,
    compute_patient,
    job_hash,
    missing_station_maps,
    partition_table,
    partition_table_for_params,
    qc_exclusions,
    read_partition_features,
)
from analysis.partition.counting import (
    CTV_BIT,
    GTV_BIT,
    GTVND_BIT,
    N_CODES,
    PARTITION_CODE_VERSION,
    Box,
    GtvDefinition,
    PartitionWarning,
    bounding_box,
    check_inputs,
    count_table,
    count_table_reference,
)
from analysis.partition.figures import (
    ML_COLUMNS,
    VOXEL_COUNT_FEATURES,
    cohort_spacings,
    coverage_heatmap,
    family_distributions,
    feature_summary,
    features_with_ml,
    figure1_after_qc,
    issue_summary,
    qc_exclusion_table,
    scalar_distributions,
    voxel_size_warning,
)
from analysis.partition.formulas import (
    BRUTE_FORCE_MAX_POINTS,
    ctv_in_stations_vox,
    ctv_minus_gtv_in_stations_vox,
    ctv_overlaps,
    ctv_volume_vox,
    features_from_counts,
    gtv_in_stations_vox,
    gtv_lung_location,
    gtv_size_cm,
    gtv_size_cm_from_indices,
    gtvnd_volume_vox,
    idea_ctv,
    idea_ctv_vox,
    image_resolution_mm,
    lung_location_code,
    n_ln_ctv,
    n_ln_gtvnd,
    partition_parameters,
    partition_parameters_reference,
    rcmg_ln,
    rctv_ln,
    rgtv_ln,
    ricmg_ln,
    rictv_ln,
    rigtv_ln,
    station_volumes_vox,
    structure_volumes_cm3,
)

__all__ = [
    "BRUTE_FORCE_MAX_POINTS", "CTV_BIT", "FEATURES_CSV", "FEATURES_PARQUET", "GTVND_BIT",
    "GTV_BIT", "N_CODES", "PARTITION_CODE_VERSION", "Box", "GtvDefinition", "PartitionJob",
    "ML_COLUMNS", "PartitionTable", "VOXEL_COUNT_FEATURES", "cohort_spacings", "features_with_ml", "voxel_size_warning", "PartitionWarning", "StationSource", "bounding_box", "check_inputs",
    "compute_patient", "count_table", "count_table_reference", "coverage_heatmap",
    "ctv_in_stations_vox", "ctv_minus_gtv_in_stations_vox", "ctv_overlaps",
    "ctv_volume_vox", "family_distributions", "feature_summary", "figure1_after_qc", "features_from_counts",
    "gtv_in_stations_vox", "gtv_lung_location", "gtv_size_cm", "gtv_size_cm_from_indices",
    "gtvnd_volume_vox", "idea_ctv", "idea_ctv_vox", "image_resolution_mm", "issue_summary",
    "job_hash", "lung_location_code", "missing_station_maps", "n_ln_ctv", "n_ln_gtvnd",
    "partition_parameters", "partition_parameters_reference", "partition_table",
    "partition_table_for_params", "qc_exclusion_table", "qc_exclusions", "rcmg_ln", "rctv_ln", "read_partition_features",
    "rgtv_ln", "ricmg_ln", "rictv_ln", "rigtv_ln", "scalar_distributions",
    "station_volumes_vox", "structure_volumes_cm3",
]
