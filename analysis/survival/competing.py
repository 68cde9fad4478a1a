"""05_survival's competing-risk section: local failure with death as the competing event.

The estimators are in :mod:`analysis.stats.competing`, the figure in
:mod:`analysis.survival.plots`; this module assembles the table and figure for the
notebook from the cohort's canonical columns (``os_event``, ``os_time_months`` from
followup.csv's Death / DeathDate; docs/data_layout.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats.km import survival_at
from analysis.survival.tables import level_order


@dataclass
class CompetingRisksResult:
    """Cumulative incidence of local failure (death competing) beside 1 - KM."""

    #: per group (``all`` and each level of the first ``sp.km_groups`` variable):
    #: n, local failures, deaths without local failure, cumulative incidence of local
    #: failure and of death at the horizon (95% CI), 1 - KM of local failure (95% CI)
    table: pd.DataFrame
    #: the figure (a note figure when there is no death data)
    figure: object
    note: str


def competing_risks(data: pd.DataFrame, sp, seed: int) -> CompetingRisksResult:
    """Local failure as cumulative incidence with death as the competing event.

    Uses the canonical ``os_event`` / ``os_time_months`` (death, from followup.csv's
    Death / DeathDate) and the local-failure columns ``sp.time_col`` / ``sp.event_col``
    (:func:`analysis.stats.competing.competing_coding`). When the endpoint is overall
    survival, or the cohort has no death data, the table holds one ``note`` row.
    """
    from analysis.stats import competing as cr
    from analysis.survival.plots import cif_figure, note_figure

    need = ["os_event", "os_time_months", sp.time_col, sp.event_col]
    why = ""
    if sp.event_col == "os_event":
        why = "the endpoint is overall survival: death is the event, not a competing risk"
    elif any(c not in data for c in need) or data["os_event"].isna().all():
        why = "no death data (followup.csv without Death / DeathDate): no competing-risk " \
              "analysis; 1 - KM treats deaths as censorings"
    if why:
        return CompetingRisksResult(pd.DataFrame([{"note": why}]), note_figure(why), why)
    d = data.dropna(subset=need)
    note = f"{len(data) - len(d)} row(s) without death data left out" if len(d) < len(data) \
        else ""
    time, cause = cr.competing_coding(d[sp.time_col], d[sp.event_col], d["os_time_months"],
                                      d["os_event"])
    h = sp.horizon_months
    group = sp.km_groups[0] if sp.km_groups and sp.km_groups[0] in d else None
    groups = [("all", np.ones(len(d), dtype=bool))]
    if group is not None:
        groups += [(f"{group}={lv}", (d[group] == lv).to_numpy())
                   for lv in level_order(d[group], group)]
    rows, fits = [], {}
    for name, m in groups:
        lf = cr.cumulative_incidence(time[m], cause[m], cr.CAUSE_LF, seed)
        dth = cr.cumulative_incidence(time[m], cause[m], cr.CAUSE_DEATH, seed)
        a, b = cr.cif_at(lf, h), cr.cif_at(dth, h)
        km = survival_at(d[sp.time_col].to_numpy()[m], d[sp.event_col].to_numpy()[m], h,
                         sp.conf_type)
        rows.append({"group": name, "n": int(m.sum()),
                     "local_failures": int((cause[m] == cr.CAUSE_LF).sum()),
                     "deaths_without_lf": int((cause[m] == cr.CAUSE_DEATH).sum()),
                     "cif_lf": a["cif"], "cif_lf_lower": a["lower"], "cif_lf_upper": a["upper"],
                     "one_minus_km_lf": 1 - km["survival"], "one_minus_km_lower": 1 - km["upper"],
                     "one_minus_km_upper": 1 - km["lower"],
                     "cif_death_without_lf": b["cif"], "cif_death_lower": b["lower"],
                     "cif_death_upper": b["upper"], "note": km["note"]})
        fits[name] = (lf, dth, m)
    fig = cif_figure(fits, d[sp.time_col].to_numpy(), d[sp.event_col].to_numpy(), h,
                     sp.endpoint_label)
    return CompetingRisksResult(pd.DataFrame(rows).set_index("group"), fig, note)
