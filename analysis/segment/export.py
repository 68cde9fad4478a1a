"""Export predicted station maps: NIfTI label map, DICOM RTSTRUCT and DICOM-SEG.

File formats are written by :mod:`analysis.io` (``write_nifti``, ``write_rtstruct``,
``write_ct_series``) and highdicom (SEG); this module turns a label map into per-station
masks named ``LN_<station>`` (docs/data_layout.md), the names the ingest reads back, and
decides what the DICOM files say about the patient.

Exports are pseudonymous (issue 13): the RTSTRUCT and the SEG reference a CT series whose
patient identity is the store's pseudonym (PatientName = PatientID = pid) and which has
no birth date, accession number, institution, physician or description (the attributes
of the PS3.15 Annex E basic profile that the writers could copy), with dates set to the
writers' fixed placeholder. By default that series is the store's CT written under
``out_dir/CT`` with fresh UIDs (derived from the pid, not from any department UID).
``keep_department_uids=True`` (with ``ct_series_dir``, the department's series) instead
references the department's study, series, frame-of-reference and image UIDs, so that a
planning system can match the structures to its own CT; even then every identity field
holds the pid. The department's series is found among the files ingest read, whatever
their names (``CT.1.3.12...``, ``IM00001``, no suffix): the CT series on the station
map's grid. :func:`check_pseudonymous` verifies each written file.

The copy of the CT written with fresh UIDs leaves Manufacturer empty (the store does not
keep the department's); the RTSTRUCT and SEG name this package as their manufacturer.
Beside the NIfTI label map, ``stations_pred_ColorTable.ctbl`` gives 3D Slicer the
station names and colours (:data:`STATION_COLORS`, the one colour table).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

from analysis.fsutil import atomic_write, atomic_write_bytes
from analysis.grid import Grid
from analysis.io import write_nifti
from analysis.io.dicom_scan import files_under, scan_dicom
from analysis.io.dicom_write import deterministic_uid, write_ct_series, write_rtstruct
from analysis.labels import STATION_COLORS, STATIONS

#: what the exported files say they hold (no patient information)
STATIONS_DESCRIPTION = "Lymph node stations predicted by DiUNet"
#: the Manufacturer of the RTSTRUCT and SEG this package writes
EXPORT_MANUFACTURER = "analysis (SCLC stations)"
#: file names inside a patient's export folder
NIFTI_NAME, COLOR_TABLE_NAME = "stations_pred.nii.gz", "stations_pred_ColorTable.ctbl"
RTSTRUCT_NAME, SEG_NAME = "RS_stations.dcm", "SEG_stations.dcm"

#: patient-module attributes an export may carry, and the value each must hold: the pid
#: for the identity, empty (or absent) for the rest
IDENTITY_KEYWORDS: tuple[str, ...] = ("PatientName", "PatientID")
EMPTY_KEYWORDS: tuple[str, ...] = (
    "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge", "OtherPatientIDs",
    "OtherPatientNames", "PatientAddress", "AccessionNumber", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "StudyDescription", "SeriesDescription",
    "PatientComments", "ImageComments", "StationName",
)
#: the fixed date and time the writers put in every date / time attribute
PLACEHOLDER_DATE, PLACEHOLDER_TIME = "20200101", "090000"

#: geometry and UID attributes kept from a department series (keep_department_uids)
_REFERENCE_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "ImagePositionPatient", "ImageOrientationPatient",
    "PixelSpacing", "SliceThickness", "Rows", "Columns", "Modality", "SamplesPerPixel",
    "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation",
)


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


def color_table_text() -> str:
    """The station colour table in 3D Slicer's ``.ctbl`` format: label, ROI name,
    R G B (0-255), opacity; label 0 is the transparent background."""
    lines = ["# Color table file stations (analysis.labels.STATION_COLORS)",
             f"# {len(STATIONS) + 1} values", "0 Background 0 0 0 0"]
    lines += [f"{k} {roi_name(s)} {' '.join(str(c) for c in STATION_COLORS[s])} 255"
              for k, s in enumerate(STATIONS, start=1)]
    return "\n".join(lines) + "\n"


def write_color_table(path: str | Path) -> Path:
    """Write :func:`color_table_text` to ``path`` (e.g. ``stations_pred_ColorTable.ctbl``,
    loaded by Slicer beside ``stations_pred.nii.gz``)."""
    return atomic_write_bytes(path, color_table_text().encode())


def write_stations_nifti(labels: np.ndarray, grid: Grid, path: str | Path) -> Path:
    """Write a station label map (uint8, 0..16) as NIfTI on ``grid``."""
    return write_nifti(path, np.asarray(labels, dtype=np.uint8), grid)


def write_stations_rtstruct(labels: np.ndarray, ct_series_dir: str | Path,
                            out_path: str | Path, *, label: str = "LN_pred") -> Path:
    """Write the stations of ``labels`` as an RTSTRUCT referencing the CT series in
    ``ct_series_dir`` (the label map must lie on that series' grid).

    A low-level writer: it copies the series' patient module. For a patient's export use
    :func:`export_stations`, which references a pseudonymous series.
    """
    return _write_rtstruct(labels, ct_series_dir, out_path, None, label=label)


def _write_rtstruct(labels, series, out_path, uid_seed, *, label: str = "LN_pred") -> Path:
    masks = station_masks(labels)
    colors = {roi_name(s): STATION_COLORS[s] for s in STATIONS}
    return write_rtstruct(masks, series, out_path, colors=colors, uid_seed=uid_seed,
                          structure_set_label=label, manufacturer=EXPORT_MANUFACTURER,
                          extra_tags={"StructureSetDescription": STATIONS_DESCRIPTION})


def export_patient(store, pid: str, out_dir: str | Path, *,
                   ct_series_dir: str | Path | Sequence[Path] | None = None,
                   keep_department_uids: bool = False,
                   volume: str = "stations_pred") -> dict[str, Path]:
    """Export the station map ``volume`` (``stations_pred`` or ``stations_cv``) of store
    patient ``pid`` into ``out_dir``.

    See :func:`export_stations` (files ``stations_pred.nii.gz`` and its Slicer colour
    table, ``RS_stations.dcm``, ``SEG_stations.dcm`` and, unless
    ``keep_department_uids``, the CT under ``CT/``).
    """
    return export_stations(store.read(pid, volume), store.read(pid, "ct"),
                           store.grid(pid), pid, out_dir, ct_series_dir=ct_series_dir,
                           keep_department_uids=keep_department_uids)


def export_stations(labels: np.ndarray, ct_hu: np.ndarray, grid: Grid, pid: str,
                    out_dir: str | Path, *,
                    ct_series_dir: str | Path | Sequence[Path] | None = None,
                    keep_department_uids: bool = False) -> dict[str, Path]:
    """Write a station map as NIfTI, RTSTRUCT and DICOM-SEG, pseudonymously.

    Parameters
    ----------
    labels : (z, y, x) uint8, 0..16, on ``grid``
    ct_hu : (z, y, x) integer HU on ``grid`` (written as the referenced series)
    grid : Grid
    pid : str
        The store's pseudonym: the only patient identity the files carry.
    out_dir : folder to write into
    ct_series_dir : the department's CT series, optional: its folder, or its files (any
        names). Used only with ``keep_department_uids``; the CT series among them on
        ``grid`` is referenced.
    keep_department_uids : bool
        Reference the department's study/series/frame/image UIDs instead of fresh ones
        (no CT is then written: the department has it).

    Returns
    -------
    dict with keys ``nifti``, ``color_table``, ``rtstruct``, ``seg`` and (fresh UIDs)
    ``ct``.

    Raises
    ------
    ValueError
        ``keep_department_uids`` without ``ct_series_dir``, or a department series whose
        geometry differs from ``grid`` (named by pid, never by the folder's name).
    """
    out = Path(out_dir)
    labels = np.asarray(labels, dtype=np.uint8)
    if labels.shape != grid.shape_zyx:
        raise ValueError(f"patient {pid}: labels {labels.shape} are not on the grid "
                         f"{grid.shape_zyx}")
    files = {"nifti": write_stations_nifti(labels, grid, out / NIFTI_NAME),
             "color_table": write_color_table(out / COLOR_TABLE_NAME)}
    seed = f"segment-export|{pid}"
    if keep_department_uids:
        if ct_series_dir is None:
            raise ValueError(f"patient {pid}: keep_department_uids needs ct_series_dir")
        refs = department_references(ct_series_dir, pid, grid)
        seed = f"segment-export|{pid}|{refs[0].SeriesInstanceUID}"
    else:
        write_ct_series(np.asarray(ct_hu), grid, out / "CT",
                        patient=pseudonymous_patient(pid),
                        study_uid=deterministic_uid(seed, "study"),
                        series_uid=deterministic_uid(seed, "series"),
                        frame_of_reference_uid=deterministic_uid(seed, "for"),
                        uid_seed=seed, manufacturer="")
        files["ct"] = out / "CT"
        refs = _read_series(out / "CT")
    files["rtstruct"] = _write_rtstruct(labels, refs, out / RTSTRUCT_NAME, seed)
    files["seg"] = write_stations_seg(labels, refs, out / SEG_NAME, uid_seed=seed)
    for key in ("rtstruct", "seg"):
        check_pseudonymous(files[key], pid)
    return files


def _read_series(ct_dir: Path) -> list:
    import pydicom

    dss = [pydicom.dcmread(f) for f in sorted(Path(ct_dir).glob("*.dcm"))]
    return sorted(dss, key=lambda d: float(d.ImagePositionPatient[2]))


def pseudonymous_patient(pid: str) -> dict[str, str]:
    """The patient module of an export: the pid as name and ID; birth date and sex
    present (DICOM type 2) but empty."""
    return {"PatientName": pid, "PatientID": pid, "PatientBirthDate": "", "PatientSex": ""}


def series_on_grid(ct_series: str | Path | Sequence[Path], grid: Grid, pid: str) -> list:
    """The headers (no pixels) of the CT series on ``grid`` among ``ct_series`` (a folder,
    or files; any names; files that are not DICOM CT images are passed over), slice 0
    most inferior.

    Raises ValueError naming the pid (never a file) when no CT series there has
    ``grid``'s shape and origin.
    """
    files = files_under(ct_series) if isinstance(ct_series, (str, Path)) else \
        [Path(f) for f in ct_series]
    by_series: dict[str, list[Path]] = defaultdict(list)
    for h in scan_dicom(files):
        if h.modality == "CT" and h.has_pixels:
            by_series[h.series_uid].append(h.path)
    if not by_series:
        raise ValueError(f"patient {pid}: the department CT series has no DICOM CT image")
    found = []
    for paths_ in by_series.values():
        src = sorted((pydicom.dcmread(f, stop_before_pixels=True, force=True)
                      for f in paths_), key=lambda d: float(d.ImagePositionPatient[2]))
        shape = (len(src), int(src[0].Rows), int(src[0].Columns))
        origin = tuple(float(v) for v in src[0].ImagePositionPatient)
        if shape == grid.shape_zyx and np.allclose(origin, grid.origin_mm, atol=0.01):
            return src
        found.append(shape)
    raise ValueError(f"patient {pid}: the department CT series is not on the station "
                     f"map's grid {grid.shape_zyx} (series found: {found})")


def department_references(ct_series_dir: str | Path | Sequence[Path], pid: str,
                          grid: Grid) -> list:
    """Pseudonymous stand-ins for a department CT series, slice 0 most inferior.

    ``ct_series_dir``: the series' folder or files, any names (:func:`series_on_grid`).
    Each stand-in keeps only the geometry and UIDs of its slice
    (:data:`_REFERENCE_KEYWORDS`);
    its identity is ``pid``, its dates are the placeholder, and it has none of
    :data:`EMPTY_KEYWORDS`. Raises ValueError naming the pid (not the folder) when no
    series there is on ``grid``.
    """
    from pydicom.dataset import Dataset

    src = series_on_grid(ct_series_dir, grid, pid)
    refs = []
    for d in src:
        r = Dataset()
        for kw in _REFERENCE_KEYWORDS:
            if kw in d:
                setattr(r, kw, d.data_element(kw).value)
        for kw, value in pseudonymous_patient(pid).items():
            setattr(r, kw, value)
        r.StudyDate, r.StudyTime = PLACEHOLDER_DATE, PLACEHOLDER_TIME
        r.StudyID = "1"
        r.ReferringPhysicianName = ""
        r.AccessionNumber = ""
        refs.append(r)
    return refs


def write_stations_seg(labels: np.ndarray, source_images: list, out_path: str | Path, *,
                       uid_seed: str) -> Path:
    """Write a station map as a binary DICOM-SEG (highdicom) on ``source_images``.

    One segment per station present, labelled ``LN_<station>`` (property: SCT Lymph
    Node), numbered 1.. in station order; frames follow ``source_images`` (slice 0 most
    inferior), so frame k of the SEG is ``labels[k]``. UIDs derive from ``uid_seed``.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes


    lab = np.asarray(labels)
    present = [k for k in range(1, len(STATIONS) + 1) if (lab == k).any()]
    if not present:
        raise ValueError(f"{Path(out_path).name}: no station in the label map")
    renum = np.zeros(len(STATIONS) + 1, dtype=np.uint8)
    renum[present] = np.arange(1, len(present) + 1)
    algo = hd.AlgorithmIdentificationSequence(name="DiUNet", version="1",
                                              family=codes.cid7162.ArtificialIntelligence)
    descs = [hd.seg.SegmentDescription(
        segment_number=i, segment_label=roi_name(STATIONS[k - 1]),
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=codes.SCT.LymphNode,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algo,
        tracking_uid=deterministic_uid(uid_seed, "seg", "track", k),
        tracking_id=roi_name(STATIONS[k - 1]))
        for i, k in enumerate(present, start=1)]
    with warnings.catch_warnings():
        # the pid as PatientName is one component on purpose
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended")
        seg = _segmentation(hd, source_images, renum[lab.astype(np.int64)], descs, uid_seed)
    _placeholder_dates(seg)
    return atomic_write(out_path, lambda tmp: seg.save_as(tmp))


def _segmentation(hd, source_images, pixels, descs, uid_seed):
    return hd.seg.Segmentation(
        source_images=source_images, pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs,
        series_instance_uid=deterministic_uid(uid_seed, "seg", "series"), series_number=3,
        sop_instance_uid=deterministic_uid(uid_seed, "seg", "sop"), instance_number=1,
        manufacturer=EXPORT_MANUFACTURER, manufacturer_model_name="DiUNet",
        software_versions="1", device_serial_number="0",
        content_description=STATIONS_DESCRIPTION, omit_empty_frames=True)


def _placeholder_dates(seg) -> None:
    """highdicom stamps "now": the placeholder instead (same inputs, same bytes)."""
    for elem in seg:
        if not elem.value:
            continue  # type 2 attributes left empty (the birth date) stay empty
        if elem.VR == "DA":
            elem.value = PLACEHOLDER_DATE
        elif elem.VR == "TM":
            elem.value = PLACEHOLDER_TIME
        elif elem.VR == "DT":
            elem.value = PLACEHOLDER_DATE + PLACEHOLDER_TIME


def read_stations_seg(seg_file: str | Path, source_sop_uids: list[str]) -> np.ndarray:
    """Label map (z, y, x), 0..16, of a SEG written by :func:`write_stations_seg`.

    ``source_sop_uids`` are the referenced CT images in slice order (slice 0 first).
    """
    import highdicom as hd

    seg = hd.seg.segread(seg_file)
    pix = seg.get_pixels_by_source_instance(source_sop_instance_uids=source_sop_uids,
                                            combine_segments=True)
    lut = np.zeros(int(max(seg.segment_numbers)) + 1, dtype=np.uint8)
    for n in seg.segment_numbers:
        label = seg.get_segment_description(n).segment_label
        lut[n] = STATIONS.index(label.removeprefix("LN_")) + 1
    return lut[np.asarray(pix, dtype=np.int64)]


#: sequences the writers fill with numbers and UIDs only (contour points, per-frame
#: geometry): :func:`check_pseudonymous` does not descend into them, which were 95% of its
#: time (a ci-size SEG: 3 s under load); everything else is checked at any depth
GEOMETRY_SEQUENCES: tuple[str, ...] = ("ROIContourSequence",
                                       "PerFrameFunctionalGroupsSequence")


def check_pseudonymous(dicom_file: str | Path, pid: str) -> None:
    """Raise ValueError when an exported file carries patient information.

    Checks, at any depth of the dataset (except inside :data:`GEOMETRY_SEQUENCES`):
    PatientName and PatientID equal ``pid``; every attribute of :data:`EMPTY_KEYWORDS`
    absent or empty; every date the placeholder.
    """
    ds = pydicom.dcmread(dicom_file, stop_before_pixels=True)
    bad = []

    def visit(d) -> None:
        for elem in d:
            kw = elem.keyword
            if kw in GEOMETRY_SEQUENCES:
                continue
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif kw in IDENTITY_KEYWORDS and str(elem.value) != pid:
                bad.append(kw)
            elif kw in EMPTY_KEYWORDS and elem.value not in (None, "", b""):
                bad.append(kw)
            elif elem.VR == "DA" and elem.value not in (None, "", PLACEHOLDER_DATE):
                bad.append(kw)

    visit(ds)
    if bad:
        raise ValueError(f"patient {pid}: {Path(dicom_file).name} is not pseudonymous: "
                         f"{sorted(set(bad))} hold patient information")
