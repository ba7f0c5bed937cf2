"""Coordinate-hashed value noise for the generated sample rasters.

Every random field of the sample study area is a pure function of the map
coordinates (metres in the study CRS), the seed and a per-field salt: a lattice
of hashed uniform values, smoothly interpolated, summed over octaves (fractal
Brownian motion). Because a value depends only on where it is, any window can
be generated on its own and neighbouring windows join seamlessly; this is what
lets the generator write only the tiles that cover the counties.

Pixels lie on a regular grid, so the interpolation is separable: interpolate
the small lattice along x for every lattice row, then along y. Cost per octave
is a handful of array operations per pixel.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0xBF58476D1CE4E5B9)
_M4 = np.uint64(0x94D049BB133111EB)


def hash_uniform(ix: NDArray[np.int64], iy: NDArray[np.int64], key: int) -> NDArray[np.float64]:
    """Uniform [0, 1) values hashed from integer lattice indices and a 64-bit key.

    A splitmix64-style finaliser over a mix of the indices; ``ix`` and ``iy`` broadcast.
    """
    with np.errstate(over="ignore"):
        h = (ix.astype(np.uint64) * _M1) ^ (iy.astype(np.uint64) * _M2)
        h ^= np.uint64(key & 0xFFFFFFFFFFFFFFFF)
        h ^= h >> np.uint64(30)
        h *= _M3
        h ^= h >> np.uint64(27)
        h *= _M4
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def field_key(seed: int, salt: str) -> int:
    """A 64-bit key for one named field and seed (stable across runs and platforms)."""
    k = 1469598103934665603  # FNV-1a over the salt, then mixed with the seed
    for b in salt.encode():
        k = ((k ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return (k ^ ((seed & 0xFFFFFFFF) * 0x9E3779B1)) & 0xFFFFFFFFFFFFFFFF


def _fade(t: NDArray[np.float64]) -> NDArray[np.float64]:
    # quintic fade: C2-continuous, so slopes computed from the noise have no creases
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def value_noise(
    xs: NDArray[np.float64], ys: NDArray[np.float64], wavelength: float, key: int
) -> NDArray[np.float32]:
    """One octave of value noise in [-1, 1] on the grid (ys × xs), float32; coordinates in m."""
    gx = xs / wavelength
    gy = ys / wavelength
    ix = np.floor(gx).astype(np.int64)
    iy = np.floor(gy).astype(np.int64)
    # float32 for the per-pixel work: half the memory traffic, ample precision for noise
    tx = _fade(gx - ix).astype(np.float32)
    ty = _fade(gy - iy).astype(np.float32)
    x0, y0 = int(ix.min()), int(iy.min())
    lx = np.arange(x0, int(ix.max()) + 2, dtype=np.int64)
    ly = np.arange(y0, int(iy.max()) + 2, dtype=np.int64)
    lattice = (hash_uniform(lx[None, :], ly[:, None], key) * 2.0 - 1.0).astype(np.float32)
    cx = ix - x0
    a = lattice[:, cx] * (1.0 - tx) + lattice[:, cx + 1] * tx
    cy = iy - y0
    return a[cy, :] * (1.0 - ty)[:, None] + a[cy + 1, :] * ty[:, None]


def fbm(
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    key: int,
    w_max: float,
    w_min: float,
    persistence: float = 0.5,
) -> NDArray[np.float64]:
    """Fractal sum of value-noise octaves from wavelength ``w_max`` down to ``w_min`` (m).

    Normalised by the sum of amplitudes, so the result lies in [-1, 1] (typical
    standard deviation ≈ 0.3). Each octave is shifted by a key-derived offset so
    lattice lines of different octaves do not coincide.
    """
    out = np.zeros((ys.size, xs.size), dtype=np.float32)
    amp, total, w, o = 1.0, 0.0, float(w_max), 0
    while True:
        k = (key + 0x632BE59BD9B4E019 * (o + 1)) & 0xFFFFFFFFFFFFFFFF
        shift = hash_uniform(np.array([o]), np.array([7]), k)[0] * w
        out += np.float32(amp) * value_noise(xs + shift, ys - shift, w, k)
        total += amp
        o += 1
        w /= 2.0
        amp *= persistence
        if w < w_min or o >= 16:
            break
    out /= np.float32(total)
    return out.astype(np.float64)


def interp_grid(
    grid: NDArray[np.float64],
    gx0: float,
    gy0: float,
    spacing: float,
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Bilinear interpolation of ``grid[j, i]`` (value at x = gx0 + i·s, y = gy0 + j·s).

    Points outside the grid take the edge values. Returns shape (ys.size, xs.size).
    """
    ny, nx = grid.shape
    fx = np.clip((xs - gx0) / spacing, 0.0, nx - 1.0)
    fy = np.clip((ys - gy0) / spacing, 0.0, ny - 1.0)
    ix = np.minimum(np.floor(fx).astype(np.int64), max(nx - 2, 0))
    iy = np.minimum(np.floor(fy).astype(np.int64), max(ny - 2, 0))
    tx = fx - ix
    ty = fy - iy
    ix1 = np.minimum(ix + 1, nx - 1)
    iy1 = np.minimum(iy + 1, ny - 1)
    a = grid[:, ix] * (1.0 - tx) + grid[:, ix1] * tx
    return a[iy, :] * (1.0 - ty)[:, None] + a[iy1, :] * ty[:, None]
