"""Does the model change when AI stations replace reference stations? And the verdict.
(issue 25, items 4-5)

:func:`model_comparison` runs the paper's procedure (06: the 80/20 split and the fitted
pipeline, :func:`analysis.model.fit_paper_model`) and its nested-CV estimate (07:
:func:`analysis.model.evaluate.nested_cv`) on the reference-map and on the AI-map features of
the same patients, with the same seed: the same 80/20 split and the same outer and inner
folds (they depend on the labels and the seed only). It reports the two selected feature
sets and their Jaccard overlap, each map's pooled out-of-fold AUC and the paired
bootstrap CI of the difference (the same patients drawn for both maps), and, when the
planted features are given (the phantom), how many of them each map's model recovers.

:func:`agreement_verdict` turns the three comparisons (the 110 parameters, the recurrence
map, the model) into "AI stations reproduce the reference analysis" or "they do not", by
the rule in ``params.agreement`` (each criterion, its number and its threshold shown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analysis.model.evaluate import NestedCVResult, nested_cv
from analysis.model.features import selection_frequency
from analysis.model.fit import ModelInputError, PaperModel, fit_paper_model, make_labels
from analysis.partition.agreement import (
    AI_FEATURES_TABLE,
    FEATURE_ICC_TABLE,
    REF_FEATURES_TABLE,
)
from analysis.recurrence.agreement import SITES_TABLE
from analysis.stats.agreement import cohen_kappa

REPRODUCED = "AI stations reproduce the reference analysis"
NOT_REPRODUCED = "AI stations do not reproduce the reference analysis"


def jaccard(a, b) -> float:
    """|A ∩ B| / |A ∪ B| of two sets (1 for two empty sets)."""
    a, b = set(a), set(b)
    return 1.0 if not (a | b) else len(a & b) / len(a | b)


def pooled_auc(oof: pd.DataFrame, pids=None) -> float:
    """Pooled out-of-fold AUC, mean over repeats (as :func:`nested_summary` pools it);
    ``pids``: a resample of patients (repeats allowed)."""
    wide = oof.pivot(index="pid", columns="repeat", values="prob")
    y = oof.groupby("pid")["y"].first().loc[wide.index]
    if pids is not None:
        wide, y = wide.loc[pids], y.loc[pids]
    return float(np.mean([roc_auc_score(y, wide[r]) for r in wide.columns]))


def paired_auc_difference(oof_ref: pd.DataFrame, oof_ai: pd.DataFrame, n_boot: int,
                          seed: int, confidence: float = 0.95) -> dict:
    """AUC (AI) - AUC (reference) of two nested CVs on the same patients, with a paired
    percentile-bootstrap CI: each replicate draws patients with replacement and scores
    both maps' out-of-fold risks on the same draw (replicates with one class skipped).
    Like 07's pooled CI it ignores refit variability."""
    a_ref, a_ai = pooled_auc(oof_ref), pooled_auc(oof_ai)
    pids = np.array(sorted(set(oof_ref["pid"])))
    if set(pids) != set(oof_ai["pid"]):
        raise ValueError("paired_auc_difference: the two nested CVs scored different "
                         "patients")
    y = oof_ref.groupby("pid")["y"].first().loc[pids].to_numpy()
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(pids), len(pids))
        if len(np.unique(y[idx])) == 2:
            draw = pids[idx]
            diffs.append(pooled_auc(oof_ai, draw) - pooled_auc(oof_ref, draw))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(diffs, [alpha, 1 - alpha]) if diffs else (np.nan, np.nan)
    return {"auc_ref": a_ref, "auc_ai": a_ai, "difference": a_ai - a_ref,
            "diff_lower": float(lo), "diff_upper": float(hi), "n_boot": len(diffs)}


@dataclass
class ModelComparison:
    """Result of :func:`model_comparison`."""

    fit_ref: PaperModel
    fit_ai: PaperModel
    nested_ref: NestedCVResult
    nested_ai: NestedCVResult
    auc: dict
    informative: list[str] | None = None

    @property
    def jaccard(self) -> float:
        return jaccard(self.fit_ref.selected, self.fit_ai.selected)

    def features_table(self) -> pd.DataFrame:
        """Every feature either map's model kept: kept by each fit (06's procedure), its
        selection frequency across each nested CV's outer folds, planted (phantom)."""
        f_ref = selection_frequency(self.nested_ref.selection)["frequency"]
        f_ai = selection_frequency(self.nested_ai.selection)["frequency"]
        names = sorted(set(self.fit_ref.selected) | set(self.fit_ai.selected)
                       | set(f_ref.index[f_ref > 0]) | set(f_ai.index[f_ai > 0]),
                       key=list(self.fit_ref.X_train.columns).index)
        out = pd.DataFrame({"kept_ref": [n in self.fit_ref.selected for n in names],
                            "kept_ai": [n in self.fit_ai.selected for n in names],
                            "frequency_ref": f_ref.reindex(names).fillna(0).to_numpy(),
                            "frequency_ai": f_ai.reindex(names).fillna(0).to_numpy()},
                           index=pd.Index(names, name="feature"))
        if self.informative is not None:
            out["planted"] = out.index.isin(self.informative)
        return out

    def summary_table(self) -> pd.DataFrame:
        """Reference vs AI: features kept, Jaccard, nested-CV AUC and the paired CI of the
        difference; on the phantom the planted features each recovers."""
        a = self.auc
        rows = [
            ("features kept by the paper procedure (06)", len(self.fit_ref.selected),
             len(self.fit_ai.selected), np.nan, np.nan, np.nan, ""),
            ("Jaccard overlap of the kept sets", np.nan, np.nan, self.jaccard, np.nan, np.nan,
             "|ref ∩ AI| / |ref ∪ AI|"),
            ("nested-CV pooled out-of-fold AUC (07)", a["auc_ref"], a["auc_ai"],
             a["difference"], a["diff_lower"], a["diff_upper"],
             f"difference AI - reference; paired percentile bootstrap of patients "
             f"({a['n_boot']} resamples), same splits and seed; ignores refit "
             f"variability (too narrow)"),
        ]
        if self.informative is not None:
            inf = set(self.informative)
            f_ref = selection_frequency(self.nested_ref.selection)["frequency"]
            f_ai = selection_frequency(self.nested_ai.selection)["frequency"]
            k_ref = len(inf & set(self.fit_ref.selected))
            k_ai = len(inf & set(self.fit_ai.selected))
            rows += [
                (f"planted features kept by the fit (of {len(inf)})", k_ref, k_ai,
                 k_ai - k_ref, np.nan, np.nan, "phantom: synthetic"),
                ("planted features: mean selection frequency over outer folds",
                 float(f_ref.reindex(sorted(inf)).fillna(0).mean()),
                 float(f_ai.reindex(sorted(inf)).fillna(0).mean()), np.nan, np.nan, np.nan,
                 "phantom: synthetic")]
        cols = ["quantity", "reference", "ai", "difference", "diff_lower", "diff_upper",
                "note"]
        return pd.DataFrame(rows, columns=cols).set_index("quantity")


def model_comparison(X_ref: pd.DataFrame, X_ai: pd.DataFrame, y: pd.Series, model_params,
                     seed: int, *, n_boot: int = 500, informative: list[str] | None = None,
                     progress: bool = False) -> ModelComparison:
    """06's fit and 07's nested CV on each feature table, same patients, splits and seed.

    Parameters
    ----------
    X_ref, X_ai : DataFrame (n_patients, n_features), indexed by pid
        The same patients (any order) and columns.
    y : Series of 0/1 indexed by pid (the same patients)
    model_params : analysis.params.ModelParams; seed : int
    n_boot : paired bootstrap replicates of the AUC difference
    informative : the planted informative features (phantom), or None
    """
    if set(X_ref.index) != set(X_ai.index) or list(X_ref.columns) != list(X_ai.columns):
        raise ModelInputError("model_comparison: the reference and AI feature tables "
                              "must hold the same patients and features")
    order = sorted(set(X_ref.index) & set(y.index))
    Xr, Xa, yy = X_ref.loc[order], X_ai.loc[order], y.loc[order]
    fit_ref = fit_paper_model(Xr, yy, model_params, seed)
    fit_ai = fit_paper_model(Xa, yy, model_params, seed)
    nest_ref = nested_cv(Xr, yy, model_params, seed, progress=progress)
    nest_ai = nested_cv(Xa, yy, model_params, seed, progress=progress)
    auc = paired_auc_difference(nest_ref.oof, nest_ai.oof, n_boot, seed)
    return ModelComparison(fit_ref, fit_ai, nest_ref, nest_ai, auc, informative)


def comparison_for_store(store, params, informative: list[str] | None = None
                         ) -> ModelComparison | None:
    """:func:`model_comparison` on the feature tables 03_partition saved for the
    agreement (store tables ``agreement_features_ref`` / ``_ai``) and the run's labels;
    None when 03 saved none (no patient had both maps). The 110 parameters only, even
    with ``model.include_clinical``: clinical variables are the same on both maps."""
    if not (store.has_table(REF_FEATURES_TABLE) and store.has_table(AI_FEATURES_TABLE)):
        return None
    X_ref = _pid_index(store.read_table(REF_FEATURES_TABLE))
    X_ai = _pid_index(store.read_table(AI_FEATURES_TABLE))
    if X_ref.empty or X_ai.empty:
        return None
    mp = params.model
    y, _ = make_labels(store.cohort(), mp.label, mp.horizon_months)
    return model_comparison(X_ref, X_ai, y, mp, params.seed,
                            n_boot=params.agreement.n_boot, informative=informative)


def _pid_index(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("pid") if "pid" in df.columns else df


# --------------------------------------------------------------------------------------
# the verdict
# --------------------------------------------------------------------------------------
def agreement_verdict(feature_icc: pd.DataFrame | None, site_kappa: float | None,
                      model: ModelComparison | None, agreement_params,
                      phantom: bool) -> pd.DataFrame:
    """The verdict of issue 25 and the numbers behind it, by the rule in ``params.agreement``.

    AI stations reproduce the reference analysis when every criterion that could be
    measured holds:

    1. parameters: the share of the 110 with a defined ICC whose AI-vs-reference
       ICC(A,1) >= ``icc_good`` is >= ``min_share_good``;
    2. recurrence map: Cohen's kappa of the sites' stations >= ``min_site_kappa``;
    3. model: |nested-CV AUC (AI) - AUC (reference)| <= ``max_auc_difference`` (with
       ``auc_equivalence``: its whole paired 95% CI within +-``max_auc_difference``).

    Shown beside them, not judged: the share of parameters where the AI's ICC reaches
    the second observers' lower 95% bound (when the table holds ``ai_within_observer``),
    and the Jaccard overlap of the kept features: RFE's kept set varies
    between refits on the same features (07's selection stability), so a low overlap
    alone does not say the maps differ.

    A criterion that could not be measured (no patient with both maps, no recurrence
    site) is shown as such and does not count; with none measured there is no verdict.

    Returns
    -------
    DataFrame with columns ``criterion``, ``value``, ``rule``, ``holds``, ``verdict``
    (the verdict repeated on every row, prefixed "Synthetic phantom:" on the phantom).
    """
    ap = agreement_params
    rows = []
    if feature_icc is not None and feature_icc["icc"].notna().any():
        icc = feature_icc["icc"].dropna()
        share = float((icc >= ap.icc_good).mean())
        rows.append(("110 parameters: share with ICC(A,1) >= "
                     f"{ap.icc_good:g} (of {len(icc)} with a defined ICC)", share,
                     f">= {ap.min_share_good:g}", share >= ap.min_share_good))
    else:
        rows.append(("110 parameters", np.nan, "not measured", None))
    shown = []
    if feature_icc is not None and "ai_within_observer" in feature_icc:
        hit = feature_icc["ai_within_observer"].dropna()
        if len(hit):
            shown.append((f"110 parameters: share where the AI's ICC reaches the second "
                          f"observers' lower 95% bound (of {len(hit)})",
                          float(hit.astype(float).mean()), "shown, not judged", "shown"))
    if site_kappa is not None and np.isfinite(site_kappa):
        rows.append(("recurrence sites: Cohen's kappa over stations", float(site_kappa),
                     f">= {ap.min_site_kappa:g}", site_kappa >= ap.min_site_kappa))
    else:
        rows.append(("recurrence sites", np.nan, "not measured", None))
    if model is not None:
        d, lo, hi = (model.auc[k] for k in ("difference", "diff_lower", "diff_upper"))
        m = ap.max_auc_difference
        holds = (-m <= lo and hi <= m) if ap.auc_equivalence else abs(d) <= m
        rule = (f"95% CI within +-{m:g}" if ap.auc_equivalence
                else f"|difference| <= {m:g}")
        rows.append((f"model: nested-CV AUC, AI - reference (95% CI {lo:.3f} to "
                     f"{hi:.3f}); Jaccard of kept features {model.jaccard:.2f}", float(d),
                     rule, bool(holds)))
    else:
        rows.append(("model", np.nan, "not measured", None))
    measured = [r[3] for r in rows if r[3] is not None]
    rows = rows[:1] + shown + rows[1:]
    text = ("not decided: nothing could be compared" if not measured
            else REPRODUCED if all(measured) else NOT_REPRODUCED)
    if phantom:
        text = f"Synthetic phantom: {text}"
    out = pd.DataFrame(rows, columns=["criterion", "value", "rule", "holds"])
    out["holds"] = out["holds"].map({True: "yes", False: "no", None: "not measured",
                                     "shown": "not judged"})
    out["verdict"] = text
    return out


def verdict_for_store(store, params, model: ModelComparison | None) -> pd.DataFrame:
    """:func:`agreement_verdict` from what 03 and 04 saved in the store (the per-parameter
    ICCs, both assignments of every site) and ``model`` (:func:`comparison_for_store`)."""
    icc = (store.read_table(FEATURE_ICC_TABLE) if store.has_table(FEATURE_ICC_TABLE)
           else None)
    icc = icc if icc is not None and len(icc) else None
    kappa = None
    if store.has_table(SITES_TABLE):
        sites = store.read_table(SITES_TABLE)
        kappa = (cohen_kappa(sites["station_ref"].astype(str), sites["station_ai"].astype(str))
                 if len(sites) else None)
    return agreement_verdict(icc, kappa, model, params.agreement, params.is_phantom)
