"""Migration 0002_ledger creates exactly the tables the models declare, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from liangshan.db import Base
from liangshan.ledger import models


def test_migration_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in models.APPEND_ONLY_TABLES)]
    assert ours == []
    assert set(models.APPEND_ONLY_TABLES) <= set(Base.metadata.tables)
