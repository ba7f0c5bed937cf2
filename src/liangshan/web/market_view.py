"""What the market page shows, read through the market's services (no writes, no rules of its own).

* the order book's depth of one instrument — best 5 levels per side (price fen per unit,
  open quantity in the instrument's unit, number of orders), from
  :func:`liangshan.market.orders.depth`;
* the listed-agreement board (挂牌协议): open listings per instrument — side, price fen
  per unit, remaining quantity, posted time, never the owner — and the number of block
  deals (大宗) settled today (Asia/Shanghai), from :mod:`liangshan.market.service`;
* the open auctions (单向竞价), with their deadlines, and the bids *everyone* may see: an ascending auction's
  standing bids without bidders; a sealed auction's bid count only. The page asks
  :func:`liangshan.market.auctions.auction_view` as an anonymous viewer for this, so a
  seller or staff member looking at the public list never puts a sealed amount on it;
* a participant's own position — held and free units per instrument, money balance and
  free money (fen; free = ledger balance less what open orders, lots and bids reserve,
  :func:`liangshan.market.service.holdings_view`, which opens no account: a GET writes
  nothing), open orders, and its bids in open auctions.
  Only a user of an organisation has a position, and it is only ever that organisation's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.identity.access import Principal
from liangshan.market import auctions, orders
from liangshan.market import service as market
from liangshan.market.instruments import SHANGHAI, Instrument
from liangshan.market.models import BookOrder

#: Price levels per side of the depth table.
DEPTH_LEVELS = 5


@dataclass
class Level:
    """One price level: ``price_fen`` per unit, ``quantity`` open units, ``orders`` count."""

    price_fen: int
    quantity: int
    orders: int


@dataclass
class Depth:
    bids: list[Level]   # best (highest) first
    asks: list[Level]   # best (lowest) first

    @property
    def spread_fen(self) -> int | None:
        """Best ask less best bid (fen), or None while a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price_fen - self.bids[0].price_fen


def busiest_book(session: Session, codes: list[str]) -> str:
    """The instrument with the most open orders (the first code when every book is empty):
    what a visitor who chose none sees first."""
    counts = {code: int(n) for code, n in session.execute(
        select(BookOrder.instrument, func.count()).where(BookOrder.status == "open")
        .group_by(BookOrder.instrument))}
    return max(codes, key=lambda c: (counts.get(c, 0), -codes.index(c)))


def book_depth(session: Session, instrument: str) -> Depth:
    raw = orders.depth(session, instrument, DEPTH_LEVELS)
    return Depth(bids=[Level(*row) for row in raw["bids"]],
                 asks=[Level(*row) for row in raw["asks"]])


def depth_chart(depth: Depth, inst: Instrument, lang: str) -> dict[str, Any]:
    """The depth chart's data: per side [price 元 per unit, cumulative open quantity], best
    first. 元 are floats for plotting only; the table shows the exact fen."""
    def walk(levels: list[Level]) -> list[list[float]]:
        total, points = 0, []
        for lv in levels:
            total += lv.quantity
            points.append([lv.price_fen / 100, total])
        return points

    return {"unit": inst.unit, "lang": lang, "bids": walk(depth.bids), "asks": walk(depth.asks)}


def open_auctions(session: Session) -> list[dict[str, Any]]:
    """Open auctions, newest first, as an anonymous visitor may see them.

    Each: id, instrument, quantity, reserve_fen, sealed, increment_fen, bid_count,
    ``best_fen`` (the best standing bid of an ascending auction, None when sealed or
    without bids), ``bids`` (ascending only), ``opened`` (when the lot was offered) and
    ``closes_at`` (the bidding deadline, None when the lot runs until awarded).
    """
    shown = []
    for row in auctions.list_auctions(session, status="open"):
        view = auctions.auction_view(session, None, row.id)
        prices = [b["price_fen"] for b in view["bids"]]
        view["best_fen"] = max(prices) if prices and not row.sealed else None
        view["opened"] = row.created_at
        shown.append(view)
    return shown


@dataclass
class Position:
    """A participant's own holdings (units, fen) and its open orders and bids."""

    org_id: int
    cash_fen: int
    free_cash_fen: int
    units: list[dict[str, Any]] = field(default_factory=list)
    open_orders: list[BookOrder] = field(default_factory=list)
    bids: list[dict[str, Any]] = field(default_factory=list)


def position(session: Session, principal: Principal | None,
             instruments: dict[str, Instrument]) -> Position | None:
    """The logged-in organisation's position, or None for anyone without an organisation."""
    if principal is None or principal.organisation_id is None:
        return None
    org = principal.organisation_id
    held_now = market.holdings_view(session, org, instruments)
    pos = Position(org_id=org, cash_fen=held_now.cash_fen, free_cash_fen=held_now.free_cash_fen)
    for code in sorted(held_now.units.keys() | held_now.pledged.keys()):
        held, free = held_now.units.get(code, (0, 0))
        pos.units.append({"instrument": code, "unit": instruments[code].unit, "held": held,
                          "free": free, "pledged": held_now.pledged.get(code, 0)})
    pos.open_orders = orders.list_orders(session, principal, status="open")
    for row in auctions.list_auctions(session, status="open"):
        view = auctions.auction_view(session, principal, row.id)
        for bid in view["bids"]:
            if bid.get("bidder_org_id") == org:
                pos.bids.append({**bid, "auction_id": row.id, "instrument": row.instrument,
                                 "sealed": row.sealed})
    return pos


@dataclass
class ListedBoard:
    """The public listed-agreement board: open listings per instrument code (no owners)
    and the count of block deals settled on ``day`` (Asia/Shanghai)."""

    listings: dict[str, list[market.BoardRow]]
    day: date
    blocks_settled: int


def listed_board(session: Session, instruments: dict[str, Instrument],
                 day: date | None = None) -> ListedBoard:
    """The board for the page; ``day`` defaults to today in Asia/Shanghai."""
    day = day or utcnow().astimezone(SHANGHAI).date()
    return ListedBoard(listings=market.listed_board(session, instruments), day=day,
                       blocks_settled=market.block_deals_settled_on(session, day))
