"""One-way bidding (单向竞价), persisted: a seller's lot, bids, the award and its settlement.

The rules are those of :class:`liangshan.market.modes.OneWayAuction` (MECHANISMS.md
§1.5): bids at or above the reserve, on the tick and lot; an ascending (open) auction
also needs each bid to beat the best standing bid by the increment; the seller may not
bid; award by price, then time, each winner paying its own bid (pay-as-bid) [K], the
last winner possibly filled in part. Here the lot and the bids live in the database,
the lot's units are reserved from the moment it is offered and each bid's money
(``quantity × price`` plus the fee, fen) from the moment it is placed
(:mod:`liangshan.market.funds`), and the award settles every winning bid as one cycle
(:func:`liangshan.market.clearing.settle_trades`): all winners' trades or none.

Sealed bids are shown to nobody but the seller and the market operator until the award.

A lot may carry a deadline, ``closes_at`` (UTC, set when the lot is offered): bids at or
after it are refused, and the award waits for it unless the market operator (province
admin) closes the auction early, giving a reason that the audit trail keeps.
"""

from __future__ import annotations

from collections.abc import Hashable
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
from liangshan.market.models import Auction, AuctionBid, Trade
from liangshan.market.modes import Bid, OneWayAuction
from liangshan.market.orderbook import SELL
from liangshan.market.orders import BOOK_FEE_BP
from liangshan.market.schemas import AuctionIn, BidIn, TradeIn


@dataclass
class Awarded:
    auction: Auction
    trades: list[Trade]


def _get(session: Session, auction_id: int) -> Auction:
    row = session.get(Auction, auction_id)
    if row is None:
        raise NotFound(f"auction {auction_id} does not exist", hint="list them at /market/auctions")
    return row


def _bids(session: Session, auction_id: int) -> list[AuctionBid]:
    return list(session.scalars(select(AuctionBid).where(AuctionBid.auction_id == auction_id)
                                .order_by(AuctionBid.id)))


def _rules(row: Auction, bids: list[AuctionBid]) -> OneWayAuction:
    """The auction as the pure rules see it; each bid's bidder is its row id."""
    auction = OneWayAuction(get_instrument(row.instrument), ("seller", row.seller_org_id), SELL,
                            row.quantity, row.reserve_fen, sealed=row.sealed,
                            increment_fen=row.increment_fen)
    auction.bids = [Bid(b.id, b.quantity, b.price_fen, b.created_at, i)
                    for i, b in enumerate(bids)]
    return auction


def _deadline(closes_at: datetime | None, now: datetime) -> datetime | None:
    """The lot's deadline checked: timezone-aware and still ahead of ``now``."""
    if closes_at is None:
        return None
    if closes_at.tzinfo is None or closes_at.utcoffset() is None:
        raise InvalidInput(f"auction closes_at {closes_at.isoformat()} has no time zone",
                           hint="give it with an offset, e.g. 2026-11-30T07:00:00Z or "
                                "2026-11-30T15:00:00+08:00")
    if closes_at <= now:
        raise InvalidInput(f"auction closes_at {closes_at.isoformat()} is not in the future "
                           f"(now {now.isoformat()})",
                           hint="set a deadline after the time the lot is offered, or none")
    return closes_at


def create_auction(session: Session, actor: Principal, data: AuctionIn, *,
                   fee_bp: int = BOOK_FEE_BP, now: datetime | None = None) -> Auction:
    """Offer a lot. The seller must hold the units free of other offers; they stay reserved
    until the award or a cancellation. ``data.closes_at`` (optional, UTC) ends the bidding.
    Replaying the key returns the auction. ``now`` (UTC) defaults to the clock."""
    require_party(actor, data.seller_org_id)
    lock_log(session)
    seen = session.scalars(select(Auction).where(
        Auction.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.instrument, seen.seller_org_id, seen.quantity, seen.reserve_fen) != (
                data.instrument, data.seller_org_id, data.quantity, data.reserve_fen):
            raise Conflict(f"idempotency key {data.idempotency_key!r} created auction {seen.id} "
                           "with other terms", hint="use a new key per auction")
        return seen
    closes_at = _deadline(data.closes_at, now or utcnow())
    inst = get_instrument(data.instrument)
    OneWayAuction(inst, data.seller_org_id, SELL, data.quantity, data.reserve_fen)  # tick, lot
    Funds(session).need_units(inst.code, data.seller_org_id, data.quantity,
                              f"auction {data.idempotency_key!r}")
    row = Auction(instrument=inst.code, seller_org_id=data.seller_org_id,
                  quantity=data.quantity, reserve_fen=data.reserve_fen, sealed=data.sealed,
                  increment_fen=data.increment_fen, fee_bp=fee_bp, status="open",
                  closes_at=closes_at, idempotency_key=data.idempotency_key)
    session.add(row)
    session.flush()
    record(session, actor, "create", "market_auction", row.id,
           detail={"quantity": row.quantity, "reserve_fen": row.reserve_fen,
                   "sealed": row.sealed,
                   "closes_at": None if closes_at is None else closes_at.isoformat()})
    return row


def place_bid(session: Session, actor: Principal, auction_id: int, data: BidIn, *,
              now: datetime | None = None) -> AuctionBid:
    """Bid in an open auction before its deadline; the bid's money (fen, with fee) is
    reserved until the award. ``now`` (UTC) defaults to the clock."""
    require_party(actor, data.org_id)
    lock_log(session)
    seen = session.scalars(select(AuctionBid).where(
        AuctionBid.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.auction_id, seen.bidder_org_id, seen.quantity, seen.price_fen) != (
                auction_id, data.org_id, data.quantity, data.price_fen):
            raise Conflict(f"idempotency key {data.idempotency_key!r} placed bid {seen.id} "
                           "with other terms", hint="use a new key per bid")
        return seen
    row = _get(session, auction_id)
    if row.status != "open":
        raise Conflict(f"auction {auction_id} is {row.status}; it takes no more bids")
    now = now or utcnow()
    if row.closes_at is not None and now >= row.closes_at:
        raise Conflict(f"auction {auction_id} closed for bids at {row.closes_at.isoformat()} "
                       f"(bid at {now.isoformat()}); bids at or after the deadline are refused",
                       hint="the auction now waits for its award")
    if data.org_id == row.seller_org_id:
        raise Conflict("the seller may not bid in its own auction")
    _rules(row, _bids(session, auction_id)).bid(("bidder", data.org_id), data.quantity,
                                                data.price_fen, now)
    Funds(session).need_cash(data.org_id, cost_fen(data.quantity, data.price_fen, row.fee_bp),
                             f"bid {data.idempotency_key!r}")
    bid = AuctionBid(auction_id=auction_id, bidder_org_id=data.org_id, quantity=data.quantity,
                     price_fen=data.price_fen, won=0, idempotency_key=data.idempotency_key,
                     created_at=now)
    session.add(bid)
    session.flush()
    record(session, actor, "bid", "market_auction", auction_id,
           detail={"bid": bid.id, "quantity": bid.quantity, "price_fen": bid.price_fen})
    return bid


def award_auction(session: Session, actor: Principal, auction_id: int, *,
                  force_reason: str | None = None, now: datetime | None = None) -> Awarded:
    """Close the auction and settle the winning bids (seller or market operator).

    Before the lot's deadline the award is refused, unless the market operator (province
    admin) forces an early close with ``force_reason``, which the audit record keeps.
    Awarding an awarded auction returns it with its trades. ``now`` (UTC) defaults to the
    clock.
    """
    lock_log(session)
    row = _get(session, auction_id)
    require_party(actor, row.seller_org_id)
    if row.status == "awarded":
        return Awarded(row, list(session.scalars(select(Trade).where(
            Trade.idempotency_key.like(f"auction:{auction_id}:%")).order_by(Trade.id))))
    if row.status != "open":
        raise Conflict(f"auction {auction_id} is {row.status}; it cannot be awarded")
    now = now or utcnow()
    early = row.closes_at is not None and now < row.closes_at
    reason = (force_reason or "").strip()
    if early and not reason:
        assert row.closes_at is not None
        raise Conflict(f"auction {auction_id} takes bids until {row.closes_at.isoformat()} "
                       f"(now {now.isoformat()}); it cannot be awarded before its deadline",
                       hint="wait for the deadline, or have the market operator close it "
                            "early with a reason")
    if early and actor.role is not Role.PROVINCE_ADMIN:
        raise Forbidden(f"{actor.label} may not close auction {auction_id} before its deadline",
                        hint="only the market operator (province admin) closes an auction early")
    listed = _bids(session, auction_id)
    bids: dict[Hashable, AuctionBid] = {b.id: b for b in listed}
    deals = _rules(row, listed).award()
    trades = []
    for d in deals:
        bid = bids[d.buyer]
        bid.won = d.qty
        trades.append(TradeIn(instrument=row.instrument, mode="auction",
                              seller_org_id=row.seller_org_id, buyer_org_id=bid.bidder_org_id,
                              quantity=d.qty, price_fen=d.price_fen,
                              idempotency_key=f"auction:{auction_id}:{bid.id}",
                              fee_bp=row.fee_bp))
    row.status, row.awarded_at = "awarded", now
    settled = settle_trades(session, actor, trades, cycle_key=f"auction:{auction_id}")
    session.flush()
    detail: dict[str, Any] = {"trades": [t.id for t in settled], "sold": sum(d.qty for d in deals)}
    if early:  # the reason goes to the audit row's own reason column
        detail["early_close_before"] = row.closes_at.isoformat() if row.closes_at else None
    record(session, actor, "award", "market_auction", auction_id, detail=detail,
           reason=reason if early else None)
    return Awarded(row, settled)


def cancel_auction(session: Session, actor: Principal, auction_id: int) -> Auction:
    """Withdraw an open auction that has no bids yet (seller or market operator)."""
    lock_log(session)
    row = _get(session, auction_id)
    require_party(actor, row.seller_org_id)
    if row.status != "open":
        raise Conflict(f"auction {auction_id} is {row.status}")
    if _bids(session, auction_id):
        raise Conflict(f"auction {auction_id} has bids; award it instead",
                       hint="a lot with bids cannot be withdrawn")
    row.status = "cancelled"
    session.flush()
    record(session, actor, "cancel", "market_auction", auction_id)
    return row


def auction_view(session: Session, actor: Principal | None, auction_id: int) -> dict[str, Any]:
    """The auction and the bids the viewer may see: all once awarded; while open, an
    ascending auction's bids (without bidders), a sealed one's count only — except for
    the seller and staff, who see everything, and a bidder, who sees its own bids."""
    row = _get(session, auction_id)
    bids = _bids(session, auction_id)
    staff = actor is not None and (actor.role in READER_ROLES
                                   or actor.organisation_id == row.seller_org_id)
    mine = None if actor is None else actor.organisation_id
    shown = []
    for b in bids:
        if row.status == "awarded" or staff or b.bidder_org_id == mine:
            shown.append({"id": b.id, "bidder_org_id": b.bidder_org_id, "quantity": b.quantity,
                          "price_fen": b.price_fen, "won": b.won,
                          "at": b.created_at.isoformat()})
        elif not row.sealed:
            shown.append({"id": b.id, "quantity": b.quantity, "price_fen": b.price_fen,
                          "at": b.created_at.isoformat()})
    return {"id": row.id, "instrument": row.instrument, "seller_org_id": row.seller_org_id,
            "quantity": row.quantity, "reserve_fen": row.reserve_fen, "sealed": row.sealed,
            "increment_fen": row.increment_fen, "status": row.status, "bid_count": len(bids),
            "closes_at": row.closes_at,
            "bids": shown}


def list_auctions(session: Session, *, status: str | None = None,
                  instrument: str | None = None) -> list[Auction]:
    query = select(Auction).order_by(Auction.id.desc())
    if status:
        query = query.where(Auction.status == status)
    if instrument:
        query = query.where(Auction.instrument == instrument)
    return list(session.scalars(query.limit(500)))
