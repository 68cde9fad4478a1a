"""Ingest speed and memory: seconds per patient and peak memory, NIfTI and DICOM.

Two exports are built in a temporary folder from :func:`analysis.phantom.make_patient`:

* ``nifti_default``: patients on the default phantom grid (48 x 96 x 96, 5 x 4 x 4 mm)
  written as NIfTI (what ``params/default.yaml`` ingests);
* ``dicom_fullres``: patients on the paper's grid (93 x 512 x 512, 5 x 1.1543 x 1.1543 mm)
  written as a DICOM CT series + RTSTRUCT with the 3 structures and 16 ``LN_*`` ROIs.

Each is ingested serially (one process) twice: a cold run (every patient read, checked,
rasterised and written) and a warm re-run (content hashes unchanged: every patient
skipped). Peak memory of the per-patient step is measured with :mod:`tracemalloc`
(numpy buffers included) on one patient; ``ru_maxrss`` of the process is reported beside
it (it includes building the phantom). Image generation is not timed.
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from analysis.grid import Grid
from analysis.ingest import run as ingest
from analysis.store import CohortStore

DEFAULT_GRID = Grid((48, 96, 96), (5.0, 4.0, 4.0), (-192.0, -192.0, -120.0))
FULLRES_GRID = Grid((93, 512, 512), (5.0, 1.1543, 1.1543), (-295.5, -295.5, -230.0))


def _write_export(root: Path, grid: Grid, n: int, fmt: str) -> list[str]:
    from analysis.io import write_nifti
    from analysis.io.dicom_write import write_ct_series, write_rtstruct
    from analysis.labels import STATION_LABEL, STATIONS
    from analysis.phantom import make_patient

    mrns = [f"B{i:04d}" for i in range(n)]
    for i, mrn in enumerate(mrns):
        pat = make_patient(np.random.default_rng(1000 + i), grid)
        d = root / "images" / mrn
        d.mkdir(parents=True)
        if fmt == "nifti":
            write_nifti(d / "CT.nii.gz", pat["ct"], grid)
            for name in ("GTV", "GTVnd", "CTV"):
                write_nifti(d / f"{name}.nii.gz", pat[name.lower()].astype(np.uint8), grid)
            write_nifti(d / "stations.nii.gz", pat["stations"], grid)
        else:
            write_ct_series(pat["ct"], grid, d / "CT", patient={"PatientID": mrn, "PatientName": "Bench^Patient"},
                            study_uid=f"1.2.826.0.1.3680043.10.1.{i}.1",
                            series_uid=f"1.2.826.0.1.3680043.10.1.{i}.2",
                            frame_of_reference_uid=f"1.2.826.0.1.3680043.10.1.{i}.3",
                            uid_seed=f"bench-{mrn}")
            masks = {"GTV": pat["gtv"], "GTVnd": pat["gtvnd"], "CTV": pat["ctv"]}
            masks |= {f"LN_{s}": pat["stations"] == STATION_LABEL[s] for s in STATIONS}
            write_rtstruct(masks, d / "CT", d / "RS.dcm", uid_seed=f"bench-{mrn}")
        del pat
    (root / "clinical.csv").write_text("MRN\n" + "\n".join(mrns) + "\n")
    (root / "followup.csv").write_text(
        "MRN,RT_Start,LastFollowUp,LocalFailure,LocalFailureDate\n"
        + "".join(f"{m},2020-01-01,2022-01-01,0,\n" for m in mrns))
    return mrns


def _params(root: Path):
    from analysis.params import parse_params

    return parse_params({
        "run_name": "bench", "scheduler": "serial", "n_workers": 1,
        "cohort": {"source": "export", "export_dir": str(root / "export"), "center": "bench"},
        "ingest": {"pseudonym_key_file": str(root / "key")},
    })


def _measure(tmp: Path, grid: Grid, n: int, fmt: str) -> dict:
    exp = tmp / "export"
    _write_export(exp, grid, n, fmt)
    params = _params(tmp)
    t0 = time.perf_counter()
    res = ingest.run_ingest(CohortStore(tmp / "store"), params, progress=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    res2 = ingest.run_ingest(CohortStore(tmp / "store"), params, progress=False)
    warm = time.perf_counter() - t0
    # peak memory of one patient's step, from scratch
    for d in (tmp / "store" / "patients").iterdir():
        (d / "meta.json").unlink()
    task = ingest.PatientTask(
        pid="Pbench", mrn="B0000", image_dir=str(exp / "images" / "B0000"),
        export_dir=str(exp), format=fmt, store_root=str(tmp / "store2"),
        roi_synonyms=dict(params.ingest.roi_synonyms),
        required=tuple(params.ingest.required_structures),
        tolerance_mm=params.ingest.geometry_tolerance_mm, params_key="bench")
    tracemalloc.start()
    t0 = time.perf_counter()
    out = ingest.ingest_patient(task)
    one = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if not out["ok"] or res.n_included != n or res2.n_skipped != n:
        raise RuntimeError(f"bench ingest {fmt}: unexpected result {out['reason']!r}, "
                           f"{res.n_included}/{n} included, {res2.n_skipped} skipped")
    return {
        "format": fmt, "grid_shape_zyx": list(grid.shape_zyx),
        "grid_spacing_mm": list(grid.spacing_mm), "n_patients": n,
        "seconds_per_patient_cold": round(cold / n, 3),
        "seconds_per_patient_rerun_skipped": round(warm / n, 4),
        "seconds_one_patient_traced": round(one, 3),
        "peak_traced_mib_one_patient": round(peak / 2**20, 1),
        "input_mib_per_patient": round(sum(p.stat().st_size for p in
                                           (exp / "images" / "B0000").rglob("*")
                                           if p.is_file()) / 2**20, 1),
    }


def run(quick: bool = False) -> dict:
    """Ingest seconds per patient and peak memory (see the module docstring)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as t:
        tmp = Path(t)
        (tmp / "n").mkdir()
        out["nifti_default"] = _measure(tmp / "n", DEFAULT_GRID, 2 if quick else 4, "nifti")
        (tmp / "d").mkdir()
        out["dicom_fullres"] = _measure(tmp / "d", FULLRES_GRID, 1 if quick else 2, "dicom")
    out["process_max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 1024, 1)
    return out
