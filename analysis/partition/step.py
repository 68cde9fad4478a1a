"""Step 03 (notebook 03_partition) in one call: :func:`run_partition`.

The 110 parameters of the analysis ledger's patients on the ledger's station maps
(:func:`analysis.partition.run.ledger_partition_table`, which also completes and writes
the ledger), and, where patients have both a reference and an AI map, the agreement of
the parameters on the two maps with the second-observer floor
(:func:`analysis.partition.agreement.station_agreement`, saved for 04 and 07).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.partition.agreement import StationAgreement, station_agreement
from analysis.partition.figures import cohort_spacings, voxel_size_warning
from analysis.partition.run import PartitionTable, ledger_partition_table
from analysis.store import CohortStore


@dataclass(frozen=True)
class PartitionResult:
    """What :func:`run_partition` did."""

    #: the feature table of the analysed patients, its failures, warnings and the ledger
    table: PartitionTable
    #: the 110 parameters on AI vs reference stations (``skipped`` with a reason when
    #: fewer than 3 patients have both maps)
    agreement: StationAgreement
    #: voxel volumes differing by more than 10% across the analysed patients, or None
    voxel_warning: str | None

    @property
    def features(self) -> pd.DataFrame:
        return self.table.features

    def report(self) -> str:
        """What 03 did, in a few lines (no identifier)."""
        t = self.table
        return "\n".join([
            t.ledger.describe() if t.ledger is not None else "no analysis ledger",
            f"{len(t.features)} patients x {t.features.shape[1]} features; "
            f"{len(t.failures)} failed; computed {t.n_computed}, from cache {t.n_loaded}",
            self.voxel_warning
            or "voxel volumes agree within 10% across the analysed patients",
            "AI vs reference stations: " + self.agreement.report()])


def run_partition(store: CohortStore, params) -> PartitionResult:
    """Step 03: the partition parameters of the analysed patients, and their agreement
    across station maps.

    The step signature every step package shares (``run_<step>(store, params) ->
    <Step>Result``). Writes the feature table, the completed analysis ledger and the
    agreement tables into the store.
    """
    table = ledger_partition_table(store, params)
    agreement = station_agreement(store, params)
    agreement.save(store)  # 04 and 07 read the two feature tables and the ICCs
    warning = voxel_size_warning(cohort_spacings(store, table.features.index))
    return PartitionResult(table=table, agreement=agreement, voxel_warning=warning)
