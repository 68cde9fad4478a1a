"""The planted local-failure model and the recurrence sites it produces.

Model (written to ``truth.json`` under ``model``)
-------------------------------------------------
Proportional hazards with a Weibull baseline::

    h(t | x) = h0(t) exp(beta . x),     H0(t) = (t / scale_months) ** shape

Covariates ``x`` (all named as in ``truth["model"]["coefficients"]``):

==================  ========================================  ===================
name                definition                                hazard ratio
==================  ========================================  ===================
diameter_ge_5cm     planned primary diameter >= 5 cm           params (1.635)
sex_male            sex == male                                1.84
age_ge_60           age >= 60                                  2.18
t_stage_T2/T3/T4    T stage vs T1                              5.34 / 1.98 / 3.70
smoking_0_400       0 < smoking index <= 400                   4.34
smoking_gt_400      smoking index > 400                        3.64
RgtvLN_13           share of 10R taken by gross disease        exp(1.4) per unit
RgtvLN_14           share of 10L taken by gross disease        exp(1.4) per unit
RctvLN_7            share of station 7 covered by the CTV      exp(-0.8) per unit
n_LN_GTVnd          stations touched by GTVnd                  exp(0.10) per station
==================  ========================================  ===================

The partition features are the package's own (``analysis.partition``, GTV = GTV ∪ GTVnd)
computed on the phantom's masks and reference stations, so a model that finds them
is right. They are the ``informative_features`` of truth.json; the other 106 carry no
signal beyond their correlation with these.

Censoring: the follow-up of every patient is uniform on 12-60 months (median 36, the
paper's median follow-up; drawn stratified, so a cohort's median is 36 within a few
tenths of a month); a failure at ``T <= C`` is observed at ``T`` and follow-up
continues to ``C``. In the generated cohort the baseline scale is then set so that
exactly ``round(94 / 180 * n)`` included patients fail (94 at n = 180, the outcome line
of SPEC) given the drawn ``E`` and ``C`` (:func:`scale_for_event_count`; a common factor
of every hazard, so the hazard ratios are untouched). :func:`sample_outcomes` draws fresh
replicates with that scale, whose failure counts then vary around it.

Deaths (competing with local failure)
------------------------------------
Every patient also has a death time ``D``, Weibull with median :data:`OS_MEDIAN_MONTHS`
(25 months) and shape :data:`OS_SHAPE`, the same for every patient and independent of
``T`` (source: CONVERT, Faivre-Finn et al., Lancet Oncol 2017, median OS 25 months with
66 Gy once daily, 30 months with 45 Gy twice daily, limited-stage SCLC). Follow-up ends
at ``min(C, D)``; a local failure is observed when ``T <= min(C, D)``; a death without a
local failure before it is the competing event. Because ``D`` is independent of ``T``,
the cause-specific hazard of local failure is still the planted Cox model (a Cox fit
with deaths censored estimates the planted HRs), while 1 - KM of local failure
overstates the share who fail compared with the cumulative incidence. The 94 failures
are calibrated with the deaths in place (:func:`scale_for_event_count` on
``min(C, D)``), so the baseline hazard of local failure is higher than without deaths.

What the generator matches, and what it cannot
----------------------------------------------
Matched: Table 3 counts (exact), the >= 5 cm total (84 of 180), median age 60 and mean
62, exactly 94 failures, the planted *conditional* HR of 1.635 for diameter, about 170
recurrence sites whose station counts follow Table 5 in expectation (split by initial
involvement as Table 5 splits them), and Table 4's relapse counts per level of sex, age
>= 60, T stage, smoking index and diameter *in expectation* (tests/test_phantom_table4.py:
per 180 patients, every level within 0.5 binomial SD of the paper except diameter, < 5 cm
37 vs 31 and >= 5 cm 58 vs 63, within 1.4 SD). How: the clinical HRs
(:data:`CLINICAL_HR`, T stage included) are fitted to those counts with the diameter HR
held at 1.635 (:func:`fit_clinical_hazard_ratios`), and the crude diameter contrast comes
from covariates correlated with diameter: 70 % of T2 tumours are 5-7 cm (T2b of the 7th
TNM edition) and men more often have tumours >= 5 cm (``analysis.phantom.clinical``).

Where the paper contradicts itself, and what the phantom matches instead:

- Table 4's T-stage and diameter rows cannot both hold if T1 and T2 tumours are under
  5 cm (8th TNM edition): T1 + T2 have 6 + 32 = 38 relapses, but all < 5 cm tumours only
  31. With the 7th edition (T2b = 5-7 cm) they can, so the phantom stages T2 that way.
- The paper's diameter contrast (63 / 84 vs 31 / 96 relapses) beside an *adjusted* HR of
  1.635 needs diameter to travel with other strong risk factors; with the T-stage and sex
  counts fixed the phantom gets as far as 58 / 84 vs 37 / 96 (it keeps the HR at 1.635).
- Figure 3's 3-year local control of 86.7 % vs 61.1 % does not sit with 94 failures in
  180 patients at a median follow-up of 36 months: it means about 13 + 33 = 46 failures
  by 3 years (96 x 13.3 % + 84 x 38.9 %), so 48 of the 94 would come after 3 years,
  when half the patients are no longer followed and local failure in SCLC comes early.
  The phantom matches the counts, not Figure 3's percentages.
- The smoking rows add up to 96 relapses, not 94; the phantom matches them rescaled to
  94 (:func:`table4_targets`). The SVC and chemotherapy rows do not add up to 94 either
  (``analysis.paper.CONFLICTS``); they are not matched.
- Appendix 2's 100 % recurrence after an involved 10R / 10L cannot come from a
  proportional-hazards model with censoring; involved hilar stations raise the hazard
  (``RgtvLN_13`` / ``RgtvLN_14``) and attract recurrence sites (below) instead.

Recurrence sites
----------------
Each station recurs independently in a failing patient, with one probability when the
gross disease touched it at the start and another otherwise (:func:`site_probabilities`),
so that the expected count per station, split by initial involvement, is Table 5's
("GTV affected" / "CTV-GTV"); a failing patient without any gets one. With most failing
patients' 10R involved this also gives Appendix 2's near-certain recurrence in an
involved 10R (among failing patients). The sites come to about 170 in 94 failing patients.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import clinical as cohort
from analysis import paper

WEIBULL_SHAPE = 1.2
CENSOR_MONTHS = (12.0, 60.0)
#: overall survival of the phantom: Weibull with this median (months) and shape, the same
#: for every patient and independent of local failure. Source of the rate: CONVERT
#: (Faivre-Finn et al., Lancet Oncol 2017;18:1116-25), limited-stage SCLC after
#: concurrent chemoradiotherapy: median OS 30 months with 45 Gy twice daily and 25 months
#: with 66 Gy once daily; we take 25 (the paper's cohort includes stage III-IV patients
#: and sequential chemotherapy, so it cannot do better than CONVERT's arms).
OS_MEDIAN_MONTHS = 25.0
#: Weibull shape of the death times (> 1: the death hazard rises over the first years)
OS_SHAPE = 1.3
TARGET_EVENT_FRACTION = paper.N_RECURRED / paper.N_PATIENTS
#: clinical hazard ratios, fitted so that the expected relapse count of every level of
#: sex, age >= 60, T stage, smoking index and diameter matches Table 4 (with the diameter
#: HR held at 1.635 and the deaths in place): :func:`fit_clinical_hazard_ratios` on 20 x
#: 180 patients of ``sample_clinical`` (seed 0) with a partition-feature term drawn as in
#: tests/test_phantom_table4.py, rounded to 2 decimals.
CLINICAL_HR: dict[str, float] = {"sex_male": 1.84, "age_ge_60": 2.18, "t_stage_T2": 5.34,
                                 "t_stage_T3": 1.98, "t_stage_T4": 3.70, "smoking_0_400": 4.34,
                                 "smoking_gt_400": 3.64}
PARTITION_BETA: dict[str, float] = {"RgtvLN_13": 1.4, "RgtvLN_14": 1.4, "RctvLN_7": -0.8,
                                    "n_LN_GTVnd": 0.10}
COVARIATE_DEFINITIONS: dict[str, str] = {
    "diameter_ge_5cm": "1 if the primary diameter is >= 5 cm",
    "sex_male": "1 if male",
    "age_ge_60": "1 if age >= 60 years",
    "smoking_gt_400": "1 if smoking index > 400",
    "smoking_0_400": "1 if 0 < smoking index <= 400",
    "t_stage_T2": "1 if T2 (reference T1)",
    "t_stage_T3": "1 if T3 (reference T1)",
    "t_stage_T4": "1 if T4 (reference T1)",
    "RgtvLN_13": "partition feature (GTV = GTV ∪ GTVnd), per unit ratio",
    "RgtvLN_14": "partition feature (GTV = GTV ∪ GTVnd), per unit ratio",
    "RctvLN_7": "partition feature, per unit ratio",
    "n_LN_GTVnd": "partition feature, per station",
}


def planted_coefficients(hr_diameter: float) -> dict[str, float]:
    """Log hazard ratios of the planted model, by covariate name."""
    if hr_diameter <= 0:
        raise ValueError(f"planted_hr_diameter must be > 0, got {hr_diameter}")
    coefs = {"diameter_ge_5cm": math.log(hr_diameter)}
    coefs.update({k: math.log(v) for k, v in CLINICAL_HR.items()})
    coefs.update(PARTITION_BETA)
    return coefs


def clinical_design(table: pd.DataFrame) -> pd.DataFrame:
    """0/1 clinical covariates of the planted model from canonical columns.

    Accepts either the raw columns (``diameter_cm``, ``age``, ``smoking_index``) or the
    derived ones (``diameter_ge_5cm``, ``age_ge_60``, ``smoking_bin``); ``sex`` and
    ``t_stage`` always.
    """
    def col(raw: str, derived: str, is_upper, upper: str) -> np.ndarray:
        # the cut-offs are cohort's (one definition): raw values are binned by it
        if raw in table:
            return is_upper(table[raw].to_numpy(dtype=float)).astype(float)
        if derived in table:
            return (table[derived].astype(str) == upper).to_numpy(dtype=float)
        raise KeyError(f"clinical_design: table needs column {raw!r} or {derived!r}")

    for need in ("sex", "t_stage"):
        if need not in table:
            raise KeyError(f"clinical_design: table needs column {need!r}")
    if "smoking_index" in table:
        si = table["smoking_index"].to_numpy(dtype=float)
        smoke_low = ((si > 0) & ~cohort.is_smoking_gt_400(si)).astype(float)
    elif "smoking_bin" in table:
        smoke_low = (table["smoking_bin"].astype(str) == "0-400").to_numpy(dtype=float)
    else:
        raise KeyError("clinical_design: table needs column 'smoking_index' or 'smoking_bin'")
    t_stage = table["t_stage"].astype(str)
    return pd.DataFrame({
        "diameter_ge_5cm": col("diameter_cm", "diameter_ge_5cm", cohort.is_diameter_ge_5cm,
                               ">=5cm"),
        "sex_male": (table["sex"].astype(str) == "male").to_numpy(dtype=float),
        "age_ge_60": col("age", "age_ge_60", cohort.is_age_ge_60, ">=60"),
        "smoking_gt_400": col("smoking_index", "smoking_bin", cohort.is_smoking_gt_400,
                              ">400"),
        "smoking_0_400": smoke_low,
        "t_stage_T2": (t_stage == "T2").to_numpy(dtype=float),
        "t_stage_T3": (t_stage == "T3").to_numpy(dtype=float),
        "t_stage_T4": (t_stage == "T4").to_numpy(dtype=float),
    }, index=table.index)


def linear_predictor(design: pd.DataFrame, coefs: dict[str, float]) -> np.ndarray:
    """``beta . x`` for every row of ``design`` (columns named as ``coefs``)."""
    missing = [k for k in coefs if k not in design]
    if missing:
        raise KeyError(f"linear_predictor: design lacks {missing}")
    return sum(design[k].to_numpy(dtype=float) * b for k, b in coefs.items())


def failure_probability(lp: np.ndarray, scale_months: float, t_months: np.ndarray | float,
                        shape: float = WEIBULL_SHAPE) -> np.ndarray:
    """``P(T <= t | lp) = 1 - exp(-(t / scale) ** shape * exp(lp))``."""
    return 1.0 - np.exp(-(np.asarray(t_months, float) / scale_months) ** shape * np.exp(lp))


def death_survival(t_months, median_months: float = OS_MEDIAN_MONTHS,
                   shape: float = OS_SHAPE) -> np.ndarray:
    """``P(D > t) = exp(-ln 2 (t / median) ** shape)`` (Weibull with that median)."""
    return np.exp(-math.log(2.0) * (np.asarray(t_months, float) / median_months) ** shape)


def draw_death_times(n: int, rng: np.random.Generator, median_months: float = OS_MEDIAN_MONTHS,
                     shape: float = OS_SHAPE) -> np.ndarray:
    """Death times (months) from :func:`death_survival`: ``D = median (E / ln 2) **
    (1 / shape)`` with ``E`` unit exponential, so that ``P(D > median) = 1/2``."""
    return median_months * (rng.exponential(size=n) / math.log(2.0)) ** (1.0 / shape)


def observed_failure_probability(lp: np.ndarray, scale_months: float,
                                 censor: tuple[float, float] = CENSOR_MONTHS,
                                 shape: float = WEIBULL_SHAPE,
                                 death: dict | None = None) -> np.ndarray:
    """``P(T <= C | lp)`` with ``C`` uniform on ``censor`` (midpoint rule, 200 nodes).

    With ``death`` (``{"median_months", "shape"}``, independent death times ``D``) it is
    ``P(T <= min(C, D)) = E_C[ integral_0^C S_D(t) dF_T(t) ]``, integrated on 600 steps
    of ``censor[1] / 600`` months (a local failure after death is never observed).
    """
    c = censor[0] + (np.arange(200) + 0.5) / 200 * (censor[1] - censor[0])
    lp = np.asarray(lp, dtype=float)
    if death is None:
        return failure_probability(lp[:, None], scale_months, c[None, :], shape).mean(1)
    grid = np.linspace(0.0, censor[1], 601)
    f = failure_probability(lp[:, None], scale_months, grid[None, :], shape)
    s_mid = death_survival(0.5 * (grid[1:] + grid[:-1]), death["median_months"],
                           death["shape"])
    g = np.concatenate([np.zeros((lp.size, 1)), np.cumsum(np.diff(f, axis=1) * s_mid, 1)], 1)
    idx = np.clip(np.searchsorted(grid, c), 0, grid.size - 1)
    return g[:, idx].mean(1)


def calibrate_scale(lp: np.ndarray, target_fraction: float = TARGET_EVENT_FRACTION,
                    censor: tuple[float, float] = CENSOR_MONTHS,
                    shape: float = WEIBULL_SHAPE, death: dict | None = None) -> float:
    """Baseline scale (months) giving an expected observed failure share of
    ``target_fraction`` (with competing deaths when ``death`` is given)."""
    if not 0 < target_fraction < 1:
        raise ValueError(f"target_fraction must be in (0, 1), got {target_fraction}")
    lo, hi = math.log(0.1), math.log(1e5)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        frac = observed_failure_probability(lp, math.exp(mid), censor, shape, death).mean()
        lo, hi = (mid, hi) if frac > target_fraction else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def draw_latent(lp: np.ndarray, rng: np.random.Generator,
                censor: tuple[float, float] = CENSOR_MONTHS) -> tuple[np.ndarray, np.ndarray]:
    """Unit exponentials ``E`` and follow-up times ``C`` (months) for each row.

    ``C`` is uniform on ``censor``, drawn stratified (one draw in each of ``n`` equal bins,
    in random order): each ``C`` is uniform and the cohort's median follow-up sits at the
    middle of ``censor``.
    """
    lp = np.asarray(lp, dtype=float)
    e = rng.exponential(size=lp.shape)
    n = lp.size
    u = (rng.permutation(n) + rng.random(n)) / max(n, 1)
    c = (censor[0] + (censor[1] - censor[0]) * u).reshape(lp.shape)
    return e, c


def outcomes_from_latent(lp: np.ndarray, e: np.ndarray, c: np.ndarray, scale_months: float,
                         shape: float = WEIBULL_SHAPE, death_months: np.ndarray | None = None,
                         ) -> pd.DataFrame:
    """``T = scale (E exp(-lp)) ** (1 / shape)`` (Weibull PH, as ``H(T) = E``), then
    ``lc_time_months`` (min(T, C)), ``lc_event`` (T <= C), ``followup_months`` (C) and
    ``failure_time_months`` (T, latent).

    With death times ``D`` (``death_months``) follow-up ends at ``min(C, D)``: a local
    failure is observed when ``T <= min(C, D)``; ``os_event`` is ``D <= C``,
    ``os_time_months`` ``min(C, D)``, and ``death_without_lf`` marks a death with no
    local failure before it (the competing event). Example: T = 30, C = 40, D = 20 ->
    no local failure, death at 20 (competing); T = 10, C = 40, D = 20 -> failure at 10,
    death at 20.
    """
    t = scale_months * (np.asarray(e) * np.exp(-np.asarray(lp))) ** (1.0 / shape)
    c = np.asarray(c, dtype=float)
    if death_months is None:
        event = t <= c
        return pd.DataFrame({"lc_time_months": np.where(event, t, c),
                             "lc_event": event.astype(int), "followup_months": c,
                             "failure_time_months": t})
    d = np.asarray(death_months, dtype=float)
    end = np.minimum(c, d)
    event = t <= end
    died = d <= c
    return pd.DataFrame({"lc_time_months": np.where(event, t, end),
                         "lc_event": event.astype(int), "followup_months": end,
                         "failure_time_months": t, "os_event": died.astype(int),
                         "os_time_months": end,
                         "death_without_lf": (died & ~event).astype(int)})


def scale_for_event_count(lp: np.ndarray, e: np.ndarray, c: np.ndarray, n_events: int,
                          shape: float = WEIBULL_SHAPE) -> float:
    """Baseline scale giving exactly ``n_events`` failures for these latent draws.

    Row ``i`` fails when ``scale <= s_i = C_i / (E_i exp(-lp_i)) ** (1 / shape)``; the
    scale is the geometric midpoint between the ``n_events``-th and next largest ``s_i``.
    """
    si = np.sort(np.asarray(c) / (np.asarray(e) * np.exp(-np.asarray(lp))) ** (1.0 / shape))
    si = si[::-1]
    n = len(si)
    if not 0 < n_events < n:
        raise ValueError(f"n_events must be in (0, {n}), got {n_events}")
    return float(np.sqrt(si[n_events - 1] * si[n_events]))


def draw_outcomes(lp: np.ndarray, scale_months: float, rng: np.random.Generator,
                  censor: tuple[float, float] = CENSOR_MONTHS,
                  shape: float = WEIBULL_SHAPE) -> pd.DataFrame:
    """Failure and follow-up times: ``T`` Weibull-PH, ``C`` uniform on ``censor``
    (:func:`draw_latent`, :func:`outcomes_from_latent`)."""
    e, c = draw_latent(lp, rng, censor)
    return outcomes_from_latent(lp, e, c, scale_months, shape)


#: the death model as written to truth.json (``model["death"]``)
DEATH_MODEL: dict = {
    "distribution": "weibull", "median_months": OS_MEDIAN_MONTHS, "shape": OS_SHAPE,
    "depends_on": "nothing: the same for every patient, independent of local failure",
    "source": "CONVERT (Faivre-Finn et al., Lancet Oncol 2017): median OS 25 months "
              "(66 Gy once daily) and 30 months (45 Gy twice daily), limited-stage SCLC",
    "note": "follow-up ends at min(C, D); local failure observed when T <= min(C, D)",
}


def model_description(coefs: dict[str, float], scale_months: float) -> dict:
    """The planted model as written to truth.json."""
    return {
        "form": "h(t|x) = h0(t) exp(sum_k beta_k x_k); H0(t) = (t / scale_months) ** shape",
        "baseline": {"distribution": "weibull", "shape": WEIBULL_SHAPE,
                     "scale_months": scale_months},
        "coefficients": coefs,
        "hazard_ratios": {k: math.exp(b) for k, b in coefs.items()},
        "covariates": COVARIATE_DEFINITIONS,
        "censoring": {"distribution": "uniform", "low_months": CENSOR_MONTHS[0],
                      "high_months": CENSOR_MONTHS[1],
                      "note": "followup_months = C; lc_time = min(T, C)"},
        "target_event_fraction": TARGET_EVENT_FRACTION,
        "partition_gtv_definition": "union",
        "death": DEATH_MODEL,
    }


def sample_outcomes(table: pd.DataFrame, truth: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Draw a new set of outcomes for ``table`` from the planted model in ``truth``.

    Parameters
    ----------
    table : DataFrame
        Canonical clinical columns (as :func:`analysis.phantom.sample_clinical` gives).
        Columns named like the informative partition features are used when present;
        otherwise each row takes a random patient's vector from
        ``truth["partition_feature_pool"]`` (the generated cohort's values), which keeps
        their spread but not their correlation with diameter.
    truth : dict
        As :func:`analysis.phantom.load_truth` returns.
    rng : numpy Generator

    Returns
    -------
    DataFrame indexed like ``table``: ``lc_time_months``, ``lc_event``,
    ``followup_months``, ``linear_predictor``; with the truth's death model also
    ``os_event``, ``os_time_months``, ``death_without_lf`` (deaths drawn after the
    local-failure draws).
    """
    model = truth["model"]
    coefs = model["coefficients"]
    design = clinical_design(table)
    part = [k for k in coefs if k not in design]
    if all(k in table for k in part):
        for k in part:
            design[k] = table[k].to_numpy(dtype=float)
    else:
        pool = pd.DataFrame(truth["partition_feature_pool"])
        pick = rng.integers(len(pool), size=len(table))
        for k in part:
            design[k] = pool[k].to_numpy(dtype=float)[pick]
    lp = linear_predictor(design, coefs)
    cens = (model["censoring"]["low_months"], model["censoring"]["high_months"])
    e, c = draw_latent(lp, rng, cens)
    death = model.get("death")
    d = None if death is None else draw_death_times(len(lp), rng, death["median_months"],
                                                    death["shape"])
    out = outcomes_from_latent(lp, e, c, model["baseline"]["scale_months"],
                               model["baseline"]["shape"], d)
    out.index = table.index
    out["linear_predictor"] = lp
    return out.drop(columns="failure_time_months")


def site_probabilities(involved: list[list[str]]) -> dict[str, tuple[float, float]]:
    """Station -> (P(site) if initially involved, P(site) if not), from Table 5.

    ``involved`` lists, for each failing patient, the stations its gross disease touched.
    With ``n`` failing patients of whom ``n_inv(s)`` have ``s`` involved,
    ``P_inv(s) = min(1, g_s (n / 94) / n_inv(s))`` and
    ``P_not(s) = min(1, c_s (n / 94) / (n - n_inv(s)))``, where ``g_s`` / ``c_s`` are
    Table 5's "GTV affected" / "CTV-GTV" counts, so the expected count of each station,
    split by initial involvement, is Table 5's scaled to ``n`` (where no probability is
    capped at 1). Example: 2 failing patients, one with 10R involved: ``P_inv(10R) =
    min(1, 50 x 2/94 / 1) = 1`` and ``P_not(10R) = 0``.
    """
    n = len(involved)
    scale = n / paper.N_RECURRED
    out = {}
    for s, row in paper.TABLE5.items():
        n_inv = sum(s in inv for inv in involved)
        out[s] = (min(1.0, row[3] * scale / max(n_inv, 1)),
                  min(1.0, row[4] * scale / max(n - n_inv, 1)))
    return out


def draw_sites(rng: np.random.Generator, involved: list[str],
               probs: dict[str, tuple[float, float]],
               available: list[str] | None = None) -> list[str]:
    """Stations of one failing patient's recurrences (distinct, at least one).

    Each available station recurs independently with its probability from
    :func:`site_probabilities`; when none does, one is drawn with weights equal to the
    probabilities (a failing patient has at least one site).
    """
    names = [s for s in probs if available is None or s in available]
    p = np.array([probs[s][0] if s in involved else probs[s][1] for s in names])
    if p.sum() <= 0:
        return []
    hit = rng.random(len(names)) < p
    if not hit.any():
        hit[rng.choice(len(names), p=p / p.sum())] = True
    return [s for s, h in zip(names, hit, strict=True) if h]


#: Table 4 variables whose per-level relapse counts the phantom matches in expectation
TABLE4_MATCHED: tuple[str, ...] = ("sex", "age_ge_60", "t_stage", "smoking_bin",
                                   "diameter_ge_5cm")


def table4_targets(n: int) -> dict[str, dict[str, float]]:
    """Table 4's relapse counts per level, rescaled to ``n`` patients and to 94 / 180
    relapses in each variable (the smoking rows add up to 96 in the paper)."""
    out = {}
    for var in TABLE4_MATCHED:
        levels = paper.TABLE4[var]["levels"]
        total = sum(r for r, _ in levels.values())
        out[var] = {lv: r / total * TARGET_EVENT_FRACTION * n for lv, (r, _) in levels.items()}
    return out


def fit_clinical_hazard_ratios(table: pd.DataFrame, partition_lp: np.ndarray,
                               hr_diameter: float = 1.635) -> dict[str, float]:
    """Clinical HRs whose expected relapse counts per level match :func:`table4_targets`.

    Least squares on ``(expected - target) / sqrt(target)`` over the levels of
    :data:`TABLE4_MATCHED`, with the diameter HR held at ``hr_diameter``, the deaths of
    :data:`DEATH_MODEL` in place and the baseline scale set so that the expected total is
    94 / 180 of ``table``. ``P(T <= min(C, D) | lp)`` depends on ``lp - shape log(scale)``
    only, so it is tabulated once and interpolated.

    Returns
    -------
    dict covariate -> HR (the keys of :data:`CLINICAL_HR`).
    """
    from scipy.optimize import least_squares

    names = list(CLINICAL_HR)
    design = clinical_design(table)
    x = design[names].to_numpy(dtype=float)
    fixed = math.log(hr_diameter) * design["diameter_ge_5cm"].to_numpy() + partition_lp
    u = np.linspace(-14.0, 10.0, 961)
    g = observed_failure_probability(u, 1.0, death=DEATH_MODEL)
    targets = table4_targets(len(table))
    masks = np.array([(table[v].astype(str) == lv).to_numpy() for v in TABLE4_MATCHED
                      for lv in targets[v]], dtype=float)
    want = np.array([targets[v][lv] for v in TABLE4_MATCHED for lv in targets[v]])
    total = TARGET_EVENT_FRACTION * len(table)

    def residuals(beta: np.ndarray) -> np.ndarray:
        lp = x @ beta + fixed
        lo, hi = -30.0, 30.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if np.interp(lp + mid, u, g).sum() > total else (mid, hi)
        return (masks @ np.interp(lp + 0.5 * (lo + hi), u, g) - want) / np.sqrt(want)

    fit = least_squares(residuals, np.zeros(len(names)))
    return {k: float(math.exp(b)) for k, b in zip(names, fit.x, strict=True)}
