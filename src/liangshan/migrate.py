"""Schema migrations: ``liangshan db upgrade`` applies every domain's migrations.

Each domain keeps its own branch of migrations rooted at ``0001_identity``;
``upgrade`` applies all heads, so domains land independently.
"""

from __future__ import annotations

from importlib import import_module
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from liangshan.db import check_connection, get_engine
from liangshan.errors import DatabaseError

#: Modules whose tables belong to the schema; a domain not yet built is skipped.
MODEL_MODULES = (
    "liangshan.identity.models",
    "liangshan.ledger.models",
    "liangshan.accounts.models",
    "liangshan.registry.models",
    "liangshan.catalog.models",
    "liangshan.market.models",
    "liangshan.trace.models",
    "liangshan.web.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        try:
            import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and name.startswith(exc.name)):
                raise


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("liangshan") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine | None = None) -> list[str]:
    """Apply all migrations to ``engine``; returns the heads now applied."""
    engine = engine or get_engine()
    check_connection(engine)
    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(
            f"a migration could not be applied to {engine.url.render_as_string()}: {reason}",
            hint="check that the database is not ahead of this Liangshan version and that the "
            "user may create tables; a failed migration was rolled back",
        ) from None
    return sorted(ScriptDirectory.from_config(cfg).get_heads())


def is_current(engine: Engine) -> bool:
    """True when every migration head is applied."""
    if "alembic_version" not in inspect(engine).get_table_names():
        return False
    cfg = alembic_config(engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        applied = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    return heads <= applied
