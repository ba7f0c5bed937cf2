"""Water and air purification: load capped by capacity (GEP_METHOD §6.7–6.8)."""

import numpy as np
import pytest

from liangshan.accounting.models import (
    air_purification,
    allocate_by_capacity,
    purification_capacity,
    water_purification,
)


def test_capacity_from_per_area_rate() -> None:
    """SO₂ 88.65 kg/(hm²·a) broadleaf forest [K] = 0.08865 t/(ha·yr); 100 ha (1e6 m²) →
    8.865 t/yr."""
    assert purification_capacity(1e6, 0.08865) == pytest.approx(8.865)


def test_air_purification_capped_by_capacity() -> None:
    """Q = min(E, Σ q·A): emission 5 t vs capacity 8.865 t → 5; emission 20 t → 8.865."""
    np.testing.assert_allclose(air_purification(np.array([5.0, 20.0]), 8.865), [5.0, 8.865])


def test_water_purification_capped_by_load() -> None:
    """Q_k = min(L_k, capacity_k): load 2 t, capacity 3 t → 2 t; load 4, capacity 3 → 3."""
    np.testing.assert_allclose(water_purification(np.array([2.0, 4.0]), 3.0), [2.0, 3.0])


def test_allocation_is_proportional_and_conserves_total() -> None:
    """Purified 6 t shared over capacities 2, 4, 6 t (total 12, so 0.5 t per t of capacity)
    → 1, 2, 3 t, summing to 6; a zero total capacity gives 0."""
    parts = np.array([2.0, 4.0, 6.0])
    out = allocate_by_capacity(6.0, parts, 12.0)
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0])
    assert out.sum() == pytest.approx(6.0)
    assert allocate_by_capacity(6.0, 0.0, 0.0) == 0.0
