"""The domain pages (registry, catalogue, monitoring, market) on SQLite and PostgreSQL.

Seeded with the registry demo on two small square zones (projected, as in
tests/registry) and the market demo; expected figures are read back from the
domain services, so each test checks the page shows what the service holds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from liangshan.catalog import catalogue, monitoring
from liangshan.db import session_factory
from liangshan.market import service as market
from liangshan.registry import service as registry
from liangshan.registry.models import REGISTRY_CRS
from tests.web._web_seed import login, make_app, seed, seed_domains


@pytest.fixture
def domain_client(db_engine: Engine) -> Iterator[TestClient]:
    seed(db_engine)   # users of tests/web (province: government, citizen: public)
    seed_domains(db_engine)
    with TestClient(make_app(db_engine)) as c:
        yield c


def _individual_right(db_engine: Engine) -> tuple[str, str]:
    """(parcel code, holder name) of a current right held by an individual."""
    session = session_factory(db_engine)()
    try:
        _, parcels = registry.list_parcels(session, limit=1000)
        for p in parcels:
            for r in registry.rights_of(session, p.code):
                if r.holder_kind == "individual":
                    return p.code, r.holder_name
    finally:
        session.close()
    pytest.skip("the demo seeded no individual holder")


def test_parcel_list_and_page(domain_client, db_engine):
    session = session_factory(db_engine)()
    total, rows = registry.list_parcels(session, region_code="520381", limit=1)
    session.close()
    html = domain_client.get("/web/parcels?region_code=520381").text
    assert f"共计: {total}" in html and rows[0].code in html
    one = domain_client.get(f"/web/parcels?code={rows[0].code}").text
    assert "共计: 1" in one
    page = domain_client.get(f"/web/parcels/{rows[0].code}")
    assert page.status_code == 200 and rows[0].code in page.text and "赤水市" in page.text
    assert domain_client.get("/web/parcels/520381NOPE").status_code == 404


def test_parcel_outline_is_in_wgs84_inside_its_bbox(domain_client, db_engine):
    """The embedded outline, projected back with pyproj, lands on the parcel's bbox corners."""
    import json

    from pyproj import Transformer

    session = session_factory(db_engine)()
    _, rows = registry.list_parcels(session, region_code="520521", limit=1)
    parcel = rows[0]
    session.close()
    html = domain_client.get(f"/web/parcels/{parcel.code}").text
    text = html.split('id="parcel-outline">')[1].split("</script>")[0]
    rings = json.loads(text)["rings"]
    back = Transformer.from_crs("EPSG:4326", REGISTRY_CRS, always_xy=True)
    xs, ys = back.transform([p[0] for p in rings[0]], [p[1] for p in rings[0]])
    assert 100 < rings[0][0][0] < 112 and 24 < rings[0][0][1] < 30   # Guizhou, lon/lat
    assert min(xs) == pytest.approx(parcel.minx, abs=0.5)
    assert max(ys) == pytest.approx(parcel.maxy, abs=0.5)
    assert "/static/js/parcel.js" in html


def test_anonymous_sees_no_individual_holder_names(domain_client, db_engine):
    code, name = _individual_right(db_engine)
    anonymous = domain_client.get(f"/web/parcels/{code}").text
    assert name not in anonymous and name[0] + "*" in anonymous
    assert domain_client.get(f"/web/parcels?holder={name}").status_code == 403
    login(domain_client, "citizen")
    assert name not in domain_client.get(f"/web/parcels/{code}").text
    login(domain_client, "province")
    assert name in domain_client.get(f"/web/parcels/{code}").text
    found = domain_client.get(f"/web/parcels?holder={name}").text
    assert code in found


def test_catalogue_table_and_csv(domain_client, db_engine):
    session = session_factory(db_engine)()
    frame = catalogue.build_catalogue(session, "520381")
    session.close()
    html = domain_client.get("/web/catalog/520381").text
    assert "生态产品目录清单" in html and str(frame.iloc[0]["name"]) in html
    response = domain_client.get("/web/catalog/520381/download.csv")
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == len(frame)
    assert [r["name"] for r in rows] == [str(v) for v in frame["name"]]
    assert domain_client.get("/web/catalog/529999").status_code == 404


def test_monitoring_pages(domain_client, db_engine):
    session = session_factory(db_engine)()
    stations = monitoring.list_stations(session)
    assert stations, "the demo seeds stations"
    station = stations[0]
    classes = monitoring.station_classes(session, station.code)
    session.close()
    html = domain_client.get("/web/monitoring").text
    assert all(s.code in html for s in stations)
    page = domain_client.get(f"/web/monitoring/{station.code}")
    assert page.status_code == 200
    assert 'id="station-data"' in page.text and "/static/js/station.js" in page.text
    for period in classes["period"]:
        assert str(period) in page.text
    assert domain_client.get("/static/js/station.js").status_code == 200


def test_market_page(domain_client, db_engine):
    session = session_factory(db_engine)()
    report = market.registry_report(session)
    trades = market.list_trades(session)
    session.close()
    html = domain_client.get("/web/market").text
    for code in market.load_instruments():
        assert f'data-code="{code}"' in html
    assert f"{report[0]['issued']:,}" in html
    assert ("最近成交" in html) and (bool(trades) == ('id="trades"' in html))
    assert "Ecological market" in domain_client.get("/web/market?lang=en").text
