"""The paper's recurrence model (Shen et al. 2025, section 2.3, Tables 6-7), as one Pipeline.

The procedure, in the paper's order (SPEC "Model"):

1. standardisation (:class:`~sklearn.preprocessing.StandardScaler`);
2. a Pearson correlation filter (:class:`CorrelationFilter`, ``|r| > corr_threshold``);
3. recursive feature elimination with a random forest, chosen by stratified k-fold CV on
   ROC AUC (:class:`~sklearn.feature_selection.RFECV`);
4. a random forest whose ``max_depth``, ``n_estimators`` and ``min_samples_leaf`` are
   chosen by grid search (:class:`~sklearn.model_selection.GridSearchCV`, same CV, AUC).

:func:`build_pipeline` returns these four steps as a single :class:`Pipeline`, so that a
resampling estimate (``analysis.model.evaluate``) refits *all* of them inside each loop.
:func:`fit_paper_model` adds the paper's stratified 80/20 split. Everything is seeded
from ``params.seed``; same params and same tables give the same model.

Outcome label (``params.model.label``; see :func:`make_labels`):

- ``"any"``: 1 if local failure was recorded during follow-up (``lc_event == 1``),
  else 0. Patients with short follow-up count as 0 although they might still recur:
  this is the paper's "recurred / did not recur" (94 / 86) reading.
- ``"horizon"``: 1 if ``lc_event == 1`` and ``lc_time_months <= horizon_months``;
  0 if the patient was seen free of local failure up to the horizon (censored or failing
  *after* it, ``lc_time_months > horizon_months``, or censored exactly at it); patients
  censored *before* the horizon without failure have an unknown label and are excluded,
  each with a recorded reason. This is the honest binary outcome when follow-up differs.

Bad input is refused early with messages naming the feature and the patients (pseudonymous
``pid`` s): missing values (no imputation: a missing partition parameter means an upstream
step failed), a feature table whose patients differ from the cohort's, one outcome class
only, or fewer patients of a class than CV folds. Constant features are dropped by the
correlation filter, with a note (``CorrelationFilter.dropped_``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFECV
from sklearn.feature_selection._base import SelectorMixin
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from analysis import labels, paper


class ModelInputError(ValueError):
    """Features or labels that the recurrence model cannot be fitted on."""


# --------------------------------------------------------------------------------------
# The correlation filter
# --------------------------------------------------------------------------------------
class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop features whose Pearson correlation with an earlier kept feature exceeds a threshold.

    The paper: "the correlation coefficient between each feature and other features is
    calculated, and redundant features are removed according to the correlation
    coefficient". Which of a correlated pair goes is not said; here the rule is
    deterministic and greedy in column order (the Table 2 order for the 110 features):

    walk the columns left to right; a column is kept unless ``|r| > threshold`` with a
    column already kept. So of a correlated pair the *earlier* column is kept and the
    later one dropped, e.g. with ``threshold=0.9`` and columns ``a, b = a, c`` (b an exact
    copy of a, c independent) the filter keeps ``a, c`` and drops ``b`` ("|r| = 1.000 with
    a"). Constant columns (zero variance in the training data, correlation undefined) are
    dropped first, with the note "constant".

    Parameters
    ----------
    threshold : float, default 0.9
        Absolute Pearson correlation above which (strictly) a later feature is dropped.

    Attributes
    ----------
    support_ : ndarray of bool, shape (n_features_in_,)
        True for kept columns.
    dropped_ : dict[str, str]
        Dropped feature name -> reason ("constant" or "|r| = 0.987 with <kept feature>").
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when fitted on a DataFrame.
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X, y=None):
        """Learn which columns to keep from ``X`` of shape (n_samples, n_features)."""
        if not 0 < self.threshold <= 1:
            raise ValueError(f"CorrelationFilter: threshold must be in (0, 1], "
                             f"got {self.threshold!r}")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=True,
                          ensure_min_samples=2)
        names = (list(self.feature_names_in_) if hasattr(self, "feature_names_in_")
                 else [f"x{i}" for i in range(X.shape[1])])
        std = X.std(axis=0)
        constant = std == 0
        dropped: dict[str, str] = {names[j]: "constant" for j in np.flatnonzero(constant)}
        corr = correlation_matrix(X[:, ~constant])
        cols = np.flatnonzero(~constant)
        kept: list[int] = []  # positions in cols
        for k in range(len(cols)):
            if kept:
                r = np.abs(corr[k, kept])
                worst = int(np.argmax(r))
                if r[worst] > self.threshold:
                    dropped[names[cols[k]]] = (f"|r| = {r[worst]:.3f} with "
                                               f"{names[cols[kept[worst]]]}")
                    continue
            kept.append(k)
        support = np.zeros(X.shape[1], dtype=bool)
        support[cols[kept]] = True
        self.support_ = support
        self.dropped_ = dropped
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def correlation_matrix(X: np.ndarray) -> np.ndarray:
    """Pearson correlation between the columns of ``X``.

    .. math:: r_{jk} = \\frac{\\sum_i (x_{ij}-\\bar x_j)(x_{ik}-\\bar x_k)}
              {\\sqrt{\\sum_i (x_{ij}-\\bar x_j)^2 \\sum_i (x_{ik}-\\bar x_k)^2}}

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), no constant column

    Returns
    -------
    ndarray of shape (n_features, n_features), entries in [-1, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] == 0:
        return np.zeros((0, 0))
    Z = X - X.mean(axis=0)
    Z /= np.sqrt((Z**2).sum(axis=0))
    return np.clip(Z.T @ Z, -1.0, 1.0)


# --------------------------------------------------------------------------------------
# Labels and inputs
# --------------------------------------------------------------------------------------
def make_labels(cohort: pd.DataFrame, label: str = "any",
                horizon_months: float = 36.0) -> tuple[pd.Series, pd.DataFrame]:
    """Binary recurrence label per patient, and the patients excluded with a reason.

    Parameters
    ----------
    cohort : DataFrame indexed by pid
        Canonical columns ``lc_event`` (0/1) and ``lc_time_months`` (months from the start
        of radiotherapy to local failure or censoring).
    label : {"any", "horizon"}
        ``"any"``: ``y = lc_event``. ``"horizon"``: ``y = 1`` if ``lc_event == 1`` and
        ``lc_time_months <= horizon_months``; ``y = 0`` if ``lc_time_months >=
        horizon_months`` without failure by then; patients censored (``lc_event == 0``)
        before the horizon are excluded (label unknown). See the module docstring.
    horizon_months : float
        Only for ``label="horizon"``.

    Returns
    -------
    y : Series of int (0/1), indexed by pid, named "recurrence"
    excluded : DataFrame with columns pid, reason (one row per excluded patient)
    """
    if label not in ("any", "horizon"):
        raise ModelInputError(f"label: must be 'any' or 'horizon', got {label!r}")
    need = ["lc_event"] + (["lc_time_months"] if label == "horizon" else [])
    missing_cols = [c for c in need if c not in cohort.columns]
    if missing_cols:
        raise ModelInputError(f"cohort: missing column(s) {missing_cols} needed for "
                              f"label={label!r}")
    event = cohort["lc_event"]
    reasons: dict[str, str] = {}
    for pid in cohort.index[event.isna()]:
        reasons[str(pid)] = "no local-control outcome (lc_event missing)"
    bad = ~event.isna() & ~event.isin([0, 1])
    if bad.any():
        raise ModelInputError(f"cohort: lc_event must be 0/1; patients "
                              f"{_few(cohort.index[bad])} have {sorted(set(event[bad]))}")
    if label == "any":
        ok = ~event.isna()
        y = event[ok].astype(int)
    else:
        if not horizon_months > 0:
            raise ModelInputError(f"horizon_months: must be > 0, got {horizon_months!r}")
        t = cohort["lc_time_months"]
        for pid in cohort.index[~event.isna() & t.isna()]:
            reasons[str(pid)] = "lc_time_months missing"
        known = ~event.isna() & ~t.isna()
        early_censored = known & (event == 0) & (t < horizon_months)
        for pid, ti in t[early_censored].items():
            reasons[str(pid)] = (f"censored at {ti:.1f} months, before the "
                                 f"{horizon_months:g}-month horizon (label unknown)")
        ok = known & ~early_censored
        y = ((event[ok] == 1) & (t[ok] <= horizon_months)).astype(int)
    y.name = "recurrence"
    excluded = pd.DataFrame({"pid": list(reasons), "reason": list(reasons.values())},
                            columns=["pid", "reason"])
    return y, excluded


def _few(index, k: int = 5) -> str:
    items = [str(i) for i in list(index)[:k]]
    more = len(index) - len(items)
    return ", ".join(items) + (f" (+{more} more)" if more > 0 else "")


def check_features(X: pd.DataFrame, name: str = "features") -> None:
    """Refuse a feature table with missing or infinite values, naming features and patients.

    No imputation: a missing partition parameter means an upstream step failed for that
    patient, and the remedy is upstream, not a guessed value.
    """
    if not isinstance(X, pd.DataFrame):
        raise ModelInputError(f"{name}: expected a DataFrame indexed by pid, "
                              f"got {type(X).__name__}")
    if X.index.has_duplicates:
        raise ModelInputError(f"{name}: duplicated patients {_few(X.index[X.index.duplicated()])}")
    nonnum = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if nonnum:
        raise ModelInputError(f"{name}: non-numeric feature(s) {nonnum[:5]}")
    bad = ~np.isfinite(X.to_numpy(dtype=np.float64))
    if bad.any():
        lines = []
        for j in np.flatnonzero(bad.any(axis=0)):
            lines.append(f"{X.columns[j]} (patients {_few(X.index[bad[:, j]])})")
        raise ModelInputError(f"{name}: missing or infinite values in "
                              f"{len(lines)} feature(s): " + "; ".join(lines[:10]))


def check_labels(y: pd.Series, n_folds: int, name: str = "labels") -> None:
    """Refuse labels with one class only or fewer patients of a class than CV folds."""
    counts = y.value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise ModelInputError(f"{name}: one outcome class only ({len(y)} patients, all "
                              f"{only}); a recurrence model needs recurred and not-recurred "
                              f"patients")
    if counts.min() < n_folds:
        raise ModelInputError(
            f"{name}: {counts.min()} patients in class {counts.idxmin()} but {n_folds} "
            f"stratified CV folds (need at least one patient of each class per fold; "
            f"{len(y)} patients: {dict(counts.sort_index())}); use fewer folds")


def align(features: pd.DataFrame, y: pd.Series,
          excluded: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Match features to labels by pid; refuse any mismatch.

    Every labelled patient needs a feature row, and every feature row must be a labelled
    patient or one of ``excluded`` (patients without a label, e.g. censored before the
    horizon). Rows are returned in the label order.

    Returns
    -------
    X : DataFrame (n_patients, n_features), y : Series (n_patients,)
    """
    fidx = pd.Index(features.index.astype(str))
    lidx = pd.Index(y.index.astype(str))
    ex = set() if excluded is None else set(excluded["pid"].astype(str))
    no_features = lidx.difference(fidx)
    no_label = fidx.difference(lidx).difference(pd.Index(sorted(ex)))
    if len(no_features) or len(no_label):
        msg = ["feature table and labels do not describe the same patients:"]
        if len(no_features):
            msg.append(f"{len(no_features)} labelled patient(s) without features "
                       f"({_few(no_features)})")
        if len(no_label):
            msg.append(f"{len(no_label)} feature row(s) without a cohort label "
                       f"({_few(no_label)})")
        raise ModelInputError(" ".join(msg))
    X = features.copy()
    X.index = fidx
    X = X.loc[lidx]
    y = y.copy()
    y.index = lidx
    return X, y


def clinical_design(cohort: pd.DataFrame) -> pd.DataFrame:
    """Clinical canonical columns as numbers (``model.include_clinical``).

    Numeric: age, smoking_index, diameter_cm. Binary 0/1: sex (male), histology (mixed),
    location (peripheral), paraneoplastic, svc_syndrome (yes), chemo (sequential).
    Ordinal 1-4: t_stage, n_stage (N0 = 0), tnm_stage (I-IV). Columns absent from the
    cohort are skipped.
    """
    out = pd.DataFrame(index=cohort.index)
    for c in ("age", "smoking_index", "diameter_cm"):
        if c in cohort:
            out[c] = pd.to_numeric(cohort[c], errors="coerce")
    for c, one in (("sex", "male"), ("histology", "mixed"), ("location", "peripheral"),
                   ("paraneoplastic", "yes"), ("svc_syndrome", "yes"),
                   ("chemo", "sequential")):
        if c in cohort:
            out[f"{c}_{one}"] = (cohort[c] == one).astype(float).where(cohort[c].notna())
    ordinal = {"t_stage": {"T1": 1, "T2": 2, "T3": 3, "T4": 4},
               "n_stage": {"N0": 0, "N1": 1, "N2": 2, "N3": 3},
               "tnm_stage": {"I": 1, "II": 2, "III": 3, "IV": 4}}
    for c, m in ordinal.items():
        if c in cohort:
            out[c] = cohort[c].map(m).astype(float)
    return out


def model_inputs(features: pd.DataFrame, cohort: pd.DataFrame, model_params,
                 ) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Feature matrix, labels and exclusions for the model, checked.

    Parameters
    ----------
    features : DataFrame indexed by pid (the partition feature table)
    cohort : DataFrame indexed by pid (the cohort store's cohort table)
    model_params : analysis.params.ModelParams

    Returns
    -------
    X : DataFrame (n_patients, n_features), y : Series of 0/1, excluded : DataFrame pid, reason
    """
    y, excluded = make_labels(cohort, model_params.label, model_params.horizon_months)
    if model_params.include_clinical:
        clin = clinical_design(cohort)
        features = features.join(clin, how="left")
    X, y = align(features, y, excluded)
    check_features(X)
    check_labels(y, model_params.cv_folds)
    return X, y, excluded


@dataclass
class ModelInputs:
    """The checked model inputs of a run (:func:`inputs_from_store`).

    X : DataFrame (n_patients, n_features) indexed by pid; y : Series (n_patients,) of 0/1;
    excluded : DataFrame pid, reason (patients without a usable label).
    """

    X: pd.DataFrame
    y: pd.Series
    excluded: pd.DataFrame

    def describe(self, model_params) -> str:
        """One Markdown line: patients, recurrences, label, candidate features, exclusions."""
        horizon = (f", horizon {model_params.horizon_months:g} months"
                   if model_params.label == "horizon" else "")
        return (f"**{len(self.y)} patients** ({int(self.y.sum())} recurred, label "
                f"`{model_params.label}`{horizon}), **{self.X.shape[1]} candidate "
                f"features**; {len(self.excluded)} excluded.")


def inputs_from_store(store, model_params, ledger=None) -> ModelInputs:
    """:func:`model_inputs` on a cohort store's ``partition_features`` and cohort tables,
    restricted to the analysis ledger's analysed patients (``ledger``, an
    :class:`analysis.ledger.Ledger`; None: every patient of both tables), so that the
    features and the labels describe the same patients whatever failed before 06."""
    features, cohort = store.partition_features(), store.cohort()
    if ledger is not None:
        keep = set(ledger.analysed)
        features = features.loc[features.index.astype(str).isin(keep)]
        cohort = cohort.loc[cohort.index.astype(str).isin(keep)]
    return ModelInputs(*model_inputs(features, cohort, model_params))


def class_counts(store, model_params, ledger) -> pd.Series:
    """Patients per outcome class (0/1) among the ledger's analysed patients, with the
    model's label (:func:`make_labels`)."""
    cohort = store.cohort()
    cohort = cohort.loc[cohort.index.astype(str).isin(set(ledger.analysed))]
    y, _ = make_labels(cohort, model_params.label, model_params.horizon_months)
    return y.value_counts().reindex([0, 1], fill_value=0)


def skip_reason(store, params, ledger) -> str | None:
    """Why 06_model / 07_model_eval cannot run on the ledger's analysed patients: an
    outcome class with fewer patients than ``analysis.min_per_class`` (and than
    ``model.cv_folds``, which stratified CV needs); None when they can."""
    need = max(params.analysis.min_per_class, params.model.cv_folds)
    counts = class_counts(store, params.model, ledger)
    if int(counts.min()) >= need:
        return None
    return (f"too few analysed patients per outcome class for the model: {int(counts[1])} "
            f"recurred, {int(counts[0])} did not (of {ledger.n_analysed} analysed), at "
            f"least {need} of each needed (analysis.min_per_class "
            f"{params.analysis.min_per_class}, model.cv_folds {params.model.cv_folds})")


# --------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------
def build_pipeline(model_params, seed: int, n_jobs: int | None = None,
                   grouped: bool = False) -> Pipeline:
    """The paper's procedure as one unfitted Pipeline (scale, filter, RFECV, grid-searched RF).

    Parameters
    ----------
    model_params : analysis.params.ModelParams
        ``corr_threshold``, ``cv_folds``, ``rfe_step``, ``rfe_n_estimators``, ``grid_*``.
    seed : int
        ``random_state`` of every forest and of the (shuffled) stratified folds.
    n_jobs : int, optional
        Workers for RFECV's folds and the grid search (default ``model_params.n_jobs``);
        the forests themselves run single-threaded to avoid oversubscription.
    grouped : bool
        Inner folds by :class:`~sklearn.model_selection.StratifiedGroupKFold`: all rows of
        a group (copies of one patient in a bootstrap sample) fall in the same fold. Fit
        with ``pipe.fit(X, y, rfe__groups=g, rf__groups=g)``.

    Returns
    -------
    Pipeline with steps ``scale``, ``filter``, ``rfe``, ``rf`` (a GridSearchCV); its
    ``set_output`` is pandas, so feature names flow through.
    """
    mp = model_params
    n_jobs = mp.n_jobs if n_jobs is None else n_jobs
    fold = StratifiedGroupKFold if grouped else StratifiedKFold
    cv = fold(n_splits=mp.cv_folds, shuffle=True, random_state=seed)
    rfe = RFECV(
        RandomForestClassifier(n_estimators=mp.rfe_n_estimators, random_state=seed,
                               n_jobs=1),
        step=mp.rfe_step, cv=cv, scoring="roc_auc", n_jobs=n_jobs,
        min_features_to_select=1,
    )
    grid = {"max_depth": list(mp.grid_max_depth), "n_estimators": list(mp.grid_n_estimators),
            "min_samples_leaf": list(mp.grid_min_samples_leaf)}
    search = GridSearchCV(RandomForestClassifier(random_state=seed, n_jobs=1), grid,
                          scoring="roc_auc", cv=cv, n_jobs=n_jobs, refit=True)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("filter", CorrelationFilter(threshold=mp.corr_threshold)),
                     ("rfe", rfe), ("rf", search)])
    return pipe.set_output(transform="pandas")


def selected_features(pipeline: Pipeline) -> list[str]:
    """Names of the features the fitted forest uses (after the filter and RFE), in order."""
    return [str(n) for n in pipeline[:-1].get_feature_names_out()]


@dataclass
class PaperModel:
    """A fitted paper procedure and its 80/20 split (all frames indexed by pid)."""

    pipeline: Pipeline
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    selected: list[str] = field(default_factory=list)

    @property
    def prob_train(self) -> np.ndarray:
        """Predicted recurrence probability, training split, shape (n_train,)."""
        return self.pipeline.predict_proba(self.X_train)[:, 1]

    @property
    def prob_test(self) -> np.ndarray:
        """Predicted recurrence probability, validation split, shape (n_test,)."""
        return self.pipeline.predict_proba(self.X_test)[:, 1]


def split(X: pd.DataFrame, y: pd.Series, test_size: float, seed: int):
    """The paper's stratified 80/20 split (``train_test_split(stratify=y)``)."""
    n_test = int(np.ceil(test_size * len(y)))
    counts = y.value_counts()
    if n_test < 2 or len(y) - n_test < 2 or counts.min() < 2:
        raise ModelInputError(f"split: {len(y)} patients ({dict(counts.sort_index())}) are "
                              f"too few for a stratified split with test_size={test_size}")
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


def fit_paper_model(X: pd.DataFrame, y: pd.Series, model_params, seed: int,
                    n_jobs: int | None = None) -> PaperModel:
    """Split 80/20 (stratified, seeded) and fit the paper's pipeline on the training part."""
    check_features(X)
    X_tr, X_te, y_tr, y_te = split(X, y, model_params.test_size, seed)
    check_labels(y_tr, model_params.cv_folds, name="training split labels")
    pipe = build_pipeline(model_params, seed, n_jobs).fit(X_tr, y_tr)
    return PaperModel(pipe, X_tr, X_te, y_tr, y_te, selected_features(pipe))


# --------------------------------------------------------------------------------------
# Table 6
# --------------------------------------------------------------------------------------
def _number(name: str) -> int | None:
    return labels.feature_number(name) if name in labels.FEATURE_NAMES else None


def _meaning(name: str) -> str:
    return labels.feature_meaning(name) if name in labels.FEATURE_NAMES else "clinical variable"


def table6(selected: list[str]) -> pd.DataFrame:
    """Table 6: the selected features, their Table 2 numbers and meanings.

    Returns
    -------
    DataFrame with columns number (Table 2 row, empty for clinical), feature, meaning,
    in_paper_table6 (bool), sorted by number.
    """
    rows = [{"number": _number(n), "feature": n, "meaning": _meaning(n),
             "in_paper_table6": n in paper.TABLE6_FEATURES} for n in selected]
    df = pd.DataFrame(rows, columns=["number", "feature", "meaning", "in_paper_table6"])
    df["number"] = df["number"].astype("Int64")
    return df.sort_values(["number", "feature"], na_position="last").reset_index(drop=True)


def table6_summary(selected: list[str], n_candidates: int) -> pd.DataFrame:
    """How many features were kept, beside the paper (27 kept, 21 listed in Table 6)."""
    overlap = sorted(set(selected) & set(paper.TABLE6_FEATURES), key=_sort_key)
    rows = [
        ("candidate features", n_candidates, 110),
        ("features kept", len(selected), paper.N_FEATURES_KEPT),
        ("features listed in Table 6", len(selected), len(paper.TABLE6_FEATURES)),
        ("of ours, in the paper's Table 6", len(overlap), len(paper.TABLE6_FEATURES)),
    ]
    return pd.DataFrame(rows, columns=["quantity", "this run", "paper"]).set_index("quantity")


def _sort_key(name: str) -> tuple[int, str]:
    n = _number(name)
    return (n if n is not None else 10**6, name)


def rfecv_curve(pipeline: Pipeline) -> pd.DataFrame:
    """RFECV's cross-validated AUC by number of features (mean and SD over its folds)."""
    r = pipeline.named_steps["rfe"].cv_results_
    return pd.DataFrame({"n_features": np.asarray(r["n_features"]),
                         "auc_mean": np.asarray(r["mean_test_score"]),
                         "auc_sd": np.asarray(r["std_test_score"])})


def search_summary(pipeline: Pipeline) -> pd.DataFrame:
    """Grid search: each candidate's parameters and mean CV AUC, best first."""
    r = pipeline.named_steps["rf"].cv_results_
    df = pd.DataFrame(list(r["params"])).astype(object)
    df = df.where(df.notna(), "None")  # max_depth=None: unlimited depth
    df["auc_mean"] = r["mean_test_score"]
    df["auc_sd"] = r["std_test_score"]
    df["rank"] = r["rank_test_score"]
    return df.sort_values(["rank"], kind="stable").reset_index(drop=True)


def filter_report(pipeline: Pipeline) -> pd.DataFrame:
    """Features dropped by the correlation filter and why."""
    d = pipeline.named_steps["filter"].dropped_
    return pd.DataFrame({"feature": list(d), "reason": list(d.values())},
                        columns=["feature", "reason"])


def exclusion_counts(excluded: pd.DataFrame) -> pd.DataFrame:
    """Excluded patients counted by reason (no pid: safe for reports)."""
    if excluded.empty:
        return pd.DataFrame({"reason": [], "n_patients": []})
    reason = excluded["reason"].str.replace(r"censored at [0-9.]+ months",
                                            "censored", regex=True)
    return reason.value_counts().rename_axis("reason").rename("n_patients").reset_index()


def split_summary(model: PaperModel) -> pd.DataFrame:
    """Patients and recurrences in the training and validation splits."""
    return pd.DataFrame({
        "split": ["training", "validation"],
        "n_patients": [len(model.y_train), len(model.y_test)],
        "n_recurred": [int(model.y_train.sum()), int(model.y_test.sum())],
    }).set_index("split")
