"""The market's service functions: the door the API, CLI, demo and other domains use.

* rights — :func:`issue`, :func:`transfer`, :func:`retire`, :func:`cancel`,
  :func:`holdings`, :func:`serial_problems` (serials ``instrument/vintage/start-end``),
  :func:`counted_forest_mu` (forest-coverage counting after FCI trades);
* money — :func:`deposit`, :func:`money_balance`, :func:`unit_balance`;
* trading — :func:`settle` (delivery versus payment), :func:`settle_batch` (one
  clearing batch, same outcome as trade by trade), :func:`close_day`,
  :func:`previous_close`, :func:`list_trades`; the rules of each mode are pure functions
  in :mod:`liangshan.market.modes`, the matching engine in :mod:`liangshan.market.orderbook`;
* eco-product matching — :func:`add_listing`, :func:`add_demand`, :func:`matches_for`,
  :func:`plan_event`;
* reports — :func:`registry_report`, :func:`report_csv`;
* read-only views — :func:`holdings_view` (an organisation's money and units, held and
  free, without opening accounts), :func:`listed_board` (open 挂牌 listings, no owners).

Money is integer fen; quantities integers in the instrument's unit. Nothing here
commits: the caller's transaction holds a command's rows and ledger entries together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.ledger import service as ledger
from liangshan.market import agreements
from liangshan.market.clearing import settle_batch, settle_trades
from liangshan.market.funds import Funds
from liangshan.market.instruments import SHANGHAI, get_instrument, load_instruments
from liangshan.market.issuance import (
    cancel,
    counted_forest_mu,
    holdings,
    issue,
    money_account,
    retire,
    serial_problems,
    transfer,
    unit_account,
)
from liangshan.market.matching import (
    add_demand,
    add_listing,
    list_listings,
    matches_for,
    plan_event,
)
from liangshan.market.models import BlockDeal, DailyPrice, Issuance, Pledge, Trade
from liangshan.market.modes import Deal, Mode, closing_price, opening_price
from liangshan.market.reports import registry_report, report_csv
from liangshan.market.settlement import deposit, previous_close, settle

__all__ = [
    "add_demand", "add_listing", "block_deals_settled_on", "cancel", "close_day",
    "counted_forest_mu", "deposit", "get_instrument", "holdings", "holdings_view", "issue",
    "list_issuances", "list_listings", "list_trades", "listed_board", "load_instruments",
    "matches_for", "money_balance", "plan_event", "previous_close", "registry_report", "report_csv",
    "retire", "serial_problems", "settle", "settle_batch", "settle_trades",
    "transfer", "unit_balance",
]


def unit_balance(session: Session, instrument: str, org_id: int) -> int:
    """Units of ``instrument`` the organisation holds (its ledger balance)."""
    return ledger.balance(session, unit_account(session, instrument, org_id))


def money_balance(session: Session, org_id: int) -> int:
    """The organisation's money on the platform, in fen."""
    return ledger.balance(session, money_account(session, org_id))


def list_trades(session: Session, *, instrument: str | None = None,
                since: datetime | None = None, limit: int = 1000) -> list[Trade]:
    query = select(Trade).order_by(Trade.id)
    if instrument:
        query = query.where(Trade.instrument == instrument)
    if since:
        query = query.where(Trade.executed_at >= since)
    return list(session.scalars(query.limit(limit)))


def list_issuances(session: Session, *, instrument: str | None = None) -> list[Issuance]:
    query = select(Issuance).order_by(Issuance.id)
    if instrument:
        query = query.where(Issuance.instrument == instrument)
    return list(session.scalars(query))


def close_day(session: Session, instrument: str, day: date) -> DailyPrice | None:
    """Record the day's opening and closing price (fen) from its settled trades.

    ``day`` is an Asia/Shanghai trading date. Returns None when there is neither a
    listed trade nor a previous close to carry.
    """
    get_instrument(instrument)
    trades = [t for t in list_trades(session, instrument=instrument, limit=10**9)
              if t.executed_at.astimezone(SHANGHAI).date() == day]
    trades.sort(key=lambda t: (t.executed_at, t.id))
    deals = [Deal(t.instrument, Mode(t.mode), t.seller_org_id, t.buyer_org_id, t.quantity,
                  t.price_fen) for t in trades]
    prev = previous_close(session, instrument, day)
    close = closing_price(deals, prev)
    if close is None:
        return None
    row = session.scalars(select(DailyPrice).where(DailyPrice.instrument == instrument,
                                                   DailyPrice.day == day)).first()
    if row is None:
        row = DailyPrice(instrument=instrument, day=day, open_fen=None, close_fen=close,
                         volume=0)
        session.add(row)
    row.open_fen = opening_price(deals)
    row.close_fen = close
    row.volume = sum(d.qty for d in deals)
    session.flush()
    return row


@dataclass
class HoldingsView:
    """An organisation's money (fen) and units, each as held (ledger balance) and free
    (held less what open orders, listings, lots, bids and confirmed block deals reserve).
    ``units`` maps an instrument code to ``(held, free)`` for instruments it holds."""

    org_id: int
    cash_fen: int
    free_cash_fen: int
    units: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Units pledged to banks (质押), per instrument: still the organisation's, but held in
    #: its pledge accounts, so neither in ``units`` nor free until the bank releases them.
    pledged: dict[str, int] = field(default_factory=dict)


def holdings_view(session: Session, org_id: int, instruments: Iterable[str]) -> HoldingsView:
    """Read-only: look the organisation's accounts up without opening missing ones (unlike
    :func:`money_balance` and :func:`unit_balance`), so no row is written and no lock taken.
    An organisation without accounts holds nothing."""
    funds = Funds(session, read_only=True)
    view = HoldingsView(org_id=org_id, cash_fen=funds.held("CNY", org_id),
                        free_cash_fen=funds.free_cash(org_id))
    codes = list(instruments)
    for code in codes:
        held = funds.held(code, org_id)
        if held:
            view.units[code] = (held, funds.free_units(code, org_id))
    view.pledged = {code: int(qty) for code, qty in session.execute(
        select(Pledge.instrument, func.sum(Pledge.quantity))
        .where(Pledge.holder_org_id == org_id, Pledge.status == "active",
               Pledge.instrument.in_(codes))
        .group_by(Pledge.instrument))}
    return view


@dataclass(frozen=True)
class BoardRow:
    """One open listing as the public sees it (no owner): ``price_fen`` per unit,
    ``remaining`` units still on offer, ``posted`` (UTC) when it was listed."""

    id: int
    instrument: str
    side: str
    price_fen: int
    remaining: int
    posted: datetime


def listed_board(session: Session, instruments: Iterable[str]) -> dict[str, list[BoardRow]]:
    """Open listed-agreement (挂牌) listings per instrument, buy side best (highest) first,
    then sell side best (lowest) first; instruments without listings are left out."""
    board: dict[str, list[BoardRow]] = {}
    for code in instruments:
        rows = [BoardRow(r.id, r.instrument, r.side, r.price_fen, r.remaining, r.created_at)
                for r in agreements.board(session, code)]
        if rows:
            board[code] = rows
    return board


def block_deals_settled_on(session: Session, day: date) -> int:
    """How many block deals (大宗) settled on ``day``, an Asia/Shanghai trading date (the
    execution time of each deal's trade)."""
    start = datetime.combine(day, time(), SHANGHAI)
    return int(session.scalar(select(func.count()).select_from(BlockDeal)
                              .join(Trade, BlockDeal.trade_id == Trade.id).where(
        BlockDeal.status == "settled", Trade.executed_at >= start,
        Trade.executed_at < start + timedelta(days=1))) or 0)
