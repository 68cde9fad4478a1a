"""Benchmark of 04_recurrence's per-patient step at the paper's geometry (issue #16 item 7).

Profiled first (cProfile, ``patient_sites`` on full-resolution phantom patients, 512 x
512 x 93): ``scipy.ndimage.distance_transform_edt`` over the whole volume took about
95% of the time of a patient with recurrence sites (10-20 s each on the shared 2-core
machine), the four NIfTI reads about 0.5 s. The fix
(:func:`analysis.recurrence.nearest_station_at`) runs the transform on the box holding
every station voxel and the site voxels only, with identical distances and labels.

Measured side by side in one run (the two routes alternate within each round; medians
over rounds), on the synthetic full-resolution case of :mod:`analysis.bench.partition`
with three sites (inside a station, 4 mm outside one, 30 mm from every station):

- ``before``: :func:`analysis.recurrence.assign_sites` with the whole-volume
  :func:`analysis.recurrence.station_distance_map` (what 04 did before);
- ``after``: :func:`analysis.recurrence.assign_sites` as 04 calls it now (crop).

``identical`` is True when both give the same table.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from analysis.bench.partition import synthetic_case
from analysis.grid import Grid
from analysis.labels import STATION_LABEL


def _sites(st: np.ndarray, spacing_mm, grid: Grid) -> np.ndarray:
    """Three LPS points (3, 3): the centre voxel of 10R, 4 mm right of 10R's rightmost
    voxel, and 30 mm right of it (the x axis runs to the patient's left)."""
    z, y, x = np.nonzero(st == STATION_LABEL["10R"])
    centre = np.array([int(np.median(z)), int(np.median(y)), int(np.median(x))])
    edge = np.array([z[np.argmin(x)], y[np.argmin(x)], x.min()])
    near = edge - np.array([0, 0, int(round(4.0 / spacing_mm[2]))])
    far = edge - np.array([0, 0, int(round(30.0 / spacing_mm[2]))])
    return grid.index_to_mm(np.stack([centre, near, far]))


def run(quick: bool = False) -> dict:
    """Time the per-patient site assignment before and after the crop (module doc)."""
    from threadpoolctl import threadpool_limits

    from analysis import recurrence as rc

    shape = (40, 256, 256) if quick else (93, 512, 512)
    spacing = (5.0, 2.3086, 2.3086) if quick else (5.0, 1.1543, 1.1543)
    rounds = 2 if quick else 5
    _, gtv, gtvnd, st, sp = synthetic_case(shape, spacing)
    grid = Grid(shape, sp)
    gross = gtv | gtvnd
    pts = _sites(st, sp, grid)

    def before():
        maps = rc.station_distance_map(st, sp)
        return rc.assign_sites(pts, st, grid, 10.0, gross=gross, distance_maps=maps)

    def after():
        return rc.assign_sites(pts, st, grid, 10.0, gross=gross)

    wall: dict[str, list[float]] = {"before": [], "after": []}
    cpu: dict[str, list[float]] = {"before": [], "after": []}
    load_before = os.getloadavg()[0]
    with threadpool_limits(1):
        after()  # warm up
        for _ in range(rounds):
            for name, fn in (("before", before), ("after", after)):
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
        a, b = after(), before()
    identical = True
    try:
        pd.testing.assert_frame_equal(a, b)
    except AssertionError:
        identical = False
    med_wall = {k: float(np.median(v)) for k, v in wall.items()}
    med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
    return {
        "case": {"shape_zyx": list(shape), "spacing_mm": list(sp),
                 "sites": a["how"].tolist()},
        "rounds": rounds,
        "numpy_threads": 1,
        "cpu_count": os.cpu_count(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "median_wall_s": med_wall,
        "median_cpu_s": med_cpu,
        "speedup_wall": med_wall["before"] / med_wall["after"],
        "speedup_cpu": med_cpu["before"] / med_cpu["after"],
        "identical": identical,
    }
