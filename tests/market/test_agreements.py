"""Listed agreements (挂牌协议) and block agreements (大宗协议), persisted.

Rules from MECHANISMS.md §1.5 (MEE 碳排放权交易管理规则(试行) 2021; SEEE notice of
2021-06-22): listed orders below the block threshold within ±10 % of the previous
close, taken among the best 5 levels at the listing's price; block deals at or above
the threshold within ±30 %, agreed by both parties; the closing price is the VWAP of
the day's listed trades only. EMIS-COD: threshold 100,000 kg, reference price
2,000 fen (instruments.toml), so the listed band is 1,800–2,200 fen and the block band
1,400–2,600 fen.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import agreements, auctions, orders, service
from liangshan.market.funds import Funds, cost_fen
from liangshan.market.models import Trade
from liangshan.market.schemas import AcceptIn, AuctionIn, BlockIn, ListedIn
from liangshan.market.settlement import trade_day

from .helpers import issue_project, org

INST = "EMIS-COD"
FEE = orders.BOOK_FEE_BP


def _list(who: int, side: str, qty: int, price: int, key: str) -> ListedIn:
    return ListedIn(instrument=INST, org_id=who, side=side, quantity=qty, price_fen=price,
                    idempotency_key=key)


def _take(who: int, qty: int, key: str) -> AcceptIn:
    return AcceptIn(org_id=who, quantity=qty, idempotency_key=key)


def _block(proposer: int, seller: int, buyer: int, qty: int, price: int, key: str) -> BlockIn:
    return BlockIn(instrument=INST, org_id=proposer, seller_org_id=seller, buyer_org_id=buyer,
                   quantity=qty, price_fen=price, idempotency_key=key)


@pytest.fixture
def parties(db_session: Session) -> tuple[int, int, int]:
    s = db_session
    seller, buyer, other = org(s, "卖方"), org(s, "买方"), org(s, "第三方")
    issue_project(s, seller, 150_000)
    service.deposit(s, SYSTEM, buyer, 400_000_000, "d-buyer")
    s.commit()
    return seller, buyer, other


def test_listed_refusals_name_band_threshold_and_crossing(db_session: Session,
                                                          parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, other) = db_session, parties
    with pytest.raises(InvalidInput, match="outside ±10 % of the previous close 2000") as e:
        agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2201, "hi"))
    assert "between 1800 and 2200" in str(e.value.hint)
    s.rollback()
    agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2200, "edge"))  # on the band
    with pytest.raises(InvalidInput, match="below 100000 kg, got 100000") as e:
        agreements.post_listing(s, SYSTEM, _list(seller, "sell", 100_000, 2000, "big"))
    assert "大宗" in str(e.value.hint)
    s.rollback()
    agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2000, "ask"))
    s.commit()
    with pytest.raises(Conflict, match="would cross the best offer at 2000") as e:
        agreements.post_listing(s, SYSTEM, _list(buyer, "buy", 5, 2000, "cross"))
    assert "摘牌" in str(e.value.hint)
    s.rollback()
    with pytest.raises(InsufficientBalance, match="0 fen free"):  # no money at all
        agreements.post_listing(s, SYSTEM, _list(other, "buy", 5, 1900, "poor"))
    s.rollback()
    with pytest.raises(InsufficientBalance, match="0 EMIS-COD free"):  # holds nothing
        agreements.post_listing(s, SYSTEM, _list(other, "sell", 5, 2100, "empty"))
    s.rollback()


def test_partial_accept_settles_and_withdraw_releases_the_rest(
        db_session: Session, parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    listing = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 60, 2000, "l1"))
    s.commit()
    assert Funds(s).free_units(INST, seller) == 150_000 - 60  # reserved across venues
    with pytest.raises(Conflict, match=r"organisation \d+.s own"):
        agreements.accept_listing(s, SYSTEM, listing.id, _take(seller, 10, "own"))
    s.rollback()
    with pytest.raises(InvalidInput, match="has 60 kg left, asked for 61"):
        agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 61, "too-many"))
    s.rollback()
    done = agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 25, "a1"))
    s.commit()
    t = done.trade
    assert (t.mode, t.seller_org_id, t.buyer_org_id, t.quantity, t.price_fen) == \
        ("listed", seller, buyer, 25, 2000)
    assert (done.listing.remaining, done.listing.status) == (35, "open")
    assert service.unit_balance(s, INST, buyer) == 25
    assert service.money_balance(s, buyer) == 400_000_000 - 50_000 - 50_000 * FEE // 10_000
    # the 35 left stay reserved: an auction lot of more than the rest is refused
    assert Funds(s).free_units(INST, seller) == 150_000 - 25 - 35
    with pytest.raises(InsufficientBalance, match=f"{150_000 - 60} EMIS-COD free"):
        auctions.create_auction(s, SYSTEM, AuctionIn(instrument=INST, seller_org_id=seller,
                                                     quantity=150_000 - 59, reserve_fen=1500,
                                                     idempotency_key="lot"))
    s.rollback()
    assert agreements.withdraw_listing(s, SYSTEM, listing.id).status == "withdrawn"
    s.commit()
    assert Funds(s).free_units(INST, seller) == 150_000 - 25
    assert agreements.withdraw_listing(s, SYSTEM, listing.id).status == "withdrawn"  # again
    with pytest.raises(Conflict, match="is withdrawn"):
        agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 1, "late"))
    s.rollback()
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_buy_listing_reserves_money_and_a_holder_accepts_it(
        db_session: Session, parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    bid = agreements.post_listing(s, SYSTEM, _list(buyer, "buy", 40, 1900, "b1"))
    s.commit()
    assert Funds(s).free_cash(buyer) == 400_000_000 - cost_fen(40, 1900, FEE)
    done = agreements.accept_listing(s, SYSTEM, bid.id, _take(seller, 40, "sold"))
    s.commit()
    assert (done.trade.seller_org_id, done.trade.buyer_org_id) == (seller, buyer)
    assert done.listing.status == "filled"
    assert Funds(s).free_cash(buyer) == service.money_balance(s, buyer) == \
        400_000_000 - cost_fen(40, 1900, FEE)


def test_accept_only_among_the_best_five_levels(db_session: Session,
                                                parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    rows = [agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2000 + 10 * i, f"l{i}"))
            for i in range(6)]
    s.commit()
    with pytest.raises(Conflict, match=r"2050 fen is not among the best 5 price levels "
                                       r"\[2000, 2010, 2020, 2030, 2040\]"):
        agreements.accept_listing(s, SYSTEM, rows[5].id, _take(buyer, 10, "far"))
    s.rollback()
    agreements.accept_listing(s, SYSTEM, rows[0].id, _take(buyer, 10, "near"))
    done = agreements.accept_listing(s, SYSTEM, rows[5].id, _take(buyer, 10, "far"))
    s.commit()
    assert done.trade.price_fen == 2050  # the listing's price, not the taker's


def test_accept_replay_returns_the_first_trade(db_session: Session,
                                               parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    listing = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 50, 2000, "l"))
    assert agreements.post_listing(s, SYSTEM, _list(seller, "sell", 50, 2000, "l")).id == \
        listing.id
    with pytest.raises(Conflict, match=r"posted listing \d+ with other terms"):
        agreements.post_listing(s, SYSTEM, _list(seller, "sell", 51, 2000, "l"))
    s.rollback()
    listing = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 50, 2000, "l"))
    first = agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 20, "k"))
    s.commit()
    again = agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 20, "k"))
    assert again.trade.id == first.trade.id and again.listing.remaining == 30
    assert s.scalar(select(func.count()).select_from(Trade)) == 1
    with pytest.raises(Conflict, match=r"accepted listing \d+ with other terms"):
        agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 21, "k"))
    s.rollback()


def test_block_deal_needs_both_confirmations(db_session: Session,
                                            parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, other) = db_session, parties
    with pytest.raises(InvalidInput, match="at least 100000 kg, got 99999"):
        agreements.propose_block(s, SYSTEM, _block(seller, seller, buyer, 99_999, 2000, "x"))
    s.rollback()
    with pytest.raises(InvalidInput, match="outside ±30 % of the previous close 2000") as e:
        agreements.propose_block(s, SYSTEM, _block(seller, seller, buyer, 100_000, 2601, "x"))
    assert "between 1400 and 2600" in str(e.value.hint)
    s.rollback()
    with pytest.raises(InvalidInput, match="must be the seller"):
        agreements.propose_block(s, SYSTEM, _block(other, seller, buyer, 100_000, 1500, "x"))
    s.rollback()
    deal = agreements.propose_block(s, SYSTEM, _block(seller, seller, buyer, 100_000, 1400,
                                                      "blk"))
    s.commit()
    assert (deal.status, deal.seller_confirmed, deal.buyer_confirmed) == ("proposed", True, False)
    # the seller's 100,000 are held for the deal: the auction of 50,001 more is refused
    with pytest.raises(InsufficientBalance, match="50000 EMIS-COD free"):
        auctions.create_auction(s, SYSTEM, AuctionIn(instrument=INST, seller_org_id=seller,
                                                     quantity=50_001, reserve_fen=1500,
                                                     idempotency_key="lot"))
    s.rollback()
    assert agreements.confirm_block(s, SYSTEM, deal.id, seller) == (deal, None)  # own side
    assert s.scalar(select(func.count()).select_from(Trade)) == 0
    with pytest.raises(Forbidden, match="not a party"):
        agreements.confirm_block(s, SYSTEM, deal.id, other)
    s.rollback()
    settled, trade = agreements.confirm_block(s, SYSTEM, deal.id, buyer)
    s.commit()
    assert settled.status == "settled" and trade is not None
    assert (trade.mode, trade.quantity, trade.price_fen) == ("block", 100_000, 1400)
    assert service.unit_balance(s, INST, buyer) == 100_000
    assert Funds(s).free_units(INST, seller) == 50_000
    assert agreements.confirm_block(s, SYSTEM, deal.id, buyer)[1] == trade  # replay
    with pytest.raises(Conflict, match="settled; it cannot be rejected"):
        agreements.reject_block(s, SYSTEM, deal.id, seller)
    s.rollback()
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_block_reject_releases_and_an_unfunded_buyer_cannot_confirm(
        db_session: Session, parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, other) = db_session, parties
    deal = agreements.propose_block(s, SYSTEM, _block(buyer, seller, buyer, 100_000, 2000, "b"))
    s.commit()
    assert Funds(s).free_cash(buyer) == 400_000_000 - cost_fen(100_000, 2000, FEE)
    assert agreements.reject_block(s, SYSTEM, deal.id, seller).rejected_by == seller
    s.commit()
    assert Funds(s).free_cash(buyer) == 400_000_000
    with pytest.raises(Conflict, match="rejected; it cannot be confirmed"):
        agreements.confirm_block(s, SYSTEM, deal.id, seller)
    s.rollback()
    poor = agreements.propose_block(s, SYSTEM, _block(seller, seller, other, 100_000, 2000, "p"))
    s.commit()
    with pytest.raises(InsufficientBalance, match="0 fen free"):
        agreements.confirm_block(s, SYSTEM, poor.id, other)
    s.rollback()
    assert s.get_one(type(poor), poor.id).status == "proposed"


def test_closing_price_is_the_vwap_of_listed_trades_only(
        db_session: Session, parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    a = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 30, 2000, "a"))
    b = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2100, "b"))
    agreements.accept_listing(s, SYSTEM, a.id, _take(buyer, 30, "ta"))
    agreements.accept_listing(s, SYSTEM, b.id, _take(buyer, 10, "tb"))
    deal = agreements.propose_block(s, SYSTEM, _block(seller, seller, buyer, 100_000, 1400, "k"))
    agreements.confirm_block(s, SYSTEM, deal.id, buyer)
    s.commit()
    row = service.close_day(s, INST, trade_day(utcnow()))
    assert row is not None
    # (30 × 2000 + 10 × 2100) / 40 = 2025; the block trade at 1400 does not count
    assert (row.open_fen, row.close_fen) == (2000, 2025)


def test_expire_listings_is_for_the_operator(db_session: Session,
                                             parties: tuple[int, int, int]) -> None:
    s, (seller, _buyer, _other) = db_session, parties
    agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2000, "e"))
    assert agreements.expire_listings(s, SYSTEM, INST) == 1
    s.commit()
    assert agreements.board(s, INST) == []
    assert Funds(s).free_units(INST, seller) == 150_000


def test_a_buyer_proposes_the_seller_confirms_and_hours_are_enforced(
        db_session: Session, parties: tuple[int, int, int]) -> None:
    s, (seller, buyer, _other) = db_session, parties
    saturday = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, a Saturday
    tuesday = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)   # 10:00 in Shanghai (sessions [NF])
    with pytest.raises(InvalidInput, match="outside the listed trading sessions"):
        agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2000, "sat"), at=saturday)
    s.rollback()
    listing = agreements.post_listing(s, SYSTEM, _list(seller, "sell", 10, 2000, "tue"),
                                      at=tuesday)
    with pytest.raises(InvalidInput, match="outside the listed trading sessions"):
        agreements.accept_listing(s, SYSTEM, listing.id, _take(buyer, 10, "sat"), at=saturday)
    s.rollback()
    with pytest.raises(InvalidInput, match="outside the block trading sessions"):
        agreements.propose_block(s, SYSTEM, _block(buyer, seller, buyer, 100_000, 2000, "sat"),
                                 at=saturday)
    s.rollback()
    deal = agreements.propose_block(s, SYSTEM, _block(buyer, seller, buyer, 100_000, 2000, "d"),
                                    at=tuesday)
    assert (deal.seller_confirmed, deal.buyer_confirmed) == (False, True)
    deal, trade = agreements.confirm_block(s, SYSTEM, deal.id, seller, at=tuesday)
    s.commit()
    assert trade is not None and (trade.seller_org_id, trade.buyer_org_id) == (seller, buyer)
    assert service.money_balance(s, buyer) == 400_000_000 - cost_fen(100_000, 2000, FEE)
    assert Funds(s).free_cash(buyer) == service.money_balance(s, buyer)  # reservation ended
