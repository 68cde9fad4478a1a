"""CohortStore.partition_features: the one checked reader of the partition feature table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import partition as P
from analysis.labels import FEATURE_NAMES
from analysis.store import CohortStore, StoreError


def _features(n: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES),
                        index=pd.Index([f"P{i:03d}" for i in range(n)], name="pid"))


def test_reads_back_what_partition_wrote(tmp_path):
    store = CohortStore(tmp_path)
    df = _features()
    P.PartitionTable(df, pd.DataFrame(index=df.index), pd.DataFrame(),
                     pd.DataFrame(columns=["pid", "warning"])).write(tmp_path)
    back = store.partition_features()
    pd.testing.assert_frame_equal(back, df)
    pd.testing.assert_frame_equal(P.read_partition_features(tmp_path), df)
    # no temporary file left beside the outputs (fsutil.atomic_write)
    assert not list(tmp_path.glob(".*"))


def test_missing_table_says_which_notebook(tmp_path):
    with pytest.raises(StoreError, match="no partition feature table.*03_partition"):
        CohortStore(tmp_path).partition_features()


@pytest.mark.parametrize("damage, message", [
    (lambda df: df.drop(columns=["RctvLN_3", "GTV_size_cm"]),
     "2 column\\(s\\) missing: RctvLN_3, GTV_size_cm"),
    (lambda df: df.assign(extra=1.0), "1 unexpected column\\(s\\): extra"),
    (lambda df: df[[FEATURE_NAMES[1], FEATURE_NAMES[0], *FEATURE_NAMES[2:]]],
     "not in SPEC order \\(position 1: 'RctvLN_2', expected 'RctvLN_1'\\)"),
    (lambda df: df.rename_axis("patient"), "index is 'patient', expected 'pid'"),
])
def test_damaged_table_names_what_is_wrong(tmp_path, damage, message):
    store = CohortStore(tmp_path)
    store.write_table("partition_features", damage(_features()))
    with pytest.raises(StoreError, match=message):
        store.partition_features()
