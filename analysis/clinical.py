"""The canonical clinical schema, column/category mapping, derived variables, validation.

A department's clinical table is mapped to the canonical columns of
``docs/data_layout.md`` by ``params.cohort.column_map`` (source column -> canonical
column) and ``params.cohort.category_map`` (canonical column -> {source value ->
canonical value}). Validation never raises for a patient: it returns reasons, and
ingest records the patient as excluded with them.

Missing-value policy (the same for every center)
-----------------------------------------------
* A *missing* descriptive value (age, histology, a stage, ...; a cell in
  ``cohort.na_values``) keeps the patient; the variable shows it as ``missing`` in
  Table 3 and the survival steps drop it variable by variable.
* A value that is *present but not a valid category* (T stage 5, M stage 3, N stage 4,
  an unknown code) excludes the patient with a reason: it is a coding error we cannot
  repair, and it may hide errors in the other columns of that row.
* A missing or negative follow-up / event time, or an event flag other than 0/1,
  excludes the patient (no outcome, nothing to analyse).

Special mapping targets besides the canonical columns: ``patient_id`` (the record number,
pseudonymised by :mod:`analysis.deid`; ``MRN`` when unmapped), ``rt_start`` (a date,
only used to turn dates into days), ``os_time_days`` / ``followup_days`` /
``lc_time_days`` (converted with :data:`DAYS_PER_MONTH`), and ``drop`` (identifiers and
free text, e.g. Name and BirthDate: read, never kept). Unmapped columns are dropped.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.deid import DeidError, days_from, normalise_mrn

#: days in a month (365.25 / 12): every month in the package is days / DAYS_PER_MONTH
DAYS_PER_MONTH = 30.4375

#: canonical categories, in table order (histology: NSCLC types added for other centers)
CATEGORIES: dict[str, tuple[str, ...]] = {
    "sex": ("male", "female"),
    "histology": ("small_cell", "mixed", "adenocarcinoma", "squamous", "large_cell",
                  "nsclc_nos"),
    "location": ("central", "peripheral"),
    "t_stage": ("T1", "T2", "T3", "T4"),
    "n_stage": ("N0", "N1", "N2", "N3"),
    "m_stage": ("M0", "M1"),
    "tnm_stage": ("I", "II", "III", "IV"),
    "paraneoplastic": ("yes", "no"),
    "svc_syndrome": ("yes", "no"),
    "chemo": ("concurrent", "sequential"),
}
#: derived categories (from age, smoking_index, diameter_cm)
DERIVED_CATEGORIES: dict[str, tuple[str, ...]] = {
    "age_ge_60": ("<60", ">=60"),
    "smoking_bin": ("0", "0-400", ">400"),
    "diameter_ge_5cm": ("<5cm", ">=5cm"),
}
NUMERIC_COLUMNS: tuple[str, ...] = ("age", "smoking_index", "diameter_cm")
#: plausible ranges of the numeric columns (inclusive); a value outside excludes the row
#: as an invalid clinical value (age 250 is a typing error, not a patient). Smoking index
#: = cigarettes per day x years: 100 a day for 60 years is 6000.
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0), "smoking_index": (0.0, 6000.0), "diameter_cm": (0.0, 40.0)}


OUTCOME_COLUMNS: tuple[str, ...] = ("followup_months", "lc_event", "lc_time_months",
                                    "os_event", "os_time_months")
#: the cohort table's columns, in order (index: pid)
CANONICAL_COLUMNS: tuple[str, ...] = (
    "center", "age", "sex", "histology", "location", "t_stage", "n_stage", "m_stage",
    "tnm_stage", "paraneoplastic", "svc_syndrome", "smoking_index", "chemo", "diameter_cm",
    "age_ge_60", "smoking_bin", "diameter_ge_5cm", *OUTCOME_COLUMNS,
)
#: mapping targets that are not canonical columns
SPECIAL_TARGETS: tuple[str, ...] = ("patient_id", "rt_start", "os_time_days",
                                    "followup_days", "lc_time_days", "drop")
MAPPABLE: tuple[str, ...] = (*CATEGORIES, *NUMERIC_COLUMNS, *OUTCOME_COLUMNS,
                             *SPECIAL_TARGETS)

#: exclusion reason codes -> Figure 1 label, in the flowchart's order
REASON_LABELS: dict[str, str] = {
    "duplicate_id": "duplicate patient ID",
    "no_followup": "no follow-up",
    "invalid_followup": "negative or invalid follow-up",
    "invalid_clinical": "invalid clinical value",
    "no_images": "no images",
    "unreadable": "unreadable file",
    "missing_structure": "missing structure",
    "empty_structure": "empty structure",
    "geometry": "geometry mismatch",
    "error": "processing error",
}


class CohortError(ValueError):
    """A mapping in the params that cannot be applied (not a per-patient problem)."""


def reason(code: str, detail: str) -> str:
    """An exclusion reason ``"<code>: <detail>"`` (code from :data:`REASON_LABELS`)."""
    if code not in REASON_LABELS:
        raise ValueError(f"code: unknown exclusion reason code {code!r}")
    return f"{code}: {detail}"


def reason_code(reason_text: str) -> str:
    """The code of a reason made by :func:`reason` (``"error"`` when it has none)."""
    code = str(reason_text).split(":", 1)[0].strip()
    return code if code in REASON_LABELS else "error"


# --- derived variables: one pure function each -------------------------------------
#: the paper's cut-offs (Table 4), defined here only: age in years (>= is the upper
#: group), smoking index in cigarettes a day x years (> is the upper group), primary
#: diameter in cm (>= is the upper group)
AGE_CUT_YEARS = 60.0
SMOKING_INDEX_CUT = 400.0
DIAMETER_CUT_CM = 5.0


def is_age_ge_60(age_years) -> np.ndarray:
    """Boolean array: age >= :data:`AGE_CUT_YEARS` (False where missing)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(age_years, dtype=float) >= AGE_CUT_YEARS


def is_smoking_gt_400(smoking_index) -> np.ndarray:
    """Boolean array: smoking index > :data:`SMOKING_INDEX_CUT` (False where missing)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(smoking_index, dtype=float) > SMOKING_INDEX_CUT


def is_diameter_ge_5cm(diameter_cm) -> np.ndarray:
    """Boolean array: diameter >= :data:`DIAMETER_CUT_CM` (False where missing)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(diameter_cm, dtype=float) >= DIAMETER_CUT_CM


def age_ge_60(age_years: pd.Series) -> pd.Series:
    """``">=60"`` when age >= 60 years, ``"<60"`` otherwise, missing stays missing."""
    a = pd.to_numeric(age_years, errors="coerce")
    return pd.Series(np.where(is_age_ge_60(a), ">=60", "<60"), index=a.index).where(a.notna())


def smoking_bin(smoking_index: pd.Series) -> pd.Series:
    """Smoking index (cigarettes a day x years) in the paper's bins.

    ``"0"`` for 0 (never smoked), ``"0-400"`` for 0 < SI <= 400, ``">400"`` above; the
    paper gives the bins as "0, 0-400, >400", so 400 itself falls in "0-400".
    Example: [0, 1, 400, 401] -> ["0", "0-400", "0-400", ">400"].
    """
    s = pd.to_numeric(smoking_index, errors="coerce")
    out = np.where(s <= 0, "0", np.where(is_smoking_gt_400(s), ">400", "0-400"))
    return pd.Series(out, index=s.index).where(s.notna())


def diameter_ge_5cm(diameter_cm: pd.Series) -> pd.Series:
    """``">=5cm"`` when the primary's greatest diameter is >= 5 cm, else ``"<5cm"``."""
    d = pd.to_numeric(diameter_cm, errors="coerce")
    return pd.Series(np.where(is_diameter_ge_5cm(d), ">=5cm", "<5cm"),
                     index=d.index).where(d.notna())


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Add (or refresh) age_ge_60, smoking_bin, diameter_ge_5cm; returns a copy."""
    out = df.copy()
    for col, fn, src in (("age_ge_60", age_ge_60, "age"), ("smoking_bin", smoking_bin,
                         "smoking_index"), ("diameter_ge_5cm", diameter_ge_5cm, "diameter_cm")):
        out[col] = fn(out[src]) if src in out else pd.Series(np.nan, index=out.index,
                                                             dtype=object)
    return out


# --- mapping ------------------------------------------------------------------------
def check_column_map(column_map: dict[str, str], columns: list[str], source: str) -> None:
    """Every target must be mappable and every mapped source column present."""
    bad = {k: v for k, v in column_map.items() if v not in MAPPABLE}
    if bad:
        raise CohortError(f"cohort.column_map: unknown target(s) {bad}; allowed: "
                          f"{', '.join(MAPPABLE)}")
    absent = [k for k in column_map if k not in columns]
    if absent:
        raise CohortError(f"{source}: column(s) {absent} named in cohort.column_map are "
                          f"absent; found {columns}")


def map_category(value: str, column: str, mapping: dict[str, str]) -> str | None:
    """Source value -> canonical category, or None when unknown.

    Looked up in ``mapping`` (exact, then case-insensitive), then among the canonical
    values themselves (case-insensitive).
    """
    v = str(value).strip()
    if v in mapping:
        return mapping[v]
    low = {str(k).strip().casefold(): c for k, c in mapping.items()}
    if v.casefold() in low:
        return low[v.casefold()]
    canon = {c.casefold(): c for c in CATEGORIES[column]}
    return canon.get(v.casefold())


_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}
#: what a department writes for a canonical category, by column: (pattern, group ->
#: canonical); a substage (T2a, IIIA) maps to its stage, a float (2.0) to its integer
_CATEGORY_GUESSES: dict[str, tuple[re.Pattern, object]] = {
    "t_stage": (re.compile(r"c?T?([1-4])(?:[a-d]\d?|\.0)?", re.I), lambda d: f"T{d}"),
    "n_stage": (re.compile(r"c?N?([0-3])(?:[a-c]|\.0)?", re.I), lambda d: f"N{d}"),
    "m_stage": (re.compile(r"c?M?([01])(?:[a-c]|\.0)?", re.I), lambda d: f"M{d}"),
    "tnm_stage": (re.compile(r"(IV|I{1,3}|[1-4])(?:[a-c]\d?|\.0)?", re.I),
                  lambda d: _ROMAN.get(d, d.upper())),
}


def suggest_category(value, column: str) -> str | None:
    """The canonical category a department's code most likely means (``T2a`` -> ``T2``,
    ``2.0`` -> ``T2``, ``IIIA`` -> ``III``), or None: used to suggest the
    ``cohort.category_map`` entry that fixes an unknown value, never applied silently."""
    if column not in _CATEGORY_GUESSES or pd.isna(value):
        return None
    pattern, canon = _CATEGORY_GUESSES[column]
    m = pattern.fullmatch(str(value).strip())
    if m is None:
        return None
    guess = canon(m.group(1))
    return guess if guess in CATEGORIES[column] else None


def _number(value, col: str, src: str, reasons: list[str], *, nonneg: bool = True,
            code: str = "invalid_clinical") -> float:
    if pd.isna(value):
        return np.nan
    try:
        x = float(str(value).strip())
    except ValueError:
        text = str(value).strip()
        hint = (" (a decimal comma: write 62.5, or delimit the table with ';' so that "
                "62,5 is read as 62.5)" if re.fullmatch(r"[+-]?\d+,\d+", text) else
                " (if it means 'no value', add it to cohort.na_values)"
                if not re.search(r"\d", text) and len(text) <= 4 else "")
        reasons.append(reason(code, f"{col}: not a number in column {src!r}{hint}"))
        return np.nan
    if not np.isfinite(x) or (nonneg and x < 0):
        reasons.append(reason(code, f"{col}: negative or non-finite value in column "
                                    f"{src!r}"))
        return np.nan
    lo, hi = PLAUSIBLE_RANGE.get(col, (-np.inf, np.inf))
    if not lo <= x <= hi:
        reasons.append(reason(code, f"{col}: value outside the plausible range "
                                    f"[{lo:g}, {hi:g}] in column {src!r}"))
        return np.nan
    return x


def _event(value, col: str, src: str, reasons: list[str]) -> float:
    if pd.isna(value):
        return np.nan
    v = str(value).strip()
    if v in ("0", "1", "0.0", "1.0"):
        return float(v[0])
    reasons.append(reason("invalid_followup", f"{col}: event flag in column {src!r} "
                                             "is not 0/1"))
    return np.nan


def map_clinical(raw: pd.DataFrame, column_map: dict[str, str],
                 category_map: dict[str, dict[str, str]], *, center: str,
                 source: str = "clinical table") -> tuple[pd.DataFrame, list[list[str]]]:
    """Map a department's clinical table (all cells text) to canonical columns.

    Parameters
    ----------
    raw : DataFrame
        As read by :func:`analysis.io.read_table` (strings, NaN for missing).
    column_map, category_map : dict
        ``params.cohort.column_map`` and ``category_map``.
    center : str
        Written in the ``center`` column.
    source : str
        Named in errors (the file).

    Returns
    -------
    mapped : DataFrame
        Same row order as ``raw`` (RangeIndex); columns ``patient_id`` (str, the record
        number), ``rt_start`` when mapped, the mapped canonical columns (categories
        canonical, numbers float, months from days), ``center`` and the derived columns.
    reasons : list of list of str
        Per row, the reasons that exclude it (empty list: valid so far).
    """
    cmap = dict(column_map)
    if "patient_id" not in cmap.values():
        if "MRN" not in raw.columns:
            raise CohortError(f"{source}: no column mapped to patient_id in "
                              "cohort.column_map and no MRN column")
        cmap["MRN"] = "patient_id"
    check_column_map(cmap, list(raw.columns), source)
    for col in category_map:
        if col not in CATEGORIES:
            raise CohortError(f"cohort.category_map: {col!r} is not a categorical column "
                              f"({', '.join(CATEGORIES)})")
    targets = {v: k for k, v in cmap.items() if v != "drop"}
    n = len(raw)
    reasons: list[list[str]] = [[] for _ in range(n)]
    out = pd.DataFrame(index=pd.RangeIndex(n))
    ids = raw[targets["patient_id"]].astype(object)
    out["patient_id"] = ids.where(ids.notna(), None)
    for i, v in enumerate(out["patient_id"]):
        if v is None or not str(v).strip():
            reasons[i].append(reason("invalid_clinical", f"patient ID missing (row {i + 2} "
                                                         f"of {source})"))
    if "rt_start" in targets:
        out["rt_start"] = raw[targets["rt_start"]]
    out["center"] = center
    for col, src in targets.items():
        vals = raw[src].tolist()
        if col in CATEGORIES:
            mapping = category_map.get(col, {})
            res = []
            for i, v in enumerate(vals):
                if pd.isna(v):
                    res.append(np.nan)
                    continue
                c = map_category(v, col, mapping)
                if c is None or c not in CATEGORIES[col]:
                    expected = ", ".join(CATEGORIES[col])
                    guess = suggest_category(v, col)
                    fix = (f"; to accept it, add to the params: cohort.category_map: "
                           f"{{{col}: {{'{str(v).strip()}': {guess}}}}}" if guess else
                           "; add a cohort.category_map entry for it, or add it to "
                           "cohort.na_values if it means 'no value'")
                    reasons[i].append(reason("invalid_clinical",
                                             f"{col}: unknown value in column {src!r} "
                                             f"(expected one of {expected}){fix}"))
                    res.append(np.nan)
                else:
                    res.append(c)
            out[col] = pd.Series(res, index=out.index, dtype=object)
        elif col in ("os_event", "lc_event"):
            out[col] = [_event(v, col, src, reasons[i]) for i, v in enumerate(vals)]
        elif col in NUMERIC_COLUMNS:
            out[col] = [_number(v, col, src, reasons[i]) for i, v in enumerate(vals)]
        elif col.endswith("_days") or col.endswith("_months"):
            canon = col.replace("_days", "_months")
            scale = DAYS_PER_MONTH if col.endswith("_days") else 1.0
            out[canon] = [_number(v, col, src, reasons[i], code="invalid_followup") / scale
                          for i, v in enumerate(vals)]
    if "os_time_months" in out and "followup_months" not in out:
        # follow-up of an OS-only table: start of RT to death or last contact
        out["followup_months"] = out["os_time_months"]
    return add_derived(out), reasons


def duplicate_id_reasons(patient_ids: pd.Series, source: str) -> list[list[str]]:
    """Per row, a duplicate_id reason when its patient ID occurs more than once."""
    ids = patient_ids.map(normalise_mrn)
    counts = ids.value_counts()
    return [[reason("duplicate_id", f"patient ID occurs {counts[v]} times in {source}")]
            if counts[v] > 1 else [] for v in ids]


#: outcome columns that followup.csv gives (ingest copies these into the cohort table)
FOLLOWUP_OUTCOMES: tuple[str, ...] = ("followup_months", "lc_event", "lc_time_months",
                                      "os_event", "os_time_months")


def _death(row: pd.Series, start, fu_days: float, lf_days: float, source: str,
           r: list[str]) -> tuple[float, float]:
    """(os_event, os_days) of one followup.csv row; appends reasons to ``r``.

    No Death column: (NaN, NaN). Death 0: censored at the last follow-up. Death 1: needs
    a DeathDate on or after RT start, equal to the last follow-up (follow-up ends at
    death: a death after it, or a follow-up after death, is refused), and not before a
    local failure.
    """
    if "Death" not in row.index:
        return np.nan, np.nan
    death = _event(row.get("Death"), "os_event", "Death", r)
    if pd.isna(row.get("Death")):
        r.append(reason("no_followup", f"Death missing in {source}"))
    if death == 0:
        return 0.0, fu_days
    if death != 1:
        return np.nan, np.nan
    ddate = row.get("DeathDate")
    if pd.isna(ddate) or pd.isna(start):
        r.append(reason("invalid_followup", f"death without a date in {source}"))
        return 1.0, np.nan
    try:
        d_days = days_from(start, ddate)
    except DeidError:
        r.append(reason("invalid_followup", f"DeathDate is not an ISO date in {source}"))
        return 1.0, np.nan
    if d_days < 0:
        r.append(reason("invalid_followup", f"death before the start of RT ({d_days} days) "
                                            f"in {source}"))
    elif np.isfinite(fu_days) and d_days > fu_days:
        r.append(reason("invalid_followup", f"death after the last follow-up in {source} "
                                            "(follow-up ends at death)"))
    elif np.isfinite(lf_days) and lf_days > d_days:
        r.append(reason("invalid_followup", f"local failure after death in {source}"))
    elif np.isfinite(fu_days) and fu_days > d_days:
        r.append(reason("invalid_followup", f"last follow-up {fu_days - d_days:g} days after "
                                            f"death in {source} (follow-up ends at death: "
                                            "LastFollowUp must equal DeathDate)"))
    return 1.0, float(d_days)


def followup_outcomes(followup: pd.DataFrame, *, source: str = "followup.csv"
                      ) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Local-control outcomes from a follow-up table (dates -> months from RT start).

    Parameters
    ----------
    followup : DataFrame
        Columns MRN, RT_Start, LastFollowUp, LocalFailure (0/1), LocalFailureDate (ISO
        dates, strings); optional Death (0/1) and DeathDate (and DeathCause, free text,
        not read: it may name a person).

    Returns
    -------
    outcomes : dict
        MRN -> {followup_months, lc_event, lc_time_months, os_event, os_time_months,
        death_without_lf}: follow-up from RT start to last follow-up; lc_time from RT
        start to local failure (event) or last follow-up; os_time from RT start to death
        (event) or last follow-up; ``death_without_lf`` is 1 for a death with no local
        failure (the competing event of local failure). Without a Death column the three
        death values are NaN.
    reasons : dict
        MRN -> reasons (no follow-up, negative or invalid times, duplicated rows, a death
        without a date, a death before RT or after the last follow-up, a local failure
        after death).
    """
    outcomes: dict[str, dict] = {}
    reasons: dict[str, list[str]] = {}
    ids = followup["MRN"].astype(str).str.strip()
    counts = ids.value_counts()
    for (_, row), mrn in zip(followup.iterrows(), ids, strict=True):
        r: list[str] = []
        if counts[mrn] > 1:
            r.append(reason("duplicate_id", f"{counts[mrn]} rows for one patient in {source}"))
        start, last = row.get("RT_Start"), row.get("LastFollowUp")
        fu_days = lc_days = np.nan
        event = np.nan
        if pd.isna(start) or pd.isna(last):
            r.append(reason("no_followup", f"RT_Start or LastFollowUp missing in {source}"))
        else:
            try:
                fu_days = days_from(start, last)
            except DeidError:
                r.append(reason("invalid_followup", f"RT_Start or LastFollowUp is not an "
                                                    f"ISO date in {source}"))
            else:
                if fu_days < 0:
                    r.append(reason("invalid_followup", f"negative follow-up time "
                                                        f"({fu_days} days) in {source}"))
        event = _event(row.get("LocalFailure"), "lc_event", "LocalFailure", r)
        if pd.isna(row.get("LocalFailure")):
            r.append(reason("no_followup", f"LocalFailure missing in {source}"))
        if event == 1:
            fdate = row.get("LocalFailureDate")
            if pd.isna(fdate) or pd.isna(start):
                r.append(reason("invalid_followup", f"local failure without a date in {source}"))
            else:
                try:
                    lc_days = days_from(start, fdate)
                except DeidError:
                    r.append(reason("invalid_followup", f"LocalFailureDate is not an ISO "
                                                        f"date in {source}"))
                else:
                    if lc_days < 0:
                        r.append(reason("invalid_followup", f"local failure before the start "
                                                            f"of RT ({lc_days} days) in {source}"))
                    elif np.isfinite(fu_days) and lc_days > fu_days:
                        r.append(reason("invalid_followup", f"local failure after the last "
                                                            f"follow-up in {source}"))
        elif event == 0:
            lc_days = fu_days
        death, os_days = _death(row, start, fu_days, lc_days if event == 1 else np.nan,
                                source, r)
        outcomes[mrn] = {"followup_months": fu_days / DAYS_PER_MONTH,
                         "lc_event": event, "lc_time_months": lc_days / DAYS_PER_MONTH,
                         "os_event": death, "os_time_months": os_days / DAYS_PER_MONTH,
                         "death_without_lf": float(death == 1 and event == 0)
                         if np.isfinite(death) and np.isfinite(event) else np.nan}
        lst = reasons.setdefault(mrn, [])
        lst += [x for x in r if x not in lst]
    return outcomes, reasons


def outcome_reasons(row: pd.Series) -> list[str]:
    """Reasons a mapped row lacks a usable outcome (clinical-only tables).

    A row needs ``followup_months`` and, for each outcome whose time or event column
    exists, both its time and its event.
    """
    r: list[str] = []
    if pd.isna(row.get("followup_months")):
        r.append(reason("no_followup", "follow-up / survival time missing"))
    for ev, t in (("os_event", "os_time_months"), ("lc_event", "lc_time_months")):
        if ev in row.index or t in row.index:
            if pd.isna(row.get(ev)) or pd.isna(row.get(t)):
                r.append(reason("no_followup", f"{ev} or {t} missing"))
    return r


def finalize_cohort(df: pd.DataFrame) -> pd.DataFrame:
    """Order the canonical columns (missing ones added as NaN), index ``pid``, sorted."""
    out = add_derived(df)
    for col in CANONICAL_COLUMNS:
        if col not in out:
            out[col] = np.nan
    out = out[["pid", *CANONICAL_COLUMNS]].set_index("pid").sort_index()
    for col in (*CATEGORIES, *DERIVED_CATEGORIES, "center"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    for col in (*NUMERIC_COLUMNS, *OUTCOME_COLUMNS):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


# --- Table 3 -------------------------------------------------------------------------
TABLE3_VARIABLES: tuple[str, ...] = (
    "sex", "age_ge_60", "histology", "location", "t_stage", "n_stage", "m_stage",
    "tnm_stage", "paraneoplastic", "svc_syndrome", "smoking_bin", "diameter_ge_5cm", "chemo",
)


def table3(cohort: pd.DataFrame, paper: dict[str, dict[str, int]] | None = None,
           paper_n: int = 180, age_median: float | None = None,
           age_mean: float | None = None) -> pd.DataFrame:
    """Baseline characteristics (n and %) with the paper's column beside ours.

    Parameters
    ----------
    cohort : DataFrame
        The cohort table (canonical columns).
    paper : dict, optional
        Variable -> level -> n (``analysis.paper.TABLE3``); levels it lacks show NaN.
    paper_n : int
        The paper's cohort size, for its percentages.
    age_median, age_mean : float, optional
        The paper's age summary (``analysis.paper.AGE_MEDIAN`` / ``AGE_MEAN``).

    Returns
    -------
    DataFrame
        Index (variable, level); columns ``n``, ``%``, ``paper n``, ``paper %``
        (percentages rounded to 0.1). A
        variable that is missing for every patient is left out; missing values of a
        variable are counted in a ``missing`` level. Age rows: median and mean (years).
    """
    paper = paper or {}
    derived = add_derived(cohort)
    cohort = cohort.assign(**{c: derived[c] for c in DERIVED_CATEGORIES if c not in cohort})
    n_all = len(cohort)
    rows = []
    age = pd.to_numeric(cohort.get("age"), errors="coerce") if "age" in cohort else None
    if age is not None and age.notna().any():
        rows.append(("age (years)", "median", float(age.median()), np.nan,
                     age_median, np.nan))
        rows.append(("age (years)", "mean", float(age.mean()), np.nan, age_mean, np.nan))
        if age.isna().any():
            k = int(age.isna().sum())
            rows.append(("age (years)", "missing", k, 100 * k / n_all, np.nan, np.nan))
    levels_of = {**CATEGORIES, **DERIVED_CATEGORIES}
    for var in TABLE3_VARIABLES:
        if var not in cohort or cohort[var].isna().all():
            continue
        vals = cohort[var]
        pv = paper.get(var, {})
        levels = [lv for lv in levels_of[var] if (vals == lv).any() or lv in pv]
        for lv in levels:
            k = int((vals == lv).sum())
            p = pv.get(lv)
            rows.append((var, lv, k, 100 * k / n_all if n_all else np.nan,
                         p, 100 * p / paper_n if p is not None else np.nan))
        if vals.isna().any():
            k = int(vals.isna().sum())
            rows.append((var, "missing", k, 100 * k / n_all, np.nan, np.nan))
    df = pd.DataFrame(rows, columns=["variable", "level", "n", "%", "paper n", "paper %"])
    df["paper n"] = pd.to_numeric(df["paper n"], errors="coerce")
    df[["%", "paper %"]] = df[["%", "paper %"]].astype(float).round(1)
    return df.set_index(["variable", "level"])
