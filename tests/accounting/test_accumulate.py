"""The banded, multi-threaded MFD accumulation equals the whole-grid one.

Reference: :func:`liangshan.accounting.kernels.routing.flow_accumulation_mfd` (Kahn's sweep
over the whole grid, pygeoprocessing's MFD rule FA_i = 1 + Σ_{j→i} FA_j·q_ji/Σ_8 q_j),
converted to the inlet area as ``upslope_area_parallel`` defines it:
(FA − 1) × cell area, 0 where fd is 0 or FA − 1 ≤ 0, as float32. The bands only change the
order of the additions into a cell, so the results agree to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.accumulate import band_bounds, upslope_area_parallel

E, S, SE = 0, 6, 7  # direction indices of routing's ROW_OFFSETS / COL_OFFSETS


def nib(k: int, q: int) -> int:
    """Packed MFD value with weight ``q`` (1..15) in direction ``k``."""
    return q << (4 * k)


def reference(fd: np.ndarray, area: float) -> np.ndarray:
    fa = rt.flow_accumulation_mfd(fd)
    x = np.where(fd != 0, fa - 1.0, 0.0)
    return np.where(x > 0.0, x * area, 0.0).astype(np.float32)


def directions(dem: np.ndarray) -> np.ndarray:
    valid = np.isfinite(dem)
    filled = rt.fill_pits(np.where(valid, dem, 0.0), valid)
    return rt.flow_dir_mfd(filled, valid)


def rough_dem(seed: int, shape: tuple[int, int], nodata: float) -> np.ndarray:
    """Smoothed noise on a tilt, rounded so that pits fill into flats, with nodata holes."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.random(shape), 2) * 100
    z += np.add.outer(np.arange(shape[0]) * 0.03, np.arange(shape[1]) * 0.05)
    z = np.round(z, 0)
    z[rng.random(shape) < nodata] = np.nan
    return z


def check(fd: np.ndarray, area: float, bands: int, workers: int = 2) -> dict:
    ref = reference(fd, area)
    buf = fd.copy()
    stats: dict = {}
    got = upslope_area_parallel(buf, area, workers=workers, bands=bands, stats=stats)
    assert got.dtype == np.float32 and got.shape == fd.shape
    assert np.shares_memory(got, buf)  # written over the directions' buffer
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)
    assert np.all(got[fd == 0] == 0)
    return stats


def test_hand_computed_line_across_every_band() -> None:
    """A 5 × 1 column draining south (off the grid at the bottom): FA = 1, 2, 3, 4, 5, so the
    inlet area is (FA − 1) × 30² = 0, 900, 1800, 2700, 3600 m²; with 1..5 bands every edge
    but the last crosses a band boundary."""
    fd = np.full((5, 1), nib(S, 1), dtype=np.int32)
    want = np.array([[0], [900], [1800], [2700], [3600]], dtype=np.float32)
    for bands in range(1, 6):
        got = upslope_area_parallel(fd.copy(), 900.0, workers=2, bands=bands)
        np.testing.assert_array_equal(got, want)
    got = upslope_area_parallel(np.full((1, 5), nib(E, 1), np.int32), 900.0, bands=4)
    np.testing.assert_array_equal(got, want.T)  # 1 × 5 row: one band only


def test_hand_computed_split_across_a_band_boundary() -> None:
    """Two rows, two bands. (0,0) splits 1:3 east / south-east, (0,1) drains south, (1,0)
    drains east (weight 2, all of it), (1,1) and (1,2) drain east, (0,2) is nodata:
    FA(0,1) = 1 + 1/4, FA(1,1) = 1 + 3/4 + 1.25 + 1 = 4, FA(1,2) = 5;
    inlet area at 100 m² per cell: 25, 300, 400 m², 0 elsewhere."""
    fd = np.array([[nib(E, 1) | nib(SE, 3), nib(S, 1), 0],
                   [nib(E, 2), nib(E, 1), nib(E, 1)]], dtype=np.int32)
    want = np.array([[0, 25, 0], [0, 300, 400]], dtype=np.float32)
    for bands in (1, 2):
        np.testing.assert_array_equal(upslope_area_parallel(fd.copy(), 100.0, bands=bands),
                                      want)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("bands", [1, 2, 3, 4])
def test_random_dems_with_nodata_holes(seed: int, bands: int) -> None:
    dem = rough_dem(seed, (97, 131), nodata=0.02)
    dem[:6, :9] = np.nan
    stats = check(directions(dem), 900.0, bands)
    assert stats["bands"] == bands
    if bands > 1:
        assert stats["rounds"] > 1  # flow did cross band boundaries


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 24), cols=st.integers(1, 24),
       nodata=st.sampled_from([0.0, 0.05, 0.3]), bands=st.integers(1, 4),
       workers=st.integers(1, 3))
def test_any_small_grid(seed: int, rows: int, cols: int, nodata: float, bands: int,
                        workers: int) -> None:
    """Shapes down to 1 × N and N × 1, any share of nodata, more bands than rows."""
    check(directions(rough_dem(seed, (rows, cols), nodata)), 30.0 * 30.0, bands, workers)


def random_dag(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Packed directions with random weights 1..15 toward every lower neighbour of random
    heights (acyclic), including the weights ≥ 8 in direction 7 that make the int32
    negative; about a tenth of the cells nodata."""
    rng = np.random.default_rng(seed)
    z = rng.random(shape)
    z[rng.random(shape) < 0.1] = np.nan
    rows, cols = shape
    packed = np.zeros(shape, dtype=np.uint32)
    for r in range(rows):
        for c in range(cols):
            if np.isnan(z[r, c]):
                continue
            for k in range(8):
                rr, cc = r + int(rt.ROW_OFFSETS[k]), c + int(rt.COL_OFFSETS[k])
                inside = 0 <= rr < rows and 0 <= cc < cols
                if (not inside or not z[rr, cc] >= z[r, c]) and rng.random() < 0.7:
                    packed[r, c] |= np.uint32(int(rng.integers(1, 16)) << (4 * k))
    return packed.view(np.int32)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 16), cols=st.integers(1, 16),
       bands=st.integers(1, 4))
def test_random_weights_and_graphs(seed: int, rows: int, cols: int, bands: int) -> None:
    """Any weights 1..15 in any direction, flow off the grid edges and into nodata."""
    fd = random_dag(seed, (rows, cols))
    check(fd, 900.0, bands)


@pytest.mark.parametrize("bands", [2, 3, 4])
def test_channel_zigzags_across_the_band_boundaries(bands: int) -> None:
    """A channel that steps down-right across every band boundary, then back up across it,
    column after column, on a plane tilted east (flow also runs along the boundaries): each
    crossing waits for the other band, so the sweep needs many rounds."""
    rows, cols = 12, 80
    dem = 50.0 + np.add.outer(np.zeros(rows), -0.5 * np.arange(cols))
    bounds = band_bounds(np.ones((rows, cols), dtype=np.int32), bands)
    for b in bounds[1:-1]:
        for c in range(cols):
            r = b - 1 if c % 2 == 0 else b  # alternate sides of the boundary
            dem[r, c] -= 10.0
    fd = directions(dem)
    assert np.array_equal(band_bounds(fd, bands), bounds)
    stats = check(fd, 900.0, bands)
    assert stats["rounds"] >= cols // 2


def test_flow_along_a_boundary_on_a_tilted_plane() -> None:
    """A plane falling east with a slight dip toward the band boundary: MFD spreads flow
    to the three downhill neighbours, so it crosses the boundary at every column."""
    rows, cols = 10, 200
    dem = 100.0 - 0.3 * np.arange(cols)[None, :] + 0.01 * np.abs(np.arange(rows) - 4.5)[:, None]
    fd = directions(dem)
    stats = check(fd, 900.0, 2)
    assert stats["rounds"] > 50


def test_bands_are_balanced_by_valid_cells() -> None:
    fd = np.zeros((100, 10), dtype=np.int32)
    fd[60:, :] = 1
    np.testing.assert_array_equal(band_bounds(fd, 2), [0, 80, 100])
    np.testing.assert_array_equal(band_bounds(fd[:3], 5), [0, 1, 2, 3])  # ≤ 1 band per row


def test_rejects_a_non_int32_grid() -> None:
    with pytest.raises(ValueError):
        upslope_area_parallel(np.zeros((3, 3), dtype=np.int64), 1.0)

