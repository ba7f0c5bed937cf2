"""Delivery versus payment: fees, benefit shares, idempotent replay, all-or-nothing."""

from __future__ import annotations

from datetime import date

import pytest

from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import service
from liangshan.market.instruments import get_instrument
from liangshan.market.schemas import Beneficiary, IssueIn, TradeIn
from liangshan.market.settlement import FEE_ACCOUNT, money_postings

from .helpers import issue_project, org, parcel


def test_money_leg_hand_computed():
    """100 t × 12.34 元 = 123,400 fen; fee 75 bp per side = 925 fen each (山西 0.75 % [V]);
    village share 1,000 bp of 123,400 = 12,340 fen; seller 123,400 − 925 − 12,340 = 110,135."""
    lines = dict(money_postings(123_400, 75, "S", "B", "F", [("V", 12_340)]))
    assert lines == {"B": -124_325, "F": 1_850, "V": 12_340, "S": 110_135}
    assert sum(lines.values()) == 0


def test_primary_sale_pays_the_village_share_resale_does_not(db_session):
    seller, buyer, third = org(db_session, "合作社"), org(db_session, "电厂"), org(db_session, "丙")
    village = org(db_session, "丙安村集体经济组织", "village_collective")
    issue_project(db_session, seller, 100, instrument="WATER", beneficiaries=[
        {"org_id": village, "share_bp": 1000, "role": "village_collective"}])
    service.deposit(db_session, SYSTEM, buyer, 1_000_000, "d1")
    t = service.settle(db_session, SYSTEM, TradeIn(
        instrument="WATER", mode="listed", seller_org_id=seller, buyer_org_id=buyer,
        quantity=100, price_fen=1234, idempotency_key="t1", fee_bp=75))
    assert t.serials == ["WATER/2024/1-100"]
    assert service.money_balance(db_session, buyer) == 1_000_000 - 124_325
    assert service.money_balance(db_session, seller) == 110_135
    assert service.money_balance(db_session, village) == 12_340
    assert ledger.balance(db_session, FEE_ACCOUNT) == 1_850
    assert t.shares == [{"org_id": village, "fen": 12_340, "role": "village_collective"}]
    # resale: no share
    service.deposit(db_session, SYSTEM, third, 10, "d3")
    t2 = service.settle(db_session, SYSTEM, TradeIn(
        instrument="WATER", mode="auction", seller_org_id=buyer, buyer_org_id=third,
        quantity=10, price_fen=1, idempotency_key="t2"))
    assert t2.shares == []
    # replay returns the same trade; changed terms under the key are refused
    again = service.settle(db_session, SYSTEM, TradeIn(
        instrument="WATER", mode="listed", seller_org_id=seller, buyer_org_id=buyer,
        quantity=100, price_fen=1234, idempotency_key="t1", fee_bp=75))
    assert again.id == t.id
    with pytest.raises(Conflict, match="other terms"):
        service.settle(db_session, SYSTEM, TradeIn(
            instrument="WATER", mode="listed", seller_org_id=seller, buyer_org_id=buyer,
            quantity=99, price_fen=1234, idempotency_key="t1"))
    assert service.serial_problems(db_session) == []
    assert ledger.verify_log(db_session) == []
    db_session.commit()


def test_single_tree_money_goes_wholly_to_the_household(db_session):
    """单株碳汇: 200 trees × 1 yr × 3 元 = 600 元, 100 % to the household [V]."""
    coop, household, buyer = (org(db_session, "村合作社"), org(db_session, "农户王某", "individual"),
                              org(db_session, "捐赠企业"))
    service.issue(db_session, SYSTEM, IssueIn(
        instrument="GZ-TREE", vintage=2019, quantity=200, holder_org_id=coop,
        period_start=date(2019, 1, 1), period_end=date(2019, 12, 31),
        verification_ref="单株碳汇登记 2019", idempotency_key="trees",
        parcel_code=parcel(db_session, 0, rtype="cropland"),
        beneficiaries=[Beneficiary(org_id=household, share_bp=10_000, role="household")]))
    service.deposit(db_session, SYSTEM, buyer, 60_000, "d")
    service.settle(db_session, SYSTEM, TradeIn(
        instrument="GZ-TREE", mode="fixed", seller_org_id=coop, buyer_org_id=buyer, quantity=200,
        price_fen=300, idempotency_key="tree"))
    assert service.money_balance(db_session, household) == 60_000
    assert service.money_balance(db_session, coop) == 0


def test_buyer_short_of_money_moves_nothing(db_engine):
    from liangshan.db import session_scope
    with session_scope(db_engine) as s:
        a, b = org(s, "卖方"), org(s, "买方")
        issue_project(s, a, 10)
        service.deposit(s, SYSTEM, b, 99, "d")
    with pytest.raises(InsufficientBalance), session_scope(db_engine) as s:
        service.settle(s, SYSTEM, TradeIn(
            instrument="EMIS-COD", mode="listed", seller_org_id=a, buyer_org_id=b,
            quantity=10, price_fen=2000, idempotency_key="t"))
    with session_scope(db_engine) as s:
        assert service.unit_balance(s, "EMIS-COD", a) == 10
        assert service.unit_balance(s, "EMIS-COD", b) == 0
        assert service.money_balance(s, b) == 99
        assert service.list_trades(s) == []
        assert ledger.entries_by_reference(s, "market:trade:t") == []
        assert service.serial_problems(s) == []


def test_close_day_is_vwap_of_listed_trades_and_carries_over(db_session):
    """10 kg @ 20.00 元 and 30 kg @ 21.00 元 listed, a block @ 15.00 ignored:
    close = (200 + 630) / 40 = 20.75 元; the next day's band uses it."""
    from datetime import timedelta

    from liangshan.db import utcnow
    from liangshan.market.instruments import SHANGHAI
    from liangshan.market.modes import check_listed

    a, b = org(db_session, "卖方"), org(db_session, "买方")
    issue_project(db_session, a, 200_000)
    service.deposit(db_session, SYSTEM, b, 10**10, "d")
    for i, (mode, qty, price) in enumerate((("listed", 10, 2000), ("block", 100_000, 1500),
                                            ("listed", 30, 2100))):
        service.settle(db_session, SYSTEM, TradeIn(
            instrument="EMIS-COD", mode=mode, seller_org_id=a, buyer_org_id=b, quantity=qty,
            price_fen=price, idempotency_key=f"t{i}"))
    today = utcnow().astimezone(SHANGHAI).date()
    row = service.close_day(db_session, "EMIS-COD", today)
    assert (row.open_fen, row.close_fen, row.volume) == (2000, 2075, 100_040)
    tomorrow = today + timedelta(days=1)
    assert service.previous_close(db_session, "EMIS-COD", tomorrow) == 2075
    assert service.close_day(db_session, "EMIS-COD", tomorrow).close_fen == 2075  # carried
    prev = service.previous_close(db_session, "EMIS-COD", tomorrow + timedelta(days=1))
    check_listed(get_instrument("EMIS-COD"), 2282, 1, prev)  # 20.75 × 1.1 = 22.825
    with pytest.raises(InvalidInput):
        check_listed(get_instrument("EMIS-COD"), 2283, 1, prev)


def test_settlement_enforces_the_mode_rules(db_session):
    """EMIS-COD: reference 20 元/kg [V 株洲 2016], listed ±10 %, block ≥ 100,000 kg ±30 %."""
    a, b = org(db_session, "卖方"), org(db_session, "买方")
    issue_project(db_session, a, 200_000)
    service.deposit(db_session, SYSTEM, b, 10**10, "d")

    def trade(mode, qty, price, key):
        return service.settle(db_session, SYSTEM, TradeIn(
            instrument="EMIS-COD", mode=mode, seller_org_id=a, buyer_org_id=b, quantity=qty,
            price_fen=price, idempotency_key=key))

    with pytest.raises(InvalidInput, match="outside ±10 %"):
        trade("listed", 10, 2201, "x1")
    with pytest.raises(InvalidInput, match="at least 100000"):
        trade("block", 99_999, 2000, "x2")
    with pytest.raises(InvalidInput, match="below 100000"):
        trade("continuous", 100_000, 2000, "x3")
    with pytest.raises(InvalidInput, match="outside ±30 %"):
        trade("block", 100_000, 1399, "x4")
    assert trade("block", 100_000, 1400, "ok").gross_fen == 140_000_000
    assert service.list_trades(db_session)[0].idempotency_key == "ok"
