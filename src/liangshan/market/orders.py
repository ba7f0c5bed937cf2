"""The persisted continuous order book: place, cancel and amend orders; trades settle at once.

The database holds the truth — every order (:class:`~liangshan.market.models.BookOrder`)
with its remaining quantity, status and time priority, and one
:class:`~liangshan.market.models.BookState` per instrument. The in-process
:class:`~liangshan.market.orderbook.OrderBook` is the fast path: a cache of the open
orders, kept per database and instrument, trusted only while its version token equals
the database's. A rolled-back transaction or another process's change leaves the
tokens different, and the book is rebuilt from the open orders in priority order
(``priority`` is the book's event counter when the order joined the back of its queue).

A call is one matching cycle: under the ledger lock (which serialises writers on both
databases) each order is checked, matched, recorded, and all its trades are settled
together by :func:`liangshan.market.clearing.settle_trades` — each trade its own
delivery-versus-payment entries, the cycle all or nothing. If anything fails the
engine is dropped and the caller's rollback leaves the database as it was.

Only the holder sells and buyers must have money (fen). What an organisation can
commit is its ledger balance less what its open commitments reserve: units of open
sell orders and of open auction lots; money for open buy orders and open auction bids
(``quantity × price`` plus the fee, rounded down to the fen, of each). An order that
needs more is refused, so units can never be sold twice across open orders.

Fees: ``fee_bp`` basis points of the gross per side (:data:`BOOK_FEE_BP` by default,
[NF] as in :mod:`~liangshan.market.settlement`). Trading hours are checked only when
the caller passes ``at``. An order may not trade with its owner's own resting order
(self-trade prevention: the incoming order is refused, naming the resting one).
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.access import READER_ROLES, Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger.log import lock_log
from liangshan.market.clearing import settle_trades
from liangshan.market.funds import Funds, cost_fen
from liangshan.market.instruments import Instrument, get_instrument
from liangshan.market.issuance import require_party
from liangshan.market.models import BookOrder, BookState, Trade
from liangshan.market.modes import check_hours, check_listed
from liangshan.market.orderbook import BUY, SELL, Fill, OrderBook
from liangshan.market.schemas import OrderIn, TradeIn
from liangshan.market.settlement import previous_close, trade_day

#: Exchange fee per side on order-book trades, basis points of the gross [NF: placeholder].
BOOK_FEE_BP = 5
SIDES = {"buy": BUY, "sell": SELL}


@dataclass
class Placed:
    """An order after its cycle, with the trades it made (as taker) in that cycle."""

    order: BookOrder
    trades: list[Trade]


# -- the engines (one per database and instrument, in this process) --------------------------

@dataclass
class _Live:
    book: OrderBook
    version: str


_ENGINES: dict[tuple[str, str], _Live] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_key(session: Session, instrument: str) -> tuple[str, str]:
    return (session.get_bind().engine.url.render_as_string(hide_password=True), instrument)


def drop_engines() -> None:
    """Forget every in-process book (tests use it to simulate a restart)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()


def rebuild(session: Session, instrument: str) -> OrderBook:
    """A book holding the instrument's open orders, each in its place (priority order)."""
    book = OrderBook()
    for o in session.scalars(select(BookOrder).where(
            BookOrder.instrument == instrument, BookOrder.status == "open")
            .order_by(BookOrder.priority)):
        assert o.price_fen is not None  # market orders never stay open
        book.restore(o.id, SIDES[o.side], o.price_fen, o.remaining, o.org_id)
    return book


# -- the cycle --------------------------------------------------------------------------------

class _Cycle:
    """One matching cycle: engines in sync, funds loaded, trades collected, then settled."""

    def __init__(self, session: Session, actor: Principal, fee_bp: int) -> None:
        self.s, self.actor, self.fee_bp = session, actor, fee_bp
        self.funds = Funds(session)
        self.states: dict[str, BookState] = {}
        self.books: dict[str, OrderBook] = {}
        self.trades: list[TradeIn] = []
        self.taker_of: list[BookOrder] = []  # each trade's taker
        # orders placed in this cycle, under stand-in ids (negative) until the one flush
        self.fresh: dict[int, BookOrder] = {}
        self.placed: list[BookOrder] = []
        self.now = utcnow()
        self.closes: dict[str, int | None] = {}

    def book(self, instrument: str) -> OrderBook:
        if instrument in self.books:
            return self.books[instrument]
        state = self.s.get(BookState, instrument)
        if state is None:
            state = BookState(instrument=instrument, seq=0, version="")
            self.s.add(state)
        key = _engine_key(self.s, instrument)
        live = _ENGINES.get(key)
        if live is None or live.version != state.version:
            live = _ENGINES[key] = _Live(rebuild(self.s, instrument), state.version)
        self.states[instrument] = state
        self.books[instrument] = live.book
        return live.book

    def prev_close(self, inst: Instrument) -> int | None:
        if inst.code not in self.closes:
            self.closes[inst.code] = previous_close(self.s, inst.code, trade_day(self.now))
        return self.closes[inst.code]

    def check_price(self, inst: Instrument, qty: int, price: int | None) -> None:
        if price is not None:
            check_listed(inst, price, qty, self.prev_close(inst))
            return
        if inst.fixed_price_fen is not None:
            raise InvalidInput(f"{inst.code} sells at a fixed {inst.fixed_price_fen} fen",
                               hint="use the fixed-price sale, not the order book")
        if qty % inst.lot or qty >= inst.block_threshold:
            raise InvalidInput(f"{inst.code}: a market order needs a multiple of the lot "
                               f"{inst.lot} below {inst.block_threshold} {inst.unit}, got {qty}")

    def next_seq(self, instrument: str) -> int:
        state = self.states[instrument]
        state.seq += 1
        return state.seq

    def add(self, row: BookOrder) -> int:
        """Add a new order row; returns the stand-in id the engine knows it by until
        :meth:`settle` writes the cycle's rows in one flush."""
        self.s.add(row)
        self.placed.append(row)
        stand_in = -len(self.placed)
        self.fresh[stand_in] = row
        return stand_in

    def submit(self, row: BookOrder, qty: int, seq: int, oid: int | None = None) -> None:
        """Match ``qty`` of ``row`` in its book, record fills and trades, rest the rest."""
        side = SIDES[row.side]
        book = self.book(row.instrument)
        _oid, fills = book.submit(side, qty, row.price_fen, row.org_id,
                                  oid=row.id if oid is None else oid)
        for f in fills:
            if f.maker_owner == row.org_id:
                raise Conflict(f"order {row.idempotency_key!r} would trade with its owner's "
                               f"resting order {f.maker_id} at {f.price} fen",
                               hint="cancel or amend the resting order first (no self-trades)")
        spent = 0
        for j, f in enumerate(fills):
            spent += self._fill(row, f, seq, j)
        left = qty - sum(f.qty for f in fills)
        if row.side == "buy":
            if row.kind == "market":
                self.funds.need_cash(row.org_id, spent, f"market buy {row.idempotency_key!r}")
            self.funds.cash[row.org_id] -= spent
        row.remaining = left if row.kind == "limit" else 0
        if row.kind == "market" and left:
            row.status = "expired"  # a market order's rest is dropped (IOC)
        elif left == 0:
            row.status = "filled"
        if row.status == "open":
            if row.side == "sell":
                self.funds.units[(row.instrument, row.org_id)] -= left
            else:
                assert row.price_fen is not None
                self.funds.cash[row.org_id] -= cost_fen(left, row.price_fen, row.fee_bp)
        row.updated_at = self.now

    def _fill(self, taker: BookOrder, f: Fill, seq: int, j: int) -> int:
        """Record one fill; returns what the taker paid (fen) if it is the buyer, else 0."""
        maker = self.fresh.get(f.maker_id) or self.s.get_one(BookOrder, f.maker_id)
        inst = taker.instrument
        for org in (maker.org_id, taker.org_id):  # load before either order changes
            self.funds.free_units(inst, org)
            self.funds.free_cash(org)
        buyer, seller = (taker, maker) if taker.side == "buy" else (maker, taker)
        fee_bp = buyer.fee_bp
        cost = cost_fen(f.qty, f.price, fee_bp)
        # a selling maker's reserved units are delivered: its free units do not change
        if maker.side == "buy":  # the maker's reservation turns into the payment
            assert maker.price_fen is not None
            before = cost_fen(maker.remaining, maker.price_fen, maker.fee_bp)
            after = cost_fen(maker.remaining - f.qty, maker.price_fen, maker.fee_bp)
            self.funds.cash[maker.org_id] += before - after - cost
        maker.remaining -= f.qty
        maker.status = "filled" if maker.remaining == 0 else "open"
        maker.updated_at = self.now
        # the seller's proceeds are not counted free before the cycle settles (they are
        # less fees and benefit shares); the buyer's units are, exactly
        self.funds.units[(inst, buyer.org_id)] += f.qty
        if taker.side == "sell":
            self.funds.units[(inst, taker.org_id)] -= f.qty
        self.trades.append(TradeIn(
            instrument=inst, mode="continuous", seller_org_id=seller.org_id,
            buyer_org_id=buyer.org_id, quantity=f.qty, price_fen=f.price,
            idempotency_key=f"book:{inst}:{seq}:{j}", fee_bp=fee_bp))
        self.taker_of.append(taker)
        return cost if taker.side == "buy" else 0

    def settle(self) -> dict[int, list[Trade]]:
        """Write the cycle's orders, settle its trades, stamp the books' new versions.

        Returns the trades by taker order id.
        """
        for state in self.states.values():
            state.version = uuid.uuid4().hex
        self.s.flush()  # every order row of the cycle: now the stand-ins get their ids
        for stand_in, row in self.fresh.items():
            if row.status == "open":
                self.books[row.instrument].renumber(stand_in, row.id)
        for row in self.placed:
            record(self.s, self.actor, "place", "market_order", row.id,
                   detail={"side": row.side, "kind": row.kind, "quantity": row.quantity,
                           "price_fen": row.price_fen, "instrument": row.instrument})
        autoflush, self.s.autoflush = self.s.autoflush, True
        try:
            rows = settle_trades(self.s, self.actor, self.trades,
                                 cycle_key=f"book:{uuid.uuid4().hex}") if self.trades else []
        finally:
            self.s.autoflush = autoflush
        out: dict[int, list[Trade]] = defaultdict(list)
        for taker, trade in zip(self.taker_of, rows, strict=True):
            out[taker.id].append(trade)
        for instrument, state in self.states.items():
            _ENGINES[_engine_key(self.s, instrument)] = _Live(self.books[instrument],
                                                              state.version)
        self.s.flush()
        return out


@contextmanager
def _cycle(session: Session, actor: Principal, fee_bp: int = BOOK_FEE_BP) -> Iterator[_Cycle]:
    lock_log(session)  # the database lock first, then this process's: no deadlock
    with _ENGINES_LOCK:
        cycle = _Cycle(session, actor, fee_bp)
        try:
            # no flush per order: the funds of an organisation are read before any of its
            # orders change in the cycle, so the reads need none of the pending rows
            with session.no_autoflush:
                yield cycle
        except BaseException:
            for instrument in cycle.books:  # the engine may hold what will be rolled back
                _ENGINES.pop(_engine_key(session, instrument), None)
            raise


# -- commands ---------------------------------------------------------------------------------

def place_orders(session: Session, actor: Principal, orders: Sequence[OrderIn], *,
                 fee_bp: int = BOOK_FEE_BP, at: datetime | None = None) -> list[Placed]:
    """Place orders in turn as one matching cycle; their trades settle in one go.

    Each order: the actor acts for ``org_id``; a limit order obeys the instrument's
    tick, lot, block threshold and ±band around the previous close (a market order
    its lot and threshold); a sell needs free units, a limit buy free money for
    ``quantity × price`` plus fee (a market buy for what its fills cost); it trades
    against the other side at the resting orders' prices (price, then time priority)
    and a limit remainder rests. Replaying an idempotency key returns that order as it
    stands now (no new trades); a key reused for other terms is a :class:`Conflict`.
    Any refusal refuses the whole cycle. Flushes; the caller commits.
    """
    out: list[Placed] = []
    with _cycle(session, actor, fee_bp) as cycle:
        seen = {o.idempotency_key: o for o in session.scalars(select(BookOrder).where(
            BookOrder.idempotency_key.in_([d.idempotency_key for d in orders])))}
        rows: list[BookOrder] = []
        for data in orders:
            old = seen.get(data.idempotency_key)
            if old is not None:
                # the terms an amend cannot change (quantity and price it can)
                if (old.instrument, old.org_id, old.side, old.kind) != (
                        data.instrument, data.org_id, data.side, data.kind):
                    raise Conflict(f"idempotency key {data.idempotency_key!r} placed order "
                                   f"{old.id} with other terms", hint="use a new key per order")
                rows.append(old)
                continue
            rows.append(_place(cycle, data, at))
            seen[data.idempotency_key] = rows[-1]
        by_taker = cycle.settle()
        for row in rows:
            out.append(Placed(row, by_taker.get(row.id, [])))
    return out


def place_order(session: Session, actor: Principal, data: OrderIn, *,
                fee_bp: int = BOOK_FEE_BP, at: datetime | None = None) -> Placed:
    """One order as its own cycle (see :func:`place_orders`)."""
    return place_orders(session, actor, [data], fee_bp=fee_bp, at=at)[0]


def _place(cycle: _Cycle, data: OrderIn, at: datetime | None) -> BookOrder:
    require_party(cycle.actor, data.org_id)
    inst = get_instrument(data.instrument)
    check_hours(inst, at)
    cycle.check_price(inst, data.quantity, data.price_fen)
    what = f"order {data.idempotency_key!r}"
    if data.side == "sell":
        cycle.funds.need_units(inst.code, data.org_id, data.quantity, what)
    elif data.price_fen is not None:
        cycle.funds.need_cash(data.org_id, cost_fen(data.quantity, data.price_fen,
                                                    cycle.fee_bp), what)
    else:
        cycle.funds.free_cash(data.org_id)
    cycle.book(inst.code)
    seq = cycle.next_seq(inst.code)
    row = BookOrder(instrument=inst.code, org_id=data.org_id, side=data.side, kind=data.kind,
                    price_fen=data.price_fen, quantity=data.quantity, remaining=data.quantity,
                    status="open", priority=seq, fee_bp=cycle.fee_bp,
                    idempotency_key=data.idempotency_key, placed_by=cycle.actor.user_id,
                    created_at=cycle.now, updated_at=cycle.now)
    cycle.submit(row, data.quantity, seq, oid=cycle.add(row))
    return row


def _own_open(session: Session, actor: Principal, order_id: int) -> BookOrder:
    row = session.get(BookOrder, order_id)
    if row is None:
        raise NotFound(f"order {order_id} does not exist", hint="list yours at /market/orders")
    require_party(actor, row.org_id)
    return row


def cancel_order(session: Session, actor: Principal, order_id: int) -> BookOrder:
    """Withdraw an open order; its unfilled quantity stays in ``remaining`` for the record.

    Cancelling a cancelled order returns it unchanged; a filled or expired one is a
    :class:`Conflict`.
    """
    with _cycle(session, actor) as cycle:
        row = _own_open(session, actor, order_id)
        if row.status == "cancelled":
            return row
        if row.status != "open":
            raise Conflict(f"order {order_id} is {row.status}; only open orders can be cancelled")
        cycle.book(row.instrument).cancel(row.id)
        row.status, row.updated_at = "cancelled", cycle.now
        cycle.settle()
        record(session, actor, "cancel", "market_order", row.id,
               detail={"remaining": row.remaining})
    return row


def amend_order(session: Session, actor: Principal, order_id: int, *,
                quantity: int | None = None, price_fen: int | None = None,
                at: datetime | None = None) -> Placed:
    """Change an open limit order's open quantity and/or price (fen).

    ``quantity`` is the new open quantity. Lowering it keeps the order's time priority;
    raising it or changing the price sends it to the back of the queue at its (new)
    price, where it may trade at once, as a new order would. Funds are checked for the
    increase.
    """
    if quantity is None and price_fen is None:
        raise InvalidInput("an amend needs a new quantity, a new price_fen, or both")
    for name, v in (("quantity", quantity), ("price_fen", price_fen)):
        if v is not None and (type(v) is not int or v <= 0):
            raise InvalidInput(f"amended {name} {v!r} must be a positive integer",
                               hint="cancel the order to withdraw it")
    with _cycle(session, actor) as cycle:
        row = _own_open(session, actor, order_id)
        if row.status != "open":
            raise Conflict(f"order {order_id} is {row.status}; only open orders can be amended")
        inst = get_instrument(row.instrument)
        check_hours(inst, at)
        assert row.price_fen is not None
        new_qty = row.remaining if quantity is None else quantity
        new_price = row.price_fen if price_fen is None else price_fen
        cycle.check_price(inst, new_qty, new_price)
        what = f"amend of order {order_id}"
        funds = cycle.funds
        if row.side == "sell":
            funds.free_units(inst.code, row.org_id)
            funds.units[(inst.code, row.org_id)] += row.remaining  # release, then take anew
            funds.need_units(inst.code, row.org_id, new_qty, what)
        else:
            funds.free_cash(row.org_id)
            funds.cash[row.org_id] += cost_fen(row.remaining, row.price_fen, row.fee_bp)
            funds.need_cash(row.org_id, cost_fen(new_qty, new_price, row.fee_bp), what)
        book = cycle.book(inst.code)
        filled = row.quantity - row.remaining
        if new_price == row.price_fen and new_qty <= row.remaining:
            book.amend(row.id, qty=new_qty)  # keeps its place
            row.remaining, row.quantity, row.updated_at = new_qty, filled + new_qty, cycle.now
            if row.side == "sell":
                funds.units[(inst.code, row.org_id)] -= new_qty
            else:
                funds.cash[row.org_id] -= cost_fen(new_qty, new_price, row.fee_bp)
        else:
            book.cancel(row.id)
            seq = cycle.next_seq(inst.code)
            row.price_fen, row.quantity, row.remaining = new_price, filled + new_qty, new_qty
            row.priority = seq
            cycle.submit(row, new_qty, seq)
        by_taker = cycle.settle()
        record(session, actor, "amend", "market_order", row.id,
               detail={"quantity": row.quantity, "price_fen": row.price_fen,
                       "priority": row.priority})
    return Placed(row, by_taker.get(row.id, []))


def close_book(session: Session, actor: Principal, instrument: str) -> int:
    """End of the trading day (日终): every open order of ``instrument`` expires.

    Market operator only. Returns how many orders expired. Resting orders do not carry
    over to a day whose price band may no longer contain them.
    """
    actor.require_role(Role.PROVINCE_ADMIN)
    get_instrument(instrument)
    with _cycle(session, actor) as cycle:
        book = cycle.book(instrument)
        rows = list(session.scalars(select(BookOrder).where(
            BookOrder.instrument == instrument, BookOrder.status == "open")))
        for row in rows:
            book.cancel(row.id)
            row.status, row.updated_at = "expired", cycle.now
        cycle.settle()
        record(session, actor, "close_book", "market_order", instrument,
               detail={"expired": len(rows)})
    return len(rows)


# -- queries ----------------------------------------------------------------------------------

def list_orders(session: Session, actor: Principal, *, org_id: int | None = None,
                status: str | None = None, instrument: str | None = None,
                limit: int = 100) -> list[BookOrder]:
    """Orders of the actor's organisation (or ``org_id`` for staff), newest first."""
    org = actor.organisation_id if org_id is None else org_id
    if org is None:
        raise InvalidInput(f"{actor.label} belongs to no organisation",
                           hint="give org_id to list an organisation's orders")
    if actor.role not in READER_ROLES:
        require_party(actor, org)
    query = select(BookOrder).where(BookOrder.org_id == org)
    if status:
        query = query.where(BookOrder.status == status)
    if instrument:
        query = query.where(BookOrder.instrument == instrument)
    return list(session.scalars(query.order_by(BookOrder.id.desc()).limit(limit)))


def depth(session: Session, instrument: str, levels: int = 5) -> dict[str, list[list[int]]]:
    """The best ``levels`` price levels per side as [price fen, total open quantity, orders].

    Read from the committed open orders, so it never shows a cycle still in flight.
    """
    get_instrument(instrument)
    out: dict[str, list[list[int]]] = {}
    for side, best in (("buy", BookOrder.price_fen.desc()), ("sell", BookOrder.price_fen.asc())):
        rows = session.execute(
            select(BookOrder.price_fen, func.sum(BookOrder.remaining), func.count())
            .where(BookOrder.instrument == instrument, BookOrder.side == side,
                   BookOrder.status == "open")
            .group_by(BookOrder.price_fen).order_by(best).limit(levels))
        out["bids" if side == "buy" else "asks"] = [[int(p or 0), int(q), int(n)]
                                                    for p, q, n in rows]
    return out
