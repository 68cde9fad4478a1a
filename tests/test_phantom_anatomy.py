"""Phantom anatomy and stations: disjoint, all present, placed by the IASLC rules.

Axis convention (analysis/__init__.py): LPS mm, x grows to the patient's LEFT, y grows
POSTERIOR, z grows SUPERIOR. "Right of the trachea" therefore means a smaller x.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.grid import Grid
from analysis.labels import STATION_LABEL, STATIONS
from analysis.phantom import make_patient
from analysis.phantom.anatomy import AIRWAY, LUNG, build_anatomy

TINY = Grid((24, 48, 48), (8.0, 8.0, 8.0), (-188.0, -188.0, -92.0))
DEFAULT = Grid((48, 96, 96), (5.0, 4.0, 4.0), (-190.0, -190.0, -117.5))


def _centre(p: dict, station: str) -> np.ndarray:
    idx = np.argwhere(p["stations"] == STATION_LABEL[station])
    return p["grid"].index_to_mm(idx.mean(0))


@pytest.fixture(scope="module", params=[(TINY, s) for s in range(4)] + [(DEFAULT, 11)],
                ids=lambda p: f"{p[0].spacing_mm[1]:g}mm-seed{p[1]}")
def patient(request):
    grid, seed = request.param
    return make_patient(seed, grid)


def test_outputs_types_and_shapes(patient):
    g = patient["grid"]
    assert patient["ct"].dtype == np.int16 and patient["ct"].shape == g.shape_zyx
    for k in ("gtv", "gtvnd", "ctv"):
        assert patient[k].dtype == bool and patient[k].shape == g.shape_zyx
    assert patient["stations"].dtype == np.uint8
    assert patient["stations"].max() <= 16


def test_all_16_stations_present(patient):
    present = set(np.unique(patient["stations"])) - {0}
    assert present == set(range(1, 17))


def test_stations_do_not_take_organs(patient):
    # station voxels are fat (about -90 HU) or nodes, never air-filled airway lumen
    st = patient["stations"] > 0
    assert np.median(patient["ct"][st & ~patient["gtvnd"]]) < 0
    assert np.median(patient["ct"][st & ~patient["gtvnd"]]) > -300


def test_ctv_contains_gross_disease(patient):
    assert patient["gtv"].any()
    assert not (patient["gtv"] & ~patient["ctv"]).any()
    assert not (patient["gtvnd"] & ~patient["ctv"]).any()


def test_4r_right_and_4l_left_of_tracheal_midline(patient):
    carina = np.asarray(patient["landmarks_mm"]["carina"])
    assert _centre(patient, "4R")[0] < carina[0] < _centre(patient, "4L")[0]
    assert _centre(patient, "2R")[0] < carina[0] < _centre(patient, "2L")[0]


def test_7_below_carina(patient):
    carina = np.asarray(patient["landmarks_mm"]["carina"])
    assert _centre(patient, "7")[2] < carina[2]
    # 8 (para-oesophageal) lies below 7
    assert _centre(patient, "8")[2] < _centre(patient, "7")[2]


def test_3p_behind_trachea_and_3a_in_front(patient):
    carina = np.asarray(patient["landmarks_mm"]["carina"])
    assert _centre(patient, "3P")[1] > carina[1]  # y grows posterior
    assert _centre(patient, "3A")[1] < carina[1]


def test_1r_1l_most_superior(patient):
    z = {s: _centre(patient, s)[2] for s in STATIONS}
    others = max(v for s, v in z.items() if s not in ("1R", "1L"))
    assert min(z["1R"], z["1L"]) > others


def test_hilar_sides(patient):
    carina = np.asarray(patient["landmarks_mm"]["carina"])
    for s in ("10R", "11R"):
        assert _centre(patient, s)[0] < carina[0]
    for s in ("10L", "11L"):
        assert _centre(patient, s)[0] > carina[0]
    # 11 is lateral to 10 on each side
    assert _centre(patient, "11R")[0] < _centre(patient, "10R")[0]
    assert _centre(patient, "11L")[0] > _centre(patient, "10L")[0]


def test_5_lateral_to_4l_and_above_carina(patient):
    carina = np.asarray(patient["landmarks_mm"]["carina"])
    c5, c4l = _centre(patient, "5"), _centre(patient, "4L")
    assert c5[0] > c4l[0] and c5[2] > carina[2]


def test_same_seed_same_patient_and_different_seed_differs():
    a = make_patient(5, TINY)
    b = make_patient(5, TINY)
    c = make_patient(6, TINY)
    for k in ("ct", "gtv", "gtvnd", "ctv", "stations"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["ct"], c["ct"])
    assert not np.array_equal(a["stations"], c["stations"])


def test_overrides_are_obeyed():
    p = make_patient(2, DEFAULT, diameter_cm=6.0, side="L", lobe="upper",
                     location="peripheral", n_stage="N0")
    assert p["involved_stations"] == [] and not p["gtvnd"].any()
    g = p["grid"]
    idx = np.argwhere(p["gtv"])
    pts = g.index_to_mm(idx)
    carina = np.asarray(p["landmarks_mm"]["carina"])
    assert pts[:, 0].mean() > carina[0] + 40  # left lung, peripheral
    assert pts[:, 2].mean() > carina[2]  # upper: centroid above the carina
    # greatest extent along any axis, voxel centres: within one 5 mm slice of 60 mm
    ext = max(np.ptp(pts[:, a]) for a in range(3))
    assert 45.0 <= ext <= 65.0


def test_override_does_not_change_anatomy():
    a = make_patient(9, TINY, n_stage="N0")
    b = make_patient(9, TINY, n_stage="N3", diameter_cm=8.0)
    np.testing.assert_array_equal(a["stations"], b["stations"])


def test_unknown_override_rejected():
    with pytest.raises(ValueError, match="unknown disease_overrides"):
        make_patient(1, TINY, size=3)
    with pytest.raises(ValueError, match="side"):
        make_patient(1, TINY, side="left")


def test_anatomy_has_air_filled_trachea_and_two_lungs():
    a = build_anatomy(np.random.default_rng(1), DEFAULT)
    assert (a.tissue == AIRWAY).sum() > 50
    lung_x = np.argwhere(a.tissue == LUNG)[:, 2]
    # lungs on both sides of the image centre column
    assert (lung_x < 40).sum() > 1000 and (lung_x > 56).sum() > 1000


@pytest.mark.parametrize("seed,side,lobe,code", [(21, "R", "upper", 1), (22, "R", "lower", 2),
                                                 (23, "L", "upper", 3), (24, "L", "lower", 4)])
def test_partition_sees_planned_lobe_and_diameter(seed, side, lobe, code):
    """The partition features read back what the phantom planted: GTV_lung_location
    (1 RU, 2 RL, 3 LU, 4 LL) and GTV_size_cm within one 5 mm slice of the plan."""
    from analysis.partition import partition_parameters

    p = make_patient(seed, DEFAULT, side=side, lobe=lobe, diameter_cm=4.0)
    f = partition_parameters(p["ctv"], p["gtv"], p["gtvnd"], p["stations"],
                             DEFAULT.spacing_mm)
    assert f["GTV_lung_location"] == code
    assert f["GTV_size_cm"] == pytest.approx(4.0, abs=0.5)


def test_gross_disease_never_touches_the_grid_faces():
    """Planted truth: the phantom plants no clipped structure (ingest refuses one).

    Seeds 140-144 on the ci grid include seed 142, whose 1R/1L node reached the top slice
    before node centres were kept one radius plus a voxel from every face (fault: without
    that clamp, seed 142's GTVnd has voxels on the top face)."""
    import numpy as np

    from analysis.grid import Grid
    from analysis.phantom.disease import make_patient

    grid = Grid((48, 96, 96), (5.0, 4.0, 4.0))
    for seed in range(140, 145):
        pat = make_patient(np.random.default_rng(seed), grid)
        for name in ("gtv", "gtvnd"):
            m = pat[name]
            faces = [m[0], m[-1], m[:, 0], m[:, -1], m[:, :, 0], m[:, :, -1]]
            assert not any(f.any() for f in faces), (seed, name)


def test_mass_effect_station_holds_its_node():
    """``mass_effect=True``: every node voxel lies in a station (the station holding a
    node includes it) and bulky nodes are not cut by organs; the primary GTV and the
    default cohort stay as they were (same draws). Default, seed 0 (48 x 96 x 96):
    92 of 118 node voxels in a station; with mass effect 142 of 142.

    Injected fault (once): without ``stations[m & ~bone] = ...`` -> 92 of 142 node
    voxels in a station: fails."""
    g = Grid((48, 96, 96), (5.0, 4.0, 4.0))
    a = make_patient(np.random.default_rng(0), g)
    b = make_patient(np.random.default_rng(0), g, mass_effect=True)
    assert (a["gtv"] == b["gtv"]).all()
    assert int((a["gtvnd"] & (a["stations"] > 0)).sum()) < int(a["gtvnd"].sum())
    assert int((b["gtvnd"] & (b["stations"] > 0)).sum()) == int(b["gtvnd"].sum())
    assert b["gtvnd"].sum() >= a["gtvnd"].sum()  # bulky nodes keep their organ voxels
