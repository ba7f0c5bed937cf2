"""The HTTP routes: producers write with a login, anyone reads /t/{code} and its JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import OrganisationIn, UserIn

PASSWORD = "correct horse battery"
T = "2025-04-01T08:30:00+08:00"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as s:
        tea = identity.create_organisation(s, SYSTEM, OrganisationIn(
            name="雷山银球茶合作社", kind="enterprise", region_code="522634"))
        identity.create_user(s, SYSTEM, UserIn(
            username="tea", display_name="tea", password=PASSWORD, role=Role.ENTERPRISE,
            region_code="522634", organisation_id=tea.id))
        s.commit()
    app = create_app(db_engine)
    if not any(getattr(r, "path", "") == "/t/{code}" for r in app.routes):
        from liangshan.trace.api import router
        app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        token = c.post("/auth/token", data={"username": "tea", "password": PASSWORD})
        c.headers_auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield c


def _batch(client) -> str:
    r = client.post("/trace/batches", headers=client.headers_auth, json={
        "region_code": "522634", "product_type": "tea", "product_name": "雷山银球茶",
        "quantity": 20_000, "unit": "g", "event_time": T})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def test_producer_records_and_the_public_reads(client):
    code = _batch(client)
    r = client.post(f"/trace/batches/{code}/events", headers=client.headers_auth, json={
        "biz_step": "storage", "event_time": "2025-04-02T09:00:00+08:00",
        "where": {"read_point": "雷山县丹江镇仓库"}, "temperature_c": "4.5"})
    assert r.status_code == 201, r.text
    page = client.get(f"/t/{code}")
    assert page.status_code == 200 and "雷山银球茶" in page.text
    assert "已验证 Verified" in page.text and "<script" not in page.text
    assert "http://" not in page.text.replace('xmlns="http://www.w3.org', "")
    data = client.get(f"/t/{code}.json").json()
    assert data["verification"]["overall"] == "verified"
    assert all(e["proof"]["hashes"] is not None for e in data["events"][1:])
    assert data["log"]["note"].startswith(data["log"]["log_key"].split("+")[0])


def test_writes_need_a_login_and_bad_codes_are_clear(client):
    r = client.post("/trace/batches", json={})
    assert r.status_code in (401, 422)
    code = _batch(client)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    r = client.get(f"/t/{wrong}.json")
    assert r.status_code == 422 and "check character" in r.json()["message"]
    page = client.get(f"/t/{wrong}")
    assert page.status_code == 422 and "wrong check character" in page.text
    assert "无法验证" in page.text
    r = client.post(f"/trace/batches/{code}/events", headers=client.headers_auth, json={
        "biz_step": "storage", "event_time": "2025-03-01T00:00:00+08:00"})
    assert r.status_code == 422 and "out-of-order" in r.json()["message"]


def test_labels_and_recall_banner(client):
    code = _batch(client)
    r = client.post(f"/trace/batches/{code}/labels?count=3&format=svg",
                    headers=client.headers_auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.count("<path") == 3
    r = client.post(f"/trace/batches/{code}/recall", headers=client.headers_auth,
                    json={"reason": "标签错误", "event_time": datetime.now(UTC).isoformat()})
    assert r.status_code == 201, r.text
    page = client.get(f"/t/{code}").text
    assert "已召回 RECALLED" in page and "标签错误" in page


def test_client_signed_event_and_replay_over_http(client):
    import base64

    from liangshan.ledger.note import generate_signer
    from liangshan.trace import signing

    code = _batch(client)
    me = client.get(f"/trace/batches/{code}", headers=client.headers_auth).json()
    own = generate_signer(signing.key_name(me["producer_org_id"]))
    r = client.post("/trace/keys", headers=client.headers_auth, json={
        "org_id": me["producer_org_id"],
        "public_key": base64.b64encode(own.public_key).decode()})
    assert r.status_code == 201, r.text
    doc = client.post(f"/trace/batches/{code}/events/prepare?key_id={own.key_id.hex()}",
                      headers=client.headers_auth,
                      json={"biz_step": "harvest", "event_time": "2025-04-01T10:00:00+08:00"})
    assert doc.status_code == 200, doc.text
    body = {"document": doc.json(),
            "signature": base64.b64encode(signing.sign_document(own, doc.json())).decode()}
    r = client.post("/trace/events/signed", headers=client.headers_auth, json=body)
    assert r.status_code == 201, r.text
    r = client.post("/trace/events/signed", headers=client.headers_auth, json=body)
    assert r.status_code == 409 and "replayed signature" in r.json()["message"]
    forged = dict(body, signature=base64.b64encode(bytes(64)).decode())
    forged["document"] = dict(doc.json(), nonce="0" * 32, event_id="1" * 32)
    r = client.post("/trace/events/signed", headers=client.headers_auth, json=forged)
    assert r.status_code == 403 and "forged signature" in r.json()["message"]
