"""A settlement cycle costs a constant number of SQL statements, whatever its size.

Issue 6 ("settled trades on PostgreSQL ≥ 1,000/s"): the planning of
:func:`liangshan.market.clearing.settle_trades` once looked up each party's accounts
and balance and each seller's oldest blocks one query at a time, so a cycle's round
trips grew with its trades. Every statement the engine sends is counted here (an
``executemany`` counts once: it is one call to the driver).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.market import service
from liangshan.market.clearing import settle_trades
from liangshan.market.issuance import money_account, serial_problems
from liangshan.market.schemas import TradeIn

from .helpers import issue_project, org

_keys = itertools.count()


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _cycle(orgs: list[int], n: int) -> list[TradeIn]:
    """``n`` trades round the ring of ``orgs``: every party sells and buys."""
    out = []
    for i in range(n):
        k = next(_keys)
        seller, buyer = orgs[k % len(orgs)], orgs[(k + 1) % len(orgs)]
        out.append(TradeIn(instrument="EMIS-COD", mode="continuous", seller_org_id=seller,
                           buyer_org_id=buyer, quantity=1 + i % 3, price_fen=2000 + i % 7,
                           fee_bp=10, idempotency_key=f"rt{k}"))
    return out


def test_statements_per_cycle_do_not_grow_with_its_trades(db_engine, db_session):
    s = db_session
    # 40 parties round a ring: a cycle of 10 trades touches 11 of them, one of 100 all 40,
    # so a look-up per party or per seller would show as more statements
    orgs = [org(s, f"RT{i}") for i in range(40)]
    village = org(s, "RT村", "village_collective")
    for i, o in enumerate(orgs):  # two issuances each, one paying a village share on sale
        for j in range(2):
            issue_project(s, o, 400, key=f"rt-i{i}-{j}", project=f"RT-{i}-{j}",
                          beneficiaries=[{"org_id": village, "share_bp": 1000,
                                          "role": "village_collective"}] if j == 0 else [])
        service.deposit(s, SYSTEM, o, 10**9, f"rt-d{i}")
    settle_trades(s, SYSTEM, _cycle(orgs, 40), cycle_key="warm")  # every account exists
    s.commit()

    counts = {}
    for n in (10, 100):
        with counted(db_engine) as statements:
            rows = settle_trades(s, SYSTEM, _cycle(orgs, n), cycle_key=f"c{n}")
            s.commit()
        assert len(rows) == n
        counts[n] = len(statements)
    # 10× the trades, the same statements, give or take the one query in which the log
    # reads the hashes of frontier nodes the batch merges (made or not, by the tree's
    # shape). The per-party plan before (92b90b0) failed here: 80 → 245 statements on
    # PostgreSQL, 87 → 253 on SQLite (2 per party account, 1 per seller).
    assert counts[10] - 1 <= counts[100] <= counts[10] + 1, counts
    assert counts[10] < 35, counts  # 20–21 on PostgreSQL, 27–28 on SQLite
    assert serial_problems(s) == []
    fees = ledger.balance(s, "system:CNY:fee:market")
    assert fees > 0 and ledger.balance(s, money_account(s, village)) > 0
