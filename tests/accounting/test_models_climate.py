"""Climate regulation: energy of transpiration and evaporation (GEP_METHOD §6.11)."""

import numpy as np
import pytest

from liangshan.accounting.models import (
    climate_regulation,
    climate_regulation_evaporation,
    climate_regulation_transpiration,
)


def test_transpiration_hand_case() -> None:
    """E = ET·10⁻³·A·1000 kg/m³·q/(3600·r): 100 mm over 900 m² = 90 m³ = 90 000 kg;
    × 2450 kJ/kg = 2.205e8 kJ; / 3600 = 61 250 kWh; / r = 3 → 20 416.67 kWh."""
    e = climate_regulation_transpiration(np.array([100.0]), 900.0)
    assert e[0] == pytest.approx(20416.6667, rel=1e-7)


def test_evaporation_hand_case() -> None:
    """E_we = E_w·q·10³/3600 + E_w·y: 900 mm over 900 m² = 810 m³;
    810 × 2450 × 1000 / 3600 = 551 250 kWh; + 810 × 120 = 97 200 → 648 450 kWh."""
    assert climate_regulation_evaporation(900.0, 900.0) == pytest.approx(648450.0)


def test_combined_returns_both_terms() -> None:
    """The combined call equals the two terms (values of the two hand cases above)."""
    res = climate_regulation(100.0, 900.0, 900.0)
    assert res.transpiration_kwh == pytest.approx(20416.6667, rel=1e-7)
    assert res.evaporation_kwh == pytest.approx(648450.0)
