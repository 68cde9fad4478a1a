"""Proportional-hazards check of a fitted Cox model (scaled Schoenfeld residuals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats.cox import CoxResult


def ph_test_table(result: CoxResult) -> pd.DataFrame:
    """Proportional-hazards check: Schoenfeld-residual test per column (lifelines
    ``proportional_hazard_test``, rank time transform; Grambsch & Therneau).

    Returns
    -------
    DataFrame with ``column``, ``test_statistic``, ``p``, ``verdict`` ("PH plausible"
    or "PH doubtful (p < 0.05)"), or one row saying why no test ran.
    """
    from lifelines.statistics import proportional_hazard_test

    if result.model is None:
        return pd.DataFrame([{"column": "", "test_statistic": np.nan, "p": np.nan,
                              "verdict": "no model fitted: no test"}])
    res = proportional_hazard_test(result.model, result.data, time_transform="rank")
    s = res.summary
    idx = [i[0] if isinstance(i, tuple) else i for i in s.index]
    out = pd.DataFrame({"column": idx, "test_statistic": s["test_statistic"].to_numpy(),
                        "p": s["p"].to_numpy()})
    out["verdict"] = np.where(out["p"] < 0.05, "PH doubtful (p < 0.05)", "PH plausible")
    if result.penalizer:
        out["verdict"] += f" (penalized fit, penalizer {result.penalizer:g})"
    return out
