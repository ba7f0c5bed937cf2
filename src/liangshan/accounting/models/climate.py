"""Climate regulation (气候调节): energy of transpiration and evaporation — GEP_METHOD §6.11.

Vegetation transpiration is converted to the air-conditioning electricity that would remove
the same heat (÷ energy-efficiency ratio r); water-surface evaporation to cooling energy plus
humidifier electricity. Raster variant of §6.11 [K]: EPP × D is replaced by the water
transpired in the hot season × latent heat.
"""

from __future__ import annotations

from typing import Any, NamedTuple

WATER_DENSITY_KG_M3 = 1000.0
KJ_PER_KWH = 3600.0
MM_M2_TO_M3 = 1e-3


def climate_regulation_transpiration(
    transpiration_mm: Any,
    pixel_area_m2: Any,
    *,
    latent_heat_kj_per_kg: float = 2450.0,
    energy_efficiency_ratio: float = 3.0,
) -> Any:
    """Air-conditioning electricity equivalent of vegetation transpiration.

    ``E_pt = ET × A × ρ_w × q / (3600 × r)``.

    Parameters
    ----------
    transpiration_mm : water transpired in the cooling season [mm/yr].
    pixel_area_m2 : pixel area [m²].
    latent_heat_kj_per_kg : latent heat of vaporisation q [kJ/kg = J/g]; 2450 [V; value seen
        in public platform code, basis unknown].
    energy_efficiency_ratio : air-conditioner EER r [1]; 3.0 [V: 博文静 et al. 2017].

    Returns
    -------
    Energy [kWh/yr]. Source: GEP_METHOD §6.11 (E_pt = Σ EPP × S × D × 10⁶ / (3600 r)).
    """
    water_kg = transpiration_mm * MM_M2_TO_M3 * pixel_area_m2 * WATER_DENSITY_KG_M3
    return water_kg * latent_heat_kj_per_kg / (KJ_PER_KWH * energy_efficiency_ratio)


def climate_regulation_evaporation(
    evaporation_mm: Any,
    pixel_area_m2: Any,
    *,
    latent_heat_kj_per_kg: float = 2450.0,
    humidifier_kwh_per_m3: float = 120.0,
) -> Any:
    """Cooling plus humidifying energy of water-surface evaporation.

    ``E_we = E_w × q × 10³ / 3600 + E_w × y`` with E_w the evaporated volume [m³].

    Parameters
    ----------
    evaporation_mm : water-surface evaporation [mm/yr].
    pixel_area_m2 : water area [m²].
    latent_heat_kj_per_kg : q [kJ/kg]; 2450 [V; value seen in public platform code].
    humidifier_kwh_per_m3 : y, humidifier electricity per m³ vaporised [kWh/m³]; 120 [V; value
        seen in public platform code, basis unknown] (125 also used [K]).

    Returns
    -------
    Energy [kWh/yr]. Source: GEP_METHOD §6.11 [V: Garzê and 博文静 2017 forms].
    """
    volume_m3 = evaporation_mm * MM_M2_TO_M3 * pixel_area_m2
    return volume_m3 * latent_heat_kj_per_kg * WATER_DENSITY_KG_M3 / KJ_PER_KWH + (
        volume_m3 * humidifier_kwh_per_m3
    )


class ClimateResult(NamedTuple):
    """Per-pixel climate regulation [kWh/yr]."""

    transpiration_kwh: Any
    evaporation_kwh: Any


def climate_regulation(
    transpiration_mm: Any,
    evaporation_mm: Any,
    pixel_area_m2: Any,
    *,
    latent_heat_kj_per_kg: float = 2450.0,
    energy_efficiency_ratio: float = 3.0,
    humidifier_kwh_per_m3: float = 120.0,
) -> ClimateResult:
    """Both terms of climate regulation [kWh/yr]; pass 0 for a term that does not apply.

    See :func:`climate_regulation_transpiration` and :func:`climate_regulation_evaporation`
    for units and sources (GEP_METHOD §6.11).
    """
    return ClimateResult(
        climate_regulation_transpiration(
            transpiration_mm,
            pixel_area_m2,
            latent_heat_kj_per_kg=latent_heat_kj_per_kg,
            energy_efficiency_ratio=energy_efficiency_ratio,
        ),
        climate_regulation_evaporation(
            evaporation_mm,
            pixel_area_m2,
            latent_heat_kj_per_kg=latent_heat_kj_per_kg,
            humidifier_kwh_per_m3=humidifier_kwh_per_m3,
        ),
    )
