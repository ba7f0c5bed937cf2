"""A fresh PostgreSQL database for a benchmark run (dropped and created again)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from liangshan.db import make_engine


def fresh_pg(url: str) -> Engine:
    """Drop and recreate the database named in ``url``; return an engine on it."""
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()
    return make_engine(u.render_as_string(hide_password=False))
