"""An in-process continuous double auction: price-time priority, pure Python, no database.

Prices are integer fen per unit, quantities integers in the instrument's step.
Each side keeps a dict ``price → deque of resting orders`` and a heap of prices
(bids negated). Cancels are lazy: a cancelled order has its quantity zeroed and
is skipped when it reaches the front, so cancel is O(1) and the hot path is a
handful of dict/deque operations (see benchmarks/bench_market.py for speed).

Semantics (the usual exchange ones):
* a limit order trades against the opposite side while it crosses, always at the
  resting (maker) order's price, oldest first within a price; the rest rests;
* a market order trades what it can and the remainder is dropped (IOC);
* amend: lowering the quantity keeps time priority; raising it or changing the
  price is a cancel and a new order at the back of the queue (and may trade);
* self-trades are not prevented here: a venue that forbids them checks owners
  before calling :meth:`OrderBook.submit`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable
from typing import NamedTuple

from liangshan.errors import InvalidInput, NotFound

BUY, SELL = 0, 1


class Fill(NamedTuple):
    """One trade: ``qty`` units at ``price`` fen, between a resting maker and a taker."""

    maker_id: int
    taker_id: int
    price: int
    qty: int
    maker_owner: Hashable
    taker_owner: Hashable
    taker_side: int


class Order:
    """A resting or incoming order; ``qty`` is what is left."""

    __slots__ = ("id", "owner", "price", "qty", "side")

    def __init__(self, oid: int, side: int, price: int | None, qty: int, owner: Hashable) -> None:
        self.id = oid
        self.side = side
        self.price = price
        self.qty = qty
        self.owner = owner

    def __repr__(self) -> str:
        side = "buy" if self.side == BUY else "sell"
        return f"Order({self.id}, {side}, {self.price}, {self.qty}, {self.owner!r})"


class OrderBook:
    """One instrument's book. Order ids are assigned here, increasing from 1."""

    def __init__(self) -> None:
        self._levels: tuple[dict[int, deque[Order]], dict[int, deque[Order]]] = ({}, {})
        self._heaps: tuple[list[int], list[int]] = ([], [])  # bids as -price
        self._live: dict[int, Order] = {}
        self._next = 1

    # -- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._live)

    def get(self, order_id: int) -> Order:
        try:
            return self._live[order_id]
        except KeyError:
            raise NotFound(f"order {order_id} is not resting in the book",
                           hint="it was filled, cancelled or never existed") from None

    def best(self, side: int) -> int | None:
        """Best resting price (fen) on ``side``: highest bid or lowest ask."""
        levels, heap = self._levels[side], self._heaps[side]
        while heap:
            key = heap[0]
            price = -key if side == BUY else key
            queue = levels.get(price)
            if queue:
                while queue and queue[0].qty == 0:
                    queue.popleft()
                if queue:
                    return price
                del levels[price]
            heapq.heappop(heap)
        return None

    def depth(self, side: int, n: int = 5) -> list[tuple[int, int]]:
        """The best ``n`` price levels on ``side`` as (price fen, total quantity)."""
        prices = sorted((p for p, q in self._levels[side].items() if any(o.qty for o in q)),
                        reverse=(side == BUY))[:n]
        return [(p, sum(o.qty for o in self._levels[side][p])) for p in prices]

    def orders_at(self, side: int, price: int) -> list[Order]:
        """Live orders at one level, oldest first."""
        return [o for o in self._levels[side].get(price, ()) if o.qty]

    # -- commands ------------------------------------------------------------------------------

    def submit(self, side: int, qty: int, price: int | None = None, owner: Hashable = None,
               oid: int | None = None) -> tuple[int, list[Fill]]:
        """Submit a limit order (``price`` fen) or a market order (``price`` None).

        Returns the order id and its fills; a limit remainder rests under that id. The
        id is the book's next one, or ``oid`` when the caller numbers orders itself (a
        persisted book uses its database ids; ``oid`` must not be resting already).
        """
        if side != BUY and side != SELL:
            raise InvalidInput(f"order side {side!r} is neither BUY (0) nor SELL (1)")
        if type(qty) is not int or qty <= 0:
            raise InvalidInput(f"order quantity {qty!r} must be a positive integer")
        if price is not None and (type(price) is not int or price <= 0):
            raise InvalidInput(f"order price {price!r} must be a positive integer (fen)")
        if oid is None:
            oid = self._next
            self._next = oid + 1
        elif oid in self._live:
            raise InvalidInput(f"order {oid} is already resting in the book")
        order = Order(oid, side, price, qty, owner)
        fills = self._match(order)
        if order.qty and price is not None:
            self._rest(order)
        return oid, fills

    def restore(self, oid: int, side: int, price: int, qty: int, owner: Hashable) -> None:
        """Rest an order without matching it: rebuilding a book, orders in priority order."""
        if oid in self._live:
            raise InvalidInput(f"order {oid} is already resting in the book")
        self._rest(Order(oid, side, price, qty, owner))

    def renumber(self, old: int, new: int) -> None:
        """Give a resting order a new id (a persisted book learns its database id late)."""
        order = self.get(old)
        if new in self._live:
            raise InvalidInput(f"order {new} is already resting in the book")
        del self._live[old]
        order.id = new
        self._live[new] = order

    def resting(self) -> list[Order]:
        """Every live order, bids best first then asks best first, each level oldest first."""
        out: list[Order] = []
        for side in (BUY, SELL):
            for price in sorted(self._levels[side], reverse=(side == BUY)):
                out.extend(o for o in self._levels[side][price] if o.qty)
        return out

    def cancel(self, order_id: int) -> int:
        """Cancel a resting order; returns the quantity that was still open."""
        order = self._live.pop(order_id, None)
        if order is None:
            raise NotFound(f"order {order_id} is not resting in the book",
                           hint="it was filled, cancelled or never existed")
        left, order.qty = order.qty, 0
        return left

    def amend(self, order_id: int, *, qty: int | None = None, price: int | None = None
              ) -> tuple[int, list[Fill]]:
        """Change a resting order; returns its (possibly new) id and any fills."""
        order = self.get(order_id)
        if qty is not None and (type(qty) is not int or qty <= 0):
            raise InvalidInput(f"amended quantity {qty!r} must be a positive integer",
                               hint="cancel the order to withdraw it")
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        if new_price == order.price and new_qty <= order.qty:
            order.qty = new_qty  # a smaller order keeps its place in the queue
            return order_id, []
        self.cancel(order_id)
        return self.submit(order.side, new_qty, new_price, order.owner)

    # -- internals -----------------------------------------------------------------------------

    def _rest(self, order: Order) -> None:
        side, price = order.side, order.price
        assert price is not None
        levels = self._levels[side]
        queue = levels.get(price)
        if queue is None:
            queue = levels[price] = deque()
            heapq.heappush(self._heaps[side], -price if side == BUY else price)
        queue.append(order)
        self._live[order.id] = order

    def _match(self, taker: Order) -> list[Fill]:
        fills: list[Fill] = []
        other = 1 - taker.side
        levels, heap, live = self._levels[other], self._heaps[other], self._live
        limit, buying = taker.price, taker.side == BUY
        while taker.qty and heap:
            key = heap[0]
            price = -key if other == BUY else key
            if limit is not None and (price > limit if buying else price < limit):
                break
            queue = levels.get(price)
            if not queue:
                heapq.heappop(heap)
                levels.pop(price, None)
                continue
            while queue and taker.qty:
                maker = queue[0]
                if maker.qty == 0:
                    queue.popleft()
                    continue
                qty = maker.qty if maker.qty < taker.qty else taker.qty
                maker.qty -= qty
                taker.qty -= qty
                fills.append(Fill(maker.id, taker.id, price, qty, maker.owner, taker.owner,
                                  taker.side))
                if maker.qty == 0:
                    queue.popleft()
                    del live[maker.id]
            if not queue:
                heapq.heappop(heap)
                del levels[price]
        return fills
