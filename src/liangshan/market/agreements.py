"""Listed agreements (挂牌协议) and block agreements (大宗协议), persisted and settled.

The rules are those of :mod:`liangshan.market.modes` (MECHANISMS.md §1.5; MEE
碳排放权交易管理规则(试行) 2021 and the SEEE notice of 2021-06-22 [V] for the national
ETS, reused per ``instruments.toml`` with its tags):

* 挂牌协议: a participant lists an offer (sell) or a bid (buy) below the block
  threshold, on the tick and lot, within ±10 % of the previous close; a listing may
  not cross the best opposite listing (accept that one instead). A counterparty
  accepts (摘牌) all or part of a listing among the best 5 price levels of its side,
  at the listing's price. Listed trades make the daily closing price (VWAP).
* 大宗协议: two named parties agree a deal at or above the threshold, within ±30 %.
  The proposer's side counts as confirmed; the other party confirms or rejects. A
  block trade never makes the closing price.

Reservations go through :class:`liangshan.market.funds.Funds`: an open sell listing
holds its remaining units and an open buy listing ``remaining × price`` plus the fee
(fen); a proposed block deal holds the units or money of each side that confirmed. So
no unit is sold twice across the order book, auctions, listings and block deals.
Every accepted or confirmed deal settles at once, delivery versus payment, through
:func:`liangshan.market.clearing.settle_trades` (trade keys ``listed:<fill id>`` and
``block:<deal id>``). Every command takes an idempotency key (confirm, reject and
withdraw are idempotent by state); replaying it returns the first result, and a key
reused for other terms is a :class:`~liangshan.errors.Conflict`.

Fees: ``fee_bp`` basis points of the gross per side, set when the listing or deal is
made (:data:`~liangshan.market.orders.BOOK_FEE_BP` by default, [NF]). Trading hours
are checked only when the caller passes ``at``. Functions flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import READER_ROLES, Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger.log import lock_log
from liangshan.market.clearing import settle_trades
from liangshan.market.funds import Funds, cost_fen
from liangshan.market.instruments import get_instrument
from liangshan.market.issuance import require_party
from liangshan.market.models import BlockDeal, ListedFill, ListedOrder, Trade
from liangshan.market.modes import check_block, check_hours, check_listed, check_tick_lot
from liangshan.market.orders import BOOK_FEE_BP
from liangshan.market.schemas import AcceptIn, BlockIn, ListedIn, TradeIn
from liangshan.market.settlement import previous_close, trade_day

#: How many best price levels a taker may choose from (摘牌: 买卖申报前5个价位) [V].
TAKE_LEVELS = 5


@dataclass
class Accepted:
    listing: ListedOrder
    fill: ListedFill
    trade: Trade


def _prev_close(session: Session, instrument: str) -> int | None:
    return previous_close(session, instrument, trade_day(utcnow()))


# -- listed agreement (挂牌协议) ----------------------------------------------------------------

def _best(session: Session, instrument: str, side: str, levels: int) -> list[int]:
    """The best ``levels`` distinct prices (fen) of the open listings on ``side``."""
    price = ListedOrder.price_fen
    return list(session.scalars(
        select(price).where(ListedOrder.instrument == instrument, ListedOrder.side == side,
                            ListedOrder.status == "open")
        .group_by(price).order_by(price.desc() if side == "buy" else price.asc())
        .limit(levels)))


def post_listing(session: Session, actor: Principal, data: ListedIn, *,
                 fee_bp: int = BOOK_FEE_BP, at: datetime | None = None) -> ListedOrder:
    """List an offer (sell) or a bid (buy) on the board; it rests until accepted,
    withdrawn or expired. A sell needs free units, a buy free money for
    ``quantity × price`` plus the fee (fen); both stay reserved while it is open."""
    require_party(actor, data.org_id)
    lock_log(session)
    seen = session.scalars(select(ListedOrder).where(
        ListedOrder.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.instrument, seen.org_id, seen.side, seen.quantity, seen.price_fen) != (
                data.instrument, data.org_id, data.side, data.quantity, data.price_fen):
            raise Conflict(f"idempotency key {data.idempotency_key!r} posted listing {seen.id} "
                           "with other terms", hint="use a new key per listing")
        return seen
    inst = get_instrument(data.instrument)
    check_hours(inst, at)
    check_listed(inst, data.price_fen, data.quantity, _prev_close(session, inst.code))
    other = "sell" if data.side == "buy" else "buy"
    best = _best(session, inst.code, other, 1)
    if best and (data.price_fen >= best[0] if data.side == "buy" else data.price_fen <= best[0]):
        raise Conflict(f"{inst.code}: a {data.side} listing at {data.price_fen} fen would cross "
                       f"the best {'offer' if other == 'sell' else 'bid'} at {best[0]} fen",
                       hint="accept that listing instead (摘牌)")
    what = f"listing {data.idempotency_key!r}"
    funds = Funds(session)
    if data.side == "sell":
        funds.need_units(inst.code, data.org_id, data.quantity, what)
    else:
        funds.need_cash(data.org_id, cost_fen(data.quantity, data.price_fen, fee_bp), what)
    now = utcnow()
    row = ListedOrder(instrument=inst.code, org_id=data.org_id, side=data.side,
                      price_fen=data.price_fen, quantity=data.quantity, remaining=data.quantity,
                      status="open", fee_bp=fee_bp, idempotency_key=data.idempotency_key,
                      placed_by=actor.user_id, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    record(session, actor, "list", "market_listed", row.id,
           detail={"side": row.side, "quantity": row.quantity, "price_fen": row.price_fen,
                   "instrument": row.instrument})
    return row


def _listing(session: Session, listing_id: int) -> ListedOrder:
    row = session.get(ListedOrder, listing_id)
    if row is None:
        raise NotFound(f"listing {listing_id} does not exist", hint="see GET /market/listed")
    return row


def accept_listing(session: Session, actor: Principal, listing_id: int, data: AcceptIn, *,
                   at: datetime | None = None) -> Accepted:
    """Take ``data.quantity`` of an open listing at its price (摘牌) and settle the trade.

    The listing must be among the best 5 price levels of its side; the taker may not be
    its owner; a buying taker needs free money for the cost (fen, with the listing's
    fee), a selling taker free units. Replaying the key returns the first acceptance.
    """
    require_party(actor, data.org_id)
    lock_log(session)
    seen = session.scalars(select(ListedFill).where(
        ListedFill.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.listing_id, seen.taker_org_id, seen.quantity) != (
                listing_id, data.org_id, data.quantity):
            raise Conflict(f"idempotency key {data.idempotency_key!r} accepted listing "
                           f"{seen.listing_id} with other terms", hint="use a new key per accept")
        assert seen.trade_id is not None
        return Accepted(_listing(session, seen.listing_id), seen,
                        session.get_one(Trade, seen.trade_id))
    row = _listing(session, listing_id)
    if row.status != "open":
        raise Conflict(f"listing {listing_id} is {row.status}; only open listings can be accepted")
    inst = get_instrument(row.instrument)
    check_hours(inst, at)
    if data.org_id == row.org_id:
        raise Conflict(f"listing {listing_id} is organisation {data.org_id}'s own",
                       hint="withdraw it instead")
    levels = _best(session, inst.code, row.side, TAKE_LEVELS)
    if row.price_fen not in levels:
        raise Conflict(f"listing {listing_id} at {row.price_fen} fen is not among the best "
                       f"{TAKE_LEVELS} price levels {levels}",
                       hint=f"accept a listing from the best {TAKE_LEVELS}")
    check_tick_lot(inst, row.price_fen, data.quantity)
    if data.quantity > row.remaining:
        raise InvalidInput(f"listing {listing_id} has {row.remaining} {inst.unit} left, "
                           f"asked for {data.quantity}", hint="accept at most what is left")
    what = f"accept {data.idempotency_key!r}"
    if row.side == "sell":
        Funds(session).need_cash(data.org_id, cost_fen(data.quantity, row.price_fen, row.fee_bp),
                                 what)
        seller, buyer = row.org_id, data.org_id
    else:
        Funds(session).need_units(inst.code, data.org_id, data.quantity, what)
        seller, buyer = data.org_id, row.org_id
    row.remaining -= data.quantity
    row.status = "filled" if row.remaining == 0 else "open"
    row.updated_at = utcnow()
    fill = ListedFill(listing_id=row.id, taker_org_id=data.org_id, quantity=data.quantity,
                      idempotency_key=data.idempotency_key)
    session.add(fill)
    session.flush()
    trade = settle_trades(session, actor, [TradeIn(
        instrument=inst.code, mode="listed", seller_org_id=seller, buyer_org_id=buyer,
        quantity=data.quantity, price_fen=row.price_fen, idempotency_key=f"listed:{fill.id}",
        fee_bp=row.fee_bp)], cycle_key=f"listed:{fill.id}")[0]
    fill.trade_id = trade.id
    session.flush()
    record(session, actor, "accept", "market_listed", row.id,
           detail={"fill": fill.id, "quantity": fill.quantity, "trade": trade.id})
    return Accepted(row, fill, trade)


def withdraw_listing(session: Session, actor: Principal, listing_id: int) -> ListedOrder:
    """Withdraw an open listing; its reservation ends. Withdrawing twice returns it."""
    lock_log(session)
    row = _listing(session, listing_id)
    require_party(actor, row.org_id)
    if row.status == "withdrawn":
        return row
    if row.status != "open":
        raise Conflict(f"listing {listing_id} is {row.status}; only open listings can be "
                       "withdrawn")
    row.status, row.updated_at = "withdrawn", utcnow()
    session.flush()
    record(session, actor, "withdraw", "market_listed", row.id,
           detail={"remaining": row.remaining})
    return row


def expire_listings(session: Session, actor: Principal, instrument: str) -> int:
    """End of the trading day (日终): every open listing of ``instrument`` expires, so none
    carries into a day whose band may exclude it. Market operator only; returns the count."""
    actor.require_role(Role.PROVINCE_ADMIN)
    get_instrument(instrument)
    lock_log(session)
    rows = list(session.scalars(select(ListedOrder).where(
        ListedOrder.instrument == instrument, ListedOrder.status == "open")))
    now = utcnow()
    for row in rows:
        row.status, row.updated_at = "expired", now
    session.flush()
    record(session, actor, "expire", "market_listed", instrument, detail={"expired": len(rows)})
    return len(rows)


def board(session: Session, instrument: str, side: str | None = None) -> list[ListedOrder]:
    """Open listings of ``instrument``: bids best (highest) first, then offers best first."""
    get_instrument(instrument)
    out: list[ListedOrder] = []
    for s, order in (("buy", ListedOrder.price_fen.desc()), ("sell", ListedOrder.price_fen)):
        if side in (None, s):
            out.extend(session.scalars(select(ListedOrder).where(
                ListedOrder.instrument == instrument, ListedOrder.side == s,
                ListedOrder.status == "open").order_by(order, ListedOrder.id).limit(500)))
    return out


# -- block agreement (大宗协议) -----------------------------------------------------------------

def propose_block(session: Session, actor: Principal, data: BlockIn, *,
                  fee_bp: int = BOOK_FEE_BP, at: datetime | None = None) -> BlockDeal:
    """Propose a block deal to the named counterparty; the proposer's side is confirmed
    and reserved at once (its units, or ``quantity × price`` plus the fee in fen)."""
    require_party(actor, data.org_id)
    if data.org_id not in (data.seller_org_id, data.buyer_org_id):
        raise InvalidInput(f"the proposer {data.org_id} must be the seller "
                           f"{data.seller_org_id} or the buyer {data.buyer_org_id}",
                           hint="a block agreement is negotiated between its two parties")
    if data.seller_org_id == data.buyer_org_id:
        raise Conflict("a block agreement needs two different parties")
    lock_log(session)
    seen = session.scalars(select(BlockDeal).where(
        BlockDeal.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.instrument, seen.seller_org_id, seen.buyer_org_id, seen.quantity,
                seen.price_fen, seen.proposer_org_id) != (
                data.instrument, data.seller_org_id, data.buyer_org_id, data.quantity,
                data.price_fen, data.org_id):
            raise Conflict(f"idempotency key {data.idempotency_key!r} proposed block deal "
                           f"{seen.id} with other terms", hint="use a new key per proposal")
        return seen
    inst = get_instrument(data.instrument)
    check_hours(inst, at, block=True)
    check_block(inst, data.price_fen, data.quantity, _prev_close(session, inst.code))
    selling = data.org_id == data.seller_org_id
    what = f"block deal {data.idempotency_key!r}"
    if selling:
        Funds(session).need_units(inst.code, data.org_id, data.quantity, what)
    else:
        Funds(session).need_cash(data.org_id, cost_fen(data.quantity, data.price_fen, fee_bp),
                                 what)
    row = BlockDeal(instrument=inst.code, seller_org_id=data.seller_org_id,
                    buyer_org_id=data.buyer_org_id, quantity=data.quantity,
                    price_fen=data.price_fen, fee_bp=fee_bp, proposer_org_id=data.org_id,
                    seller_confirmed=selling, buyer_confirmed=not selling, status="proposed",
                    idempotency_key=data.idempotency_key, updated_at=utcnow())
    session.add(row)
    session.flush()
    record(session, actor, "propose", "market_block", row.id,
           detail={"seller": row.seller_org_id, "buyer": row.buyer_org_id,
                   "quantity": row.quantity, "price_fen": row.price_fen})
    return row


def _deal(session: Session, actor: Principal, deal_id: int, org_id: int) -> BlockDeal:
    row = session.get(BlockDeal, deal_id)
    if row is None:
        raise NotFound(f"block deal {deal_id} does not exist")
    require_party(actor, org_id)
    if org_id not in (row.seller_org_id, row.buyer_org_id):
        raise Forbidden(f"organisation {org_id} is not a party to block deal {deal_id}",
                        hint=f"its parties are {row.seller_org_id} and {row.buyer_org_id}")
    return row


def confirm_block(session: Session, actor: Principal, deal_id: int, org_id: int, *,
                  at: datetime | None = None) -> tuple[BlockDeal, Trade | None]:
    """Confirm a proposed block deal for ``org_id``; once both sides have, it settles.

    Confirming a settled deal again returns it with its trade. The rules (threshold,
    ±30 % band of the day's previous close) are checked again at settlement.
    """
    lock_log(session)
    row = _deal(session, actor, deal_id, org_id)
    if row.status == "settled":
        assert row.trade_id is not None
        return row, session.get_one(Trade, row.trade_id)
    if row.status != "proposed":
        raise Conflict(f"block deal {deal_id} is {row.status}; it cannot be confirmed")
    check_hours(get_instrument(row.instrument), at, block=True)
    selling = org_id == row.seller_org_id
    if (row.seller_confirmed if selling else row.buyer_confirmed):
        return row, None  # already confirmed by this side; waiting for the other
    what = f"block deal {deal_id}"
    if selling:
        Funds(session).need_units(row.instrument, org_id, row.quantity, what)
        row.seller_confirmed = True
    else:
        Funds(session).need_cash(org_id, cost_fen(row.quantity, row.price_fen, row.fee_bp), what)
        row.buyer_confirmed = True
    row.status, row.updated_at = "settled", utcnow()  # the reservation ends as it settles
    session.flush()
    trade = settle_trades(session, actor, [TradeIn(
        instrument=row.instrument, mode="block", seller_org_id=row.seller_org_id,
        buyer_org_id=row.buyer_org_id, quantity=row.quantity, price_fen=row.price_fen,
        idempotency_key=f"block:{row.id}", fee_bp=row.fee_bp)], cycle_key=f"block:{row.id}")[0]
    row.trade_id = trade.id
    session.flush()
    record(session, actor, "confirm", "market_block", row.id,
           detail={"org": org_id, "trade": trade.id})
    return row, trade


def reject_block(session: Session, actor: Principal, deal_id: int, org_id: int) -> BlockDeal:
    """Reject (counterparty) or withdraw (proposer) a proposed block deal; its
    reservation ends. Rejecting a rejected deal returns it."""
    lock_log(session)
    row = _deal(session, actor, deal_id, org_id)
    if row.status == "rejected":
        return row
    if row.status != "proposed":
        raise Conflict(f"block deal {deal_id} is {row.status}; it cannot be rejected")
    row.status, row.rejected_by, row.updated_at = "rejected", org_id, utcnow()
    session.flush()
    record(session, actor, "reject", "market_block", row.id, detail={"org": org_id})
    return row


def block_view(session: Session, actor: Principal, deal_id: int) -> dict[str, Any]:
    """A block deal, for its parties and staff only (negotiations are not public)."""
    row = session.get(BlockDeal, deal_id)
    if row is None:
        raise NotFound(f"block deal {deal_id} does not exist")
    if actor.role not in READER_ROLES and actor.organisation_id not in (
            row.seller_org_id, row.buyer_org_id):
        raise Forbidden(f"{actor.label} is not a party to block deal {deal_id}")
    return {c: getattr(row, c) for c in (
        "id", "instrument", "seller_org_id", "buyer_org_id", "quantity", "price_fen", "fee_bp",
        "proposer_org_id", "seller_confirmed", "buyer_confirmed", "status", "rejected_by",
        "trade_id", "created_at", "updated_at")}
