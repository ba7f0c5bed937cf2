"""Concurrent traders on PostgreSQL: nothing lost, nothing spent twice.

Four threads, each with its own session, place crossing orders on one shared
continuous board and settle their fills, while others transfer and over-spend
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
from liangshan.market.instruments import get_instrument
from liangshan.market.modes import ListedBoard, Mode
from liangshan.market.orderbook import BUY, SELL
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
    board = ListedBoard(get_instrument("EMIS-COD"), 2000, mode=Mode.CONTINUOUS)
    book_lock = threading.Lock()
    settled: list[int] = []
    refused: list[str] = []

    def trader(i: int) -> None:
        rng = random.Random(i)
        for j in range(12):
            side = BUY if (i + j) % 2 else SELL
            with book_lock:
                _, deals = board.post(orgs[i], side, rng.randint(1, 30), rng.randint(1950, 2050))
            for k, d in enumerate(deals):
                if d.seller == d.buyer:
                    continue  # self-match: nothing to settle
                try:
                    with session_scope(db_engine) as s:
                        t = service.settle(s, SYSTEM, TradeIn(
                            instrument=d.instrument, mode="continuous", seller_org_id=d.seller,
                            buyer_org_id=d.buyer, quantity=d.qty, price_fen=d.price_fen,
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
