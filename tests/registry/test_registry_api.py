"""Registry and catalog HTTP routes on both databases (routers included on a test app)."""

from __future__ import annotations

import io

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn

PASSWORD = "correct horse battery"
LON, LAT, D = 105.70, 28.55, 0.001


def app_with_domains(engine):
    from liangshan.api import app as app_module
    from liangshan.catalog.api import router as catalog
    from liangshan.opendata.api import router as opendata
    from liangshan.registry.api import router as registry

    app = create_app(engine)
    have = {spec.split(":")[0] for spec in app_module.ROUTERS}
    for module, router in (("liangshan.registry.api", registry), ("liangshan.catalog.api", catalog),
                           ("liangshan.opendata.api", opendata)):
        if module not in have:
            app.include_router(router)
    return app


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as session:
        for name, role, region in [("chishui", Role.COUNTY_OPERATOR, "520381"),
                                   ("dafang", Role.COUNTY_OPERATOR, "520521"),
                                   ("citizen", Role.PUBLIC, None)]:
            service.create_user(session, SYSTEM, UserIn(
                username=name, display_name=name, password=PASSWORD, role=role,
                region_code=region))
        session.commit()
    with TestClient(app_with_domains(db_engine), raise_server_exceptions=False) as c:
        yield c


def login(client, username):
    r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _parcel_body(i, **kw):
    return {"region_code": "520381", "resource_type": "forest", "ownership": "collective",
            "owner_name": "丙安村", "geometry": mapping(box(LON + i * D, LAT, LON + (i + 1) * D,
                                                            LAT + D)), **kw}


def test_register_lookup_and_conflicts(client):
    h = login(client, "chishui")
    r = client.post("/registry/parcels", json=_parcel_body(0), headers=h)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert 9_000 < r.json()["area_m2"] < 11_000  # about 98 m × 111 m at 28.5° N
    clash = client.post("/registry/parcels", json=_parcel_body(0.5), headers=h)
    assert clash.status_code == 409 and code in clash.json()["message"]
    other = client.post("/registry/parcels", json=_parcel_body(3), headers=login(client, "dafang"))
    assert other.status_code == 403
    found = client.get("/registry/parcels", params={"x": LON + D / 2, "y": LAT + D / 2}, headers=h)
    assert [p["code"] for p in found.json()] == [code]
    right = client.post("/registry/rights", headers=h, json={
        "parcel_code": code, "kind": "contract", "holder_name": "王小明",
        "holder_kind": "individual", "holder_id_number": "520381199001011234",
        "start_date": "2020-01-01", "end_date": "2050-01-01", "document_ref": "承包合同001"})
    assert right.status_code == 201, right.text
    by_holder = client.get("/registry/parcels", params={"holder": "王小明"}, headers=h)
    assert [p["code"] for p in by_holder.json()] == [code]
    probe = client.get("/registry/parcels", params={"holder": "王小明"},
                       headers=login(client, "citizen"))
    assert probe.status_code == 403
    view = client.get(f"/registry/parcels/{code}", headers=h).json()
    assert view["rights"][0]["holder_id_number"] == "520381199001011234"
    changed = client.patch(f"/registry/parcels/{code}", headers=h,
                           json={"reason": "rename", "changes": {"name": "竹林"}})
    assert changed.json()["version"] == 2
    assert len(client.get(f"/registry/parcels/{code}/history", headers=h).json()) == 2


def test_polygon_search_and_export(client):
    h = login(client, "chishui")
    codes = [client.post("/registry/parcels", json=_parcel_body(i), headers=h).json()["code"]
             for i in range(3)]
    query = {"geometry": mapping(box(LON + 1.2 * D, LAT + 0.2 * D, LON + 2.5 * D, LAT + 0.5 * D))}
    found = client.post("/registry/parcels/search", json=query, headers=h)
    assert [p["code"] for p in found.json()] == codes[1:3]
    gj = client.get("/registry/export", params={"format": "geojson"}, headers=h)
    assert gj.status_code == 200 and len(gj.json()["features"]) == 3
    shp = client.get("/registry/export", params={"format": "shp"}, headers=h)
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(shp.content)).namelist()
    assert {"parcels.shp", "parcels.dbf", "parcels.prj"} <= set(names)


def test_import_upload_gives_row_report(client):
    h = login(client, "chishui")
    frame = gpd.GeoDataFrame(
        [{"region": "520381", "res_type": "forest", "ownership": "state", "owner": "林场"},
         {"region": "520381", "res_type": "forest", "ownership": "state", "owner": None}],
        geometry=[box(LON, LAT, LON + D, LAT + D), box(LON + 2 * D, LAT, LON + 3 * D, LAT + D)],
        crs="EPSG:4326")
    buf = io.BytesIO(frame.to_json().encode())
    r = client.post("/registry/import", headers=h, files={"file": ("p.geojson", buf)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["refused"] == 1
    assert "owner_name" in body["rows"][1]["reason"]


def test_catalog_and_monitoring_routes(client):
    h = login(client, "chishui")
    census = client.post("/catalog/censuses", headers=h,
                         json={"region_code": "520381", "year": 2024, "title": "2024"}).json()
    r = client.post(f"/catalog/censuses/{census['id']}/products", headers=h, json={
        "region_code": "520381", "product_type": "material_agriculture", "name": "茶叶",
        "quantity": 12.5, "unit": "t", "department": "农业农村局", "survey_date": "2024-05-01",
        "survey_method": "统计", "geometry": mapping(box(LON, LAT, LON + D, LAT + D))})
    assert r.status_code == 201, r.text
    xlsx = client.get("/catalog/catalogue", headers=h,
                      params={"region_code": "520381", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    st = client.post("/monitoring/stations", headers=h, json={
        "code": "LYX", "name": "鲢鱼溪", "kind": "water_quality", "region_code": "520381",
        "target_class": 2})
    assert st.status_code == 201, st.text
    body = [{"station": "LYX", "parameter": "tp", "observed_at": "2024-01-05T08:00:00",
             "value": 0.3, "unit": "mg/L"}]
    first = client.post("/monitoring/readings", headers=h, json=body).json()
    again = client.post("/monitoring/readings", headers=h, json=body).json()
    assert first["inserted"] == 1 and again["duplicates"] == 1 and len(first["alerts"]) == 2
