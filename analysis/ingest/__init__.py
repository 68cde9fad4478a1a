"""Step 01 (notebook 01_ingest): a department export -> the pseudonymised cohort store.

- :mod:`analysis.ingest.run`: the cohort (tables, pseudonyms, exclusions with reasons,
  the store marked complete last) and Figure 1's ingest counts;
- :mod:`analysis.ingest.patient`: one patient's images and structures, in a worker;
- :mod:`analysis.ingest.figures`: what 01_ingest shows (Table 3, exclusions, gallery).
"""

from __future__ import annotations

from analysis.ingest.patient import PatientExcluded, ingest_patient
from analysis.ingest.run import (
    IngestError,
    IngestResult,
    clinical_path_for,
    export_dir_for,
    figure1_table,
    run_ingest,
    write_outputs,
)

__all__ = ["IngestError", "IngestResult", "PatientExcluded", "clinical_path_for",
           "export_dir_for", "figure1_table", "ingest_patient", "run_ingest", "write_outputs"]
