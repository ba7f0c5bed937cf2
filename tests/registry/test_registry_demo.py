"""Demo seeding on both databases with two small square zones."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box

from liangshan.catalog import catalogue, monitoring
from liangshan.catalog import service as catalog
from liangshan.errors import Conflict, InvalidInput
from liangshan.registry import demo, service
from liangshan.registry.models import REGISTRY_CRS


def _zones():
    tri = Polygon([(20_000, 3_150_000), (26_000, 3_150_000), (20_000, 3_156_000)])
    return gpd.GeoDataFrame({"region_code": ["520381", "520521"], "name": ["赤水市", "大方县"]},
                            geometry=[box(0, 3_150_000, 5_000, 3_155_000), tri], crs=REGISTRY_CRS)


@pytest.mark.slow
def test_seed_demo_is_plausible_and_consistent(db_session):
    counts = demo.seed_demo(db_session, _zones(), seed=7, parcels_per_county=40,
                            years=(2023, 2024))
    db_session.commit()
    assert counts["refused"] == 0 and 60 <= counts["parcels"] <= 100
    total, parcels = service.list_parcels(db_session, limit=1000)
    assert total == counts["parcels"]
    # the grid is clipped to the zones: areas add up to the zones' areas
    zones = _zones()
    for code, geom in zip(zones["region_code"], zones.geometry, strict=True):
        area = sum(p.area_m2 for p in parcels if p.region_code == code)
        assert area == pytest.approx(geom.area, rel=0.06)
    assert counts["rights"] > 0 and counts["censuses"] == 4
    # every mortgage sits inside the term of an active contract (seeding went through the rules)
    mortgages = 0
    for p in parcels:
        rights = {r.code: r for r in service.rights_of(db_session, p.code)}
        for r in rights.values():
            if r.kind == "mortgage":
                parent = rights[r.parent_code]
                assert parent.kind == "contract" and parent.status == "active"
                assert parent.start_date <= r.start_date and r.end_date <= parent.end_date
                mortgages += 1
    assert mortgages == counts["mortgages"]
    cat = catalogue.build_catalogue(db_session, "52", year=2024)
    assert set(cat["region_code"]) == {"520381", "520521"}
    census = catalog.find_census(db_session, "520381", 2024)
    changes = catalogue.change_list(db_session, census.id)
    assert set(changes["change"]) <= {"changed", "removed", "added", "unchanged"}
    stations = monitoring.list_stations(db_session, basin="长江")
    assert {s.name for s in stations} == {"清水铺", "鲢鱼溪", "茅台镇上游新增断面"}
    assert counts["readings"] == 3 * 24 * 5
    lyx = next(s for s in stations if s.code == "CSH-LYX")
    assert lyx.x is not None and zones.geometry[0].contains(Point(lyx.x, lyx.y))
    assert len(monitoring.station_classes(db_session, "CSH-LYX", "year")) == 2
    with pytest.raises(Conflict, match="already holds parcels"):
        demo.seed_demo(db_session, _zones())


def test_geographic_zones_refused(db_session):
    with pytest.raises(InvalidInput, match="projected"):
        demo.seed_demo(db_session, _zones().to_crs("EPSG:4326"))
