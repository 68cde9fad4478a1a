"""A tiny stand-in for ``analysis.phantom.make_patient`` for fast unit tests.

:func:`make_toy_patient` draws a cylinder of soft tissue (the body) with two air
ellipsoids (lungs) and a small "trachea", 16 station boxes placed on a 4 x 4 lattice
between the lungs, and a random sphere of gross tumour. It has the same return keys as
the phantom (``ct``, ``gtv``, ``gtvnd``, ``ctv``, ``stations``, ``grid``) and works on
any grid, but it is no anatomy: use it only to test code paths, never for metrics.
"""

from __future__ import annotations

import numpy as np

from analysis.grid import Grid


def make_toy_patient(rng: np.random.Generator | int, grid: Grid) -> dict:
    """A toy patient on ``grid`` (see module docstring); deterministic given ``rng``."""
    rng = np.random.default_rng(rng)
    nz, ny, nx = grid.shape_zyx
    sz, sy, sx = grid.spacing_mm
    z, y, x = np.meshgrid((np.arange(nz) - nz / 2 + 0.5) * sz,
                          (np.arange(ny) - ny / 2 + 0.5) * sy,
                          (np.arange(nx) - nx / 2 + 0.5) * sx, indexing="ij")
    ext = np.array([nz * sz, ny * sy, nx * sx]) / 2
    shift = rng.uniform(-0.04, 0.04, size=3) * ext
    z, y, x = z - shift[0], y - shift[1], x - shift[2]
    ct = np.full(grid.shape_zyx, -1000.0, dtype=np.float32)
    body = (y / (0.8 * ext[1])) ** 2 + (x / (0.85 * ext[2])) ** 2 < 1
    ct[body] = 40.0
    for side in (-1, 1):
        lung = (((x - side * 0.4 * ext[2]) / (0.3 * ext[2])) ** 2
                + (y / (0.55 * ext[1])) ** 2 + (z / (0.8 * ext[0])) ** 2) < 1
        ct[lung] = -850.0
    trachea = ((x / (0.06 * ext[2])) ** 2 + ((y + 0.2 * ext[1]) / (0.06 * ext[1])) ** 2 < 1) \
        & (z > 0)
    ct[trachea] = -990.0
    ct += rng.normal(0, 10, size=ct.shape).astype(np.float32)
    stations = np.zeros(grid.shape_zyx, dtype=np.uint8)
    for k in range(16):
        iz, ix = divmod(k, 4)
        zc = (-0.45 + 0.3 * iz) * ext[0]
        xc = (-0.12 + 0.08 * ix) * ext[2]
        box = ((np.abs(z - zc) < 0.14 * ext[0]) & (np.abs(x - xc) < 0.04 * ext[2])
               & (np.abs(y) < 0.15 * ext[1]))
        stations[box] = k + 1
        ct[box] += 40.0 + 15.0 * k  # each station its own contrast, so it is learnable
    gtv = np.zeros(grid.shape_zyx, dtype=bool)
    c = rng.uniform(-0.3, 0.3, size=3) * ext
    r = rng.uniform(0.08, 0.15) * ext.min()
    gtv[((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < r * r] = True
    return {"ct": np.rint(ct).astype(np.int16), "gtv": gtv,
            "gtvnd": np.zeros_like(gtv), "ctv": gtv.copy(), "stations": stations,
            "grid": grid}
