"""Water conservation (水源涵养) by the water-balance method — GEP_METHOD §6.2."""

from __future__ import annotations

from typing import Any

import numpy as np

MM_M2_TO_M3 = 1e-3  # 1 mm of water over 1 m² is 1e-3 m³


def water_conservation_balance(
    precip_mm: Any, aet_mm: Any, runoff_coefficient: Any, pixel_area_m2: Any
) -> Any:
    """Water retained per pixel by the water-balance method, Q = (P − R − ET) × A, R = P × α.

    Parameters
    ----------
    precip_mm : annual precipitation P [mm/yr].
    aet_mm : actual evapotranspiration ET [mm/yr].
    runoff_coefficient : mean surface-runoff coefficient α of the pixel's ecosystem type
        [1, a fraction: 2.67 % → 0.0267]; NaN where the type has no coefficient.
    pixel_area_m2 : pixel area A [m²].

    Returns
    -------
    Water conservation [m³/yr]. Negative balances (ET + R > P) are clamped to 0 — an engine
    decision documented in GEP_METHOD §6.2; NaN inputs give NaN.

    Source: GEP_METHOD §6.2 — ``Q_wr = Σ (P − R − ET) × A × 10³`` with A in km² [V: Garzê GEP
    paper, 白玛卓嘎 et al. 2017, 生态学报 37(19):6302-6312; same form in MEE-2020 [K]].
    Here A is in m², hence the factor 10⁻³.
    """
    balance = precip_mm - precip_mm * runoff_coefficient - aet_mm
    return np.maximum(balance, 0.0) * pixel_area_m2 * MM_M2_TO_M3
