"""Export predicted station maps: NIfTI label map and DICOM RTSTRUCT.

File formats are written by :mod:`analysis.io` (``write_nifti``, ``write_rtstruct``,
``write_ct_series``); this module only turns a label map into per-station masks named
``LN_<station>`` (docs/data_layout.md), the names the ingest reads back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.grid import Grid
from analysis.labels import STATIONS

#: RGB display colour of each station in the RTSTRUCT (and the viewer's legend)
STATION_COLORS: dict[str, tuple[int, int, int]] = {
    s: tuple(int(255 * c) for c in rgb) for s, rgb in zip(STATIONS, (
        (0.90, 0.10, 0.10), (0.10, 0.45, 0.90), (1.00, 0.50, 0.05), (0.15, 0.75, 0.90),
        (0.20, 0.70, 0.20), (0.60, 0.30, 0.75), (0.95, 0.80, 0.10), (0.55, 0.35, 0.20),
        (0.95, 0.45, 0.70), (0.50, 0.50, 0.50), (0.70, 0.85, 0.20), (0.10, 0.80, 0.65),
        (0.85, 0.25, 0.45), (0.25, 0.30, 0.80), (1.00, 0.70, 0.45), (0.45, 0.60, 1.00)),
        strict=True)
}


def roi_name(station: str) -> str:
    """RTSTRUCT ROI name of a station (``"4R"`` -> ``"LN_4R"``)."""
    if station not in STATIONS:
        raise ValueError(f"station: unknown {station!r}; known: {', '.join(STATIONS)}")
    return f"LN_{station}"


def station_masks(labels: np.ndarray, *, include_empty: bool = False) -> dict[str, np.ndarray]:
    """ROI name -> bool mask (z, y, x) for every station of a label map (0..16)."""
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels: expected (z, y, x), got shape {lab.shape}")
    out = {}
    for k, st in enumerate(STATIONS, start=1):
        m = lab == k
        if include_empty or m.any():
            out[roi_name(st)] = m
    return out


def labels_from_masks(masks: dict[str, np.ndarray], shape_zyx: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`station_masks`: ``LN_<station>`` masks -> uint8 label map.

    Where masks overlap (possible after a contour round trip) the higher label wins.
    """
    lab = np.zeros(shape_zyx, dtype=np.uint8)
    for k, st in enumerate(STATIONS, start=1):
        m = masks.get(roi_name(st))
        if m is not None:
            lab[np.asarray(m, dtype=bool)] = k
    return lab


def write_stations_nifti(labels: np.ndarray, grid: Grid, path: str | Path) -> Path:
    """Write a station label map (uint8, 0..16) as NIfTI on ``grid``."""
    from analysis.io import write_nifti

    return write_nifti(path, np.asarray(labels, dtype=np.uint8), grid)


def write_stations_rtstruct(labels: np.ndarray, ct_series_dir: str | Path,
                            out_path: str | Path, *, label: str = "LN_pred") -> Path:
    """Write the stations of ``labels`` as an RTSTRUCT referencing the CT series in
    ``ct_series_dir`` (the label map must lie on that series' grid)."""
    from analysis.io.dicom_write import write_rtstruct

    masks = station_masks(labels)
    colors = {roi_name(s): STATION_COLORS[s] for s in STATIONS}
    return write_rtstruct(masks, ct_series_dir, out_path, colors=colors,
                          structure_set_label=label,
                          extra_tags={"StructureSetDescription":
                                      "Lymph node stations predicted by DiUNet"})


def export_patient(store, pid: str, out_dir: str | Path, *,
                   ct_series_dir: str | Path | None = None) -> dict[str, Path]:
    """Export ``stations_pred`` of store patient ``pid`` into ``out_dir``.

    Writes ``stations_pred.nii.gz`` and ``RS_stations.dcm``. The RTSTRUCT references the
    CT series in ``ct_series_dir`` when given (the department's own series, so that a
    planning system matches it); otherwise the store's (pseudonymous) CT is first
    written as a series under ``out_dir/CT``.
    """
    from analysis.io.dicom_write import deterministic_uid, write_ct_series

    out = Path(out_dir)
    grid = store.grid(pid)
    labels = store.read(pid, "stations_pred")
    files = {"nifti": write_stations_nifti(labels, grid, out / "stations_pred.nii.gz")}
    if ct_series_dir is None:
        ct_series_dir = out / "CT"
        seed = f"segment-export|{pid}"
        write_ct_series(store.read(pid, "ct"), grid, ct_series_dir,
                        patient={"PatientName": pid, "PatientID": pid},
                        study_uid=deterministic_uid(seed, "study"),
                        series_uid=deterministic_uid(seed, "series"),
                        frame_of_reference_uid=deterministic_uid(seed, "for"),
                        uid_seed=seed)
        files["ct"] = Path(ct_series_dir)
    files["rtstruct"] = write_stations_rtstruct(labels, ct_series_dir, out / "RS_stations.dcm")
    return files
