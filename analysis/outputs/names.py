"""The output-name registry: every table and figure name a notebook writes, exactly.

One home for output names (issue 12): the report index files each output under the
paper item it reproduces by its EXACT name here (no prefix guessing), the scorecard
reads its numbers from the tables named here, and :class:`analysis.outputs.Outputs`
warns when a notebook writes a name that is not registered. An output that reproduces
no item of the paper is registered as :data:`OTHER` on purpose.

To add an output: add its exact name, notebook and paper item (or ``OTHER``) to
:data:`_ENTRIES`; ``tests/test_output_names.py`` checks that every name the notebooks
and the analysis modules write is here.

Names built from a parameter (the Kaplan-Meier groups of 05_survival,
``figure3_km_<group>``) are expanded over the grouping columns the cohort table can
hold (:data:`KM_GROUPS`); only the diameter group is the paper's Figure 3.
"""

from __future__ import annotations

from dataclasses import dataclass

#: paper item of an output that reproduces nothing of the paper
OTHER = "other"

#: the paper's items, in the paper's order (the labels of ``analysis.report.PAPER_ITEMS``)
PAPER_LABELS: tuple[str, ...] = (
    "Figure 1", "Table 3", "Table 4", "Table 4 (Cox)", "Figure 3", "Table 5", "Appendix 2",
    "Table 6", "Table 7", "Figure 4", "Segmentation",
)

#: Table 7's column labels (written by analysis.model.evaluate, read by the scorecard): the
#: training split scored in-sample, and cross-validated
TRAIN_APPARENT = "train apparent (in-sample)"
TRAIN_CV = "train cross-validated"

#: grouping columns 05_survival may draw Kaplan-Meier curves for (params.survival.km_groups)
KM_GROUPS: tuple[str, ...] = ("diameter_ge_5cm", "sex", "age_ge_60", "t_stage", "n_stage",
                              "tnm_stage", "smoking_bin")
#: the group of the paper's Figure 3
FIGURE3_GROUP = "diameter_ge_5cm"


@dataclass(frozen=True)
class OutputName:
    """One registered output.

    Attributes
    ----------
    name : str
        Exact name given to ``Outputs.table`` / ``Outputs.figure``.
    notebook : str
        Notebook stem that writes it.
    kind : str
        ``"table"`` or ``"figure"``.
    paper_item : str
        A label of :data:`PAPER_LABELS`, or :data:`OTHER`.
    """

    name: str
    notebook: str
    kind: str
    paper_item: str


# (name, notebook, kind, paper item), grouped by notebook, in notebook order
_ENTRIES: tuple[tuple[str, str, str, str], ...] = (
    ("figure1_flowchart", "01_ingest", "figure", "Figure 1"),
    ("figure1_table", "01_ingest", "table", "Figure 1"),
    ("table3", "01_ingest", "table", "Table 3"),
    ("exclusions", "01_ingest", "table", OTHER),
    ("segment_checkpoint", "02_segment", "table", OTHER),
    ("segment_dice_hd95", "02_segment", "table", "Segmentation"),
    ("segment_dice_boxplot", "02_segment", "figure", "Segmentation"),
    ("segment_training_runs", "02_segment", "table", OTHER),
    ("segment_baselines", "02_segment", "table", OTHER),
    ("segment_overlay", "02_segment", "figure", OTHER),
    ("segment_qc", "02_segment", "table", OTHER),
    ("segment_exports", "02_segment", "table", OTHER),
    ("segment_failures", "02_segment", "table", OTHER),
    ("segment_qc_summary", "02_segment", "table", OTHER),
    ("segment_cv", "02_segment", "table", "Segmentation"),
    ("segment_anchors", "02_segment", "table", "Segmentation"),
    ("segment_ceiling", "02_segment", "table", OTHER),
    ("segment_near_gtv", "02_segment", "table", OTHER),
    ("segment_ceiling_mass", "02_segment", "table", OTHER),
    ("segment_near_gtv_mass", "02_segment", "table", OTHER),
    ("segment_geometries", "02_segment", "table", OTHER),
    ("partition_features", "03_partition", "table", OTHER),
    ("partition_issues", "03_partition", "table", OTHER),
    ("partition_summary", "03_partition", "table", OTHER),
    ("partition_coverage_heatmap", "03_partition", "figure", OTHER),
    ("partition_ratio_families", "03_partition", "figure", OTHER),
    ("partition_scalars", "03_partition", "figure", OTHER),
    ("partition_excluded_qc", "03_partition", "table", OTHER),
    ("figure1_after_qc", "03_partition", "table", "Figure 1"),
    ("figure1_flowchart_after_qc", "03_partition", "figure", "Figure 1"),
    ("partition_agreement", "03_partition", "table", OTHER),
    ("partition_agreement_family", "03_partition", "table", OTHER),
    ("partition_agreement_station", "03_partition", "table", OTHER),
    ("partition_agreement_heatmap", "03_partition", "figure", OTHER),
    ("partition_perturbation", "03_partition", "table", OTHER),
    ("partition_perturbation_summary", "03_partition", "table", OTHER),
    ("04_site_assignment", "04_recurrence", "table", OTHER),
    ("04_failures", "04_recurrence", "table", OTHER),
    ("table5_recurrence_by_station", "04_recurrence", "table", "Table 5"),
    ("table5_top4_share", "04_recurrence", "table", "Table 5"),
    ("recurrence_station_map", "04_recurrence", "figure", OTHER),
    ("recurrence_station_bars", "04_recurrence", "figure", OTHER),
    ("appendix2_rate_by_involved_station", "04_recurrence", "table", "Appendix 2"),
    ("recurrence_agreement_sites", "04_recurrence", "table", OTHER),
    ("recurrence_agreement_table5", "04_recurrence", "table", OTHER),
    ("recurrence_agreement_top4", "04_recurrence", "table", OTHER),
    ("recurrence_agreement_appendix2", "04_recurrence", "table", OTHER),
    ("05_ingest_exclusions", "05_survival", "table", OTHER),
    ("05_excluded_rows", "05_survival", "table", OTHER),
    ("05_missing_group_values", "05_survival", "table", OTHER),
    ("05_outcome", "05_survival", "table", OTHER),
    ("table4_univariate", "05_survival", "table", "Table 4"),
    ("table4_multivariable_cox", "05_survival", "table", "Table 4 (Cox)"),
    ("table4_multivariable_summary", "05_survival", "table", "Table 4 (Cox)"),
    ("table4_ph_check", "05_survival", "table", "Table 4 (Cox)"),
    ("table4_prespecified_cox", "05_survival", "table", "Table 4 (Cox)"),
    ("table4_prespecified_summary", "05_survival", "table", "Table 4 (Cox)"),
    ("table4_prespecified_ph_check", "05_survival", "table", "Table 4 (Cox)"),
    *((f"figure3_landmark_{g}", "05_survival", "table",
       "Figure 3" if g == FIGURE3_GROUP else OTHER) for g in KM_GROUPS),
    *((f"figure3_km_{g}", "05_survival", "figure",
       "Figure 3" if g == FIGURE3_GROUP else OTHER) for g in KM_GROUPS),
    ("planted_hr_check", "05_survival", "table", OTHER),
    ("planted_hr_coverage_table", "05_survival", "table", OTHER),
    ("planted_hr_coverage", "05_survival", "figure", OTHER),
    ("05_competing_risks", "05_survival", "table", OTHER),
    ("05_cumulative_incidence", "05_survival", "figure", OTHER),
    ("05_gray_test", "05_survival", "table", OTHER),
    ("05_fine_gray", "05_survival", "table", OTHER),
    ("model_exclusions", "06_model", "table", OTHER),
    ("model_split", "06_model", "table", OTHER),
    ("model_filter_dropped", "06_model", "table", OTHER),
    ("model_rfecv_curve", "06_model", "figure", OTHER),
    ("model_grid_search", "06_model", "table", OTHER),
    ("table6_features", "06_model", "table", "Table 6"),
    ("table6_features_summary", "06_model", "table", "Table 6"),
    ("table7_metrics", "07_model_eval", "table", "Table 7"),
    ("figure4_roc", "07_model_eval", "figure", "Figure 4"),
    ("model_nested_cv", "07_model_eval", "table", OTHER),
    ("model_nested_cv_folds", "07_model_eval", "table", OTHER),
    ("model_632plus_auc", "07_model_eval", "table", OTHER),
    ("model_recalibration", "07_model_eval", "table", OTHER),
    ("model_calibration_eps", "07_model_eval", "table", OTHER),
    ("model_calibration_smooth", "07_model_eval", "table", OTHER),
    ("model_tripod_ai", "07_model_eval", "table", OTHER),
    ("model_sample_size", "07_model_eval", "table", OTHER),
    ("model_calibration", "07_model_eval", "table", OTHER),
    ("model_brier", "07_model_eval", "table", OTHER),
    ("model_calibration_curve", "07_model_eval", "figure", OTHER),
    ("model_decision_curve", "07_model_eval", "table", OTHER),
    ("model_decision_curve_plot", "07_model_eval", "figure", OTHER),
    ("model_selection_stability", "07_model_eval", "table", OTHER),
    ("model_permutation_importance", "07_model_eval", "table", OTHER),
    ("model_planted_features", "07_model_eval", "table", OTHER),
    ("model_planted_vs_noise", "07_model_eval", "table", OTHER),
    ("model_ceiling_auc", "07_model_eval", "table", OTHER),
    ("model_selection_stability_plot", "07_model_eval", "figure", OTHER),
    ("model_verdict", "07_model_eval", "table", OTHER),
    ("model_agreement_summary", "07_model_eval", "table", OTHER),
    ("model_agreement_features", "07_model_eval", "table", OTHER),
    ("stations_agreement_verdict", "07_model_eval", "table", OTHER),
)


def _build() -> dict[str, OutputName]:
    reg: dict[str, OutputName] = {}
    for name, nb, kind, item in _ENTRIES:
        if name in reg:
            raise ValueError(f"output name {name!r} registered twice")
        if item != OTHER and item not in PAPER_LABELS:
            raise ValueError(f"output {name!r}: unknown paper item {item!r}")
        if kind not in {"table", "figure"}:
            raise ValueError(f"output {name!r}: kind must be table or figure, not {kind!r}")
        reg[name] = OutputName(name, nb, kind, item)
    return reg


#: exact name -> entry
REGISTRY: dict[str, OutputName] = _build()


def lookup(name: str) -> OutputName | None:
    """The registered entry of ``name``, or None."""
    return REGISTRY.get(name)


def names_of(paper_item: str) -> tuple[str, ...]:
    """Exact output names that reproduce ``paper_item``, in registry order."""
    if paper_item not in PAPER_LABELS:
        raise KeyError(f"paper item {paper_item!r} is not one of {PAPER_LABELS}")
    return tuple(e.name for e in REGISTRY.values() if e.paper_item == paper_item)


# names the scorecard reads (one place, so that a rename breaks here and in the test)
OUTCOME_TABLE = "05_outcome"
COX_TABLE = "table4_multivariable_cox"
PRESPECIFIED_COX_TABLE = "table4_prespecified_cox"
LANDMARK_TABLE = f"figure3_landmark_{FIGURE3_GROUP}"
TOP4_TABLE = "table5_top4_share"
TABLE7_TABLE = "table7_metrics"
DICE_TABLE = "segment_dice_hd95"
FIGURE1_TABLE = "figure1_table"
#: issue 25's verdict (AI vs reference stations), shown first under "Beyond the paper"
STATIONS_VERDICT_TABLE = "stations_agreement_verdict"
