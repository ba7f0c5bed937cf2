"""Plain bulk inserts for the event feed: the shared :mod:`liangshan.db_bulk` helpers.

Reserved ids in one round trip, ``COPY`` on PostgreSQL, one ``executemany`` on SQLite;
kept under this name for trace's imports.
"""

from __future__ import annotations

from liangshan.db_bulk import insert_rows, reserve_ids

__all__ = ["insert_rows", "reserve_ids"]
