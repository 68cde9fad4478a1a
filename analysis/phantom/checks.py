"""Checks against the phantom's planted truth: the diameter HR and its CI coverage.

The phantom's outcome model (:mod:`analysis.phantom.outcomes`, ``truth.json``) is a Cox
model with known covariates. A Cox fit on exactly those covariates should recover the
planted HR; the coverage simulation draws replicate clinical / outcome tables from the
same model (no images) and counts how often the Wald 95% CI covers the planted HR.
The analysis (``analysis.survival``) never imports this module; the notebook calls it
on the phantom only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.phantom.clinical import sample_clinical as _sample_clinical
from analysis.phantom.outcomes import clinical_design
from analysis.phantom.outcomes import sample_outcomes as _sample_outcomes
from analysis.stats.cox import SEPARATION_COEF, cox_newton, fit_cox
from analysis.stats.intervals import wilson_interval
from analysis.survival.plots import coverage_figure, note_figure

_Z95 = stats.norm.ppf(0.975)
PLANTED_DIAMETER = "diameter_ge_5cm"


def planted_covariates(truth: dict) -> tuple[list[str], float]:
    """Covariates of the phantom's planted outcome model and its planted diameter HR.

    Read from ``truth["model"]`` (analysis.phantom.load_truth): the covariate names are
    the keys of ``coefficients``; the HR is ``hazard_ratios["diameter_ge_5cm"]``.

    The Cox model that checks the planted HR must hold exactly these covariates: the
    planted HR is a *conditional* HR, and leaving out (or adding) prognostic covariates
    changes what a Cox fit estimates (the HR is not collapsible).
    """
    try:
        model = truth["model"]
        covs = list(model["coefficients"])
        hr = float(model["hazard_ratios"][PLANTED_DIAMETER])
    except (KeyError, TypeError) as err:
        raise KeyError(f"truth: no planted outcome model with a {PLANTED_DIAMETER} hazard "
                       f"ratio (truth['model']['hazard_ratios']): {err}") from None
    return covs, hr


def planted_design(table: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """The planted model's covariates for the rows of ``table``, named as in ``truth``.

    Clinical covariates come from the phantom's own coding
    (``analysis.phantom.outcomes.clinical_design``: ``diameter_ge_5cm``, ``sex_male``,
    ``age_ge_60``, ``smoking_gt_400``, 0/1); the others (partition features) must be
    columns of ``table``.

    Returns
    -------
    DataFrame (n, k), float, columns in the order of ``truth["model"]["coefficients"]``.
    """
    covs, _ = planted_covariates(truth)
    design = clinical_design(table)
    missing = [c for c in covs if c not in design and c not in table]
    if missing:
        raise KeyError(f"planted_design: table lacks the planted covariate(s) "
                       f"{', '.join(missing)}")
    for c in covs:
        if c not in design:
            design[c] = table[c].to_numpy(dtype=float)
    return design[covs].astype(float)


def planted_hr_check(table: pd.DataFrame, truth: dict, time_col: str = "lc_time_months",
                     event_col: str = "lc_event") -> pd.DataFrame:
    """Cox fit on the planted covariates; the diameter HR beside the planted one.

    Returns
    -------
    DataFrame, one row per planted covariate: ``hr``, ``hr_lower``, ``hr_upper``, ``p``,
    ``planted_hr``, ``covered`` (planted HR inside our 95% CI), ``note``.
    """
    covs, _ = planted_covariates(truth)
    X = planted_design(table, truth)
    res = fit_cox(X, table[time_col], table[event_col])
    t = res.table.set_index("column").reindex(covs)
    t["planted_hr"] = [float(truth["model"]["hazard_ratios"][c]) for c in covs]
    t["covered"] = (t["hr_lower"] <= t["planted_hr"]) & (t["planted_hr"] <= t["hr_upper"])
    t.index.name = "covariate"
    return t[["hr", "hr_lower", "hr_upper", "p", "planted_hr", "covered", "note"]]



def coverage_simulation(truth: dict, n: int, replicates: int, rng: np.random.Generator,
                        sample_clinical: Callable | None = None,
                        sample_outcomes: Callable | None = None,
                        progress: bool = False,
                        fit_covariates: Sequence[str] | None = None,
                        ) -> tuple[pd.DataFrame, dict]:
    """Coverage of the planted diameter HR by the Cox 95% CI over replicate cohorts.

    Each replicate draws ``n`` clinical rows (``sample_clinical``), gives each row the
    partition features of a random patient of ``truth["partition_feature_pool"]`` (the
    generated cohort's values), draws outcomes from the planted model
    (``sample_outcomes``), fits a Cox model on exactly the planted covariates
    (:func:`planted_design`; fitted by :func:`cox_newton`, Wald 95% CI as lifelines)
    and records whether the 95% CI of the diameter HR covers the planted HR. No images
    are needed. A replicate whose fit fails is listed (``note``) and left out of the
    coverage, and ``n_failed`` counts it.

    Besides coverage, the summary compares the mean Wald standard error of the diameter
    log HR with the empirical SD of the estimates over replicates (``se_sd_ratio``, 1
    when the SEs are right) and gives the mean bias of the log HR.

    Parameters
    ----------
    fit_covariates : sequence of str, optional
        Covariates of the fitted model (default: every planted covariate, the right
        model). A subset fits a misspecified model on purpose: leaving out prognostic
        covariates attenuates the conditional HR (it is not collapsible).

    Returns
    -------
    per_replicate : DataFrame with ``hr``, ``hr_lower``, ``hr_upper``, ``log_hr``,
        ``se_log_hr``, ``covered``, ``n_events``, ``note``
    summary : dict with ``planted_hr``, ``covariates`` (fitted), ``n``, ``replicates``,
        ``n_failed``, ``coverage``, ``coverage_lower``, ``coverage_upper`` (Wilson 95%),
        ``median_hr``, ``mean_log_hr_bias``, ``mean_se_log_hr``, ``sd_log_hr``,
        ``se_sd_ratio``
    """
    sample_clinical = sample_clinical or _sample_clinical
    sample_outcomes = sample_outcomes or _sample_outcomes
    if n < 2 or replicates < 1:
        raise ValueError(f"n must be >= 2 and replicates >= 1, got n={n}, "
                         f"replicates={replicates}")
    covs, hr_true = planted_covariates(truth)
    fit_covs = list(fit_covariates) if fit_covariates is not None else covs
    if PLANTED_DIAMETER not in fit_covs or not set(fit_covs) <= set(covs):
        raise ValueError(f"fit_covariates must include {PLANTED_DIAMETER} and be planted "
                         f"covariates ({', '.join(covs)}), got {fit_covs}")
    j = fit_covs.index(PLANTED_DIAMETER)
    pool = pd.DataFrame(truth.get("partition_feature_pool", {}))
    rows = []
    from tqdm.auto import tqdm

    for _ in tqdm(range(replicates), desc="coverage replicates", leave=False,
                  disable=not progress):
        clin = sample_clinical(n, rng).reset_index(drop=True)
        extra = [c for c in covs if c in pool.columns and c not in clin.columns]
        if extra:
            pick = rng.integers(len(pool), size=n)
            for c in extra:
                clin[c] = pool[c].to_numpy(dtype=float)[pick]
        out = sample_outcomes(clin, truth, rng)
        X = planted_design(clin, truth)[fit_covs]
        n_events = int(out["lc_event"].sum())
        fit = cox_newton(X, out["lc_time_months"], out["lc_event"]) if n_events else \
            {"converged": False}
        if fit["converged"] and np.isfinite(fit["se"][j]) \
                and abs(fit["coef"][j]) < SEPARATION_COEF:
            b, se = fit["coef"][j], fit["se"][j]
            lo, hi = np.exp(b - _Z95 * se), np.exp(b + _Z95 * se)
            rows.append({"hr": float(np.exp(b)), "hr_lower": float(lo), "hr_upper": float(hi),
                         "log_hr": float(b), "se_log_hr": float(se),
                         "covered": bool(lo <= hr_true <= hi), "n_events": n_events,
                         "note": ""})
        else:
            rows.append({"hr": np.nan, "hr_lower": np.nan, "hr_upper": np.nan,
                         "log_hr": np.nan, "se_log_hr": np.nan,
                         "covered": False, "n_events": n_events,
                         "note": "fit failed: no convergence or separation (not counted)"})
    per = pd.DataFrame(rows)
    ok = per["hr"].notna()
    k, m = int(per.loc[ok, "covered"].sum()), int(ok.sum())
    lo, hi = wilson_interval(k, m) if m else (np.nan, np.nan)
    mean_se = float(per.loc[ok, "se_log_hr"].mean()) if m else np.nan
    sd = float(per.loc[ok, "log_hr"].std(ddof=1)) if m > 1 else np.nan
    summary = {"planted_hr": hr_true, "covariates": fit_covs, "n": n, "replicates": replicates,
               "n_failed": int((~ok).sum()), "coverage": k / m if m else np.nan,
               "coverage_lower": lo, "coverage_upper": hi,
               "median_hr": float(per.loc[ok, "hr"].median()) if m else np.nan,
               "mean_log_hr_bias": float(np.log(per.loc[ok, "hr"]).mean() - np.log(hr_true))
               if m else np.nan,
               "mean_se_log_hr": mean_se, "sd_log_hr": sd,
               "se_sd_ratio": mean_se / sd if m > 1 and sd > 0 else np.nan}
    return per, summary


@dataclass
class PlantedTruthReport:
    """What the notebook shows of the planted truth (every field is always set).

    ``hr_check`` and ``coverage`` hold a single ``note`` row when the check could not run
    (no truth.json, no partition features); ``figure`` then shows that note.
    """

    #: :func:`planted_hr_check` on the analysed cohort (index: covariate)
    hr_check: pd.DataFrame
    #: one row: the coverage summary of :func:`coverage_simulation`
    coverage: pd.DataFrame
    #: the replicate CIs (empty when not run)
    per_replicate: pd.DataFrame
    #: the zip plot (:func:`analysis.survival.plots.coverage_figure`) or a note
    figure: object
    #: replicate cohort size
    n_replicate: int
    #: why a part did not run ("" when everything ran)
    notes: list[str]


def planted_truth_report(params, data: pd.DataFrame, partition_features: pd.DataFrame | None,
                         progress: bool = True) -> PlantedTruthReport:
    """The planted-HR check on the analysed cohort and the coverage simulation.

    Parameters
    ----------
    params : analysis.params.Params
        The run's parameters (phantom cohort): truth.json is read with
        :func:`analysis.phantom.load_truth`; seeds from ``params.seed``.
    data : DataFrame
        The analysed cohort (index pid) with the survival time and event columns.
    partition_features : DataFrame or None
        The store's partition features (index pid); None when 03_partition has not run.

    Returns
    -------
    PlantedTruthReport
    """
    from analysis.phantom.export import load_truth

    sp = params.survival
    n_rep = sp.coverage_n or params.phantom.n_included
    try:
        truth = load_truth(params)
    except FileNotFoundError as err:
        note = f"no planted truth ({err}): planted-truth checks skipped"
        frame = pd.DataFrame([{"note": note}])
        return PlantedTruthReport(frame, frame, pd.DataFrame(), note_figure(note), n_rep,
                                  [note])
    notes = []
    if partition_features is None:
        note = "no partition features in the store (run 03_partition): planted-HR check skipped"
        check = pd.DataFrame([{"note": note}])
        notes.append(note)
    else:
        table = data.join(partition_features, how="left")
        check = planted_hr_check(table, truth, sp.time_col, sp.event_col)
    per, summary = coverage_simulation(truth, n_rep, sp.coverage_replicates,
                                       np.random.default_rng(params.seed), progress=progress)
    cov = pd.DataFrame([{k: v for k, v in summary.items() if k != "covariates"}])
    cov["covariates"] = ", ".join(summary["covariates"])
    return PlantedTruthReport(check, cov, per, coverage_figure(per, summary["planted_hr"]),
                              n_rep, notes)
