"""Shared fixtures: every database test runs twice, on SQLite and on PostgreSQL.

PostgreSQL: ``LIANGSHAN_TEST_PG_URL`` (default: the server at 127.0.0.1:5432 with
trust auth). A fresh database ``liangshan_test_<worker>_<pid>`` is created for the run and dropped after it.
When the server is unreachable the PostgreSQL half fails under CI and is skipped,
with the reason, on a developer machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from liangshan import config
from liangshan.db import make_engine, session_factory
from liangshan.migrate import upgrade

PG_URL = os.environ.get(
    "LIANGSHAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/liangshan_test"
)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data directory and fresh settings."""
    monkeypatch.setenv("LIANGSHAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIANGSHAN_MODE", "test")
    monkeypatch.delenv("LIANGSHAN_DATABASE_URL", raising=False)
    config.get_settings.cache_clear()
    yield
    config.get_settings.cache_clear()


def _worker_suffix() -> str:
    # One database per test process: parallel workers and parallel developers never share.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_engine() -> Iterator[Engine]:
    url = make_url(PG_URL)
    name = f"{url.database}_{_worker_suffix()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL at {url.render_as_string()} is not usable: {exc}".splitlines()[0]
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the PostgreSQL half)")
        pytest.skip(message)
    engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    if tables:
        with engine.begin() as conn:
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("_pg_engine")
        _truncate_all(engine)
        yield engine
        _truncate_all(engine)


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on :func:`db_engine`; tests commit as the application would."""
    session = session_factory(db_engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
