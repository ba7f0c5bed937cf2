"""GCJ-02 ("Mars coordinates", 火星坐标) to WGS84 and back, vectorised.

Chinese web maps (Amap/高德, Tencent) publish coordinates in GCJ-02, WGS84
longitude/latitude shifted by a smooth, deliberately obscured offset of a few
hundred metres. The forward offset is a public, well-known closed form: two
trigonometric polynomials in (lon - 105°, lat - 35°), turned from metres into
degrees with the meridian and parallel radii of curvature of the Krasovsky
ellipsoid (a = 6 378 245 m, e² = 0.006 693 421 622 965 943). It applies inside
mainland China only; outside a rough China box the offset is zero.

The inverse has no closed form. Because the offset changes by well under a
millimetre per metre, the fixed-point iteration ``wgs ← gcj − offset(wgs)``
is a strong contraction: the first step already lands within a few metres and
each further step gains roughly three orders of magnitude. :func:`gcj02_to_wgs84`
iterates until every point moved less than ``tol_deg`` (default 1e-9° ≈ 0.1 mm).

Units: degrees in and out (longitude east, latitude north).
Confidence: the forward formula is [V] in the sense that it reproduces the
offsets of public reference implementations; it is not an official standard
(GCJ-02 itself is not published by the surveying authority).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Krasovsky 1940 semi-major axis (m) and first eccentricity squared, as used by GCJ-02.
KRASOVSKY_A_M = 6378245.0
KRASOVSKY_E2 = 0.00669342162296594323

#: The box outside which GCJ-02 leaves coordinates unshifted (degrees).
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max


def _poly_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Latitude shift polynomial (metres-like units before scaling) of x = lon-105, y = lat-35."""
    pi = np.pi
    out = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    out += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    out += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    out += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return out


def _poly_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Longitude shift polynomial of x = lon-105, y = lat-35."""
    pi = np.pi
    out = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    out += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    out += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    out += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return out


def _inside_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    lon_min, lat_min, lon_max, lat_max = CHINA_BOX
    return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def gcj02_offset(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS84 points (lon, lat) in degrees.

    Zero outside :data:`CHINA_BOX`.
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    x = lon_a - 105.0
    y = lat_a - 35.0
    dlat = _poly_lat(x, y)
    dlon = _poly_lon(x, y)
    rad = np.deg2rad(lat_a)
    w = 1.0 - KRASOVSKY_E2 * np.sin(rad) ** 2
    sqrt_w = np.sqrt(w)
    # metres -> degrees: meridian radius M = a(1-e²)/W³, parallel radius N cos φ = a cos φ / W
    dlat = dlat * 180.0 / ((KRASOVSKY_A_M * (1.0 - KRASOVSKY_E2)) / (w * sqrt_w) * np.pi)
    dlon = dlon * 180.0 / (KRASOVSKY_A_M / sqrt_w * np.cos(rad) * np.pi)
    inside = _inside_china(lon_a, lat_a)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 (degrees) → GCJ-02 (degrees): add the offset."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    dlon, dlat = gcj02_offset(lon_a, lat_a)
    return lon_a + dlon, lat_a + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tol_deg: float = 1e-9, max_iter: int = 10
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 (degrees) → WGS84 (degrees) by fixed-point iteration of the forward offset.

    Stops when the largest update is below ``tol_deg`` (1e-9° ≈ 0.1 mm) or after
    ``max_iter`` steps; in practice three or four steps suffice. The result
    satisfies ``wgs84_to_gcj02(result) ≈ (lon, lat)`` to about ``tol_deg``.
    """
    g_lon = np.asarray(lon, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        dlon, dlat = gcj02_offset(w_lon, w_lat)
        n_lon, n_lat = g_lon - dlon, g_lat - dlat
        step = max(
            float(np.max(np.abs(n_lon - w_lon), initial=0.0)),
            float(np.max(np.abs(n_lat - w_lat), initial=0.0)),
        )
        w_lon, w_lat = n_lon, n_lat
        if step < tol_deg:
            break
    return w_lon, w_lat
