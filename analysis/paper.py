"""The paper's published numbers (SPEC, "Numbers the report must show beside its own").

Defined once here; tables, tests and the phantom generator read them from this module.
Where the paper contradicts itself, the table value is kept and the conflict is noted
in :data:`CONFLICTS`.
"""

from __future__ import annotations

N_PATIENTS = 180

#: Table 3, counts at n = 180 (variable -> level -> count)
TABLE3: dict[str, dict[str, int]] = {
    "sex": {"male": 130, "female": 50},
    "histology": {"small_cell": 176, "mixed": 4},
    "location": {"central": 136, "peripheral": 44},
    "t_stage": {"T1": 28, "T2": 47, "T3": 21, "T4": 84},
    "n_stage": {"N0": 6, "N1": 8, "N2": 82, "N3": 84},
    "tnm_stage": {"I": 4, "II": 4, "III": 158, "IV": 14},
    "paraneoplastic": {"yes": 26, "no": 154},
    "svc_syndrome": {"yes": 12, "no": 168},
    "smoking_bin": {"0": 59, "0-400": 12, ">400": 109},
    "chemo": {"concurrent": 119, "sequential": 61},
}
AGE_MEDIAN = 60
AGE_MEAN = 62

#: Table 4: relapse / no-relapse counts per level, univariate p (None where not given)
TABLE4: dict[str, dict] = {
    "sex": {"levels": {"male": (82, 48), "female": (12, 38)}, "p": 0.000},
    "age_ge_60": {"levels": {"<60": (36, 46), ">=60": (58, 40)}, "p": 0.001},
    "histology": {"levels": {"small_cell": (92, 84), "mixed": (2, 2)}, "p": 0.477},
    "location": {"levels": {"central": (77, 59), "peripheral": (17, 27)}, "p": 0.102},
    "t_stage": {"levels": {"T1": (6, 22), "T2": (32, 15), "T3": (11, 10), "T4": (45, 39)},
                "p": 0.019},
    "n_stage": {"levels": {"N0": (2, 4), "N1": (6, 2), "N2": (39, 43), "N3": (47, 37)},
                "p": 0.622},
    "tnm_stage": {"levels": {"I": (2, 2), "II": (2, 2), "III": (83, 75), "IV": (7, 7)},
                  "p": 0.802},
    "paraneoplastic": {"levels": {"yes": (13, 13), "no": (81, 73)}, "p": 0.104},
    "svc_syndrome": {"levels": {"yes": (6, 6), "no": (62, 106)}, "p": 0.235},
    "smoking_bin": {"levels": {"0": (14, 45), "0-400": (8, 4), ">400": (74, 35)}, "p": 0.001},
    "diameter_ge_5cm": {"levels": {"<5cm": (31, 65), ">=5cm": (63, 21)}, "p": 0.004},
    "chemo": {"levels": {"concurrent": (69, 50), "sequential": (36, 25)}, "p": None},
}
#: Table 4, multivariable Cox
COX_DIAMETER_HR = 1.635
COX_DIAMETER_CI = (1.055, 2.536)
COX_DIAMETER_P = 0.028

#: Outcome and Figure 3
N_RECURRED = 94
N_NOT_RECURRED = 86
MEDIAN_FOLLOWUP_MONTHS = 36
LC3Y_SMALL = 0.867  # diameter < 5 cm
LC3Y_LARGE = 0.611  # diameter >= 5 cm
LOGRANK_P_DIAMETER = 0.004

#: Table 5: station -> (recurrences, mean RctvLN, range RctvLN, GTV affected, CTV-GTV)
TABLE5: dict[str, tuple] = {
    "1R": (3, 0.426, (0.0, 0.85), 0, 3),
    "1L": (2, 0.0, (0.0, 0.0), 0, 2),
    "2R": (8, 0.197, (0.0, 0.70), 0, 8),
    "2L": (0, None, None, 0, 0),
    "3A": (3, 0.030, (0.01, 0.09), 0, 3),
    "3P": (0, None, None, 0, 0),
    "4R": (24, 0.476, (0.0, 0.94), 10, 14),
    "4L": (3, 0.463, (0.0, 0.98), 2, 1),
    "5": (3, 0.908, (0.73, 1.0), 2, 1),
    "6": (10, 0.114, (0.0, 0.57), 1, 9),
    "7": (18, 0.559, (0.0, 0.90), 8, 10),
    "8": (2, 0.551, (0.0, 0.87), 0, 2),
    "10R": (50, 0.715, (0.0, 1.0), 50, 0),
    "10L": (23, 0.651, (0.0, 1.0), 23, 0),
    "11R": (11, 0.593, (0.0, 1.0), 5, 6),
    "11L": (10, 0.641, (0.15, 0.82), 4, 6),
}
N_RECURRENCE_SITES = 170
TOP4_STATIONS = ("10R", "10L", "4R", "7")
TOP4_SHARE = 115 / 170

#: Appendix 2: recurrence rate where a station was initially involved (as quoted in text)
APPENDIX2_TEXT = {"10R": 1.0, "10L": 1.0, "4R_7_11R_11L_range": (0.416, 0.455)}

#: Table 2 "Assignment": published range (min, max) of partition parameters; the ratio
#: families are 0.00-1.00, the counts 0-16, the overlaps 0 or 1, the location 1-4
TABLE2_RANGES: dict[str, tuple[float, float]] = {
    "CTV_volume": (6412, 165390),
    "GTVnd_volume": (0, 76514),
    "image_resolution": (0.89, 1.37),
    "n_LN_CTV": (0, 16),
    "n_LN_GTVnd": (0, 16),
    "GTV_lung_location": (1, 4),
    "GTV_size_cm": (1.31, 11.72),
}

#: Model (Tables 6-7)
N_FEATURES_KEPT = 27
TABLE6_FEATURES: tuple[str, ...] = (
    "RctvLN_2", "RctvLN_5", "RctvLN_6", "RctvLN_7", "RctvLN_8", "RctvLN_9",
    "RIctvLN_2", "RIctvLN_7", "RIctvLN_8", "RIctvLN_14",
    "RgtvLN_2", "RgtvLN_8", "RgtvLN_9", "RgtvLN_11", "RgtvLN_14",
    "RIgtvLN_7", "RIgtvLN_10", "RIgtvLN_13",
    "GTVnd_volume", "image_resolution", "n_LN_GTVnd",
)
#: Table 7: metric -> (training, validation)
TABLE7: dict[str, tuple[float, float]] = {
    "accuracy": (0.82, 0.77),
    "auc": (0.85, 0.77),
    "precision": (0.81, 0.75),
    "recall": (0.84, 0.73),
    "f1": (0.82, 0.74),
}

#: Segmentation: the only per-station DSC figures the paper gives
DSC: dict[str, str] = {"4R": ">0.85", "7": ">0.85", "10R": ">0.85", "3P": "0.78"}
DSC_VALUE: dict[str, float] = {"4R": 0.85, "7": 0.85, "10R": 0.85, "3P": 0.78}

#: Imaging (section 2.1)
CT_SHAPE_YX = (512, 512)
CT_PIXEL_MM = 1.1543
CT_SLICE_MM = 5.0
CT_SLICES_TOTAL = 16676

CONFLICTS: tuple[str, ...] = (
    "Sex: the text says 133 men / 47 women, Table 3 says 130 / 50 (Table 3 shown).",
    "Tumour location: the text says 142 central / 38 peripheral, Table 3 says 136 / 44 "
    "(Table 3 shown).",
    "Paraneoplastic syndrome: the text says 28, Table 3 says 26 (Table 3 shown).",
    "Features kept: the text says 27, Table 6 lists 21.",
    "Table 4 SVC syndrome: relapse / no-relapse 6/6 and 62/106 do not add up to 94/86.",
    "Table 4 chemotherapy: 69 + 36 = 105 relapses, more than the 94 reported.",
    "Table 2 row 110 says cm^3, but its range 1.31-11.72 and the 5 cm cut-off fit a "
    "diameter in cm (SPEC).",
    "Figure 3's 3-year local control (86.7% < 5 cm, 61.1% >= 5 cm) means about 46 "
    "failures by 3 years; the text reports 94 failures in 180 patients at a median "
    "follow-up of 36 months (the phantom matches the 94).",
)
