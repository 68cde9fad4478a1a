"""The phantom's clinical table: Table 3 counts exactly, plausible joint structure.

Every categorical variable of Table 3 (:data:`analysis.paper.TABLE3`) is drawn with its
exact counts at n = 180; at another n the counts are scaled by largest remainders
(:func:`scaled_counts`). The diameter groups (84 of 180 at >= 5 cm) and the age groups
(82 under 60) come from the level totals of Table 4. Joint structure, which Table 3
leaves free, is set as a clinician would expect:

- T, N, M and stage agree (stage I = T1-2 N0 M0, II = T1-2 N1 M0, IV = M1, the
  remaining N0 / N1 patients are T3-4, stage III); when scaled counts at small n make
  this impossible the marginal counts win and the rest is filled at random.
- Diameter follows T: T1 1.3-3.0 cm, T2 3.0-4.6 cm, T3 5.3-7.0 cm, T4 either >= 5.3 cm
  (enough to reach the >= 5 cm total) or 2.5-4.6 cm (mediastinal invasion; these are
  central). Diameters keep 0.3 cm away from the 5 cm cut so a mask measured on a
  4 mm grid falls on the same side.
- Smokers are mostly men (a latent score ranks patients before the exact counts are
  handed out); large and T4 tumours are more often central.
- Ages: exactly ``AGE_MEDIAN`` as the median and ``AGE_MEAN`` as the mean (integers;
  the mean is exact to the year total), skewed to the right as the paper's 60 / 62
  implies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import clinical as cohort
from analysis import paper

GE5_CM = (5.3, 11.7)
LT5_MAX_CM = 4.6
#: share of T2 tumours that are 5-7 cm (T2b of the 7th TNM edition, which the paper's
#: 2012-2019 cohort was staged with; see analysis.phantom.outcomes for why it is needed)
T2B_SHARE = 0.7
#: how strongly a >= 5 cm tumour raises the latent score that hands out "male" (0: sex
#: independent of size)
SEX_DIAMETER_LINK = 2.0


def scaled_counts(counts: dict[str, int], n: int) -> dict[str, int]:
    """Scale level counts to total ``n`` by largest remainders (ties: table order).

    >>> scaled_counts({"a": 130, "b": 50}, 18)
    {'a': 13, 'b': 5}
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    total = sum(counts.values())
    raw = {k: v * n / total for k, v in counts.items()}
    out = {k: int(np.floor(r)) for k, r in raw.items()}
    left = n - sum(out.values())
    order = sorted(raw, key=lambda k: (-(raw[k] - out[k]), list(counts).index(k)))
    for k in order[:left]:
        out[k] += 1
    return out


def _assign(counts: dict[str, int], score: np.ndarray) -> np.ndarray:
    """Hand out exact level counts: highest ``score`` gets the first level, and so on."""
    order = np.argsort(-score, kind="stable")
    out = np.empty(len(score), dtype=object)
    pos = 0
    for level, c in counts.items():
        out[order[pos:pos + c]] = level
        pos += c
    return out


def _tnm(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """T, N, M and stage with the scaled Table 3 counts, consistent where possible."""
    t_left = dict(scaled_counts(paper.TABLE3["t_stage"], n))
    n_left = dict(scaled_counts(paper.TABLE3["n_stage"], n))
    stages = scaled_counts(paper.TABLE3["tnm_stage"], n)

    def take(pool: dict[str, int], allowed: tuple[str, ...]) -> str:
        ok = [k for k in allowed if pool[k] > 0] or [k for k in pool if pool[k] > 0]
        weights = np.array([pool[k] for k in ok], dtype=float)
        k = ok[rng.choice(len(ok), p=weights / weights.sum())]
        pool[k] -= 1
        return k

    rows: list[tuple[str, str, str, str]] = []
    for _ in range(stages["I"]):
        rows.append((take(t_left, ("T1", "T2")), take(n_left, ("N0",)), "M0", "I"))
    for _ in range(stages["II"]):
        rows.append((take(t_left, ("T1", "T2")), take(n_left, ("N1",)), "M0", "II"))
    n_iii = stages["III"]
    n_iv = stages["IV"]
    iv_rows = []
    for _ in range(n_iv):
        iv_rows.append((take(t_left, ("T1", "T2", "T3", "T4")), take(n_left, ("N3", "N2")),
                        "M1", "IV"))
    for _ in range(n_iii):
        if n_left["N0"] + n_left["N1"] > 0:
            nn = take(n_left, ("N0", "N1"))
            tt = take(t_left, ("T3", "T4"))
        else:
            nn = take(n_left, ("N2", "N3"))
            tt = take(t_left, ("T1", "T2", "T3", "T4"))
        rows.append((tt, nn, "M0", "III"))
    rows += iv_rows
    arr = np.array(rows, dtype=object).reshape(-1, 4)
    arr = arr[rng.permutation(len(arr))]
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Integer ages with median ``paper.AGE_MEDIAN`` and mean ``paper.AGE_MEAN`` (exact
    year total), ``scaled_counts`` of Table 4's < 60 group below 60."""
    med, mean = paper.AGE_MEDIAN, paper.AGE_MEAN
    groups = {k: sum(v) for k, v in paper.TABLE4["age_ge_60"]["levels"].items()}
    n_lt = scaled_counts(groups, n)["<60"]
    n_lt = min(n_lt, (n - 1) // 2) if n > 1 else 0
    n_med = n // 2 - n_lt + 1 if n > 1 else 1
    n_up = n - n_lt - n_med
    below = np.clip(med - 1 - np.rint(rng.gamma(2.0, 3.0, n_lt)), 32, med - 1)
    target_up = mean * n - below.sum() - med * n_med
    if n_up > 0:
        e = rng.gamma(1.5, 4.0, n_up) + 0.1
        need = target_up / n_up - (med + 1)
        e = e * max(need, 0.0) / e.mean()
        up = np.clip(np.rint(med + 1 + e), med + 1, 89)
        diff = int(round(target_up - up.sum()))
        i = 0
        idx = rng.permutation(n_up)
        while diff != 0 and i < 100 * n_up:
            j = idx[i % n_up]
            step = 1 if diff > 0 else -1
            if med + 1 <= up[j] + step <= 89:
                up[j] += step
                diff -= step
            i += 1
    else:
        up = np.zeros(0)
    ages = np.concatenate([below, np.full(n_med, med), up]).astype(int)
    return ages[rng.permutation(n)]


def sample_clinical(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A phantom clinical table in canonical columns (docs/data_layout.md section 4).

    Parameters
    ----------
    n : int
        Patients; at 180 every Table 3 count is exact, otherwise scaled by largest
        remainders.
    rng : numpy Generator

    Returns
    -------
    DataFrame with ``pid, center, age, sex, histology, location, t_stage, n_stage,
    m_stage, tnm_stage, paraneoplastic, svc_syndrome, smoking_index, chemo, diameter_cm,
    age_ge_60, smoking_bin, diameter_ge_5cm`` and the phantom's own ``side`` (R / L) and
    ``lobe`` (upper / lower).
    """
    if n < 1:
        raise ValueError(f"sample_clinical: n must be >= 1, got {n}")
    T3 = paper.TABLE3

    def perm(var: str) -> np.ndarray:
        return _assign(scaled_counts(T3[var], n), rng.random(n))

    t, nst, m, stage = _tnm(rng, n)
    # diameters from T, with the >= 5 cm total of Table 4
    ge5_total = scaled_counts({k: sum(v) for k, v in
                               paper.TABLE4["diameter_ge_5cm"]["levels"].items()}, n)[">=5cm"]
    n_t3 = int((t == "T3").sum())
    t2_idx = np.flatnonzero(t == "T2")
    n_t2_big = int(np.clip(round(T2B_SHARE * len(t2_idx)), 0, max(ge5_total - n_t3, 0)))
    big_t2 = set(rng.permutation(t2_idx)[:n_t2_big].tolist())
    t4_idx = np.flatnonzero(t == "T4")
    n_t4_big = int(np.clip(ge5_total - n_t3 - n_t2_big, 0, len(t4_idx)))
    big_t4 = set(rng.permutation(t4_idx)[:n_t4_big].tolist())
    diam = np.empty(n)
    for i in range(n):
        if t[i] == "T1":
            diam[i] = rng.uniform(1.3, 3.0)
        elif i in big_t2:
            diam[i] = rng.uniform(GE5_CM[0], 7.0)
        elif t[i] == "T2":
            diam[i] = rng.uniform(3.0, LT5_MAX_CM)
        elif t[i] == "T3":
            diam[i] = rng.uniform(GE5_CM[0], 7.0)
        elif i in big_t4:
            diam[i] = GE5_CM[0] + rng.gamma(2.0, 1.0) * 0.9
        else:
            diam[i] = rng.uniform(2.5, LT5_MAX_CM)
    diam = np.round(np.clip(diam, 1.3, GE5_CM[1]), 2)
    # sex and smoking after the tumour: men (and so smokers) more often have >= 5 cm
    big = cohort.is_diameter_ge_5cm(diam).astype(float)
    sex = _assign(scaled_counts(T3["sex"], n), SEX_DIAMETER_LINK * big + rng.normal(size=n))
    male = (sex == "male").astype(float)
    smoking_bin = _assign({k: v for k, v in reversed(scaled_counts(T3["smoking_bin"], n).items())},
                          2.0 * male + rng.normal(size=n))
    # location: T4 under 5 cm is central (mediastinal invasion); bigger / T4 more central
    score = 1.2 * (t == "T4") + 0.4 * (diam >= 5) + rng.normal(size=n)
    score[(t == "T4") & (diam < 5)] += 100.0
    location = _assign(scaled_counts(T3["location"], n), score)
    ages = _ages(rng, n)
    # smoking index: cigarettes a day x years
    si = np.zeros(n)
    for i, b in enumerate(smoking_bin):
        if b == "0-400":
            si[i] = float(rng.choice([5, 10, 15, 20]) * rng.integers(5, 21))
            si[i] = min(si[i], 400.0)
        elif b == ">400":
            si[i] = float(rng.choice([20, 20, 25, 30, 40]) * rng.integers(21, 46))
    df = pd.DataFrame({
        "pid": [f"PH{i + 1:04d}" for i in range(n)],
        "center": "phantom",
        "age": ages.astype(float),
        "sex": sex,
        "histology": perm("histology"),
        "location": location,
        "t_stage": t, "n_stage": nst, "m_stage": m, "tnm_stage": stage,
        "paraneoplastic": perm("paraneoplastic"),
        "svc_syndrome": perm("svc_syndrome"),
        "smoking_index": si,
        "chemo": perm("chemo"),
        "diameter_cm": diam,
    })
    df["age_ge_60"] = cohort.age_ge_60(df["age"]).astype(str)
    df["smoking_bin"] = cohort.smoking_bin(df["smoking_index"]).astype(str)
    df["diameter_ge_5cm"] = cohort.diameter_ge_5cm(df["diameter_cm"]).astype(str)
    df["side"] = np.where(rng.random(n) < 0.58, "R", "L")
    df["lobe"] = np.where(rng.random(n) < 0.6, "upper", "lower")
    for c in ("sex", "histology", "location", "t_stage", "n_stage", "m_stage", "tnm_stage",
              "paraneoplastic", "svc_syndrome", "chemo"):
        df[c] = df[c].astype(str)
    return df
