"""Planted truth for the recurrence model: synthetic tables, the ceiling AUC, the phantom's
planted references (07_model_eval, tests and ``make bench``).

The analysis modules (:mod:`analysis.model`, :mod:`analysis.model.evaluate`) know nothing of
the phantom; these checks compare their results with what was planted:

- :func:`synthetic_table` plants a logistic outcome on named features (tests, bench);
- :func:`ceiling_auc` gives the best AUC a planted model allows on a cohort (the true risk
  scored against labels drawn from it, by simulation: valid without linking patients,
  since only the distribution of the true risk matters);
- :func:`phantom_reference` reads the phantom's ``truth.json`` (informative features,
  true risks) and :func:`planted_features_table`, :func:`planted_vs_selected`,
  :func:`ceiling_table` set them beside the selection frequencies and the nested CV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analysis import labels, paper
from analysis.model.evaluate import percentile_ci


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
    informative feature, which a correlation filter must drop (``|r| = 1``). With
    ``n_informative=0`` the outcome is a fair coin (no signal).
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


def ceiling_table(ref: dict, nested_auc: float) -> pd.DataFrame:
    """The planted ceiling AUC (:func:`phantom_reference`) beside the nested-CV estimate.

    ``nested_auc`` is the pooled out-of-fold AUC of the nested CV
    (``NestedSummary.pooled.value``).
    """
    c = ref["ceiling"] or (float("nan"),) * 3
    return pd.DataFrame({"ceiling_auc": [c[0]], "lo": [c[1]], "hi": [c[2]],
                         "nested_cv_auc": [nested_auc],
                         "method": [ref["note"]]})
