"""Flood regulation terms (GEP_METHOD §6.6)."""

import numpy as np
import pytest

from liangshan.accounting.models import (
    flood_regulation,
    flood_storage_lake_rao,
    flood_storage_marsh,
    flood_storage_reservoir,
    flood_storage_vegetation,
)


def test_vegetation_storm_storage_hand_case() -> None:
    """C_veg = (P_h − P_h·α_f)·A·10⁻³ (A in m²): 250 mm, α_f = 0.04, 900 m² → 216 m³;
    α_f = 0.2 → 180 m³ (GEP_METHOD §6.6)."""
    c = flood_storage_vegetation(np.array([250.0, 250.0]), np.array([0.04, 0.2]), 900.0)
    np.testing.assert_allclose(c, [216.0, 180.0])


def test_marsh_storage_garze() -> None:
    """C_m = 0.3 × S × 10⁶ with S in km² (Garzê): 2 km² → 600 000 m³."""
    assert flood_storage_marsh(2e6) == pytest.approx(6e5)


def test_reservoir_storage_uses_published_capacity_first() -> None:
    """C_r = 0.35 C_t unless the flood-control capacity is published (GEP_METHOD §6.6).

    C_t = 1e6 m³ with no flood capacity → 3.5e5; C_t = 2e6 with 5e5 published → 5e5.
    """
    c = flood_storage_reservoir(np.array([1e6, 2e6]), np.array([np.nan, 5e5]))
    np.testing.assert_allclose(c, [3.5e5, 5e5])


def test_lake_rao_qinghai_tibet() -> None:
    """C_l = e^6.636 × A^0.678 × T [10⁴ m³] (Rao et al. 2014 via Garzê): A = 2 km², T = 1 →
    e^6.636 = 761.68; 2^0.678 = 1.60066; 1219.20 × 10⁴ m³."""
    assert flood_storage_lake_rao(2.0, 6.636, 0.678, 1.0) == pytest.approx(1219.2044e4, rel=1e-6)


def test_flood_total_is_the_sum() -> None:
    """C_fm = C_veg + C_lake + C_res + C_marsh."""
    assert flood_regulation(1.0, 2.0, 3.0, 4.0) == 10.0
