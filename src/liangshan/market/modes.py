"""Trading modes of Chinese environmental exchanges, as pure rules (no database).

Sources (MECHANISMS.md §1.5, MEE 碳排放权交易管理规则(试行) 2021 and the SEEE notice
of 2021-06-22, [V] for the national ETS; reused for other instruments as [K]/[NF]
per ``instruments.toml``):

* 挂牌协议 listed agreement: a single order below the block threshold, price within
  ±10 % of the previous close, tick 0.01 元, quantity step 1. The taker picks a
  listing among the counterparty's best 5 price levels and trades at its price. [V]
* 大宗协议 block agreement: a single order at or above the threshold (100,000 t for
  CEA/CCER), price within ±30 %, negotiated bilaterally. [V]
* 单向竞价 one-way bidding: the initiator announces a quantity and a reserve; qualified
  bidders quote; award by price then time, pay-as-bid. The award rule is [K]: the
  notice of each auction governs.
* opening price = the first listed trade of the day; closing price = volume-weighted
  average of the day's listed trades, previous close carried when none. [V]

Prices are integer fen per unit; quantities integers in the unit step.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from liangshan.errors import Conflict, InvalidInput
from liangshan.market.instruments import Instrument
from liangshan.market.orderbook import SELL


class Mode(StrEnum):
    LISTED = "listed"          # 挂牌协议
    BLOCK = "block"            # 大宗协议
    AUCTION = "auction"        # 单向竞价
    CONTINUOUS = "continuous"  # continuous order book (price-time priority)
    FIXED = "fixed"            # fixed-price retail sale (单株碳汇)


def check_tick_lot(instrument: Instrument, price_fen: int, qty: int) -> None:
    """Price on the tick, quantity a positive multiple of the lot."""
    if type(price_fen) is not int or price_fen <= 0:
        raise InvalidInput(f"{instrument.code}: price {price_fen!r} fen must be a positive integer")
    if price_fen % instrument.tick_fen:
        raise InvalidInput(f"{instrument.code}: price {price_fen} fen is off the tick of "
                           f"{instrument.tick_fen} fen", hint="round to the tick")
    if type(qty) is not int or qty <= 0 or qty % instrument.lot:
        raise InvalidInput(f"{instrument.code}: quantity {qty!r} {instrument.unit} is not a "
                           f"positive multiple of the lot {instrument.lot}")


def check_band(instrument: Instrument, price_fen: int, prev_close_fen: int | None,
               band_bp: int, mode: str) -> None:
    """``prev_close·(1−band) ≤ price ≤ prev_close·(1+band)``, exact in integers.

    Without a previous close (the first day) the instrument's reference price is
    used; with neither, no band applies.
    """
    ref = prev_close_fen if prev_close_fen is not None else instrument.reference_price_fen
    if ref is None or band_bp <= 0:
        return
    low_ok = price_fen * 10_000 >= ref * (10_000 - band_bp)
    high_ok = price_fen * 10_000 <= ref * (10_000 + band_bp)
    if not (low_ok and high_ok):
        raise InvalidInput(
            f"{instrument.code} {mode}: price {price_fen} fen is outside ±{band_bp / 100:g} % "
            f"of the previous close {ref} fen",
            hint=f"quote between {-(-ref * (10_000 - band_bp) // 10_000)} and "
                 f"{ref * (10_000 + band_bp) // 10_000} fen")


def check_listed(instrument: Instrument, price_fen: int, qty: int,
                 prev_close_fen: int | None) -> None:
    """Rules of a listed-agreement (挂牌协议) or continuous order."""
    check_tick_lot(instrument, price_fen, qty)
    if instrument.fixed_price_fen is not None:
        raise InvalidInput(f"{instrument.code} sells at a fixed {instrument.fixed_price_fen} fen",
                           hint="use the fixed-price sale, not the order book")
    if qty >= instrument.block_threshold:
        raise InvalidInput(f"{instrument.code}: a listed order must be below "
                           f"{instrument.block_threshold} {instrument.unit}, got {qty}",
                           hint="use a block agreement (大宗协议)")
    check_band(instrument, price_fen, prev_close_fen, instrument.listed_band_bp, "listed")


def check_block(instrument: Instrument, price_fen: int, qty: int,
                prev_close_fen: int | None) -> None:
    """Rules of a block agreement (大宗协议)."""
    check_tick_lot(instrument, price_fen, qty)
    if qty < instrument.block_threshold:
        raise InvalidInput(f"{instrument.code}: a block agreement needs at least "
                           f"{instrument.block_threshold} {instrument.unit}, got {qty}",
                           hint="use a listed agreement (挂牌协议)")
    check_band(instrument, price_fen, prev_close_fen, instrument.block_band_bp, "block")


def check_hours(instrument: Instrument, at: datetime | None, *, block: bool = False) -> None:
    """Refuse an order outside the instrument's sessions (Asia/Shanghai, Mon–Fri)."""
    if at is not None and not instrument.in_hours(at, block=block):
        raise InvalidInput(f"{instrument.code}: {at.isoformat()} is outside the "
                           f"{'block' if block else 'listed'} trading sessions",
                           hint="sessions are Monday–Friday, Asia/Shanghai time, per "
                                "instruments.toml")


def check_fixed(instrument: Instrument, price_fen: int, qty: int) -> None:
    """A fixed-price sale (单株碳汇: 3 元 per tree-year [V]) must be at exactly that price."""
    check_tick_lot(instrument, price_fen, qty)
    if instrument.fixed_price_fen is None or price_fen != instrument.fixed_price_fen:
        raise InvalidInput(f"{instrument.code}: fixed-price sale at {price_fen} fen, "
                           f"the instrument's price is {instrument.fixed_price_fen}")


@dataclass(frozen=True)
class Deal:
    """A matched trade waiting for settlement."""

    instrument: str
    mode: Mode
    seller: Hashable
    buyer: Hashable
    qty: int
    price_fen: int


def opening_price(deals: Iterable[Deal]) -> int | None:
    """The first listed trade's price of the day (fen), or None."""
    for d in deals:
        if d.mode in (Mode.LISTED, Mode.CONTINUOUS):
            return d.price_fen
    return None


def closing_price(deals: Iterable[Deal], prev_close_fen: int | None) -> int | None:
    """Volume-weighted average of the day's listed trades, half-up to the fen.

    With no listed trade the previous close carries over (MECHANISMS.md §1.5 [V]).
    """
    value = volume = 0
    for d in deals:
        if d.mode in (Mode.LISTED, Mode.CONTINUOUS):
            value += d.price_fen * d.qty
            volume += d.qty
    if volume == 0:
        return prev_close_fen
    return (2 * value + volume) // (2 * volume)


def block_deal(instrument: Instrument, seller: Hashable, buyer: Hashable, qty: int,
               price_fen: int, prev_close_fen: int | None, at: datetime | None = None) -> Deal:
    """A negotiated block agreement (大宗协议), checked against its rules (and hours if ``at``)."""
    check_hours(instrument, at, block=True)
    check_block(instrument, price_fen, qty, prev_close_fen)
    if seller == buyer:
        raise Conflict("a block agreement needs two different parties")
    return Deal(instrument.code, Mode.BLOCK, seller, buyer, qty, price_fen)


@dataclass
class Bid:
    bidder: Hashable
    qty: int
    price_fen: int
    at: datetime
    seq: int


@dataclass
class OneWayAuction:
    """单向竞价: ``initiator`` offers (side SELL) or seeks (side BUY) ``qty`` units.

    ``sealed`` auctions keep bids hidden and accept any bid at or better than the
    reserve; ``ascending`` (open) auctions also require each new bid to improve on
    the best standing bid by ``increment_fen``. Award: best price first, then
    earliest bid; each winner pays its own bid (pay-as-bid) [K]; the last winner
    may be filled partly.
    """

    instrument: Instrument
    initiator: Hashable
    side: int
    qty: int
    reserve_fen: int
    sealed: bool = True
    increment_fen: int = 1
    bids: list[Bid] = field(default_factory=list)
    closed: bool = False

    def __post_init__(self) -> None:
        check_tick_lot(self.instrument, self.reserve_fen, self.qty)

    def _better(self, a: int, b: int) -> bool:
        return a > b if self.side == SELL else a < b

    def bid(self, bidder: Hashable, qty: int, price_fen: int, at: datetime) -> Bid:
        if self.closed:
            raise Conflict("the auction is closed")
        check_tick_lot(self.instrument, price_fen, qty)
        if bidder == self.initiator:
            raise Conflict("the initiator may not bid in its own auction")
        if qty > self.qty:
            raise InvalidInput(f"bid for {qty} exceeds the {self.qty} on offer")
        if self._better(self.reserve_fen, price_fen):
            raise InvalidInput(f"bid {price_fen} fen is worse than the reserve "
                               f"{self.reserve_fen} fen")
        if not self.sealed and self.bids:
            best = max(b.price_fen for b in self.bids) if self.side == SELL else \
                min(b.price_fen for b in self.bids)
            need = best + self.increment_fen if self.side == SELL else best - self.increment_fen
            if self._better(need, price_fen):
                raise InvalidInput(f"open auction: bid {price_fen} fen must improve the best "
                                   f"bid {best} by {self.increment_fen} fen")
        b = Bid(bidder, qty, price_fen, at, len(self.bids))
        self.bids.append(b)
        return b

    def award(self) -> list[Deal]:
        """Close the auction and return the winning deals (price priority, then time)."""
        self.closed = True
        sign = -1 if self.side == SELL else 1
        ranked = sorted(self.bids, key=lambda b: (sign * b.price_fen, b.at, b.seq))
        left, deals = self.qty, []
        for b in ranked:
            if left == 0:
                break
            q = min(b.qty, left)
            q -= q % self.instrument.lot
            if q == 0:
                continue
            seller, buyer = ((self.initiator, b.bidder) if self.side == SELL
                             else (b.bidder, self.initiator))
            deals.append(Deal(self.instrument.code, Mode.AUCTION, seller, buyer, q, b.price_fen))
            left -= q
        return deals
