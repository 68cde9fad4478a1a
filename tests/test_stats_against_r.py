"""Survival functions against published R `survival` output on the NCCTG lung data.

lifelines ships R's ``survival::lung`` as ``lifelines.datasets.load_lung()``. Its
``status`` is already recoded 0 = censored / 1 = dead (R's is 1/2: 165 deaths either
way, checked below); ``sex`` keeps R's coding 1 = male, 2 = female.
"""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.datasets import load_lung

from analysis.stats import cox, group_tests, km
from analysis.survival import tables as sv


@pytest.fixture(scope="module")
def lung():
    d = load_lung()
    assert len(d) == 228 and int(d["status"].sum()) == 165  # 0/1 coding, R's 165 deaths
    return d


def test_km_median_matches_r_survfit_log_ci(lung):
    """R (survival 3.x): ``survfit(Surv(time, status) ~ 1, data = lung)`` prints
    n = 228, events = 165, median = 310, 0.95LCL = 285, 0.95UCL = 363 with R's default
    ``conf.type = "log"``; we compute the "log" interval ourselves (km_confidence).
    Times are whole days, so the limits must match exactly."""
    m = km.median_survival(lung["time"], lung["status"], conf_type="log")
    assert (m["n"], m["n_events"]) == (228, 165)
    assert (m["median"], m["lower"], m["upper"]) == (310.0, 285.0, 363.0)
    assert m["note"] == ""


def test_km_loglog_ci_matches_lifelines(lung):
    """Our log-log Greenwood interval equals lifelines' KaplanMeierFitter interval
    (R ``conf.type = "log-log"``) at every event time; rtol 1e-8: same formula, float
    round-off only."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(lung["time"], lung["status"])
    tab = km.km_table(lung["time"], lung["status"])
    lo, hi = km.km_confidence(tab["survival"], tab["greenwood"], "log-log")
    ci = kmf.confidence_interval_survival_function_.loc[tab.index]
    ok = np.isfinite(lo)
    np.testing.assert_allclose(lo[ok], ci.iloc[:, 0].to_numpy()[ok], rtol=1e-8)
    np.testing.assert_allclose(hi[ok], ci.iloc[:, 1].to_numpy()[ok], rtol=1e-8)
    np.testing.assert_allclose(tab["survival"], kmf.survival_function_.loc[tab.index].iloc[:, 0],
                               rtol=1e-12)


def test_logrank_matches_r_survdiff(lung):
    """R: ``survdiff(Surv(time, status) ~ sex, data = lung)``: Chisq = 10.3 on 1 degrees
    of freedom, p = 0.001 (exact p 0.00131). atol 0.05 on the printed one-decimal
    chi-square; rtol 1e-2 on p (3 significant digits published)."""
    r = group_tests.logrank(lung["time"], lung["status"], lung["sex"])
    assert r["df"] == 1
    assert r["chi2"] == pytest.approx(10.3, abs=0.05)
    assert r["p"] == pytest.approx(0.00131, rel=1e-2)


def test_cox_matches_r_coxph_sex(lung):
    """R: ``coxph(Surv(time, status) ~ sex, data = lung)``: coef = -0.5310,
    exp(coef) = 0.5880, se(coef) = 0.1672, z = -3.176, p = 0.00149; exp(coef) 95% CI
    0.4237-0.8160; likelihood ratio test = 10.63 on 1 df (Efron ties in both).
    Tolerances: half a unit of the last printed digit."""
    X = lung[["sex"]].astype(float)
    res = cox.fit_cox(X, lung["time"], lung["status"])
    r = res.table.set_index("column").loc["sex"]
    assert r["coef"] == pytest.approx(-0.5310, abs=5e-5)
    assert r["hr"] == pytest.approx(0.5880, abs=5e-5)
    assert r["se"] == pytest.approx(0.1672, abs=5e-5)
    assert r["p"] == pytest.approx(0.00149, abs=5e-6)
    assert r["hr_lower"] == pytest.approx(0.4237, abs=5e-5)
    assert r["hr_upper"] == pytest.approx(0.8160, abs=5e-5)
    assert res.model.log_likelihood_ratio_test().test_statistic == pytest.approx(10.63, abs=5e-3)
    assert res.penalizer == 0.0 and res.notes == []


def test_cox_matches_r_coxph_age_sex(lung):
    """R: ``coxph(Surv(time, status) ~ age + sex, data = lung)``: age coef 0.017045
    (se 0.009223), sex coef -0.513219 (se 0.167458). atol 5e-6: half the last digit."""
    res = cox.fit_cox(lung[["age", "sex"]].astype(float), lung["time"], lung["status"])
    t = res.table.set_index("column")
    assert t.loc["age", "coef"] == pytest.approx(0.017045, abs=5e-6)
    assert t.loc["age", "se"] == pytest.approx(0.009223, abs=5e-6)
    assert t.loc["sex", "coef"] == pytest.approx(-0.513219, abs=5e-6)
    assert t.loc["sex", "se"] == pytest.approx(0.167458, abs=5e-6)


def test_cox_categorical_coding_matches_numeric_sex(lung):
    """One-hot coding of sex (reference 1 = male, the most frequent level) gives R's sex
    coefficient: the dummy sex[2.0] is (sex - 1). rtol 1e-6: identical models."""
    d = lung.assign(sex=lung["sex"].astype(float))
    X, coding = sv.design_matrix(d, ["sex"])
    assert list(X.columns) == ["sex[2.0]"] and coding.loc[0, "reference"] == "1.0"
    res = cox.fit_cox(X, d["time"], d["status"])
    assert res.table.loc[0, "coef"] == pytest.approx(-0.531022, rel=1e-5)


def test_model_summary_matches_r_coxph_sex(lung):
    """R: ``summary(coxph(Surv(time, status) ~ sex, data = lung))`` prints n = 228,
    number of events = 165, Likelihood ratio test = 10.63 on 1 df, p = 0.001 (exact
    0.00111), Concordance = 0.579. atol: half the last printed digit (p: rtol 1e-2
    on 0.00111 = 1 - pchisq(10.63, 1))."""
    res = cox.fit_cox(lung[["sex"]].astype(float), lung["time"], lung["status"])
    s = cox.model_summary(res).set_index("quantity")["value"]
    assert s["patients (complete cases)"] == 228 and s["events"] == 165
    assert s["events per variable"] == 165.0
    assert s["LR test chi2"] == pytest.approx(10.63, abs=5e-3)
    assert s["LR test df"] == 1
    assert s["LR test p"] == pytest.approx(0.00111, rel=1e-2)
    assert s["C-index (Harrell, apparent)"] == pytest.approx(0.579, abs=5e-4)
