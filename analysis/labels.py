"""The one source of truth for station labels, structure names and feature names.

Stations follow SPEC (Table 1 of the paper): label ``i`` in a station map is ``LN_i``;
0 means "no station". Station 9 is not among the 16.
"""

from __future__ import annotations

#: LN_1 .. LN_16 (paper Table 1); the label value of ``STATIONS[k]`` is ``k + 1``
STATIONS: tuple[str, ...] = (
    "1R", "1L", "2R", "2L", "3A", "3P", "4R", "4L",
    "5", "6", "7", "8", "10R", "10L", "11R", "11L",
)
N_STATIONS = len(STATIONS)
#: label value of each station name
STATION_LABEL: dict[str, int] = {name: i + 1 for i, name in enumerate(STATIONS)}
#: number of segmentation classes: background + 16 stations
N_CLASSES = N_STATIONS + 1

#: long names (IASLC map, paper Appendix 1)
STATION_DESCRIPTION: dict[str, str] = {
    "1R": "right lower cervical / supraclavicular",
    "1L": "left lower cervical / supraclavicular",
    "2R": "right upper paratracheal",
    "2L": "left upper paratracheal",
    "3A": "prevascular",
    "3P": "retrotracheal",
    "4R": "right lower paratracheal",
    "4L": "left lower paratracheal",
    "5": "subaortic (aorto-pulmonary window)",
    "6": "para-aortic",
    "7": "subcarinal",
    "8": "para-oesophageal",
    "10R": "right hilar",
    "10L": "left hilar",
    "11R": "right interlobar",
    "11L": "left interlobar",
}

#: canonical structure names in the cohort store (files are ``<name>.nii.gz``)
STRUCTURES: tuple[str, ...] = ("gtv", "gtvnd", "ctv")

#: ratio feature families (SPEC Table 2 rows 1-96), in SPEC order
RATIO_FAMILIES: tuple[str, ...] = ("RctvLN", "RIctvLN", "RgtvLN", "RIgtvLN", "RcmgLN", "RIcmgLN")
#: stations whose CTV overlap is a binary feature (SPEC rows 103-109), in SPEC order
OVERLAP_STATIONS: tuple[str, ...] = ("4L", "4R", "5", "6", "7", "11L", "11R")
SCALAR_FEATURES: tuple[str, ...] = (
    "CTV_volume", "GTVnd_volume", "image_resolution", "n_LN_CTV", "n_LN_GTVnd",
    "GTV_lung_location",
)


def _feature_names() -> tuple[str, ...]:
    names = [f"{fam}_{i}" for fam in RATIO_FAMILIES for i in range(1, N_STATIONS + 1)]
    names += list(SCALAR_FEATURES)
    names += [f"CTV_overlaps_{s}" for s in OVERLAP_STATIONS]
    names.append("GTV_size_cm")
    return tuple(names)


#: the 110 partition parameters, named and ordered as SPEC's table (RctvLN_1 ... GTV_size_cm)
FEATURE_NAMES: tuple[str, ...] = _feature_names()
assert len(FEATURE_NAMES) == 110

_FAMILY_MEANING = {
    "RctvLN": "share of station LN_{i} ({s}) covered by the CTV",
    "RIctvLN": "CTV inside LN_{i} ({s}) as a share of ideaCTV",
    "RgtvLN": "share of station LN_{i} ({s}) occupied by gross tumour",
    "RIgtvLN": "gross tumour inside LN_{i} ({s}) as a share of ideaCTV",
    "RcmgLN": "share of station LN_{i} ({s}) covered by CTV minus GTV",
    "RIcmgLN": "CTV minus GTV inside LN_{i} ({s}) as a share of ideaCTV",
}
_SCALAR_MEANING = {
    "CTV_volume": "CTV volume (voxels of the planning grid)",
    "GTVnd_volume": "GTVnd volume (voxels)",
    "image_resolution": "in-plane pixel spacing (mm)",
    "n_LN_CTV": "number of stations touched by the CTV",
    "n_LN_GTVnd": "number of stations touched by GTVnd",
    "GTV_lung_location": "lobe of the primary (1 RU, 2 RL, 3 LU, 4 LL)",
    "GTV_size_cm": "greatest 3D diameter of the primary GTV (cm)",
}


#: RGB display colour of each station: one table for every view (slice viewer, gallery,
#: 3D pages) and every export (RTSTRUCT, DICOM-SEG)
STATION_COLORS: dict[str, tuple[int, int, int]] = {
    s: tuple(int(255 * c) for c in rgb) for s, rgb in zip(STATIONS, (
        (0.90, 0.10, 0.10), (0.10, 0.45, 0.90), (1.00, 0.50, 0.05), (0.15, 0.75, 0.90),
        (0.20, 0.70, 0.20), (0.60, 0.30, 0.75), (0.95, 0.80, 0.10), (0.55, 0.35, 0.20),
        (0.95, 0.45, 0.70), (0.50, 0.50, 0.50), (0.70, 0.85, 0.20), (0.10, 0.80, 0.65),
        (0.85, 0.25, 0.45), (0.25, 0.30, 0.80), (1.00, 0.70, 0.45), (0.45, 0.60, 1.00)),
        strict=True)
}

def feature_number(name: str) -> int:
    """Table 2 row number (1-based) of a partition feature."""
    return FEATURE_NAMES.index(name) + 1


def display_name(name: str) -> str:
    """A feature's column label in the report's tables: SPEC's exact name (the paper's
    station index, which the store, the model and Table 6 keep) with the station's name.

    Example: ``"RctvLN_5"`` -> ``"RctvLN_5 (3A)"``; ``"CTV_volume"`` unchanged.
    """
    fam, _, idx = str(name).rpartition("_")
    if fam in RATIO_FAMILIES and idx.isdigit() and 1 <= int(idx) <= N_STATIONS:
        return f"{name} ({STATIONS[int(idx) - 1]})"
    return str(name)


def feature_meaning(name: str) -> str:
    """Plain-language meaning of a partition feature (Table 2 / Table 6 wording)."""
    if name in _SCALAR_MEANING:
        return _SCALAR_MEANING[name]
    if name.startswith("CTV_overlaps_"):
        return f"CTV touches station {name.removeprefix('CTV_overlaps_')} (0/1)"
    fam, idx = name.rsplit("_", 1)
    i = int(idx)
    return _FAMILY_MEANING[fam].format(i=i, s=STATIONS[i - 1])
