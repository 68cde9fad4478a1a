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

Elsewhere: calibration and decision curves in :mod:`analysis.model_calibration`,
feature-selection stability and permutation importance in :mod:`analysis.model_features`,
figures in :mod:`analysis.model_plots`, the verdict in :mod:`analysis.model_verdict`; the
planted-truth checks (synthetic tables, ceiling AUC) in :mod:`analysis.phantom.model_checks`.

Summaries are typed (:class:`Estimate`, :class:`NestedSummary`, :class:`OptimismSummary`,
:class:`SplitAUC`); their ``table()`` builds the display table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm.auto import tqdm

from analysis import paper
from analysis.model import (
    ModelInputError,
    PaperModel,
    build_pipeline,
    check_features,
    check_labels,
    selected_features,
)

_NAN = float("nan")


@dataclass(frozen=True)
class Estimate:
    """A number with an interval and a note saying what the interval is (AUC units)."""

    value: float
    lo: float = _NAN
    hi: float = _NAN
    note: str = ""


def _estimates_table(rows: list[tuple[str, Estimate]]) -> pd.DataFrame:
    """Display table indexed by quantity with columns value, lo, hi, note."""
    return pd.DataFrame([(q, e.value, e.lo, e.hi, e.note) for q, e in rows],
                        columns=["quantity", "value", "lo", "hi", "note"]
                        ).set_index("quantity")

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


@dataclass(frozen=True)
class SplitAUC:
    """AUC of the paper model on its training and validation splits (from :func:`table7`)."""

    train: float
    valid: float
    valid_lo: float
    valid_hi: float

    @classmethod
    def from_table7(cls, t7: pd.DataFrame) -> SplitAUC:
        """Read the ``auc`` metric of a :func:`table7` frame."""
        a = t7.loc["auc"]
        return cls(float(a["train"]), float(a["valid"]), float(a["valid_lo"]),
                   float(a["valid_hi"]))


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


@dataclass(frozen=True)
class NestedSummary:
    """AUC of the nested CV (:func:`nested_summary`).

    fold_mean : mean of the per-fold AUCs, lo/hi = min/max over the outer folds
    fold_sd : SD of the per-fold AUCs (NaN with one fold)
    pooled : pooled out-of-fold AUC (mean over repeats), bootstrap CI of patients
    n_selected : median features kept per fold, lo/hi = min/max
    """

    fold_mean: Estimate
    fold_sd: Estimate
    pooled: Estimate
    n_selected: Estimate

    def table(self) -> pd.DataFrame:
        """Display table indexed by quantity with columns value, lo, hi, note."""
        return _estimates_table([
            ("mean AUC over outer folds", self.fold_mean),
            ("SD of AUC over outer folds", self.fold_sd),
            ("pooled out-of-fold AUC", self.pooled),
            ("features kept per fold (median)", self.n_selected),
        ])


def nested_summary(res: NestedCVResult, n_boot: int, seed: int) -> NestedSummary:
    """AUC of the nested CV: per-fold mean, SD, range; pooled OOF AUC with a bootstrap CI."""
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
    nsel = res.folds["n_selected"]
    return NestedSummary(
        fold_mean=Estimate(auc.mean(), auc.min(), auc.max(),
                           f"lo/hi = min/max over {n} outer folds"),
        fold_sd=Estimate(auc.std(ddof=1) if n > 1 else _NAN, _NAN, _NAN,
                         "spread across folds and repeats"),
        pooled=Estimate(float(np.mean(pooled)), lo, hi,
                        f"mean over {len(pooled)} repeat(s); 95% CI: percentile bootstrap of "
                        f"patients ({len(boots)} resamples), ignores refit variability "
                        f"(too narrow)"),
        n_selected=Estimate(nsel.median(), nsel.min(), nsel.max(), "lo/hi = min/max"),
    )


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


@dataclass(frozen=True)
class OptimismSummary:
    """Harrell's optimism-corrected AUC (:func:`optimism_corrected_auc`)."""

    apparent: Estimate
    mean_optimism: Estimate
    corrected: Estimate

    def table(self) -> pd.DataFrame:
        """Display table indexed by quantity with columns value, lo, hi, note."""
        return _estimates_table([("apparent AUC", self.apparent),
                                 ("mean optimism", self.mean_optimism),
                                 ("optimism-corrected AUC", self.corrected)])


def optimism_corrected_auc(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
                           n_boot: int | None = None, progress: bool = True,
                           ) -> tuple[OptimismSummary, pd.DataFrame]:
    """Harrell's bootstrap optimism-corrected AUC of the whole procedure.

    apparent = AUC of the procedure fitted on all patients, scored on them;
    optimism_b = AUC(fit_b, bootstrap sample b) - AUC(fit_b, all patients);
    corrected = apparent - mean_b optimism_b. Bootstrap samples are drawn within each
    class (class sizes kept, so every inner CV fold has both classes).

    Returns
    -------
    summary : OptimismSummary (apparent, mean optimism, corrected)
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
    summary = OptimismSummary(
        apparent=Estimate(apparent, _NAN, _NAN, "fit and scored on all"),
        mean_optimism=Estimate(mean_opt, q_lo, q_hi, f"lo/hi: 2.5/97.5 percentiles over B={B}"),
        corrected=Estimate(apparent - mean_opt, apparent - q_hi, apparent - q_lo,
                           "approximate 95% interval: apparent minus optimism percentiles"),
    )
    return summary, per
