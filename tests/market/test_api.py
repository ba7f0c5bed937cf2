"""The market routes: public reads, authenticated writes, domain errors as HTTP codes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn

from .helpers import org

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as s:
        seller, buyer = org(s, "卖方"), org(s, "买方")
        identity.create_user(s, SYSTEM, UserIn(username="admin", display_name="admin",
                                               password=PASSWORD, role=Role.PROVINCE_ADMIN))
        identity.create_user(s, SYSTEM, UserIn(username="firm", display_name="firm",
                                               password=PASSWORD, role=Role.ENTERPRISE,
                                               organisation_id=buyer))
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        c.orgs = (seller, buyer)  # type: ignore[attr-defined]
        yield c


def _login(client, name):
    r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_issue_settle_report_round_trip(client):
    seller, buyer = client.orgs
    admin, firm = _login(client, "admin"), _login(client, "firm")
    codes = [i["code"] for i in client.get("/market/instruments").json()]
    assert "CCER-AR" in codes and "GZ-TREE" in codes
    body = {"instrument": "WATER", "vintage": 2024, "quantity": 1000, "holder_org_id": seller,
            "period_start": "2024-01-01", "period_end": "2024-12-31",
            "verification_ref": "取水许可核查", "idempotency_key": "w1", "project_ref": "取水证-1",
            "region_code": "520381"}
    assert client.post("/market/issuances", json=body).status_code == 401
    r = client.post("/market/issuances", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["serial_start"], r.json()["serial_end"]) == (1, 1000)
    r = client.post("/market/issuances", json=body | {"idempotency_key": "w2"}, headers=admin)
    assert r.status_code == 409 and "already issued" in r.json()["message"]
    assert client.post("/market/deposits", json={"org_id": buyer, "amount_fen": 10_000,
                                                 "idempotency_key": "d"},
                       headers=firm).status_code == 403
    client.post("/market/deposits", json={"org_id": buyer, "amount_fen": 10_000,
                                           "idempotency_key": "d"}, headers=admin)
    trade = {"instrument": "WATER", "mode": "listed", "seller_org_id": seller,
             "buyer_org_id": buyer, "quantity": 100, "price_fen": 50, "idempotency_key": "t"}
    r = client.post("/market/trades", json=trade, headers=firm)
    assert r.status_code == 201, r.text
    assert r.json()["serials"] == ["WATER/2024/1-100"]
    r = client.post("/market/trades", json=trade | {"idempotency_key": "t2", "quantity": 300},
                    headers=firm)
    assert r.status_code == 409 and r.json()["error"] == "insufficient_balance"
    batch = {"batch_key": "b", "net": True, "trades": [
        trade | {"idempotency_key": "b1", "quantity": 10},
        trade | {"idempotency_key": "b2", "quantity": 5}]}
    assert client.post("/market/trades/batch", json=batch, headers=firm).status_code == 403
    r = client.post("/market/trades/batch", json=batch, headers=admin)
    assert r.status_code == 201 and [t["serials"] for t in r.json()] == [
        ["WATER/2024/101-110"], ["WATER/2024/111-115"]]
    assert client.get("/market/trades", headers=firm).json()[0]["price_fen"] == 50
    blocks = client.get(f"/market/holdings/{buyer}/WATER", headers=firm).json()
    assert [(b["serial_start"], b["serial_end"]) for b in blocks] == [
        (1, 100), (101, 110), (111, 115)]
    assert client.get(f"/market/holdings/{seller}/WATER", headers=firm).status_code == 403
    rep = client.get("/market/reports/registry?format=csv")
    assert rep.status_code == 200 and "WATER,m3,2024,520381,1000,1000,0,0" in rep.text
    from datetime import datetime
    from zoneinfo import ZoneInfo
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert client.post(f"/market/prices/WATER/close?day={day}", headers=firm).status_code == 403
    r = client.post(f"/market/prices/WATER/close?day={day}", headers=admin)
    assert r.json()["close_fen"] == 50 and r.json()["volume"] == 115
