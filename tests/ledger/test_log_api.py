"""HTTP routes of the log: a client checks proofs with nothing but what the API serves."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn
from liangshan.ledger import keys, merkle, note, service

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as s:
        identity.create_user(s, SYSTEM, UserIn(username="auditor", display_name="审计",
                                               password=PASSWORD, role=Role.AUDITOR))
        bank = service.open_account(s, asset="CNY", kind="external", name="bank")
        coop = service.open_account(s, asset="CNY", name="coop")
        service.post_entry(s, idempotency_key="d1", postings=[(bank, -10_00), (coop, 10_00)])
        for i in range(6):
            service.append_leaf(s, "trace", {"batch": "LS-7", "step": i})
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        yield c


def test_client_checks_inclusion_and_consistency_against_the_signed_checkpoint(client) -> None:
    r = client.get("/log/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    cp = note.open_checkpoint(r.text, keys.load_verifier())
    assert cp.size == 9  # 2 accounts, 1 entry, 6 trace events
    for index in range(cp.size):
        body = client.get("/log/proof/inclusion", params={"index": index, "size": cp.size}).json()
        leaf = client.get(f"/log/entries/{index}")
        if leaf.status_code == 200:  # trace leaves are public: rehash them ourselves
            data = leaf.json()
            raw = data["kind"].encode() + b"\n" + base64.b64decode(data["payload_base64"])
            assert merkle.hash_leaf(raw) == base64.b64decode(body["leaf_hash"])
        merkle.verify_inclusion(index, cp.size, base64.b64decode(body["leaf_hash"]),
                                [base64.b64decode(h) for h in body["hashes"]], cp.root_hash)
    old_root = base64.b64decode(
        client.get("/log/proof/inclusion", params={"index": 0, "size": 1}).json()["leaf_hash"])
    body = client.get("/log/proof/consistency", params={"first": 1, "second": cp.size}).json()
    merkle.verify_consistency(1, cp.size, [base64.b64decode(h) for h in body["hashes"]],
                              old_root, cp.root_hash)


def test_journal_leaves_need_a_login_and_bad_requests_are_clear(client) -> None:
    assert client.get("/log/entries/2").status_code == 401
    token = client.post("/auth/token", data={"username": "auditor", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    entry = client.get("/log/entries/2", headers=headers).json()
    assert entry["kind"] == "journal" and entry["payload"]["postings"][1]["amount"] == 10_00
    r = client.get("/log/proof/inclusion", params={"index": 0, "size": 99})
    assert r.status_code == 422 and "outside 0 … 9" in r.json()["message"]
    assert client.get("/log/entries/99").status_code == 404


def test_bundle_route_serves_an_offline_checkable_proof(client) -> None:
    r = client.get("/log/bundle/5")
    assert r.status_code == 200, r.text
    cp, payload = service.verify_bundle(r.json(), keys.load_verifier())
    assert cp.size == 9 and payload == b'{"batch":"LS-7","step":2}'
    assert client.get("/log/bundle/2").status_code == 401  # a journal leaf
