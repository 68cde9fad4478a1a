"""Benchmark of the 110 partition parameters (issue 4): fast path vs reference vs SimpleITK.

On one synthetic full-resolution case (512 x 512 x 93, 5 mm slices, 1.1543 mm pixels as
in the paper; 16 station ellipsoids in the mediastinum, a CTV of a few hundred cm^3, a
5 cm primary in the right upper lung, involved nodes), measured side by side in one run
(the methods alternate within each round; medians over rounds), numpy on one thread:

- ``fast``: :func:`analysis.partition.partition_parameters` (all 110 features);
- ``reference``: :func:`analysis.partition.partition_parameters_reference` (96 boolean
  intersections; all 110 features);
- ``sitk_1thread`` / ``sitk_default``: the same (17, 8) count table through SimpleITK:
  the combined label ``stations*8 + 4*ctv + 2*gtv + gtvnd`` over the whole volume (made
  with numpy, which is cheaper than SimpleITK's image arithmetic), then
  ``LabelShapeStatisticsImageFilter`` (the fastest SimpleITK route we found), on one
  thread and on SimpleITK's default number of threads; ``sitk_labelstatistics_default``
  is the same with ``LabelStatisticsImageFilter`` (fewer rounds). Times start from the
  numpy arrays and cover the counts only (the fast path's time covers all 110
  features, counts included);
- ``read_floor``: ``np.load`` of the four arrays from ``.npy`` files in the OS page cache
  (bringing the four arrays into memory once: the floor any method pays to see every
  voxel); ``scan_floor`` is one ``np.count_nonzero`` over each array already in memory
  (a pure memory scan, reported for orientation).

Peak memory: tracemalloc peak of one call (numpy allocations; SimpleITK's own buffers
are not seen by tracemalloc, so its peak is the process RSS increase, from psutil).
``identical`` is True when the three routes give the same count table and the fast path
and the reference give the same 110 numbers.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from analysis import partition as P
from analysis.labels import N_CLASSES, STATION_LABEL

#: station centres (x, y, z) in mm from the carina (x to the patient's left, y posterior,
#: z superior) and semi-axes (mm): a rough mediastinal layout, not anatomy
_STATION_LAYOUT: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "1R": ((-25, 0, 95), (18, 15, 12)), "1L": ((25, 0, 95), (18, 15, 12)),
    "2R": ((-15, -5, 70), (12, 12, 15)), "2L": ((15, -5, 70), (10, 12, 15)),
    "3A": ((0, -40, 50), (20, 10, 25)), "3P": ((0, 20, 50), (10, 8, 25)),
    "4R": ((-18, -5, 25), (12, 12, 15)), "4L": ((18, -5, 25), (10, 10, 12)),
    "5": ((30, -15, 20), (10, 10, 10)), "6": ((30, -35, 35), (8, 12, 15)),
    "7": ((0, 10, -20), (15, 15, 18)), "8": ((5, 30, -55), (10, 10, 25)),
    "10R": ((-30, 5, -5), (10, 12, 15)), "10L": ((30, 5, -5), (10, 12, 15)),
    "11R": ((-45, 10, -30), (10, 15, 15)), "11L": ((45, 10, -30), (10, 15, 15)),
}


def _ellipsoid(shape, spacing_mm, centre_zyx, semi_mm_zyx) -> tuple[tuple[slice, ...],
                                                                     np.ndarray]:
    """A filled ellipsoid: (box, mask of the box)."""
    box, grids = [], []
    for n, s, c, r in zip(shape, spacing_mm, centre_zyx, semi_mm_zyx, strict=True):
        lo = max(0, int(np.floor(c - r / s)))
        hi = min(n, int(np.ceil(c + r / s)) + 1)
        box.append(slice(lo, hi))
        grids.append(((np.arange(lo, hi) - c) * s / r) ** 2)
    d = grids[0][:, None, None] + grids[1][None, :, None] + grids[2][None, None, :]
    return tuple(box), d <= 1.0


def synthetic_case(shape_zyx=(93, 512, 512), spacing_mm=(5.0, 1.1543, 1.1543), seed: int = 0):
    """One realistic-size synthetic patient: (ctv, gtv, gtvnd, stations, spacing_mm)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape_zyx)
    sp = np.asarray(spacing_mm, dtype=float)
    # carina at the centre in x, a bit anterior of the centre in y, 55 % up in z
    carina = np.array([0.55 * (shape[0] - 1), 0.45 * (shape[1] - 1), 0.5 * (shape[2] - 1)])
    scale = min(1.0, shape[1] * sp[1] / 590.0)  # shrink the layout for small test grids
    stations = np.zeros(shape, dtype=np.uint8)
    for name, ((x, y, z), (rx, ry, rz)) in _STATION_LAYOUT.items():
        c = carina + np.array([z, y, x]) * scale / sp
        box, m = _ellipsoid(shape, sp, c, np.array([rz, ry, rx]) * scale)
        sub = stations[box]
        sub[m & (sub == 0)] = STATION_LABEL[name]
    ctv = np.zeros(shape, dtype=bool)
    gtv = np.zeros(shape, dtype=bool)
    gtvnd = np.zeros(shape, dtype=bool)
    # CTV: the stations 2R, 4R, 4L, 7, 10R, 11R grown by a margin, plus the primary
    for name in ("2R", "4R", "4L", "7", "10R", "11R"):
        (x, y, z), (rx, ry, rz) = _STATION_LAYOUT[name]
        c = carina + np.array([z, y, x]) * scale / sp
        box, m = _ellipsoid(shape, sp, c, (np.array([rz, ry, rx]) + 8.0) * scale)
        ctv[box] |= m
    # primary: a 5 cm sphere in the right upper lung (x smaller = patient's right)
    c = carina + np.array([40.0, 10.0, -80.0]) * scale / sp
    box, m = _ellipsoid(shape, sp, c, np.array([25.0, 25.0, 25.0]) * scale)
    gtv[box] |= m
    box, m = _ellipsoid(shape, sp, c, np.array([33.0, 33.0, 33.0]) * scale)
    ctv[box] |= m
    # involved nodes in 4R and 7 (and a random one in 10R)
    for name in ("4R", "7", "10R"):
        (x, y, z), _ = _STATION_LAYOUT[name]
        jitter = rng.normal(0.0, 2.0, 3)
        c = carina + (np.array([z, y, x]) + jitter) * scale / sp
        box, m = _ellipsoid(shape, sp, c, np.array([9.0, 9.0, 9.0]) * scale)
        gtvnd[box] |= m
    return ctv, gtv, gtvnd, stations, tuple(float(s) for s in sp)


def _combined_code(ctv, gtv, gtvnd, stations) -> np.ndarray:
    """``stations*8 + 4*ctv + 2*gtv + gtvnd`` per voxel (uint8, full volume, numpy)."""
    code = np.left_shift(stations, 3)
    code |= np.left_shift(ctv.view(np.uint8), 2)
    code |= np.left_shift(gtv.view(np.uint8), 1)
    code |= gtvnd.view(np.uint8)
    return code


def counts_sitk(ctv, gtv, gtvnd, stations, *, statistics: str = "shape") -> np.ndarray:
    """The (17, 8) count table of :func:`analysis.partition.count_table` via SimpleITK.

    The combined label image is made with numpy (cheaper than SimpleITK's image
    arithmetic here), then counted by ``LabelShapeStatisticsImageFilter`` (background
    255, so that label 0 is counted too; the fastest SimpleITK route measured) or, with
    ``statistics="intensity"``, ``LabelStatisticsImageFilter``.
    """
    import SimpleITK as sitk

    code = sitk.GetImageFromArray(_combined_code(ctv, gtv, gtvnd, stations))
    counts = np.zeros(N_CLASSES * P.counting.N_CODES, dtype=np.int64)
    if statistics == "shape":
        f = sitk.LabelShapeStatisticsImageFilter()
        f.SetBackgroundValue(255)
        f.Execute(code)
        for lab in f.GetLabels():
            counts[int(lab)] = f.GetNumberOfPixels(int(lab))
    elif statistics == "intensity":
        f = sitk.LabelStatisticsImageFilter()
        f.Execute(code, code)
        for lab in f.GetLabels():
            counts[int(lab)] = f.GetCount(int(lab))
    else:
        raise ValueError(f"statistics: expected 'shape' or 'intensity', got {statistics!r}")
    return counts.reshape(N_CLASSES, P.counting.N_CODES)


def _time(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def _peak_tracemalloc(fn, *args) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return int(peak)


def _peak_rss_increase(fn, *args) -> int | None:
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return None
    import threading

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    fn(*args)
    done.set()
    th.join()
    return int(max(peak[0], proc.memory_info().rss) - base)


def run(quick: bool = False) -> dict:
    """Measure the partition routes side by side (see the module docstring)."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    shape = (40, 256, 256) if quick else (93, 512, 512)
    spacing = (5.0, 2.3086, 2.3086) if quick else (5.0, 1.1543, 1.1543)
    rounds = 3 if quick else 15
    ref_rounds = 1 if quick else 3
    ctv, gtv, gtvnd, st, sp = synthetic_case(shape, spacing)
    arrays = (ctv, gtv, gtvnd, st)
    default_threads = sitk.ProcessObject_GetGlobalDefaultNumberOfThreads()
    names = ("read_floor", "scan_floor", "fast", "reference", "sitk_1thread", "sitk_default",
             "sitk_labelstatistics_default")
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        files = []
        for k, a in zip(("ctv", "gtv", "gtvnd", "stations"), arrays, strict=True):
            f = Path(tmp) / f"{k}.npy"
            np.save(f, a)
            files.append(f)

        def read():
            return [np.load(f) for f in files]

        def scan():
            return [np.count_nonzero(a) for a in arrays]

        def fast():
            return P.partition_parameters(ctv, gtv, gtvnd, st, sp)

        def reference():
            return P.partition_parameters_reference(ctv, gtv, gtvnd, st, sp)

        def sitk_1():
            sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
            try:
                return counts_sitk(*arrays)
            finally:
                sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(default_threads)

        def sitk_n():
            return counts_sitk(*arrays)

        def sitk_stats():
            return counts_sitk(*arrays, statistics="intensity")

        routes = {"read_floor": read, "scan_floor": scan, "fast": fast,
                  "sitk_1thread": sitk_1, "sitk_default": sitk_n, "reference": reference,
                  "sitk_labelstatistics_default": sitk_stats}
        for fn in (read, scan, fast, sitk_1, sitk_n):  # warm up
            fn()
        for r in range(rounds):
            for name, fn in routes.items():
                if name in ("reference", "sitk_labelstatistics_default") and r >= ref_rounds:
                    continue
                w, c = _time(fn)
                wall[name].append(w)
                cpu[name].append(c)

        counts_fast = P.count_table(*arrays)
        counts_ref = P.counting.count_table_reference(*arrays)
        counts_itk = counts_sitk(*arrays)
        feats_fast = fast()
        feats_ref = reference()
        identical = {
            "counts_fast_eq_reference": bool(np.array_equal(counts_fast, counts_ref)),
            "counts_fast_eq_sitk": bool(np.array_equal(counts_fast, counts_itk)),
            "counts_fast_eq_sitk_labelstatistics": bool(np.array_equal(
                counts_fast, counts_sitk(*arrays, statistics="intensity"))),
            "features_fast_eq_reference": bool(np.array_equal(feats_fast.to_numpy(),
                                                              feats_ref.to_numpy())),
        }
        peak = {
            "fast_tracemalloc_mb": _peak_tracemalloc(fast) / 2**20,
            "reference_tracemalloc_mb": _peak_tracemalloc(reference) / 2**20,
            "sitk_default_rss_increase_mb": (lambda b: None if b is None else b / 2**20)(
                _peak_rss_increase(sitk_n)),
            "four_arrays_mb": sum(a.nbytes for a in arrays) / 2**20,
        }
    med_wall = {k: float(np.median(v)) for k, v in wall.items()}
    med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
    min_wall = {k: float(np.min(v)) for k, v in wall.items()}

    def ratios(m: dict[str, float]) -> dict[str, float]:
        return {
            "fast_over_read_floor": m["fast"] / m["read_floor"],
            "fast_over_scan_floor": m["fast"] / m["scan_floor"],
            "reference_over_fast": m["reference"] / m["fast"],
            "sitk_1thread_over_fast": m["sitk_1thread"] / m["fast"],
            "sitk_default_over_fast": m["sitk_default"] / m["fast"],
        }

    def goals(m: dict[str, float]) -> dict[str, bool]:
        return {
            "fast_under_0.05s": m["fast"] < 0.05,
            "fast_within_1.5x_read_floor": m["fast"] <= 1.5 * m["read_floor"],
            "sitk_1thread_at_least_1.5x_slower": m["sitk_1thread"] >= 1.5 * m["fast"],
            "sitk_default_at_least_1.5x_slower": m["sitk_default"] >= 1.5 * m["fast"],
        }

    return {
        "case": {"shape_zyx": list(shape), "spacing_mm": list(sp),
                 "ctv_cm3": float(ctv.sum() * np.prod(sp) / 1000),
                 "gtv_cm3": float(gtv.sum() * np.prod(sp) / 1000),
                 "gtvnd_cm3": float(gtvnd.sum() * np.prod(sp) / 1000),
                 "stations_cm3": float((st > 0).sum() * np.prod(sp) / 1000),
                 "gtv_size_cm": float(feats_fast["GTV_size_cm"]),
                 "gtv_lung_location": int(feats_fast["GTV_lung_location"])},
        "rounds": rounds,
        "reference_rounds": ref_rounds,
        "numpy_threads": 1,
        "sitk_default_threads": int(default_threads),
        "cpu_count": os.cpu_count(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "median_wall_s": med_wall,
        "min_wall_s": min_wall,
        "median_cpu_s": med_cpu,
        "ratios_wall": ratios(med_wall),
        "ratios_cpu": ratios(med_cpu),
        "goals_wall": goals(med_wall),
        "goals_cpu": goals(med_cpu),
        "peak_memory_mb": peak,
        "identical": all(identical.values()),
        "identical_detail": identical,
        "note": ("CPU time (process_time) is this process's time on the core(s); on a "
                 "shared, loaded machine it is the better measure of one-core cost, wall "
                 "time includes waiting for a core. sitk_default CPU time sums its "
                 "threads: compare its wall time."),
    }
