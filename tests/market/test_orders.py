"""The persisted order book: price-time priority, reservations, amend, cancel, rebuild.

Rules under test: continuous trading at the resting order's price with price-time
priority, and amend semantics (a smaller order keeps its place, a larger or re-priced
one goes to the back) as in SEEE/CBEEX continuous trading and the usual exchange
practice (MECHANISMS.md §1.5); no double-selling across open orders (issue 6 §6:
"only the holder sells").
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import orders, service
from liangshan.market.models import BookOrder
from liangshan.market.schemas import OrderIn

from .helpers import issue_project, org

INST = "EMIS-COD"  # band ±10 % of its 2000 fen reference price, lot 1
FEE = orders.BOOK_FEE_BP


def _o(org_id: int, side: str, qty: int, price: int | None, key: str) -> OrderIn:
    return OrderIn(instrument=INST, org_id=org_id, side=side,
                   kind="limit" if price else "market", quantity=qty, price_fen=price,
                   idempotency_key=key)


def _setup(s: Session) -> tuple[int, int, int]:
    a, b, c = org(s, "甲"), org(s, "乙"), org(s, "丙")
    issue_project(s, a, 100)
    issue_project(s, c, 100, key="i2", project="P-2")
    service.deposit(s, SYSTEM, b, 1_000_000, "d-b")
    service.deposit(s, SYSTEM, c, 1_000_000, "d-c")
    s.commit()
    return a, b, c


def _snapshot(book) -> list[tuple[int, int, int | None, int, object]]:
    return [(o.id, o.side, o.price, o.qty, o.owner) for o in book.resting()]


def test_crossing_order_trades_at_the_resting_price_oldest_first(db_session: Session) -> None:
    s = db_session
    a, b, c = _setup(s)
    first = orders.place_order(s, SYSTEM, _o(a, "sell", 30, 2010, "a1")).order
    second = orders.place_order(s, SYSTEM, _o(c, "sell", 30, 2010, "c1")).order
    cheaper = orders.place_order(s, SYSTEM, _o(c, "sell", 10, 2000, "c2")).order
    s.commit()
    placed = orders.place_order(s, SYSTEM, _o(b, "buy", 50, 2020, "b1"))
    s.commit()
    # best price first (2000), then the older order at 2010; all at the makers' prices
    assert [(t.seller_org_id, t.quantity, t.price_fen) for t in placed.trades] == \
        [(c, 10, 2000), (a, 30, 2010), (c, 10, 2010)]
    assert placed.order.status == "filled" and placed.order.remaining == 0
    assert (cheaper.status, first.status, second.status) == ("filled", "filled", "open")
    assert second.remaining == 20
    gross = 10 * 2000 + 40 * 2010
    fees = sum(t.quantity * t.price_fen * FEE // 10_000 for t in placed.trades)
    assert service.money_balance(s, b) == 1_000_000 - gross - fees
    assert service.unit_balance(s, INST, b) == 50
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []
    for t in placed.trades:  # each trade its own two entries, as settle() posts them
        keys = [e.idempotency_key for e in ledger.entries_by_reference(
            s, f"market:trade:{t.idempotency_key}")]
        assert keys == [f"market:trade:{t.idempotency_key}:units",
                        f"market:trade:{t.idempotency_key}:money"]
    assert orders.depth(s, INST) == {"bids": [], "asks": [[2010, 20, 1]]}


def test_no_double_selling_and_buyers_need_money(db_session: Session) -> None:
    s = db_session
    a, _b, _c = _setup(s)
    orders.place_order(s, SYSTEM, _o(a, "sell", 60, 2100, "a1"))
    s.commit()
    with pytest.raises(InsufficientBalance, match="40 EMIS-COD free"):
        orders.place_order(s, SYSTEM, _o(a, "sell", 50, 2100, "a2"))
    s.rollback()
    with pytest.raises(InsufficientBalance):  # a market sell is held to the same rule
        orders.place_order(s, SYSTEM, _o(a, "sell", 41, None, "a3"))
    s.rollback()
    poor = org(s, "穷")
    service.deposit(s, SYSTEM, poor, 2000 * 10, "d-p")  # 10 units at 2000, but not the fee
    s.commit()
    with pytest.raises(InsufficientBalance, match="needs 20010"):
        orders.place_order(s, SYSTEM, _o(poor, "buy", 10, 2000, "p1"))
    s.rollback()
    orders.place_order(s, SYSTEM, _o(poor, "buy", 9, 2000, "p2"))  # 18009 fen reserved
    s.commit()
    with pytest.raises(InsufficientBalance, match="1991 fen free"):
        orders.place_order(s, SYSTEM, _o(poor, "buy", 1, 2000, "p3"))
    s.rollback()
    # a market buy needs what its fills cost: 10 × 2100 + fee > 20,000
    with pytest.raises(InsufficientBalance):
        orders.place_order(s, SYSTEM, _o(poor, "buy", 10, None, "p4"))
    s.rollback()
    orders.cancel_order(s, SYSTEM, s.query(BookOrder).filter_by(idempotency_key="a1").one().id)
    s.commit()
    assert orders.place_order(s, SYSTEM, _o(a, "sell", 100, 2100, "a5")).order.status == "open"


def test_amend_priority_cancel_and_market_orders(db_session: Session) -> None:
    s = db_session
    a, b, c = _setup(s)
    x = orders.place_order(s, SYSTEM, _o(a, "sell", 20, 2050, "x")).order
    y = orders.place_order(s, SYSTEM, _o(c, "sell", 20, 2050, "y")).order
    s.commit()
    orders.amend_order(s, SYSTEM, x.id, quantity=10)  # smaller: keeps its place
    s.commit()
    assert orders.place_order(s, SYSTEM, _o(b, "buy", 5, 2050, "b1")).trades[0].seller_org_id == a
    s.commit()
    orders.amend_order(s, SYSTEM, x.id, quantity=30)  # larger: to the back of the queue
    s.commit()
    assert x.priority > y.priority
    took = orders.place_order(s, SYSTEM, _o(b, "buy", 25, 2050, "b2")).trades
    s.commit()
    assert [(t.seller_org_id, t.quantity) for t in took] == [(c, 20), (a, 5)]
    amended = orders.amend_order(s, SYSTEM, x.id, price_fen=2000)  # re-priced: may trade
    s.commit()
    assert amended.trades == [] and x.remaining == 25 and x.price_fen == 2000
    bid = orders.place_order(s, SYSTEM, _o(b, "buy", 10, 1990, "b3")).order
    s.commit()
    crossed = orders.amend_order(s, SYSTEM, bid.id, price_fen=2000)
    s.commit()
    assert [(t.seller_org_id, t.quantity, t.price_fen) for t in crossed.trades] == \
        [(a, 10, 2000)]
    market = orders.place_order(s, SYSTEM, _o(b, "buy", 50, None, "b4"))
    s.commit()
    assert sum(t.quantity for t in market.trades) == 15
    assert (market.order.status, market.order.remaining) == ("expired", 0)
    assert (x.status, bid.status) == ("filled", "filled")
    with pytest.raises(Conflict, match="filled"):
        orders.cancel_order(s, SYSTEM, bid.id)
    s.rollback()
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_replay_self_trade_and_rules(db_session: Session) -> None:
    s = db_session
    _a, b, c = _setup(s)
    first = orders.place_order(s, SYSTEM, _o(c, "sell", 10, 2000, "k"))
    s.commit()
    again = orders.place_order(s, SYSTEM, _o(c, "sell", 10, 2000, "k"))
    assert again.order.id == first.order.id and again.trades == []
    with pytest.raises(Conflict, match="other terms"):
        orders.place_order(s, SYSTEM, _o(c, "buy", 10, 2000, "k"))
    s.rollback()
    with pytest.raises(Conflict, match="its owner's resting order"):
        orders.place_order(s, SYSTEM, _o(c, "buy", 5, 2000, "self"))
    s.rollback()
    with pytest.raises(InvalidInput, match="outside ±10"):
        orders.place_order(s, SYSTEM, _o(b, "buy", 5, 2300, "band"))
    s.rollback()
    # the refused orders left nothing behind, in the database or in the engine
    took = orders.place_order(s, SYSTEM, _o(b, "buy", 5, 2000, "ok")).trades
    s.commit()
    assert [(t.seller_org_id, t.quantity) for t in took] == [(c, 5)]
    assert s.query(BookOrder).count() == 2


def test_rebuilt_book_is_the_same_book_with_the_same_next_trade(db_session: Session) -> None:
    s = db_session
    a, b, c = _setup(s)
    for i, (who, side, qty, price) in enumerate([
            (a, "sell", 10, 2030), (c, "sell", 7, 2030), (a, "sell", 5, 2020),
            (b, "buy", 8, 1980), (b, "buy", 3, 1990), (c, "sell", 9, 2040)]):
        orders.place_order(s, SYSTEM, _o(who, side, qty, price, f"o{i}"))
    s.commit()
    key = orders._engine_key(s, INST)
    before = _snapshot(orders._ENGINES[key].book)
    orders.drop_engines()  # a restart: only the database is left
    assert _snapshot(orders.rebuild(s, INST)) == before
    took = orders.place_order(s, SYSTEM, _o(b, "buy", 20, 2030, "next")).trades
    s.commit()
    assert [(t.seller_org_id, t.quantity, t.price_fen) for t in took] == \
        [(a, 5, 2020), (a, 10, 2030), (c, 5, 2030)]
    assert _snapshot(orders._ENGINES[key].book) == _snapshot(orders.rebuild(s, INST))


def test_a_rolled_back_cycle_leaves_the_engine_stale_and_it_is_rebuilt(
        db_session: Session) -> None:
    s = db_session
    a, b, c = _setup(s)
    orders.place_order(s, SYSTEM, _o(a, "sell", 10, 2000, "kept"))
    s.commit()
    orders.place_order(s, SYSTEM, _o(c, "sell", 10, 1990, "lost"))
    s.rollback()  # the engine saw it; the database did not keep it
    took = orders.place_order(s, SYSTEM, _o(b, "buy", 10, 2000, "b")).trades
    s.commit()
    assert [(t.seller_org_id, t.price_fen) for t in took] == [(a, 2000)]


def test_a_cycle_is_all_or_nothing(db_session: Session) -> None:
    s = db_session
    a, b, _c = _setup(s)
    with pytest.raises(InsufficientBalance):
        orders.place_orders(s, SYSTEM, [_o(a, "sell", 50, 2000, "1"),
                                        _o(b, "buy", 50, 2000, "2"),
                                        _o(a, "sell", 60, 2000, "3")])  # 50 left, not 60
    s.rollback()
    assert s.query(BookOrder).count() == 0 and service.list_trades(s) == []
    placed = orders.place_orders(s, SYSTEM, [_o(a, "sell", 50, 2000, "1"),
                                             _o(b, "buy", 50, 2000, "2"),
                                             _o(b, "sell", 50, 2000, "3")])  # resells them
    s.commit()
    assert [len(p.trades) for p in placed] == [0, 1, 0]
    assert service.unit_balance(s, INST, b) == 50
    assert orders.close_book(s, SYSTEM, INST) == 1
    s.commit()
    assert orders.depth(s, INST) == {"bids": [], "asks": []}
