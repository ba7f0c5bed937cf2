"""Concurrent takers on PostgreSQL: a listing is never sold beyond its quantity, and a
seller's units are never promised twice across a listing, a block deal and an auction.

SQLite serialises every writer on one file lock, so the race only exists on PostgreSQL.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from liangshan.db import session_scope
from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import agreements, auctions, service
from liangshan.market.models import ListedOrder, Trade
from liangshan.market.schemas import AcceptIn, AuctionIn, BlockIn, ListedIn

from .helpers import issue_project, org

INST = "EMIS-COD"


@pytest.mark.slow
def test_parallel_takers_and_offers_never_oversell(db_engine: Engine) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises all writers on a file lock: the race needs PostgreSQL")
    with session_scope(db_engine) as s:
        seller = org(s, "卖方")
        buyers = [org(s, f"买方{i}") for i in range(6)]
        issue_project(s, seller, 150_000)
        for i, b in enumerate(buyers):
            service.deposit(s, SYSTEM, b, 500_000_000, f"d{i}")
        lid = agreements.post_listing(s, SYSTEM, ListedIn(
            instrument=INST, org_id=seller, side="sell", quantity=50, price_fen=2000,
            idempotency_key="l")).id

    outcomes: list[str] = []

    def take(i: int) -> None:  # six takers want 10 each of a 50-unit listing
        try:
            with session_scope(db_engine) as s:
                agreements.accept_listing(s, SYSTEM, lid, AcceptIn(
                    org_id=buyers[i], quantity=10, idempotency_key=f"a{i}"))
            outcomes.append("took")
        except (InvalidInput, Conflict) as exc:
            outcomes.append(f"refused: {exc}")

    def promise(i: int) -> None:  # and three venues race for the seller's other units
        try:
            with session_scope(db_engine) as s:
                if i == 0:
                    agreements.propose_block(s, SYSTEM, BlockIn(
                        instrument=INST, org_id=seller, seller_org_id=seller,
                        buyer_org_id=buyers[0], quantity=100_000, price_fen=2000,
                        idempotency_key="blk"))
                elif i == 1:
                    auctions.create_auction(s, SYSTEM, AuctionIn(
                        instrument=INST, seller_org_id=seller, quantity=100_000,
                        reserve_fen=1500, idempotency_key="lot"))
                else:
                    agreements.post_listing(s, SYSTEM, ListedIn(
                        instrument=INST, org_id=seller, side="sell", quantity=99_999,
                        price_fen=2100, idempotency_key="l2"))
            outcomes.append("promised")
        except InsufficientBalance as exc:
            outcomes.append(f"short: {exc}")

    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(take, i) for i in range(6)] + [pool.submit(promise, i)
                                                           for i in range(3)]
        for j in jobs:
            j.result()

    assert outcomes.count("took") == 5 and outcomes.count("promised") == 1
    with session_scope(db_engine) as s:
        row = s.get_one(ListedOrder, lid)
        assert (row.remaining, row.status) == (0, "filled")
        assert s.scalar(select(func.sum(Trade.quantity))) == 50
        assert sum(service.unit_balance(s, INST, b) for b in buyers) == 50
        # 150,000 − 50 sold = 149,950: one 100,000 promise fits, a second does not
        assert ledger.verify_log(s) == [] and service.serial_problems(s) == []
