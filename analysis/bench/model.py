"""Benchmark of the recurrence model: the paper's procedure and the nested estimate.

Synthetic planted tables of n x 110 (Table 2 names, 6 informative features, one exact
duplicate) at n = 180, 720, 2880; the paper's procedure (filter, RFECV, grid search, one
80/20 split) is timed at each n, the repeated nested CV at n = 180 (one repeat timed;
the params' repeats extrapolated linearly, since repeats are independent), and the 0.632+
bootstrap at n = 180 with 2 resamples (the apparent fit plus two grouped refits; the
params' resamples extrapolated). 07_model_eval's cost is about nested + 0.632+.

Full mode uses the default params' model section (``params/default.yaml``); quick mode
uses ``params/ci.yaml``'s (small forests, 3 folds, RFE step 10) and n = 180, 720 only.
``n_jobs`` comes from the params (2 cores by default). One timing per size (a full run is
long); the 1-minute load average is recorded, since on a shared machine it dominates.
"""

from __future__ import annotations

import os
import platform
import time

from analysis.model.evaluate import bootstrap_632plus, nested_cv
from analysis.model.fit import fit_paper_model
from analysis.params import load_params
from analysis.phantom.model_checks import synthetic_table


def _time(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(quick: bool = False) -> dict:
    """Wall times (s) of the paper's procedure by n, and of the nested estimate at n = 180."""
    params = load_params("params/ci.yaml" if quick else "params/default.yaml")
    mp = params.model
    sizes = (180, 720) if quick else (180, 720, 2880)
    out: dict = {"params": "params/ci.yaml" if quick else "params/default.yaml",
                 "n_features": 110, "n_jobs": mp.n_jobs, "cpu_count": os.cpu_count(),
                 "machine": platform.processor() or platform.machine(),
                 "paper_procedure_s": {}, "n_selected": {}}
    # warm-up: start the worker processes once, outside the timings
    warm = synthetic_table(60, n_informative=2, n_noise=4, seed=0)
    fit_paper_model(warm.X, warm.y, mp.model_copy(update={"rfe_n_estimators": 5,
                                                          "grid_n_estimators": [5]}),
                    params.seed)
    out["load_average_1min_before"] = round(os.getloadavg()[0], 2)
    for n in sizes:
        st = synthetic_table(n, n_informative=6, n_noise=103, effect=1.5, seed=n)
        dt, model = _time(lambda st=st: fit_paper_model(st.X, st.y, mp, params.seed))
        out["paper_procedure_s"][str(n)] = round(dt, 2)
        out["n_selected"][str(n)] = len(model.selected)
    t = out["paper_procedure_s"]
    out["growth_ratio_vs_180"] = {k: round(v / t["180"], 2) for k, v in t.items()}
    st = synthetic_table(180, n_informative=6, n_noise=103, effect=1.5, seed=180)
    one = mp.model_copy(update={"nested_repeats": 1})
    dt, _ = _time(lambda: nested_cv(st.X, st.y, one, params.seed, progress=False))
    out["nested_one_repeat_s_n180"] = round(dt, 2)
    out["nested_outer_folds"] = mp.nested_outer_folds
    out["nested_repeats_in_params"] = mp.nested_repeats
    out["nested_all_repeats_s_n180_extrapolated"] = round(dt * mp.nested_repeats, 1)
    dt, _ = _time(lambda: bootstrap_632plus(st.X, st.y, mp, params.seed, n_boot=2,
                                            progress=False))
    out["bootstrap_632plus_2_resamples_s_n180"] = round(dt, 2)
    per = dt / 3  # the apparent fit and two refits, of about equal cost
    out["bootstrap_632plus_all_resamples_s_n180_extrapolated"] = round(
        per * (1 + mp.n_632plus_bootstrap), 1)
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    return out
