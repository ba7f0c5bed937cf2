"""The matching engine: price-time priority, market orders, cancel and amend, against a model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liangshan.errors import InvalidInput, NotFound
from liangshan.market.orderbook import BUY, SELL, OrderBook


def test_price_then_time_priority_at_maker_price():
    book = OrderBook()
    a, _ = book.submit(SELL, 5, 1010, "a")
    b, _ = book.submit(SELL, 5, 1000, "b")
    c, _ = book.submit(SELL, 5, 1000, "c")
    oid, fills = book.submit(BUY, 12, 1010, "x")
    assert [(f.maker_id, f.price, f.qty) for f in fills] == [(b, 1000, 5), (c, 1000, 5),
                                                            (a, 1010, 2)]
    assert book.get(a).qty == 3 and len(book) == 1
    assert book.best(SELL) == 1010 and book.best(BUY) is None
    with pytest.raises(NotFound):
        book.get(oid)  # fully filled, nothing rests


def test_limit_rests_market_remainder_dropped():
    book = OrderBook()
    book.submit(BUY, 3, 990, "a")
    _, fills = book.submit(SELL, 10, None, "m")
    assert [(f.price, f.qty) for f in fills] == [(990, 3)]
    assert len(book) == 0 and book.best(BUY) is None
    _, fills = book.submit(SELL, 4, 1000, "s")
    assert fills == [] and book.depth(SELL) == [(1000, 4)]


def test_cancel_and_amend_priority():
    book = OrderBook()
    a, _ = book.submit(BUY, 5, 1000, "a")
    b, _ = book.submit(BUY, 5, 1000, "b")
    assert book.amend(a, qty=3) == (a, [])          # smaller: keeps its place
    _, fills = book.submit(SELL, 3, 1000, "s")
    assert [f.maker_id for f in fills] == [a]
    new_b, _ = book.amend(b, qty=8)                 # larger: to the back, new id
    assert new_b != b
    c, _ = book.submit(BUY, 1, 1001, "c")
    assert book.cancel(c) == 1
    with pytest.raises(NotFound):
        book.cancel(c)
    _, fills = book.submit(SELL, 8, 1000, "s")
    assert [(f.maker_id, f.qty) for f in fills] == [(new_b, 8)]
    with pytest.raises(InvalidInput):
        book.submit(BUY, 0, 1000)
    with pytest.raises(InvalidInput):
        book.submit(BUY, 1, 10.5)  # type: ignore[arg-type]


ops = st.lists(st.tuples(st.sampled_from(["buy", "sell", "mbuy", "msell", "cancel", "amend"]),
                         st.integers(1, 20), st.integers(95, 105), st.integers(0, 50)),
               max_size=120)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_matches_a_naive_model(seq):
    """Against a naive model: a list of resting orders scanned for the best (price, seq)."""
    book = OrderBook()
    model: list[list[int]] = []  # [id, side, price, qty, seq]
    order_no = 0
    for op, qty, price, pick in seq:
        if op in ("cancel", "amend"):
            if not model:
                continue
            target = model[pick % len(model)]
            if op == "cancel":
                assert book.cancel(target[0]) == target[3]
                model.remove(target)
                continue
            if qty <= target[3]:
                book.amend(target[0], qty=qty)
                target[3] = qty
                continue
            book.cancel(target[0])
            model.remove(target)
            side, px = target[1], target[2]
        else:
            side = BUY if op in ("buy", "mbuy") else SELL
            px = None if op.startswith("m") else price
        order_no += 1
        oid, fills = book.submit(side, qty, px)
        left, expected = qty, []
        while left:
            opp = [m for m in model if m[1] != side and
                   (px is None or (m[2] <= px if side == BUY else m[2] >= px))]
            if not opp:
                break
            best = min(opp, key=lambda m: ((m[2] if side == BUY else -m[2]), m[4]))
            q = min(left, best[3])
            expected.append((best[0], best[2], q))
            best[3] -= q
            left -= q
            if best[3] == 0:
                model.remove(best)
        assert [(f.maker_id, f.price, f.qty) for f in fills] == expected
        if left and px is not None:
            model.append([oid, side, px, left, order_no])
    assert len(book) == len(model)
    bids = [m[2] for m in model if m[1] == BUY]
    asks = [m[2] for m in model if m[1] == SELL]
    assert book.best(BUY) == (max(bids) if bids else None)
    assert book.best(SELL) == (min(asks) if asks else None)


def test_caller_numbered_orders_restore_and_renumber():
    """A persisted book numbers orders itself, rests stored orders without matching them,
    and renames a stand-in id once the database assigns the real one."""
    book = OrderBook()
    book.restore(10, SELL, 1010, 4, "a")
    book.restore(11, SELL, 1010, 6, "b")  # same level, later priority
    book.restore(12, BUY, 990, 5, "c")
    assert [(o.id, o.qty) for o in book.resting()] == [(12, 5), (10, 4), (11, 6)]
    with pytest.raises(InvalidInput):
        book.restore(10, BUY, 980, 1, "d")
    oid, fills = book.submit(BUY, 3, 1010, "e", oid=-1)
    assert oid == -1 and [(f.maker_id, f.qty) for f in fills] == [(10, 3)]
    oid, fills = book.submit(BUY, 2, 1000, "e", oid=-2)  # rests under the stand-in
    assert fills == [] and book.get(-2).qty == 2
    book.renumber(-2, 13)
    assert book.get(13).id == 13 and book.depth(BUY) == [(1000, 2), (990, 5)]
    with pytest.raises(NotFound):
        book.get(-2)
    with pytest.raises(InvalidInput):
        book.submit(SELL, 1, 1100, "f", oid=13)  # already resting
