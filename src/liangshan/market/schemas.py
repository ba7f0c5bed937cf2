"""Pydantic shapes of the market: commands in, records out.

Quantities are integers in the instrument's unit step; money integer fen; dates
ISO; datetimes timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class Beneficiary(BaseModel):
    """A party named at issuance that receives ``share_bp`` of primary-sale proceeds."""

    org_id: int
    share_bp: int = Field(gt=0, le=10_000, description="basis points of the proceeds")
    role: str = Field("village_collective", max_length=40,
                      description="e.g. village_collective, household")


class CoverageEvidence(BaseModel):
    """Forest-coverage evidence of the selling region (MECHANISMS.md §1.1, 亩)."""

    land_area_mu: StrictInt = Field(gt=0)
    forest_area_mu: StrictInt = Field(ge=0)
    target_coverage_bp: StrictInt = Field(gt=0, le=10_000, description="e.g. 5500 = 55 %")


class IssueIn(BaseModel):
    instrument: str
    vintage: int = Field(ge=2000, le=2100)
    quantity: StrictInt = Field(gt=0, description="units in the instrument's step")
    holder_org_id: int
    period_start: date
    period_end: date
    verification_ref: str = Field(min_length=1, max_length=200,
                                  description="verification / monitoring report reference")
    idempotency_key: str = Field(min_length=1, max_length=150)
    parcel_code: str | None = None
    project_ref: str | None = Field(None, max_length=100)
    region_code: str | None = Field(None, pattern=r"^\d{6}(\d{3}(\d{3})?)?$")
    project_start: date | None = Field(None, description="CCER: the project start date")
    coverage: CoverageEvidence | None = None
    beneficiaries: list[Beneficiary] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period(self) -> IssueIn:
        if self.period_end < self.period_start:
            raise ValueError(f"monitoring period ends {self.period_end} before it starts "
                             f"{self.period_start}")
        if sum(b.share_bp for b in self.beneficiaries) > 10_000:
            raise ValueError("beneficiary shares add up to more than 10,000 bp (100 %)")
        return self


class TransferIn(BaseModel):
    instrument: str
    from_org_id: int
    to_org_id: int
    quantity: StrictInt = Field(gt=0)
    idempotency_key: str = Field(min_length=1, max_length=150)


class RetireIn(BaseModel):
    instrument: str
    holder_org_id: int
    quantity: StrictInt = Field(gt=0)
    beneficiary: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)
    idempotency_key: str = Field(min_length=1, max_length=150)


class TradeIn(BaseModel):
    """A matched deal to settle (delivery versus payment)."""

    instrument: str
    mode: str = Field(pattern="^(listed|block|auction|continuous|fixed)$")
    seller_org_id: int
    buyer_org_id: int
    quantity: StrictInt = Field(gt=0)
    price_fen: StrictInt = Field(gt=0)
    idempotency_key: str = Field(min_length=1, max_length=150)
    fee_bp: int = Field(0, ge=0, le=1000, description="fee per side, basis points of gross")


class IssuanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    vintage: int
    region_code: str
    evidence_kind: str
    evidence_key: str
    period_start: date
    period_end: date
    verification_ref: str
    quantity: int
    serial_start: int
    serial_end: int
    holder_org_id: int
    beneficiaries: list[dict[str, Any]]
    created_at: datetime


class BlockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    vintage: int
    serial_start: int
    serial_end: int
    account_code: str
    status: str
    issuance_id: int

    @property
    def serial(self) -> str:
        return f"{self.instrument}/{self.vintage}/{self.serial_start}-{self.serial_end}"


class TradeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    mode: str
    seller_org_id: int
    buyer_org_id: int
    quantity: int
    price_fen: int
    gross_fen: int
    buyer_fee_fen: int
    seller_fee_fen: int
    shares: list[dict[str, Any]]
    serials: list[str]
    executed_at: datetime


class ListingIn(BaseModel):
    product: str = Field(min_length=1, max_length=100)
    region_code: str = Field(pattern=r"^\d{6}(\d{3}(\d{3})?)?$")
    quantity: StrictInt = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    quality_grade: int = Field(ge=1, le=5, description="1 best … 5")
    price_fen: StrictInt = Field(gt=0)
    description: str = ""


class DemandIn(BaseModel):
    product: str = Field(min_length=1, max_length=100)
    region_prefix: str = Field("", pattern=r"^\d{0,12}$")
    quantity: StrictInt = Field(gt=0)
    max_grade: int = Field(5, ge=1, le=5)
    price_min_fen: StrictInt = Field(0, ge=0)
    price_max_fen: StrictInt = Field(gt=0)


class MatchOut(BaseModel):
    listing_id: int
    score: float = Field(description="0–1, higher is better")
    quantity: int
    price_fen: int
    reasons: list[str]


class OrderIn(BaseModel):
    """A new order: limit (``price_fen`` per unit) or market (no price; never rests)."""

    instrument: str
    org_id: int
    side: str = Field(pattern="^(buy|sell)$")
    kind: str = Field("limit", pattern="^(limit|market)$")
    quantity: StrictInt = Field(gt=0, description="units in the instrument's step")
    price_fen: StrictInt | None = Field(None, gt=0, description="limit price, fen per unit")
    idempotency_key: str = Field(min_length=1, max_length=150)

    @model_validator(mode="after")
    def _price(self) -> OrderIn:
        if self.kind == "limit" and self.price_fen is None:
            raise ValueError("a limit order needs price_fen (fen per unit)")
        if self.kind == "market" and self.price_fen is not None:
            raise ValueError("a market order takes no price_fen; use kind 'limit' to cap it")
        return self


class AmendIn(BaseModel):
    """New open quantity and/or price (fen); a larger quantity or a new price re-queues."""

    quantity: StrictInt | None = Field(None, gt=0)
    price_fen: StrictInt | None = Field(None, gt=0)


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    org_id: int
    side: str
    kind: str
    price_fen: int | None
    quantity: int
    remaining: int
    status: str
    priority: int
    fee_bp: int
    created_at: datetime
    updated_at: datetime


class PlacedOut(BaseModel):
    """An order after its matching cycle and the trades it made in it."""

    order: OrderOut
    trades: list[TradeOut]


class AuctionIn(BaseModel):
    instrument: str
    seller_org_id: int
    quantity: StrictInt = Field(gt=0, description="units on offer")
    reserve_fen: StrictInt = Field(gt=0, description="lowest acceptable price, fen per unit")
    sealed: bool = Field(True, description="sealed bids; False: ascending (open) bidding")
    increment_fen: StrictInt = Field(1, gt=0, description="ascending: minimum improvement")
    closes_at: datetime | None = Field(None, description="bidding deadline, timezone-aware; "
                                       "none: open until awarded")
    idempotency_key: str = Field(min_length=1, max_length=150)


class BidIn(BaseModel):
    org_id: int
    quantity: StrictInt = Field(gt=0)
    price_fen: StrictInt = Field(gt=0, description="fen per unit")
    idempotency_key: str = Field(min_length=1, max_length=150)


class AuctionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    seller_org_id: int
    quantity: int
    reserve_fen: int
    sealed: bool
    increment_fen: int
    status: str
    closes_at: datetime | None = None
    created_at: datetime


class BidOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    auction_id: int
    bidder_org_id: int
    quantity: int
    price_fen: int
    won: int
    created_at: datetime


class AwardOut(BaseModel):
    auction: AuctionOut
    trades: list[TradeOut]


class ListedIn(BaseModel):
    """A listed-agreement (挂牌协议) listing: an offer (sell) or a bid (buy) at a price."""

    instrument: str
    org_id: int
    side: str = Field(pattern="^(buy|sell)$")
    quantity: StrictInt = Field(gt=0, description="below the block threshold, in lots")
    price_fen: StrictInt = Field(gt=0, description="fen per unit, within ±band of the close")
    idempotency_key: str = Field(min_length=1, max_length=150)


class AcceptIn(BaseModel):
    """Take (摘牌) ``quantity`` of a listing at its price, for organisation ``org_id``."""

    org_id: int
    quantity: StrictInt = Field(gt=0)
    idempotency_key: str = Field(min_length=1, max_length=150)


class ListedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    org_id: int
    side: str
    price_fen: int
    quantity: int
    remaining: int
    status: str
    fee_bp: int
    created_at: datetime
    updated_at: datetime


class AcceptedOut(BaseModel):
    listing: ListedOut
    trade: TradeOut


class BlockIn(BaseModel):
    """A block agreement (大宗协议) proposed by ``org_id`` (the seller or the buyer)."""

    instrument: str
    org_id: int = Field(description="the proposing party: seller_org_id or buyer_org_id")
    seller_org_id: int
    buyer_org_id: int
    quantity: StrictInt = Field(gt=0, description="at or above the block threshold")
    price_fen: StrictInt = Field(gt=0, description="fen per unit, within ±block band")
    idempotency_key: str = Field(min_length=1, max_length=150)


class PartyIn(BaseModel):
    """The organisation a party acts for when it confirms or rejects a block deal."""

    org_id: int


class BlockDealOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    seller_org_id: int
    buyer_org_id: int
    quantity: int
    price_fen: int
    fee_bp: int
    proposer_org_id: int
    seller_confirmed: bool
    buyer_confirmed: bool
    status: str
    rejected_by: int | None
    trade_id: int | None
    created_at: datetime
    updated_at: datetime


class PledgeIn(BaseModel):
    """质押: pledge ``quantity`` units (oldest serials first) to a bank for a loan.

    ``amount_fen``: the secured loan in integer fen; ``maturity_date`` after ``start_date``.
    """

    instrument: str
    holder_org_id: int
    bank_org_id: int
    quantity: StrictInt = Field(gt=0)
    loan_ref: str = Field(min_length=1, max_length=200)
    amount_fen: StrictInt = Field(gt=0)
    start_date: date
    maturity_date: date
    idempotency_key: str = Field(min_length=1, max_length=150)

    @model_validator(mode="after")
    def _term(self) -> PledgeIn:
        if self.maturity_date <= self.start_date:
            raise ValueError(f"maturity_date {self.maturity_date} is not after start_date "
                             f"{self.start_date}; a pledge needs a term of at least one day")
        if self.holder_org_id == self.bank_org_id:
            raise ValueError("holder_org_id and bank_org_id are the same organisation; "
                             "a pledge is made to another organisation, a bank")
        return self


class PledgeCloseIn(BaseModel):
    """Release or enforce a pledge; the key makes a replay return the first result."""

    idempotency_key: str = Field(min_length=1, max_length=150)


class PledgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    instrument: str
    holder_org_id: int
    bank_org_id: int
    quantity: int
    serials: list[str]
    loan_ref: str
    amount_fen: int
    start_date: date
    maturity_date: date
    status: str
    created_at: datetime
    closed_at: datetime | None
