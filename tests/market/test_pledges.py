"""Pledges (质押): reserved against every selling path, released or enforced by the bank only.

MECHANISMS.md §4 (green finance: water-right pledge 取水权质押 [V]; other eco-asset
rights pledges [NF]);
issue 6 item 6: "a bank sees what is pledged to it". EMIS-COD lot 1, reference price
2,000 fen, listed band 1,800–2,200 fen (instruments.toml).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import AuditEvent, Role
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import agreements, auctions, orders, pledges, service
from liangshan.market.models import Pledge
from liangshan.market.schemas import (
    AuctionIn,
    ListedIn,
    OrderIn,
    PledgeIn,
    RetireIn,
    TransferIn,
)

from .helpers import issue_project, org

INST = "EMIS-COD"


def _officer(bank: int, name: str = "officer") -> Principal:
    return Principal(role=Role.BANK_OFFICER, region_code=None, username=name,
                     organisation_id=bank)


def _pledge(s: Session, holder: int, bank: int, qty: int, key: str = "p1") -> Pledge:
    return pledges.pledge(s, SYSTEM, PledgeIn(
        instrument=INST, holder_org_id=holder, bank_org_id=bank, quantity=qty,
        loan_ref="贷-2026-001", amount_fen=50_000_000, start_date=date(2026, 1, 1),
        maturity_date=date(2027, 1, 1), idempotency_key=key))


@pytest.fixture
def parties(db_session):
    s = db_session
    holder, buyer = org(s, "林场"), org(s, "买方")
    bank, other_bank = org(s, "农商行", "bank"), org(s, "他行", "bank")
    issue_project(s, holder, 100)
    service.deposit(s, SYSTEM, buyer, 10_000_000, "dep")
    return s, holder, buyer, bank, other_bank


def test_pledge_takes_oldest_serials_and_every_selling_path_refuses(parties):
    s, holder, buyer, bank, _ = parties
    p = _pledge(s, holder, bank, 60)
    assert p.serials == [f"{INST}/2024/1-60"]
    assert service.unit_balance(s, INST, holder) == 40
    assert [(b.serial_start, b.serial_end) for b in service.holdings(s, INST, holder)] == [
        (61, 100)]
    attempts = [
        lambda: service.transfer(s, SYSTEM, TransferIn(
            instrument=INST, from_org_id=holder, to_org_id=buyer, quantity=41,
            idempotency_key="t")),
        lambda: service.retire(s, SYSTEM, RetireIn(
            instrument=INST, holder_org_id=holder, quantity=41, beneficiary="x", purpose="y",
            idempotency_key="r")),
        lambda: orders.place_order(s, SYSTEM, OrderIn(
            instrument=INST, org_id=holder, side="sell", quantity=41, price_fen=2000,
            idempotency_key="o")),
        lambda: agreements.post_listing(s, SYSTEM, ListedIn(
            instrument=INST, org_id=holder, side="sell", quantity=41, price_fen=2000,
            idempotency_key="l")),
        lambda: auctions.create_auction(s, SYSTEM, AuctionIn(
            instrument=INST, seller_org_id=holder, quantity=41, reserve_fen=1900,
            idempotency_key="a")),
        lambda: _pledge(s, holder, bank, 41, "p2"),
    ]
    for attempt in attempts:
        with pytest.raises(InsufficientBalance) as err:
            attempt()
        assert f"pledge {p.id} holds 60" in str(err.value), str(err.value)
    # the 40 free units still move
    assert service.transfer(s, SYSTEM, TransferIn(
        instrument=INST, from_org_id=holder, to_org_id=buyer, quantity=40,
        idempotency_key="t-ok")) == [f"{INST}/2024/61-100"]
    assert service.serial_problems(s) == []
    assert ledger.verify_log(s) == []


def test_only_the_pledgee_bank_sees_and_releases(parties):
    s, holder, buyer, bank, other_bank = parties
    p = _pledge(s, holder, bank, 30)
    assert [x.id for x in pledges.list_pledges(s, _officer(bank))] == [p.id]
    assert pledges.list_pledges(s, _officer(other_bank)) == []
    holder_user = Principal(role=Role.ENTERPRISE, region_code=None, username="h",
                            organisation_id=holder)
    buyer_user = Principal(role=Role.ENTERPRISE, region_code=None, username="b",
                           organisation_id=buyer)
    assert [x.id for x in pledges.list_pledges(s, holder_user)] == [p.id]
    assert pledges.list_pledges(s, buyer_user) == []
    for who in (_officer(other_bank), holder_user, SYSTEM):
        with pytest.raises(Forbidden):
            pledges.release(s, who, p.id, "rel")
    with pytest.raises(Forbidden):  # the buyer cannot pledge the holder's units
        pledges.pledge(s, buyer_user, PledgeIn(
            instrument=INST, holder_org_id=holder, bank_org_id=bank, quantity=1,
            loan_ref="L", amount_fen=1, start_date=date(2026, 1, 1),
            maturity_date=date(2026, 2, 1), idempotency_key="steal"))
    with pytest.raises(InvalidInput, match="not a bank"):
        _pledge(s, holder, buyer, 1, "not-bank")


def test_release_frees_the_units_and_replays(parties):
    s, holder, buyer, bank, _ = parties
    p = _pledge(s, holder, bank, 100)
    size = ledger.log_size(s)
    done = pledges.release(s, _officer(bank), p.id, "rel")
    assert done.status == "released"
    again = pledges.release(s, _officer(bank), p.id, "rel")  # replay: same result, no change
    assert again.id == p.id and again.closing_entry_id == done.closing_entry_id
    assert ledger.log_size(s) == size + 1  # one leaf: the release entry
    with pytest.raises(Conflict, match="already released"):
        pledges.enforce(s, _officer(bank), p.id, "enf")
    assert service.unit_balance(s, INST, holder) == 100
    assert service.transfer(s, SYSTEM, TransferIn(
        instrument=INST, from_org_id=holder, to_org_id=buyer, quantity=100,
        idempotency_key="t")) == [f"{INST}/2024/1-100"]
    actions = set(s.scalars(select(AuditEvent.action).where(
        AuditEvent.target_type == "market_pledge")))
    assert actions == {"pledge", "pledge_release"}
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_enforce_moves_the_pledged_serials_to_the_bank(parties):
    s, holder, _, bank, _ = parties
    issue_project(s, holder, 50, key="i2", project="P-2")  # serials 101-150, not pledged
    p = _pledge(s, holder, bank, 70)
    assert p.serials == [f"{INST}/2024/1-70"]
    done = pledges.enforce(s, _officer(bank), p.id, "enf")
    assert done.status == "enforced"
    assert [(b.serial_start, b.serial_end) for b in service.holdings(s, INST, bank)] == [(1, 70)]
    assert service.unit_balance(s, INST, bank) == 70
    assert service.unit_balance(s, INST, holder) == 80
    assert ledger.balance(s, p.account_code) == 0
    # conservation: everything issued is held by the holder or the bank
    assert service.unit_balance(s, INST, bank) + service.unit_balance(s, INST, holder) == 150
    assert pledges.enforce(s, _officer(bank), p.id, "enf").closing_entry_id == \
        done.closing_entry_id
    with pytest.raises(Conflict):
        pledges.release(s, _officer(bank), p.id, "rel-late")
    assert service.serial_problems(s) == [] and ledger.verify_log(s) == []


def test_pledge_key_replay_and_clash(parties):
    s, holder, _, bank, _ = parties
    first = _pledge(s, holder, bank, 10, "k")
    assert _pledge(s, holder, bank, 10, "k").id == first.id
    assert service.unit_balance(s, INST, holder) == 90
    with pytest.raises(Conflict, match="other terms"):
        _pledge(s, holder, bank, 11, "k")
    with pytest.raises(ValueError, match="maturity_date"):
        PledgeIn(instrument=INST, holder_org_id=holder, bank_org_id=bank, quantity=1,
                 loan_ref="L", amount_fen=1, start_date=date(2026, 2, 1),
                 maturity_date=date(2026, 2, 1), idempotency_key="z")
