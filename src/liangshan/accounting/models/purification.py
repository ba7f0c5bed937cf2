"""Water and air purification (水质净化, 空气净化): load capped by capacity — GEP_METHOD §6.7–6.8.

For each pollutant, purified = min(load or emission, Σ per-area capacity × area) [K rule].
The capped quantity is shared among pixels (and so ecosystem types) in proportion to their
capacity: :func:`allocate_by_capacity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liangshan.accounting.models._array import where

M2_PER_HA = 1e4


def purification_capacity(area_m2: Any, capacity_t_per_ha: Any) -> Any:
    """Purification capacity of an area, q × A.

    Parameters
    ----------
    area_m2 : area [m²].
    capacity_t_per_ha : per-area capacity q [t/(ha·yr)] (e.g. SO₂ 88.65 kg/(hm²·a) for
        broadleaf forest = 0.08865 t/(ha·yr) [K]).

    Returns
    -------
    Capacity [t/yr].
    """
    return capacity_t_per_ha * area_m2 / M2_PER_HA


def water_purification(load_t: Any, capacity_t: Any) -> Any:
    """Pollutant purified by ecosystems, Q_k = min(L_k, capacity_k).

    Parameters
    ----------
    load_t : pollutant load entering water bodies L_k [t/yr] (COD, NH₃-N or TN, TP).
    capacity_t : purification capacity of the wetlands [t/yr].

    Returns
    -------
    Purified quantity [t/yr]. Source: GEP_METHOD §6.8 [V: Garzê, with emissions; the cap K].
    """
    return np.minimum(load_t, capacity_t)


def air_purification(emission_t: Any, capacity_t: Any) -> Any:
    """Air pollutant purified by ecosystems, Q_j = min(E_j, Σ q_ij × A_i).

    Parameters
    ----------
    emission_t : emission E_j [t/yr] (SO₂, NOx, dust/particulates).
    capacity_t : Σ q_ij × A_i, the capacity of the unit's ecosystems [t/yr].

    Returns
    -------
    Purified quantity [t/yr]. Source: GEP_METHOD §6.7 [V: Garzê used emissions; the cap K].
    """
    return np.minimum(emission_t, capacity_t)


def allocate_by_capacity(purified_t: Any, capacity_part_t: Any, capacity_total_t: Any) -> Any:
    """Share a purified quantity among parts in proportion to their capacity.

    Parameters
    ----------
    purified_t : quantity purified in the unit [t/yr].
    capacity_part_t : capacity of the part (pixel, ecosystem type) [t/yr].
    capacity_total_t : total capacity of the unit [t/yr].

    Returns
    -------
    The part's purified quantity [t/yr]; 0 where the total capacity is 0.
    """
    has = capacity_total_t > 0
    share = capacity_part_t / where(has, capacity_total_t, np.nan)
    return purified_t * where(has, share, 0.0)
