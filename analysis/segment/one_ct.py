"""Segment one CT from the command line, as TotalSegmentator users expect.

``python -m analysis.segment predict --ct CT --gtv GTV --out DIR`` (:func:`predict_one`):

* ``CT``: a NIfTI file, or a folder holding one DICOM CT series (any file names);
* ``GTV``: the gross tumour as a NIfTI mask on the CT's grid, or an RTSTRUCT of the DICOM
  series (its GTV and, when present, GTVnd ROIs, matched through
  ``ingest.roi_synonyms``); ``--gtvnd`` adds a nodal NIfTI mask. The model's mask input
  is GTV ∪ GTVnd;
* ``DIR`` receives ``stations_pred.nii.gz`` with its Slicer colour table, ``qc.json``
  (the domain check of :func:`analysis.segment.qc.check_prediction`: usable, reasons,
  notes), ``RS_stations.dcm`` and ``SEG_stations.dcm``. A DICOM series is referenced by
  its own UIDs (the planning system's frame); a NIfTI CT gets a pseudonymous DICOM copy
  under ``CT/`` that the RTSTRUCT and SEG reference. Every identity field is ``--pid``.

No store, no params file needed (``--params`` picks another checkpoint or segment
settings; default ``params/default.yaml``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis import paths
from analysis.fsutil import atomic_write_bytes
from analysis.grid import Grid
from analysis.io import (
    match_roi_names,
    read_ct_series,
    read_nifti,
    read_rtstruct,
    rtstruct_roi_names,
)
from analysis.segment.checkpoint import load_checkpoint
from analysis.segment.export import export_stations, write_color_table, write_stations_nifti
from analysis.segment.infer import predict_stations
from analysis.segment.qc import check_prediction

#: the QC verdict's file in the output folder
QC_FILE = "qc.json"


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


def read_ct(ct: str | Path) -> tuple[np.ndarray, Grid, object]:
    """(HU int16 (z, y, x), grid, the DICOM series or None) of a NIfTI file or a DICOM
    series folder."""
    ct = Path(ct)
    if ct.is_dir():
        series = read_ct_series(ct, patient="input")
        return series.hu, series.grid, series
    if _is_nifti(ct):
        hu, grid = read_nifti(ct, dtype=np.int16)
        return hu, grid, None
    raise ValueError(f"--ct {ct}: expected a NIfTI file (.nii, .nii.gz) or a folder "
                     "holding one DICOM CT series")


def _nifti_mask(path: Path, grid: Grid, what: str) -> np.ndarray:
    m, g = read_nifti(path)
    if g.shape_zyx != grid.shape_zyx or not np.allclose(g.origin_mm, grid.origin_mm,
                                                        atol=0.01):
        raise ValueError(f"{what} {path.name}: not on the CT's grid ({g.shape_zyx} vs "
                         f"{grid.shape_zyx}); nothing is resampled")
    return np.asarray(m) > 0


def read_gross_tumour(gtv: str | Path, grid: Grid, series, synonyms: dict,
                      gtvnd: str | Path | None = None) -> np.ndarray:
    """GTV ∪ GTVnd (bool, on ``grid``) from NIfTI masks or an RTSTRUCT of ``series``."""
    gtv = Path(gtv)
    if _is_nifti(gtv):
        mask = _nifti_mask(gtv, grid, "--gtv")
    else:
        if series is None:
            raise ValueError("--gtv: an RTSTRUCT needs --ct to be its DICOM series folder")
        names = rtstruct_roi_names(gtv)
        found = match_roi_names(names, {k: synonyms.get(k, []) for k in ("gtv", "gtvnd")})
        if not found["gtv"]:
            raise ValueError(f"--gtv {gtv.name}: no GTV ROI (synonyms "
                             f"{synonyms.get('gtv')}); ROIs found: {', '.join(names)}")
        rois = found["gtv"] + found["gtvnd"]
        masks = read_rtstruct(gtv, series, roi_names=rois)
        mask = np.logical_or.reduce([masks[r] for r in rois])
    if gtvnd is not None:
        mask = mask | _nifti_mask(Path(gtvnd), grid, "--gtvnd")
    return mask


def predict_one(ct: str | Path, gtv: str | Path, out_dir: str | Path, params, *,
                gtvnd: str | Path | None = None, pid: str = "anonymous",
                checkpoint: str | Path | None = None) -> dict:
    """Segment one CT and write its maps, QC verdict and exports (module docstring).

    Returns
    -------
    dict: ``files`` (name -> path), ``qc`` (the verdict written to ``qc.json``),
    ``export_error`` (why the RTSTRUCT / SEG were not written, e.g. no station; "" when
    they were).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hu, grid, series = read_ct(ct)
    mask = read_gross_tumour(gtv, grid, series, params.ingest.roi_synonyms, gtvnd)
    ck = load_checkpoint(paths.resolve(checkpoint or params.segment.checkpoint))
    pred, conf = predict_stations(hu, mask, grid, ck, params, patient=pid,
                                  return_confidence=True)
    qc = check_prediction(pred, hu, grid, ck, confidence=conf)
    verdict = {**qc.as_row(), "notes": qc.notes, "codes": qc.codes}
    atomic_write_bytes(out / QC_FILE, json.dumps(verdict, indent=1, default=float).encode())
    files = {"qc": out / QC_FILE}
    error = ""
    try:
        files.update(export_stations(pred, hu, grid, pid, out,
                                     ct_series_dir=list(series.files) if series else None,
                                     keep_department_uids=series is not None))
    except ValueError as err:  # e.g. no station predicted: a SEG needs a segment
        error = str(err)
        files["nifti"] = write_stations_nifti(pred, grid, out / "stations_pred.nii.gz")
        files["color_table"] = write_color_table(out / "stations_pred_ColorTable.ctbl")
    return {"files": files, "qc": verdict, "export_error": error}
