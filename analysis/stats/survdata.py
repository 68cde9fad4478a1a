"""Survival data checks: times and events validated, unusable rows listed with a reason.

Times are months from the start of radiotherapy; ``event`` is 1 for the event (local
failure, or death for overall survival) and 0 for censoring. Bad input never yields a
silent NaN: :func:`validate_survival` raises :class:`SurvivalInputError` naming the data,
:func:`prepare_survival_data` lists every excluded row with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class SurvivalInputError(ValueError):
    """Survival data that cannot be analysed as given."""


def validate_survival(time_months, event, *, who: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check survival times and event indicators; return them as float / int arrays.

    Parameters
    ----------
    time_months : array-like of shape (n,)
        Follow-up times in months, finite and >= 0.
    event : array-like of shape (n,)
        1 = event, 0 = censored.
    who : str
        Names the data in error messages (e.g. ``"group '>=5cm'"``).

    Raises
    ------
    SurvivalInputError
        On a length mismatch, a missing or negative time, an event that is not 0/1, or
        no rows at all.
    """
    where = f" ({who})" if who else ""
    t = np.asarray(time_months, dtype=float)
    e_raw = np.asarray(event, dtype=float)
    if t.ndim != 1 or e_raw.ndim != 1 or t.shape != e_raw.shape:
        raise SurvivalInputError(f"time_months and event must be 1-D of equal length{where}, "
                                 f"got {t.shape} and {e_raw.shape}")
    if t.size == 0:
        raise SurvivalInputError(f"time_months: no rows{where}")
    if np.isnan(t).any():
        k = int(np.isnan(t).sum())
        raise SurvivalInputError(f"time_months: {k} missing time(s){where}; an event or a "
                                 "censoring needs its time (use prepare_survival_data to "
                                 "exclude such rows with a recorded reason)")
    if not np.isfinite(t).all():
        raise SurvivalInputError(f"time_months: infinite time(s){where}")
    if (t < 0).any():
        raise SurvivalInputError(f"time_months: {int((t < 0).sum())} negative time(s){where}, "
                                 f"smallest {t.min():g} months")
    if np.isnan(e_raw).any() or not np.isin(e_raw, (0.0, 1.0)).all():
        bad = sorted({str(v) for v in e_raw[~np.isin(e_raw, (0.0, 1.0))]})
        raise SurvivalInputError(f"event: values must be 0 (censored) or 1 (event){where}, "
                                 f"got {', '.join(bad)}")
    return t, e_raw.astype(int)


def prepare_survival_data(df: pd.DataFrame, time_col: str, event_col: str,
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the rows usable for survival analysis; list every other row with its reason.

    Parameters
    ----------
    df : DataFrame
        One row per patient, with ``time_col`` (months) and ``event_col`` (0/1).

    Returns
    -------
    kept : DataFrame
        The usable rows, ``event_col`` as int.
    excluded : DataFrame
        One row per excluded row: ``row`` (1-based position in ``df``, not an
        identifier), ``reason``.
    """
    for col in (time_col, event_col):
        if col not in df.columns:
            raise SurvivalInputError(f"column {col!r} not in the cohort table "
                                     f"(columns: {', '.join(map(str, df.columns))})")
    t = pd.to_numeric(df[time_col], errors="coerce")
    e = pd.to_numeric(df[event_col], errors="coerce")
    reasons = pd.Series("", index=df.index, dtype=object)
    rules = [
        (t.isna() & e.notna() & (e == 1), f"event recorded without a time ({time_col} missing)"),
        (t.isna() & ~(e.notna() & (e == 1)), f"missing time ({time_col})"),
        (t.notna() & (t < 0), f"negative time ({time_col} < 0)"),
        (t.notna() & ~np.isfinite(t.fillna(0)), f"infinite time ({time_col})"),
        (e.isna(), f"missing event ({event_col})"),
        (e.notna() & ~e.isin([0, 1]), f"event not 0/1 ({event_col})"),
    ]
    for mask, reason in rules:
        first = mask & (reasons == "")
        reasons[first] = reason
    bad = reasons != ""
    excluded = pd.DataFrame({"row": np.flatnonzero(bad.to_numpy()) + 1,
                             "reason": reasons[bad].to_numpy()})
    kept = df.loc[~bad].copy()
    kept[time_col] = t[~bad].astype(float)
    kept[event_col] = e[~bad].astype(int)
    return kept, excluded


def missing_group_exclusions(df: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
    """Rows left out of one variable's analysis because its value is missing.

    Returns
    -------
    DataFrame with ``variable``, ``n_missing``, ``reason`` (one row per variable that has
    missing values; the rows stay in the analyses of the other variables).
    """
    rows = []
    for var in variables:
        if var not in df.columns:
            rows.append({"variable": var, "n_missing": len(df),
                         "reason": "column not in the cohort table: variable skipped"})
            continue
        k = int(df[var].isna().sum())
        if k:
            rows.append({"variable": var, "n_missing": k,
                         "reason": "missing group value: left out of this variable only"})
    return pd.DataFrame(rows, columns=["variable", "n_missing", "reason"])
