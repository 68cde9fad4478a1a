"""R as a live oracle for 05_survival: every survival number of a run, recomputed in R.

:func:`compare_05` reads a run's cohort store (the rows 05 analyses) and its report
tables, hands the data to ``tests/r/oracle_05.R`` (R survival and cmprsk: ``survfit``,
``survdiff``, ``coxph``, ``cox.zph``, ``cuminc``, ``crr``) and lists every number that
differs. The design columns of the Cox and Fine-Gray models are rebuilt here from the
tables' (variable, level, reference) rows: an indicator of the level (a merged level
``"a+b"`` covers both), so R fits the model the table reports.

Tolerance: the report's CSVs carry 4 significant digits (``Outputs.table``,
``float_format="%.4g"``), so a number agrees when it is within half a unit of its 4th
significant digit (relative 5e-4), or both are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.stats.survdata import prepare_survival_data
from analysis.store import CohortStore

ORACLE_R = Path(__file__).parent / "r" / "oracle_05.R"
#: half a unit of the 4th significant digit of the report's CSVs (%.4g)
RTOL_4SIG = 5e-4
R_PACKAGES = ("survival", "cmprsk")


def r_missing() -> str:
    """Why R cannot serve as the oracle here ("" when it can)."""
    exe = shutil.which("Rscript")
    if exe is None:
        return "Rscript not found"
    names = ", ".join(f'"{p}"' for p in R_PACKAGES)
    probe = f"for (p in c({names})) library(p, character.only = TRUE)"
    proc = subprocess.run([exe, "-e", probe], capture_output=True, text=True, timeout=120)
    return "" if proc.returncode == 0 else f"R packages missing: {proc.stderr.strip()[-200:]}"


def _indicator(values: pd.Series, level: str) -> pd.Series:
    parts = str(level).split("+")
    return values.astype(str).isin(parts).astype(float).where(values.notna())


def _design(data: pd.DataFrame, table: pd.DataFrame, prefix: str) -> dict[str, pd.Series]:
    """0/1 columns ``<prefix>|<var>[<level>]`` for each estimated row of a model table."""
    cols = {}
    est = "shr" if "shr" in table else "hr"
    for _, r in table.iterrows():
        if pd.isna(r.get(est)) or pd.isna(r.get("level")) or r.get("variable") not in data:
            continue
        cols[f"{prefix}|{r['variable']}[{r['level']}]"] = _indicator(data[r["variable"]],
                                                                   r["level"])
    return cols


def _read(tables: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(tables / f"{name}.csv", keep_default_na=True,
                       dtype={"level": str, "reference": str, "group": str})


def run_r(store_root: Path, tables: Path, sp, workdir: Path) -> tuple[dict, dict]:
    """Write the data, run the R script; return (R's numbers by key, the report tables)."""
    cohort = CohortStore(store_root).cohort()
    data, _ = prepare_survival_data(cohort, sp.time_col, sp.event_col)
    t = {n: _read(tables, n) for n in (
        "table4_univariate", "table4_multivariable_cox", "table4_prespecified_cox",
        "table4_ph_check", "table4_prespecified_ph_check", "05_outcome",
        "05_competing_risks", "05_gray_test", "05_fine_gray",
        *(f"figure3_landmark_{g}" for g in sp.km_groups))}
    out = pd.DataFrame({"time": data[sp.time_col], "event": data[sp.event_col],
                        "os_time": data.get("os_time_months"),
                        "os_event": data.get("os_event")})
    for v in dict.fromkeys([*sp.variables, *sp.km_groups]):
        if v in data:
            out[v] = data[v].astype(object).where(data[v].notna())
    sel = t["table4_multivariable_cox"]
    selected_ok = "p" in sel and sel["p"].notna().any()  # not a penalised fallback fit
    for prefix, tab in (("pre", t["table4_prespecified_cox"]), ("fg", t["05_fine_gray"]),
                        *([("sel", sel)] if selected_ok else [])):
        for k, v in _design(data, tab, prefix).items():
            out[k] = v
    csv, res = workdir / "oracle_data.csv", workdir / "oracle_r.csv"
    out.to_csv(csv, index=False)
    proc = subprocess.run(["Rscript", str(ORACLE_R), str(csv), str(res),
                           f"{sp.horizon_months:g}", ",".join(v for v in sp.variables if v in data),
                           ",".join(g for g in sp.km_groups if g in data)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode:
        raise RuntimeError(f"oracle_05.R failed:\n{proc.stderr[-2000:]}")
    r = pd.read_csv(res, keep_default_na=True)
    t["_selected_compared"] = selected_ok
    return dict(zip(r["key"], r["value"], strict=True)), t


def _same(ours, theirs) -> bool:
    a, b = float(ours) if ours is not None else np.nan, float(theirs)
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return bool(np.isclose(a, b, rtol=RTOL_4SIG, atol=1e-12))


def compare_05(store_root: Path, tables: Path, sp, workdir: Path) -> tuple[list, dict]:
    """Every 05 survival number against R.

    Returns
    -------
    mismatches : list of (what, ours, R's)
    counts : comparisons made per family (km, logrank, median, cox, zph, cif, gray, fg)
    """
    r, t = run_r(store_root, tables, sp, workdir)
    # cmprsk gives the variance of the cumulative incidence, the report its SE
    r.update({k[:-3] + "se": np.sqrt(v) for k, v in list(r.items())
              if k.startswith("cif|") and k.endswith("|var")})
    bad, counts = [], {}

    def check(family, what, ours, key):
        counts[family] = counts.get(family, 0) + 1
        if key not in r:
            bad.append((what, ours, "no R value"))
        elif not _same(ours, r[key]):
            bad.append((what, ours, r[key]))

    def km_limits(where, var, level, s, lo, hi):
        """Greenwood limits, or where S = 0 the conservative [0, upper limit of S just
        before the last event] (analysis.stats.km.survival_at), both from R."""
        check("km", f"{where} surv", s, f"km|{var}|{level}|surv")
        if s == 0:
            check("km", f"{where} lower (S = 0)", lo, "zero")
            check("km", f"{where} upper (S = 0)", hi, f"km|{var}|{level}|upper0")
        else:
            check("km", f"{where} lower", lo, f"km|{var}|{level}|lower")
            check("km", f"{where} upper", hi, f"km|{var}|{level}|upper")

    r["zero"] = 0.0
    uni = t["table4_univariate"]
    for _, row in uni[uni["n"] > 0].iterrows():
        km_limits(f"table4_univariate {row['variable']}={row['level']}", row["variable"],
                  row["level"], row["km_at_horizon"], row["km_at_horizon_lower"],
                  row["km_at_horizon_upper"])
    for _, row in uni.dropna(subset=["p_logrank"]).iterrows():
        check("logrank", f"table4_univariate {row['variable']} p_logrank", row["p_logrank"],
              f"logrank|{row['variable']}")
    for g in sp.km_groups:
        lm = t[f"figure3_landmark_{g}"]
        for _, row in lm.iterrows():
            km_limits(f"figure3_landmark_{g} {row['group']}", g, row["group"],
                      row["survival"], row["lower"], row["upper"])
            check("logrank", f"figure3_landmark_{g} logrank_p", row["logrank_p"],
                  f"logrank|{g}")
    oc = t["05_outcome"].set_index("quantity")
    fu = [q for q in oc.index if str(q).startswith("median follow-up")][0]
    med = [q for q in oc.index if str(q).startswith("median ") and q != fu][0]
    for q, what in ((fu, "followup"), (med, "median")):
        for col, rq in (("ours", "median"), ("lower", "0.95LCL"), ("upper", "0.95UCL")):
            check("median", f"05_outcome {q} {col}", oc.loc[q, col], f"{what}|{rq}")
    models = [("pre", "table4_prespecified_cox", "table4_prespecified_ph_check")]
    if t["_selected_compared"]:
        models.append(("sel", "table4_multivariable_cox", "table4_ph_check"))
    for m, name, ph in models:
        for _, row in t[name].dropna(subset=["hr"]).iterrows():
            col = f"{row['variable']}[{row['level']}]"
            for c, q in (("hr", "hr"), ("hr_lower", "lower"), ("hr_upper", "upper"),
                         ("p", "p")):
                check("cox", f"{name} {col} {c}", row[c], f"cox|{m}|{col}|{q}")
        for _, row in t[ph].iterrows():
            for tr in ("km", "rank"):
                check("zph", f"{ph} {row['column']} chi2_{tr}", row[f"chi2_{tr}"],
                      f"zph|{m}|{tr}|{row['column']}")
    cr = t["05_competing_risks"]
    for _, row in cr.iterrows():
        for k, est, se in ((1, "cif_lf", "cif_lf_se"),
                           (2, "cif_death_without_lf", "cif_death_se")):
            check("cif", f"05_competing_risks {row['group']} {est}", row[est],
                  f"cif|{row['group']}|{k}|est")
            check("cif", f"05_competing_risks {row['group']} {se}", row[se],
                  f"cif|{row['group']}|{k}|se")
    for _, row in t["05_gray_test"].iterrows():
        k = 1 if row["cause"] == "local failure" else 2
        check("gray", f"05_gray_test {row['group']} {row['cause']} chi2", row["chi2"],
              f"gray|{row['group']}|{k}")
    for _, row in t["05_fine_gray"].dropna(subset=["shr"]).iterrows():
        for c in ("shr", "se"):
            check("fg", f"05_fine_gray {row['column']} {c}", row[c], f"fg|{row['column']}|{c}")
    return bad, counts
