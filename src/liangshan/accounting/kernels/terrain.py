"""Terrain kernels on a metric grid: slope, aspect factor, and the RUSLE LS factor.

All functions take numpy arrays (float, NaN = nodata) and cell sizes in metres, and are
compiled with numba (``cache=True``). The neighbourhood kernels (slope, aspect factor) have
``*_blockwise`` twins that apply them to a dask array with a one-cell overlap, so any extent
runs in bounded memory and gives the same result as the whole-array call.

Sources
-------
* Slope: Horn (1981), "Hill shading and the reflectance map", Proc. IEEE 69(1):14-47 — the
  third-order finite difference used by GDAL and ArcGIS. Missing neighbours (grid edge or
  nodata) take the centre cell's value, so edges get a one-sided estimate instead of NaN.
* L factor: Desmet & Govers (1996), "A GIS procedure for automatically calculating the USLE
  LS factor on topographically complex landscape units", J. Soil Water Conserv. 51(5):427-433:
  ``L = [(A + D²)^(m+1) − A^(m+1)] / [D^(m+2) · x^m · 22.13^m]`` with A the upslope
  contributing area at the cell inlet (m²), D the cell size (m), x = |sin a| + |cos a| (a =
  aspect). The slope-length exponent m by slope class is GEP_METHOD §6.3: 0.2 (≤ 1 %), 0.3
  (1–3 %), 0.4 (3–5 %), 0.5 (> 5 %) [K]; the 黄骅 paper puts the 0.4/0.5 break at 9 % [V], so
  the breaks are a parameter.
* S factor: McCool et al. (1987), Trans. ASAE 30(5):1387-1396: 10.8 sin θ + 0.03 (slope
  < 9 %), 16.8 sin θ − 0.50 (≥ 9 %). The Chinese steep-slope form of GEP_METHOD §6.3 [V: 陈召亚
  et al. 2016 after McCool and 刘宝元 (Liu Baoyuan et al. 1994, Trans. ASAE 37(6):1835-1840)]:
  10.8 sin θ + 0.03 (θ < 5°), 16.8 sin θ − 0.50 (5° ≤ θ < 10°), 21.91 sin θ − 0.96 (θ ≥ 10°).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dask.array as da
import numpy as np
from numba import njit

BASE_PLOT_LENGTH_M = 22.13  # the USLE unit plot length [V: GEP_METHOD §6.3]
M_BREAKS_PERCENT = (1.0, 3.0, 5.0)  # slope-class breaks for m [K: GEP_METHOD §6.3]
M_VALUES = (0.2, 0.3, 0.4, 0.5)


@njit(cache=True, nogil=True)
def _horn_gradient(dem, cellsize_x, cellsize_y):  # pragma: no cover - compiled
    rows, cols = dem.shape
    gx = np.full((rows, cols), np.nan)
    gy = np.full((rows, cols), np.nan)
    for r in range(rows):
        for c in range(cols):
            e = dem[r, c]
            if math.isnan(e):
                continue
            w = np.empty((3, 3))
            for i in range(3):
                for j in range(3):
                    rr = r + i - 1
                    cc = c + j - 1
                    v = e
                    if 0 <= rr < rows and 0 <= cc < cols:
                        v = dem[rr, cc]
                        if math.isnan(v):
                            v = e
                    w[i, j] = v
            gx[r, c] = ((w[0, 2] + 2 * w[1, 2] + w[2, 2]) - (w[0, 0] + 2 * w[1, 0] + w[2, 0])) / (
                8.0 * cellsize_x
            )
            gy[r, c] = ((w[2, 0] + 2 * w[2, 1] + w[2, 2]) - (w[0, 0] + 2 * w[0, 1] + w[0, 2])) / (
                8.0 * cellsize_y
            )
    return gx, gy


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def horn_gradient(
    dem: np.ndarray, cellsize_x: float, cellsize_y: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Horn (1981) surface gradient.

    Parameters
    ----------
    dem : elevation [m], 2-D, NaN = nodata.
    cellsize_x, cellsize_y : cell width and height [m] (height defaults to width).

    Returns
    -------
    (dz/dx eastward, dz/dy southward) [m/m]; NaN where the DEM is NaN.
    """
    cy = cellsize_x if cellsize_y is None else cellsize_y
    return _horn_gradient(_as_float(dem), float(cellsize_x), float(abs(cy)))


def slope_degrees(
    dem: np.ndarray, cellsize_x: float, cellsize_y: float | None = None
) -> np.ndarray:
    """Slope angle [degrees, 0–90] of a DEM [m] on a metric grid (Horn 1981)."""
    gx, gy = horn_gradient(dem, cellsize_x, cellsize_y)
    return np.degrees(np.arctan(np.hypot(gx, gy)))


def slope_percent(
    dem: np.ndarray, cellsize_x: float, cellsize_y: float | None = None
) -> np.ndarray:
    """Slope gradient [%, rise/run × 100] of a DEM [m] on a metric grid (Horn 1981)."""
    gx, gy = horn_gradient(dem, cellsize_x, cellsize_y)
    return 100.0 * np.hypot(gx, gy)


def aspect_factor(
    dem: np.ndarray, cellsize_x: float, cellsize_y: float | None = None
) -> np.ndarray:
    """Desmet & Govers' x = |sin a| + |cos a| [1, between 1 and √2] from the Horn gradient.

    Flat cells (zero gradient) get x = 1, the value for a cardinal flow direction.
    """
    gx, gy = horn_gradient(dem, cellsize_x, cellsize_y)
    g = np.hypot(gx, gy)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (np.abs(gx) + np.abs(gy)) / g
    return np.where(g > 0, x, np.where(np.isnan(g), np.nan, 1.0))


@njit(cache=True, nogil=True)
def _l_factor(area, slope_pct, x, cellsize, breaks, mvals):  # pragma: no cover - compiled
    out = np.full(area.shape, np.nan)
    flat_a = area.ravel()
    flat_s = slope_pct.ravel()
    flat_x = x.ravel()
    flat_o = out.ravel()
    d = cellsize
    for k in range(flat_a.size):
        a = flat_a[k]
        s = flat_s[k]
        xx = flat_x[k]
        if math.isnan(a) or math.isnan(s) or math.isnan(xx):
            continue
        m = mvals[len(breaks)]
        for b in range(len(breaks)):
            if s <= breaks[b]:
                m = mvals[b]
                break
        a = max(a, 0.0)
        flat_o[k] = ((a + d * d) ** (m + 1) - a ** (m + 1)) / (
            d ** (m + 2) * xx**m * BASE_PLOT_LENGTH_M**m
        )
    return out


def l_factor_desmet_govers(
    upslope_area_m2: np.ndarray,
    slope_pct: np.ndarray,
    aspect_x: np.ndarray | float,
    cellsize: float,
    *,
    m_breaks_percent: Sequence[float] = M_BREAKS_PERCENT,
    m_values: Sequence[float] = M_VALUES,
    l_max: float | None = None,
) -> np.ndarray:
    """RUSLE slope-length factor L [1] after Desmet & Govers (1996).

    Parameters
    ----------
    upslope_area_m2 : contributing area at the cell inlet [m²] (flow accumulation excluding
        the cell itself × cell area), from a routing kernel.
    slope_pct : slope gradient [%].
    aspect_x : |sin a| + |cos a| [1] (:func:`aspect_factor`), or a scalar (1 = cardinal).
    cellsize : cell size D [m] (square cells).
    m_breaks_percent, m_values : slope-class upper bounds [%] (inclusive) and the m of each
        class plus one for slopes above the last break; default GEP_METHOD §6.3 [K].
    l_max : optional cap on L (InVEST SDR caps L at ``l_max``, 122 in its sample data [V:
        INVEST_NOTES]); None = no cap. L grows with the upslope area without bound, which
        inflates soil loss on long flow paths and on coarse grids.

    Returns
    -------
    L [1]; NaN where an input is NaN.
    """
    if len(m_values) != len(m_breaks_percent) + 1:
        raise ValueError("m_values needs one more entry than m_breaks_percent")
    area = _as_float(upslope_area_m2)
    x = np.broadcast_to(np.asarray(aspect_x, dtype=np.float64), area.shape)
    out = _l_factor(
        area,
        _as_float(np.broadcast_to(slope_pct, area.shape)),
        _as_float(x),
        float(cellsize),
        np.asarray(m_breaks_percent, dtype=np.float64),
        np.asarray(m_values, dtype=np.float64),
    )
    return out if l_max is None else np.minimum(out, l_max)


@njit(cache=True, nogil=True)
def _s_mccool(slope_deg):  # pragma: no cover - compiled
    out = np.empty(slope_deg.shape)
    fo = out.ravel()
    fs = slope_deg.ravel()
    for k in range(fs.size):
        t = math.radians(fs[k])
        if math.tan(t) < 0.09:
            fo[k] = 10.8 * math.sin(t) + 0.03
        else:
            fo[k] = 16.8 * math.sin(t) - 0.50
    return out


@njit(cache=True, nogil=True)
def _s_liu(slope_deg):  # pragma: no cover - compiled
    out = np.empty(slope_deg.shape)
    fo = out.ravel()
    fs = slope_deg.ravel()
    for k in range(fs.size):
        deg = fs[k]
        t = math.radians(deg)
        if deg < 5.0:
            fo[k] = 10.8 * math.sin(t) + 0.03
        elif deg < 10.0:
            fo[k] = 16.8 * math.sin(t) - 0.50
        else:
            fo[k] = 21.91 * math.sin(t) - 0.96
    return out


def s_factor_mccool(slope_deg: np.ndarray) -> np.ndarray:
    """RUSLE slope-steepness factor S [1] of McCool et al. (1987); slope in [degrees]."""
    return _s_mccool(_as_float(slope_deg))


def s_factor_liu(slope_deg: np.ndarray) -> np.ndarray:
    """S factor [1] with the steep-slope form of Liu Baoyuan et al. (1994), GEP_METHOD §6.3.

    10.8 sin θ + 0.03 (θ < 5°); 16.8 sin θ − 0.50 (5–10°); 21.91 sin θ − 0.96 (θ ≥ 10°) [V].
    Slope in [degrees]; NaN stays NaN.
    """
    return _s_liu(_as_float(slope_deg))


def ls_factor(
    dem: np.ndarray,
    upslope_area_m2: np.ndarray,
    cellsize: float,
    *,
    s_form: str = "liu",
    m_breaks_percent: Sequence[float] = M_BREAKS_PERCENT,
    l_max: float | None = None,
) -> np.ndarray:
    """RUSLE LS [1] from a DEM [m] and the upslope contributing area [m²] on square cells [m].

    ``s_form`` is ``"liu"`` (GEP_METHOD §6.3 three-piece form, default) or ``"mccool"``;
    ``l_max`` optionally caps L (see :func:`l_factor_desmet_govers`).
    """
    gx, gy = horn_gradient(dem, cellsize, cellsize)
    g = np.hypot(gx, gy)
    slope_deg = np.degrees(np.arctan(g))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(g > 0, (np.abs(gx) + np.abs(gy)) / g, 1.0)
    x = np.where(np.isnan(g), np.nan, x)
    lf = l_factor_desmet_govers(
        upslope_area_m2, 100.0 * g, x, cellsize, m_breaks_percent=m_breaks_percent, l_max=l_max
    )
    if s_form == "liu":
        sf = s_factor_liu(slope_deg)
    elif s_form == "mccool":
        sf = s_factor_mccool(slope_deg)
    else:
        raise ValueError(f"s_form must be 'liu' or 'mccool', not {s_form!r}")
    return lf * sf


def _blockwise(func, dem: da.Array, cellsize_x: float, cellsize_y: float) -> da.Array:
    return da.map_overlap(
        lambda block: func(block, cellsize_x, cellsize_y),
        dem.astype(np.float64),
        depth=1,
        boundary="none",
        dtype=np.float64,
        meta=np.array((), dtype=np.float64),
    )


def slope_degrees_blockwise(dem: da.Array, cellsize_x: float, cellsize_y: float) -> da.Array:
    """:func:`slope_degrees` on a dask array [m] → [degrees], one-cell overlap between blocks."""
    return _blockwise(slope_degrees, dem, cellsize_x, cellsize_y)


def slope_percent_blockwise(dem: da.Array, cellsize_x: float, cellsize_y: float) -> da.Array:
    """:func:`slope_percent` on a dask array [m] → [%], one-cell overlap between blocks."""
    return _blockwise(slope_percent, dem, cellsize_x, cellsize_y)


def aspect_factor_blockwise(dem: da.Array, cellsize_x: float, cellsize_y: float) -> da.Array:
    """:func:`aspect_factor` on a dask array → [1], one-cell overlap between blocks."""
    return _blockwise(aspect_factor, dem, cellsize_x, cellsize_y)
