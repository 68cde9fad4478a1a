"""A small report (scorecard, contents, gallery, 3D pages) rendered in headless Chromium
with the network off: every page non-blank, every image decoded, no request failed, and
a click from the gallery opens the patient's 3D view (issue 15, item 6).

The run folder is built here from a three-patient store and two recorded outputs, so the
check takes seconds; ``tests/test_report_ci.py`` repeats it on the real chain's report.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis.grid import Grid  # noqa: E402
from analysis.outputs import Outputs  # noqa: E402
from analysis.params import load_params  # noqa: E402
from analysis.report import browser
from analysis.report import html as report_html  # noqa: E402
from analysis.report import runner as report
from analysis.store import CohortStore  # noqa: E402

pytestmark = pytest.mark.slow
GRID = Grid((10, 24, 24), (3.0, 1.5, 1.5))


def _store(root) -> CohortStore:
    store = CohortStore(root)
    pids = ["P100", "P200", "P300"]
    store.write_table("cohort", pd.DataFrame({"age": [60] * 3}, index=pd.Index(pids,
                                                                             name="pid")))
    for k, pid in enumerate(pids):
        store.write_meta(pid, {"grid": GRID.to_dict()})
        ct = np.full(GRID.shape_zyx, -800, np.int16)
        ct[:, 4:20, 4:20] = 30
        ref = np.zeros(GRID.shape_zyx, np.uint8)
        ref[2:6, 6:12, 5:11] = 7
        ref[3:8, 12:18, 13:19] = 8
        pred = ref.copy()
        pred[2:2 + k, 6:12, 5:11] = 0  # P100 best, P300 worst
        gtv = np.zeros(GRID.shape_zyx, bool)
        gtv[4:7, 10:14, 10:14] = True
        for name, arr in (("ct", ct), ("stations_ref", ref), ("stations_pred", pred),
                          ("gtv", gtv)):
            store.write(pid, name, arr, GRID)
    return store


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    if browser.chromium_path() is None:
        pytest.skip("chromium missing: bash tools/ensure_chromium.sh (as root)")
    tmp = tmp_path_factory.mktemp("report_browser")
    params = load_params("params/ci.yaml")
    store = _store(tmp / "store")
    out = Outputs(params.run_name, "05_survival", phantom=True, root=tmp / "reports")
    out.table(pd.DataFrame({"group": ["<5cm", ">=5cm"], "survival": [0.8, 0.5],
                            "lower": [0.7, 0.3], "upper": [0.9, 0.6]}),
              "figure3_landmark_diameter_ge_5cm", "3-year local control", index=False)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.step([0, 12, 36], [1, 0.8, 0.6])
    out.figure(fig, "figure3_km_diameter_ge_5cm", "Kaplan-Meier by diameter")
    plt.close(fig)
    run = tmp / "reports" / params.run_name
    results = [report.StepResult("05_survival", "ran", 1.0, outputs=out.items)]
    report_html.write_index(run, params, results, report.PAPER_ITEMS, store_dir=store.root)
    return run


def _non_blank(page, selector: str) -> float:
    box = page.query_selector(selector).bounding_box()
    return browser.blank_score(page.screenshot(clip=box))


def test_index_scorecard_and_contents_render_offline(run_dir):
    """Fault injected: the index loading a script from a CDN -> one blocked and failed
    request, and the final assertion fails."""
    with browser.offline_page(width=1280, height=900) as (page, log):
        page.goto((run_dir / "index.html").as_uri())
        assert page.is_visible("#scorecard") and page.is_visible("nav#toc")
        rows = page.eval_on_selector_all("#scorecard tbody tr", "r => r.length")
        assert rows == 13  # n, events, follow-up, HR, 2 x LC, top-4, 2 x AUC, 4 x DSC
        verdict = page.inner_text("#scorecard tbody tr:nth-child(5) td.verdict")
        assert verdict == "within"  # 3-year LC < 5 cm: 0.867 in 0.7-0.9
        sizes = page.eval_on_selector_all("img", "is => is.map(i => i.naturalWidth)")
        assert sizes and min(sizes) > 10, sizes
        assert _non_blank(page, "#scorecard") > 5.0
        # contents link scrolls to its section
        page.click('nav#toc a[href="#item-figure-3"]')
        assert page.evaluate("Math.abs(document.getElementById('item-figure-3')"
                             ".getBoundingClientRect().top)") < 60
    assert log.failed == [] and log.blocked == [], log


def test_gallery_sorts_and_opens_the_3d_page(run_dir, tmp_path):
    with browser.offline_page(width=1280, height=900) as (page, log):
        page.goto((run_dir / "gallery.html").as_uri())
        sizes = page.eval_on_selector_all("#cards img", "is => is.map(i => i.naturalWidth)")
        assert len(sizes) == 3 and min(sizes) > 10
        page.click("text=Dice (worst first)")
        order = page.eval_on_selector_all("#cards .card", "cs => cs.map(c => c.dataset.pid)")
        assert order == ["P300", "P200", "P100"]
        assert _non_blank(page, "#cards") > 5.0
        page.click('.card[data-pid="P100"] a:has(img)')  # the best has a 3D page
        page.wait_for_url("**/3d/P100.html")
        browser.wait_for(page, "window.sclcReady >= 2 || window.sclcError", 60,
                         on_timeout=lambda: str(log))
        assert page.evaluate("window.sclcError") is None
        page.wait_for_timeout(300)
        page.screenshot(path=tmp_path / "p100.png")
        assert _non_blank(page, "#gl1") > 5.0 and _non_blank(page, "#gl2") > 5.0
    assert log.failed == [] and log.blocked == [], log
