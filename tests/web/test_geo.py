"""The map's county GeoJSON: 88 counties, shared borders kept, areas, cache in the data dir."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape

from liangshan.web import geo

PILOTS = {"520381", "520521", "520621", "522634", "522701"}


@pytest.fixture(scope="module")
def collection(geojson_text):
    return json.loads(geojson_text)


def test_eighty_eight_counties_with_the_pilots_marked(collection):
    props = [f["properties"] for f in collection["features"]]
    assert len(props) == 88 and len({p["code"] for p in props}) == 88
    assert all(p["code"].startswith("52") and len(p["code"]) == 6 for p in props)
    assert {p["code"] for p in props if p["pilot"]} == PILOTS
    names = {p["code"]: p["name"] for p in props}
    assert names["520381"] == "赤水市" and names["522701"] == "都匀市"


def test_areas_add_up_to_guizhou(collection):
    """Guizhou's land area is 176,100 km² (provincial statistics); allow 1 %."""
    total = sum(f["properties"]["area_km2"] for f in collection["features"])
    assert total == pytest.approx(176_100, rel=0.01)


def test_simplified_polygons_are_valid_wgs84_and_small(geojson_text, collection):
    geoms = [shape(f["geometry"]) for f in collection["features"]]
    assert all(g.is_valid and not g.is_empty for g in geoms)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    # Guizhou: about 103.6–109.6 °E, 24.6–29.2 °N
    assert 103 < minx < 104 and 109 < maxx < 110 and 24 < miny < 25 and 29 < maxy < 30
    assert len(geojson_text.encode()) < 400_000
    # coverage simplification keeps neighbours together: the union has (almost) no holes
    union = shapely.union_all(geoms)
    outline = shapely.Polygon(max(union.geoms, key=lambda g: g.area).exterior) \
        if union.geom_type == "MultiPolygon" else shapely.Polygon(union.exterior)
    assert union.area == pytest.approx(outline.area, rel=0.002)


def test_cache_is_written_once_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("LIANGSHAN_DATA_DIR", str(tmp_path / "fresh"))
    from liangshan import config
    config.get_settings.cache_clear()
    monkeypatch.setattr(geo, "build_and_serialise", lambda: '{"type":"FeatureCollection",'
                        '"features":[{"type":"Feature","geometry":null,"properties":'
                        '{"code":"520381","name":"赤水市","area_km2":1801.0,"pilot":true}}]}')
    text = geo.county_geojson_text()
    assert geo.cache_path().read_text(encoding="utf-8") == text
    monkeypatch.setattr(geo, "build_and_serialise", lambda: pytest.fail("rebuilt"))
    assert geo._cached_text.__wrapped__(geo.cache_path()) == text   # read from the file
    assert geo.county_name("520381001") == "赤水市" and geo.county_name("52") == "贵州省"
