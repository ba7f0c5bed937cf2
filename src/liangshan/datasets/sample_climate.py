"""Generated climate, vegetation and soil layers of the sample (GENERATED SAMPLE DATA).

Simple, documented relations give values in plausible Guizhou ranges and keep
the layers consistent with each other and with the ecosystem map. None of
these relations is a model of Guizhou's real climate; all coefficients are [K].

* temp_c (°C): sea-level equivalent 21.7 − 0.9·(lat − 26.6) minus a lapse rate
  of 0.58 °C per 100 m, plus a yearly anomaly (Guiyang ≈ 15.3 °C at 1 100 m).
* precip_mm (mm/yr): the county's mean (published where known, else a SE→NW
  gradient from ~1 400 to ~950 mm) × a yearly factor × an orographic term
  (+8 % per 1 000 m above the county's middle elevation) × ±5 % noise.
* storm_precip_mm (mm/yr): precipitation × storm share (≈ 0.17, higher in the
  wetter south-east), × a yearly factor.
* erosivity (MJ·mm·ha⁻¹·h⁻¹·yr⁻¹): R = 0.0483·P^1.61 (Renard & Freimund 1994,
  P in mm, [K] for Guizhou) × √(storm share / 0.18).
* et0_mm (mm/yr): 880 + 28·(T − 15), higher in a dry year.
* aet_mm (mm/yr): Fu's Budyko curve with ω by ecosystem (forest 2.8 … urban
  1.4); open water evaporates 1.05·ET0.
* ndvi (1): a base value per ecosystem class + noise; fvc (1) from NDVI by the
  dimidiate pixel model with NDVI_soil = 0.05 and NDVI_veg = 0.90.
* npp_gc_m2 (gC·m⁻²·yr⁻¹): a base per class × vegetation cover, temperature
  and moisture factors; zero on water.
* soil (static): clay 22–45 %, silt 30–45 %, sand the rest; SOC 0.4–4 % by class;
  depth 30–1 500 mm, thin on steep karst and bare rock; PAWC 0.06–0.25.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from liangshan.datasets.sample_noise import fbm, field_key

Array = NDArray[np.float64]


def _lut(pairs: dict[int, float], default: float) -> Array:
    out = np.full(200, default, dtype=np.float64)
    for code, v in pairs.items():
        if code >= 100:
            out[code] = v
        else:  # level-1 code: every level-3 code in it
            out[code * 10 : code * 10 + 10] = v
    return out


# values by level-1 class (11 forest … 19 bare) with level-3 overrides
_OMEGA = _lut({11: 2.8, 12: 2.4, 13: 2.2, 14: 2.0, 15: 2.2, 151: 2.6, 154: 2.4,
               16: 1.4, 19: 1.3}, 2.0)
_NDVI = _lut({11: 0.86, 116: 0.72, 12: 0.76, 124: 0.62, 13: 0.66, 14: 0.08, 15: 0.62,
              153: 0.72, 154: 0.74, 16: 0.28, 162: 0.7, 19: 0.16}, 0.5)
_NPP = _lut({11: 620.0, 116: 450.0, 12: 480.0, 13: 420.0, 14: 0.0, 15: 460.0,
             16: 140.0, 19: 60.0}, 300.0)
_SOC = _lut({11: 2.6, 12: 2.1, 13: 2.3, 14: 1.5, 15: 1.4, 151: 1.9, 16: 0.8, 19: 0.5},
            1.5)

NDVI_SOIL, NDVI_VEG = 0.05, 0.90


def year_factors(seed: int, year: int) -> dict[str, float]:
    """Yearly weather factors (deterministic in seed and year): precipitation factor,
    temperature anomaly (°C), storm-share factor."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, year, 91])
    return {
        "precip": float(np.clip(1.0 + 0.06 * rng.standard_normal(), 0.88, 1.12)),
        "temp": float(np.clip(0.35 * rng.standard_normal(), -0.8, 0.8)),
        "storm": float(np.clip(1.0 + 0.15 * rng.standard_normal(), 0.7, 1.3)),
    }


def climate(
    dem: Array, lat: Array, p_base: Array, e_mid: Array, code: NDArray[np.uint16],
    xs: Array, ys: Array, seed: int, year: int, res: float,
) -> dict[str, Array]:
    """Per-year layers (see module docstring for units) on the grid (ys × xs)."""
    yf = year_factors(seed, year)

    def n(salt: str, w: float, w_min: float = 2500.0) -> Array:
        # weather fields are smooth: stop the octaves at w_min (m)
        wm = max(2.0 * res, w_min)
        return fbm(xs, ys, field_key(seed, f"clim.{year}.{salt}"), w, wm, 0.5)

    temp = 21.7 - 0.9 * (lat - 26.6) - 0.0058 * dem + yf["temp"] + 0.25 * n("t", 20000.0)
    orog = 1.0 + 0.08 * (dem - e_mid) / 1000.0
    precip = np.clip(p_base * yf["precip"] * orog * (1.0 + 0.05 * n("p", 30000.0)), 700.0, 2000.0)
    share = np.clip(
        (0.17 + 0.02 * (p_base - 1200.0) / 200.0 + 0.03 * n("s", 25000.0)) * yf["storm"],
        0.06, 0.35,
    )
    storm = precip * share
    erosivity = 0.0483 * precip**1.61 * np.sqrt(share / 0.18)
    et0 = (880.0 + 28.0 * (temp - 15.0)) * (1.0 + 0.6 * (1.0 - yf["precip"])) * (
        1.0 + 0.03 * n("e", 15000.0)
    )
    et0 = np.clip(et0, 550.0, 1300.0)
    omega = _OMEGA[code]
    phi = et0 / precip
    aet = precip * (1.0 + phi - (1.0 + phi**omega) ** (1.0 / omega))
    water = code // 10 == 14
    aet = np.where(water & (code != 141) & (code != 142), 1.05 * et0, aet)
    ndvi = np.clip(
        _NDVI[code] + 0.04 * n("v", 1500.0, 200.0) + 0.15 * (yf["precip"] - 1.0) * (code // 10 != 14),
        0.0, 0.95,
    )
    fvc = np.clip((ndvi - NDVI_SOIL) / (NDVI_VEG - NDVI_SOIL), 0.0, 1.0)
    fvc_ref = np.clip((_NDVI[code] - NDVI_SOIL) / (NDVI_VEG - NDVI_SOIL), 0.05, 1.0)
    npp = (
        _NPP[code]
        * (0.4 + 0.6 * fvc / fvc_ref)
        * np.clip(1.0 + 0.03 * (temp - 15.0), 0.6, 1.3)
        * np.sqrt(np.clip(precip / 1100.0, 0.7, 1.15))
    )
    return {
        "temp_c": temp, "precip_mm": precip, "storm_precip_mm": storm,
        "erosivity": erosivity, "et0_mm": et0, "aet_mm": aet, "ndvi": ndvi,
        "fvc": fvc, "npp_gc_m2": np.where(water, 0.0, npp),
    }


def soil(
    code: NDArray[np.uint16], u: Array, slope: Array, karst: Array,
    xs: Array, ys: Array, seed: int, res: float,
) -> dict[str, Array]:
    """Static soil layers (% , mm, 1) on the grid (ys × xs) from the first year's map."""
    def n(salt: str, w: float) -> Array:
        wm = max(2.0 * res, w / 16.0)  # five octaves per soil field
        return fbm(xs, ys, field_key(seed, "soil." + salt), w, wm, 0.5)

    clay = np.clip(33.0 + 20.0 * n("clay", 12000.0) - 4.0 * u, 22.0, 45.0)
    silt = np.clip(38.0 + 18.0 * n("silt", 9000.0), 30.0, 45.0)
    sand = 100.0 - clay - silt
    soc = np.clip(_SOC[code] * (1.0 + 0.4 * n("soc", 4000.0)) * (1.0 + 0.3 * u), 0.4, 4.0)
    depth = 1300.0 - 22.0 * slope - 550.0 * karst + 300.0 * n("depth", 3000.0)
    depth = np.where(code == 191, 30.0 + 40.0 * (n("rock", 800.0) + 1.0), depth)
    depth = np.clip(depth, 30.0, 1500.0)
    pawc = np.clip(0.04 + 0.0022 * silt + 0.012 * soc + 0.03 * n("pawc", 5000.0), 0.06, 0.25)
    return {
        "sand_pct": sand, "silt_pct": silt, "clay_pct": clay, "soc_pct": soc,
        "soil_depth_mm": depth, "pawc": pawc,
    }
