"""What 03_partition shows: the feature summary, the issue counts, the figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis import partition as P  # noqa: E402
from analysis.labels import FEATURE_NAMES  # noqa: E402
from analysis.paper import TABLE2_RANGES  # noqa: E402


def features() -> pd.DataFrame:
    """Three patients; RctvLN_1 = 0, 0.5, 1; CTV_volume = 10, 20, 60; the rest 0."""
    df = pd.DataFrame(0.0, index=pd.Index(["A", "B", "C"], name="pid"),
                      columns=list(FEATURE_NAMES))
    df["RctvLN_1"] = [0.0, 0.5, 1.0]
    df["CTV_volume"] = [10.0, 20.0, 60.0]
    df["GTV_lung_location"] = [1, 3, 3]
    return df


def test_feature_summary_by_hand():
    s = P.feature_summary(features())
    assert list(s.index) == list(FEATURE_NAMES)
    assert s.loc["RctvLN_1", "row"] == 1 and s.loc["GTV_size_cm", "row"] == 110
    # mean (0 + 0.5 + 1) / 3 = 0.5; sd (ddof 1) = sqrt((0.25 + 0 + 0.25) / 2) = 0.5
    assert s.loc["RctvLN_1", "mean"] == pytest.approx(0.5, abs=1e-12)
    assert s.loc["RctvLN_1", "sd"] == pytest.approx(0.5, abs=1e-12)
    assert s.loc["RctvLN_1", "n_nonzero"] == 2
    # CTV_volume: mean 30, median 20; the paper's range from analysis.paper
    assert s.loc["CTV_volume", "mean"] == 30 and s.loc["CTV_volume", "median"] == 20
    assert (s.loc["CTV_volume", "paper_min"], s.loc["CTV_volume", "paper_max"]) == \
        TABLE2_RANGES["CTV_volume"]
    assert (s.loc["RIcmgLN_16", "paper_min"], s.loc["RIcmgLN_16", "paper_max"]) == (0, 1)
    assert (s.loc["CTV_overlaps_7", "paper_min"], s.loc["CTV_overlaps_7", "paper_max"]) \
        == (0, 1)


def test_issue_summary_hides_patient_ids():
    table = P.PartitionTable(
        features=features(), volumes=pd.DataFrame(),
        failures=pd.DataFrame({"error": ["ValueError: patient P9: gtv: not on the grid"]},
                              index=pd.Index(["P9"], name="pid")),
        warnings=pd.DataFrame({"pid": ["A", "B", "B"],
                               "warning": ["stations absent: 1R", "stations absent: 1R",
                                           "ideaCTV is empty"]}))
    s = P.issue_summary(table)
    assert list(s.columns) == ["kind", "message", "n_patients"]
    text = s.to_csv()
    assert "P9" not in text and "<pid>" in text
    got = {(k, m): n for k, m, n in s.itertuples(index=False)}
    assert got[("warning", "stations absent: 1R")] == 2  # A and B
    assert got[("warning", "ideaCTV is empty")] == 1
    assert got[("failure", "ValueError: patient <pid>: gtv: not on the grid")] == 1
    empty = P.PartitionTable(features(), pd.DataFrame(),
                             pd.DataFrame({"error": []}, index=pd.Index([], name="pid")),
                             pd.DataFrame(columns=["pid", "warning"]))
    assert P.issue_summary(empty).empty


def test_figures_build():
    import matplotlib.pyplot as plt

    f = features()
    fig = P.coverage_heatmap(f)
    data = fig.axes[0].images[0].get_array()
    assert data.shape == (3, 16)
    np.testing.assert_array_equal(np.asarray(data)[:, 0], [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="family"):
        P.coverage_heatmap(f, "Rfoo")
    assert len(P.family_distributions(f).axes) == 6
    assert len(P.scalar_distributions(f).axes) == 8
    plt.close("all")
