"""Listed-agreement and block-agreement routes: roles from identity, parties only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn
from liangshan.market import service

from .helpers import issue_project, org

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as s:
        seller, buyer, other = org(s, "卖方"), org(s, "买方"), org(s, "旁观者")
        issue_project(s, seller, 150_000)
        service.deposit(s, SYSTEM, buyer, 300_000_000, "d")
        for name, o in (("sell", seller), ("buy", buyer), ("other", other)):
            identity.create_user(s, SYSTEM, UserIn(username=name, display_name=name,
                                                   password=PASSWORD, role=Role.ENTERPRISE,
                                                   organisation_id=o))
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        c.orgs = (seller, buyer, other)  # type: ignore[attr-defined]
        yield c


def _login(client, name):
    r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_listed_round_trip(client):
    seller, buyer, _other = client.orgs
    sell, buy = _login(client, "sell"), _login(client, "buy")
    offer = {"instrument": "EMIS-COD", "org_id": seller, "side": "sell", "quantity": 50,
             "price_fen": 2000, "idempotency_key": "l1"}
    assert client.post("/market/listed", json=offer).status_code == 401
    assert client.post("/market/listed", json=offer, headers=buy).status_code == 403
    r = client.post("/market/listed", json=offer | {"price_fen": 2300}, headers=sell)
    assert r.status_code == 422 and "±10 %" in r.json()["message"]
    r = client.post("/market/listed", json=offer, headers=sell)
    assert r.status_code == 201, r.text
    lid = r.json()["id"]
    board = client.get("/market/listed/EMIS-COD").json()
    assert [(x["id"], x["side"], x["remaining"]) for x in board] == [(lid, "sell", 50)]
    take = {"org_id": buyer, "quantity": 20, "idempotency_key": "t1"}
    assert client.post(f"/market/listed/{lid}/accept", json=take, headers=sell).status_code == 403
    r = client.post(f"/market/listed/{lid}/accept", json=take, headers=buy)
    assert r.status_code == 201, r.text
    assert r.json()["listing"]["remaining"] == 30 and r.json()["trade"]["mode"] == "listed"
    again = client.post(f"/market/listed/{lid}/accept", json=take, headers=buy)
    assert again.json()["trade"]["id"] == r.json()["trade"]["id"]  # replayed key
    assert client.post(f"/market/listed/{lid}/withdraw", headers=buy).status_code == 403
    r = client.post(f"/market/listed/{lid}/withdraw", headers=sell)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert client.get("/market/listed/EMIS-COD").json() == []
    assert client.post("/market/listed/EMIS-COD/expire", headers=sell).status_code == 403


def test_block_round_trip(client):
    seller, buyer, _other = client.orgs
    sell, buy, other = _login(client, "sell"), _login(client, "buy"), _login(client, "other")
    deal = {"instrument": "EMIS-COD", "org_id": seller, "seller_org_id": seller,
            "buyer_org_id": buyer, "quantity": 100_000, "price_fen": 1500,
            "idempotency_key": "b1"}
    r = client.post("/market/blocks", json=deal | {"quantity": 99_999}, headers=sell)
    assert r.status_code == 422 and "at least 100000" in r.json()["message"]
    r = client.post("/market/blocks", json=deal, headers=sell)
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    assert r.json()["status"] == "proposed" and r.json()["seller_confirmed"] is True
    assert client.get(f"/market/blocks/{did}", headers=other).status_code == 403
    assert client.get(f"/market/blocks/{did}", headers=buy).json()["buyer_confirmed"] is False
    r = client.post(f"/market/blocks/{did}/confirm", json={"org_id": buyer}, headers=sell)
    assert r.status_code == 403  # the seller may not confirm for the buyer
    r = client.post(f"/market/blocks/{did}/confirm", json={"org_id": buyer}, headers=buy)
    assert r.status_code == 200, r.text
    assert r.json()["deal"]["status"] == "settled" and r.json()["trade"]["mode"] == "block"
    second = client.post("/market/blocks", json=deal | {"idempotency_key": "b2",
                                                        "quantity": 50_000}, headers=sell)
    assert second.status_code == 422  # below the threshold
    r = client.post("/market/blocks", json=deal | {"idempotency_key": "b3"}, headers=sell)
    assert r.status_code == 409 and "50000 EMIS-COD free" in r.json()["message"]
