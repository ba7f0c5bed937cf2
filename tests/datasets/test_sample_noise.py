"""Coordinate-hashed noise: values depend only on position, so blocks join seamlessly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liangshan.datasets.sample_noise import fbm, field_key, hash_uniform, interp_grid
from liangshan.datasets.sample_terrain import CountyFields, Grid, terrain


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), st.integers(1, 60), st.integers(1, 60),
       st.integers(0, 2**31 - 1))
def test_window_equals_slice_of_larger_grid(c0, r0, w, h, seed):
    res = 30.0
    xs = 400_000.0 + (np.arange(300) + 0.5) * res
    ys = 3_000_000.0 - (np.arange(300) + 0.5) * res
    key = field_key(seed, "test")
    full = fbm(xs, ys, key, 5000.0, 60.0)
    part = fbm(xs[c0:c0 + w], ys[r0:r0 + h], key, 5000.0, 60.0)
    np.testing.assert_array_equal(part, full[r0:r0 + h, c0:c0 + w])


def test_fbm_range_and_seed_dependence():
    xs = np.linspace(0, 50_000, 400)
    ys = np.linspace(0, 40_000, 300)
    a = fbm(xs, ys, field_key(1, "x"), 8000.0, 200.0)
    b = fbm(xs, ys, field_key(2, "x"), 8000.0, 200.0)
    c = fbm(xs, ys, field_key(1, "y"), 8000.0, 200.0)
    assert a.min() >= -1.0 and a.max() <= 1.0
    assert 0.1 < a.std() < 0.6
    assert not np.allclose(a, b) and not np.allclose(a, c)
    # smooth: neighbouring pixels (125 m apart, wavelength ≥ 200 m) are strongly correlated
    assert np.corrcoef(a[:, 1:].ravel(), a[:, :-1].ravel())[0, 1] > 0.8


def test_hash_uniform_is_uniform():
    ix, iy = np.meshgrid(np.arange(-200, 200), np.arange(-150, 150))
    u = hash_uniform(ix, iy, 12345)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 0.9 * u.size / 10 and counts.max() < 1.1 * u.size / 10


def test_interp_grid_reproduces_a_plane():
    """Bilinear interpolation is exact for a linear field (hand check: f = 2x + 3y)."""
    gx, gy = np.arange(6) * 1000.0, np.arange(5) * 1000.0
    grid = 2.0 * gx[None, :] + 3.0 * gy[:, None]
    xs, ys = np.array([250.0, 1700.0, 4999.0]), np.array([10.0, 3333.0])
    np.testing.assert_allclose(interp_grid(grid, 0.0, 0.0, 1000.0, xs, ys),
                               2.0 * xs[None, :] + 3.0 * ys[:, None])


def test_terrain_same_on_a_block_and_a_sparse_sample():
    """The calibration sample sees exactly the values the block writer computes."""
    grid = Grid(x0=600_000.0, y1=2_950_000.0, res=90.0, width=400, height=400)
    flat = np.zeros((3, 3))
    cf = CountyFields(gx0=500_000.0, gy0=2_800_000.0, spacing=100_000.0, grids={
        "h_lo": flat - 0.5, "h_hi": flat + 0.5, "elev_min_m": flat + 500.0,
        "elev_max_m": flat + 1800.0,
    })
    rows = np.arange(100, 164, dtype=np.int64)
    cols = np.arange(40, 104, dtype=np.int64)
    block = terrain(grid, rows, cols, 42, cf)
    srows, scols = rows[1::5], cols[2::7]
    sparse = terrain(grid, srows, scols, 42, cf)
    for k in ("dem", "slope_deg", "valley", "river"):
        np.testing.assert_array_equal(sparse[k], block[k][1::5, 2::7])
    assert block["dem"].min() >= 500.0 and block["dem"].max() <= 1800.0
