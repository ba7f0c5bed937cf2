"""The database layer: UTC timestamps, clear errors for unreachable databases, migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from liangshan.db import check_connection, make_engine
from liangshan.errors import DatabaseError
from liangshan.identity.models import Organisation
from liangshan.migrate import is_current, upgrade


def test_timestamps_come_back_timezone_aware_utc(db_session):
    shanghai = timezone(timedelta(hours=8))
    org = Organisation(name="赤水市林业局", kind="government", region_code="520381",
                       created_at=datetime(2023, 5, 1, 9, 30, tzinfo=shanghai))
    db_session.add(org)
    db_session.commit()
    db_session.expire_all()
    back = db_session.get(Organisation, org.id)
    assert back.created_at == datetime(2023, 5, 1, 1, 30, tzinfo=UTC)
    assert back.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(db_session):
    db_session.add(Organisation(name="x", kind="enterprise", created_at=datetime(2023, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.commit()


def test_unreachable_database_gives_a_clear_error():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match="cannot reach the database") as info:
        check_connection(engine)
    assert "LIANGSHAN_DATABASE_URL" in info.value.hint


def test_upgrade_applies_every_head_and_is_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    assert not is_current(engine)
    upgrade(engine)
    upgrade(engine)
    assert is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"users", "organisations", "api_keys", "audit_events", "gep_accounts"} <= tables
