"""Fixtures of the web tests: the county GeoJSON built once, a seeded database, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from liangshan.identity import service as identity_service
from liangshan.web import geo
from tests.web._web_seed import make_app, seed


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at its production cost takes ~1 s a hash here; the web tests need dozens.

    Hashes made with these parameters still verify through the same code path (argon2
    reads the parameters from the hash), so login and refusal are tested for real.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(identity_service, "_hasher",
                   PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture(scope="session")
def geojson_text() -> str:
    """The county GeoJSON, built once per test session (building takes about a second)."""
    return geo.build_and_serialise()


@pytest.fixture(autouse=True)
def _geo_cache(geojson_text: str) -> None:
    """Put the prebuilt GeoJSON where this test's data directory expects it."""
    path = geo.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(geojson_text, encoding="utf-8")


@pytest.fixture
def seeded(db_engine: Engine) -> dict[str, str]:
    return seed(db_engine)


@pytest.fixture
def client(db_engine: Engine, seeded: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(make_app(db_engine)) as c:
        yield c
