"""Migration 0006_trace creates exactly the tables the trace models declare (both databases)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from liangshan.db import Base
from liangshan.trace import models

TABLES = [m.__tablename__ for m in (models.TraceBatch, models.TraceLineage, models.TraceEvent,
                                    models.OrgKey, models.Brand, models.BrandLicence,
                                    models.IdempotencyRecord)]


def test_migration_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if any(f"'{t}'" in repr(d) or f"({t}" in repr(d) for t in TABLES)]
    assert ours == []
    assert set(TABLES) <= set(Base.metadata.tables)
