"""Generated ecosystem map of the sample study area (GENERATED SAMPLE DATA).

Each ecosystem class has a suitability score, a smooth function of terrain and
of coordinate-hashed noise (so patches are spatially coherent, never
salt-and-pepper). Classes are allocated in a fixed order, each taking the
pixels with the highest score among those still free, until the county's
target share is reached:

1. water: river channels and reservoirs (geometry, not calibrated);
2. urban: close to the county centre, flat, low;
3. tea gardens (154): moderate slopes, middle elevations;
4. cropland (151 paddy near valleys, 152 dry land, 153 orchards): low and flat;
5. forest (111/112/113/115/116 by elevation band and noise);
6. the rest: bare rock (191, steep karst), grassland (133/131), shrub (121/122/124).

The score thresholds per county and year are found on a sparse sample of the
county's pixels (``calibrate``) and then applied to every pixel (``classify``),
so the shares on the full grid match the targets to within sampling error.
Later years start from the first year's map and add urban growth (the urban
threshold is lowered: growth next to the existing town) and afforestation
(退耕还林: steep dry farmland, shrub and grass with the highest forest score
become young conifer plantations, 113).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liangshan.datasets.sample_noise import fbm, field_key

Array = NDArray[np.float64]

WATER_RIVER, WATER_RESERVOIR = 146, 145
URBAN_RESIDENTIAL, URBAN_INDUSTRIAL = 161, 165
TEA, PADDY, DRY, ORCHARD = 154, 151, 152, 153
FOREST_EB, FOREST_DB, FOREST_EN, FOREST_MIX, FOREST_SPARSE = 111, 112, 113, 115, 116
SHRUB_EB, SHRUB_DB, SHRUB_SPARSE = 121, 122, 124
GRASS_TUSSOCK, GRASS_MEADOW = 133, 131
BARE_ROCK = 191
#: Classes that afforestation may convert (dry farmland, shrub, grass).
CONVERTIBLE = (DRY, SHRUB_EB, SHRUB_DB, SHRUB_SPARSE, GRASS_TUSSOCK, GRASS_MEADOW)

PADDY_SHARE_OF_CROP = 0.30  # [K] Guizhou paddy ≈ 30 % of cultivated land, rough
ORCHARD_SHARE_OF_CROP = 0.08
BARE_SHARE_OF_REST = 0.12
GRASS_SHARE_OF_REST = 0.30


@dataclass
class Targets:
    """Target shares of the county area (0–1) for one county."""

    forest: float
    urban: float
    tea: float
    crop: float
    urban_growth: float = 0.04  # relative growth of the urban share per year
    afforestation: float = 0.008  # forest share gained per year (fraction of area)


@dataclass
class Thresholds:
    """Score thresholds for one county; list entries are per year index."""

    urban: list[Any] = field(default_factory=list)
    tea: Any = np.inf
    crop: Any = np.inf
    paddy: Any = np.inf
    orchard: Any = np.inf
    forest: Any = np.inf
    bare: Any = np.inf
    grass: Any = np.inf
    afforest: list[Any] = field(default_factory=list)

    def broadcast(self, zone: NDArray[np.int64]) -> Thresholds:
        """Per-pixel thresholds for a tile: ``self`` holds per-county arrays, ``zone`` indexes them."""
        z = np.maximum(zone, 0)
        return Thresholds(
            urban=[np.asarray(a)[z] for a in self.urban],
            tea=np.asarray(self.tea)[z], crop=np.asarray(self.crop)[z],
            paddy=np.asarray(self.paddy)[z], orchard=np.asarray(self.orchard)[z],
            forest=np.asarray(self.forest)[z], bare=np.asarray(self.bare)[z],
            grass=np.asarray(self.grass)[z],
            afforest=[np.asarray(a)[z] for a in self.afforest],
        )

    @staticmethod
    def stack(per_county: list[Thresholds]) -> Thresholds:
        """Per-county arrays from one Thresholds per county (index = county index)."""
        def col(name: str) -> NDArray[np.float64]:
            return np.array([getattr(t, name) for t in per_county], dtype=np.float64)

        n_years = len(per_county[0].urban)
        return Thresholds(
            urban=[np.array([t.urban[y] for t in per_county]) for y in range(n_years)],
            tea=col("tea"), crop=col("crop"), paddy=col("paddy"), orchard=col("orchard"),
            forest=col("forest"), bare=col("bare"), grass=col("grass"),
            afforest=[np.array([t.afforest[y] for t in per_county]) for y in range(n_years)],
        )


def scores(
    t: dict[str, Array], xs: Array, ys: Array, dist_rel: Array, seed: int, res: float
) -> dict[str, Array]:
    """Suitability scores (dimensionless) for the classes on a grid (ys × xs).

    ``t`` is the terrain dict (u, slope_deg, valley, karst); ``dist_rel`` is the
    distance to the county's urban centre divided by the county's equivalent radius.
    """
    wm = max(2.0 * res, 120.0)

    def n(salt: str, w: float) -> Array:
        return fbm(xs, ys, field_key(seed, "eco." + salt), w, wm, 0.5)

    u, s, v, k = t["u"], t["slope_deg"], t["valley"], t["karst"]
    s_f = 0.9 * u + s / 30.0 + 0.55 * n("forest", 5000.0) + 0.3 * dist_rel
    return {
        "urban": -2.0 * dist_rel + 0.35 * n("urban", 3000.0) - s / 25.0 - 0.5 * u,
        "tea": -np.abs(s - 12.0) / 15.0 - 1.2 * np.abs(u - 0.45) + 0.6 * n("tea", 2500.0),
        "crop": -1.3 * u - s / 15.0 + 0.45 * n("crop", 4000.0) + 0.4 * v,
        "paddy": 1.0 * v - s / 10.0 - 0.5 * u + 0.3 * n("paddy", 2000.0),
        "orchard": n("orchard", 1500.0),
        "forest": s_f,
        "afforest": s_f + s / 20.0,
        "bare": k + s / 30.0 + 0.4 * n("bare", 1500.0),
        "grass": 0.8 * u + 0.5 * n("grass", 3000.0),
        "ftype": u + 0.35 * n("ftype", 3000.0),
        "ftype2": n("ftype2", 2500.0),
    }


def _top_k_threshold(values: Array, k: int) -> float:
    """Threshold such that ``values >= threshold`` selects the k largest (±ties)."""
    if k <= 0 or values.size == 0:
        return float(np.inf)
    if k >= values.size:
        return float(-np.inf)
    return float(np.partition(values, values.size - k)[values.size - k])


def _assign(sc: dict[str, Array], water: NDArray[np.bool_], th: Thresholds, t_idx: int = 0
            ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_],
                       NDArray[np.bool_], NDArray[np.bool_]]:
    free = ~water
    urban = free & (sc["urban"] >= th.urban[t_idx])
    free &= ~urban
    tea = free & (sc["tea"] >= th.tea)
    free &= ~tea
    crop = free & (sc["crop"] >= th.crop)
    free &= ~crop
    forest = free & (sc["forest"] >= th.forest)
    return urban, tea, crop, forest, free & ~forest


def calibrate(
    sc: dict[str, Array], water: NDArray[np.bool_], tg: Targets, n_years: int
) -> Thresholds:
    """Thresholds for one county from its sample (1-D arrays of the county's sample pixels)."""
    n = water.size
    th = Thresholds()
    free = ~water
    th.urban.append(_top_k_threshold(sc["urban"][free], round(tg.urban * n)))
    free &= ~(sc["urban"] >= th.urban[0])
    th.tea = _top_k_threshold(sc["tea"][free], round(tg.tea * n))
    free &= ~(sc["tea"] >= th.tea)
    th.crop = _top_k_threshold(sc["crop"][free], round(tg.crop * n))
    crop = free & (sc["crop"] >= th.crop)
    free &= ~crop
    th.paddy = _top_k_threshold(sc["paddy"][crop], round(PADDY_SHARE_OF_CROP * crop.sum()))
    th.orchard = _top_k_threshold(sc["orchard"][crop], round(ORCHARD_SHARE_OF_CROP * crop.sum()))
    th.forest = _top_k_threshold(sc["forest"][free], round(tg.forest * n))
    rest = free & (sc["forest"] < th.forest)
    th.bare = _top_k_threshold(sc["bare"][rest], round(BARE_SHARE_OF_REST * rest.sum()))
    rest2 = rest & (sc["bare"] < th.bare)
    th.grass = _top_k_threshold(sc["grass"][rest2], round(GRASS_SHARE_OF_REST * rest.sum()))
    th.afforest.append(float(np.inf))
    codes0 = classify(sc, water, np.zeros(n, dtype=bool), th, 0)
    for y in range(1, n_years):
        target_u = tg.urban * (1.0 + tg.urban_growth) ** y
        th.urban.append(_top_k_threshold(sc["urban"][~water], round(target_u * n)))
        new_urban = ~water & (sc["urban"] >= th.urban[y])
        forest_now = (codes0 // 10 == 11) & ~new_urban
        cand = np.isin(codes0, CONVERTIBLE) & ~new_urban
        k = round((tg.forest + tg.afforestation * y) * n) - int(forest_now.sum())
        th.afforest.append(_top_k_threshold(sc["afforest"][cand], k))
    return th


def classify(
    sc: dict[str, Array],
    water_river: NDArray[np.bool_],
    reservoir: NDArray[np.bool_],
    th: Thresholds,
    t_idx: int,
) -> NDArray[np.uint16]:
    """Level-3 ecosystem codes for year index ``t_idx`` (0 = first year), any array shape.

    The thresholds ``th`` may be per-pixel arrays (one county's value broadcast over
    its pixels), which is how a tile spanning several counties is classified.
    """
    water = water_river | reservoir
    urban, tea, crop, forest, rest = _assign(sc, water, th, 0)
    code = np.zeros(water.shape, dtype=np.uint16)
    code[water_river] = WATER_RIVER
    code[reservoir] = WATER_RESERVOIR
    code[urban] = URBAN_RESIDENTIAL
    code[urban & (sc["orchard"] > 0.45)] = URBAN_INDUSTRIAL
    code[tea] = TEA
    paddy = crop & (sc["paddy"] >= th.paddy)
    orchard = crop & ~paddy & (sc["orchard"] >= th.orchard)
    code[crop] = DRY
    code[paddy] = PADDY
    code[orchard] = ORCHARD
    ft, ft2 = sc["ftype"], sc["ftype2"]
    code[forest] = FOREST_EN
    code[forest & (ft < 0.35)] = FOREST_EB
    code[forest & (ft >= 0.35) & (ft < 0.75) & (ft2 > 0.1)] = FOREST_MIX
    code[forest & (ft >= 0.75)] = FOREST_DB
    code[forest & (sc["bare"] > 1.6)] = FOREST_SPARSE
    bare = rest & (sc["bare"] >= th.bare)
    grass = rest & ~bare & (sc["grass"] >= th.grass)
    shrub = rest & ~bare & ~grass
    code[bare] = BARE_ROCK
    code[grass] = GRASS_TUSSOCK
    code[grass & (ft > 0.85)] = GRASS_MEADOW
    code[shrub] = SHRUB_EB
    code[shrub & (ft > 0.7)] = SHRUB_DB
    code[shrub & (sc["bare"] > 1.2)] = SHRUB_SPARSE
    if t_idx > 0:
        new_urban = ~water & (sc["urban"] >= th.urban[t_idx]) & ~urban
        cand = np.isin(code, CONVERTIBLE) & ~new_urban
        code[cand & (sc["afforest"] >= th.afforest[t_idx])] = FOREST_EN
        code[new_urban] = URBAN_RESIDENTIAL
    return code
