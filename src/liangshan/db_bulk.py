"""Plain bulk inserts: no unit of work, no ``RETURNING``.

Writing many rows through the ORM spends most of its time in the unit of work (one
instrumented object per row, flush bookkeeping) and in the driver splitting one huge
multi-row ``INSERT … RETURNING``. Here rows are plain dicts; their ids are reserved
first (PostgreSQL: one ``nextval`` round trip for all; SQLite: ``max(id) + k`` under
the write lock the caller already holds, e.g. the ledger log's), then PostgreSQL
receives them with ``COPY … FROM STDIN`` and SQLite with one ``executemany``. The rows
written are those the ORM would write (same columns, JSON encoded by the engine's
serializer, ``json.dumps``). Used by the traceability event feed and the journal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnDefault, Table, func, insert, inspect, select, text
from sqlalchemy.orm import Session, make_transient_to_detached

from liangshan.db import Base


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def reserve_ids(session: Session, model: type[Base], count: int) -> list[int]:
    """``count`` fresh primary keys of ``model``'s table, ascending.

    SQLite: valid only while this transaction holds the write lock (the caller has
    written already, e.g. :func:`ledger.log.lock_log`).
    """
    if count == 0:
        return []
    table = _table(model)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count})
        return sorted(int(i) for (i,) in rows)
    last = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(last + 1, last + 1 + count))


def insert_rows(session: Session, model: type[Base], rows: Sequence[dict[str, Any]], *,
                json_text: Mapping[str, Sequence[str]] | None = None) -> None:
    """Insert ``rows`` (column → value, every row the same columns) into ``model``'s table.

    ``json_text``: the JSON text of a column's values, row by row, when the caller has it
    already (e.g. the canonical JSON it signed); PostgreSQL stores it instead of encoding
    the value again. Same value either way.
    """
    if not rows:
        return
    table = _table(model)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    given = json_text or {}
    encode = {c: json.dumps for c in columns if isinstance(table.c[c].type, JSON)}
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for n, row in enumerate(rows):
            copy.write_row([given[c][n] if c in given
                            else encode[c](row[c]) if c in encode and row[c] is not None
                            else row[c] for c in columns])


def insert_objects(session: Session, objects: Sequence[Base]) -> None:
    """Write new ORM objects of one class as plain rows, then make them persistent.

    The rows the unit of work would insert: every mapped column, a column left None
    that has a Python-side default (e.g. ``created_at``) gets it, ids come from
    :func:`reserve_ids` and the insert from :func:`insert_rows`. Afterwards the objects
    are in ``session`` as if loaded, so later changes to them flush as ``UPDATE`` s.
    SQLite: the caller holds the write lock, as for :func:`reserve_ids`.
    """
    if not objects:
        return
    model = type(objects[0])
    columns = [(attr.key, attr.columns[0]) for attr in inspect(model).column_attrs]
    defaults = [(key, col.default) for key, col in columns
                if isinstance(col.default, ColumnDefault) and not col.primary_key]
    for obj, new_id in zip(objects, reserve_ids(session, model, len(objects)), strict=True):
        obj.id = new_id  # type: ignore[attr-defined]
        for key, default in defaults:
            if getattr(obj, key) is None:  # callables are wrapped to take a context
                setattr(obj, key, default.arg(None) if default.is_callable else default.arg)
    insert_rows(session, model, [{col.name: getattr(o, key) for key, col in columns}
                                 for o in objects])
    for obj in objects:
        make_transient_to_detached(obj)
        session.add(obj)
