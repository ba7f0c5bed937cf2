"""Changing stored rows behind the application's back, as a database administrator could."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def tamper(session: Session, *statements: tuple[str, dict]) -> None:
    """Run SQL outside the application, bypassing the append-only triggers."""
    session.commit()
    with session.get_bind().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                      "AND name LIKE 'ledger_%'")).scalars().all()
            for name in names:
                conn.execute(text(f"DROP TRIGGER {name}"))
            conn.execute(text("PRAGMA foreign_keys = OFF"))
        for sql, params in statements:
            conn.execute(text(sql), params)
    session.expire_all()
