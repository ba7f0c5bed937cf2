"""Terrain kernels: Horn slope, Desmet & Govers L, McCool and Liu S (GEP_METHOD §6.3)."""

import dask.array as da
import numpy as np
import pytest

from liangshan.accounting.kernels import terrain


def plane(rows: int, cols: int, drop_per_row: float, drop_per_col: float) -> np.ndarray:
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    return 100.0 - drop_per_row * r - drop_per_col * c


def test_slope_of_a_plane() -> None:
    """Horn (1981) on z falling 1 m per 10 m row: gradient 0.1 → 10 % and atan(0.1) =
    5.710593° at every interior cell (edges use the centre value for missing neighbours)."""
    dem = plane(5, 5, 1.0, 0.0)
    pct = terrain.slope_percent(dem, 10.0)
    deg = terrain.slope_degrees(dem, 10.0)
    np.testing.assert_allclose(pct[1:-1, 1:-1], 10.0)
    np.testing.assert_allclose(deg[1:-1, 1:-1], 5.710593, rtol=1e-6)
    # a one-sided edge estimate is still a slope, not NaN
    assert np.isfinite(pct).all()


def test_slope_uses_cell_height_and_width() -> None:
    """Rectangular cells: 1 m per 20 m column eastward = 5 %, whatever the cell height."""
    dem = plane(5, 5, 0.0, 1.0)
    np.testing.assert_allclose(terrain.slope_percent(dem, 20.0, 10.0)[2, 2], 5.0)


def test_slope_nan_cell_stays_nan() -> None:
    """Nodata (NaN) stays NaN; its neighbours take the centre value in its place."""
    dem = plane(4, 4, 1.0, 0.0)
    dem[1, 1] = np.nan
    out = terrain.slope_percent(dem, 10.0)
    assert np.isnan(out[1, 1])
    assert np.isfinite(out[2, 2])


def test_aspect_factor_diagonal_plane() -> None:
    """x = |sin a| + |cos a|: √2 for a plane facing a diagonal, 1 for a cardinal one and for
    flat ground (Desmet & Govers 1996)."""
    diag = terrain.aspect_factor(plane(5, 5, 1.0, 1.0), 10.0)
    card = terrain.aspect_factor(plane(5, 5, 1.0, 0.0), 10.0)
    flat = terrain.aspect_factor(np.zeros((3, 3)), 10.0)
    assert diag[2, 2] == pytest.approx(np.sqrt(2.0))
    assert card[2, 2] == pytest.approx(1.0)
    assert flat[1, 1] == 1.0


def test_l_factor_desmet_govers_hand_case() -> None:
    """L = [(A + D²)^(m+1) − A^(m+1)] / (D^(m+2)·x^m·22.13^m) (Desmet & Govers 1996).

    D = 10 m, x = 1, slope 10 % (m = 0.5): A = 0 → (10/22.13)^0.5 = 0.672217;
    A = 900 m² → (1000^1.5 − 900^1.5)/(10^2.5·22.13^0.5) = 4622.78/1487.59 = 3.107508.
    """
    area = np.array([0.0, 900.0])
    out = terrain.l_factor_desmet_govers(area, np.array([10.0, 10.0]), 1.0, 10.0)
    np.testing.assert_allclose(out, [0.672217, 3.107508], rtol=1e-6)


def test_l_factor_m_by_slope_class() -> None:
    """m = 0.2 (≤ 1 %), 0.3 (1–3 %), 0.4 (3–5 %), 0.5 (> 5 %) [K, GEP_METHOD §6.3]; with A = 0
    and D = 10 m, L = (10/22.13)^m = 0.853107, 0.787963, 0.727792, 0.672217."""
    slopes = np.array([0.5, 2.0, 4.0, 8.0])
    out = terrain.l_factor_desmet_govers(np.zeros(4), slopes, 1.0, 10.0)
    np.testing.assert_allclose(out, [0.853107, 0.787963, 0.727792, 0.672217], rtol=1e-5)
    # the 黄骅 variant moves the 0.4/0.5 break to 9 %: 8 % then takes m = 0.4
    alt = terrain.l_factor_desmet_govers(np.zeros(1), np.array([8.0]), 1.0, 10.0,
                                         m_breaks_percent=(1.0, 3.0, 9.0))
    assert alt[0] == pytest.approx(0.727792, rel=1e-5)


def test_s_factor_liu_three_pieces() -> None:
    """Liu et al. (1994) form of GEP_METHOD §6.3: 3° → 10.8·sin3° + 0.03 = 0.595228;
    7° → 16.8·sin7° − 0.5 = 1.547405; 20° → 21.91·sin20° − 0.96 = 6.533661."""
    out = terrain.s_factor_liu(np.array([3.0, 7.0, 20.0]))
    np.testing.assert_allclose(out, [0.595228, 1.547405, 6.533661], rtol=1e-6)


def test_s_factor_mccool_nine_percent_break() -> None:
    """McCool et al. (1987): 4° (tan 0.070 < 0.09) → 10.8·sin4° + 0.03 = 0.783370;
    6° (tan 0.105) → 16.8·sin6° − 0.5 = 1.256078; 20° → 16.8·sin20° − 0.5 = 5.245938."""
    out = terrain.s_factor_mccool(np.array([4.0, 6.0, 20.0]))
    np.testing.assert_allclose(out, [0.783370, 1.256078, 5.245938], rtol=1e-6)


def test_ls_factor_is_l_times_s() -> None:
    """LS on a 10 % plane with no upslope area: L = 0.672217 (m = 0.5, x = 1) and
    S = 16.8·sin(5.7106°) − 0.5 = 1.171657 → LS = 0.787602 at interior cells."""
    dem = plane(5, 5, 1.0, 0.0)
    ls = terrain.ls_factor(dem, np.zeros((5, 5)), 10.0)
    assert ls[2, 2] == pytest.approx(0.672217 * (16.8 * np.sin(np.arctan(0.1)) - 0.5), rel=1e-6)
    with pytest.raises(ValueError, match="s_form"):
        terrain.ls_factor(dem, np.zeros((5, 5)), 10.0, s_form="other")


def test_blockwise_equals_whole_array() -> None:
    """map_overlap with a one-cell halo gives the whole-array result, NaN holes included."""
    rng = np.random.default_rng(7)
    dem = rng.random((37, 29)) * 50.0
    dem[5, 5] = np.nan
    d = da.from_array(dem, chunks=(10, 8))
    np.testing.assert_allclose(terrain.slope_degrees_blockwise(d, 30.0, 30.0).compute(),
                               terrain.slope_degrees(dem, 30.0), equal_nan=True)
    np.testing.assert_allclose(terrain.slope_percent_blockwise(d, 30.0, 30.0).compute(),
                               terrain.slope_percent(dem, 30.0), equal_nan=True)
    np.testing.assert_allclose(terrain.aspect_factor_blockwise(d, 30.0, 30.0).compute(),
                               terrain.aspect_factor(dem, 30.0), equal_nan=True)


def test_l_max_caps_l() -> None:
    """With A = 1e6 m² upslope, D = 10 m, m = 0.5: L = (1000100^1.5 − 1000000^1.5)/(10^2.5 ·
    22.13^0.5) = 150007.5/1487.59 = 100.84; capped at l_max = 50 → 50."""
    area = np.array([1e6])
    free = terrain.l_factor_desmet_govers(area, np.array([10.0]), 1.0, 10.0)
    capped = terrain.l_factor_desmet_govers(area, np.array([10.0]), 1.0, 10.0, l_max=50.0)
    assert free[0] == pytest.approx(100.84, rel=1e-3)
    assert capped[0] == 50.0
