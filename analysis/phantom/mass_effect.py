"""Mass effect of bulky lymph nodes (``make_patient(mass_effect=True)``).

A bulky node does not take the voxels of the soft organs it grows into (vessels, airway
lumen and wall, oesophagus, heart: :data:`MOVABLE`); it pushes them aside, so that an
organ that lay inside the node's ellipsoid ends up beside it, touching it.

The push is a backward warp of the label maps in the node's own normalised ellipsoid
coordinates (``p = R^T (x - c) / radii``; the node is the unit ball ``|p| <= 1``), done
ray by ray from the node's centre. Volume along a ray is measured in ``rho = |p|^3``
(volume per solid angle, so that equal ``rho`` lengths are equal volumes in 3-D). Moving
outwards along a ray, the organ tissue met is packed, in order and without gaps, against
the node's surface (``rho' = 1 + organ volume met so far``), while the other tissue met
(fat, lung, muscle: compressible) is squeezed out, up to the node's own volume
(``rho = 1``) of it; from there on nothing moves. So, ray by ray, organ volume is conserved
and the displacement dies out within the first node-volume of fat or lung: the node's
volume comes out of the fat and lung around it, as a growing node's does. Each output
voxel reads its labels (tissue, organ flag, reference stations) from the point of the
input that the forward map sends to it (nearest neighbour: labels are not interpolated).

Nearest-neighbour sampling rounds sub-voxel shifts of an organ's border away (a border
lies half a voxel from the voxel centres on either side), so on a coarse grid the thin
layer that the organ inside the node becomes would mostly vanish (about half of it for
a 12 mm node on 4 mm voxels). :func:`_top_up` gives those voxels
back: each organ grows, from where it now touches the node and through the node from
where it lay inside it, into the free voxels nearest the node's surface until it has as
many voxels within the warp as before.

Never moved and never overwritten (:func:`push_organs` ``fixed``): bone and CSF, liver,
the organ voxels that are not soft organs (vertebral discs, sternum), air outside the
body, and the gross disease already drawn (the primary GTV and earlier nodes). The warp
reaches ``REACH`` node radii; a ray that runs through organ up to there (into the heart)
is cut with a displacement of ``REACH - (REACH^3 - 1)^(1/3)`` = 0.05 node radii, under a
millimetre, and the top-up keeps the count. So no organ loses voxels within the warp
(unless no free voxel is left to grow into); rounding may give one a few more.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from analysis.grid import Grid
from analysis.phantom import anatomy as A

#: tissues a bulky node pushes aside (the soft organs of ``anatomy.ORGAN_TISSUES``)
MOVABLE: tuple[int, ...] = (A.HEART, A.VESSEL, A.AIRWAY, A.AIRWAY_WALL, A.OESOPHAGUS)
#: tissues that never move and are never overwritten
STILL: tuple[int, ...] = (A.AIR, A.CORTICAL, A.MARROW, A.CSF, A.LIVER)
#: the warp reaches this many node radii (normalised) from the centre
REACH = 2.5
#: voxels per chunk of rays (bounds memory: chunk x steps x 3 floats)
CHUNK = 8192
#: ray step, as a fraction of the finest voxel spacing
STEP = 0.5
#: at most this many rounds of growth when giving back rounded-away organ voxels
MAX_GROW = 64


def _box(grid: Grid, c_xyz: np.ndarray, r_mm: float) -> tuple[slice, slice, slice]:
    lo = np.floor(grid.mm_to_index(np.asarray(c_xyz) - r_mm)) - 1
    hi = np.ceil(grid.mm_to_index(np.asarray(c_xyz) + r_mm)) + 2
    return tuple(slice(int(np.clip(a, 0, n)), int(np.clip(b, 0, n)))
                 for a, b, n in zip(lo, hi, grid.shape_zyx, strict=True))


def _to_box_index(grid: Grid, sl: tuple[slice, ...], c_xyz: np.ndarray, rot: np.ndarray,
                  radii: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """Nearest voxel (z, y, x indices into the box ``sl``) of normalised points ``p``
    (..., 3), clipped to the box."""
    xyz = (p * radii) @ rot.T + c_xyz
    zyx = np.rint(grid.mm_to_index(xyz)).astype(np.int64)
    return tuple(np.clip(zyx[..., ax] - sl[ax].start, 0, sl[ax].stop - sl[ax].start - 1)
                 for ax in range(3))


def _sources(grid: Grid, sl: tuple[slice, ...], c_xyz: np.ndarray, radii: np.ndarray,
             rot: np.ndarray, p: np.ndarray, r_out: np.ndarray, todo: np.ndarray,
             soft: np.ndarray) -> tuple[np.ndarray, ...]:
    """Box indices of the input voxel that each voxel ``todo`` (k, 3) reads (the ray
    snow-plough of the module docstring, inverted along each voxel's own ray)."""
    # ray samples: a step is at most STEP of the finest voxel spacing
    n_steps = int(np.ceil(REACH * radii.max() / (STEP * min(grid.spacing_mm))))
    edges = np.linspace(0.0, REACH, n_steps + 1)
    mids = 0.5 * (edges[:-1] + edges[1:])
    rho_e = edges ** 3
    d_rho = np.diff(rho_e)
    src = np.empty((3, len(todo)), dtype=np.int64)
    for a in range(0, len(todo), CHUNK):
        ix = tuple(todo[a:a + CHUNK].T)
        u = p[ix] / np.maximum(r_out[ix], 1e-12)[:, None]
        on_ray = _to_box_index(grid, sl, c_xyz, rot, radii, mids[None, :, None] * u[:, None, :])
        organ_vol = np.zeros((len(u), n_steps + 1))
        np.cumsum(soft[on_ray] * d_rho, axis=1, out=organ_vol[:, 1:])
        # forward map at the step edges: rho' = 1 + organ met + free met beyond one node
        h = 1.0 + organ_vol + np.maximum(rho_e - organ_vol - 1.0, 0.0)
        rho_t = np.maximum(r_out[ix], 1.0) ** 3
        k = np.clip((h <= rho_t[:, None]).sum(1) - 1, 0, n_steps)
        rows = np.arange(len(u))
        h_k = h[rows, k]
        h_next = h[rows, np.minimum(k + 1, n_steps)]
        frac = np.clip((rho_t - h_k) / np.maximum(h_next - h_k, 1e-12), 0.0, 1.0)
        rho_s = np.where(k < n_steps, rho_e[k] + frac * d_rho[np.minimum(k, n_steps - 1)],
                         rho_t - (h_k - rho_e[k]))  # past the reach: the last shift
        src[:, a:a + CHUNK] = _to_box_index(grid, sl, c_xyz, rot, radii,
                                            np.cbrt(rho_s)[:, None] * u)
    return tuple(src)


def _top_up(t_in: np.ndarray, t_out: np.ndarray, o_out: np.ndarray, labels: list[np.ndarray],
            region: np.ndarray, ins: np.ndarray, r_out: np.ndarray) -> None:
    """Give back, label by label, the organ voxels that nearest-neighbour sampling
    rounded away: grow each movable organ from its pushed voxels (and through the node
    from the voxels it had inside it) into free voxels of ``region``, those nearest the
    node's surface first, until it has as many voxels in ``region`` as before."""
    for lab in MOVABLE:
        deficit = int((t_in[region] == lab).sum()) - int((t_out[region] == lab).sum())
        reach = (t_out == lab) & region | (t_in == lab) & ins & region
        for _ in range(MAX_GROW):
            if deficit <= 0:
                break
            free = region & ~ins & ~np.isin(t_out, MOVABLE)
            grown = ndimage.binary_dilation(reach) & (free | ins & region) & ~reach
            if not grown.any():
                break
            front = np.argwhere(grown & free)
            if len(front):
                order = np.argsort(r_out[tuple(front.T)], kind="stable")[:deficit]
                pick = tuple(front[order].T)
                t_out[pick], o_out[pick] = lab, True
                for m in labels:
                    m[pick] = 0
                deficit -= len(order)
            reach |= grown


def push_organs(tissue: np.ndarray, organ: np.ndarray, labels: list[np.ndarray], grid: Grid,
                c_xyz: np.ndarray, radii: np.ndarray, rot: np.ndarray, inside: np.ndarray,
                fixed: np.ndarray) -> None:
    """Push the movable organs out of one node (see the module docstring), in place.

    Parameters
    ----------
    tissue, organ : (z, y, x) tissue labels and organ mask of the anatomy; rewritten.
    labels : further (z, y, x) label maps carried by the same warp (the reference
        stations): each voxel takes the label of the voxel its tissue came from, and an
        organ voxel given back by :func:`_top_up` gets 0 (organs are in no station).
    c_xyz, radii, rot : the node's centre (LPS mm), half axes (mm) and axes (columns).
    inside : (z, y, x) bool, the node's ellipsoid (as rasterised for its mask).
    fixed : (z, y, x) bool, voxels that neither move nor are overwritten besides
        :data:`STILL` tissues and non-movable organ voxels (the gross disease so far).
    """
    c_xyz, radii, rot = (np.asarray(a, dtype=float) for a in (c_xyz, radii, rot))
    sl = _box(grid, c_xyz, REACH * float(radii.max()))
    if any(s.stop <= s.start for s in sl):
        return
    t, org, ins = tissue[sl], organ[sl], inside[sl]
    soft = np.isin(t, MOVABLE)
    hold = fixed[sl] | np.isin(t, STILL) | (org & ~soft)
    soft &= ~hold
    zz, yy, xx = np.meshgrid(*(np.arange(s.start, s.stop) for s in sl), indexing="ij")
    xyz = grid.index_to_mm(np.stack([zz, yy, xx], axis=-1).astype(float))
    p = ((xyz - c_xyz) @ rot) / radii  # normalised node coordinates
    r_out = np.sqrt((p * p).sum(-1))
    region = (r_out <= REACH) & ~hold
    dst = np.argwhere(region & ~ins)
    src = _sources(grid, sl, c_xyz, radii, rot, p, r_out, dst, soft)
    dst = tuple(dst.T)
    keep = hold[src]  # a source that never moves stays where it is (rounding at its edge)
    src = tuple(np.where(keep, d, s_) for d, s_ in zip(dst, src, strict=True))
    new_t, new_o = t.copy(), org.copy()
    new_t[dst], new_o[dst] = t[src], org[src]
    inner = ins & soft  # organ that was inside the node has been pushed out
    new_t[inner] = A.MED_FAT
    new_o[inner] = False
    boxes = [lab[sl] for lab in labels]
    for box in boxes:
        box[dst] = box[src]
    _top_up(t, new_t, new_o, boxes, region, ins & ~hold, r_out)
    tissue[sl], organ[sl] = new_t, new_o
