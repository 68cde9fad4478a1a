"""Gross disease and the clinician's CTV on a phantom patient (:func:`make_patient`).

Primary GTV
    An ellipsoid in physical mm whose longest axis equals the planned greatest diameter,
    randomly oriented, with a slightly irregular (inward-only, so the diameter holds)
    border. Central tumours sit against the hilum of their side, peripheral ones in the
    outer lung; "upper" lobes have their centroid above the carina and "lower" below it
    (the split that ``GTV_lung_location`` uses).
GTVnd
    One node (ellipsoid, 6-14 mm radius) in each involved station, chosen by N stage and
    side: N1 ipsilateral hilar / interlobar (10, 11); N2 adds ipsilateral mediastinal or
    subcarinal stations (2, 4, 3A, 3P, 7, 8; left tumours also 5, 6); N3 adds a
    contralateral hilar or mediastinal station or a supraclavicular one (1R / 1L).
    Organs cut the nodes, unless ``mass_effect``: then a bulky node (half axis >= 10 mm)
    pushes the soft organs aside (:mod:`analysis.phantom.mass_effect`).
CTV
    As a clinician would draw an involved-field CTV: GTV + 5-8 mm and GTVnd + 3-6 mm
    (cropped from bone), plus part of every involved station (60-100 % of it) and, now and
    then, part of an elective station (ipsilateral hilum, subcarinal, ipsilateral lower
    paratracheal; 10-90 %). A partly covered station loses the voxels farthest from the
    disease, so the coverage ratios (``RctvLN_i``) spread over 0-1 rather than sitting
    at 0 or 1.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from analysis.grid import Grid
from analysis.labels import STATION_LABEL
from analysis.phantom import anatomy as A
from analysis.phantom.mass_effect import push_organs
from analysis.phantom.stations import rasterise_stations, station_centres_mm

SIDES = ("R", "L")
LOBES = ("upper", "lower")
LOCATIONS = ("central", "peripheral")
N_STAGES = ("N0", "N1", "N2", "N3")

#: station -> weight of being chosen as an involved N2 station, per side of the primary
N2_WEIGHTS: dict[str, dict[str, float]] = {
    "R": {"4R": 0.55, "7": 0.4, "2R": 0.25, "3A": 0.08, "3P": 0.08, "8": 0.08},
    "L": {"4L": 0.4, "7": 0.4, "5": 0.35, "6": 0.2, "2L": 0.15, "8": 0.08},
}
HILAR = {"R": ("10R", "11R"), "L": ("10L", "11L")}
CONTRA_N3 = {"R": ("10L", "4L", "1R", "1L"), "L": ("10R", "4R", "1L", "1R")}


def _as_rng(rng_or_seed: np.random.Generator | int | np.random.SeedSequence
            ) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _phys_coords(grid: Grid, sl: tuple[slice, slice, slice]) -> tuple[np.ndarray, ...]:
    """LPS x, y, z (mm) of the voxel centres of the block ``sl``, broadcastable."""
    z = grid.origin_mm[2] + np.arange(sl[0].start, sl[0].stop) * grid.spacing_mm[0]
    y = grid.origin_mm[1] + np.arange(sl[1].start, sl[1].stop) * grid.spacing_mm[1]
    x = grid.origin_mm[0] + np.arange(sl[2].start, sl[2].stop) * grid.spacing_mm[2]
    return x[None, None, :], y[None, :, None], z[:, None, None]


def _phys_box(grid: Grid, c_xyz: np.ndarray, r_mm: float) -> tuple[slice, slice, slice]:
    lo = grid.mm_to_index(np.asarray(c_xyz) - r_mm)
    hi = grid.mm_to_index(np.asarray(c_xyz) + r_mm)
    out = []
    for ax in range(3):
        n = grid.shape_zyx[ax]
        a = int(np.clip(np.floor(min(lo[ax], hi[ax])) - 1, 0, n))
        b = int(np.clip(np.ceil(max(lo[ax], hi[ax])) + 2, 0, n))
        out.append(slice(a, b))
    return tuple(out)


def phys_ellipsoid(grid: Grid, c_xyz: np.ndarray, radii_mm: np.ndarray, rot: np.ndarray,
                   bumps: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """Boolean (z, y, x) mask of an ellipsoid in physical LPS mm.

    Parameters
    ----------
    c_xyz : (3,) centre, LPS mm
    radii_mm : (3,) half axes along the columns of ``rot``
    rot : (3, 3) rotation whose columns are the ellipsoid axes (LPS)
    bumps : optional (wave vectors (k, 3) in rad/mm, depth): the border is pulled inwards
        by up to ``depth`` (a fraction) along smooth waves, never outwards.
    """
    out = np.zeros(grid.shape_zyx, dtype=bool)
    sl = _phys_box(grid, c_xyz, float(np.max(radii_mm)))
    if any(s.stop <= s.start for s in sl):
        return out
    x, y, z = _phys_coords(grid, sl)
    dx, dy, dz = x - c_xyz[0], y - c_xyz[1], z - c_xyz[2]
    q = 0.0
    for k in range(3):
        proj = dx * rot[0, k] + dy * rot[1, k] + dz * rot[2, k]
        q = q + (proj / radii_mm[k]) ** 2
    lim = 1.0
    if bumps is not None:
        waves, depth = bumps
        s = 0.0
        for kv in waves:
            s = s + np.sin(dx * kv[0] + dy * kv[1] + dz * kv[2])
        lim = (1.0 - depth * 0.5 * (1.0 + s / len(waves))) ** 2
    out[sl] = q <= lim
    return out


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _pick_nodes(rng: np.random.Generator, n_stage: str, side: str) -> list[str]:
    """Involved stations for an N stage (see module docstring)."""
    if n_stage == "N0":
        return []
    hil = HILAR[side]
    chosen: list[str] = []
    if n_stage == "N1":
        chosen.append(hil[0] if rng.random() < 0.75 else hil[1])
        if rng.random() < 0.35:
            chosen.append(hil[1] if chosen[0] == hil[0] else hil[0])
        return chosen
    if rng.random() < 0.85:
        chosen.append(hil[0])
    if rng.random() < 0.3:
        chosen.append(hil[1])
    w = N2_WEIGHTS[side]
    for s, p in w.items():
        if rng.random() < p:
            chosen.append(s)
    if not any(s in w for s in chosen):
        names = list(w)
        p = np.array([w[s] for s in names])
        chosen.append(names[rng.choice(len(names), p=p / p.sum())])
    if n_stage == "N3":
        contra = CONTRA_N3[side]
        picks = [s for s, p in zip(contra, (0.45, 0.35, 0.3, 0.25), strict=True)
                 if rng.random() < p]
        if not picks:
            picks = [contra[rng.integers(len(contra))]]
        chosen += picks
    return list(dict.fromkeys(chosen))


def _lps_voxel(grid: Grid, idx: np.ndarray) -> np.ndarray:
    return grid.index_to_mm(np.asarray(idx, dtype=float))


#: node half axis (mm) from which a node has mass effect (``make_patient(mass_effect=True)``)
BULKY_NODE_MM = 10.0


def nominal_stations(rng_or_seed: np.random.Generator | int | np.random.SeedSequence,
                     grid: Grid) -> np.ndarray:
    """The segmentation ceiling's prediction for the patient that ``make_patient`` draws
    from the same ``rng_or_seed`` and ``grid``: the same anatomy, stations placed without
    their per-patient jitter (:func:`analysis.phantom.stations.rasterise_stations` with
    ``rng=None``). Its Dice against that patient's stations is the best a predictor can
    reach that knows the anatomy but not the jitter. Pass a fresh generator in the same
    state as the one given to ``make_patient`` (it consumes the same first draw). With
    mass effect the ceiling also knows the pushed organs and the nodes: use
    ``make_patient(..., mass_effect=True, ceiling=True)["nominal_stations"]``."""
    rng = _as_rng(rng_or_seed)
    r_anat = np.random.default_rng(np.random.SeedSequence(rng.integers(2**63)).spawn(4)[0])
    return rasterise_stations(A.build_anatomy(r_anat, grid), None)


def make_patient(rng_or_seed: np.random.Generator | int | np.random.SeedSequence, grid: Grid,
                 *, mass_effect: bool = False, ceiling: bool = False,
                 **disease_overrides) -> dict:
    """Draw one phantom patient on ``grid``.

    Parameters
    ----------
    rng_or_seed : numpy Generator, int or SeedSequence
        Same seed and grid give the same patient.
    grid : Grid
        Any axial grid; the anatomy is built in mm and sampled on it.
    mass_effect : bool
        Bulky nodes (half axis >= ``BULKY_NODE_MM``) take their space: each pushes the
        soft organs it would overlap (vessels, airway and its wall, oesophagus, heart)
        radially out of its ellipsoid, so that they lie beside it, touching it, at the
        same soft-tissue density (:func:`analysis.phantom.mass_effect.push_organs`:
        organ volume is kept, the node's volume comes out of the fat and lung around it;
        bone, CSF, liver, the primary GTV and earlier nodes stay put). The reference
        stations are carried by the same warp (station fat where an organ now lies is no
        longer station; organs are in no station), and the station holding a node
        includes it (as clinicians delineate). Nodes are placed in the stations as
        drawn. Off by default (``phantom.mass_effect``): the same draws, so the GTV and
        node positions are those without it and the default cohort is unchanged.
    ceiling : bool
        Also return ``nominal_stations``: the segmentation ceiling's prediction for this
        patient (:func:`nominal_stations`: the stations of the same anatomy without
        their per-station jitter), with ``mass_effect`` carried by the same push and
        each node in the station that holds it, as in the reference. Draws nothing.
    **disease_overrides
        ``diameter_cm`` (float), ``side`` ("R"/"L"), ``lobe`` ("upper"/"lower"),
        ``location`` ("central"/"peripheral"), ``n_stage`` ("N0".."N3"). Unnamed ones are
        drawn at random.

    Returns
    -------
    dict with ``ct`` (z, y, x) int16 HU; ``gtv``, ``gtvnd``, ``ctv`` (z, y, x) bool;
    ``stations`` (z, y, x) uint8 0..16 (disjoint); ``grid``; ``diameter_cm``, ``side``,
    ``lobe``, ``location``, ``n_stage``, ``involved_stations`` (stations given a node),
    ``elective_stations``, ``coverage_target`` (station -> planned CTV share),
    ``gtv_centre_mm`` (LPS), ``landmarks_mm`` (carina ...), ``station_centres_mm``;
    ``nominal_stations`` (z, y, x) uint8 with ``ceiling``.
    """
    allowed = {"diameter_cm", "side", "lobe", "location", "n_stage"}
    bad = set(disease_overrides) - allowed
    if bad:
        raise ValueError(f"make_patient: unknown disease_overrides {sorted(bad)} "
                         f"(allowed: {sorted(allowed)})")
    rng = _as_rng(rng_or_seed)
    # separate streams so that a disease override never changes the anatomy
    r_anat, r_st, r_dis, r_hu = (np.random.default_rng(s) for s in
                                 np.random.SeedSequence(rng.integers(2**63)).spawn(4))
    diameter_cm = float(disease_overrides.get("diameter_cm", r_dis.uniform(1.5, 8.0)))
    side = disease_overrides.get("side", "R" if r_dis.random() < 0.58 else "L")
    lobe = disease_overrides.get("lobe", "upper" if r_dis.random() < 0.6 else "lower")
    location = disease_overrides.get("location",
                                     "central" if r_dis.random() < 0.75 else "peripheral")
    n_stage = disease_overrides.get("n_stage", N_STAGES[r_dis.choice(4, p=[.04, .05, .45, .46])])
    for name, val, ok in (("side", side, SIDES), ("lobe", lobe, LOBES),
                          ("location", location, LOCATIONS), ("n_stage", n_stage, N_STAGES)):
        if val not in ok:
            raise ValueError(f"make_patient: {name} must be one of {ok}, got {val!r}")
    if not 0.3 <= diameter_cm <= 15.0:
        raise ValueError(f"make_patient: diameter_cm must be in [0.3, 15], got {diameter_cm}")

    anat = A.build_anatomy(r_anat, grid)
    stations = rasterise_stations(anat, r_st)
    # what the mass effect does to the stations it also does to the ceiling's
    station_maps = [stations] + ([rasterise_stations(anat, None)] if ceiling else [])
    f = anat.frame
    shape = grid.shape_zyx
    # nodes are placed in the stations as drawn, whatever earlier nodes did to them
    drawn = stations.copy() if mass_effect else stations
    boxes = ndimage.find_objects(drawn, max_label=len(STATION_LABEL))

    def station_voxels(s: str, st: np.ndarray) -> np.ndarray:
        """(k, 3) indices of station ``s`` in ``st`` (searched in its bounding box only)."""
        lab = STATION_LABEL[s]
        sl = boxes[lab - 1]
        if sl is None:
            return np.zeros((0, 3), dtype=np.int64)
        return np.argwhere(st[sl] == lab) + np.array([a.start for a in sl])
    bone = np.isin(anat.tissue, (A.CORTICAL, A.MARROW, A.CSF))
    airway = anat.tissue == A.AIRWAY
    body = anat.tissue != A.AIR

    # ---- primary GTV
    sgn = -1.0 if side == "R" else 1.0
    R = 5.0 * diameter_cm  # mm
    half_vox = 0.5 * min(grid.spacing_mm)
    if location == "central":
        u = sgn * (48.0 + 0.55 * R + r_dis.uniform(0, 8))
        v = r_dis.uniform(-12, 22)
        w = r_dis.uniform(10, 40) if lobe == "upper" else r_dis.uniform(-55, -15)
    else:
        u = sgn * min(95.0 + r_dis.uniform(-8, 12), 128.0 - R)
        v = r_dis.uniform(-30, 45)
        w = r_dis.uniform(25, 75) if lobe == "upper" else r_dis.uniform(-85, -30)
    if lobe == "upper":  # centroid above the carina: GTV_lung_location's split
        w = float(np.clip(w, 14.0, max(95.0 - 0.6 * R, 14.0)))
    else:
        w = float(np.clip(w, min(-90.0 + 0.6 * R, -26.0), -26.0))
    c_gtv = f.to_lps(np.array([u, v, w]))
    rot = _random_rotation(r_dis)
    radii = np.array([R + half_vox, R * r_dis.uniform(0.7, 0.95), R * r_dis.uniform(0.65, 0.9)])
    waves = r_dis.normal(size=(3, 3)) * (2 * np.pi / max(R, 8.0)) / np.sqrt(3)
    gtv = phys_ellipsoid(grid, c_gtv, radii, rot, bumps=(waves, 0.12))
    gtv &= body & ~bone & ~airway
    if not gtv.any():  # a very small tumour between voxel centres: keep its centre voxel
        idx = np.clip(np.rint(grid.mm_to_index(c_gtv)).astype(int), 0, np.array(shape) - 1)
        gtv[tuple(idx)] = True

    # ---- involved nodes
    involved = _pick_nodes(r_dis, n_stage, side)
    gtvnd = np.zeros(shape, dtype=bool)
    node_specs = []
    for s in involved:
        vox = station_voxels(s, drawn)
        if len(vox) == 0:
            continue
        cen = vox.mean(0)
        pick = vox[r_dis.integers(len(vox))]
        r_node = r_dis.uniform(6.0, 14.0)
        rr = np.array([r_node, r_node * r_dis.uniform(0.7, 1.0), r_node * r_dis.uniform(0.7, 1.0)])
        # a node lies inside the scanned volume: its centre keeps its largest radius plus
        # one voxel from every face of the grid (a clipped node is an export defect that
        # ingest refuses, never something the phantom plants by accident)
        keep_vox = np.ceil(r_node / np.asarray(grid.spacing_mm)) + 1
        idx = np.clip(0.5 * (cen + pick), keep_vox,
                      np.maximum(np.array(shape) - 1 - keep_vox, keep_vox))
        c = _lps_voxel(grid, idx)
        rotn = _random_rotation(r_dis)
        m = phys_ellipsoid(grid, c, rr, rotn)
        if mass_effect and r_node >= BULKY_NODE_MM:  # push the soft organs aside; the GTV
            # (cut by the airway as it was) and earlier nodes hold, nothing enters them
            push_organs(anat.tissue, anat.organ, station_maps, grid, c, rr, rotn, m,
                        fixed=gtv | gtvnd)
            m &= ~(anat.organ | bone) & body
        else:
            m &= ~anat.organ & body
        m[tuple(np.rint(idx).astype(int))] = True
        gtvnd |= m
        if mass_effect:  # the station that holds the node includes it
            for st in station_maps:
                st[m & ~bone] = STATION_LABEL[s]
        node_specs.append((c, rr, rotn))
    gtvnd &= ~gtv
    if mass_effect:  # stations holding a node grew, the push moved others
        boxes = ndimage.find_objects(stations, max_label=len(STATION_LABEL))

    # ---- CTV
    m_gtv = r_dis.uniform(5.0, 8.0)
    ctv = phys_ellipsoid(grid, c_gtv, radii + m_gtv, rot) | gtv
    m_nd = r_dis.uniform(3.0, 6.0)
    for c, rr, rotn in node_specs:
        ctv |= phys_ellipsoid(grid, c, rr + m_nd, rotn)
    ctv |= gtvnd
    elective: list[str] = []
    hil = HILAR[side]
    cand = {hil[0]: 0.6, hil[1]: 0.35, "7": 0.55, ("4R" if side == "R" else "4L"): 0.45}
    if n_stage == "N3":
        cand[CONTRA_N3[side][1]] = 0.25
    for s, p in cand.items():
        if s not in involved and n_stage != "N0" and r_dis.random() < p:
            elective.append(s)
    coverage: dict[str, float] = {}
    gross = gtv | gtvnd
    gross_c = grid.index_to_mm(np.argwhere(gross).mean(0)) if gross.any() else c_gtv
    for s in involved + elective:
        frac = r_dis.uniform(0.6, 1.0) if s in involved else r_dis.uniform(0.1, 0.9)
        vox = station_voxels(s, stations)
        if len(vox) == 0:
            continue
        pts = grid.index_to_mm(vox)
        in_st = gross[tuple(vox.T)]
        ref = pts[in_st].mean(0) if in_st.any() else gross_c
        order = np.argsort(np.linalg.norm(pts - ref, axis=1), kind="stable")
        k = int(np.ceil(frac * len(vox)))
        ctv[tuple(vox[order[:k]].T)] = True
        coverage[s] = round(float(frac), 4)
    ctv &= body & ~bone
    ctv |= gross

    tissue = anat.tissue.copy()
    tissue[(stations > 0) & ~anat.organ] = A.MED_FAT
    tissue[gross] = A.SOFT_NODE
    ct = A.to_hu(tissue, r_hu)
    return {
        "ct": ct, "gtv": gtv, "gtvnd": gtvnd, "ctv": ctv, "stations": stations, "grid": grid,
        "diameter_cm": diameter_cm, "side": side, "lobe": lobe, "location": location,
        "n_stage": n_stage, "involved_stations": involved, "elective_stations": elective,
        "coverage_target": coverage, "gtv_centre_mm": [float(a) for a in c_gtv],
        "landmarks_mm": anat.landmarks_mm, "station_centres_mm": station_centres_mm(anat),
        **({"nominal_stations": station_maps[1]} if ceiling else {}),
    }
