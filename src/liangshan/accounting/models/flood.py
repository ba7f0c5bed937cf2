"""Flood regulation (洪水调蓄): vegetation, lake, reservoir and marsh storage — GEP_METHOD §6.6.

``C_fm = C_veg + C_lake + C_res + C_marsh`` [m³/yr]; each term has its own function so that
the physical account can report them by ecosystem type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liangshan.accounting.models._array import where

MM_M2_TO_M3 = 1e-3
TEN_THOUSAND_M3 = 1e4


def flood_storage_vegetation(
    storm_precip_mm: Any, storm_runoff_coefficient: Any, pixel_area_m2: Any
) -> Any:
    """Storm water held by vegetated land, C_veg = (P_h − R_f) × A with R_f = P_h × α_f.

    Parameters
    ----------
    storm_precip_mm : rain falling in storm events (daily ≥ 50 mm) P_h [mm/yr].
    storm_runoff_coefficient : storm-runoff coefficient α_f of the ecosystem type [1].
    pixel_area_m2 : pixel area [m²].

    Returns
    -------
    Vegetation flood storage [m³/yr], ≥ 0.

    Source: GEP_METHOD §6.6, ``C_veg = Σ (P_h − R_f) × A × 10³`` (A in km²) [K: MEE-2020].
    """
    held = storm_precip_mm * (1.0 - storm_runoff_coefficient)
    return np.maximum(held, 0.0) * pixel_area_m2 * MM_M2_TO_M3


def flood_storage_marsh(area_m2: Any, storage_depth_m: Any = 0.3) -> Any:
    """Surface retention of marshes, C_m = depth × S.

    Parameters
    ----------
    area_m2 : marsh area S [m²].
    storage_depth_m : retention depth [m]; 0.3 m [V: Garzê GEP paper, ``C_m = 0.3 × S × 10⁶``
        with S in km²; GEP_METHOD §6.6].

    Returns
    -------
    Marsh flood storage [m³/yr].
    """
    return area_m2 * storage_depth_m


def flood_storage_reservoir(
    total_capacity_m3: Any, flood_capacity_m3: Any = None, *, ratio: float = 0.35
) -> Any:
    """Reservoir flood storage: the published flood-control capacity, else ratio × total.

    Parameters
    ----------
    total_capacity_m3 : total storage capacity C_t [m³].
    flood_capacity_m3 : flood-control capacity (防洪库容) [m³] where the water authority
        publishes it; NaN or None → use ``ratio × C_t``.
    ratio : 0.35 [V: Garzê GEP paper after 饶恩明 et al. 2014; GEP_METHOD §6.6].

    Returns
    -------
    Reservoir flood storage [m³/yr].
    """
    estimate = np.multiply(total_capacity_m3, ratio)
    if flood_capacity_m3 is None:
        return estimate
    return where(np.isnan(flood_capacity_m3), estimate, flood_capacity_m3)


def flood_storage_lake_rao(
    area_km2: Any, ln_intercept: float, exponent: float, exchange_times: float = 1.0
) -> Any:
    """Lake flood-storage capacity by the regional regression of Rao et al. (2014).

    ``C_l = e^a × A^b × T`` [10⁴ m³], A = lake area [km²], T = water exchanges per year.

    Parameters
    ----------
    area_km2 : lake area [km²].
    ln_intercept, exponent : the lake region's a and b — Qinghai–Tibet Plateau a = 6.636,
        b = 0.678 [V]; eastern plain a = 4.924, b = 1.128 [K]; no coefficients are known for
        the Yunnan–Guizhou Plateau [?] (GEP_METHOD §6.6).
    exchange_times : T [1/yr], 1 [V: Garzê].

    Returns
    -------
    Lake flood storage [m³/yr]; 0 for zero area.

    Source: 饶恩明 et al. 2014, 生态学报 34(21), via GEP_METHOD §6.6.
    """
    return np.exp(ln_intercept) * np.power(area_km2, exponent) * exchange_times * TEN_THOUSAND_M3


def flood_regulation(
    vegetation_m3: Any = 0.0, lake_m3: Any = 0.0, reservoir_m3: Any = 0.0, marsh_m3: Any = 0.0
) -> Any:
    """Total flood regulation C_fm = C_veg + C_lake + C_res + C_marsh [m³/yr] (GEP_METHOD §6.6)."""
    return vegetation_m3 + lake_m3 + reservoir_m3 + marsh_m3
