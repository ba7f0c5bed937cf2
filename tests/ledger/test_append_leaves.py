"""Bulk appends write exactly what one-by-one appends write, on SQLite and PostgreSQL.

The reference is :func:`append_leaf` called once per payload (itself checked against
the pure RFC 9162 tree in test_log.py); both runs start from the same committed log
and the one-by-one run is rolled back before the bulk run, so the two produce rows at
the same indices and must agree byte for byte.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from liangshan.db import session_scope
from liangshan.errors import InvalidInput
from liangshan.ledger import merkle, service
from liangshan.ledger.log import canonical_json, leaf_input
from liangshan.ledger.models import LogLeaf, LogNode

PREFIX = 5  # an odd committed log: the bulk run has to read and merge its frontier
N = 43


def _payloads(n: int, first: int = 0) -> list[tuple[str, Any]]:
    return [("trace", {"batch": f"B{i:03d}", "step": i}) if i % 3
            else ("registry", bytes([i % 256])) for i in range(first, first + n)]


def _snapshot(s: Session) -> dict[str, Any]:
    size = service.log_size(s)
    return {
        "leaves": s.execute(select(LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.leaf_hash,
                                   LogLeaf.payload).order_by(LogLeaf.leaf_index)).all(),
        "nodes": s.execute(select(LogNode.level, LogNode.node_index, LogNode.hash)
                           .order_by(LogNode.level, LogNode.node_index)).all(),
        "roots": [service.root_hash(s, k) for k in range(size + 1)],
        "inclusion": [service.inclusion_proof(s, i, size) for i in range(size)],
        "consistency": [service.consistency_proof(s, m, size) for m in range(1, size + 1)],
    }


@pytest.mark.parametrize("chunks", [[N], [1, 2, 3, 0, 10, 27]])
def test_bulk_append_writes_the_same_rows_as_one_by_one(db_session: Session,
                                                        chunks: list[int]) -> None:
    s = db_session
    for kind, payload in _payloads(PREFIX):
        service.append_leaf(s, kind, payload)
    s.commit()
    payloads = _payloads(N, PREFIX)

    single = [service.append_leaf(s, kind, payload) for kind, payload in payloads]
    expected = _snapshot(s)
    s.rollback()
    assert service.log_size(s) == PREFIX

    bulk: list[tuple[int, bytes]] = []
    pos = 0
    for n in chunks:  # several calls in one transaction reuse the log's tail
        bulk += service.append_leaves(s, payloads[pos:pos + n])
        pos += n
    assert bulk == single
    assert [i for i, _ in bulk] == list(range(PREFIX, PREFIX + N))
    got = _snapshot(s)
    for key in expected:
        assert got[key] == expected[key], key
    # and both agree with the pure in-memory tree
    hashes = [bytes(h) for _i, _k, h, _p in got["leaves"]]
    assert got["roots"][-1] == merkle.root_from_leaf_hashes(hashes)
    s.commit()
    assert service.verify_log(s) == []


def test_bulk_append_across_transactions_and_after_single_appends(db_session: Session) -> None:
    s = db_session
    hashes: list[bytes] = []
    for n in (7, 1, 16, 9):
        first = len(hashes)
        batch = _payloads(n, first)
        got = service.append_leaves(s, batch)
        assert [i for i, _ in got] == list(range(first, first + n))
        assert [h for _, h in got] == [merkle.hash_leaf(leaf_input(k, p if isinstance(p, bytes)
                                                                   else canonical_json(p)))
                                       for k, p in batch]
        hashes += [h for _, h in got]
        index, h = service.append_leaf(s, "trace", {"between": first})  # mixes with bulk
        assert index == len(hashes)
        hashes.append(h)
        s.commit()
        assert service.root_hash(s) == merkle.root_from_leaf_hashes(hashes)
    assert service.log_size(s) == 33 + 4
    assert service.verify_log(s) == []


def test_a_bad_item_writes_nothing(db_session: Session) -> None:
    s = db_session
    service.append_leaves(s, _payloads(3))
    s.commit()
    with pytest.raises(InvalidInput, match="kind"):
        service.append_leaves(s, [("trace", b"ok"), ("Bad Kind", b"x")])
    with pytest.raises(InvalidInput, match="neither bytes nor a dict"):
        service.append_leaves(s, [("trace", b"ok"), ("trace", 42)])  # type: ignore[list-item]
    assert service.append_leaves(s, []) == []
    assert service.log_size(s) == 3


def test_a_rolled_back_savepoint_does_not_leave_a_gap(db_session: Session) -> None:
    s = db_session
    service.append_leaves(s, _payloads(3))
    savepoint = s.begin_nested()
    assert [i for i, _ in service.append_leaves(s, _payloads(4, 3))] == [3, 4, 5, 6]
    savepoint.rollback()
    assert [i for i, _ in service.append_leaves(s, _payloads(2, 3))] == [3, 4]
    s.commit()
    assert service.log_size(s) == 5
    assert service.verify_log(s) == []


def test_parallel_bulk_appends_do_not_fork_the_log(db_engine: Engine) -> None:
    def writer(w: int) -> list[int]:
        indices = []
        for j in range(3):
            with session_scope(db_engine) as s:
                got = service.append_leaves(s, [("trace", {"w": w, "j": j, "k": k})
                                                for k in range(10)])
                indices += [i for i, _ in got]
        return indices

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(writer, range(4)))
    every = sorted(i for r in results for i in r)
    assert every == list(range(120))
    for r in results:  # each call's leaves are consecutive
        for j in range(3):
            assert r[10 * j:10 * j + 10] == list(range(r[10 * j], r[10 * j] + 10))
    with session_scope(db_engine) as s:
        assert service.verify_log(s) == []
