"""The headline scorecard of the report: each headline number of the paper beside this
run's value, its 95% CI and a plain verdict.

Verdicts: ``within`` (the paper's value lies inside this run's 95% CI), ``outside``, or
``not comparable`` with the reason (the table or row is missing, the run gives no CI, a
count is not an estimate). For the paper's "DSC > 0.85" the verdict is ``within`` when
the CI reaches 0.85 or above, ``outside`` when it lies wholly below.

Numbers are read from the tables the notebooks wrote (``reports/<run>/tables``), by the
exact names of :mod:`analysis.outputs.names`:

==========================  =====================================  ======================
headline                    table (row)                            CI
==========================  =====================================  ======================
n, events                   ``05_outcome`` (patients, events)      events: Wilson, of the
                                                                   share of patients
median follow-up            ``05_outcome`` (reverse KM row)        the table's lower/upper
diameter HR                 ``table4_prespecified_cox``            hr_lower / hr_upper
                            (variable ``diameter_ge_5cm``; the
                            selected model's HR quoted in "why")
3-year LC by diameter       ``figure3_landmark_diameter_ge_5cm``   lower / upper
top-4 share                 ``table5_top4_share``                  share_lower / upper
Table 7 AUC                 ``table7_metrics`` (auc)               apparent train and valid, _lo/_hi
station DSC                 ``segment_dice_hd95``                  mean +- 1.96 SD/sqrt(n)
                                                                   (normal approximation)
==========================  =====================================  ======================
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import paper
from analysis.outputs import names as on
from analysis.stats.intervals import wilson_interval

WITHIN, OUTSIDE, NOT_COMPARABLE = "within", "outside", "not comparable"


@dataclass(frozen=True)
class Headline:
    """One row of the scorecard."""

    quantity: str
    paper: str
    ours: str
    ci: str
    verdict: str
    why: str = ""


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if abs(x) >= 10 else f"{x:.{digits}f}".rstrip("0").rstrip(".")


def _verdict(paper_value: float, lo: float | None, hi: float | None, *,
             at_least: bool = False) -> tuple[str, str]:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)) \
            or (isinstance(hi, float) and math.isnan(hi)):
        return NOT_COMPARABLE, "no CI"
    if at_least:
        return (WITHIN, "the CI reaches the paper's bound") if hi >= paper_value else \
            (OUTSIDE, "the CI lies below the paper's bound")
    return (WITHIN, "") if lo <= paper_value <= hi else (OUTSIDE, "")


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _read(tables_dir: Path, name: str) -> pd.DataFrame | None:
    f = tables_dir / f"{name}.csv"
    return pd.read_csv(f) if f.is_file() else None


def _missing(quantity: str, paper_value: str, name: str) -> Headline:
    return Headline(quantity, paper_value, "-", "-", NOT_COMPARABLE,
                    f"no table {name} in this run")


def _estimate(quantity: str, paper_value: float, est, lo, hi, paper_text: str = "", *,
              at_least: bool = False, note: str = "") -> Headline:
    est, lo, hi = _num(est), _num(lo), _num(hi)
    if est is None:
        return Headline(quantity, paper_text or _fmt(paper_value), "-", "-", NOT_COMPARABLE,
                        note or "no value in this run")
    verdict, why = _verdict(paper_value, lo, hi, at_least=at_least)
    ci = "no CI" if lo is None or hi is None else f"{_fmt(lo)} to {_fmt(hi)}"
    return Headline(quantity, paper_text or _fmt(paper_value), _fmt(est), ci, verdict,
                    "; ".join(s for s in (why, note) if s))


def _outcome_rows(t: Path) -> list[Headline]:
    df = _read(t, on.OUTCOME_TABLE)
    if df is None:
        return [_missing(q, str(v), on.OUTCOME_TABLE) for q, v in
                (("patients (n)", paper.N_PATIENTS), ("events", paper.N_RECURRED),
                 ("median follow-up, months", paper.MEDIAN_FOLLOWUP_MONTHS))]
    rows = df.set_index("quantity")
    n = int(rows.loc["patients", "ours"]) if "patients" in rows.index else None
    ev = int(rows.loc["events", "ours"]) if "events" in rows.index else None
    out = [Headline("patients (n)", str(paper.N_PATIENTS), "-" if n is None else str(n), "-",
                    NOT_COMPARABLE, "a count, not an estimate: the cohorts differ")]
    if n and ev is not None:
        lo, hi = wilson_interval(ev, n)
        share = _estimate("events (share of patients)", paper.N_RECURRED / paper.N_PATIENTS,
                          ev / n, lo, hi, f"{paper.N_RECURRED} of {paper.N_PATIENTS} "
                          f"({paper.N_RECURRED / paper.N_PATIENTS:.3f})",
                          note="Wilson 95% CI of the share")
        out.append(Headline(share.quantity, share.paper, f"{ev} of {n} ({ev / n:.3f})",
                            share.ci, share.verdict, share.why))
    else:
        out.append(_missing("events", str(paper.N_RECURRED), on.OUTCOME_TABLE))
    fu = [q for q in rows.index if str(q).startswith("median follow-up")]
    out.append(_estimate("median follow-up, months (reverse KM)",
                         paper.MEDIAN_FOLLOWUP_MONTHS, *(rows.loc[fu[0], ["ours", "lower",
                                                                          "upper"]]
                                                         if fu else (None, None, None))))
    return out


def _cox_row(t: Path) -> Headline:
    """The paper's diameter HR against the pre-specified Cox model (valid inference);
    the model selected on this data's univariate p is quoted beside, not judged."""
    lo_p, hi_p = paper.COX_DIAMETER_CI
    ptxt = f"{paper.COX_DIAMETER_HR} ({lo_p} to {hi_p})"
    q = "diameter >= 5 cm: Cox HR"
    df = _read(t, on.PRESPECIFIED_COX_TABLE)
    if df is None:
        return _missing(q, ptxt, on.PRESPECIFIED_COX_TABLE)
    if "variable" not in df.columns:  # no model: the table is a note saying why
        why = str(df["note"].iloc[0]) if "note" in df.columns and len(df) else \
            "the table has no variable column"
        return Headline(q, ptxt, "-", "-", NOT_COMPARABLE,
                        f"no multivariable Cox model in this run: {why}")
    sel = _read(t, on.COX_TABLE)
    sel_hit = (None if sel is None or "variable" not in sel.columns
               else sel[sel["variable"] == "diameter_ge_5cm"])
    sel_note = ("the model selected on this data (univariate p) gives "
                f"{_fmt(sel_hit.iloc[0]['hr'])}, its CI optimistic"
                if sel_hit is not None and not sel_hit.empty
                and _num(sel_hit.iloc[0].get("hr")) is not None else "")
    hit = df[df["variable"] == "diameter_ge_5cm"]
    if hit.empty:
        return Headline(q, ptxt, "-", "-", NOT_COMPARABLE,
                        "diameter is not in this run's pre-specified multivariable model "
                        "(params.survival.prespecified_covariates)")
    r = hit.iloc[0]
    return _estimate(q, paper.COX_DIAMETER_HR, r.get("hr"), r.get("hr_lower"),
                     r.get("hr_upper"), ptxt,
                     note="; ".join(s for s in ("pre-specified model (the paper's "
                                                "covariates)", sel_note) if s))


def _lc_rows(t: Path) -> list[Headline]:
    df = _read(t, on.LANDMARK_TABLE)
    want = (("<5cm", paper.LC3Y_SMALL), (">=5cm", paper.LC3Y_LARGE))
    if df is None:
        return [_missing(f"3-year local control, diameter {g}", _fmt(v), on.LANDMARK_TABLE)
                for g, v in want]
    rows = df.set_index("group")
    return [_estimate(f"3-year local control, diameter {g}", v,
                      *(rows.loc[g, ["survival", "lower", "upper"]] if g in rows.index
                        else (None, None, None))) for g, v in want]


def _top4_row(t: Path) -> Headline:
    df = _read(t, on.TOP4_TABLE)
    q = f"share of recurrences in {', '.join(paper.TOP4_STATIONS)}"
    if df is None or df.empty:
        return _missing(q, _fmt(paper.TOP4_SHARE), on.TOP4_TABLE)
    r = df.iloc[0]
    return _estimate(q, paper.TOP4_SHARE, r.get("share"), r.get("share_lower"),
                     r.get("share_upper"))


def _auc_rows(t: Path) -> list[Headline]:
    df = _read(t, on.TABLE7_TABLE)
    train, valid = paper.TABLE7["auc"]
    if df is None:
        return [_missing(f"Table 7 AUC ({s})", _fmt(v), on.TABLE7_TABLE)
                for s, v in (("training", train), ("validation", valid))]
    rows = df.set_index("metric")
    if "auc" not in rows.index:
        return [_missing("Table 7 AUC", _fmt(train), on.TABLE7_TABLE)]
    r = rows.loc["auc"]
    app, cv = on.TRAIN_APPARENT, on.TRAIN_CV
    cv_note = (f"apparent (in-sample), as the paper's; cross-validated on the training "
               f"patients: {_fmt(r.get(cv))}" if _num(r.get(cv)) is not None
               else "apparent (in-sample), as the paper's")
    return [_estimate("Table 7 AUC (training)", train, r.get(app), r.get(f"{app}_lo"),
                      r.get(f"{app}_hi"), note=cv_note),
            _estimate("Table 7 AUC (validation)", valid, r.get("valid"), r.get("valid_lo"),
                      r.get("valid_hi"))]


def _dsc_rows(t: Path) -> list[Headline]:
    df = _read(t, on.DICE_TABLE)
    if df is None:
        return [_missing(f"DSC {s}", txt, on.DICE_TABLE) for s, txt in paper.DSC.items()]
    rows = df.assign(station=df["station"].astype(str)).set_index("station")
    out = []
    for st, txt in paper.DSC.items():
        if st not in rows.index:
            out.append(Headline(f"DSC {st}", txt, "-", "-", NOT_COMPARABLE,
                                "station not evaluated in this run"))
            continue
        r = rows.loc[st]
        mean, sd, n = _num(r.get("dice_mean")), _num(r.get("dice_sd")), _num(r.get("n"))
        lo = hi = None
        if mean is not None and sd is not None and n and n > 1:
            half = 1.96 * sd / math.sqrt(n)
            lo, hi = mean - half, mean + half
        out.append(_estimate(f"DSC {st}", paper.DSC_VALUE[st], mean, lo, hi, txt,
                             at_least=txt.startswith(">"),
                             note="CI: mean +- 1.96 SD/sqrt(n)" if lo is not None else ""))
    return out


#: each headline's row builder, in the paper's order, and the quantity it reports
_ROWS = ((lambda t: _outcome_rows(t), "patients, events, median follow-up",
          on.OUTCOME_TABLE),
         (lambda t: [_cox_row(t)], "diameter >= 5 cm: Cox HR", on.PRESPECIFIED_COX_TABLE),
         (lambda t: _lc_rows(t), "3-year local control by diameter", on.LANDMARK_TABLE),
         (lambda t: [_top4_row(t)], "share of recurrences in the top 4 stations",
          on.TOP4_TABLE),
         (lambda t: _auc_rows(t), "Table 7 AUC", on.TABLE7_TABLE),
         (lambda t: _dsc_rows(t), "DSC", on.DICE_TABLE))


def _skip_reason(run_dir: Path, name: str) -> str | None:
    """Why the notebook that writes table ``name`` was skipped in this run (its
    ``outputs/<notebook>.json``), or None."""
    entry = on.lookup(name)
    f = Path(run_dir) / "outputs" / f"{entry.notebook}.json" if entry else None
    if f is None or not f.is_file():
        return None
    try:
        why = json.loads(f.read_text()).get("skipped")
    except ValueError:
        return None
    return f"{entry.notebook} {why}" if why else None


def headlines(run_dir: Path) -> list[Headline]:
    """The scorecard rows of a run, in the paper's order of the headlines. A table that
    is missing because its notebook was skipped says why (the skip reason: too few
    analysed patients in the analysis ledger, no images, ...); a degenerate table (a
    small cohort's note instead of estimates, a missing column) gives "not comparable"
    with the reason, never an error: the index is always written."""
    t = Path(run_dir) / "tables"
    rows: list[Headline] = []
    for build, quantity, name in _ROWS:
        try:
            got = build(t)
        except (KeyError, IndexError, ValueError, TypeError, pd.errors.IndexingError) as err:
            got = [Headline(quantity, "-", "-", "-", NOT_COMPARABLE,
                            f"table {name} is degenerate in this run "
                            f"({type(err).__name__}: {err})")]
        skipped = _skip_reason(run_dir, name)
        rows += [dataclasses.replace(r, why=f"{r.why}: {skipped}")
                 if skipped and r.why.startswith("no table") else r for r in got]
    return rows


def scorecard_html(rows: list[Headline], phantom: bool) -> str:
    """The scorecard as an HTML table (``id="scorecard"``), one class per verdict."""
    cls = {WITHIN: "v-within", OUTSIDE: "v-outside", NOT_COMPARABLE: "v-nc"}
    body = "".join(
        f'<tr class="{cls[r.verdict]}"><td class="q">{html.escape(r.quantity)}</td>'
        f"<td>{html.escape(r.paper)}</td><td>{html.escape(r.ours)}</td>"
        f"<td>{html.escape(r.ci)}</td><td class=\"verdict\">{html.escape(r.verdict)}</td>"
        f'<td class="why">{html.escape(r.why)}</td></tr>' for r in rows)
    n = {v: sum(r.verdict == v for r in rows) for v in cls}
    note = (" The cohort is the synthetic phantom: agreement or not says nothing about the "
            "paper." if phantom else "")
    return ('<table class="tbl score" id="scorecard"><thead><tr><th>headline</th>'
            "<th>paper</th><th>this run</th><th>95% CI</th><th>verdict</th><th>why</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
            f'<p class="files">{n[WITHIN]} within, {n[OUTSIDE]} outside, '
            f"{n[NOT_COMPARABLE]} not comparable.{html.escape(note)}</p>")
