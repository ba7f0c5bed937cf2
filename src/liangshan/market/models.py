"""Market tables: issuances, serial-numbered unit blocks, retirements, trades, daily prices,
orders and order-book state, one-way-bidding auctions and bids,
eco-product listings and demands, and promotion events (推介会).

Balances are not stored here: they live in the ledger (DESIGN §3 rule 3). A unit
block says *which* serials an account holds; the ledger says *how many*. The
block rows change only together with a ledger entry, in the same transaction.
Money is integer fen; quantities are integers in the instrument's unit step.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, Timestamped, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Issuance(Timestamped, Base):
    """Units created against evidence: ``serial_start``–``serial_end`` of one vintage."""

    __tablename__ = "market_issuances"
    __table_args__ = (
        UniqueConstraint("instrument", "evidence_key", "period_start", "period_end",
                         name="uq_market_issuances_evidence_period"),
        CheckConstraint("serial_end >= serial_start", name="serial_order"),
        CheckConstraint("quantity > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    vintage: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    evidence_kind: Mapped[str] = mapped_column(String(24))
    #: the parcel code, project reference or region code the units are issued against
    evidence_key: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    verification_ref: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(BigInteger)
    serial_start: Mapped[int] = mapped_column(BigInteger)
    serial_end: Mapped[int] = mapped_column(BigInteger)
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: [{"org_id": int, "share_bp": int, "role": str}] paid from primary-sale proceeds
    beneficiaries: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))


class UnitBlock(Timestamped, Base):
    """Serials ``serial_start``–``serial_end`` (inclusive) of one issuance, where they are now.

    ``status``: active (in ``account_code``), retired, cancelled, or superseded (the
    block was split or moved; its successors carry ``parent_id``). The current
    blocks (all but superseded) of an instrument and vintage never overlap.
    """

    __tablename__ = "market_unit_blocks"
    __table_args__ = (
        Index("ix_market_unit_blocks_holding", "instrument", "account_code", "status"),
        CheckConstraint("serial_end >= serial_start", name="serial_order"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32))
    vintage: Mapped[int] = mapped_column(Integer)
    serial_start: Mapped[int] = mapped_column(BigInteger)
    serial_end: Mapped[int] = mapped_column(BigInteger)
    issuance_id: Mapped[int] = mapped_column(ForeignKey("market_issuances.id"), index=True)
    account_code: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), index=True)
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Retirement(Timestamped, Base):
    """Units retired for a beneficiary and a purpose, or cancelled by the registry."""

    __tablename__ = "market_retirements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))  # retire / cancel
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    beneficiary: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    serials: Mapped[list[str]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))


class Trade(Timestamped, Base):
    """A settled trade: units and money moved in one transaction (two journal entries)."""

    __tablename__ = "market_trades"
    __table_args__ = (CheckConstraint("quantity > 0 AND price_fen > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    buyer_fee_fen: Mapped[int] = mapped_column(BigInteger)
    seller_fee_fen: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    serials: Mapped[list[str]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    unit_entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    money_entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DailyPrice(Base):
    """Opening and closing price (fen) of a trading day (Asia/Shanghai date)."""

    __tablename__ = "market_daily_prices"
    __table_args__ = (UniqueConstraint("instrument", "day", name="uq_market_daily_prices_day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    open_fen: Mapped[int | None] = mapped_column(BigInteger)
    close_fen: Mapped[int] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)


class Listing(Timestamped, Base):
    """An eco-product offered for sale (挂牌): ``quantity`` in ``unit``, ``price_fen`` per unit."""

    __tablename__ = "market_listings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product: Mapped[str] = mapped_column(String(100), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(16))
    quality_grade: Mapped[int] = mapped_column(Integer)  # 1 best … 5
    price_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="open")
    description: Mapped[str] = mapped_column(Text, default="")


class Demand(Timestamped, Base):
    """A buyer's demand: product, region prefix, quantity, worst acceptable grade, price range."""

    __tablename__ = "market_demands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product: Mapped[str] = mapped_column(String(100), index=True)
    region_prefix: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[int] = mapped_column(BigInteger)
    max_grade: Mapped[int] = mapped_column(Integer)
    price_min_fen: Mapped[int] = mapped_column(BigInteger)
    price_max_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="open")


class PromotionEvent(Timestamped, Base):
    """A 推介会: listings presented to invited buyers on a day in a region."""

    __tablename__ = "market_promotion_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12))
    held_on: Mapped[date] = mapped_column(Date)
    listing_ids: Mapped[list[int]] = mapped_column(JSON)
    demand_ids: Mapped[list[int]] = mapped_column(JSON)


class BookState(Base):
    """One row per instrument's order book: the priority counter and the book's version.

    ``seq`` grows by one at every book event (placement, amend that re-queues): it is
    the time priority of the order placed at that event. ``version`` is a fresh random
    token at every committed change, so an in-process engine can tell whether it still
    mirrors the database (a rolled-back or another process's change makes it stale).
    """

    __tablename__ = "market_books"

    instrument: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[str] = mapped_column(String(32))


class BookOrder(Timestamped, Base):
    """An order of the continuous order book (limit or market), as placed and as it stands.

    ``quantity`` is what was asked (after amends), ``remaining`` what is still open;
    ``price_fen`` is None for a market order (which never rests). ``priority`` is the
    book's ``seq`` when the order last joined the back of its price queue: lowering
    the quantity keeps it, raising it or changing the price takes a new one.
    ``status``: open, filled, cancelled, or expired (a market order's unfilled rest).
    """

    __tablename__ = "market_orders"
    __table_args__ = (
        Index("ix_market_orders_book", "instrument", "status", "priority"),
        Index("ix_market_orders_owner", "org_id", "status"),
        CheckConstraint("quantity > 0 AND remaining >= 0 AND remaining <= quantity",
                        name="quantities"),
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    side: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(8))  # limit / market
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    priority: Mapped[int] = mapped_column(BigInteger)
    fee_bp: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    placed_by: Mapped[int | None] = mapped_column(Integer)  # user id
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Auction(Timestamped, Base):
    """单向竞价: a seller's lot of ``quantity`` units offered above ``reserve_fen``.

    ``sealed``: bids stay hidden until the award; otherwise (ascending) each bid must
    beat the best standing bid by ``increment_fen``. ``status``: open, awarded, cancelled.
    ``closes_at`` (UTC, optional): bids at or after it are refused, and the award waits
    for it unless the market operator closes early with a reason.
    """

    __tablename__ = "market_auctions"
    __table_args__ = (CheckConstraint("quantity > 0 AND reserve_fen > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    reserve_fen: Mapped[int] = mapped_column(BigInteger)
    sealed: Mapped[bool] = mapped_column()
    increment_fen: Mapped[int] = mapped_column(BigInteger)
    fee_bp: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    awarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuctionBid(Timestamped, Base):
    """A bid in an auction; ``won`` is the quantity awarded (0 until and unless it wins)."""

    __tablename__ = "market_auction_bids"
    __table_args__ = (CheckConstraint("quantity > 0 AND price_fen > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    auction_id: Mapped[int] = mapped_column(ForeignKey("market_auctions.id"), index=True)
    bidder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    won: Mapped[int] = mapped_column(BigInteger, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class ListedOrder(Timestamped, Base):
    """A listed-agreement (挂牌协议) listing: a seller's offer or a buyer's bid on the board.

    Counterparties accept all or part of it at its price (摘牌); ``remaining`` is what is
    still on offer. ``status``: open, filled, withdrawn, or expired (end of day).
    While open it reserves the seller's units or the buyer's money (fen, with the fee).
    """

    __tablename__ = "market_listed_orders"
    __table_args__ = (
        Index("ix_market_listed_orders_board", "instrument", "status", "side", "price_fen"),
        Index("ix_market_listed_orders_owner", "org_id", "status"),
        CheckConstraint("quantity > 0 AND remaining >= 0 AND remaining <= quantity "
                        "AND price_fen > 0", name="quantities"),
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    side: Mapped[str] = mapped_column(String(4))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    fee_bp: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    placed_by: Mapped[int | None] = mapped_column(Integer)  # user id
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ListedFill(Timestamped, Base):
    """One acceptance (摘牌) of a listing: who took how much, and the trade it settled."""

    __tablename__ = "market_listed_fills"
    __table_args__ = (CheckConstraint("quantity > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("market_listed_orders.id"), index=True)
    taker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("market_trades.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class BlockDeal(Timestamped, Base):
    """A block agreement (大宗协议) negotiated between two named parties.

    The proposer's side is confirmed at once; the deal settles when the other side
    confirms. While ``proposed``, each confirmed side reserves its units or money (fen,
    with the fee). ``status``: proposed, settled, rejected (by either party).
    """

    __tablename__ = "market_block_deals"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND price_fen > 0", name="positive"),
        CheckConstraint("seller_org_id <> buyer_org_id", name="two_parties"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    seller_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    fee_bp: Mapped[int] = mapped_column(Integer)
    proposer_org_id: Mapped[int] = mapped_column(Integer)
    seller_confirmed: Mapped[bool] = mapped_column()
    buyer_confirmed: Mapped[bool] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), index=True)
    rejected_by: Mapped[int | None] = mapped_column(Integer)  # organisation id
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("market_trades.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Pledge(Timestamped, Base):
    """质押: a holder's units pledged to a bank as security for a loan.

    The pledged serials sit in the holder's own pledge account ``account_code`` (one
    per pledge, owner the holder), so no sale, transfer, retirement, order, listing or
    lot can reach them. ``status``: active, released (back to the holder's main
    account) or enforced (moved to the bank's main account on default).
    ``amount_fen``: the secured loan, integer fen.
    """

    __tablename__ = "market_pledges"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND amount_fen > 0", name="positive"),
        CheckConstraint("holder_org_id <> bank_org_id", name="two_parties"),
        CheckConstraint("maturity_date > start_date", name="term"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instrument: Mapped[str] = mapped_column(String(32), index=True)
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    bank_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    serials: Mapped[list[str]] = mapped_column(JSON)
    account_code: Mapped[str] = mapped_column(String(200))
    loan_ref: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    start_date: Mapped[date] = mapped_column(Date)
    maturity_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    closing_entry_id: Mapped[int | None] = mapped_column(BigInteger,
                                                         ForeignKey("ledger_entries.id"))
    closing_key: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
