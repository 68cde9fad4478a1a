"""05_survival's competing-risk section: local failure with death as the competing event.

The estimators are in :mod:`analysis.stats.competing` (exact Aalen-Johansen, Aalen's
variance), :mod:`analysis.stats.gray` (Gray's test) and :mod:`analysis.stats.finegray`
(Fine-Gray model), the figure in :mod:`analysis.survival.plots`; this module assembles
the tables and figure for the notebook from the cohort's canonical columns
(``os_event``, ``os_time_months`` from followup.csv's Death / DeathDate;
docs/data_layout.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats import competing as cr
from analysis.stats.finegray import fine_gray
from analysis.stats.gray import gray_test
from analysis.stats.km import survival_at
from analysis.stats.survdata import SurvivalInputError
from analysis.survival.plots import cif_figure, note_figure
from analysis.survival.tables import design_matrix, level_order, merge_eventless_levels

#: the causes of the competing-risk tables, by code
CAUSE_NAMES = {cr.CAUSE_LF: "local failure", cr.CAUSE_DEATH: "death without local failure"}


@dataclass
class CompetingRisksResult:
    """Cumulative incidence of local failure (death competing) beside 1 - KM, Gray's
    test per Kaplan-Meier group and the Fine-Gray model."""

    #: per group (``all`` and each level of the first ``sp.km_groups`` variable):
    #: n, local failures, deaths without local failure, cumulative incidence of local
    #: failure and of death at the horizon (SE, 95% CI), 1 - KM of local failure (95% CI)
    table: pd.DataFrame
    #: Gray's test per ``sp.km_groups`` variable and cause (a ``note`` row without data)
    gray: pd.DataFrame
    #: Fine-Gray subdistribution HRs of local failure on the pre-specified covariates
    fine_gray: pd.DataFrame
    #: the figure (a note figure when there is no death data)
    figure: object
    note: str


def _why_not(data: pd.DataFrame, sp) -> str:
    need = ["os_event", "os_time_months", sp.time_col, sp.event_col]
    if sp.event_col == "os_event":
        return "the endpoint is overall survival: death is the event, not a competing risk"
    if any(c not in data for c in need) or data["os_event"].isna().all():
        return ("no death data (followup.csv without Death / DeathDate): no competing-risk "
                "analysis; 1 - KM treats deaths as censorings")
    return ""


def gray_table(data: pd.DataFrame, time, cause, groups) -> pd.DataFrame:
    """Gray's test of equal cumulative incidence, per grouping variable and cause.

    Returns
    -------
    DataFrame with ``group``, ``cause``, ``levels``, ``chi2``, ``df``, ``p``, ``note``;
    rows with a missing group value are left out of that variable (counted in the note).
    """
    rows = []
    for var in groups:
        if var not in data:
            rows.append({"group": var, "note": "not in the cohort table: no test"})
            continue
        ok = data[var].notna().to_numpy()
        for k, name in CAUSE_NAMES.items():
            r = gray_test(time[ok], cause[ok], data.loc[ok, var].astype(str), k)
            note = "; ".join(s for s in (r["note"], f"{int((~ok).sum())} row(s) without "
                                         f"{var} left out" if (~ok).any() else "") if s)
            rows.append({"group": var, "cause": name, "levels": ", ".join(r["levels"]),
                         "chi2": r["chi2"], "df": r["df"], "p": r["p"], "note": note})
    return pd.DataFrame(rows, columns=["group", "cause", "levels", "chi2", "df", "p", "note"])


def fine_gray_table(data: pd.DataFrame, time, cause, variables) -> pd.DataFrame:
    """Fine-Gray model of local failure (death competing) on ``variables``.

    Complete cases; the coding is the Cox model's (:func:`analysis.survival.design_matrix`,
    a level without local failures merged into its neighbour). Subdistribution HR (SHR)
    with its Wald 95% CI on Fine and Gray's sandwich SE, and p.

    Returns
    -------
    DataFrame with ``variable``, ``column``, ``level``, ``reference``, ``shr``,
    ``shr_lower``, ``shr_upper``, ``coef``, ``se``, ``p``, ``note``; one ``note`` row
    when nothing can be fitted.
    """
    present = [v for v in variables if v in data]
    ok = data[present].notna().all(axis=1).to_numpy() if present else np.ones(len(data), bool)
    sub = data.loc[ok].assign(_lf=(cause[ok] == cr.CAUSE_LF).astype(int))
    notes = [f"{v}: not in the cohort table, left out" for v in variables if v not in data]
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} row(s) with a missing covariate left out")
    if not present:
        return pd.DataFrame([{"note": "; ".join(["no covariate", *notes])}])
    merged, refs, merge_notes = merge_eventless_levels(sub, present, "_lf")
    X, coding = design_matrix(merged, present, refs)
    constant = [c for c in X.columns if X[c].nunique() < 2]
    coding.loc[coding["column"].isin(constant), "note"] = "constant column: dropped"
    X = X.drop(columns=constant)
    try:
        fit = fine_gray(X, time[ok], cause[ok], cr.CAUSE_LF)
    except (SurvivalInputError, np.linalg.LinAlgError) as err:
        return pd.DataFrame([{"note": f"Fine-Gray model not fitted: {err}"}])
    z = 1.959963984540054
    res = pd.DataFrame({"column": fit["columns"], "coef": fit["coef"], "se": fit["se"],
                        "p": fit["p"]})
    res["shr"] = np.exp(res["coef"])
    res["shr_lower"], res["shr_upper"] = (np.exp(res["coef"] - z * res["se"]),
                                          np.exp(res["coef"] + z * res["se"]))
    out = coding.merge(res, on="column", how="left")
    extra = [*merge_notes, *notes,
             *([] if fit["converged"] else ["Newton-Raphson did not converge"])]
    out["note"] = ["; ".join(s for s in (a, *extra) if s) for a in out["note"].fillna("")]
    return out[["variable", "column", "level", "reference", "shr", "shr_lower", "shr_upper",
                "coef", "se", "p", "note"]]


def competing_risks(data: pd.DataFrame, sp) -> CompetingRisksResult:
    """Local failure as cumulative incidence with death as the competing event.

    Uses the canonical ``os_event`` / ``os_time_months`` (death, from followup.csv's
    Death / DeathDate) and the local-failure columns ``sp.time_col`` / ``sp.event_col``
    (:func:`analysis.stats.competing.competing_coding`). Cumulative incidence is the
    exact Aalen-Johansen estimate with Aalen's variance and a log(-log) 95% CI
    (R ``cmprsk::cuminc``), Gray's test is run per ``sp.km_groups`` variable, the
    Fine-Gray model on ``sp.prespecified_covariates``. When the endpoint is overall
    survival, or the cohort has no death data, each table holds one ``note`` row.
    """
    why = _why_not(data, sp)
    if why:
        row = pd.DataFrame([{"note": why}])
        return CompetingRisksResult(row, row.copy(), row.copy(), note_figure(why), why)
    need = ["os_event", "os_time_months", sp.time_col, sp.event_col]
    d = data.dropna(subset=need)
    note = f"{len(data) - len(d)} row(s) without death data left out" if len(d) < len(data) \
        else ""
    time, cause = cr.competing_coding(d[sp.time_col], d[sp.event_col], d["os_time_months"],
                                      d["os_event"])
    h = sp.horizon_months
    group = sp.km_groups[0] if sp.km_groups and sp.km_groups[0] in d else None
    groups = [("all", np.ones(len(d), dtype=bool))]
    if group is not None:
        groups += [(f"{group}={lv}", (d[group] == lv).to_numpy())
                   for lv in level_order(d[group], group)]
    rows, curves = [], {}
    for name, m in groups:
        lf = cr.cumulative_incidence(time[m], cause[m], cr.CAUSE_LF)
        dth = cr.cumulative_incidence(time[m], cause[m], cr.CAUSE_DEATH)
        a, b = cr.cif_at(lf, h), cr.cif_at(dth, h)
        km = survival_at(d[sp.time_col].to_numpy()[m], d[sp.event_col].to_numpy()[m], h,
                         sp.conf_type)
        notes = "; ".join(dict.fromkeys(s for s in (km["note"], a["note"], b["note"]) if s))
        rows.append({"group": name, "n": int(m.sum()),
                     "local_failures": int((cause[m] == cr.CAUSE_LF).sum()),
                     "deaths_without_lf": int((cause[m] == cr.CAUSE_DEATH).sum()),
                     "cif_lf": a["cif"], "cif_lf_se": a["se"], "cif_lf_lower": a["lower"],
                     "cif_lf_upper": a["upper"],
                     "one_minus_km_lf": 1 - km["survival"], "one_minus_km_lower": 1 - km["upper"],
                     "one_minus_km_upper": 1 - km["lower"],
                     "cif_death_without_lf": b["cif"], "cif_death_se": b["se"],
                     "cif_death_lower": b["lower"], "cif_death_upper": b["upper"],
                     "note": notes})
        curves[name] = (lf, dth, m)
    fig = cif_figure(curves, d[sp.time_col].to_numpy(), d[sp.event_col].to_numpy(), h,
                     sp.endpoint_label)
    return CompetingRisksResult(pd.DataFrame(rows).set_index("group"),
                                gray_table(d, time, cause, sp.km_groups),
                                fine_gray_table(d, time, cause, sp.prespecified_covariates),
                                fig, note)
