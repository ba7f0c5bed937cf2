"""Soil retention (土壤保持) by RUSLE and its by-products — GEP_METHOD §6.3.

``Q_sr = R × K × LS × (1 − C × P) × A`` [t/yr]: potential erosion (C = P = 1) minus actual
erosion, per pixel. K comes from soil texture and organic carbon (Williams' EPIC form with the
Chinese SI correction), C from fractional vegetation cover (蔡崇法 et al. 2000), P from the
ecosystem type. Sediment avoided and N/P retained follow the Garzê valuation chain.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from liangshan.accounting.models._array import where

M2_PER_HA = 1e4


def soil_erodibility_epic(sand_pct: Any, silt_pct: Any, clay_pct: Any, soc_pct: Any) -> Any:
    """Soil erodibility K from texture and organic carbon (Williams EPIC, SI-corrected).

    Parameters
    ----------
    sand_pct, silt_pct, clay_pct : sand SAN, silt SIL, clay CLA fractions [%, 0–100].
    soc_pct : soil organic carbon C [%].

    Returns
    -------
    K [t·ha·h/(ha·MJ·mm)]; NaN where silt + clay is 0 or an input is NaN.

    Source: GEP_METHOD §6.3 — K_EPIC = {0.2 + 0.3 exp[−0.0256 SAN (1 − SIL/100)]}
    × [SIL/(CLA + SIL)]^0.3 × {1 − 0.25 C/[C + exp(3.72 − 2.95 C)]}
    × {1 − 0.7 SN1/[SN1 + exp(−5.51 + 22.9 SN1)]}, SN1 = 1 − SAN/100 [V: 陈召亚 et al. 2016,
    中国生态农业学报 24(2), after Williams et al. 1984]; K = (−0.01383 + 0.51575 K_EPIC) × 0.1317
    [K: 张科利 correction and US→SI factor].
    """
    san = sand_pct
    sil = silt_pct
    cla = clay_pct
    c = soc_pct
    sn1 = 1.0 - san / 100.0
    fines = cla + sil
    # 0/0 would warn lazily (dask computes outside any errstate): divide by NaN instead
    f_sand = 0.2 + 0.3 * np.exp(-0.0256 * san * (1.0 - sil / 100.0))
    f_silt = np.power(sil / where(fines > 0, fines, np.nan), 0.3)
    f_org = 1.0 - 0.25 * c / (c + np.exp(3.72 - 2.95 * c))
    f_hisand = 1.0 - 0.7 * sn1 / (sn1 + np.exp(-5.51 + 22.9 * sn1))
    k_epic = f_sand * f_silt * f_org * f_hisand
    return (-0.01383 + 0.51575 * k_epic) * 0.1317


def fractional_vegetation_cover(ndvi: Any, ndvi_soil: float, ndvi_veg: float) -> Any:
    """Fractional vegetation cover by the dimidiate pixel model, f = (NDVI − NDVI_s)/(NDVI_v −
    NDVI_s).

    Parameters
    ----------
    ndvi : NDVI [1].
    ndvi_soil, ndvi_veg : NDVI of bare soil and of full cover [1]; GEP_METHOD §6.3 takes the
        5 % and 95 % percentiles of the scene [V: 陈召亚 et al. 2016].

    Returns
    -------
    f [1], clipped to [0, 1]; NaN stays NaN.
    """
    f = (ndvi - ndvi_soil) / (ndvi_veg - ndvi_soil)
    return np.minimum(np.maximum(f, 0.0), 1.0)


def cover_management_cai(
    fvc: Any, *, a: float = 0.6508, b: float = 0.3436, full_cover_pct: float = 78.3
) -> Any:
    """RUSLE cover-management factor C from fractional vegetation cover (蔡崇法 et al. 2000).

    Parameters
    ----------
    fvc : fractional vegetation cover f [1, 0–1].
    a, b, full_cover_pct : C = a − b·lg(f%) for 0 < f < 78.3 %, C = 1 at f = 0, C = 0 at
        f ≥ 78.3 % [V: GEP_METHOD §6.3, 陈召亚 et al. 2016 after 蔡崇法 et al. 2000].

    Returns
    -------
    C [1], clipped to [0, 1] (the log form exceeds 1 below f ≈ 0.13 %); NaN stays NaN.
    """
    f_pct = fvc * 100.0
    # lg(0) would warn lazily under dask; those cells get C = 1 below anyway
    c = a - b * np.log10(np.maximum(f_pct, 1e-12))
    c = where(f_pct <= 0.0, 1.0, where(f_pct >= full_cover_pct, 0.0, c))
    return np.minimum(np.maximum(c, 0.0), 1.0)  # ufuncs, unlike np.clip, keep dask lazy


class RusleResult(NamedTuple):
    """Per-pixel RUSLE quantities [t/yr]."""

    potential_t: Any  # R·K·LS·A: bare soil, no practice
    actual_t: Any  # R·K·LS·C·P·A
    retained_t: Any  # potential − actual


def soil_retention_rusle(
    erosivity: Any, erodibility: Any, ls: Any, cover: Any, practice: Any, pixel_area_m2: Any
) -> RusleResult:
    """Soil retention per pixel, Q_sr = R·K·LS·(1 − C·P)·A.

    Parameters
    ----------
    erosivity : rainfall erosivity R [MJ·mm/(ha·h·yr)].
    erodibility : soil erodibility K [t·ha·h/(ha·MJ·mm)].
    ls : topographic factor LS [1].
    cover : cover-management factor C [1, 0–1].
    practice : support-practice factor P [1, 0–1].
    pixel_area_m2 : pixel area A [m²].

    Returns
    -------
    :class:`RusleResult` of potential erosion, actual erosion and soil retained [t/yr].
    C·P is clipped to [0, 1] so that retention is never negative.

    Source: GEP_METHOD §6.3, ``Q_sr = Σ R × K × LS × (1 − C × P) × A`` [V: Garzê (USLE);
    RUSLE form K].
    """
    area_ha = pixel_area_m2 / M2_PER_HA
    potential = erosivity * erodibility * ls * area_ha
    cp = np.minimum(np.maximum(cover * practice, 0.0), 1.0)
    actual = potential * cp
    return RusleResult(potential, actual, potential - actual)


def sediment_avoided(
    retained_t: Any, bulk_density_t_m3: float, deposition_ratio: float = 0.24
) -> Any:
    """Sediment deposition avoided, λ × Q_sr / ρ.

    Parameters
    ----------
    retained_t : soil retained Q_sr [t/yr].
    bulk_density_t_m3 : soil bulk density ρ [t/m³] (Garzê 0.93, local [V]).
    deposition_ratio : share of eroded soil that silts up reservoirs and rivers λ [1]; 0.24
        [V: Garzê GEP paper after 欧阳志云 et al. 1999].

    Returns
    -------
    Sediment avoided [m³/yr]. Source: GEP_METHOD §6.3, ``V_sd = λ × (Q_sr/ρ) × c``.
    """
    return deposition_ratio * retained_t / bulk_density_t_m3


def soil_nutrient_retained(retained_t: Any, content_pct: Any) -> Any:
    """Nitrogen or phosphorus kept in place with the retained soil, Q_sr × C_N (or C_P).

    Parameters
    ----------
    retained_t : soil retained [t/yr].
    content_pct : pure N or P content of the soil [%] (Garzê: N 0.37 %, P 0.108 % [V]).

    Returns
    -------
    Nutrient retained [t/yr]. Source: GEP_METHOD §6.3 (the non-point-pollution term V_dpd).
    """
    return retained_t * content_pct / 100.0
