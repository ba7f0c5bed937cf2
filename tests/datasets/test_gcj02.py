"""GCJ-02 ⇄ WGS84: the iterative inverse undoes the forward offset to sub-millimetre accuracy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liangshan.datasets.gcj02 import gcj02_offset, gcj02_to_wgs84, wgs84_to_gcj02

M_PER_DEG = 111_320.0  # metres per degree of latitude (and of longitude × cos φ)


def _err_m(lon_a, lat_a, lon_b, lat_b):
    dx = (lon_a - lon_b) * M_PER_DEG * np.cos(np.deg2rad(lat_a))
    dy = (lat_a - lat_b) * M_PER_DEG
    return np.hypot(dx, dy)


def test_round_trip_guizhou_grid_sub_millimetre():
    lon, lat = np.meshgrid(np.linspace(103.5, 109.7, 60), np.linspace(24.5, 29.3, 50))
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _err_m(lon, lat, w_lon, w_lat).max() < 1e-3
    # and the other way round: the inverse's output maps back onto its input
    f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
    assert _err_m(g_lon, g_lat, f_lon, f_lat).max() < 1e-3


@settings(max_examples=200, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_round_trip_anywhere_in_china(lon, lat):
    w_lon, w_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _err_m(lon, lat, w_lon, w_lat) < 1e-3


def test_single_step_inverse_is_metres_off_so_iteration_matters():
    """The naive inverse gcj − offset(gcj) leaves an error of order metres; ours does not."""
    lon, lat = np.array([105.7, 107.5, 108.2]), np.array([28.5, 26.3, 27.8])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    d_lon, d_lat = gcj02_offset(g_lon, g_lat)
    naive = _err_m(lon, lat, g_lon - d_lon, g_lat - d_lat)
    ours = _err_m(lon, lat, *gcj02_to_wgs84(g_lon, g_lat))
    assert naive.max() > 0.01
    assert ours.max() < naive.max() / 100


def test_offset_size_in_guizhou_is_a_few_hundred_metres():
    """GCJ-02 shifts points by roughly 100–700 m in south-west China (order of magnitude)."""
    lon, lat = np.meshgrid(np.linspace(103.6, 109.6, 20), np.linspace(24.6, 29.2, 20))
    d_lon, d_lat = gcj02_offset(lon, lat)
    shift = _err_m(lon + d_lon, lat + d_lat, lon, lat)
    assert shift.min() > 50 and shift.max() < 1000


def test_outside_china_unshifted():
    lon, lat = np.array([2.35, -74.0]), np.array([48.86, 40.7])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(g_lon, lon)
    np.testing.assert_array_equal(g_lat, lat)


# (wgs lon, wgs lat, gcj lon, gcj lat): published test vectors of two independent
# implementations — github.com/googollee/eviltransform (Python tests: Shanghai, Shenzhen,
# Beijing) and the coordtransform-rs crate's tests (116.404, 39.915).
PUBLISHED = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


def test_forward_matches_published_vectors():
    w_lon, w_lat, g_lon, g_lat = (np.array(c) for c in zip(*PUBLISHED, strict=True))
    lon, lat = wgs84_to_gcj02(w_lon, w_lat)
    np.testing.assert_allclose(lon, g_lon, atol=1e-9)
    np.testing.assert_allclose(lat, g_lat, atol=1e-9)
    back_lon, back_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _err_m(w_lon, w_lat, back_lon, back_lat).max() < 1e-3
