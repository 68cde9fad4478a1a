"""Local control (paper Table 4, Figure 3): the tables assembled from the estimators.

The estimators (Kaplan-Meier, log-rank, chi-square, Cox, PH check) live in
:mod:`analysis.stats`, the figures in :mod:`analysis.survival.plots`; this module
assembles Table 4 and Figure 3 from them for the notebook ``05_survival`` on the cohort
store (canonical columns, docs/data_layout.md), the paper's numbers
(:mod:`analysis.paper`) beside ours. It knows nothing of the phantom (planted-truth
checks: :mod:`analysis.phantom.checks`).

Conventions and choices (SPEC is silent on them)
------------------------------------------------
- Times are months from the start of radiotherapy; ``event`` is 1 for the event
  (local failure, or death for overall survival) and 0 for censoring.
- Kaplan-Meier confidence intervals use Greenwood's variance. The default transform
  is ``"log-log"`` (lifelines' default, better coverage near 0 and 1); ``"log"`` is
  R ``survfit``'s default and is used in the tests against R.
- "Relapse / no relapse" in Table 4 is ``event == 1`` / ``event == 0`` over the whole
  follow-up, as in the paper's counts (they add up to 94 / 86).
- Univariate p: log-rank across the levels of a variable (lifelines
  ``multivariate_logrank_test``) and, beside it, Pearson's chi-square of relapse vs level
  (scipy ``chi2_contingency``, Yates' correction for 2 x 2 as scipy does by default); the
  chi-square is also computed on the paper's own counts, which shows which test the
  paper's p-values can come from.
- Multivariable Cox: the variables with a univariate log-rank p below
  ``params.survival.univariate_p_threshold`` (the paper's selection: selected on the
  same data, its p-values are optimistic and say so), and beside it a pre-specified
  model on ``params.survival.prespecified_covariates`` (valid inference); categorical
  variables are one-hot coded against the reference level of :data:`REFERENCE_LEVEL`
  (else the most frequent level), Efron ties (lifelines default, as R ``coxph``).
- Bad input never yields a silent NaN: cleaning (:func:`prepare_survival_data`) lists
  every excluded row with its reason; a single-level variable or a fit that does not
  converge gets a note in the table (see :func:`fit_cox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import paper
from analysis.stats.cox import (
    CoxResult,
    cox_newton,
    fit_cox,
    model_summary,
    separating_columns,
)
from analysis.stats.group_tests import chi2_relapse, logrank
from analysis.stats.km import (
    km_confidence,
    km_table,
    median_followup,
    median_survival,
    survival_at,
)
from analysis.stats.ph import ph_test_table
from analysis.stats.survdata import (
    SurvivalInputError,
    missing_group_exclusions,
    prepare_survival_data,
    validate_survival,
)
from analysis.store import PARTITION_FEATURES
from analysis.survival.inputs import SurvivalInputs, survival_inputs  # noqa: F401 - 05's API
from analysis.survival.plots import km_figure

#: the estimators live in analysis.stats; they are re-exported here for the notebook
__all__ = [
    "CoxResult", "SurvivalInputError", "chi2_relapse", "cox_newton", "fit_cox", "km_confidence",
    "km_table", "logrank", "median_followup", "median_survival", "missing_group_exclusions",
    "model_summary",
    "ph_test_table", "prepare_survival_data", "separating_columns", "survival_at",
    "validate_survival",
]

#: reference level of each canonical categorical variable in the Cox model: the level
#: of "no exposure" or the lowest stage, so that HR > 1 means worse local control for
#: the named level (diameter: ">=5cm" vs "<5cm", as in the paper's Table 4)
REFERENCE_LEVEL: dict[str, str] = {
    "sex": "female",
    "age_ge_60": "<60",
    "histology": "small_cell",
    "location": "peripheral",
    "t_stage": "T1",
    "n_stage": "N0",
    "m_stage": "M0",
    "tnm_stage": "I",
    "paraneoplastic": "no",
    "svc_syndrome": "no",
    "smoking_bin": "0",
    "diameter_ge_5cm": "<5cm",
    "chemo": "concurrent",
}


def level_order(values: pd.Series, var: str) -> list:
    """Levels present in ``values``: Table 4's order first, then the rest sorted."""
    present = list(pd.unique(values.dropna()))
    ordered = [lv for lv in paper.TABLE4.get(var, {}).get("levels", {}) if lv in present]
    return ordered + sorted((lv for lv in present if lv not in ordered), key=str)


def by_horizon_counts(time_months, event, horizon_months: float) -> dict:
    """Relapse / no relapse *by* the horizon, and patients censored before it.

    - ``relapse_by``: event at or before the horizon (``event == 1`` and ``t <= h``);
    - ``no_relapse_by``: followed to the horizon without an event (``t >= h`` and not a
      relapse by it);
    - ``censored_before``: censored before the horizon (``event == 0`` and ``t < h``):
      whether they relapsed by it is unknown, so they are in neither column.

    Example: times 10, 40, 20, 50 months, events 1, 1, 0, 0, h = 36 -> relapse_by 1
    (the relapse at 40 is after 36: counted as no relapse by 36), no_relapse_by 2,
    censored_before 1.
    """
    t, e = np.asarray(time_months, dtype=float), np.asarray(event, dtype=int)
    rel = (e == 1) & (t <= horizon_months)
    return {"relapse_by": int(rel.sum()),
            "no_relapse_by": int(((t >= horizon_months) & ~rel).sum()),
            "censored_before": int(((e == 0) & (t < horizon_months)).sum())}


def univariate_table(df: pd.DataFrame, variables: Sequence[str], time_col: str,
                     event_col: str, paper_table: dict | None = None,
                     horizon_months: float = 36.0, conf_type: str = "log-log",
                     ) -> pd.DataFrame:
    """Paper Table 4, univariate part: counts per level and p-values, paper beside ours.

    Exploratory screening: the p-values select the variables of the multivariable model
    and are not corrected for the number of variables tested.

    What the paper's "3-year LC" columns can mean, both shown: ``relapse`` /
    ``no_relapse`` count relapse *ever* over each patient's follow-up (the paper's counts
    add up to 94 / 86, so this is what they count); ``km_at_horizon`` (with ``km_at_horizon_lower``,
    ``km_at_horizon_upper``: Greenwood, ``conf_type``) is the Kaplan-Meier local control at
    ``horizon_months`` per level, and ``relapse_by_horizon`` / ``no_relapse_by_horizon`` count
    relapses by the horizon with ``censored_before_horizon`` (censored earlier: unknown at
    the horizon) apart (:func:`by_horizon_counts`).

    Parameters
    ----------
    df : DataFrame
        Cleaned by :func:`prepare_survival_data`; categorical ``variables``.
    paper_table : dict, optional
        :data:`analysis.paper.TABLE4` (level -> (relapse, no relapse), p); None for a
        cohort the paper did not report (e.g. Lung1): the paper columns are left empty.

    Returns
    -------
    DataFrame, one row per (variable, level): ``n``, ``relapse``, ``no_relapse``,
    ``paper_relapse``, ``paper_no_relapse``, ``km_at_horizon``, ``km_at_horizon_lower``,
    ``km_at_horizon_upper``, ``relapse_by_horizon``, ``no_relapse_by_horizon``,
    ``censored_before_horizon``,
    ``p_logrank``, ``p_chi2``, ``paper_p``, ``p_chi2_paper_counts`` (the chi-square on
    the paper's own counts), ``note``.
    P-values sit on the first level's row of each variable.
    """
    paper_table = paper_table or {}
    rows = []
    for var in variables:
        if var not in df.columns:
            rows.append({"variable": var, "level": "", "n": 0,
                         "note": "column not in the cohort table: skipped"})
            continue
        sub = df.loc[df[var].notna()]
        n_missing = int(len(df) - len(sub))
        levels = level_order(sub[var], var)
        counts = np.array([[int((sub.loc[sub[var] == lv, event_col] == 1).sum()),
                            int((sub.loc[sub[var] == lv, event_col] == 0).sum())]
                           for lv in levels]).reshape(-1, 2)
        lr = logrank(sub[time_col], sub[event_col], sub[var]) if len(sub) else \
            {"p": np.nan, "note": "no rows with a value"}
        ch = chi2_relapse(counts) if len(levels) else {"p": np.nan, "note": ""}
        pv = paper_table.get(var, {})
        p_levels = pv.get("levels", {})
        paper_counts = np.array([p_levels[lv] for lv in p_levels]).reshape(-1, 2)
        ch_paper = chi2_relapse(paper_counts) if len(p_levels) else {"p": np.nan}
        notes = [s for s in (lr["note"], ch["note"]) if s]
        if n_missing:
            notes.append(f"{n_missing} row(s) with a missing value left out")
        if pv and pv.get("p") is None:
            notes.append("paper gives no p-value")
        for k, lv in enumerate(levels):
            first = k == 0
            pr = p_levels.get(lv)
            lv_rows = sub.loc[sub[var] == lv]
            km = survival_at(lv_rows[time_col], lv_rows[event_col], horizon_months,
                             conf_type)
            by = by_horizon_counts(lv_rows[time_col], lv_rows[event_col], horizon_months)
            rows.append({
                "km_at_horizon": km["survival"], "km_at_horizon_lower": km["lower"],
                "km_at_horizon_upper": km["upper"], "relapse_by_horizon": by["relapse_by"],
                "no_relapse_by_horizon": by["no_relapse_by"],
                "censored_before_horizon": by["censored_before"], "km_note": km["note"],
                "variable": var, "level": lv, "n": int(counts[k].sum()),
                "relapse": int(counts[k, 0]), "no_relapse": int(counts[k, 1]),
                "paper_relapse": pr[0] if pr else None,
                "paper_no_relapse": pr[1] if pr else None,
                "p_logrank": lr["p"] if first else None,
                "p_chi2": ch["p"] if first else None,
                "paper_p": pv.get("p") if first else None,
                "p_chi2_paper_counts": ch_paper["p"] if first else None,
                "note": "; ".join(notes) if first else "",
            })
        for lv in p_levels:
            if lv not in levels:
                pr = p_levels[lv]
                rows.append({"variable": var, "level": lv, "n": 0, "relapse": 0,
                             "no_relapse": 0, "paper_relapse": pr[0],
                             "paper_no_relapse": pr[1],
                             "note": "level absent from this cohort"})
    cols = ["variable", "level", "n", "relapse", "no_relapse", "paper_relapse",
            "paper_no_relapse", "km_at_horizon", "km_at_horizon_lower", "km_at_horizon_upper",
            "relapse_by_horizon",
            "no_relapse_by_horizon", "censored_before_horizon", "p_logrank", "p_chi2", "paper_p",
            "p_chi2_paper_counts", "note"]
    out = pd.DataFrame(rows)
    if "km_note" in out:
        notes = out["km_note"].fillna("")
        out["note"] = ["; ".join(x for x in (a, b) if isinstance(x, str) and x)
                       for a, b in zip(out["note"].fillna(""), notes, strict=True)]
    return out.reindex(columns=cols).astype({"n": int})


def select_variables(univariate: pd.DataFrame, threshold: float) -> list[str]:
    """Variables whose univariate log-rank p is below ``threshold`` (in table order)."""
    p = univariate.dropna(subset=["p_logrank"])
    return [v for v, pv in zip(p["variable"], p["p_logrank"], strict=True) if pv < threshold]


# --------------------------------------------------------------------------------------
# Cox
# --------------------------------------------------------------------------------------
def reference_level(values: pd.Series, var: str) -> str:
    """Reference level of ``var``: :data:`REFERENCE_LEVEL` if present, else the most
    frequent level (ties: first in sorted order)."""
    present = values.dropna().unique()
    ref = REFERENCE_LEVEL.get(var)
    if ref is not None and ref in present:
        return ref
    counts = values.dropna().value_counts()
    top = counts[counts == counts.max()].index
    return sorted(top, key=str)[0]


def design_matrix(df: pd.DataFrame, variables: Sequence[str],
                  references: dict[str, str] | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-hot coding of categorical ``variables`` against a reference level.

    Numeric variables with more than two values, or coded 0/1, enter as they are (column
    name ``<var>``); every other variable is one-hot coded, columns ``"<var>[<level>]"``.

    Returns
    -------
    X : DataFrame (n, p), float
    coding : DataFrame with ``variable``, ``column``, ``level``, ``reference``, ``note``
        (a single-level variable is dropped with a note).
    """
    references = references or {}
    cols, coding = {}, []
    for var in variables:
        v = df[var]
        if v.isna().any():
            raise SurvivalInputError(f"design_matrix: {var!r} has {int(v.isna().sum())} "
                                     "missing value(s); use complete cases")
        numeric = pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
        if numeric and (v.nunique() > 2 or set(v.unique()) <= {0, 1}):
            cols[var] = v.astype(float)
            coding.append({"variable": var, "column": var, "level": "(numeric)",
                           "reference": "", "note": ""})
            continue
        levels = sorted(v.unique(), key=str)
        if len(levels) < 2:
            coding.append({"variable": var, "column": "", "level": str(levels[0]),
                           "reference": "", "note": "single level: dropped from the model"})
            continue
        ref = references.get(var) or reference_level(v, var)
        for lv in levels:
            if lv == ref:
                continue
            name = f"{var}[{lv}]"
            cols[name] = (v == lv).astype(float)
            coding.append({"variable": var, "column": name, "level": str(lv),
                           "reference": str(ref), "note": ""})
    X = pd.DataFrame(cols, index=df.index)
    return X, pd.DataFrame(coding, columns=["variable", "column", "level", "reference",
                                            "note"])



def merge_eventless_levels(df: pd.DataFrame, variables: Sequence[str], event_col: str,
                           ) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Merge each level without events into its neighbour in table order, with a note.

    A level without events makes the Cox coefficient of its dummy run to minus infinity
    (monotone likelihood). Rather than drop it, it is merged into the next level in
    Table 4's order (the previous one for the last level), named ``"a+b"``; this
    repeats until every level has an event or one level is left. The reference level
    becomes the merged level that contains it. Example: T1 (0 events), T2, T3, T4 ->
    ``"T1+T2"``, T3, T4, reference ``"T1+T2"``.

    Returns
    -------
    data : DataFrame
        A copy with the merged labels in ``variables``.
    references : dict
        Variable -> reference level (merged where needed).
    notes : list of str
        One note per merge, naming both levels and the event count.
    """
    out = df.copy()
    refs, notes = {}, []
    for var in variables:
        col = out[var].astype(object)
        levels = level_order(col, var)
        ref = REFERENCE_LEVEL.get(var)
        ref = ref if ref in levels else None
        while len(levels) > 1:
            events = {lv: int(out.loc[col == lv, event_col].sum()) for lv in levels}
            empty = [lv for lv in levels if events[lv] == 0]
            if not empty:
                break
            lv = empty[0]
            i = levels.index(lv)
            nb = levels[i + 1] if i + 1 < len(levels) else levels[i - 1]
            merged = f"{lv}+{nb}" if i + 1 < len(levels) else f"{nb}+{lv}"
            notes.append(f"{var}: level {lv} has no event ({int((col == lv).sum())} "
                         f"patients): merged with {nb} into {merged}")
            col = col.where(~col.isin([lv, nb]), merged)
            levels = [merged if x in (lv, nb) else x for x in levels]
            levels = list(dict.fromkeys(levels))
            ref = merged if ref in (lv, nb) else ref
        out[var] = col
        if ref is not None:
            refs[var] = ref
    return out, refs, notes


def cox_table(result: CoxResult, coding: pd.DataFrame) -> pd.DataFrame:
    """Table 4, multivariable part: HR (95% CI) and p per column, paper beside ours.

    The paper reports one multivariable row, tumour diameter >= 5 cm; its HR, CI and p
    (:data:`analysis.paper.COX_DIAMETER_HR` ...) are placed on that row.
    """
    t = coding.merge(result.table, on="column", how="left", suffixes=("_coding", ""))
    t["note"] = [
        "; ".join(s for s in (a, b) if isinstance(s, str) and s)
        for a, b in zip(t.get("note_coding", pd.Series("", index=t.index)).fillna(""),
                        t["note"].fillna(""), strict=True)
    ]
    t = t.drop(columns=[c for c in ("note_coding",) if c in t.columns])
    is_diam = t["column"] == "diameter_ge_5cm[>=5cm]"
    t["paper_hr"] = np.where(is_diam, paper.COX_DIAMETER_HR, np.nan)
    t["paper_hr_lower"] = np.where(is_diam, paper.COX_DIAMETER_CI[0], np.nan)
    t["paper_hr_upper"] = np.where(is_diam, paper.COX_DIAMETER_CI[1], np.nan)
    t["paper_p"] = np.where(is_diam, paper.COX_DIAMETER_P, np.nan)
    cols = ["variable", "level", "reference", "hr", "hr_lower", "hr_upper", "p", "paper_hr",
            "paper_hr_lower", "paper_hr_upper", "paper_p", "note"]
    return t.reindex(columns=cols)


# --------------------------------------------------------------------------------------
# Figure 3 numbers
# --------------------------------------------------------------------------------------
def landmark_table(df: pd.DataFrame, group_col: str, time_col: str, event_col: str,
                   horizon_months: float, conf_type: str = "log-log",
                   paper_values: dict | None = None) -> pd.DataFrame:
    """Survival at ``horizon_months`` per group (e.g. 3-year local control), paper beside.

    Returns
    -------
    DataFrame indexed by group: ``n``, ``events``, ``survival``, ``lower``, ``upper``,
    ``n_at_risk``, ``paper``, ``note``.
    """
    paper_values = paper_values or {}
    rows = []
    for lv in level_order(df[group_col], group_col):
        sub = df.loc[df[group_col] == lv]
        r = survival_at(sub[time_col], sub[event_col], horizon_months, conf_type)
        rows.append({"group": lv, "n": len(sub), "events": int(sub[event_col].sum()),
                     **{k: r[k] for k in ("survival", "lower", "upper", "n_at_risk")},
                     "paper": paper_values.get(lv), "note": r["note"]})
    return pd.DataFrame(rows).set_index("group")


# --------------------------------------------------------------------------------------
# what the notebook shows: one function per section, each returning its results
# --------------------------------------------------------------------------------------
def partition_features(store) -> pd.DataFrame | None:
    """The store's checked partition feature table (index pid), or None before 03_partition."""
    return store.partition_features() if store.has_table(PARTITION_FEATURES) else None


def outcome_table(data: pd.DataFrame, sp) -> pd.DataFrame:
    """Patients, events, median follow-up (reverse KM) and median event time, paper beside.

    Returns
    -------
    DataFrame indexed by ``quantity``: ``ours``, ``paper`` (when ``sp.show_paper``),
    ``lower``, ``upper``, ``note``.
    """
    fu = median_followup(data[sp.time_col], data[sp.event_col], conf_type="log")
    med = median_survival(data[sp.time_col], data[sp.event_col], conf_type="log")
    outcome = pd.DataFrame([
        {"quantity": "patients", "ours": len(data), "paper": paper.N_PATIENTS},
        {"quantity": "events", "ours": int(data[sp.event_col].sum()),
         "paper": paper.N_RECURRED},
        {"quantity": "no event", "ours": int((data[sp.event_col] == 0).sum()),
         "paper": paper.N_NOT_RECURRED},
        {"quantity": "median follow-up, months (reverse KM)", "ours": fu["median"],
         "lower": fu["lower"], "upper": fu["upper"], "paper": paper.MEDIAN_FOLLOWUP_MONTHS,
         "note": fu["note"]},
        {"quantity": f"median {sp.endpoint_label.lower()} time, months",
         "ours": med["median"], "lower": med["lower"], "upper": med["upper"], "paper": None,
         "note": med["note"]},
    ]).set_index("quantity")
    return outcome if sp.show_paper else outcome.drop(columns="paper")


def table4_univariate(data: pd.DataFrame, sp) -> pd.DataFrame:
    """:func:`univariate_table` for the run: with the paper's columns when
    ``sp.show_paper``, else without them and with ``event`` / ``no_event`` columns
    (another endpoint than the paper's local failure)."""
    uni = univariate_table(data, sp.variables, sp.time_col, sp.event_col,
                           paper.TABLE4 if sp.show_paper else None, sp.horizon_months,
                           sp.conf_type)
    if sp.show_paper:
        return uni
    uni = uni.drop(columns=[c for c in uni.columns if c.startswith("paper")
                            or c == "p_chi2_paper_counts"])
    return uni.rename(columns={"relapse": "event", "no_relapse": "no_event",
                               "relapse_by_horizon": "event_by_horizon",
                               "no_relapse_by_horizon": "no_event_by_horizon"})


def _drop_paper(df: pd.DataFrame, sp) -> pd.DataFrame:
    return df if sp.show_paper else df.drop(columns=[c for c in df.columns
                                                    if c.startswith("paper")])


#: what Table 4's selected model says about its own inference (issue 23)
SELECTION_CAVEAT = (
    "Selected on the same data: the variables entered this model because their "
    "univariate log-rank p was below {threshold:g} in this cohort. Its HRs, CIs and p "
    "are computed as if the model had been fixed in advance, so they are optimistic: "
    "effects that passed the screen are biased away from 1 and their CIs too narrow "
    "(in simulation, n = 180, one HR 1.3 and 12 null covariates: the selected real "
    "effect's 95% CI covered 0.855, and 41% of data sets reported a null covariate "
    "with p < 0.05). The pre-specified model below has valid inference.")
#: what the pre-specified model says about its own inference
PRESPECIFIED_NOTE = (
    "Pre-specified (params.survival.prespecified_covariates: {variables}), chosen before "
    "seeing this cohort (the paper's covariates by default), so its HRs, CIs and p are "
    "ordinary Wald inference; no variable was dropped or added on this data's p-values.")


@dataclass
class MultivariableResult:
    """A multivariable Cox model of Table 4 as the notebook shows it."""

    #: the variables of the model (selected by univariate p, or pre-specified)
    selected: list[str]
    #: rows left out for a missing value in a model variable
    n_left_out: int
    #: the fit (None when there was no variable)
    cox: CoxResult | None
    #: HR table (a ``note`` row when no model was fitted)
    table: pd.DataFrame
    #: proportional-hazards check (a ``note`` row when no model was fitted)
    ph: pd.DataFrame
    #: n, events, EPV, LR test, C-index (:func:`analysis.stats.cox.model_summary`)
    summary: pd.DataFrame
    #: fit notes and what was left out
    notes: list[str] = field(default_factory=list)
    #: how the variables were chosen and what that does to the inference
    caveat: str = ""


def multivariable_cox(data: pd.DataFrame, variables: Sequence[str], sp, caveat: str,
                      model: str) -> MultivariableResult:
    """Cox model on ``variables``: complete cases, eventless levels merged, one-hot coded.

    A level without events is merged into its neighbour with a note
    (:func:`merge_eventless_levels`); categorical variables are one-hot coded against
    :data:`REFERENCE_LEVEL`; paper columns dropped unless ``sp.show_paper``. The result
    carries the model summary (n, events, EPV, LR test, C-index), the PH tests (KM and
    rank transforms, per column and global) and ``caveat``; the table's ``model`` column
    says how the variables were chosen. A variable missing from the cohort table is left
    out with a note.
    """
    absent = [v for v in variables if v not in data.columns]
    variables = [v for v in variables if v in data.columns]
    if not variables:
        note = pd.DataFrame([{"note": "no variable for a multivariable model"
                              + (f" ({', '.join(absent)} not in the cohort table)"
                                 if absent else "")}])
        return MultivariableResult([], 0, None, note, note.copy(), note.copy(), [], caveat)
    cc = data.dropna(subset=variables)
    try:
        merged, refs, merge_notes = merge_eventless_levels(cc, variables, sp.event_col)
        X, coding = design_matrix(merged, variables, refs)
        cox = fit_cox(X, merged[sp.time_col], merged[sp.event_col])
        table = cox_table(cox, coding)
        ph, summary = ph_test_table(cox), model_summary(cox)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, KeyError) as err:
        # a small cohort (4 patients: singular, or every column dropped): said, no crash
        why = f"{type(err).__name__}: {err}"
        note = pd.DataFrame([{"note": f"the multivariable Cox model on {', '.join(variables)} "
                              f"could not be fitted on {len(cc)} complete case(s) ({why}): "
                              "no multivariable model"}])
        return MultivariableResult(list(variables), len(data) - len(cc), None, note,
                                   note.copy(), note.copy(), [str(note.iloc[0, 0])], caveat)
    notes = [f"{len(data) - len(cc)} row(s) with a missing value in a model variable "
             "left out.", *merge_notes, *cox.notes,
             *(f"{v}: not in the cohort table, left out" for v in absent)]
    for note in merge_notes:
        var = note.split(":", 1)[0]
        table.loc[table["variable"] == var, "note"] = [
            "; ".join(x for x in (old, note) if x) for old in
            table.loc[table["variable"] == var, "note"].fillna("")]
    table.insert(0, "model", model)
    return MultivariableResult(list(variables), len(data) - len(cc), cox,
                               _drop_paper(table, sp), ph, summary, notes, caveat)


def table4_multivariable(data: pd.DataFrame, univariate: pd.DataFrame, sp,
                         ) -> MultivariableResult:
    """Table 4's multivariable Cox model on the variables selected by univariate log-rank
    p (as the paper did), with :data:`SELECTION_CAVEAT`: selected on the same data, its
    p-values are optimistic (:func:`multivariable_cox`)."""
    selected = select_variables(univariate, sp.univariate_p_threshold)
    if not selected:
        note = pd.DataFrame([{"note": "no variable passed the univariate threshold: "
                                      "no multivariable model"}])
        return MultivariableResult([], 0, None, note, note.copy(), note.copy(), [])
    return multivariable_cox(data, selected, sp,
                             SELECTION_CAVEAT.format(threshold=sp.univariate_p_threshold),
                             f"selected on this data (univariate p < "
                             f"{sp.univariate_p_threshold:g}): p optimistic")


def table4_prespecified(data: pd.DataFrame, sp) -> MultivariableResult:
    """The pre-specified Cox model on ``sp.prespecified_covariates`` (the paper's
    covariates by default), fixed before the data were seen: ordinary inference is
    valid (:data:`PRESPECIFIED_NOTE`, :func:`multivariable_cox`)."""
    return multivariable_cox(data, sp.prespecified_covariates, sp, PRESPECIFIED_NOTE.format(
        variables=", ".join(sp.prespecified_covariates) or "none"), "pre-specified")


@dataclass
class Figure3Panel:
    """One Kaplan-Meier comparison of Figure 3."""

    group: str
    #: :func:`landmark_table` with ``logrank_p`` (and the paper's p when shown)
    landmarks: pd.DataFrame
    #: the Kaplan-Meier figure (analysis.survival.plots.km_figure)
    figure: object
    note: str


@dataclass
class Figure3Result:
    panels: list[Figure3Panel]
    #: groups without a figure: ``group``, ``reason``
    skipped: pd.DataFrame


def figure3(data: pd.DataFrame, sp) -> Figure3Result:
    """Kaplan-Meier curves with landmark survival and log-rank p per ``sp.km_groups``.

    The paper's values (3-year local control 86.7 % / 61.1 %, log-rank p) are placed on
    the diameter panel when ``sp.show_paper``. A group missing from the table, or with
    a single level, is listed in ``skipped`` with the reason.
    """
    panels, skipped = [], []
    for group in sp.km_groups:
        if group not in data.columns:
            skipped.append({"group": group, "reason": "not in the cohort table, no figure"})
            continue
        sub = data.loc[data[group].notna()]
        if sub[group].nunique() < 2:
            skipped.append({"group": group, "reason": "a single level, no comparison"})
            continue
        is_diam = sp.show_paper and group == "diameter_ge_5cm"
        lm = landmark_table(sub, group, sp.time_col, sp.event_col, sp.horizon_months,
                            sp.conf_type,
                            {"<5cm": paper.LC3Y_SMALL, ">=5cm": paper.LC3Y_LARGE}
                            if is_diam else None)
        lr = logrank(sub[sp.time_col], sub[sp.event_col], sub[group])
        lm["logrank_p"] = lr["p"]
        lm["paper_logrank_p"] = paper.LOGRANK_P_DIAMETER if is_diam else None
        if not sp.show_paper:
            lm = lm.drop(columns=["paper", "paper_logrank_p"])
        fig = km_figure(sub, group, sp.time_col, sp.event_col,
                        horizon_months=sp.horizon_months,
                        landmarks=lm.assign(paper=lm["paper"] if "paper" in lm else None),
                        logrank_p=lr["p"],
                        paper_p=paper.LOGRANK_P_DIAMETER if is_diam else None,
                        ylabel=sp.endpoint_label,
                        title=f"{sp.endpoint_label} by {group}")
        panels.append(Figure3Panel(group, lm, fig, lr["note"]))
    return Figure3Result(panels, pd.DataFrame(skipped, columns=["group", "reason"]))
