"""The phantom reproduces Table 4's per-level relapse counts in expectation.

A large cohort (20 phantom clinical tables of 180, so every Table 3 count is exact in
each) gets outcomes from the planted model (deaths competing, baseline set for 94 / 180
failures); for each level of sex, age >= 60, T stage, smoking index and diameter its
mean relapse count per 180 is compared with the paper's (:func:`table4_targets`, the
paper's counts rescaled to 94 relapses). The paper's count is itself one draw of 180:
the tolerance is its binomial SD plus that of our mean over 20 cohorts.

Measured (this seed): every |z| < 0.5 except diameter, < 5 cm 37.2 vs 31.0 (z = 1.33)
and >= 5 cm 58.0 vs 63.0 (z = -1.23): the paper's diameter contrast cannot be reached
fully with an adjusted HR of 1.635 (analysis.phantom.outcomes says why).

Fault this guards against (injected once): the phantom before this calibration
(clinical HRs sex 1.8, age 1.35, smoking > 400 1.5, no T-stage term, all T2 under 5 cm,
sex independent of size) gives T1 14.1 relapses per 180 vs the paper's 6 (z = 3.64),
T2 21.2 vs 32 (z = -3.28), never-smokers 24.6 vs 13.7 (z = 3.26), < 5 cm 45.9 vs 31
(z = 3.17), women 19.1 vs 12 (z = 2.29): the test fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from analysis.phantom import clinical
from analysis.phantom import outcomes as O

N_COHORTS = 20


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    tab = pd.concat([clinical.sample_clinical(180, rng) for _ in range(N_COHORTS)],
                    ignore_index=True)
    n = len(tab)
    # partition features as the planted model's pool (independent of the clinical table)
    tab["RgtvLN_13"] = rng.beta(0.5, 2.0, n)
    tab["RgtvLN_14"] = rng.beta(0.5, 2.0, n)
    tab["RctvLN_7"] = rng.uniform(0.0, 1.0, n)
    tab["n_LN_GTVnd"] = rng.integers(0, 6, n).astype(float)
    coefs = O.planted_coefficients(1.635)
    lp = O.linear_predictor(O.clinical_design(tab).join(tab[list(O.PARTITION_BETA)]), coefs)
    scale = O.calibrate_scale(lp, death=O.DEATH_MODEL)
    truth = {"model": O.model_description(coefs, scale)}
    return tab.join(O.sample_outcomes(tab, truth, np.random.default_rng(1)))


def test_table4_counts_within_sampling_error(cohort):
    targets = O.table4_targets(180)
    rows = []
    for var in O.TABLE4_MATCHED:
        for lv, want in targets[var].items():
            m = (cohort[var].astype(str) == lv).to_numpy()
            n_lv = m.sum() / N_COHORTS
            got = cohort.loc[m, "lc_event"].sum() / N_COHORTS
            p = want / n_lv
            sd = math.sqrt(n_lv * p * (1 - p) * (1 + 1 / N_COHORTS))
            rows.append((var, lv, got, want, (got - want) / sd))
    z = pd.DataFrame(rows, columns=["variable", "level", "phantom", "paper", "z"])
    assert (z["z"].abs() < 2).all(), z


def test_adjusted_diameter_hr_still_planted(cohort):
    """Cox on every planted covariate (deaths censor local failure) over 3600 patients:
    the diameter log HR within 3 SE of log(1.635)."""
    covs = list(O.planted_coefficients(1.635))
    X = O.clinical_design(cohort).join(cohort[list(O.PARTITION_BETA)])[covs]
    fit = CoxPHFitter().fit(X.assign(T=cohort["lc_time_months"], E=cohort["lc_event"]),
                            "T", "E")
    b, se = fit.params_["diameter_ge_5cm"], fit.standard_errors_["diameter_ge_5cm"]
    assert abs(b - math.log(1.635)) < 3 * se
