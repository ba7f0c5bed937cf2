"""/market/pledges over HTTP: roles from identity — the holder pledges, a bank officer
sees and closes only pledges to its bank, others get 403 (issue 6 item 6)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn

from .helpers import issue_project, org

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as s:
        holder, bank, other = org(s, "林场"), org(s, "农商行", "bank"), org(s, "他行", "bank")
        issue_project(s, holder, 100)
        for name, role, org_id in (("admin", Role.PROVINCE_ADMIN, None),
                                   ("farm", Role.ENTERPRISE, holder),
                                   ("officer", Role.BANK_OFFICER, bank),
                                   ("rival", Role.BANK_OFFICER, other),
                                   ("county", Role.COUNTY_OPERATOR, None)):
            identity.create_user(s, SYSTEM, UserIn(username=name, display_name=name,
                                                   password=PASSWORD, role=role,
                                                   organisation_id=org_id,
                                                   region_code="520381" if name == "county"
                                                   else None))
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        c.orgs = (holder, bank, other)  # type: ignore[attr-defined]
        yield c


def _login(client, name):
    r = client.post("/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_pledge_visibility_release_and_enforce(client):
    holder, bank, _ = client.orgs
    farm, officer, rival = (_login(client, n) for n in ("farm", "officer", "rival"))
    body = {"instrument": "EMIS-COD", "holder_org_id": holder, "bank_org_id": bank,
            "quantity": 60, "loan_ref": "贷-1", "amount_fen": 30_000_000,
            "start_date": "2026-01-01", "maturity_date": "2027-01-01", "idempotency_key": "p1"}
    assert client.post("/market/pledges", json=body, headers=officer).status_code == 403
    r = client.post("/market/pledges", json=body, headers=farm)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["serials"] == ["EMIS-COD/2024/1-60"]
    # the pledged units cannot be transferred: 409 naming the pledge
    t = client.post("/market/transfers", headers=farm, json={
        "instrument": "EMIS-COD", "from_org_id": holder, "to_org_id": bank, "quantity": 41,
        "idempotency_key": "t"})
    assert t.status_code == 409 and f"pledge {pid} holds 60" in t.json()["message"]
    assert [p["id"] for p in client.get("/market/pledges", headers=officer).json()] == [pid]
    assert client.get("/market/pledges", headers=rival).json() == []
    assert [p["id"] for p in client.get("/market/pledges", headers=farm).json()] == [pid]
    assert len(client.get("/market/pledges", headers=_login(client, "admin")).json()) == 1
    assert client.get("/market/pledges", headers=_login(client, "county")).status_code == 403
    assert client.get("/market/pledges").status_code == 401
    key = {"idempotency_key": "close-1"}
    for who in (rival, farm):
        assert client.post(f"/market/pledges/{pid}/release", json=key,
                           headers=who).status_code == 403
    r = client.post(f"/market/pledges/{pid}/release", json=key, headers=officer)
    assert r.status_code == 200 and r.json()["status"] == "released"
    assert client.post(f"/market/pledges/{pid}/release", json=key,
                       headers=officer).json()["status"] == "released"
    assert client.post(f"/market/pledges/{pid}/enforce", json={"idempotency_key": "e"},
                       headers=officer).status_code == 409
    # a second pledge is enforced: the serials go to the bank
    r = client.post("/market/pledges", json={**body, "quantity": 30, "idempotency_key": "p2"},
                    headers=farm)
    assert r.status_code == 201 and r.json()["serials"] == ["EMIS-COD/2024/1-30"]
    e = client.post(f"/market/pledges/{r.json()['id']}/enforce", json={"idempotency_key": "e2"},
                    headers=officer)
    assert e.status_code == 200 and e.json()["status"] == "enforced"
    held = client.get(f"/market/holdings/{bank}/EMIS-COD", headers=officer).json()
    assert [(b["serial_start"], b["serial_end"]) for b in held] == [(1, 30)]
    bad = client.post("/market/pledges", headers=farm, json={
        **body, "maturity_date": "2025-01-01", "idempotency_key": "p3"})
    assert bad.status_code == 422


def test_cli_lists_pledges() -> None:
    """On the embedded SQLite database, like the other ``liangshan market`` tests."""
    from liangshan.cli import app
    from liangshan.db import get_engine, session_scope
    from liangshan.market import pledges
    from liangshan.market.schemas import PledgeIn
    from liangshan.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as s:
        holder, bank, other = org(s, "林场"), org(s, "农商行", "bank"), org(s, "他行", "bank")
        issue_project(s, holder, 100)
        for who, key in ((bank, "a"), (other, "b")):
            pledges.pledge(s, SYSTEM, PledgeIn(
                instrument="EMIS-COD", holder_org_id=holder, bank_org_id=who, quantity=10,
                loan_ref=f"loan-{key}", amount_fen=1_000, start_date="2026-01-01",
                maturity_date="2026-06-30", idempotency_key=f"cli-{key}"))
    runner = CliRunner()
    shown = runner.invoke(app, ["market", "pledges", "--bank", str(bank)])
    assert shown.exit_code == 0, shown.output
    assert "loan-a" in shown.output and "loan-b" not in shown.output
    assert shown.output.splitlines()[1].split("\t")[1:] == [
        "EMIS-COD", str(holder), str(bank), "10", "EMIS-COD/2024/1-10", "loan-a", "1000",
        "2026-01-01", "2026-06-30", "active"]
    both = runner.invoke(app, ["market", "pledges"])
    assert "loan-a" in both.output and "loan-b" in both.output


def test_the_market_page_shows_pledged_units_to_their_holder_only(client):
    from tests.web._web_seed import csrf_token

    holder, bank, _ = client.orgs
    farm = _login(client, "farm")
    body = {"instrument": "EMIS-COD", "holder_org_id": holder, "bank_org_id": bank,
            "quantity": 60, "loan_ref": "贷-2", "amount_fen": 30_000_000,
            "start_date": "2026-01-01", "maturity_date": "2027-01-01", "idempotency_key": "p2"}
    assert client.post("/market/pledges", json=body, headers=farm).status_code == 201

    def row(username: str) -> str | None:
        client.cookies.clear()
        r = client.post("/web/login", data={"username": username, "password": PASSWORD,
                                            "csrf_token": csrf_token(client)},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        html = client.get("/web/market?instrument=EMIS-COD").text
        table = re.search(r'<table class="list" id="holdings">(.*?)</table>', html, re.S)
        found = table and re.search(r'<tr data-code="EMIS-COD">(.*?)</tr>', table.group(1), re.S)
        return found.group(1) if found else None

    cells = re.findall(r'<td class="num[^"]*">([\d,]+)</td>', row("farm") or "")
    assert cells == ["40", "40", "60"]  # held, free, pledged to the bank
    assert row("rival") is None  # another bank's officer sees no one's holdings
