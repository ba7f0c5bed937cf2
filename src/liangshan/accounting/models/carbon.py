"""Carbon sequestration (固碳) and oxygen release (释氧) — GEP_METHOD §6.9–6.10."""

from __future__ import annotations

from typing import Any

import numpy as np

CO2_PER_C = 44.0 / 12.0  # molar masses [K: GEP_METHOD §6.9]
O2_PER_C = 32.0 / 12.0  # one O₂ released per C fixed (CO₂ + H₂O → CH₂O + O₂)
G_M2_TO_T = 1e-6  # 1 g/m² over 1 m² = 1e-6 t


def heterotrophic_respiration_pei(
    temp_c: Any,
    precip_mm: Any,
    *,
    a: float = 0.22,
    b: float = 0.0913,
    c: float = 0.3145,
    days: float = 30.0,
    carbon_fraction: float = 0.465,
) -> Any:
    """Monthly soil heterotrophic respiration, Rh = a[exp(bT) + ln(cR + 1)] × days × fraction.

    Parameters
    ----------
    temp_c : monthly mean air temperature T [°C].
    precip_mm : monthly precipitation R [mm/month].
    a, b, c, days, carbon_fraction : 0.22, 0.0913 [1/°C], 0.3145 [1/mm], 30 [d], 0.465 [1]
        [V: RS-Imagine/PIESDK README after 裴志永 et al. 2010; GEP_METHOD §6.9].

    Returns
    -------
    Rh [gC/(m²·month)].
    """
    return a * (np.exp(b * temp_c) + np.log(c * precip_mm + 1.0)) * days * carbon_fraction


def heterotrophic_respiration_pei_annual(temp_c: Any, precip_mm: Any, **coefficients: float) -> Any:
    """Annual Rh from annual means: 12 × monthly Rh at the annual mean T and P/12.

    Parameters
    ----------
    temp_c : mean annual air temperature [°C].
    precip_mm : annual precipitation [mm/yr].
    coefficients : passed to :func:`heterotrophic_respiration_pei`.

    Returns
    -------
    Rh [gC/(m²·yr)]. Using annual means in a monthly formula is an engine approximation [NF]
    (it ignores the seasonal cycle; exp is convex, so it slightly underestimates Rh). Use
    monthly rasters with :func:`heterotrophic_respiration_pei` when they exist.
    """
    return 12.0 * heterotrophic_respiration_pei(temp_c, precip_mm / 12.0, **coefficients)


def net_ecosystem_production(npp_gc_m2: Any, rh_gc_m2: Any) -> Any:
    """NEP = NPP − Rh [gC/(m²·yr)] (GEP_METHOD §6.9, method B)."""
    return npp_gc_m2 - rh_gc_m2


def carbon_sequestration_nep(
    npp_gc_m2: Any, rh_gc_m2: Any, pixel_area_m2: Any, *, clip_negative: bool = False
) -> Any:
    """CO₂ sequestered per pixel, Q = (44/12) × (NPP − Rh) × A.

    Parameters
    ----------
    npp_gc_m2 : net primary production [gC/(m²·yr)] (CASA or MOD17A3).
    rh_gc_m2 : heterotrophic respiration [gC/(m²·yr)].
    pixel_area_m2 : pixel area [m²].
    clip_negative : set net sources (NEP < 0) to 0 instead of reporting them negative.

    Returns
    -------
    CO₂ sequestered [t CO₂/yr]. Source: GEP_METHOD §6.9 method B [K form; Rh formula V].
    """
    nep = net_ecosystem_production(npp_gc_m2, rh_gc_m2)
    if clip_negative:
        nep = np.maximum(nep, 0.0)
    return CO2_PER_C * nep * pixel_area_m2 * G_M2_TO_T


def carbon_sequestration_rate(
    area_ha: Any, rate_t_c_per_ha: Any, soil_coefficient: Any = 0.0
) -> Any:
    """CO₂ sequestered by the rate-based (MEE-style) method, Q = (44/12) × rate × A × (1 + β).

    Parameters
    ----------
    area_ha : area of the ecosystem type [ha].
    rate_t_c_per_ha : carbon sequestration rate from regional literature [t C/(ha·yr)].
    soil_coefficient : soil carbon coefficient β [1] (forest and shrub; 0 otherwise).

    Returns
    -------
    CO₂ sequestered [t CO₂/yr]. Source: GEP_METHOD §6.9 method A [K].
    """
    return CO2_PER_C * rate_t_c_per_ha * area_ha * (1.0 + soil_coefficient)


def oxygen_release(carbon_t: Any) -> Any:
    """Oxygen released with the carbon fixed, Q_O₂ = (32/12) × C (= 32/44 × CO₂).

    Parameters
    ----------
    carbon_t : carbon fixed [t C/yr].

    Returns
    -------
    O₂ released [t O₂/yr]. Source: GEP_METHOD §6.10 [K].
    """
    return O2_PER_C * carbon_t
