"""The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378) as data, answered by
this report (07_model_eval writes it as a table).

Each item: its number, the topic (the checklist's wording, abbreviated), where this
report answers it (notebook and output name, or module) and a status: ``reported``,
``partly``, ``not done`` or ``not applicable``, with a note. The answers describe what
the code produces; on the phantom every number is synthetic, so the items about real
patients (ethics, data sharing, assessors) are answered for a real cohort run.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace

import pandas as pd

from analysis.stats.samplesize import SampleSize, max_r2_cs, riley_binary

STATUSES = ("reported", "partly", "not done", "not applicable")


@dataclass(frozen=True)
class ChecklistItem:
    """One TRIPOD+AI item and where the report answers it."""

    item: str
    section: str
    topic: str
    where: str
    status: str
    note: str = ""


#: the checklist, in its order
TRIPOD_AI: tuple[ChecklistItem, ...] = (
    ChecklistItem("1", "Title", "development/evaluation, population, outcome",
                  "paper (Shen et al. 2025)", "not applicable",
                  "a reproduction: the title is the paper's"),
    ChecklistItem("2", "Abstract", "structured summary", "paper; README", "not applicable",
                  "a reproduction: the abstract is the paper's"),
    ChecklistItem("3a", "Introduction", "healthcare context and rationale",
                  "docs (SPEC)", "reported"),
    ChecklistItem("3b", "Introduction", "target population, intended use and users",
                  "docs (SPEC)", "partly", "a research reproduction, not a clinical tool"),
    ChecklistItem("3c", "Introduction", "known health inequalities", "-", "not done"),
    ChecklistItem("4", "Objectives", "development and/or evaluation", "06_model, 07_model_eval",
                  "reported"),
    ChecklistItem("5a", "Data", "data sources for development and evaluation",
                  "01_ingest (figure1, table3); manifest inputs", "reported",
                  "one cohort; the 80/20 split and resampling are internal"),
    ChecklistItem("5b", "Data", "dates of data collection", "01_ingest", "partly",
                  "treatment dates in the store; no collection period table"),
    ChecklistItem("6a", "Participants", "setting", "docs (SPEC)", "reported"),
    ChecklistItem("6b", "Participants", "eligibility criteria", "01_ingest (exclusions)",
                  "reported"),
    ChecklistItem("6c", "Participants", "treatments received", "01_ingest (table3: chemo)",
                  "reported"),
    ChecklistItem("7", "Data preparation", "pre-processing and quality checks",
                  "01_ingest, 02_segment, 03_partition (partition_issues)", "reported"),
    ChecklistItem("8a", "Outcome", "definition and time horizon",
                  "06_model (model.label, model.horizon_months; analysis.model.make_labels)",
                  "reported"),
    ChecklistItem("8b", "Outcome", "qualifications of outcome assessors", "-",
                  "not applicable", "outcomes come from the follow-up table"),
    ChecklistItem("8c", "Outcome", "blinding of outcome assessment", "-", "not done"),
    ChecklistItem("9a", "Predictors", "choice and pre-selection of predictors",
                  "03_partition (110 features, Table 2); 06_model (filter, RFECV)", "reported"),
    ChecklistItem("9b", "Predictors", "definition and measurement",
                  "03_partition; analysis.partition docstring", "reported"),
    ChecklistItem("9c", "Predictors", "qualifications of predictor assessors",
                  "02_segment (model card)", "partly",
                  "stations segmented by a network, not by readers"),
    ChecklistItem("10", "Sample size", "how the sample size was arrived at", "-", "not done",
                  "n is the paper's cohort; no sample-size calculation (07_model_eval "
                  "fills this in: with_sample_size)"),
    ChecklistItem("11", "Missing data", "how missing data were handled",
                  "06_model (model_exclusions); analysis.model.check_features", "reported",
                  "no imputation: patients without a label are excluded with a reason"),
    ChecklistItem("12a", "Analytical methods", "data use: partitioning, resampling",
                  "06_model (model_split); 07_model_eval (model_nested_cv, model_632plus_auc)",
                  "reported"),
    ChecklistItem("12b", "Analytical methods", "handling of predictors",
                  "06_model (scaling, correlation filter)", "reported"),
    ChecklistItem("12c", "Analytical methods", "model type, building, tuning, validation",
                  "06_model (model_rfecv_curve, model_grid_search); analysis.model",
                  "reported"),
    ChecklistItem("12d", "Analytical methods", "heterogeneity across clusters", "-",
                  "not applicable", "one centre"),
    ChecklistItem("12e", "Analytical methods", "performance measures and rationale",
                  "07_model_eval (table7_metrics, model_recalibration, model_decision_curve)",
                  "reported"),
    ChecklistItem("12f", "Analytical methods", "model updating", "07_model_eval "
                  "(model_recalibration)", "partly",
                  "recalibration estimated, the model is not updated"),
    ChecklistItem("12g", "Analytical methods", "how predictions were calculated",
                  "analysis.model.PaperModel (predict_proba)", "reported"),
    ChecklistItem("13", "Class imbalance", "methods and rationale", "06_model (stratified "
                  "split and folds)", "partly", "stratification only; no resampling"),
    ChecklistItem("14", "Fairness", "approaches to fairness", "-", "not done"),
    ChecklistItem("15", "Model output", "output form and thresholds",
                  "07_model_eval (table7_metrics at 0.5; model_decision_curve)", "reported"),
    ChecklistItem("16", "Training vs evaluation", "differences between development and "
                  "evaluation data", "06_model (model_split)", "reported",
                  "same cohort, stratified split"),
    ChecklistItem("17", "Ethical approval", "ethics committee, consent", "-",
                  "not applicable", "phantom: synthetic; a real cohort needs its own"),
    ChecklistItem("18a", "Open science", "funding", "-", "not applicable"),
    ChecklistItem("18b", "Open science", "conflicts of interest", "-", "not applicable"),
    ChecklistItem("18c", "Open science", "protocol", "docs (SPEC)", "reported"),
    ChecklistItem("18d", "Open science", "registration", "-", "not done"),
    ChecklistItem("18e", "Open science", "data sharing", "phantom generator (make phantom)",
                  "partly", "the phantom is shareable; real data are not"),
    ChecklistItem("18f", "Open science", "code sharing", "this repository; manifest.json",
                  "reported"),
    ChecklistItem("19", "Patient and public involvement", "details", "-", "not done"),
    ChecklistItem("20a", "Participants", "flow, numbers with and without outcome",
                  "01_ingest (figure1); 06_model (model_exclusions, model_split)", "reported"),
    ChecklistItem("20b", "Participants", "characteristics, incl. missing data",
                  "01_ingest (table3)", "reported"),
    ChecklistItem("20c", "Participants", "evaluation vs development data comparison",
                  "06_model (model_split)", "partly", "counts and outcomes only"),
    ChecklistItem("21", "Model development", "participants and events in each analysis",
                  "06_model (model_split); 07_model_eval (model_nested_cv_folds)", "reported"),
    ChecklistItem("22", "Model specification", "details to make predictions",
                  "06_model (table6_features, model_grid_search); the saved model, "
                  "its SHA-256 in manifest.json", "reported"),
    ChecklistItem("23a", "Model performance", "performance with CIs, incl. subgroups",
                  "07_model_eval (table7_metrics, model_nested_cv, model_632plus_auc)",
                  "partly", "no subgroup analysis"),
    ChecklistItem("23b", "Model performance", "heterogeneity across clusters", "-",
                  "not applicable", "one centre"),
    ChecklistItem("24", "Model updating", "updated model and its performance", "-",
                  "not applicable", "no update"),
    ChecklistItem("25", "Interpretation", "overall interpretation, incl. fairness",
                  "07_model_eval (model_verdict)", "partly", "no fairness assessment"),
    ChecklistItem("26", "Limitations", "limitations", "07_model_eval (model_verdict); SPEC",
                  "reported"),
    ChecklistItem("27a", "Usability", "handling poor-quality or unavailable inputs",
                  "analysis.model.check_features (refuses missing values)", "reported"),
    ChecklistItem("27b", "Usability", "user interaction and expertise required", "-",
                  "not applicable", "not deployed"),
    ChecklistItem("27c", "Usability", "future research and generalisability",
                  "07_model_eval (model_verdict)", "partly"),
)


def sample_size_for(y, n_parameters: int, r2_share_of_max: float) -> SampleSize:
    """Riley et al.'s minimum for this cohort's model: the observed prevalence of the
    labels ``y`` (n,), ``n_parameters`` candidate predictor parameters (the columns the
    procedure selects from), and an anticipated Cox-Snell R2 of ``r2_share_of_max`` times
    its maximum at that prevalence (``model.sample_size_r2_share_of_max``)."""
    yy = pd.Series(y).astype(int)
    prevalence = float(yy.mean())
    return riley_binary(prevalence, int(n_parameters),
                        r2_share_of_max * max_r2_cs(prevalence))


def with_sample_size(req: SampleSize, n_cohort: int, events_cohort: int,
                     items: tuple[ChecklistItem, ...] = TRIPOD_AI
                     ) -> tuple[ChecklistItem, ...]:
    """The checklist with item 10 answered: Riley et al.'s minimum sample size for the
    model (:func:`analysis.stats.samplesize.riley_binary`) against what the cohort has.

    At the paper's numbers (180 patients, 94 recurrences, 110 candidate parameters,
    R2_cs 0.15 of its maximum, :func:`sample_size_for`) the note reads "needs >= 8244
    patients (4305 events, EPP 39.1) for 110 candidate parameters at prevalence 0.52 and
    anticipated R2_cs 0.112 (...); this cohort has 180 (94 events, EPP 0.85): too small
    by these criteria; ...". The criteria are
    derived for regression models; a random forest with feature elimination needs more
    data, not less (van der Ploeg, Austin & Steyerberg, BMC Med Res Methodol 2014), so
    the minimum is a floor.
    """
    enough = n_cohort >= req.n and events_cohort >= req.events
    note = (f"needs >= {req.n} patients ({req.events:.0f} events, EPP {req.epp:.1f}) for "
            f"{req.n_parameters} candidate parameters at prevalence {req.prevalence:.2f} "
            f"and anticipated R2_cs {req.r2_cs:.3f} (Riley et al. 2019/2020: shrinkage "
            f">= 0.9, Nagelkerke optimism <= 0.05, overall risk +-0.05); this cohort has "
            f"{n_cohort} ({events_cohort} events, EPP {events_cohort / req.n_parameters:.2f})"
            + (": enough by these criteria" if enough else ": too small by these criteria")
            + "; derived for regression, a floor for a random forest")
    return tuple(replace(i, where="07_model_eval (model_sample_size)", status="reported",
                         note=note) if i.item == "10" else i for i in items)


def tripod_ai_table(items: tuple[ChecklistItem, ...] = TRIPOD_AI) -> pd.DataFrame:
    """The checklist as a table: item, section, topic, where, status, note (one row each)."""
    bad = [i.item for i in items if i.status not in STATUSES]
    if bad:
        raise ValueError(f"TRIPOD+AI items {bad}: status must be one of {STATUSES}")
    cols = ["item", "section", "topic", "where", "status", "note"]
    return pd.DataFrame([astuple(i) for i in items], columns=cols)
