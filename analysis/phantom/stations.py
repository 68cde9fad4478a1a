"""The 16 lymph-node stations of SPEC Table 1 as disjoint regions of the phantom.

Each station is an ellipsoid of mediastinal fat in the canonical frame of
:mod:`analysis.phantom.anatomy` (``u`` left, ``v`` posterior, ``w`` superior, mm, origin
on the tracheal midline at the carina), placed by the IASLC rules it is named after:

======  ==================================================================================
1R/1L   lower cervical / supraclavicular: the most superior, either side of the trachea
2R/2L   upper paratracheal: beside the trachea above the aortic arch
3A      prevascular: in front of the great vessels, behind the sternum
3P      retrotracheal: behind the trachea, right of the oesophagus
4R      right lower paratracheal: right of the trachea, from the carina up to the azygos
        arch and above it
4L      left lower paratracheal: left of the trachea, under the aortic arch
5       aorto-pulmonary window: lateral to 4L, between the arch and the left pulmonary
        artery
6       para-aortic: in front of and to the left of the ascending aorta and arch
7       subcarinal: below the carina, between the main bronchi
8       para-oesophageal: below 7, beside the oesophagus
10R/10L hilar: along the right / left main bronchus
11R/11L interlobar: lateral to and below 10R / 10L, beside the lobar bronchi
======  ==================================================================================

Organs (vessels, airways, oesophagus, bone, heart) are removed from every station, and
overlaps between ellipsoids go to the station listed first in :data:`ORDER`, so the map
is disjoint. Half axes are at least 10 mm, so every station keeps tens of voxels on the default
(5, 4, 4) mm grid; on a very coarse grid a station that would vanish keeps the free voxel
nearest its centre, so all 16 are always present.
"""

from __future__ import annotations

import numpy as np

from analysis.labels import STATION_LABEL
from analysis.phantom.anatomy import Anatomy, ellipsoid

#: station -> (centre (u, v, w) mm, half axes (u, v, w) mm), canonical frame
STATION_SHAPES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "1R": ((-32.0, 2.0, 106.0), (16.0, 16.0, 12.0)),
    "1L": ((32.0, -6.0, 106.0), (16.0, 16.0, 12.0)),
    "2R": ((-21.0, -2.0, 80.0), (13.0, 15.0, 14.0)),
    "2L": ((19.0, 6.0, 82.0), (13.0, 14.0, 14.0)),
    "3A": ((-4.0, -60.0, 58.0), (22.0, 10.0, 22.0)),
    "3P": ((-9.0, 25.0, 60.0), (11.0, 10.0, 24.0)),
    "4R": ((-21.0, -4.0, 26.0), (13.0, 14.0, 16.0)),
    "4L": ((18.0, 0.0, 24.0), (11.0, 12.0, 15.0)),
    "5": ((38.0, -8.0, 30.0), (12.0, 11.0, 12.0)),
    "6": ((31.0, -36.0, 52.0), (12.0, 13.0, 15.0)),
    "7": ((0.0, 8.0, -21.0), (16.0, 14.0, 16.0)),
    "8": ((-2.0, 30.0, -66.0), (12.0, 10.0, 20.0)),
    "10R": ((-35.0, 2.0, -6.0), (12.0, 14.0, 16.0)),
    "10L": ((37.0, 8.0, -14.0), (12.0, 14.0, 16.0)),
    "11R": ((-56.0, 10.0, -38.0), (12.0, 13.0, 14.0)),
    "11L": ((66.0, 16.0, -46.0), (12.0, 12.0, 14.0)),
}
#: priority where ellipsoids of neighbouring stations overlap (first wins)
ORDER: tuple[str, ...] = ("7", "4R", "4L", "10R", "10L", "5", "6", "3P", "3A", "2R", "2L",
                          "11R", "11L", "8", "1R", "1L")
JITTER_MM = 2.5
SIZE_RANGE = (0.9, 1.12)


def station_centres_mm(anat: Anatomy) -> dict[str, list[float]]:
    """Nominal LPS (x, y, z) mm centre of each station for this patient (no jitter)."""
    return {s: anat.frame.to_lps(np.array(c)).tolist() for s, (c, _) in STATION_SHAPES.items()}


def rasterise_stations(anat: Anatomy, rng: np.random.Generator | None) -> np.ndarray:
    """Label map (z, y, x) uint8: 0 background, ``STATION_LABEL[s]`` for station ``s``.

    Each patient's stations get their own small shift (``JITTER_MM``) and size factor
    (``SIZE_RANGE``). Voxels of organs and outside the body are never a station.
    ``rng=None`` gives the nominal map (no shift, the mean size factor): the best guess
    of someone who knows the patient's anatomy but not the per-station jitter, which the
    CT does not show (station fat looks like the fat around it) - the phantom's
    segmentation ceiling.
    """
    f = anat.frame
    lab = np.zeros(f.grid.shape_zyx, dtype=np.uint8)
    free = ~anat.organ & (anat.tissue != 0)
    if rng is None:
        mean_k = 0.5 * (SIZE_RANGE[0] + SIZE_RANGE[1])
        draws = {s: (np.zeros(3), np.full(3, mean_k)) for s in STATION_SHAPES}
    else:
        draws = {s: (rng.normal(0.0, JITTER_MM, size=3), rng.uniform(*SIZE_RANGE, size=3))
                 for s in STATION_SHAPES}
    for s in ORDER:
        (c, r) = STATION_SHAPES[s]
        d, k = draws[s]
        sl, m = ellipsoid(f, tuple(np.add(c, d)), tuple(np.multiply(r, k)))
        m = m & free[sl] & (lab[sl] == 0)
        lab[sl][m] = STATION_LABEL[s]
        if not m.any():  # a very coarse grid: keep the free voxel nearest the centre
            _nearest_voxel(anat, lab, free, np.add(c, d), STATION_LABEL[s])
    return lab


def _nearest_voxel(anat: Anatomy, lab: np.ndarray, free: np.ndarray, c_uvw: np.ndarray,
                   label: int) -> None:
    f = anat.frame
    ok = free & (lab == 0)
    if not ok.any():
        ok = lab == 0
    d2 = (f.u - c_uvw[0]) ** 2 + (f.v - c_uvw[1]) ** 2 + (f.w - c_uvw[2]) ** 2
    d2 = np.where(ok, d2, np.inf)
    lab[np.unravel_index(int(np.argmin(d2)), lab.shape)] = label
