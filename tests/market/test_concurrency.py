"""Concurrent traders on PostgreSQL: nothing lost, nothing spent twice.

Four threads, each with its own session, place crossing orders on one shared
in-memory order book and settle their fills, while others transfer and over-spend
the same holdings. Afterwards the journal, the log and the serial blocks must
agree. SQLite serialises every writer on one file lock, so the race this test
looks for only exists on PostgreSQL.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from liangshan.db import session_scope
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import service
from liangshan.market.orderbook import BUY, SELL, OrderBook
from liangshan.market.schemas import TradeIn, TransferIn

from .helpers import issue_project, org


@pytest.mark.slow
def test_parallel_orders_transfers_and_overspends(db_engine: Engine) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises all writers on a file lock: the race needs PostgreSQL")
    with session_scope(db_engine) as s:
        orgs = [org(s, f"参与者{i}") for i in range(4)]
        for i, o in enumerate(orgs):
            issue_project(s, o, 1_000, key=f"i{i}", project=f"P-{i}")
            service.deposit(s, SYSTEM, o, 1_000_000, f"d{i}")
    book = OrderBook()  # in memory: only the settlements race, not the matching
    book_lock = threading.Lock()
    settled: list[int] = []
    refused: list[str] = []

    def trader(i: int) -> None:
        rng = random.Random(i)
        for j in range(12):
            side = BUY if (i + j) % 2 else SELL
            with book_lock:
                _, fills = book.submit(side, rng.randint(1, 30), rng.randint(1950, 2050), orgs[i])
            for k, f in enumerate(fills):
                if f.maker_owner == f.taker_owner:
                    continue  # self-match: nothing to settle
                seller, buyer = ((f.maker_owner, f.taker_owner) if f.taker_side == BUY
                                 else (f.taker_owner, f.maker_owner))
                try:
                    with session_scope(db_engine) as s:
                        t = service.settle(s, SYSTEM, TradeIn(
                            instrument="EMIS-COD", mode="continuous", seller_org_id=seller,
                            buyer_org_id=buyer, quantity=f.qty, price_fen=f.price,
                            idempotency_key=f"t-{i}-{j}-{k}", fee_bp=10))
                        settled.append(t.id)
                except InsufficientBalance as exc:
                    refused.append(str(exc))
            # an over-spend race: every thread tries to move 600 of org 0's 1,000 units
            if j == 5:
                try:
                    with session_scope(db_engine) as s:
                        service.transfer(s, SYSTEM, TransferIn(
                            instrument="EMIS-COD", from_org_id=orgs[0], to_org_id=orgs[max(i, 1)],
                            quantity=600, idempotency_key=f"x-{i}"))
                except InsufficientBalance as exc:
                    refused.append(str(exc))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(trader, range(4)))

    with session_scope(db_engine) as s:
        assert ledger.verify_log(s) == []
        assert service.serial_problems(s) == []
        units = [service.unit_balance(s, "EMIS-COD", o) for o in orgs]
        money = [service.money_balance(s, o) for o in orgs]
        assert min(units) >= 0 and min(money) >= 0
        assert sum(units) == 4_000
        fees = ledger.balance(s, "system:CNY:fee:market")
        assert sum(money) + fees == 4_000_000
        trades = service.list_trades(s)
        assert sorted(t.id for t in trades) == sorted(settled)
        assert fees == sum(t.buyer_fee_fen + t.seller_fee_fen for t in trades)
        for t in trades:  # each trade: exactly its two legs in the journal
            legs = ledger.entries_by_reference(s, f"market:trade:{t.idempotency_key}")
            assert len(legs) == 2
        moved_away = sum(1 for i in range(4)
                         if ledger.entries_by_reference(s, f"market:transfer:x-{i}"))
        assert moved_away <= 1  # org 0 could cover at most one 600-unit transfer
    assert settled, "the threads should have crossed at least once"


BOOK_CHILD = """
import random, sys
from liangshan.db import make_engine, session_scope
from liangshan.errors import Conflict
from liangshan.identity.access import SYSTEM
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import orders
from liangshan.market.schemas import OrderIn

engine = make_engine(sys.argv[1])
orgs = [int(x) for x in sys.argv[2].split(",")]
rng = random.Random(99)
for j in range(15):
    who = rng.choice(orgs)
    try:
        with session_scope(engine) as s:
            orders.place_order(s, SYSTEM, OrderIn(
                instrument="EMIS-COD", org_id=who, side=rng.choice(("buy", "sell")),
                quantity=rng.randint(1, 40), price_fen=rng.randint(1950, 2050),
                idempotency_key=f"p-{j}"))
    except (InsufficientBalance, Conflict):
        pass
"""


@pytest.mark.slow
def test_parallel_orders_through_the_persisted_book(db_engine: Engine) -> None:
    """Threads of this process and another process place crossing orders at once: every
    cycle settles whole, no open sell order exceeds its owner's holding, and the book the
    engine holds is the one the database rebuilds."""
    import subprocess
    import sys

    from sqlalchemy import select

    from liangshan.errors import Conflict
    from liangshan.market import orders
    from liangshan.market.models import BookOrder, BookState
    from liangshan.market.schemas import OrderIn

    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises all writers on a file lock: the race needs PostgreSQL")
    orders.drop_engines()
    with session_scope(db_engine) as s:
        orgs = [org(s, f"参与者{i}") for i in range(4)]
        for i, o in enumerate(orgs):
            issue_project(s, o, 300, key=f"i{i}", project=f"P-{i}")
            service.deposit(s, SYSTEM, o, 500_000, f"d{i}")
    child = subprocess.Popen(
        [sys.executable, "-c", BOOK_CHILD, db_engine.url.render_as_string(hide_password=False),
         ",".join(map(str, orgs))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    refused: list[str] = []

    def trader(i: int) -> None:
        rng = random.Random(i)
        for j in range(15):
            try:
                with session_scope(db_engine) as s:
                    orders.place_order(s, SYSTEM, OrderIn(
                        instrument="EMIS-COD", org_id=orgs[i], side=rng.choice(("buy", "sell")),
                        quantity=rng.randint(1, 40), price_fen=rng.randint(1950, 2050),
                        idempotency_key=f"o-{i}-{j}"))
            except (InsufficientBalance, Conflict) as exc:
                refused.append(str(exc))

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(trader, range(3)))
    _out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err

    with session_scope(db_engine) as s:
        assert ledger.verify_log(s) == []
        assert service.serial_problems(s) == []
        units = [service.unit_balance(s, "EMIS-COD", o) for o in orgs]
        money = [service.money_balance(s, o) for o in orgs]
        fees = ledger.balance(s, "system:CNY:fee:market") if service.list_trades(s) else 0
        assert sum(units) == 1_200 and sum(money) + fees == 2_000_000
        open_rows = list(s.scalars(select(BookOrder).where(BookOrder.status == "open")))
        for o, held in zip(orgs, units, strict=True):
            assert sum(r.remaining for r in open_rows if r.org_id == o and r.side == "sell") \
                <= held
        for t in service.list_trades(s):
            assert len(ledger.entries_by_reference(s, f"market:trade:{t.idempotency_key}")) == 2
        assert s.scalar(select(BookOrder.id).where(BookOrder.idempotency_key == "p-0"))
        rebuilt = [(o.id, o.side, o.price, o.qty) for o in orders.rebuild(s, "EMIS-COD").resting()]
        live = orders._ENGINES.get(orders._engine_key(s, "EMIS-COD"))
        state = s.get(BookState, "EMIS-COD")
        if live is not None and state is not None and live.version == state.version:
            assert [(o.id, o.side, o.price, o.qty) for o in live.book.resting()] == rebuilt
        assert service.list_trades(s), "the traders should have crossed at least once"
