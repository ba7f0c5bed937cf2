"""Order-book and auction routes: roles from identity, holders sell, funded buyers buy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn
from liangshan.market import orders, service

from .helpers import issue_project, org

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    orders.drop_engines()
    with session_factory(db_engine)() as s:
        seller, buyer = org(s, "卖方"), org(s, "买方")
        issue_project(s, seller, 100)
        service.deposit(s, SYSTEM, buyer, 100_000, "d")
        for name, o in (("sell", seller), ("buy", buyer)):
            identity.create_user(s, SYSTEM, UserIn(username=name, display_name=name,
                                                   password=PASSWORD, role=Role.ENTERPRISE,
                                                   organisation_id=o))
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        c.orgs = (seller, buyer)  # type: ignore[attr-defined]
        yield c


def _login(client, name):
    r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_order_round_trip(client):
    seller, buyer = client.orgs
    sell, buy = _login(client, "sell"), _login(client, "buy")
    ask = {"instrument": "EMIS-COD", "org_id": seller, "side": "sell", "quantity": 30,
           "price_fen": 2000, "idempotency_key": "s1"}
    assert client.post("/market/orders", json=ask).status_code == 401
    r = client.post("/market/orders", json=ask | {"org_id": buyer}, headers=sell)
    assert r.status_code == 403  # acting for another organisation
    r = client.post("/market/orders", json=ask | {"quantity": 101}, headers=sell)
    assert r.status_code == 409 and "100 EMIS-COD free" in r.json()["message"]
    r = client.post("/market/orders", json=ask | {"price_fen": None}, headers=sell)
    assert r.status_code == 422  # a limit order needs a price
    r = client.post("/market/orders", json=ask, headers=sell)
    assert r.status_code == 201, r.text
    order_id = r.json()["order"]["id"]
    assert client.get("/market/books/EMIS-COD").json()["asks"] == [[2000, 30, 1]]
    r = client.post("/market/orders", json={"instrument": "EMIS-COD", "org_id": buyer,
                                            "side": "buy", "kind": "market", "quantity": 10,
                                            "idempotency_key": "b1"}, headers=buy)
    assert r.status_code == 201, r.text
    assert [(t["quantity"], t["price_fen"]) for t in r.json()["trades"]] == [(10, 2000)]
    assert r.json()["order"]["status"] == "filled"
    r = client.post(f"/market/orders/{order_id}/amend", json={"price_fen": 2050}, headers=buy)
    assert r.status_code == 403  # not the buyer's order
    r = client.post(f"/market/orders/{order_id}/amend", json={"quantity": 5}, headers=sell)
    assert r.status_code == 200 and r.json()["order"]["remaining"] == 5
    mine = client.get("/market/orders", headers=sell).json()
    assert [(o["id"], o["status"], o["quantity"]) for o in mine] == [(order_id, "open", 15)]
    r = client.post(f"/market/orders/{order_id}/cancel", headers=sell)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.get("/market/books/EMIS-COD").json()["asks"] == []
    assert client.get("/market/orders", params={"org_id": seller}, headers=buy).status_code == 403


def test_auction_round_trip(client):
    seller, buyer = client.orgs
    sell, buy = _login(client, "sell"), _login(client, "buy")
    lot = {"instrument": "EMIS-COD", "seller_org_id": seller, "quantity": 20,
           "reserve_fen": 1800, "idempotency_key": "lot"}
    assert client.post("/market/auctions", json=lot, headers=buy).status_code == 403
    r = client.post("/market/auctions", json=lot, headers=sell)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    bid = {"org_id": buyer, "quantity": 20, "price_fen": 1900, "idempotency_key": "bid"}
    assert client.post(f"/market/auctions/{aid}/bids", json=bid, headers=sell).status_code == 403
    r = client.post(f"/market/auctions/{aid}/bids", json=bid, headers=buy)
    assert r.status_code == 201, r.text
    assert client.get(f"/market/auctions/{aid}").json()["bids"] == []  # sealed, anonymous
    assert len(client.get(f"/market/auctions/{aid}", headers=buy).json()["bids"]) == 1
    assert client.post(f"/market/auctions/{aid}/award", headers=buy).status_code == 403
    r = client.post(f"/market/auctions/{aid}/award", headers=sell)
    assert r.status_code == 200, r.text
    assert [(t["buyer_org_id"], t["quantity"], t["price_fen"]) for t in r.json()["trades"]] \
        == [(buyer, 20, 1900)]
    assert client.get("/market/auctions", params={"status": "awarded"}).json()[0]["id"] == aid
