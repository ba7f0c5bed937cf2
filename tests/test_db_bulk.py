"""liangshan.db_bulk: reserved ids are fresh and ascending, the database's own ids never
collide with them, and ``insert_rows`` stores the values (JSON included) the ORM reads
back — on SQLite (executemany) and PostgreSQL (COPY); ``insert_objects`` writes ORM objects
that way and leaves them persistent."""

from __future__ import annotations

import json

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.db_bulk import insert_objects, insert_rows, reserve_ids
from liangshan.ledger import journal
from liangshan.ledger.log import lock_log
from liangshan.ledger.models import IdempotencyKey


def _row(i: int, key: str, result: dict) -> dict:
    return {"id": i, "key": key, "scope": "test", "request_hash": "0" * 64, "result": result,
            "entry_id": None, "created_at": utcnow()}


def test_reserved_ids_are_fresh_and_the_rows_read_back(db_session: Session) -> None:
    s = db_session
    lock_log(s)  # SQLite reserves max(id) + k: valid under the write lock
    journal.remember_idempotent(s, "orm-1", "test", {}, {"n": 0})
    s.flush()
    assert reserve_ids(s, IdempotencyKey, 0) == []
    ids = reserve_ids(s, IdempotencyKey, 3)
    assert ids == sorted(set(ids)) and len(ids) == 3
    assert min(ids) > s.scalar(select(IdempotencyKey.id).where(IdempotencyKey.key == "orm-1"))
    odd = {"text": "引号 \" \\ tab\t newline\n", "n": [1, 2.5, None, True]}
    insert_rows(s, IdempotencyKey, [_row(ids[0], "bulk-0", odd), _row(ids[1], "bulk-1", {}),
                                    _row(ids[2], "bulk-2", {"n": 2})],
                json_text={"result": [json.dumps(odd), "{}", json.dumps({"n": 2})]})
    insert_rows(s, IdempotencyKey, [])
    # the database's next own id comes after the reserved ones
    journal.remember_idempotent(s, "orm-2", "test", {}, {"n": 3})
    s.commit()
    rows = {k.key: k for k in s.scalars(select(IdempotencyKey))}
    assert [rows[f"bulk-{n}"].id for n in range(3)] == ids
    assert rows["bulk-0"].result == odd and rows["bulk-2"].result == {"n": 2}
    assert rows["orm-2"].id > max(ids)
    assert rows["bulk-1"].created_at.tzinfo is not None


def test_insert_objects_fills_defaults_and_leaves_them_persistent(db_session: Session) -> None:
    s = db_session
    lock_log(s)
    objs = [IdempotencyKey(key=f"obj-{n}", scope="test", request_hash="1" * 64,
                           result={"n": n}, entry_id=None) for n in range(3)]
    insert_objects(s, objs)
    assert [inspect(o).persistent for o in objs] == [True] * 3
    assert all(o.created_at is not None and o.created_at.tzinfo is not None for o in objs)
    s.flush()  # nothing pending: the rows are not inserted a second time
    s.commit()
    s.expunge_all()
    back = {k.key: k for k in s.scalars(select(IdempotencyKey))}
    assert [(back[o.key].id, back[o.key].result, back[o.key].created_at) for o in objs] == [
        (o.id, o.result, o.created_at) for o in objs]
