"""Auction deadlines (单向竞价 with a closing time): bids at or after ``closes_at`` are refused,
the award waits for it, and only the market operator closes early, with a reason kept in the
audit trail. One-way bidding ends at a stated time on Chinese environmental exchanges
(MECHANISMS.md §1.5 [K]); the boundary — a bid exactly at the deadline is late — is ours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.api import create_app
from liangshan.db import session_factory, utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import AuditEvent, Role
from liangshan.identity.schemas import UserIn
from liangshan.ledger import service as ledger
from liangshan.market import auctions, service
from liangshan.market.models import Auction
from liangshan.market.schemas import AuctionIn, BidIn

from .helpers import issue_project, org

INST = "EMIS-COD"


def _lot(seller: int, closes_at: datetime | None, key: str = "a") -> AuctionIn:
    return AuctionIn(instrument=INST, seller_org_id=seller, quantity=50, reserve_fen=1500,
                     closes_at=closes_at, idempotency_key=key)


def _bid(bidder: int, key: str, price: int = 1600) -> BidIn:
    return BidIn(org_id=bidder, quantity=10, price_fen=price, idempotency_key=key)


def _setup(s: Session) -> tuple[int, int]:
    seller, buyer = org(s, "卖方"), org(s, "买方")
    issue_project(s, seller, 100)
    service.deposit(s, SYSTEM, buyer, 100_000, "d")
    s.commit()
    return seller, buyer


def test_bids_close_at_the_deadline_and_the_award_waits_for_it(db_session: Session) -> None:
    s = db_session
    seller, buyer = _setup(s)
    t0 = utcnow()
    deadline = t0 + timedelta(hours=2)
    lot = auctions.create_auction(s, SYSTEM, _lot(seller, deadline), now=t0)
    s.commit()
    s.expire_all()
    stored = s.get(Auction, lot.id)
    assert stored is not None and stored.closes_at == deadline          # round-trips as UTC
    assert auctions.auction_view(s, None, lot.id)["closes_at"] == deadline
    one_before = deadline - timedelta(microseconds=1)
    auctions.place_bid(s, SYSTEM, lot.id, _bid(buyer, "in-time"), now=one_before)
    s.commit()
    for late in (deadline, deadline + timedelta(minutes=1)):            # at, and after
        with pytest.raises(Conflict, match=r"closed for bids at .*at or after the deadline"):
            auctions.place_bid(s, SYSTEM, lot.id, _bid(buyer, f"late-{late}", 1700), now=late)
        s.rollback()
    with pytest.raises(Conflict, match="cannot be awarded before its deadline"):
        auctions.award_auction(s, SYSTEM, lot.id, now=one_before)
    s.rollback()
    seller_user = Principal(role=Role.ENTERPRISE, region_code=None, username="seller",
                            organisation_id=seller)
    with pytest.raises(Conflict, match="before its deadline"):
        auctions.award_auction(s, seller_user, lot.id, now=deadline - timedelta(minutes=5))
    s.rollback()
    done = auctions.award_auction(s, seller_user, lot.id, now=deadline)  # at the deadline: ok
    s.commit()
    assert [(t.buyer_org_id, t.quantity, t.price_fen) for t in done.trades] == [(buyer, 10, 1600)]
    assert done.auction.awarded_at == deadline
    assert service.unit_balance(s, INST, buyer) == 10
    assert ledger.verify_log(s) == [] and service.serial_problems(s) == []


def test_early_close_needs_the_operator_and_a_reason_kept_in_the_audit(db_session: Session
                                                                       ) -> None:
    s = db_session
    seller, buyer = _setup(s)
    t0 = utcnow()
    lot = auctions.create_auction(s, SYSTEM, _lot(seller, t0 + timedelta(days=1)), now=t0)
    auctions.place_bid(s, SYSTEM, lot.id, _bid(buyer, "b"), now=t0 + timedelta(minutes=1))
    s.commit()
    seller_user = Principal(role=Role.ENTERPRISE, region_code=None, username="seller",
                            organisation_id=seller)
    with pytest.raises(Forbidden, match="only the market operator"):
        auctions.award_auction(s, seller_user, lot.id, force_reason="want cash now",
                               now=t0 + timedelta(hours=1))
    s.rollback()
    with pytest.raises(Conflict, match="before its deadline"):           # blank reason
        auctions.award_auction(s, SYSTEM, lot.id, force_reason="  ", now=t0 + timedelta(hours=1))
    s.rollback()
    reason = "监测数据复核发现卖方配额有误，提前结束竞价"
    done = auctions.award_auction(s, SYSTEM, lot.id, force_reason=reason,
                                  now=t0 + timedelta(hours=1))
    s.commit()
    assert done.auction.status == "awarded" and len(done.trades) == 1
    audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "award",
                                               AuditEvent.target_type == "market_auction",
                                               AuditEvent.target_id == str(lot.id))).one()
    assert audit.reason == reason
    assert audit.detail is not None
    assert audit.detail["early_close_before"] == (t0 + timedelta(days=1)).isoformat()


def test_deadline_must_be_aware_and_ahead_and_none_means_open_until_awarded(
        db_session: Session) -> None:
    s = db_session
    seller, buyer = _setup(s)
    t0 = utcnow()
    with pytest.raises(InvalidInput, match="has no time zone"):
        auctions.create_auction(s, SYSTEM, _lot(seller, datetime(2030, 1, 1, 15, 0)), now=t0)
    s.rollback()
    with pytest.raises(InvalidInput, match="not in the future"):
        auctions.create_auction(s, SYSTEM, _lot(seller, t0), now=t0)
    s.rollback()
    # a deadline given in Beijing time is the same instant in UTC
    beijing = timezone(timedelta(hours=8))
    local = (t0 + timedelta(hours=3)).astimezone(beijing)
    lot = auctions.create_auction(s, SYSTEM, _lot(seller, local, key="bj"), now=t0)
    s.commit()
    s.expire_all()
    assert s.get(Auction, lot.id).closes_at == t0 + timedelta(hours=3)  # type: ignore[union-attr]
    open_ended = auctions.create_auction(s, SYSTEM, _lot(seller, None, key="none"), now=t0)
    far = t0 + timedelta(days=400)
    auctions.place_bid(s, SYSTEM, open_ended.id, _bid(buyer, "late-but-fine"), now=far)
    assert auctions.award_auction(s, SYSTEM, open_ended.id, now=far).auction.status == "awarded"
    s.commit()


def test_api_takes_the_deadline_and_the_operators_early_close(db_engine) -> None:
    password = "correct horse battery"
    with session_factory(db_engine)() as s:
        seller, _ = _setup(s)
        identity.create_user(s, SYSTEM, UserIn(username="admin", display_name="admin",
                                               password=password, role=Role.PROVINCE_ADMIN))
        identity.create_user(s, SYSTEM, UserIn(username="seller", display_name="seller",
                                               password=password, role=Role.ENTERPRISE,
                                               organisation_id=seller))
        s.commit()
    with TestClient(create_app(db_engine), raise_server_exceptions=False) as c:
        def auth(name: str) -> dict[str, str]:
            r = c.post("/auth/token", data={"username": name, "password": password})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        closes = (utcnow() + timedelta(days=2)).replace(microsecond=0)
        r = c.post("/market/auctions", headers=auth("seller"), json={
            "instrument": INST, "seller_org_id": seller, "quantity": 50, "reserve_fen": 1500,
            "closes_at": closes.isoformat(), "idempotency_key": "api-lot"})
        assert r.status_code == 201, r.text
        lot = r.json()
        assert datetime.fromisoformat(lot["closes_at"]) == closes
        r = c.post(f"/market/auctions/{lot['id']}/award", headers=auth("seller"))
        assert r.status_code == 409 and "before its deadline" in r.text
        r = c.post(f"/market/auctions/{lot['id']}/award", headers=auth("seller"),
                   params={"force_reason": "early"})
        assert r.status_code == 403 and "only the market operator" in r.text
        r = c.post(f"/market/auctions/{lot['id']}/award", headers=auth("admin"),
                   params={"force_reason": "卖方申请撤回，经审核提前结束"})
        assert r.status_code == 200, r.text
        assert r.json()["auction"]["status"] == "awarded" and r.json()["trades"] == []
