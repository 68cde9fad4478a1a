"""How well the paper's recurrence model generalises (07_model_eval), beyond one 80/20 split.

Paper protocol (Table 7, Figure 4): metrics of the fitted model on its training and
validation splits, here each with a percentile-bootstrap 95% CI of the *fixed*
predictions (patients resampled with replacement, the model not refitted; so the CI
reflects which patients happened to be in the split, not the variability of the fit).

Beyond the paper (SPEC "What a single 80/20 split cannot tell"):

- :func:`nested_cv`: repeated stratified K-fold of the *whole* procedure (filter, RFECV
  and grid search refitted inside every outer training fold). Reported: the mean of the
  per-fold AUCs, their SD and range (spread across folds and repeats), and a 95% CI that
  is the percentile bootstrap (patients resampled) of the pooled out-of-fold AUC averaged
  over repeats. No CV variance estimator is unbiased (Bengio & Grandvalet 2004): this CI
  ignores the variability of refitting and is best read as a lower bound on uncertainty.
- :func:`optimism_corrected_auc`: Harrell's bootstrap optimism correction. Apparent AUC
  (fit on all, scored on all) minus the mean optimism over B stratified bootstrap refits of
  the whole procedure (optimism_b = AUC of fit_b on its bootstrap sample minus AUC of
  fit_b on the original data). The interval given is apparent minus the 97.5th / 2.5th
  percentiles of optimism_b: it reflects how much the optimism varies, not the full
  sampling variability of the AUC (approximate; stated in the table). Caution: a random
  forest fits its training patients almost perfectly (apparent AUC near 1, in-bag), and
  bootstrap duplicates let it do so again on each resample, so for forests the
  correction is known to under-correct; where it disagrees with the nested CV, trust the
  nested CV (the verdict says so).
- calibration curve and Brier score, a decision curve (net benefit), computed on the
  out-of-fold risks of the nested CV (mean over repeats per patient);
- feature-selection stability: the share of outer folds in which each feature survives
  filter + RFE; permutation importance of the fitted paper model on the validation split.

Checked against planted truth: :func:`synthetic_table` plants a logistic outcome on named
features; :func:`ceiling_auc` gives the best AUC the planted model allows on a cohort
(the true risk scored against labels drawn from it, by simulation: valid without linking
patients, since only the distribution of the true risk matters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm.auto import tqdm

from analysis import labels, paper
from analysis.model import (
    ModelInputError,
    PaperModel,
    build_pipeline,
    check_features,
    check_labels,
    selected_features,
)

METRICS: tuple[str, ...] = ("accuracy", "auc", "precision", "recall", "f1")


# --------------------------------------------------------------------------------------
# Metrics and their bootstrap CIs (Table 7)
# --------------------------------------------------------------------------------------
def classification_metrics(y_true, prob, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, AUC, precision, recall, F1 of risks ``prob`` (n,) against labels (n,).

    Class predictions are ``prob >= threshold``. AUC is NaN with one class only;
    precision is NaN when nothing is predicted positive.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    pred = (p >= threshold).astype(int)
    two = len(np.unique(y)) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "precision": float(precision_score(y, pred, zero_division=np.nan)),
        "recall": float(recall_score(y, pred, zero_division=np.nan)),
        "f1": float(f1_score(y, pred, zero_division=np.nan)),
    }


def bootstrap_metrics(y_true, prob, n_boot: int, seed: int,
                      threshold: float = 0.5) -> pd.DataFrame:
    """Metrics of fixed predictions on ``n_boot`` patient resamples (with replacement).

    Returns
    -------
    DataFrame (n_boot, 5): one row per resample, NaN where a metric is undefined
    (e.g. AUC of a resample with one class).
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        rows.append(classification_metrics(y[idx], p[idx], threshold))
    return pd.DataFrame(rows, columns=list(METRICS))


def percentile_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN, NaN if none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def table7(model: PaperModel, n_boot: int, seed: int) -> pd.DataFrame:
    """Table 7: metrics on training and validation with bootstrap 95% CIs, paper beside.

    Returns
    -------
    DataFrame indexed by metric with columns train, train_lo, train_hi, paper_train,
    valid, valid_lo, valid_hi, paper_valid.
    """
    out = {}
    for split, y, p, k in (("train", model.y_train, model.prob_train, 0),
                           ("valid", model.y_test, model.prob_test, 1)):
        point = classification_metrics(y, p)
        boot = bootstrap_metrics(y, p, n_boot, seed + k)
        out[split] = pd.Series(point)
        ci = {m: percentile_ci(boot[m]) for m in METRICS}
        out[f"{split}_lo"] = pd.Series({m: ci[m][0] for m in METRICS})
        out[f"{split}_hi"] = pd.Series({m: ci[m][1] for m in METRICS})
        out[f"paper_{split}"] = pd.Series({m: paper.TABLE7[m][k] for m in METRICS})
    cols = ["train", "train_lo", "train_hi", "paper_train",
            "valid", "valid_lo", "valid_hi", "paper_valid"]
    df = pd.DataFrame(out)[cols]
    df.index.name = "metric"
    return df


def roc_band(y_true, prob, n_boot: int, seed: int, n_grid: int = 101) -> pd.DataFrame:
    """ROC curve on a common FPR grid with a percentile-bootstrap 95% band of the TPR.

    Returns
    -------
    DataFrame (n_grid, 4): fpr, tpr, tpr_lo, tpr_hi.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    grid = np.linspace(0, 1, n_grid)

    def tpr_on_grid(yy, pp):
        # the ROC staircase: at each FPR, the best TPR reached without exceeding it
        fpr, tpr, _ = roc_curve(yy, pp, drop_intermediate=False)
        pos = np.searchsorted(fpr, grid, side="right") - 1
        return np.maximum.accumulate(tpr)[pos]

    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            curves.append(tpr_on_grid(y[idx], p[idx]))
    curves = np.array(curves) if curves else np.full((1, n_grid), np.nan)
    return pd.DataFrame({"fpr": grid, "tpr": tpr_on_grid(y, p),
                         "tpr_lo": np.nanquantile(curves, 0.025, axis=0),
                         "tpr_hi": np.nanquantile(curves, 0.975, axis=0)})


# --------------------------------------------------------------------------------------
# Resampling the whole procedure
# --------------------------------------------------------------------------------------
@dataclass
class NestedCVResult:
    """Repeated nested CV of the whole procedure.

    folds : DataFrame, one row per outer fold: repeat, fold, n_train, n_test, auc, n_selected
    oof : DataFrame, one row per (repeat, patient): repeat, pid, y, prob
    selection : DataFrame (n_outer_folds_total, n_features) of bool: kept in that fold
    """

    folds: pd.DataFrame
    oof: pd.DataFrame
    selection: pd.DataFrame

    def oof_mean(self) -> pd.DataFrame:
        """Out-of-fold risk per patient, averaged over repeats: columns y, prob (index pid)."""
        g = self.oof.groupby("pid", sort=True)
        return pd.DataFrame({"y": g["y"].first().astype(int), "prob": g["prob"].mean()})


def _fit_fold(X, y, train, test, model_params, seed):
    pipe = build_pipeline(model_params, seed, n_jobs=1)
    pipe.fit(X.iloc[train], y.iloc[train])
    prob = pipe.predict_proba(X.iloc[test])[:, 1]
    return prob, selected_features(pipe)


def nested_cv(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
              progress: bool = True) -> NestedCVResult:
    """Repeated stratified K-fold (outer) around the whole paper procedure.

    Outer: ``nested_outer_folds`` folds x ``nested_repeats`` repeats
    (:class:`RepeatedStratifiedKFold`, seeded). Inside each outer training fold the
    pipeline of :func:`analysis.model.build_pipeline` runs its own ``cv_folds``-fold RFECV
    and grid search. Outer folds run in parallel (``model_params.n_jobs`` workers).
    """
    check_features(X)
    check_labels(y, model_params.nested_outer_folds, name="labels (outer folds)")
    outer_min = int(y.value_counts().min() * (1 - 1 / model_params.nested_outer_folds))
    if outer_min < model_params.cv_folds:
        raise ModelInputError(
            f"labels: the smaller class has {y.value_counts().min()} patients; an outer "
            f"training fold keeps about {outer_min}, fewer than the {model_params.cv_folds} "
            f"inner CV folds; use fewer folds")
    rskf = RepeatedStratifiedKFold(n_splits=model_params.nested_outer_folds,
                                   n_repeats=model_params.nested_repeats, random_state=seed)
    splits = list(rskf.split(X, y))
    jobs = (delayed(_fit_fold)(X, y, tr, te, model_params, seed) for tr, te in splits)
    results = Parallel(n_jobs=model_params.n_jobs, return_as="generator")(jobs)
    rows, oof, sel = [], [], []
    for k, ((tr, te), (prob, kept)) in enumerate(
            tqdm(zip(splits, results, strict=True), total=len(splits),
                 desc="nested CV", disable=not progress)):
        rep, fold = divmod(k, model_params.nested_outer_folds)
        yt = y.iloc[te].to_numpy()
        rows.append({"repeat": rep, "fold": fold, "n_train": len(tr), "n_test": len(te),
                     "auc": float(roc_auc_score(yt, prob)), "n_selected": len(kept)})
        oof.append(pd.DataFrame({"repeat": rep, "pid": X.index[te].astype(str), "y": yt,
                                 "prob": prob}))
        sel.append(np.isin(X.columns.astype(str), kept))
    selection = pd.DataFrame(np.array(sel, dtype=bool), columns=X.columns)
    selection.index.name = "outer_fold"
    return NestedCVResult(pd.DataFrame(rows), pd.concat(oof, ignore_index=True), selection)


def nested_summary(res: NestedCVResult, n_boot: int, seed: int) -> pd.DataFrame:
    """AUC of the nested CV: per-fold mean, SD, range; pooled OOF AUC with a bootstrap CI.

    Returns
    -------
    DataFrame indexed by quantity with columns value, lo, hi, note.
    """
    auc = res.folds["auc"]
    pooled = [roc_auc_score(g["y"], g["prob"]) for _, g in res.oof.groupby("repeat")]
    # bootstrap patients: resample pids, pooled AUC per repeat, average over repeats
    wide_p = res.oof.pivot(index="pid", columns="repeat", values="prob")
    yv = res.oof.groupby("pid")["y"].first().loc[wide_p.index].to_numpy()
    P = wide_p.to_numpy()
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(yv), len(yv))
        if len(np.unique(yv[idx])) == 2:
            boots.append(np.mean([roc_auc_score(yv[idx], P[idx, r])
                                  for r in range(P.shape[1])]))
    lo, hi = percentile_ci(boots)
    n = len(auc)
    rows = [
        ("mean AUC over outer folds", auc.mean(), auc.min(), auc.max(),
         f"lo/hi = min/max over {n} outer folds"),
        ("SD of AUC over outer folds", auc.std(ddof=1) if n > 1 else float("nan"),
         float("nan"), float("nan"), "spread across folds and repeats"),
        ("pooled out-of-fold AUC", float(np.mean(pooled)), lo, hi,
         f"mean over {len(pooled)} repeat(s); 95% CI: percentile bootstrap of patients "
         f"({len(boots)} resamples), ignores refit variability (too narrow)"),
        ("features kept per fold (median)", res.folds["n_selected"].median(),
         res.folds["n_selected"].min(), res.folds["n_selected"].max(), "lo/hi = min/max"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value", "lo", "hi", "note"]).set_index(
        "quantity")


def stratified_bootstrap_index(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a bootstrap sample drawn within each class (class sizes kept)."""
    parts = [rng.choice(np.flatnonzero(y == c), size=int((y == c).sum()), replace=True)
             for c in np.unique(y)]
    return np.sort(np.concatenate(parts))


def _optimism_one(X, y, idx, model_params, seed):
    Xb = X.iloc[idx].reset_index(drop=True)
    yb = y.iloc[idx].reset_index(drop=True)
    pipe = build_pipeline(model_params, seed, n_jobs=1).fit(Xb, yb)
    auc_boot = roc_auc_score(yb, pipe.predict_proba(Xb)[:, 1])
    auc_orig = roc_auc_score(y, pipe.predict_proba(X.reset_index(drop=True))[:, 1])
    return auc_boot, auc_orig


def optimism_corrected_auc(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
                           n_boot: int | None = None, progress: bool = True,
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Harrell's bootstrap optimism-corrected AUC of the whole procedure.

    apparent = AUC of the procedure fitted on all patients, scored on them;
    optimism_b = AUC(fit_b, bootstrap sample b) - AUC(fit_b, all patients);
    corrected = apparent - mean_b optimism_b. Bootstrap samples are drawn within each
    class (class sizes kept, so every inner CV fold has both classes).

    Returns
    -------
    summary : DataFrame indexed by quantity (apparent, mean optimism, corrected) with
        columns value, lo, hi, note
    per_boot : DataFrame (n_boot, 3): auc_boot, auc_orig, optimism
    """
    check_features(X)
    check_labels(y, model_params.cv_folds)
    B = model_params.n_optimism_bootstrap if n_boot is None else n_boot
    Xr, yr = X.reset_index(drop=True), y.reset_index(drop=True)
    full = build_pipeline(model_params, seed).fit(Xr, yr)
    apparent = float(roc_auc_score(yr, full.predict_proba(Xr)[:, 1]))
    rng = np.random.default_rng(seed)
    idxs = [stratified_bootstrap_index(yr.to_numpy(), rng) for _ in range(B)]
    jobs = (delayed(_optimism_one)(Xr, yr, idx, model_params, seed + 1 + b)
            for b, idx in enumerate(idxs))
    res = list(tqdm(Parallel(n_jobs=model_params.n_jobs, return_as="generator")(jobs),
                    total=B, desc="optimism bootstrap", disable=not progress))
    per = pd.DataFrame(res, columns=["auc_boot", "auc_orig"])
    per["optimism"] = per["auc_boot"] - per["auc_orig"]
    q_lo, q_hi = percentile_ci(per["optimism"])
    mean_opt = float(per["optimism"].mean())
    rows = [
        ("apparent AUC", apparent, float("nan"), float("nan"), "fit and scored on all"),
        ("mean optimism", mean_opt, q_lo, q_hi, f"lo/hi: 2.5/97.5 percentiles over B={B}"),
        ("optimism-corrected AUC", apparent - mean_opt, apparent - q_hi, apparent - q_lo,
         "approximate 95% interval: apparent minus optimism percentiles"),
    ]
    summary = pd.DataFrame(rows, columns=["quantity", "value", "lo", "hi", "note"]
                           ).set_index("quantity")
    return summary, per


# --------------------------------------------------------------------------------------
# Calibration, decision curve, stability, importance
# --------------------------------------------------------------------------------------
def brier_score(y_true, prob) -> float:
    """Brier score, mean of (prob - y)^2 over patients (0 is perfect)."""
    return float(brier_score_loss(np.asarray(y_true).astype(int), np.asarray(prob, float)))


def calibration_table(y_true, prob, n_bins: int) -> pd.DataFrame:
    """Calibration curve on quantile bins of the risk: mean predicted vs observed rate.

    Bins are delimited by the ``n_bins + 1`` quantiles of ``prob`` (ties merged), right
    edge included in the last bin.

    Returns
    -------
    DataFrame (<= n_bins, 3): mean_predicted, observed_rate, n_patients.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    df = pd.DataFrame({"b": b, "p": p, "y": y}).groupby("b")
    return pd.DataFrame({"mean_predicted": df["p"].mean(), "observed_rate": df["y"].mean(),
                         "n_patients": df["y"].size()}).reset_index(drop=True)


def calibration_summary(y_true, prob) -> pd.DataFrame:
    """Brier score of the model beside the prevalence-only reference."""
    y = np.asarray(y_true).astype(int)
    ref = brier_score(y, np.full(len(y), y.mean()))
    return pd.DataFrame({"value": [brier_score(y, prob), ref, float(np.mean(prob)),
                                   float(y.mean())]},
                        index=pd.Index(["Brier score (out-of-fold)",
                                        "Brier score, prevalence only",
                                        "mean predicted risk", "observed rate"],
                                       name="quantity"))


def net_benefit(y_true, prob, threshold: float) -> float:
    """Net benefit of treating patients with ``prob >= threshold`` (Vickers & Elkin 2006).

    .. math:: NB(t) = \\frac{TP}{n} - \\frac{FP}{n}\\,\\frac{t}{1-t}
    """
    y = np.asarray(y_true).astype(int)
    treat = np.asarray(prob, dtype=float) >= threshold
    n = len(y)
    tp = np.sum(treat & (y == 1))
    fp = np.sum(treat & (y == 0))
    return float(tp / n - fp / n * threshold / (1 - threshold))


def decision_curve(y_true, prob, thresholds) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none over ``thresholds`` in (0, 1)."""
    y = np.asarray(y_true).astype(int)
    ts = np.asarray(thresholds, dtype=float)
    if np.any((ts <= 0) | (ts >= 1)):
        raise ValueError("decision_curve: thresholds must lie in (0, 1)")
    prev = y.mean()
    return pd.DataFrame({
        "threshold": ts,
        "model": [net_benefit(y, prob, t) for t in ts],
        "treat_all": prev - (1 - prev) * ts / (1 - ts),
        "treat_none": 0.0,
    })


def threshold_grid(spec: tuple[float, float, float]) -> np.ndarray:
    """Thresholds from (start, stop, step), stop included when on the grid."""
    start, stop, step = spec
    return np.round(np.arange(start, stop + step / 2, step), 10)


def selection_frequency(selection: pd.DataFrame) -> pd.DataFrame:
    """Share of outer folds in which each feature was kept (filter + RFE), sorted.

    Returns
    -------
    DataFrame indexed by feature: number (Table 2), frequency (0-1), in_paper_table6.
    """
    freq = selection.mean(axis=0)
    df = pd.DataFrame({
        "number": [labels.feature_number(f) if f in labels.FEATURE_NAMES else None
                   for f in freq.index],
        "frequency": freq.to_numpy(),
        "in_paper_table6": [f in paper.TABLE6_FEATURES for f in freq.index],
    }, index=pd.Index(freq.index, name="feature"))
    df["number"] = df["number"].astype("Int64")
    return df.sort_values(["frequency", "number"], ascending=[False, True], kind="stable")


def planted_vs_selected(freq: pd.DataFrame, informative: list[str],
                        selected: list[str]) -> pd.DataFrame:
    """Planted informative features vs how often they were kept, and kept by the paper fit.

    Returns
    -------
    DataFrame indexed by group (planted informative / other) with columns n_features,
    mean_frequency, kept_by_paper_model.
    """
    inf = freq.index.isin(informative)
    rows = []
    for g, mask in (("planted informative", inf), ("not planted", ~inf)):
        rows.append({"group": g, "n_features": int(mask.sum()),
                     "mean_frequency": float(freq.loc[mask, "frequency"].mean())
                     if mask.any() else float("nan"),
                     "kept_by_paper_model": int(np.isin(freq.index[mask], selected).sum())})
    return pd.DataFrame(rows).set_index("group")


def permutation_table(model: PaperModel, n_repeats: int, seed: int) -> pd.DataFrame:
    """Permutation importance (AUC drop) of the selected features on the validation split.

    The forest is scored on the validation data after scaling, filter and RFE; features
    the procedure dropped have importance 0 by construction and are not listed.

    Returns
    -------
    DataFrame indexed by feature: number, importance_mean, importance_sd (AUC units).
    """
    Xt = model.pipeline[:-1].transform(model.X_test)
    if len(np.unique(model.y_test)) < 2:
        raise ModelInputError("validation split: one class only; AUC undefined")
    r = permutation_importance(model.pipeline[-1], Xt, model.y_test, scoring="roc_auc",
                               n_repeats=n_repeats, random_state=seed, n_jobs=1)
    df = pd.DataFrame({
        "number": [labels.feature_number(f) if f in labels.FEATURE_NAMES else None
                   for f in Xt.columns],
        "importance_mean": r.importances_mean, "importance_sd": r.importances_std,
    }, index=pd.Index(Xt.columns.astype(str), name="feature"))
    df["number"] = df["number"].astype("Int64")
    return df.sort_values("importance_mean", ascending=False, kind="stable")


# --------------------------------------------------------------------------------------
# Planted truth: a synthetic table and the best attainable AUC
# --------------------------------------------------------------------------------------
@dataclass
class SyntheticTable:
    """A feature table with a planted logistic outcome.

    X : DataFrame (n, p) indexed by pid; y : Series (n,) of 0/1; risk : Series (n,) true P(y=1)
    informative : planted informative feature names; duplicate : (copy, original) names
    """

    X: pd.DataFrame
    y: pd.Series
    risk: pd.Series
    informative: list[str]
    duplicate: tuple[str, str] | None


def synthetic_table(n: int, n_informative: int = 4, n_noise: int = 8, effect: float = 1.2,
                    duplicate: bool = True, seed: int = 0,
                    names: tuple[str, ...] = labels.FEATURE_NAMES) -> SyntheticTable:
    """Planted-truth table: ``logit P(y=1) = effect * sum_k z_k / sqrt(K)`` over informative z.

    Features are independent standard normals named ``names[:p]`` (Table 2 names by
    default); the first ``n_informative`` are informative, the next ``n_noise`` are noise,
    and with ``duplicate`` a last column is an exact affine copy (``2 z + 1``) of the first
    informative feature, which a correlation filter must drop (``|r| = 1``).
    """
    p = n_informative + n_noise + int(duplicate)
    if p > len(names):
        raise ValueError(f"synthetic_table: {p} features but only {len(names)} names")
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, n_informative + n_noise))
    lp = effect * Z[:, :n_informative].sum(axis=1) / np.sqrt(max(n_informative, 1))
    risk = 1 / (1 + np.exp(-lp))
    y = (rng.random(n) < risk).astype(int)
    cols = list(names[: n_informative + n_noise])
    X = pd.DataFrame(Z, columns=cols)
    dup = None
    if duplicate:
        X[names[p - 1]] = 2 * Z[:, 0] + 1
        dup = (names[p - 1], cols[0])
    pid = pd.Index([f"S{i:04d}" for i in range(n)], name="pid")
    X.index = pid
    return SyntheticTable(X, pd.Series(y, index=pid, name="recurrence"),
                          pd.Series(risk, index=pid, name="risk"),
                          cols[:n_informative], dup)


def ceiling_auc(risk, n_sim: int, seed: int) -> tuple[float, float, float]:
    """Best AUC the planted model allows on a cohort with these true risks, by simulation.

    For each of ``n_sim`` replicates, labels are drawn ``y_i ~ Bernoulli(risk_i)`` and the
    AUC of the true risk itself is computed; no model can do better in expectation.

    Returns
    -------
    (mean, 2.5th percentile, 97.5th percentile) of the simulated AUCs.
    """
    r = np.asarray(risk, dtype=float)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_sim):
        yy = (rng.random(len(r)) < r).astype(int)
        if 0 < yy.sum() < len(yy):
            aucs.append(roc_auc_score(yy, r))
    lo, hi = percentile_ci(aucs)
    return float(np.mean(aucs)), lo, hi


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def plot_roc(curves: dict[str, tuple[pd.DataFrame, float]]):
    """Figure 4: ROC curves with bootstrap 95% bands; ``curves``: label -> (roc_band, auc)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (band, auc) in curves.items():
        line, = ax.plot(band["fpr"], band["tpr"], label=f"{label} (AUC {auc:.2f})")
        ax.fill_between(band["fpr"], band["tpr_lo"], band["tpr_hi"], alpha=0.2,
                        color=line.get_color())
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(-0.01, 1), ylim=(0, 1.01),
           title="ROC (shaded: bootstrap 95% band)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))  # room for the phantom mark
    return fig


def plot_calibration(cal: pd.DataFrame, brier: float):
    """Calibration curve (out-of-fold risk) with the identity line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.plot(cal["mean_predicted"], cal["observed_rate"], "o-")
    ax.set(xlabel="mean predicted risk", ylabel="observed recurrence rate", xlim=(0, 1),
           ylim=(0, 1), title=f"Calibration (out-of-fold), Brier {brier:.3f}")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_decision_curve(dc: pd.DataFrame):
    """Net benefit vs threshold, with treat-all and treat-none references."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(dc["threshold"], dc["model"], label="model (out-of-fold)")
    ax.plot(dc["threshold"], dc["treat_all"], ls="--", label="treat all")
    ax.plot(dc["threshold"], dc["treat_none"], ls=":", color="k", label="treat none")
    lo = min(-0.05, float(dc["model"].min()) - 0.02)
    ax.set(xlabel="threshold probability", ylabel="net benefit",
           ylim=(lo, max(0.05, float(dc[["model", "treat_all"]].max().max()) + 0.05)),
           title="Decision curve")
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_selection_frequency(freq: pd.DataFrame, top: int = 30,
                             informative: list[str] | None = None):
    """Bar chart of the most often kept features (planted informative ones highlighted)."""
    import matplotlib.pyplot as plt

    f = freq.head(top)
    fig, ax = plt.subplots(figsize=(6, 0.22 * len(f) + 1))
    colors = ["tab:red" if informative and n in informative else "tab:blue" for n in f.index]
    ax.barh(range(len(f)), f["frequency"], color=colors)
    ax.set_yticks(range(len(f)), f.index, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="share of outer folds where kept", xlim=(0, 1),
           title="Feature-selection stability" + (" (red: planted)" if informative else ""))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# --------------------------------------------------------------------------------------
# Verdict
# --------------------------------------------------------------------------------------
def verdict(t7: pd.DataFrame, nested: pd.DataFrame, optimism: pd.DataFrame,
            calib: pd.DataFrame, freq: pd.DataFrame, dc: pd.DataFrame, n_valid: int,
            ceiling: tuple[float, float, float] | None = None,
            phantom: bool = True) -> str:
    """A short plain-language verdict, generated from the numbers.

    Parameters
    ----------
    t7 : output of :func:`table7`; nested : :func:`nested_summary`;
    optimism : summary of :func:`optimism_corrected_auc`; calib : :func:`calibration_summary`;
    freq : :func:`selection_frequency`; dc : :func:`decision_curve` (out-of-fold);
    n_valid : validation patients; ceiling : :func:`ceiling_auc` on the phantom, if known.
    """
    tr, va = t7.loc["auc", "train"], t7.loc["auc", "valid"]
    va_lo, va_hi = t7.loc["auc", "valid_lo"], t7.loc["auc", "valid_hi"]
    ncv = nested.loc["pooled out-of-fold AUC"]
    fold_mean = nested.loc["mean AUC over outer folds"]
    fold_sd = nested.loc["SD of AUC over outer folds", "value"]
    opt = optimism.loc["optimism-corrected AUC"]
    honest = float(ncv["value"])
    parts = []
    if phantom:
        parts.append("All numbers come from the synthetic phantom cohort, not from patients.")
    parts.append(
        f"The paper's protocol (one 80/20 split) gives a training AUC of {tr:.2f} and a "
        f"validation AUC of {va:.2f} on {n_valid} patients (bootstrap 95% CI {va_lo:.2f}-"
        f"{va_hi:.2f}; the paper reported {paper.TABLE7['auc'][0]:.2f} / "
        f"{paper.TABLE7['auc'][1]:.2f}).")
    parts.append(
        f"Refitting the whole procedure inside repeated nested cross-validation gives an "
        f"out-of-fold AUC of {honest:.2f} (95% CI {ncv['lo']:.2f}-{ncv['hi']:.2f}; per-fold "
        f"mean {fold_mean['value']:.2f}, SD {fold_sd:.2f}, range {fold_mean['lo']:.2f}-"
        f"{fold_mean['hi']:.2f}); the bootstrap optimism-corrected AUC is "
        f"{opt['value']:.2f} (approx. {opt['lo']:.2f}-{opt['hi']:.2f}).")
    gap_tr = tr - honest
    gap_va = va - honest
    if gap_va > 0.03:
        s = (f"The single split overstated the discrimination by {gap_va:.2f} AUC against "
             f"the nested estimate")
    elif gap_va < -0.03:
        s = (f"The single split understated the discrimination by {-gap_va:.2f} AUC against "
             f"the nested estimate (a lucky or unlucky split is equally possible)")
    else:
        s = "The single validation split agreed with the nested estimate within 0.03 AUC"
    s += (f"; the training-set AUC overstated it by {gap_tr:.2f}, and the validation CI is "
          f"{va_hi - va_lo:.2f} wide, so one split of {n_valid} patients cannot pin the "
          f"model's accuracy down.")
    parts.append(s)
    if opt["value"] - honest > 0.05:
        parts.append(f"The optimism-corrected AUC exceeds the nested estimate by "
                     f"{opt['value'] - honest:.2f}: for a random forest, which fits its "
                     f"training patients almost perfectly, Harrell's correction "
                     f"under-corrects; the nested estimate is the one to trust.")
    if ncv["lo"] > 0.5:
        parts.append("The data support some discrimination above chance.")
    else:
        parts.append("The data do not show discrimination clearly above chance: the CI of "
                     "the nested estimate includes 0.5.")
    if ceiling is not None:
        c = ceiling[0]
        share = (honest - 0.5) / (c - 0.5) if c > 0.5 else float("nan")
        recovered = (f"recovers {share:.0%} of" if share > 0 else "recovers none of")
        parts.append(f"The planted outcome model allows at best an AUC of about {c:.2f} "
                     f"(simulated 95% range {ceiling[1]:.2f}-{ceiling[2]:.2f}); the nested "
                     f"estimate {recovered} the discrimination above chance that the "
                     f"planted model allows.")
    b = calib.loc["Brier score (out-of-fold)", "value"]
    b0 = calib.loc["Brier score, prevalence only", "value"]
    parts.append(f"Out-of-fold Brier score {b:.3f} vs {b0:.3f} for the prevalence alone"
                 + (" (better than no model)." if b < b0 else " (no better than no model)."))
    stable = int((freq["frequency"] >= 0.8).sum())
    ever = int((freq["frequency"] > 0).sum())
    parts.append(f"Feature selection: {stable} feature(s) kept in at least 80% of the outer "
                 f"folds, {ever} kept at least once; a list of selected features from one "
                 f"fit (Table 6) should be read with that instability in mind.")
    useful = dc["model"] > np.maximum(dc["treat_all"], 0) + 1e-12
    if useful.any():
        ts = dc.loc[useful, "threshold"]
        parts.append(f"The decision curve shows net benefit over treat-all and treat-none at "
                     f"{int(useful.sum())} of {len(dc)} thresholds ({ts.min():.2f}-"
                     f"{ts.max():.2f}).")
    else:
        parts.append("The decision curve shows no threshold where the model beats both "
                     "treat-all and treat-none.")
    return " ".join(parts)


# --------------------------------------------------------------------------------------
# The phantom's planted truth
# --------------------------------------------------------------------------------------
def phantom_reference(truth: dict, label: str, horizon_months: float, n_sim: int,
                      seed: int) -> dict:
    """Planted informative features and the ceiling AUC, from the phantom's ``truth.json``.

    The ceiling is computed by simulation (:func:`ceiling_auc`) from the true risks of the
    included patients, so no patient needs to be linked to a store row (pids are keyed
    pseudonyms of the MRNs): for ``label="any"`` the true risk is
    ``p_failure_observed`` (probability of an observed local failure given the planted
    covariates, censoring integrated out, since a model does not know a patient's future
    follow-up); for ``label="horizon"`` with a 36-month horizon, ``p_failure_36m``. The
    planted model also uses clinical covariates (sex, age, smoking, diameter), so the
    ceiling bounds any model; one on partition features alone sits below it.

    Returns
    -------
    dict with informative (list of str), ceiling (mean, lo, hi) or None, risk_key (str),
    n_patients (int), note (str).
    """
    informative = list(truth.get("informative_features", []))
    if label == "any":
        key = "p_failure_observed"
    elif abs(horizon_months - 36.0) < 1e-9:
        key = "p_failure_36m"
    else:
        key = ""
    patients = truth.get("patients", {})
    risks = [p[key] for p in patients.values() if p.get("included") and key and key in p]
    if not risks:
        return {"informative": informative, "ceiling": None, "risk_key": key,
                "n_patients": 0, "note": "no true risk in truth.json for this label"}
    return {"informative": informative, "ceiling": ceiling_auc(risks, n_sim, seed),
            "risk_key": key, "n_patients": len(risks),
            "note": f"AUC of the true risk ({key}) against labels simulated from it, "
                    f"{n_sim} replicates over the {len(risks)} included patients"}


def planted_features_table(freq: pd.DataFrame, informative: list[str],
                           selected: list[str]) -> pd.DataFrame:
    """Each planted informative feature: how often kept across outer folds, kept by the fit.

    Returns
    -------
    DataFrame indexed by feature: number, frequency, rank (1 = most often kept),
    kept_by_paper_model, in_paper_table6.
    """
    rank = pd.Series(np.arange(1, len(freq) + 1), index=freq.index)
    rows = [{"feature": f,
             "number": labels.feature_number(f) if f in labels.FEATURE_NAMES else None,
             "frequency": float(freq["frequency"].get(f, np.nan)),
             "rank": int(rank[f]) if f in rank else None,
             "kept_by_paper_model": f in selected,
             "in_paper_table6": f in paper.TABLE6_FEATURES} for f in informative]
    df = pd.DataFrame(rows).set_index("feature")
    df["number"] = df["number"].astype("Int64")
    df["rank"] = df["rank"].astype("Int64")
    return df


def ceiling_table(ref: dict, nested: pd.DataFrame) -> pd.DataFrame:
    """The planted ceiling AUC (:func:`phantom_reference`) beside the nested-CV estimate."""
    c = ref["ceiling"] or (float("nan"),) * 3
    return pd.DataFrame({"ceiling_auc": [c[0]], "lo": [c[1]], "hi": [c[2]],
                         "nested_cv_auc": [nested.loc["pooled out-of-fold AUC", "value"]],
                         "method": [ref["note"]]})
