"""HTTP routes of the market (prefix ``/market``): they parse, call the service, render.

Public (no login): instruments, issuances, the registry report (JSON/CSV), daily
prices, open eco-product listings, the listed-agreement board (挂牌), order-book depth,
auctions (sealed bids hidden until the award). Block deals (大宗) are seen by their two
parties and staff only. Everything that moves units or money needs a login; the service
checks who may act for which organisation (only the holder sells, only a funded buyer
buys, only a named party confirms a block deal).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from liangshan.api.deps import OptionalPrincipalDep, PrincipalDep, SessionDep
from liangshan.config import get_settings
from liangshan.db import utcnow
from liangshan.identity.access import READER_ROLES
from liangshan.identity.models import Role
from liangshan.market import agreements, auctions, orders, pledges, service
from liangshan.market.issuance import require_party
from liangshan.market.schemas import (
    AcceptedOut,
    AcceptIn,
    AmendIn,
    AuctionIn,
    AuctionOut,
    AwardOut,
    BidIn,
    BidOut,
    BlockDealOut,
    BlockIn,
    BlockOut,
    DemandIn,
    IssuanceOut,
    IssueIn,
    ListedIn,
    ListedOut,
    ListingIn,
    MatchOut,
    OrderIn,
    OrderOut,
    PartyIn,
    PlacedOut,
    PledgeCloseIn,
    PledgeIn,
    PledgeOut,
    RetireIn,
    TradeIn,
    TradeOut,
    TransferIn,
)

router = APIRouter(prefix="/market", tags=["market"])


def trading_clock() -> datetime | None:
    """The time an order is checked against its instrument's trading sessions, or None
    when sessions are not enforced (``LIANGSHAN_MARKET_ENFORCE_HOURS``; on in production)."""
    return utcnow() if get_settings().enforces_market_hours else None


TradingTime = Annotated[datetime | None, Depends(trading_clock)]


class DepositIn(BaseModel):
    org_id: int
    amount_fen: StrictInt = Field(gt=0)
    idempotency_key: str = Field(min_length=1, max_length=150)


class RetirementOut(BaseModel):
    id: int
    kind: str
    instrument: str
    quantity: int
    beneficiary: str
    purpose: str
    serials: list[str]


def _instrument(code: str) -> dict[str, Any]:
    out = asdict(service.get_instrument(code))
    out["hours"] = [f"{a:%H:%M}-{b:%H:%M}" for a, b in out["hours"]]
    out["block_hours"] = [f"{a:%H:%M}-{b:%H:%M}" for a, b in out["block_hours"]]
    return out


@router.get("/instruments")
def list_instruments() -> list[dict[str, Any]]:
    """Every instrument with its rules and their confidence tags."""
    return [_instrument(code) for code in service.load_instruments()]


@router.get("/issuances", response_model=list[IssuanceOut])
def list_issuances(session: SessionDep, instrument: str | None = None) -> list[Any]:
    return service.list_issuances(session, instrument=instrument)


@router.post("/issuances", response_model=IssuanceOut, status_code=201)
def issue(session: SessionDep, actor: PrincipalDep, data: IssueIn) -> Any:
    return service.issue(session, actor, data)


@router.post("/transfers")
def transfer(session: SessionDep, actor: PrincipalDep, data: TransferIn) -> dict[str, Any]:
    return {"serials": service.transfer(session, actor, data)}


@router.post("/retirements", response_model=RetirementOut, status_code=201)
def retire(session: SessionDep, actor: PrincipalDep, data: RetireIn) -> Any:
    return service.retire(session, actor, data)


@router.post("/cancellations", response_model=RetirementOut, status_code=201)
def cancel(session: SessionDep, actor: PrincipalDep, data: RetireIn) -> Any:
    return service.cancel(session, actor, data)


@router.get("/holdings/{org_id}/{instrument}", response_model=list[BlockOut])
def holdings(session: SessionDep, actor: PrincipalDep, org_id: int, instrument: str) -> Any:
    if actor.role not in READER_ROLES:
        require_party(actor, org_id)
    return service.holdings(session, instrument, org_id)


@router.post("/deposits")
def deposit(session: SessionDep, actor: PrincipalDep, data: DepositIn) -> dict[str, int]:
    return {"balance_fen": service.deposit(session, actor, data.org_id, data.amount_fen,
                                           data.idempotency_key)}


@router.post("/trades", response_model=TradeOut, status_code=201)
def settle(session: SessionDep, actor: PrincipalDep, data: TradeIn) -> Any:
    """Settle a matched deal (delivery versus payment)."""
    return service.settle(session, actor, data)


class BatchIn(BaseModel):
    batch_key: str = Field(min_length=1, max_length=150)
    net: bool = Field(False, description="one net journal line per account (净额结算)")
    trades: list[TradeIn] = Field(min_length=1, max_length=5000)


@router.post("/trades/batch", response_model=list[TradeOut], status_code=201)
def settle_batch(session: SessionDep, actor: PrincipalDep, data: BatchIn) -> Any:
    """Settle a clearing batch (market operator only): all trades or none."""
    return service.settle_batch(session, actor, data.trades, batch_key=data.batch_key,
                                net=data.net)


@router.get("/trades", response_model=list[TradeOut])
def list_trades(session: SessionDep, actor: PrincipalDep, instrument: str | None = None,
                limit: int = Query(100, ge=1, le=1000)) -> Any:
    return service.list_trades(session, instrument=instrument, limit=limit)


@router.get("/prices/{instrument}")
def daily_price(session: SessionDep, instrument: str, day: date) -> dict[str, Any]:
    """The previous close (fen) that bounds ``day``'s bands."""
    return {"instrument": instrument, "day": day.isoformat(),
            "previous_close_fen": service.previous_close(session, instrument, day)}


@router.post("/prices/{instrument}/close")
def close_day(session: SessionDep, actor: PrincipalDep, instrument: str, day: date
              ) -> dict[str, Any]:
    """Record ``day``'s opening and closing price (market operator only)."""
    actor.require_role(Role.PROVINCE_ADMIN)
    row = service.close_day(session, instrument, day)
    return {"instrument": instrument, "day": day.isoformat(),
            "open_fen": None if row is None else row.open_fen,
            "close_fen": None if row is None else row.close_fen,
            "volume": 0 if row is None else row.volume}


@router.get("/reports/registry")
def registry_report(session: SessionDep, instrument: str | None = None,
                    format: str = Query("json", pattern="^(json|csv)$")) -> Any:
    rows = service.registry_report(session, instrument=instrument)
    if format == "json":
        return rows
    return Response(service.report_csv(rows), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="registry.csv"'})


@router.get("/listings", response_model=list[dict[str, Any]])
def list_listings(session: SessionDep, product: str | None = None) -> list[dict[str, Any]]:
    return [{"id": r.id, "seller_org_id": r.seller_org_id, "product": r.product,
             "region_code": r.region_code, "quantity": r.quantity, "unit": r.unit,
             "quality_grade": r.quality_grade, "price_fen": r.price_fen}
            for r in service.list_listings(session, product=product)]


@router.post("/listings", status_code=201)
def add_listing(session: SessionDep, actor: PrincipalDep, data: ListingIn,
                org_id: int = Query(description="the selling organisation")) -> dict[str, int]:
    return {"id": service.add_listing(session, actor, org_id, data).id}


@router.post("/demands", status_code=201)
def add_demand(session: SessionDep, actor: PrincipalDep, data: DemandIn,
               org_id: int = Query(description="the buying organisation")) -> dict[str, int]:
    return {"id": service.add_demand(session, actor, org_id, data).id}


@router.get("/demands/{demand_id}/matches", response_model=list[MatchOut])
def matches(session: SessionDep, actor: PrincipalDep, demand_id: int,
            limit: int = Query(10, ge=1, le=100)) -> Any:
    return service.matches_for(session, demand_id, limit)


# -- the order book ---------------------------------------------------------------------------

def _placed(p: orders.Placed) -> dict[str, Any]:
    return {"order": OrderOut.model_validate(p.order), "trades": p.trades}


@router.post("/orders", response_model=PlacedOut, status_code=201)
def place_order(session: SessionDep, actor: PrincipalDep, data: OrderIn, at: TradingTime) -> Any:
    """Place a limit or market order for your organisation; crossing trades settle at once."""
    return _placed(orders.place_order(session, actor, data, at=at))


@router.get("/orders", response_model=list[OrderOut])
def my_orders(session: SessionDep, actor: PrincipalDep, org_id: int | None = None,
              status: str | None = Query(None, pattern="^(open|filled|cancelled|expired)$"),
              instrument: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> Any:
    """Your organisation's orders, newest first (staff may name ``org_id``)."""
    return orders.list_orders(session, actor, org_id=org_id, status=status,
                              instrument=instrument, limit=limit)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(session: SessionDep, actor: PrincipalDep, order_id: int) -> Any:
    return orders.cancel_order(session, actor, order_id)


@router.post("/orders/{order_id}/amend", response_model=PlacedOut)
def amend_order(session: SessionDep, actor: PrincipalDep, order_id: int, data: AmendIn,
                at: TradingTime) -> Any:
    """Lowering the quantity keeps time priority; raising it or a new price re-queues."""
    return _placed(orders.amend_order(session, actor, order_id, quantity=data.quantity,
                                      price_fen=data.price_fen, at=at))


@router.get("/books/{instrument}")
def book_depth(session: SessionDep, instrument: str,
               levels: int = Query(5, ge=1, le=50)) -> dict[str, Any]:
    """Best price levels per side: [price fen, open quantity, number of orders]."""
    return {"instrument": instrument, **orders.depth(session, instrument, levels)}


@router.post("/books/{instrument}/close")
def close_book(session: SessionDep, actor: PrincipalDep, instrument: str) -> dict[str, Any]:
    """End of day: every open order of the instrument expires (market operator only)."""
    return {"instrument": instrument, "expired": orders.close_book(session, actor, instrument)}


# -- one-way bidding ----------------------------------------------------------------------------

@router.post("/auctions", response_model=AuctionOut, status_code=201)
def create_auction(session: SessionDep, actor: PrincipalDep, data: AuctionIn) -> Any:
    """Offer a lot (单向竞价); its units are reserved until the award or a cancellation."""
    return auctions.create_auction(session, actor, data)


@router.get("/auctions", response_model=list[AuctionOut])
def list_auctions(session: SessionDep,
                  status: str | None = Query(None, pattern="^(open|awarded|cancelled)$"),
                  instrument: str | None = None) -> Any:
    return auctions.list_auctions(session, status=status, instrument=instrument)


@router.get("/auctions/{auction_id}")
def auction(session: SessionDep, actor: OptionalPrincipalDep, auction_id: int) -> dict[str, Any]:
    """The auction and the bids you may see (sealed bids: count only until the award)."""
    return auctions.auction_view(session, actor, auction_id)


@router.post("/auctions/{auction_id}/bids", response_model=BidOut, status_code=201)
def place_bid(session: SessionDep, actor: PrincipalDep, auction_id: int, data: BidIn) -> Any:
    return auctions.place_bid(session, actor, auction_id, data)


@router.post("/auctions/{auction_id}/award", response_model=AwardOut)
def award_auction(session: SessionDep, actor: PrincipalDep, auction_id: int,
                  force_reason: str | None = None) -> Any:
    """Close the auction; winners by price then time, pay-as-bid, settled together. Before
    the lot's deadline only the market operator may, with ``force_reason`` (audited)."""
    done = auctions.award_auction(session, actor, auction_id, force_reason=force_reason)
    return {"auction": done.auction, "trades": done.trades}


@router.post("/auctions/{auction_id}/cancel", response_model=AuctionOut)
def cancel_auction(session: SessionDep, actor: PrincipalDep, auction_id: int) -> Any:
    return auctions.cancel_auction(session, actor, auction_id)


# -- listed agreement (挂牌协议) and block agreement (大宗协议) ------------------------------------

@router.post("/listed", response_model=ListedOut, status_code=201)
def post_listing(session: SessionDep, actor: PrincipalDep, data: ListedIn, at: TradingTime
                 ) -> Any:
    """List an offer or a bid (挂牌) within the ±band, below the block threshold; its units
    or money stay reserved until it is filled, withdrawn or expires."""
    return agreements.post_listing(session, actor, data, at=at)


@router.get("/listed/{instrument}", response_model=list[ListedOut])
def listed_board(session: SessionDep, instrument: str,
                 side: str | None = Query(None, pattern="^(buy|sell)$")) -> Any:
    """Open listings: bids best first, then offers best first."""
    return agreements.board(session, instrument, side)


@router.post("/listed/{listing_id}/accept", response_model=AcceptedOut, status_code=201)
def accept_listing(session: SessionDep, actor: PrincipalDep, listing_id: int,
                   data: AcceptIn, at: TradingTime) -> Any:
    """Take all or part of a listing among the best 5 levels (摘牌); settles at once."""
    done = agreements.accept_listing(session, actor, listing_id, data, at=at)
    return {"listing": done.listing, "trade": done.trade}


@router.post("/listed/{listing_id}/withdraw", response_model=ListedOut)
def withdraw_listing(session: SessionDep, actor: PrincipalDep, listing_id: int) -> Any:
    return agreements.withdraw_listing(session, actor, listing_id)


@router.post("/listed/{instrument}/expire")
def expire_listings(session: SessionDep, actor: PrincipalDep, instrument: str
                    ) -> dict[str, Any]:
    """End of day: every open listing of the instrument expires (market operator only)."""
    return {"instrument": instrument,
            "expired": agreements.expire_listings(session, actor, instrument)}


@router.post("/blocks", response_model=BlockDealOut, status_code=201)
def propose_block(session: SessionDep, actor: PrincipalDep, data: BlockIn, at: TradingTime
                  ) -> Any:
    """Propose a block deal (大宗协议) to the named counterparty; your side is reserved."""
    return agreements.propose_block(session, actor, data, at=at)


@router.get("/blocks/{deal_id}", response_model=BlockDealOut)
def block_deal(session: SessionDep, actor: PrincipalDep, deal_id: int) -> Any:
    """A block deal, for its two parties and staff."""
    return agreements.block_view(session, actor, deal_id)


@router.post("/blocks/{deal_id}/confirm")
def confirm_block(session: SessionDep, actor: PrincipalDep, deal_id: int,
                  data: PartyIn, at: TradingTime) -> dict[str, Any]:
    """Confirm for your side; when both sides have confirmed the deal settles (DvP)."""
    deal, trade = agreements.confirm_block(session, actor, deal_id, data.org_id, at=at)
    return {"deal": BlockDealOut.model_validate(deal),
            "trade": None if trade is None else TradeOut.model_validate(trade)}


@router.post("/blocks/{deal_id}/reject", response_model=BlockDealOut)
def reject_block(session: SessionDep, actor: PrincipalDep, deal_id: int, data: PartyIn) -> Any:
    """Reject (counterparty) or withdraw (proposer) a proposed block deal."""
    return agreements.reject_block(session, actor, deal_id, data.org_id)


# -- pledges (质押) ----------------------------------------------------------------------------

@router.post("/pledges", response_model=PledgeOut, status_code=201)
def pledge(session: SessionDep, actor: PrincipalDep, data: PledgeIn) -> Any:
    """Pledge your organisation's free units (oldest serials first) to a bank for a loan."""
    return pledges.pledge(session, actor, data)


@router.get("/pledges", response_model=list[PledgeOut])
def list_pledges(session: SessionDep, actor: PrincipalDep,
                 bank_org_id: int | None = None) -> Any:
    """A bank officer sees the pledges to its bank, a holder its own, staff all."""
    return pledges.list_pledges(session, actor, bank_org_id=bank_org_id)


@router.post("/pledges/{pledge_id}/release", response_model=PledgeOut)
def release_pledge(session: SessionDep, actor: PrincipalDep, pledge_id: int,
                   data: PledgeCloseIn) -> Any:
    """The pledgee bank's officer releases the pledge: the units are free again."""
    return pledges.release(session, actor, pledge_id, data.idempotency_key)


@router.post("/pledges/{pledge_id}/enforce", response_model=PledgeOut)
def enforce_pledge(session: SessionDep, actor: PrincipalDep, pledge_id: int,
                   data: PledgeCloseIn) -> Any:
    """On default the pledgee bank's officer enforces: the units move to the bank."""
    return pledges.enforce(session, actor, pledge_id, data.idempotency_key)
