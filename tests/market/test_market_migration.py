"""Migrations 0007_market, 0008_market_orders and 0009_market_agreements create exactly
the models' market tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from liangshan.db import Base
from liangshan.market import models  # noqa: F401 — registers the market tables


def test_migration_matches_the_models(db_engine: Engine) -> None:
    market = {t for t in Base.metadata.tables if t.startswith("market_")}
    assert len(market) == 16
    assert market <= set(inspect(db_engine).get_table_names())
    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "market_" in repr(d)] == []
