"""Open data API: scopes, per-key rate limits, personal-data masking, formats, request log."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from liangshan.api import create_app
from liangshan.catalog import monitoring
from liangshan.catalog.models import OpenDataRequest
from liangshan.catalog.schemas import StationIn
from liangshan.db import session_factory
from liangshan.identity import service
from liangshan.identity.access import SYSTEM
from liangshan.identity.schemas import ApiKeyIn
from liangshan.opendata.access import SlidingWindow
from liangshan.registry import service as registry
from liangshan.registry.schemas import ParcelIn, RightIn

X0, Y0 = 0.0, 3_200_000.0  # about 105° E, 30.3° N in the registry CRS


def app_with_domains(engine):
    """The app with the registry, catalog and open-data routers, registered or not yet."""
    from liangshan.api import app as app_module
    from liangshan.catalog.api import router as catalog
    from liangshan.opendata.api import router as opendata
    from liangshan.registry.api import router as registry_router

    app = create_app(engine)
    have = {spec.split(":")[0] for spec in app_module.ROUTERS}
    for module, router in (("liangshan.registry.api", registry_router),
                           ("liangshan.catalog.api", catalog),
                           ("liangshan.opendata.api", opendata)):
        if module not in have:
            app.include_router(router)
    return app


def login(client, username):
    r = client.post("/auth/token", data={"username": username,
                                         "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def setup(db_engine):
    from datetime import date

    import pandas as pd
    from shapely.geometry import box

    from liangshan.identity.models import Role
    from liangshan.identity.schemas import UserIn

    with session_factory(db_engine)() as s:
        user = service.create_user(s, SYSTEM, UserIn(
            username="chishui", display_name="c", password="correct horse battery",
            role=Role.COUNTY_OPERATOR, region_code="520381"))
        public = service.create_user(s, SYSTEM, UserIn(
            username="citizen", display_name="p", password="correct horse battery",
            role=Role.PUBLIC))
        for i in range(3):
            p = registry.register_parcel(s, SYSTEM, ParcelIn(
                region_code="520381", resource_type="forest", ownership="collective",
                owner_name="丙安村", geometry=box(X0 + 100 * i, Y0, X0 + 100 * (i + 1), Y0 + 100)))
        registry.register_right(s, SYSTEM, RightIn(
            parcel_code=p.code, kind="contract", holder_name="王小明", holder_kind="individual",
            holder_id_number="520381199001011234", start_date=date(2020, 1, 1),
            document_ref="c1"))
        monitoring.create_station(s, SYSTEM, StationIn(
            code="LYX", name="鲢鱼溪", kind="water_quality", region_code="520381", x=X0, y=Y0,
            target_class=2))
        monitoring.ingest(s, SYSTEM, pd.DataFrame({
            "station": ["LYX"] * 2, "parameter": ["nh3n", "tp"],
            "observed_at": ["2024-01-05", "2024-01-05"], "value": [0.3, 0.05],
            "unit": ["mg/L", "mg/L"]}))
        gov_key, _ = service.create_api_key(s, service.principal_of(user), ApiKeyIn(
            name="gov", scopes=["read:registry"], rate_limit_per_minute=3))
        pub_key, _ = service.create_api_key(s, service.principal_of(public), ApiKeyIn(
            name="pub", scopes=["read:public"]))
        mon_key, _ = service.create_api_key(s, service.principal_of(public), ApiKeyIn(
            name="mon", scopes=["read:monitoring"]))
        s.commit()
        code = p.code
    with TestClient(app_with_domains(db_engine), raise_server_exceptions=False) as c:
        yield c, {"gov": gov_key, "pub": pub_key, "mon": mon_key}, code


def test_formats_and_paging(setup):
    client, _keys, _code = setup
    page = client.get("/open/parcels", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and "reason" not in page["items"][0]
    gj = client.get("/open/parcels", params={"format": "geojson"}).json()
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0][0]
    assert 104.9 < lon < 105.1 and 30.2 < lat < 30.3
    csv = client.get("/open/parcels", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == 4
    readings = client.get("/open/stations/LYX/readings").json()
    assert readings["total"] == 2 and {r["parameter"] for r in readings["items"]} == {"nh3n", "tp"}
    classes = client.get("/open/stations/LYX/classes").json()["items"]
    assert classes[0]["water_class"] == 2
    assert client.get("/open/stations", params={"format": "geojson"}).status_code == 200
    comp = client.get("/open/stations/LYX/compliance", params={"year": 2024}).json()
    assert comp["annual_class"] == 2 and comp["months_meeting"] == 1


def test_personal_data_only_for_roles_that_need_it(setup):
    client, keys, code = setup
    anon = client.get(f"/open/parcels/{code}").json()["rights"][0]
    assert anon["holder_name"] == "王**" and anon["holder_id_number"] is None
    pub = client.get(f"/open/parcels/{code}", headers={"X-API-Key": keys["pub"]}).json()
    assert pub["rights"][0]["holder_id_number"] is None
    gov = client.get(f"/open/parcels/{code}", headers={"X-API-Key": keys["gov"]}).json()
    assert gov["rights"][0]["holder_id_number"] == "520381199001011234"
    user = client.get(f"/open/parcels/{code}", headers=login(client, "chishui")).json()
    assert user["rights"][0]["holder_name"] == "王小明"


def test_scope_and_rate_limit_per_key_and_log(setup, db_engine):
    client, keys, _code = setup
    denied = client.get("/open/parcels", headers={"X-API-Key": keys["mon"]})
    assert denied.status_code == 403 and "read:registry" in denied.json()["message"]
    assert client.get("/open/stations", headers={"X-API-Key": keys["mon"]}).status_code == 200
    codes = [client.get("/open/parcels", headers={"X-API-Key": keys["gov"]}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # another key is not affected by the first key's limit
    assert client.get("/open/parcels", headers={"X-API-Key": keys["pub"]}).status_code == 200
    with session_factory(db_engine)() as s:
        logged = list(s.scalars(select(OpenDataRequest).order_by(OpenDataRequest.id)))
    assert len(logged) == 7
    assert [r.status for r in logged] == [403, 200, 200, 200, 200, 429, 200]
    assert logged[0].api_key_id is not None and logged[0].path == "/open/parcels"


def test_sliding_window_forgets_after_a_minute():
    w = SlidingWindow(60)
    assert [w.allow("k", 2, t) for t in (0, 1, 2)] == [True, True, False]
    assert w.allow("k", 2, 60.5) is True  # the hit at t=0 has left the window
