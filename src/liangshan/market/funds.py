"""What an organisation can commit: its ledger balance less what its open commitments reserve.

Units: open sell orders and sell listings (挂牌, their remaining quantity), open auction
lots, and block deals (大宗) the seller has confirmed but that are not settled yet.
Money (fen): open buy orders and buy listings, bids in open auctions, and block deals
the buyer has confirmed, each ``quantity × price`` plus the fee rounded down. An order,
listing, lot, bid or deal that needs more than is free is refused with
:class:`~liangshan.ledger.service.InsufficientBalance`, so units are never offered twice
across venues and a buyer can always pay what its open commitments may cost.

Pledged units (质押, :mod:`liangshan.market.pledges`) already sit in the holder's pledge
account, outside the main account whose balance is "held" here, so they are never free;
a refusal names the organisation's active pledges of the instrument so the holder sees
why its units are short.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.ledger import service as ledger
from liangshan.ledger.journal import account_code
from liangshan.ledger.models import LedgerAccount
from liangshan.ledger.schemas import AccountKind
from liangshan.ledger.service import InsufficientBalance
from liangshan.market.models import (
    Auction,
    AuctionBid,
    BlockDeal,
    BookOrder,
    ListedOrder,
    Pledge,
)


def cost_fen(qty: int, price_fen: int, fee_bp: int) -> int:
    """What a buyer pays for ``qty`` at ``price_fen``: gross plus the fee rounded down (fen).

    Settling the quantity in parts at this price or lower never costs more: the fee of
    each part is rounded down, and the sum of rounded-down parts is at most the whole's.
    """
    gross = qty * price_fen
    return gross + gross * fee_bp // 10_000


class Funds:
    """Free units and money (ledger balance less reservations), loaded once per cycle.

    Load an organisation's figures before changing any of its orders in the cycle;
    afterwards the cycle keeps them up to date in memory.

    ``read_only``: look holder accounts up without opening missing ones (a missing
    account holds 0), so that a page view never writes an account row or a log leaf.
    """

    def __init__(self, session: Session, *, read_only: bool = False) -> None:
        self.s = session
        self.read_only = read_only
        self.units: dict[tuple[str, int], int] = {}
        self.cash: dict[int, int] = {}

    def held(self, asset: str, org_id: int) -> int:
        """The ledger balance of the organisation's holder account of ``asset`` (an
        instrument code, or "CNY" in fen)."""
        if not self.read_only:
            return ledger.balance(self.s, ledger.open_account(self.s, asset=asset,
                                                              owner_org_id=org_id))
        code = account_code(asset, AccountKind.HOLDER.value, None, org_id, "main")
        acc = self.s.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).first()
        return 0 if acc is None else ledger.balance(self.s, acc)

    def free_units(self, instrument: str, org_id: int) -> int:
        key = (instrument, org_id)
        if key not in self.units:
            held = self.held(instrument, org_id)
            in_orders = self.s.scalar(select(func.coalesce(func.sum(BookOrder.remaining), 0))
                                      .where(BookOrder.org_id == org_id,
                                             BookOrder.instrument == instrument,
                                             BookOrder.side == "sell",
                                             BookOrder.status == "open"))
            in_lots = self.s.scalar(select(func.coalesce(func.sum(Auction.quantity), 0)).where(
                Auction.seller_org_id == org_id, Auction.instrument == instrument,
                Auction.status == "open"))
            in_listed = self.s.scalar(select(func.coalesce(func.sum(ListedOrder.remaining), 0))
                                      .where(ListedOrder.org_id == org_id,
                                             ListedOrder.instrument == instrument,
                                             ListedOrder.side == "sell",
                                             ListedOrder.status == "open"))
            in_blocks = self.s.scalar(select(func.coalesce(func.sum(BlockDeal.quantity), 0))
                                      .where(BlockDeal.seller_org_id == org_id,
                                             BlockDeal.instrument == instrument,
                                             BlockDeal.seller_confirmed.is_(True),
                                             BlockDeal.status == "proposed"))
            self.units[key] = held - sum(int(x or 0) for x in (in_orders, in_lots, in_listed,
                                                                in_blocks))
        return self.units[key]

    def free_cash(self, org_id: int) -> int:
        if org_id not in self.cash:
            held = self.held("CNY", org_id)
            reserved = sum(cost_fen(q, p or 0, f) for q, p, f in self.s.execute(
                select(BookOrder.remaining, BookOrder.price_fen, BookOrder.fee_bp).where(
                    BookOrder.org_id == org_id, BookOrder.side == "buy",
                    BookOrder.status == "open")))
            reserved += sum(cost_fen(q, p, f) for q, p, f in self.s.execute(
                select(AuctionBid.quantity, AuctionBid.price_fen, Auction.fee_bp)
                .join(Auction, AuctionBid.auction_id == Auction.id).where(
                    AuctionBid.bidder_org_id == org_id, Auction.status == "open")))
            reserved += sum(cost_fen(q, p, f) for q, p, f in self.s.execute(
                select(ListedOrder.remaining, ListedOrder.price_fen, ListedOrder.fee_bp).where(
                    ListedOrder.org_id == org_id, ListedOrder.side == "buy",
                    ListedOrder.status == "open")))
            reserved += sum(cost_fen(q, p, f) for q, p, f in self.s.execute(
                select(BlockDeal.quantity, BlockDeal.price_fen, BlockDeal.fee_bp).where(
                    BlockDeal.buyer_org_id == org_id, BlockDeal.buyer_confirmed.is_(True),
                    BlockDeal.status == "proposed")))
            self.cash[org_id] = held - reserved
        return self.cash[org_id]

    def pledged(self, instrument: str, org_id: int) -> list[tuple[int, int, int]]:
        """The organisation's active pledges of ``instrument``: (pledge id, units, bank
        organisation id), oldest first."""
        return [(i, q, b) for i, q, b in self.s.execute(
            select(Pledge.id, Pledge.quantity, Pledge.bank_org_id).where(
                Pledge.holder_org_id == org_id, Pledge.instrument == instrument,
                Pledge.status == "active").order_by(Pledge.id))]

    def need_units(self, instrument: str, org_id: int, qty: int, what: str) -> None:
        free = self.free_units(instrument, org_id)
        if free < qty:
            pledges = self.pledged(instrument, org_id)
            note = "".join(f"; pledge {i} holds {q} of its units for bank organisation {b}"
                           for i, q, b in pledges)
            raise InsufficientBalance(
                f"{what}: organisation {org_id} has {free} {instrument} free to sell (held "
                f"less open sell orders, listings, auction lots and confirmed block deals), "
                f"needs {qty}{note}",
                hint="sell only units you hold and have not offered elsewhere; cancel an "
                     "open order or withdraw a listing to free its units"
                     + ("; pledged units are free again only when the bank releases the "
                        "pledge" if pledges else ""))

    def need_cash(self, org_id: int, fen: int, what: str) -> None:
        free = self.free_cash(org_id)
        if free < fen:
            raise InsufficientBalance(
                f"{what}: organisation {org_id} has {free} fen free (balance less open buy "
                f"orders, listings, bids and confirmed block deals), needs {fen}",
                hint="deposit money, or cancel an open buy order, listing or bid")
