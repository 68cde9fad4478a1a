"""How well the paper's recurrence model generalises (07_model_eval), beyond one 80/20 split.

Paper protocol (Table 7, Figure 4): metrics of the fitted model on its training and
validation splits, here each with a percentile-bootstrap 95% CI of the *fixed*
predictions (patients resampled with replacement, the model not refitted; so the CI
reflects which patients happened to be in the split, not the variability of the fit).
The training split is scored *apparent (in-sample)*, which is all the paper's training
column can be, and, beside it, *cross-validated* from the nested CV's out-of-fold risks.

Beyond the paper (SPEC "What a single 80/20 split cannot tell"):

- :func:`nested_cv` (the primary estimate): repeated stratified K-fold of the *whole*
  procedure (filter, RFECV and grid search refitted inside every outer training fold).
  Reported (:func:`nested_summary`): the mean of the per-fold AUCs, their SD and range;
  the pooled out-of-fold AUC of each repeat, averaged over repeats, with a 95% CI of
  that mean *across repeats* (t interval over the R repeat values: the Monte Carlo error
  of the choice of splits only, it shrinks as repeats are added and is not the sampling
  uncertainty). The pooled AUC itself gets **no interval**: none is validated for a
  procedure refitted in every fold (no CV variance estimator is unbiased, Bengio &
  Grandvalet 2004; Bates, Hastie & Tibshirani's 2023 nested-CV standard error would
  need a CV of the CV, hundreds of refits of RFECV). The percentile bootstrap of the
  fixed out-of-fold predictions that stood here ignored refitting: SD/SE 1.16 and
  coverage 0.90 in simulation (issue 23 item 4), so it is no longer shown.
- :func:`bootstrap_632plus`: Efron & Tibshirani's (1997) 0.632+ bootstrap, which replaces
  Harrell's optimism correction here: a random forest fits its training patients almost
  perfectly, and in a bootstrap sample it fits the duplicated patients again, so Harrell's
  "optimism" (in-sample minus original-sample AUC of each refit) under-corrects (on data
  without signal, n = 120, 15 noise features, it reported 0.66 where nested CV gave 0.53).
  The 0.632+ rule weighs the apparent AUC against the out-of-bag AUC by how much the
  procedure overfits. Inside every bootstrap refit the inner CV folds are grouped by
  original patient. Reported with its Monte Carlo SE (:func:`mc_se_632plus`: how much
  it moves with the bootstrap seed); no interval (the percentile interval with the
  apparent AUC held fixed was never validated, issue 23 item 6).

Elsewhere: calibration and decision curves in :mod:`analysis.model.calibration`,
feature-selection stability and permutation importance in :mod:`analysis.model.features`,
figures in :mod:`analysis.model.plots`, the verdict in :mod:`analysis.model.verdict`; the
planted-truth checks (synthetic tables, ceiling AUC) in :mod:`analysis.phantom.model_checks`.

Summaries are typed (:class:`Estimate`, :class:`NestedSummary`, :class:`Bootstrap632Summary`,
:class:`SplitAUC`); their ``table()`` builds the display table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
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
from analysis.model.fit import (
    ModelInputError,
    PaperModel,
    build_pipeline,
    check_features,
    check_labels,
    selected_features,
)
from analysis.outputs.names import TRAIN_APPARENT, TRAIN_CV

_NAN = float("nan")
#: why the pooled nested-CV AUC has no interval (table notes and the verdict)
NO_NESTED_INTERVAL = ("no interval: none is validated for a procedure refitted in every "
                      "fold (a patient bootstrap of the fixed out-of-fold predictions "
                      "covered 0.90 in simulation)")


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


# Table 7's column labels live in the output-name registry (the scorecard reads them
# there, without importing this module and sklearn)


def _metrics_with_ci(y, p, n_boot: int, seed: int, name: str) -> dict[str, pd.Series]:
    point = classification_metrics(y, p)
    boot = bootstrap_metrics(y, p, n_boot, seed)
    ci = {m: percentile_ci(boot[m]) for m in METRICS}
    return {name: pd.Series(point),
            f"{name}_lo": pd.Series({m: ci[m][0] for m in METRICS}),
            f"{name}_hi": pd.Series({m: ci[m][1] for m in METRICS})}


def table7(model: PaperModel, n_boot: int, seed: int,
           oof: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 7: metrics on training and validation with bootstrap 95% CIs, paper beside.

    The training split is scored twice: *apparent (in-sample)*, by the model fitted on
    it (what the paper's training column can only be), and, given ``oof`` (out-of-fold
    risks of the nested CV, :meth:`NestedCVResult.oof_mean`), *cross-validated*: the
    training patients' out-of-fold risks, each from a fit that did not see the patient.

    Returns
    -------
    DataFrame indexed by metric with columns ``TRAIN_APPARENT``, its _lo/_hi,
    [``TRAIN_CV``, its _lo/_hi,] paper_train, valid, valid_lo, valid_hi, paper_valid.
    """
    out = _metrics_with_ci(model.y_train, model.prob_train, n_boot, seed, TRAIN_APPARENT)
    if oof is not None:
        cv = oof.loc[model.y_train.index.astype(str)]
        out.update(_metrics_with_ci(cv["y"], cv["prob"], n_boot, seed + 2, TRAIN_CV))
    out["paper_train"] = pd.Series({m: paper.TABLE7[m][0] for m in METRICS})
    out.update(_metrics_with_ci(model.y_test, model.prob_test, n_boot, seed + 1, "valid"))
    out["paper_valid"] = pd.Series({m: paper.TABLE7[m][1] for m in METRICS})
    df = pd.DataFrame(out)
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
        return cls(float(a[TRAIN_APPARENT]), float(a["valid"]), float(a["valid_lo"]),
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
    pooled : pooled out-of-fold AUC (mean over repeats); no interval (module docstring)
    n_selected : median features kept per fold, lo/hi = min/max
    over_repeats : the same mean over repeats with a t 95% CI across the R repeat values
        (Monte Carlo error of the splits only; NaN interval with one repeat)
    """

    fold_mean: Estimate
    fold_sd: Estimate
    pooled: Estimate
    n_selected: Estimate
    over_repeats: Estimate

    def table(self) -> pd.DataFrame:
        """Display table indexed by quantity with columns value, lo, hi, note."""
        return _estimates_table([
            ("mean AUC over outer folds", self.fold_mean),
            ("SD of AUC over outer folds", self.fold_sd),
            ("pooled out-of-fold AUC", self.pooled),
            ("pooled out-of-fold AUC, CI across repeats", self.over_repeats),
            ("features kept per fold (median)", self.n_selected),
        ])


def nested_summary(res: NestedCVResult) -> NestedSummary:
    """AUC of the nested CV: per-fold mean, SD, range; the pooled out-of-fold AUC with no
    interval (none is validated for the refitted procedure: module docstring)."""
    auc = res.folds["auc"]
    pooled = [roc_auc_score(g["y"], g["prob"]) for _, g in res.oof.groupby("repeat")]
    n = len(auc)
    nsel = res.folds["n_selected"]
    return NestedSummary(
        fold_mean=Estimate(auc.mean(), auc.min(), auc.max(),
                           f"lo/hi = min/max over {n} outer folds"),
        fold_sd=Estimate(auc.std(ddof=1) if n > 1 else _NAN, _NAN, _NAN,
                         "spread across folds and repeats"),
        pooled=Estimate(float(np.mean(pooled)), _NAN, _NAN,
                        f"mean over {len(pooled)} repeat(s); {NO_NESTED_INTERVAL}"),
        n_selected=Estimate(nsel.median(), nsel.min(), nsel.max(), "lo/hi = min/max"),
        over_repeats=repeats_interval(pooled),
    )


def repeats_interval(values, level: float = 0.95) -> Estimate:
    """Mean of per-repeat AUCs with a t interval across repeats (what it is, in the note).

    ``mean +- t_{(1+level)/2, R-1} * SD / sqrt(R)`` over the ``R`` values: it measures how
    much the estimate depends on the random choice of CV splits (it shrinks as repeats
    are added), not how much it would vary over new cohorts. NaN interval when ``R < 2``.
    """
    v = np.asarray(values, dtype=float)
    r = len(v)
    if r < 2:
        return Estimate(float(v.mean()), _NAN, _NAN,
                        "one repeat: no interval across repeats")
    half = float(stats.t.ppf((1 + level) / 2, r - 1) * v.std(ddof=1) / np.sqrt(r))
    return Estimate(float(v.mean()), float(v.mean()) - half, float(v.mean()) + half,
                    f"t {level:.0%} CI of the mean over {r} repeats: Monte Carlo error of "
                    f"the CV splits only, not sampling uncertainty")


def stratified_bootstrap_index(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a bootstrap sample drawn within each class (class sizes kept)."""
    parts = [rng.choice(np.flatnonzero(y == c), size=int((y == c).sum()), replace=True)
             for c in np.unique(y)]
    return np.sort(np.concatenate(parts))


def _oob_one(X, y, idx, model_params, seed):
    """Fit the procedure on bootstrap rows ``idx`` (inner folds grouped by patient) and
    return the AUC on the patients left out of the sample (NaN when they hold one class)."""
    Xb = X.iloc[idx].reset_index(drop=True)
    yb = y.iloc[idx].reset_index(drop=True)
    pipe = build_pipeline(model_params, seed, n_jobs=1, grouped=True)
    pipe.fit(Xb, yb, rfe__groups=idx, rf__groups=idx)
    oob = np.setdiff1d(np.arange(len(y)), idx)
    yo = y.iloc[oob].to_numpy()
    if len(np.unique(yo)) < 2:
        return float("nan"), len(oob)
    return float(roc_auc_score(yo, pipe.predict_proba(X.iloc[oob])[:, 1])), len(oob)


#: no-information AUC: predictions independent of the labels rank them by chance
NO_INFORMATION_AUC = 0.5
#: Monte Carlo SE of the 0.632+ AUC above which its note asks for more resamples
MC_SE_TARGET = 0.01


def auc_632plus(apparent: float, oob: float,
                no_info: float = NO_INFORMATION_AUC) -> tuple[float, float, float]:
    """Efron & Tibshirani's (1997) 0.632+ rule on the AUC scale.

    With the apparent AUC ``a`` (fit and scored on all patients), the out-of-bag AUC
    ``b`` (mean over bootstrap refits of the AUC on the patients each left out) and the
    no-information AUC ``g = 0.5``:

    .. math::
        b' = \\max(b, g), \\quad
        R = \\frac{a - b'}{a - g} \\text{ if } a > b' \\text{ else } 0, \\quad
        w = \\frac{0.632}{1 - 0.368 R}, \\quad
        \\mathrm{AUC}_{.632+} = (1 - w)\\, a + w\\, b'.

    (The paper's error rates ``err``, ``Err(1)``, ``gamma`` become ``1 - AUC``; the
    truncation ``min(Err(1), gamma)`` becomes ``max(b, g)``.) So with no overfitting
    (``b >= a``) it is the plain 0.632 rule, and when the out-of-bag AUC is no better than
    chance (``R = 1``) it is ``b' = 0.5``.

    Returns
    -------
    (estimate, R, w)
    """
    b = max(oob, no_info)
    r = (apparent - b) / (apparent - no_info) if apparent > b else 0.0
    w = 0.632 / (1 - 0.368 * r)
    return (1 - w) * apparent + w * b, r, w


def mc_se_632plus(apparent: float, oob_aucs) -> float:
    """Monte Carlo SE of the 0.632+ AUC over its ``B`` bootstrap resamples (jackknife).

    The estimate is :func:`auc_632plus` of the apparent AUC ``a`` and the mean ``b`` of
    the ``B`` per-resample out-of-bag AUCs ``b_i``; only ``b`` depends on the draws. With
    ``b_(-i)`` the mean without resample ``i`` and ``e_(-i)`` the rule applied to it:

    .. math:: \\mathrm{SE} = \\sqrt{\\tfrac{B-1}{B} \\textstyle\\sum_i
              (e_{(-i)} - \\bar e_{(\\cdot)})^2}

    (Efron & Tibshirani 1993, ch. 11). It says how much the estimate moves from one
    bootstrap seed to the next, not how it would vary over new cohorts. Where the rule
    is linear in ``b`` (no overfitting, ``b >= a``: estimate ``0.368 a + 0.632 b``) it is
    exactly ``0.632 * SD(b_i) / sqrt(B)``. NaN with fewer than 2 finite ``b_i``.
    """
    v = np.asarray(oob_aucs, dtype=float)
    v = v[np.isfinite(v)]
    b = len(v)
    if b < 2:
        return _NAN
    loo = (v.sum() - v) / (b - 1)
    est = np.array([auc_632plus(apparent, m)[0] for m in loo])
    return float(np.sqrt((b - 1) / b * ((est - est.mean()) ** 2).sum()))


@dataclass(frozen=True)
class Bootstrap632Summary:
    """The 0.632+ bootstrap AUC of the whole procedure (:func:`bootstrap_632plus`)."""

    apparent: Estimate
    oob: Estimate
    relative_overfitting: float
    weight: float
    auc: Estimate
    n_boot: int
    #: Monte Carlo SE of ``auc`` over the resamples (:func:`mc_se_632plus`)
    mc_se: float = _NAN

    def table(self) -> pd.DataFrame:
        """Display table indexed by quantity (rows ``0.632+ AUC`` and its Monte Carlo SE):
        value, lo, hi, note."""
        return _estimates_table([
            ("apparent AUC", self.apparent),
            ("out-of-bag AUC", self.oob),
            ("relative overfitting rate R", Estimate(self.relative_overfitting, _NAN, _NAN,
                                                     "(apparent - out-of-bag) / (apparent "
                                                     "- 0.5), in [0, 1]")),
            ("weight w", Estimate(self.weight, _NAN, _NAN, "0.632 / (1 - 0.368 R)")),
            ("0.632+ AUC", self.auc),
            ("0.632+ AUC, Monte Carlo SE", Estimate(
                self.mc_se, _NAN, _NAN, f"jackknife over the {self.n_boot} resamples: how "
                "much the estimate moves with the bootstrap seed, not sampling "
                "uncertainty")),
        ])


@dataclass
class Bootstrap632Result:
    """summary : :class:`Bootstrap632Summary`; per_boot : DataFrame (n_boot, 3) with
    auc_oob, n_oob, auc_632plus (the rule applied to that resample's out-of-bag AUC)."""

    summary: Bootstrap632Summary
    per_boot: pd.DataFrame


def bootstrap_632plus(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
                      n_boot: int | None = None, progress: bool = True) -> Bootstrap632Result:
    """Efron & Tibshirani's 0.632+ bootstrap AUC of the whole procedure.

    The apparent AUC is that of the procedure fitted on all patients and scored on them
    (a forest scores its own patients almost perfectly). Each of ``n_boot`` (default
    ``model_params.n_632plus_bootstrap``) resamples draws patients with replacement within
    each class (class sizes kept), refits the whole procedure on it with every inner CV
    (RFECV, grid search) grouped by original patient (:class:`StratifiedGroupKFold`, so
    copies of one patient never sit on both sides of an inner split), and scores the
    patients it left out (about 36.8%). The out-of-bag AUC is the mean of those AUCs
    (resamples whose left-out patients hold one class only are skipped); :func:`auc_632plus`
    combines the two. Resamples run in parallel (``model_params.n_jobs``); each has its
    own seed, so the result does not depend on the number of workers.

    Beside the estimate: its Monte Carlo SE (:func:`mc_se_632plus`); the note flags one
    above :data:`MC_SE_TARGET`. No interval: the 2.5/97.5 percentiles of the
    per-resample estimates (apparent AUC held fixed) that stood here were never shown to
    cover (issue 23 item 6), and validating one would need the whole procedure refitted
    B times per simulated cohort.
    """
    check_features(X)
    check_labels(y, model_params.cv_folds)
    B = model_params.n_632plus_bootstrap if n_boot is None else n_boot
    Xr, yr = X.reset_index(drop=True), y.reset_index(drop=True)
    full = build_pipeline(model_params, seed).fit(Xr, yr)
    apparent = float(roc_auc_score(yr, full.predict_proba(Xr)[:, 1]))
    rng = np.random.default_rng(seed)
    idxs = [stratified_bootstrap_index(yr.to_numpy(), rng) for _ in range(B)]
    jobs = (delayed(_oob_one)(Xr, yr, idx, model_params, seed + 1 + b)
            for b, idx in enumerate(idxs))
    res = list(tqdm(Parallel(n_jobs=model_params.n_jobs, return_as="generator")(jobs),
                    total=B, desc="0.632+ bootstrap", disable=not progress))
    per = pd.DataFrame(res, columns=["auc_oob", "n_oob"])
    per["auc_632plus"] = [auc_632plus(apparent, a)[0] if np.isfinite(a) else _NAN
                          for a in per["auc_oob"]]
    used = int(per["auc_oob"].notna().sum())
    if used == 0:
        raise ModelInputError(f"0.632+ bootstrap: none of {B} resamples left out patients "
                              f"of both classes; too few patients")
    oob = float(per["auc_oob"].mean())
    est, r, w = auc_632plus(apparent, oob)
    se = mc_se_632plus(apparent, per["auc_oob"])
    flag = (f", above the {MC_SE_TARGET} target: raise model.n_632plus_bootstrap"
            if not se <= MC_SE_TARGET else "")
    note = (f"B = {B} ({used} used); Monte Carlo SE {se:.3f}{flag}; no interval (none "
            f"validated for the 0.632+ AUC)")
    oob_lo, oob_hi = percentile_ci(per["auc_oob"])
    summary = Bootstrap632Summary(
        apparent=Estimate(apparent, _NAN, _NAN, "fit and scored on all patients"),
        oob=Estimate(oob, oob_lo, oob_hi,
                     f"mean over {used} refits of the AUC on the patients each left out; "
                     f"lo/hi: 2.5/97.5 percentiles (spread, not a CI)"),
        relative_overfitting=r, weight=w, auc=Estimate(est, _NAN, _NAN, note), n_boot=B,
        mc_se=se)
    return Bootstrap632Result(summary, per)


def bootstrap_632plus_auc(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
                          n_boot: int | None = None, progress: bool = True) -> pd.DataFrame:
    """:func:`bootstrap_632plus` as its summary table: rows apparent AUC, out-of-bag AUC,
    relative overfitting rate R, weight w, ``0.632+ AUC``; columns value, lo, hi, note."""
    return bootstrap_632plus(X, y, model_params, seed, n_boot, progress).summary.table()
