"""Why a headline lies outside the paper's value: every "outside" verdict gets a reason.

Three kinds of reason, in this order (issue 24):

1. **planted**: on the phantom, the difference is what the phantom's truth
   (``data/phantom/<run>/truth.json``, read as JSON; never a patient field) or one of its
   parameters makes it, and the reason names that parameter. Where the truth holds the
   planted value itself (the diameter HR, the event share), it must lie inside this
   run's CI; when it does not, the row is a red flag instead;
2. **paper contradiction**: the paper's own numbers cannot all hold (documented in
   :data:`analysis.paper.CONFLICTS` and the phantom's docstrings);
3. **unexplained**: neither; printed as a red flag, for a person to look at.

:func:`explain` fills the ``why`` of each ``outside`` row of
:func:`analysis.report.scorecard.headlines` and leaves every other row as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from analysis.report.scorecard import OUTSIDE, Headline

#: the prefix of a row no planted truth or documented contradiction explains
UNEXPLAINED = "unexplained (red flag)"

#: the paper against itself, for headlines whose paper value cannot hold (quantity prefix)
PAPER_CONTRADICTIONS: dict[str, str] = {
    "3-year local control": (
        "paper contradiction: Figure 3's 3-year local control (86.7% < 5 cm, 61.1% >= 5 cm) "
        "means about 46 failures by 3 years, but the paper reports 94 failures in 180 "
        "patients at a median follow-up of 36 months; a cohort with the 94 (as the "
        "phantom's truth.json model.target_event_fraction plants) cannot also have Figure "
        "3's percentages"),
}


def _ci(text: str) -> tuple[float, float] | None:
    m = re.fullmatch(r"\s*(-?[\d.]+(?:e-?\d+)?) to (-?[\d.]+(?:e-?\d+)?)\s*", text or "")
    return (float(m.group(1)), float(m.group(2))) if m else None


def _planted_value(value: float, ci: tuple[float, float] | None, what: str) -> str:
    """``planted: ...`` when the planted value lies in the CI, else a red flag."""
    if ci is not None and ci[0] <= value <= ci[1]:
        return f"planted: {what} = {value:.3g}, inside this run's CI"
    return (f"{UNEXPLAINED}: the phantom planted {what} = {value:.3g}, and this run's CI "
            "misses it too")


def _phantom_reason(h: Headline, truth: dict, planted_hr: float | None) -> str | None:
    """The phantom's reason for an outside headline, or None when it has none."""
    model = truth.get("model", {})
    realised = truth.get("realised", {})
    q, ci = h.quantity, _ci(h.ci)
    if q.startswith("diameter >= 5 cm: Cox HR"):
        hr = model.get("hazard_ratios", {}).get("diameter_ge_5cm", planted_hr)
        return None if hr is None else _planted_value(float(hr), ci,
                                                      "phantom.planted_hr_diameter")
    if q.startswith("events"):
        n, k = truth.get("n_included"), realised.get("n_failures_included")
        if n and k is not None:
            return _planted_value(k / n, ci, "the realised event share (truth.json "
                                  "realised.n_failures_included / n_included)")
        return None
    if q.startswith("median follow-up"):
        death = model.get("death", {})
        cens = model.get("censoring", {})
        return (f"planted: follow-up ends at death (Weibull OS, median "
                f"{death.get('median_months')} months, truth.json model.death) or at "
                f"censoring (uniform {cens.get('low_months')}-{cens.get('high_months')} "
                "months), so the reverse-KM median is below the paper's; realised median "
                f"follow-up {realised.get('median_followup_months_included')} months")
    if q.startswith("Table 7 AUC"):
        coefs = ", ".join(k for k in model.get("coefficients", {})
                          if not k.startswith(("sex", "age", "t_stage", "smoking",
                                               "diameter")))
        return ("planted: the phantom's recurrence signal is its planted model (truth.json "
                f"model.coefficients: {coefs or 'none'}), not the paper's patients'")
    if q.startswith("DSC"):
        return ("planted: the phantom's stations jitter around each patient's anatomy by "
                "more than the CT shows (analysis.phantom.stations), which caps Dice; see "
                "segment_ceiling")
    return None


def why(h: Headline, *, phantom: bool, truth: dict | None = None,
        planted_hr: float | None = None) -> str:
    """The reason of one outside headline (see the module docstring)."""
    if phantom and truth is not None:
        reason = _phantom_reason(h, truth, planted_hr)
        if reason is not None:
            return reason
    for prefix, text in PAPER_CONTRADICTIONS.items():
        if h.quantity.startswith(prefix):
            return text
    return (f"{UNEXPLAINED}: no planted truth or documented contradiction of the paper "
            "explains this difference; check the data and the method")


def read_truth(truth_file: Path | None) -> dict | None:
    """The phantom's truth.json (model numbers only are used), or None when absent."""
    if truth_file is None:
        return None
    try:
        return json.loads(Path(truth_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def explain(rows: list[Headline], *, phantom: bool, truth: dict | None = None,
            planted_hr: float | None = None) -> list[Headline]:
    """``rows`` with every ``outside`` row's ``why`` filled (kept notes follow it)."""
    out = []
    for h in rows:
        if h.verdict != OUTSIDE:
            out.append(h)
            continue
        reason = why(h, phantom=phantom, truth=truth, planted_hr=planted_hr)
        out.append(replace(h, why="; ".join(s for s in (reason, h.why) if s)))
    return out
