"""One-way bidding (单向竞价) persisted: reserve, ascending increments, sealed bids hidden,
award by price then time, pay-as-bid (MECHANISMS.md §1.5 [K]), settled as one cycle."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import auctions, orders, service
from liangshan.market.schemas import AuctionIn, BidIn, OrderIn

from .helpers import issue_project, org

INST = "EMIS-COD"


def _lot(seller: int, qty: int, *, sealed: bool = True, key: str = "a") -> AuctionIn:
    return AuctionIn(instrument=INST, seller_org_id=seller, quantity=qty, reserve_fen=1500,
                     sealed=sealed, increment_fen=10, idempotency_key=key)


def test_sealed_auction_awards_by_price_then_time_pay_as_bid(db_session: Session) -> None:
    s = db_session
    seller, b1, b2, b3 = (org(s, n) for n in ("卖方", "买一", "买二", "买三"))
    issue_project(s, seller, 100)
    for i, b in enumerate((b1, b2, b3)):
        service.deposit(s, SYSTEM, b, 200_000, f"d{i}")
    s.commit()
    lot = auctions.create_auction(s, SYSTEM, _lot(seller, 100))
    s.commit()
    with pytest.raises(InsufficientBalance, match="0 EMIS-COD free"):  # the lot is reserved
        orders.place_order(s, SYSTEM, OrderIn(instrument=INST, org_id=seller, side="sell",
                                              quantity=1, price_fen=2000, idempotency_key="o"))
    s.rollback()
    with pytest.raises(InvalidInput, match="reserve"):
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b1, quantity=10, price_fen=1400,
                                                    idempotency_key="low"))
    s.rollback()
    with pytest.raises(Conflict, match="seller may not bid"):
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=seller, quantity=10, price_fen=1600,
                                                    idempotency_key="own"))
    s.rollback()
    auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b1, quantity=60, price_fen=1600,
                                                idempotency_key="x1"))
    auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b2, quantity=50, price_fen=1700,
                                                idempotency_key="x2"))
    auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b3, quantity=60, price_fen=1600,
                                                idempotency_key="x3"))
    s.commit()
    outsider = auctions.auction_view(s, None, lot.id)
    assert outsider["bid_count"] == 3 and outsider["bids"] == []  # sealed
    done = auctions.award_auction(s, SYSTEM, lot.id)
    s.commit()
    # 1700 first; then the earlier of the two 1600 bids, filled in part; b3 gets nothing
    assert [(t.buyer_org_id, t.quantity, t.price_fen) for t in done.trades] == \
        [(b2, 50, 1700), (b1, 50, 1600)]
    assert service.unit_balance(s, INST, seller) == 0
    fee = orders.BOOK_FEE_BP
    assert service.money_balance(s, b1) == 200_000 - 80_000 - 80_000 * fee // 10_000
    assert service.money_balance(s, b3) == 200_000
    assert [b["won"] for b in auctions.auction_view(s, None, lot.id)["bids"]] == [50, 50, 0]
    assert auctions.award_auction(s, SYSTEM, lot.id).trades == done.trades  # replay
    with pytest.raises(Conflict, match="awarded"):
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b3, quantity=1, price_fen=2000,
                                                    idempotency_key="late"))
    s.rollback()
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_ascending_auction_increments_and_bid_money_is_reserved(db_session: Session) -> None:
    s = db_session
    seller, b1 = org(s, "卖方"), org(s, "买一")
    issue_project(s, seller, 100)
    service.deposit(s, SYSTEM, b1, 100_000, "d")
    s.commit()
    lot = auctions.create_auction(s, SYSTEM, _lot(seller, 40, sealed=False))
    auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b1, quantity=40, price_fen=1600,
                                                idempotency_key="x1"))
    s.commit()
    with pytest.raises(InvalidInput, match="improve the best bid 1600 by 10"):
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b1, quantity=10, price_fen=1605,
                                                    idempotency_key="x2"))
    s.rollback()
    # 40 × 1600 + fee are held for the bid: 100,000 − 64,032 = 35,968 fen free
    with pytest.raises(InsufficientBalance, match="35968 fen free"):
        auctions.place_bid(s, SYSTEM, lot.id, BidIn(org_id=b1, quantity=40, price_fen=1610,
                                                    idempotency_key="x3"))
    s.rollback()
    assert len(auctions.auction_view(s, None, lot.id)["bids"]) == 1  # open bids are shown
    with pytest.raises(Conflict, match="has bids"):
        auctions.cancel_auction(s, SYSTEM, lot.id)
    s.rollback()
    empty = auctions.create_auction(s, SYSTEM, _lot(seller, 60, key="b"))
    assert auctions.cancel_auction(s, SYSTEM, empty.id).status == "cancelled"
    s.commit()
    with pytest.raises(InsufficientBalance):  # 40 still in the first lot
        auctions.create_auction(s, SYSTEM, _lot(seller, 61, key="c"))
