"""Benchmark of the phantom generator: seconds per patient at the default and full grid.

Measured in one run, numpy on one thread (``OMP_NUM_THREADS=1`` is advised):

- ``make_patient_default_s``: median over patients of :func:`analysis.phantom.make_patient`
  on the default grid (48, 96, 96) at (5, 4, 4) mm;
- ``make_patient_fullres_s``: one patient on the paper's grid (93, 512, 512) at
  (5, 1.1543, 1.1543) mm (two in the full run, median);
- ``write_nifti_default_s`` / ``write_dicom_default_s``: writing one patient's files
  (NIfTI: CT, GTV, GTVnd, CTV, stations; DICOM: CT series + RTSTRUCT with 19 ROIs) on the
  default grid; ``write_dicom_fullres_s``: the DICOM files of one full-resolution patient;
- ``partition_default_s``: the 110 partition features of one default-grid patient.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from analysis.grid import Grid
from analysis.io import write_nifti
from analysis.io.dicom_write import write_ct_series, write_rtstruct
from analysis.labels import STATION_LABEL, STATIONS
from analysis.partition import partition_parameters
from analysis.phantom import make_patient

DEFAULT = Grid((48, 96, 96), (5.0, 4.0, 4.0), (-190.0, -190.0, -117.5))
FULLRES = Grid((93, 512, 512), (5.0, 1.1543, 1.1543), (-294.3465, -294.3465, -230.0))


def _time(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _write_dicom(p: dict, grid: Grid, folder: Path) -> None:
    write_ct_series(p["ct"], grid, folder / "CT", patient={"PatientName": "BENCH",
                    "PatientID": "B1"}, study_uid="1.2.1", series_uid="1.2.2",
                    frame_of_reference_uid="1.2.3", uid_seed="bench")
    masks = {"GTV": p["gtv"], "GTVnd": p["gtvnd"], "CTV": p["ctv"]}
    masks.update({f"LN_{s}": p["stations"] == STATION_LABEL[s] for s in STATIONS})
    write_rtstruct(masks, folder / "CT", folder / "RS.dcm")


def _write_nifti(p: dict, grid: Grid, folder: Path) -> None:
    for name, key in (("CT", "ct"), ("GTV", "gtv"), ("GTVnd", "gtvnd"), ("CTV", "ctv"),
                      ("stations", "stations")):
        write_nifti(folder / f"{name}.nii.gz", p[key], grid)


def run(quick: bool = False) -> dict:
    n_default = 5 if quick else 20
    n_full = 1 if quick else 2
    out: dict = {"n_default": n_default, "n_fullres": n_full}
    times = [_time(lambda s=s: make_patient(s, DEFAULT))[0] for s in range(n_default)]
    out["make_patient_default_s"] = statistics.median(times)
    p = make_patient(0, DEFAULT)
    out["partition_default_s"] = _time(lambda: partition_parameters(
        p["ctv"], p["gtv"], p["gtvnd"], p["stations"], DEFAULT.spacing_mm))[0]
    with tempfile.TemporaryDirectory() as tmp:
        out["write_nifti_default_s"] = _time(lambda: _write_nifti(p, DEFAULT,
                                                                  Path(tmp) / "n"))[0]
        out["write_dicom_default_s"] = _time(lambda: _write_dicom(p, DEFAULT,
                                                                  Path(tmp) / "d"))[0]
        full_times = []
        for s in range(n_full):
            dt_, pf = _time(lambda s=s: make_patient(s, FULLRES))
            full_times.append(dt_)
        out["make_patient_fullres_s"] = statistics.median(full_times)
        out["write_dicom_fullres_s"] = _time(lambda: _write_dicom(pf, FULLRES,
                                                                  Path(tmp) / "f"))[0]
        out["fullres_ct_mib"] = float(np.asarray(pf["ct"]).nbytes / 2**20)
    return out


if __name__ == "__main__":
    print(run(quick=True))
