"""The fast path agrees with plain references on random label maps (hypothesis).

``plain_ratios`` below is this test's own reference: the 96 ratio features, the volumes
and the counts written as one boolean intersection each, straight from SPEC Table 2,
sharing no code with analysis.partition. The package's own reference
(``partition_parameters_reference``) is compared on all 110 features.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import partition as P
from analysis.labels import FEATURE_NAMES, OVERLAP_STATIONS, STATIONS

# ratios of the same integers computed in another order: 1e-12 absorbs rounding only
ATOL = 1e-12


def plain_ratios(ctv, gtv, gtvnd, stations, union: bool) -> dict[str, float]:
    """SPEC rows 1-98, 100, 101, 103-109, one boolean intersection per number."""
    gross = (gtv | gtvnd) if union else gtv
    out: dict[str, float] = {}
    ln = {i: stations == i for i in range(1, 17)}
    touched = [i for i in ln if (ctv & ln[i]).sum() > 0]
    idea = sum(ln[i].sum() for i in touched)

    def ratio(a, b):
        return float(a) / float(b) if b > 0 else 0.0

    for i in range(1, 17):
        out[f"RctvLN_{i}"] = ratio((ctv & ln[i]).sum(), ln[i].sum())
        out[f"RIctvLN_{i}"] = ratio((ctv & ln[i]).sum(), idea)
        out[f"RgtvLN_{i}"] = ratio((gross & ln[i]).sum(), ln[i].sum())
        out[f"RIgtvLN_{i}"] = ratio((gross & ln[i]).sum(), idea)
        out[f"RcmgLN_{i}"] = ratio((ctv & ~gross & ln[i]).sum(), ln[i].sum())
        out[f"RIcmgLN_{i}"] = ratio((ctv & ~gross & ln[i]).sum(), idea)
    out["CTV_volume"] = float(ctv.sum())
    out["GTVnd_volume"] = float(gtvnd.sum())
    out["n_LN_CTV"] = float(len(touched))
    out["n_LN_GTVnd"] = float(sum((gtvnd & ln[i]).sum() > 0 for i in ln))
    for s in OVERLAP_STATIONS:
        i = STATIONS.index(s) + 1
        out[f"CTV_overlaps_{s}"] = float((ctv & ln[i]).sum() > 0)
    return out


@st.composite
def cases(draw):
    """Small random volumes; stations and structures sometimes in separate sub-boxes
    (so both crop strategies of the fast path run), sometimes absent."""
    shape = tuple(draw(st.integers(1, 7)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    def sub_box():
        lo = [rng.integers(0, n) for n in shape]
        hi = [rng.integers(a, n) + 1 for a, n in zip(lo, shape, strict=True)]
        m = np.zeros(shape, bool)
        m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
        return m

    where_st = sub_box() if draw(st.booleans()) else np.ones(shape, bool)
    where_mk = sub_box() if draw(st.booleans()) else np.ones(shape, bool)
    n_labels = draw(st.integers(0, 16))
    labels = rng.integers(0, n_labels + 1, shape).astype(np.uint8)
    stations = np.where(where_st & (rng.random(shape) < draw(st.floats(0, 1))), labels,
                        0).astype(np.uint8)
    masks = [where_mk & (rng.random(shape) < draw(st.floats(0, 0.8))) for _ in range(3)]
    spacing = tuple(draw(st.floats(0.3, 6.0)) for _ in range(3))
    return (*masks, stations, spacing)


@settings(max_examples=60, deadline=None)
@given(case=cases(), union=st.booleans())
def test_fast_matches_plain_and_reference(case, union):
    ctv, gtv, gtvnd, stations, spacing = case
    definition = "union" if union else "primary"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P.PartitionWarning)
        fast = P.partition_parameters(ctv, gtv, gtvnd, stations, spacing,
                                      gtv_definition=definition)
        ref = P.partition_parameters_reference(ctv, gtv, gtvnd, stations, spacing,
                                               gtv_definition=definition)
    assert list(fast.index) == list(FEATURE_NAMES)
    plain = plain_ratios(ctv, gtv, gtvnd, stations, union)
    for name, want in plain.items():
        assert abs(fast[name] - want) <= ATOL, (name, fast[name], want)
    np.testing.assert_allclose(fast.to_numpy(), ref.to_numpy(), rtol=0, atol=ATOL)
    assert np.array_equal(P.count_table(ctv, gtv, gtvnd, stations),
                          P.counting.count_table_reference(ctv, gtv, gtvnd, stations))
    assert fast["image_resolution"] == spacing[1]
    assert fast["GTV_lung_location"] in ((0,) if not gtv.any() else (1, 2, 3, 4))
    # GTV size: brute force over every pair of voxel centres
    pts = np.argwhere(gtv) * np.asarray(spacing)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max() if len(pts) else 0.0
    assert abs(fast["GTV_size_cm"] - d / 10) <= 1e-12 * max(1.0, d)


def test_simpleitk_counts_and_reference_match_fast_on_the_bench_case():
    """The benchmark's three routes give identical count tables (small grid, no timing)."""
    from analysis.bench.partition import counts_sitk, synthetic_case

    ctv, gtv, gtvnd, stations, spacing = synthetic_case((24, 64, 64), (5.0, 9.0, 9.0))
    assert ctv.any() and gtv.any() and gtvnd.any() and (stations > 0).any()
    fast = P.count_table(ctv, gtv, gtvnd, stations)
    assert np.array_equal(fast, P.counting.count_table_reference(ctv, gtv, gtvnd, stations))
    assert np.array_equal(fast, counts_sitk(ctv, gtv, gtvnd, stations))
    assert np.array_equal(fast, counts_sitk(ctv, gtv, gtvnd, stations,
                                            statistics="intensity"))
