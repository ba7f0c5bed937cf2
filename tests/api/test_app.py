"""The API skeleton: health, OpenAPI, and clear 401/403 instead of 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liangshan.api import create_app
from liangshan.db import session_factory
from liangshan.identity import service
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_engine):
    with session_factory(db_engine)() as session:
        for name, role, region in [("admin", Role.PROVINCE_ADMIN, None),
                                   ("chishui", Role.COUNTY_OPERATOR, "520381")]:
            service.create_user(session, SYSTEM, UserIn(
                username=name, display_name=name, password=PASSWORD, role=role,
                region_code=region))
        session.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        yield c


def _login(client, username):
    r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_health_and_openapi(client):
    assert client.get("/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/auth/token" in paths and "/identity/users" in paths


def test_missing_credentials_give_401_with_a_hint(client):
    r = client.get("/auth/me")
    assert r.status_code == 401
    assert "Bearer" in r.json()["hint"] and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer not-a-token"},
    {"X-API-Key": "ls_nope_nope"},
    {"X-API-Key": "garbage"},
])
def test_wrong_credentials_give_401_not_500(client, headers):
    r = client.get("/auth/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "not_authenticated"


def test_wrong_password_gives_401(client):
    r = client.post("/auth/token", data={"username": "admin", "password": "nope nope nope"})
    assert r.status_code == 401


def test_county_operator_cannot_create_users_elsewhere(client):
    headers = _login(client, "chishui")
    body = {"username": "dafang", "display_name": "大方", "password": PASSWORD,
            "role": "county_operator", "region_code": "520521"}
    r = client.post("/identity/users", json=body, headers=headers)
    assert r.status_code == 403 and "520521" in r.json()["message"]
    body["region_code"] = "520381"
    body["username"] = "chishui2"
    assert client.post("/identity/users", json=body, headers=headers).status_code == 201


def test_me_and_api_key_flow(client):
    headers = _login(client, "admin")
    assert client.get("/auth/me", headers=headers).json()["username"] == "admin"
    r = client.post("/identity/api-keys", json={"name": "open-data", "scopes": ["read:public"]},
                    headers=headers)
    assert r.status_code == 201
    key = r.json()["key"]
    assert client.get("/auth/me", headers={"X-API-Key": key}).json()["username"] == "admin"


def test_validation_errors_are_422_with_field_names(client):
    headers = _login(client, "admin")
    r = client.post("/identity/users", json={"username": "x"}, headers=headers)
    assert r.status_code == 422 and "body.password" in r.json()["message"]
