"""Every "outside" headline of the scorecard says why: planted, paper, or a red flag."""

from __future__ import annotations

from analysis.report import why as sw
from analysis.report.scorecard import NOT_COMPARABLE, OUTSIDE, WITHIN, Headline

TRUTH = {"n_included": 45,
         "model": {"hazard_ratios": {"diameter_ge_5cm": 1.635},
                   "coefficients": {"sex_male": 0.6, "diameter_ge_5cm": 0.49,
                                    "RgtvLN_13": 1.4},
                   "death": {"median_months": 25.0},
                   "censoring": {"low_months": 12.0, "high_months": 60.0}},
         "realised": {"n_failures_included": 20, "median_followup_months_included": 21.5}}


def _h(quantity: str, ci: str, verdict: str = OUTSIDE, why: str = "") -> Headline:
    return Headline(quantity, "p", "x", ci, verdict, why)


def test_the_reason_of_each_kind():
    """Hand-made rows: the planted HR 1.635 inside the CI 1.7 to 4 is not (red flag),
    inside 1.2 to 1.5 neither, inside 1.5 to 2.5 it is (planted); Figure 3's rows cite the
    paper's contradiction; the top-4 share on a real cohort is unexplained. Fault
    injected: ``_planted_value`` always returning "planted: ..." -> the red-flag
    assertion fails."""
    hr = "diameter >= 5 cm: Cox HR"
    inside = sw.why(_h(hr, "1.5 to 2.5"), phantom=True, truth=TRUTH)
    assert inside == "planted: phantom.planted_hr_diameter = 1.64, inside this run's CI"
    for ci in ("1.7 to 4", "1.2 to 1.5"):
        assert sw.why(_h(hr, ci), phantom=True, truth=TRUTH).startswith(sw.UNEXPLAINED)
    # events: 20 / 45 = 0.444 (hand-computed) against the CI
    assert sw.why(_h("events (share of patients)", "0.3 to 0.6"), phantom=True,
                  truth=TRUTH).startswith("planted: the realised event share")
    assert sw.why(_h("events (share of patients)", "0.5 to 0.7"), phantom=True,
                  truth=TRUTH).startswith(sw.UNEXPLAINED)
    lc = sw.why(_h("3-year local control, diameter <5cm", "0.3 to 0.5"), phantom=True,
                truth=TRUTH)
    assert lc.startswith("paper contradiction: Figure 3's 3-year local control")
    assert "21.5 months" in sw.why(_h("median follow-up, months (reverse KM)", "18 to 24"),
                                   phantom=True, truth=TRUTH)
    auc = sw.why(_h("Table 7 AUC (validation)", "0.5 to 0.7"), phantom=True, truth=TRUTH)
    assert auc.endswith("model.coefficients: RgtvLN_13), not the paper's patients'")
    real = sw.why(_h("share of recurrences in 4R, 7, 10R, 10L", "0.2 to 0.3"),
                  phantom=False)
    assert real.startswith(sw.UNEXPLAINED)


def test_explain_fills_only_outside_rows_and_keeps_their_notes():
    rows = [_h("diameter >= 5 cm: Cox HR", "1.5 to 2.5", why="a note"),
            _h("3-year local control, diameter >=5cm", "0.1 to 0.3", WITHIN),
            _h("patients (n)", "-", NOT_COMPARABLE, "a count")]
    out = sw.explain(rows, phantom=True, truth=TRUTH)
    assert out[0].why.startswith("planted: phantom.planted_hr_diameter") and \
        out[0].why.endswith("; a note")
    assert out[1:] == rows[1:]
    # no truth file (a phantom run whose export was removed): a reason all the same
    assert all(r.why for r in sw.explain(rows, phantom=True, truth=None)
               if r.verdict == OUTSIDE)
