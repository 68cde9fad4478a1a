"""The report's patient pages: per-patient Dice, the choice of 3D patients, the QC flag
from ``segment_qc``, the gallery and the 3D pages written from a small store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.grid import Grid
from analysis.report import pages as report_pages
from analysis.store import SEGMENT_QC, CohortStore

GRID = Grid((10, 24, 24), (3.0, 1.5, 1.5))


def make_store(root, *, qc: bool = True, n: int = 4) -> CohortStore:
    """n patients whose predicted 4R loses ``k`` of 4 slices: Dice falls with k."""
    store = CohortStore(root)
    pids = [f"P{k:03d}" for k in range(n)]
    store.write_table("cohort", pd.DataFrame({"age": [60] * n}, index=pd.Index(pids,
                                                                             name="pid")))
    for k, pid in enumerate(pids):
        store.write_meta(pid, {"grid": GRID.to_dict()})
        ct = np.full(GRID.shape_zyx, -800, np.int16)
        ct[:, 4:20, 4:20] = 30
        ref = np.zeros(GRID.shape_zyx, np.uint8)
        ref[2:6, 6:12, 5:11] = 7  # 4R
        ref[3:8, 12:18, 13:19] = 8  # 4L
        pred = ref.copy()
        pred[2:2 + (k % 4), 6:12, 5:11] = 0
        gtv = np.zeros(GRID.shape_zyx, bool)
        gtv[4:7, 10:14, 10:14] = True
        for name, arr in (("ct", ct), ("stations_ref", ref), ("stations_pred", pred),
                          ("gtv", gtv), ("ctv", gtv)):
            store.write(pid, name, arr, GRID)
    if qc:
        store.write_table(SEGMENT_QC, pd.DataFrame(
            {"usable": [True, True, False, True][:n],
             "reasons": ["", "", "CT field of view too small", ""][:n]},
            index=pd.Index(pids, name="pid")))
    return store


def test_mean_dice_by_hand():
    pred = np.array([1, 1, 0, 2])
    ref = np.array([1, 0, 0, 2])
    assert report_pages.mean_dice(pred, ref) == pytest.approx((2 / 3 + 1.0) / 2)
    assert np.isnan(report_pages.mean_dice(np.zeros(3), np.zeros(3)))


def test_choose_3d_best_median_worst():
    s = pd.DataFrame({"dice": [0.9, 0.5, 0.7, 0.1]}, index=list("abcd"))
    assert report_pages.choose_3d(s, 3) == ["a", "c", "d"]
    assert report_pages.choose_3d(s, 4) == ["a", "c", "d", "b"]
    assert report_pages.choose_3d(s, 0) == []
    no_ref = pd.DataFrame({"dice": [np.nan, np.nan]}, index=["x", "y"])
    assert report_pages.choose_3d(no_ref, 3) == ["x", "y"]


def test_summary_reads_dice_and_the_qc_flag(tmp_path):
    store = make_store(tmp_path / "store")
    s = report_pages.write_patient_pages(tmp_path / "run", store, 0).summary
    # P001 loses 1 of 4 slices of 4R: Dice 4R = 2*108/(144+108) = 0.857; 4L 1.0
    assert s.loc["P001", "dice"] == pytest.approx((2 * 108 / 252 + 1.0) / 2)
    assert s.loc["P000", "dice"] == 1.0
    assert list(s["usable"]) == [True, True, False, True]
    assert s.loc["P002", "reasons"] == "CT field of view too small"
    bare = report_pages.write_patient_pages(tmp_path / "run2", make_store(tmp_path / "bare",
                                                                          qc=False), 0).summary
    assert bare["usable"].isna().all()


def test_gallery_and_3d_pages_are_written(tmp_path):
    """Fault injected: choose_3d sorting by ascending Dice -> pages for
    ['P003', 'P002'] instead of ['P000', 'P001']."""
    store = make_store(tmp_path / "store")
    run = tmp_path / "run"
    pages = report_pages.write_patient_pages(run, store, 2)
    assert pages.gallery == "gallery.html"
    # mean Dice P000 1.0, P001 0.929, P002 0.833, P003 0.7: best P000, median (index
    # (4 - 1) // 2 = 1 of the descending order) P001
    assert list(pages.pages_3d) == ["P000", "P001"]
    for rel in pages.pages_3d.values():
        assert (run / rel).is_file()
    assert (run / "assets" / "niivue.js").is_file()
    page = (run / "gallery.html").read_text()
    assert page.count("data-pid=") == 4 and page.count('class="card flagged"') == 1
    for rel in pages.pages_3d.values():
        assert f'href="{rel}"' in page
    for k in range(4):
        assert (run / f"gallery/P{k:03d}.png").stat().st_size > 500


def test_no_store_is_a_stated_skip(tmp_path):
    pages = report_pages.write_patient_pages(tmp_path / "run", CohortStore(tmp_path / "none"), 3)
    assert pages.gallery is None and "no cohort store" in pages.skipped


def test_mean_dice_in_one_pass_equals_the_per_label_definition():
    """The joint-histogram ``mean_dice`` gives the same float as Dice label by label
    (``segment.metrics.dice``) on random maps with absent, one-sided and shared labels,
    uint8 and int16. Injected fault (once): stations counted only when in ``pred``
    (``if in_pred[k]``) -> 0.07890 against 0.06312 on the first map: fails."""
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.int16):
        for _ in range(20):
            shape = tuple(int(v) for v in rng.integers(3, 12, size=3))
            pred = rng.choice([0, 0, 0, 1, 3, 7, 16], size=shape).astype(dtype)
            ref = rng.choice([0, 0, 1, 2, 3, 16], size=shape).astype(dtype)
            assert report_pages.mean_dice(pred, ref) == \
                report_pages._mean_dice_by_label(pred.ravel(), ref.ravel())
    assert np.isnan(report_pages.mean_dice(np.zeros(4, np.uint8), np.zeros(4, np.uint8)))


def test_gallery_on_two_workers_matches_serial_and_an_unreadable_patient_is_counted(tmp_path):
    """The gallery's per-patient pass runs through map_patients: two worker processes give
    the same Dice and the same thumbnail bytes as one. A patient whose CT cannot be read
    gets no card, and the pages say how many (no identifier).
    Injected fault (once): failures dropped silently (``skipped`` left empty) -> ''
    instead of '1 patient(s) without a card ...': fails."""
    store = make_store(tmp_path / "store")
    serial = report_pages.write_patient_pages(tmp_path / "a", store, 0)
    both = report_pages.write_patient_pages(tmp_path / "b", store, 0, scheduler="processes",
                                            n_workers=2)
    pd.testing.assert_frame_equal(serial.summary, both.summary)
    for k in range(4):
        rel = f"gallery/P{k:03d}.png"
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    ct = store.patient_dir("P002") / "ct.nii.gz"
    ct.write_bytes(ct.read_bytes()[:50])
    broken = report_pages.write_patient_pages(tmp_path / "c", store, 0)
    assert list(broken.summary.index) == ["P000", "P001", "P003"]
    assert broken.skipped == ("1 patient(s) without a card: their volumes could not be "
                              "read")
    assert "P002" not in (tmp_path / "c" / "gallery.html").read_text()


def test_the_gallery_says_who_the_analysis_counts(tmp_path):
    """Each card carries the analysis ledger's decision beside the QC flag: analysed,
    kept despite a QC flag, or the step and reason the patient left. Planted ledger: P000
    analysed, P001 left at 03_partition (no station map), P002 flagged but kept by the
    param, P003 without a ledger row (-). Fault injected: ``analysis_label`` ignoring
    ``kept_by`` -> P002 reads "analysed", the first assertion fails."""
    store = make_store(tmp_path / "store")
    store.write_table("analysis_ledger", pd.DataFrame(
        {"included": [True, False, True], "step": ["", "03_partition", ""],
         "reason": ["", "no stations_pred", ""], "kept_by": ["", "", "analysis.include_qc_failed"]},
        index=pd.Index(["P000", "P001", "P002"], name="pid")))
    summary = report_pages.write_patient_pages(tmp_path / "run", store, 0).summary
    assert list(summary["analysis"]) == [
        "analysed", "left out at 03_partition: no stations_pred",
        "analysed (kept despite QC flag)", ""]
    page = (tmp_path / "run" / "gallery.html").read_text()
    assert page.count('<span class="analysis">analysed') == 2
    assert '<span class="analysis">left out at 03_partition: no stations_pred</span>' in page
    assert '<span class="analysis">-</span>' in page
