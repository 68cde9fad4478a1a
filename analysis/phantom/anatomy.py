"""Synthetic chest anatomy in physical millimetres, rasterised onto any grid.

Everything is defined in a *canonical* frame (mm): ``u`` runs to the patient's left,
``v`` posterior, ``w`` superior, with the origin on the tracheal midline at the carina.
A patient is a small random similarity transform of that frame (size per axis, shift,
rotation of up to a few degrees about the body axis and a tilt) plus a smooth
displacement field of a few millimetres, so that every patient differs. The grid only
decides where the voxel centres sample the shapes; nothing depends on its spacing, so
the same patient can be drawn at 8 mm, 4 mm or 1.15 mm.

Tissues are painted in order (later wins) into a ``uint8`` tissue map; HU come from a
lookup table plus Gaussian noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.grid import Grid

# ----------------------------------------------------------------------------- tissues
AIR, SUBCUT_FAT, MUSCLE, LUNG, MED_FAT, HEART, VESSEL, AIRWAY, AIRWAY_WALL = range(9)
OESOPHAGUS, CORTICAL, MARROW, SOFT_NODE, LIVER, CSF = range(9, 15)
#: mean HU of each tissue label (contrast-enhanced vessels)
TISSUE_HU: np.ndarray = np.array(
    [-1000, -100, 45, -850, -90, 40, 160, -990, 60, 35, 700, 220, 35, 60, 10],
    dtype=np.float32,
)
#: tissues that are organs, never station fat
ORGAN_TISSUES: tuple[int, ...] = (HEART, VESSEL, AIRWAY, AIRWAY_WALL, OESOPHAGUS, CORTICAL,
                                  MARROW, CSF, LIVER)
NOISE_HU = 14.0
#: the superior-inferior span the stations need (mm, canonical), checked against the grid
NEEDED_SPAN_MM = (-95.0, 120.0)


@dataclass
class Frame:
    """Canonical coordinates of every voxel of a grid for one patient.

    Attributes
    ----------
    grid : Grid
    u, v, w : ndarray of shape (z, y, x), float32
        Canonical mm of each voxel centre (left, posterior, superior).
    centre_mm : ndarray (3,)
        LPS (x, y, z) of the canonical origin (the carina) before deformation.
    scale : ndarray (3,)
        Size factors (u, v, w).
    rot : ndarray (3, 3)
        Rotation canonical -> patient.
    max_disp_mm : float
        Bound on the displacement field.
    """

    grid: Grid
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    centre_mm: np.ndarray
    scale: np.ndarray
    rot: np.ndarray
    max_disp_mm: float
    _idx_cache: dict = field(default_factory=dict, repr=False)

    def to_lps(self, uvw: np.ndarray) -> np.ndarray:
        """Canonical points ``(..., 3)`` -> LPS ``(..., 3)`` mm (ignoring the small
        displacement field)."""
        c = np.asarray(uvw, dtype=float) * self.scale
        return c @ self.rot.T + self.centre_mm

    def box(self, lo: tuple[float, float, float], hi: tuple[float, float, float]
            ) -> tuple[slice, slice, slice]:
        """Index slices (z, y, x) covering the canonical box ``lo..hi`` (u, v, w) mm."""
        corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                            for c in (lo[2], hi[2])])
        p = self.to_lps(corners)
        pad = self.max_disp_mm * float(self.scale.max()) + 1.0
        idx_lo = self.grid.mm_to_index(p.min(0) - pad)
        idx_hi = self.grid.mm_to_index(p.max(0) + pad)
        out = []
        for ax in range(3):
            a = int(np.floor(min(idx_lo[ax], idx_hi[ax]))) - 1
            b = int(np.ceil(max(idx_lo[ax], idx_hi[ax]))) + 2
            n = self.grid.shape_zyx[ax]
            out.append(slice(min(max(a, 0), n), min(max(b, 0), n)))
        return tuple(out)

    def coords(self, sl: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
        return self.u[sl], self.v[sl], self.w[sl]


def make_frame(rng: np.random.Generator, grid: Grid) -> Frame:
    """Draw a patient's size, position, rotation and deformation; sample it on ``grid``.

    The carina is placed so that the span the stations need (``NEEDED_SPAN_MM``) fits
    the grid's superior-inferior extent; when the grid is shorter than that span, the
    patient is scaled down to fit (tiny test grids).
    """
    nz, ny, nx = grid.shape_zyx
    sz, sy, sx = grid.spacing_mm
    scale = np.array([rng.uniform(0.92, 1.08), rng.uniform(0.9, 1.1), rng.uniform(0.92, 1.08)])
    ext_z = (nz - 1) * sz
    need = (NEEDED_SPAN_MM[1] - NEEDED_SPAN_MM[0]) * scale[2]
    if need > ext_z:
        scale = scale * (ext_z / need) * 0.98
        need = (NEEDED_SPAN_MM[1] - NEEDED_SPAN_MM[0]) * scale[2]
    ext_xy = min((nx - 1) * sx, (ny - 1) * sy)
    if 360.0 * scale[0] > ext_xy:  # body must fit in-plane
        scale[:2] = scale[:2] * ext_xy / (360.0 * scale[0])
    slack_z = max(ext_z - need, 0.0)
    z_lo = grid.origin_mm[2] + 0.5 * slack_z + rng.uniform(-0.3, 0.3) * slack_z
    zc = z_lo - NEEDED_SPAN_MM[0] * scale[2]
    xc = grid.origin_mm[0] + 0.5 * (nx - 1) * sx + rng.uniform(-8, 8)
    yc = grid.origin_mm[1] + 0.5 * (ny - 1) * sy - 12.0 * scale[1] + rng.uniform(-8, 8)
    centre = np.array([xc, yc, zc])
    yaw = np.deg2rad(rng.uniform(-4, 4))
    tilt = np.deg2rad(rng.uniform(-2.5, 2.5))
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    rot = rz @ rx
    # voxel centres -> canonical coordinates (inverse similarity, then displacement)
    z = (grid.origin_mm[2] + np.arange(nz) * sz - centre[2]).astype(np.float32)
    y = (grid.origin_mm[1] + np.arange(ny) * sy - centre[1]).astype(np.float32)
    x = (grid.origin_mm[0] + np.arange(nx) * sx - centre[0]).astype(np.float32)
    rinv = (rot.T / scale[:, None]).astype(np.float32)  # canonical = rinv @ q
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    u = rinv[0, 0] * xx + rinv[0, 1] * yy + rinv[0, 2] * zz
    v = rinv[1, 0] * xx + rinv[1, 1] * yy + rinv[1, 2] * zz
    w = rinv[2, 0] * xx + rinv[2, 1] * yy + rinv[2, 2] * zz
    amp = 3.0
    for comp in (u, v, w):
        k = rng.normal(size=3)
        k = k / np.linalg.norm(k) * (2 * np.pi / rng.uniform(160, 320))
        ph = rng.uniform(0, 2 * np.pi)
        a = np.float32(rng.uniform(-amp, amp))
        sx_ = np.sin(np.float32(k[0]) * xx + np.float32(ph)).astype(np.float32)
        # separable product keeps the field smooth and cheap: sin(kx x + ph) cos(ky y) cos(kz z)
        comp += a * sx_ * np.cos(np.float32(k[1]) * yy) * np.cos(np.float32(k[2]) * zz)
    u = np.broadcast_to(u, (nz, ny, nx)).astype(np.float32)
    v = np.broadcast_to(v, (nz, ny, nx)).astype(np.float32)
    w = np.broadcast_to(w, (nz, ny, nx)).astype(np.float32)
    return Frame(grid, u, v, w, centre, scale, rot, amp)


# -------------------------------------------------------------------------- primitives
Region = tuple[tuple[slice, slice, slice], np.ndarray]


def ellipsoid(f: Frame, c: tuple[float, float, float], r: tuple[float, float, float],
              rot: np.ndarray | None = None) -> Region:
    """Voxels with ``|R^T (p - c) / r| <= 1`` (canonical mm); ``rot`` optional 3x3."""
    rmax = max(r) if rot is not None else None
    if rot is None:
        lo = (c[0] - r[0], c[1] - r[1], c[2] - r[2])
        hi = (c[0] + r[0], c[1] + r[1], c[2] + r[2])
    else:
        lo = (c[0] - rmax, c[1] - rmax, c[2] - rmax)
        hi = (c[0] + rmax, c[1] + rmax, c[2] + rmax)
    sl = f.box(lo, hi)
    u, v, w = f.coords(sl)
    du, dv, dw = u - c[0], v - c[1], w - c[2]
    if rot is not None:
        du, dv, dw = (rot[0, 0] * du + rot[1, 0] * dv + rot[2, 0] * dw,
                      rot[0, 1] * du + rot[1, 1] * dv + rot[2, 1] * dw,
                      rot[0, 2] * du + rot[1, 2] * dv + rot[2, 2] * dw)
    m = (du / r[0]) ** 2 + (dv / r[1]) ** 2 + (dw / r[2]) ** 2 <= 1.0
    return sl, m


def ellipse_cylinder(f: Frame, c_uv: tuple[float, float], r_uv: tuple[float, float],
                     w_range: tuple[float, float]) -> Region:
    """Elliptic cylinder along the body axis between ``w_range`` (canonical mm)."""
    lo = (c_uv[0] - r_uv[0], c_uv[1] - r_uv[1], w_range[0])
    hi = (c_uv[0] + r_uv[0], c_uv[1] + r_uv[1], w_range[1])
    sl = f.box(lo, hi)
    u, v, w = f.coords(sl)
    m = (((u - c_uv[0]) / r_uv[0]) ** 2 + ((v - c_uv[1]) / r_uv[1]) ** 2 <= 1.0)
    m &= (w >= w_range[0]) & (w <= w_range[1])
    return sl, m


def tube(f: Frame, pts: np.ndarray, radius: float) -> Region:
    """Union of capsules of ``radius`` mm around the polyline ``pts`` (k, 3) canonical mm."""
    pts = np.asarray(pts, dtype=float)
    lo = tuple(pts.min(0) - radius)
    hi = tuple(pts.max(0) + radius)
    sl = f.box(lo, hi)
    u, v, w = f.coords(sl)
    d2 = np.full(u.shape, np.inf, dtype=np.float32)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        ab = b - a
        L2 = float(ab @ ab)
        t = ((u - a[0]) * ab[0] + (v - a[1]) * ab[1] + (w - a[2]) * ab[2]) / max(L2, 1e-9)
        np.clip(t, 0.0, 1.0, out=t)
        e = ((u - a[0] - t * ab[0]) ** 2 + (v - a[1] - t * ab[1]) ** 2
             + (w - a[2] - t * ab[2]) ** 2)
        np.minimum(d2, e, out=d2)
    return sl, d2 <= radius * radius


def paint(vol: np.ndarray, region: Region, value: int, where: np.ndarray | None = None) -> None:
    """Set ``vol`` to ``value`` on ``region``; ``where`` (same shape as vol) restricts it."""
    sl, m = region
    if where is not None:
        m = m & where[sl]
    vol[sl][m] = value


def to_full(shape: tuple[int, int, int], region: Region) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    sl, m = region
    out[sl] = m
    return out


# ------------------------------------------------------------------- the anatomy model
def arch_points(n: int = 9) -> np.ndarray:
    """Centre line of the aortic arch (canonical mm): ascending top -> descending top."""
    th = np.linspace(0.0, np.pi, n)
    return np.stack([4 + 22 * th / np.pi, -33 * np.cos(th) + 2, 44 + 20 * np.sin(th)], axis=1)


#: named centre lines (canonical mm) of the tubular organs, and their radii (mm)
TUBES: dict[str, tuple[np.ndarray, float]] = {
    "trachea": (np.array([[0, -4, 200], [0, -2, 80], [0, 0, 6]]), 9.5),
    "bronchus_R": (np.array([[0, 0, 6], [-24, 3, -14], [-40, 8, -42], [-46, 12, -70]]), 7.0),
    "bronchus_L": (np.array([[0, 0, 6], [22, 4, -10], [46, 8, -30], [58, 12, -62]]), 6.5),
    "oesophagus": (np.array([[4, 18, 200], [8, 20, 40], [12, 24, -60], [20, 10, -200]]), 7.5),
    "aorta_asc": (np.array([[6, -28, -55], [4, -32, 0], [4, -31, 44]]), 14.0),
    "aorta_arch": (arch_points(), 13.0),
    "aorta_desc": (np.array([[26, 35, 44], [27, 40, 0], [22, 45, -200]]), 12.0),
    "pulm_trunk": (np.array([[24, -52, -55], [26, -34, -26], [26, -18, -10]]), 13.0),
    "pa_left": (np.array([[26, -18, -10], [40, -10, 4], [56, 0, 0], [70, 8, -20]]), 9.5),
    "pa_right": (np.array([[26, -18, -10], [8, -18, -14], [-20, -18, -18], [-44, -10, -24],
                           [-60, -4, -32]]), 9.5),
    "svc": (np.array([[-26, -24, 120], [-26, -26, 40], [-24, -30, -30]]), 10.0),
    "azygos": (np.array([[-10, 50, -120], [-14, 46, 6], [-18, 30, 18], [-22, 10, 16],
                         [-26, -20, 20]]), 5.0),
    "brachiocephalic": (np.array([[-2, -24, 56], [-12, -14, 90], [-24, -6, 200]]), 7.0),
    "carotid_L": (np.array([[10, -12, 60], [14, -8, 100], [18, -4, 200]]), 5.0),
    "subclavian_L": (np.array([[20, 2, 60], [26, 4, 95], [60, 10, 120]]), 5.5),
    "bcv_left": (np.array([[62, -20, 96], [20, -36, 84], [-22, -28, 76]]), 6.5),
}
VESSEL_TUBES = ("aorta_asc", "aorta_arch", "aorta_desc", "pulm_trunk", "pa_left", "pa_right", "svc",
                "azygos", "brachiocephalic", "carotid_L", "subclavian_L", "bcv_left")
AIRWAY_TUBES = ("trachea", "bronchus_R", "bronchus_L")

#: body outline (u, v centre; u, v half axes), mm
BODY = ((0.0, 14.0), (168.0, 112.0))
SUBCUT_MM = 14.0
CHEST_WALL_MM = 30.0
VERTEBRA_UV = (0.0, 68.0)
STERNUM_UV = (0.0, -84.0)


@dataclass
class Anatomy:
    """One patient's rasterised anatomy.

    Attributes
    ----------
    frame : Frame
    tissue : ndarray (z, y, x) uint8, tissue labels (module constants)
    organ : ndarray (z, y, x) bool, voxels of organs that station fat never takes
    cavity : ndarray (z, y, x) bool, inside the rib cage above the diaphragm
    lung : ndarray (z, y, x) bool (before stations and disease are painted)
    landmarks_mm : dict name -> LPS (x, y, z) mm (carina, trachea axis points)
    """

    frame: Frame
    tissue: np.ndarray
    organ: np.ndarray
    cavity: np.ndarray
    lung: np.ndarray
    landmarks_mm: dict[str, list[float]]


def build_anatomy(rng: np.random.Generator, grid: Grid) -> Anatomy:
    """Draw and rasterise one patient's chest on ``grid`` (see module docstring)."""
    f = make_frame(rng, grid)
    shape = grid.shape_zyx
    t = np.zeros(shape, dtype=np.uint8)
    w_all = (-400.0, 400.0)
    (bu, bv), (ru, rv) = BODY
    ru_p, rv_p = ru * rng.uniform(0.95, 1.05), rv * rng.uniform(0.95, 1.05)
    paint(t, ellipse_cylinder(f, (bu, bv), (ru_p, rv_p), w_all), SUBCUT_FAT)
    sub = SUBCUT_MM * rng.uniform(0.7, 1.3)
    paint(t, ellipse_cylinder(f, (bu, bv), (ru_p - sub, rv_p - sub), w_all), MUSCLE)
    cav_r = (ru_p - sub - CHEST_WALL_MM + 10, rv_p - sub - CHEST_WALL_MM + 12)
    cav_c = (bu, bv - 10)
    cavity = to_full(shape, ellipse_cylinder(f, cav_c, cav_r, (-400.0, 150.0)))
    # ribs: bands in the chest wall, sloping downwards anteriorly, every ~26 mm
    rib_sl, rib_m = ellipse_cylinder(f, cav_c, (cav_r[0] + 10, cav_r[1] + 10), w_all)
    u, v, w = f.coords(rib_sl)
    inner = ((u - cav_c[0]) / (cav_r[0] + 2)) ** 2 + ((v - cav_c[1]) / (cav_r[1] + 2)) ** 2 > 1
    phase = np.mod(w + 0.25 * (-v) + rng.uniform(0, 26), 26.0)
    ribs = rib_m & inner & (phase < 9.0) & (w < 125)
    t[rib_sl][ribs] = CORTICAL
    # mediastinal fat fills the cavity; lungs are carved out
    t[cavity] = MED_FAT
    dome_r = -90.0 + rng.uniform(-8, 8)
    dome_l = -102.0 + rng.uniform(-8, 8)
    for side, cu, dome in ((-1, -84.0, dome_r), (1, 86.0, dome_l)):
        cu = cu + rng.uniform(-4, 4)
        sl, m = ellipsoid(f, (cu, 10.0, -10.0), (66.0, 92.0, 128.0))
        u, v, w = f.coords(sl)
        m &= w > dome - 0.006 * ((u - cu) ** 2 + (v - 10.0) ** 2)
        # the mediastinum: narrow in front, wider around the great vessels and spine
        med_half = np.where(v < -40, 14.0, np.where(v < 50, 34.0, 30.0)) + np.where(
            w < -30, 10.0, 0.0)
        m &= (u * side) > med_half + (6.0 if side > 0 else 0.0)
        m &= cavity[sl]
        t[sl][m] = LUNG
    lung = t == LUNG
    # liver below the right dome, abdominal soft tissue below the left one
    u, w = f.u, f.w
    below = cavity & ~lung & (w < np.where(u < 0, dome_r, dome_l)) & (w < -60)
    t[below & (u < 20)] = LIVER
    t[below & (u >= 20)] = MUSCLE
    # heart
    heart = ellipsoid(f, (22.0 + rng.uniform(-5, 5), -30.0, -88.0), (68.0, 52.0, 52.0))
    paint(t, heart, HEART, where=cavity)
    organ = np.zeros(shape, dtype=bool)
    organ |= to_full(shape, heart) & cavity
    # vessels, oesophagus, airways
    jit = {k: rng.normal(0, 2.0, size=3) for k in TUBES}
    for name in VESSEL_TUBES:
        pts, r = TUBES[name]
        reg = tube(f, pts + jit[name] * (name != "azygos"), r * rng.uniform(0.9, 1.1))
        paint(t, reg, VESSEL)
        organ[reg[0]] |= reg[1]
    pts, r = TUBES["oesophagus"]
    reg = tube(f, pts + jit["oesophagus"], r)
    paint(t, reg, OESOPHAGUS)
    organ[reg[0]] |= reg[1]
    tr_r = TUBES["trachea"][1] * rng.uniform(0.9, 1.1)
    for name in AIRWAY_TUBES:
        pts, r = TUBES[name]
        rr = tr_r if name == "trachea" else r
        reg = tube(f, pts, rr + 2.0)
        paint(t, reg, AIRWAY_WALL)
        organ[reg[0]] |= reg[1]
        paint(t, tube(f, pts, rr), AIRWAY)
    # spine: vertebral bodies with discs, canal and posterior elements
    vb_c = (VERTEBRA_UV[0], VERTEBRA_UV[1] + rng.uniform(-3, 3))
    sl, m = ellipse_cylinder(f, vb_c, (19.0, 16.0), w_all)
    u, v, w = f.coords(sl)
    disc = np.mod(w + rng.uniform(0, 27), 27.0) < 5.0
    shell = ((u - vb_c[0]) / 16.0) ** 2 + ((v - vb_c[1]) / 13.0) ** 2 > 1.0
    t[sl][m & ~disc] = MARROW
    t[sl][m & ~disc & shell] = CORTICAL
    t[sl][m & disc] = MUSCLE
    organ[sl] |= m
    post = ellipse_cylinder(f, (vb_c[0], vb_c[1] + 32.0), (22.0, 16.0), w_all)
    paint(t, post, CORTICAL)
    organ[post[0]] |= post[1]
    canal = ellipse_cylinder(f, (vb_c[0], vb_c[1] + 27.0), (8.0, 7.0), w_all)
    paint(t, canal, CSF)
    spinous = ellipse_cylinder(f, (vb_c[0], vb_c[1] + 52.0), (5.0, 14.0), w_all)
    paint(t, spinous, CORTICAL)
    # sternum (manubrium top near the sternal notch)
    st = ellipse_cylinder(f, STERNUM_UV, (16.0, 7.0), (-120.0, 62.0 + rng.uniform(-5, 5)))
    paint(t, st, CORTICAL)
    organ[st[0]] |= st[1]
    # keep the lungs as painted before organs overwrote them
    lung &= t == LUNG
    carina = f.to_lps(np.array([0.0, 0.0, 6.0]))
    tr_top = f.to_lps(TUBES["trachea"][0][1])
    landmarks = {"carina": carina.tolist(), "trachea_upper": tr_top.tolist()}
    return Anatomy(f, t, organ, cavity, lung, landmarks)


def to_hu(tissue: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tissue labels -> int16 HU with Gaussian noise (``NOISE_HU``)."""
    hu = TISSUE_HU[tissue]
    hu += rng.standard_normal(size=tissue.shape, dtype=np.float32) * np.float32(NOISE_HU)
    np.clip(hu, -1024, 3071, out=hu)
    return np.rint(hu).astype(np.int16)
