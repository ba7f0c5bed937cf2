"""Carbon sequestration and oxygen release (GEP_METHOD §6.9–6.10)."""

import numpy as np
import pytest

from liangshan.accounting.models import (
    carbon_sequestration_nep,
    carbon_sequestration_rate,
    heterotrophic_respiration_pei,
    heterotrophic_respiration_pei_annual,
    oxygen_release,
)


def test_rh_pei_monthly_hand_case() -> None:
    """Rh = 0.22·[exp(0.0913·T) + ln(0.3145·R + 1)]·30·0.465 (Pei et al. 2010, [V] in
    GEP_METHOD §6.9). T = 15 °C, R = 100 mm: exp(1.3695) = 3.93333, ln(32.45) = 3.47970,
    sum 7.41303 × 0.22 × 30 × 0.465 = 22.7508 gC/m²/month; annual (12 ×) 273.009."""
    assert heterotrophic_respiration_pei(15.0, 100.0) == pytest.approx(22.7508, rel=1e-5)
    assert heterotrophic_respiration_pei_annual(15.0, 1200.0) == pytest.approx(273.009, rel=1e-5)


def test_nep_co2_hand_case() -> None:
    """Q = 44/12 × (NPP − Rh) × A: NPP 600, Rh 273 gC/m², 1 ha (1e4 m²) → 327 gC/m² ×
    1e4 m² = 3.27 t C → 11.99 t CO₂. A net source (NPP 200) is −73 gC/m² = −0.73 t C →
    −2.676667 t CO₂, or 0 when clipped."""
    npp = np.array([600.0, 200.0])
    co2 = carbon_sequestration_nep(npp, 273.0, 1e4)
    np.testing.assert_allclose(co2, [11.99, -2.676667], rtol=1e-6)
    clipped = carbon_sequestration_nep(npp, 273.0, 1e4, clip_negative=True)
    np.testing.assert_allclose(clipped, [11.99, 0.0], rtol=1e-6)


def test_rate_based_form() -> None:
    """Q = 44/12 × rate × A × (1 + β): 1.2 t C/ha, 100 ha, β = 0.5 → 180 t C → 660 t CO₂."""
    assert carbon_sequestration_rate(100.0, 1.2, 0.5) == pytest.approx(660.0)


def test_oxygen_from_carbon() -> None:
    """O₂ = 32/12 × C (= 32/44 × CO₂): 3.27 t C → 8.72 t O₂."""
    assert oxygen_release(3.27) == pytest.approx(8.72)
