"""Water conservation by the water balance (GEP_METHOD §6.2)."""

import numpy as np
import pytest
import xarray as xr

from liangshan.accounting.models import water_conservation_balance


def test_water_balance_hand_case() -> None:
    """Q = (P − P·α − ET) × A × 10⁻³ per pixel, clamped at 0 [GEP_METHOD §6.2; Garzê eq.].

    30 m cells (A = 900 m²):
    (1200 − 32.04 − 700) × 0.9 = 421.164; (1000 − 0 − 700) × 0.9 = 270;
    (800 − 80 − 700) × 0.9 = 18; (600 − 16.02 − 700) < 0 → 0.
    """
    p = np.array([[1200.0, 1000.0], [800.0, 600.0]])
    et = np.full((2, 2), 700.0)
    alpha = np.array([[0.0267, 0.0], [0.1, 0.0267]])
    q = water_conservation_balance(p, et, alpha, 900.0)
    np.testing.assert_allclose(q, [[421.164, 270.0], [18.0, 0.0]], rtol=1e-12)


def test_water_balance_nan_coefficient_stays_nan() -> None:
    """A type without a runoff coefficient gives NaN (reported as a gap), never 0."""
    q = water_conservation_balance(np.array([1200.0]), np.array([700.0]), np.array([np.nan]),
                                   900.0)
    assert np.isnan(q[0])


def test_water_balance_keeps_xarray_lazy() -> None:
    """dask-backed xarray in → dask-backed xarray out, same numbers as numpy (A = 100 m²)."""
    p = xr.DataArray(np.full((3, 3), 1000.0), dims=("y", "x")).chunk(2)
    q = water_conservation_balance(p, 500.0, 0.1, 100.0)
    assert q.chunks is not None
    assert float(q.sum()) == pytest.approx(9 * (1000 - 100 - 500) * 0.1)
