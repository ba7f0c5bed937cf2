"""Issuance, transfer, retire and cancel of serial-numbered units, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Role
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import service
from liangshan.market.schemas import CoverageEvidence, IssueIn, RetireIn, TransferIn

from .helpers import issue_project, org, parcel


def _ccer(session, holder, code, *, key="c1", start=date(2021, 3, 1), period=(2022, 2022),
          qty=50):
    return service.issue(session, SYSTEM, IssueIn(
        instrument="CCER-AR", vintage=period[0], quantity=qty, holder_org_id=holder,
        period_start=date(period[0], 1, 1), period_end=date(period[1], 12, 31),
        verification_ref="核查报告-2023-01", idempotency_key=key, parcel_code=code,
        project_start=start))


def test_serials_are_consecutive_never_reused_and_follow_transfers(db_session):
    a, b = org(db_session, "甲公司"), org(db_session, "乙公司")
    first = issue_project(db_session, a, 100, key="k1", project="P-1")
    second = issue_project(db_session, a, 50, key="k2", project="P-2")
    assert (first.serial_start, first.serial_end) == (1, 100)
    assert (second.serial_start, second.serial_end) == (101, 150)
    moved = service.transfer(db_session, SYSTEM, TransferIn(
        instrument="EMIS-COD", from_org_id=a, to_org_id=b, quantity=120, idempotency_key="t1"))
    assert moved == ["EMIS-COD/2024/1-100", "EMIS-COD/2024/101-120"]
    assert [(x.serial_start, x.serial_end) for x in service.holdings(db_session, "EMIS-COD", a)] \
        == [(121, 150)]
    assert service.unit_balance(db_session, "EMIS-COD", a) == 30
    assert service.unit_balance(db_session, "EMIS-COD", b) == 120
    # the replay of a transfer moves nothing more
    again = service.transfer(db_session, SYSTEM, TransferIn(
        instrument="EMIS-COD", from_org_id=a, to_org_id=b, quantity=120, idempotency_key="t1"))
    assert again == moved and service.unit_balance(db_session, "EMIS-COD", b) == 120
    assert service.serial_problems(db_session) == []
    assert ledger.verify_log(db_session) == []
    db_session.commit()


def test_same_evidence_and_period_is_issued_once(db_session):
    a = org(db_session, "甲公司")
    issue_project(db_session, a, 100, key="k1", project="P-1")
    assert issue_project(db_session, a, 100, key="k1", project="P-1").id  # replay is fine
    with pytest.raises(Conflict, match="already issued against P-1"):
        issue_project(db_session, a, 10, key="k2", project="P-1")


def test_ccer_afforestation_eligibility(db_session):
    """CCER-14-001-V01 (c): ≥ 400 m², 667 m² if started ≤ 2019; (d) not wetland [V]."""
    a = org(db_session, "林场")
    small = parcel(db_session, 0, side=19.0)       # 361 m²
    mid = parcel(db_session, 1, side=25.0)         # 625 m²
    wet = parcel(db_session, 2, rtype="wetland")
    ok = parcel(db_session, 3)
    with pytest.raises(InvalidInput, match="below the 400 m²"):
        _ccer(db_session, a, small, key="x1")
    with pytest.raises(InvalidInput, match="below the 667 m²"):
        _ccer(db_session, a, mid, key="x2", start=date(2018, 5, 1))
    assert _ccer(db_session, a, mid, key="x3").quantity == 50   # started 2021: 625 ≥ 400
    with pytest.raises(InvalidInput, match="wetland"):
        _ccer(db_session, a, wet, key="x4")
    with pytest.raises(InvalidInput, match="after 2020-09-22"):
        _ccer(db_session, a, ok, key="x5", period=(2020, 2020))
    with pytest.raises(InvalidInput, match="before 2012-11-08"):
        _ccer(db_session, a, ok, key="x6", start=date(2010, 1, 1))
    _ccer(db_session, a, ok, key="x7")
    with pytest.raises(Conflict, match="already issued"):
        _ccer(db_session, a, ok, key="x8", period=(2022, 2023))


def test_forest_coverage_index_only_surplus(db_session):
    """MECHANISMS §1.1 worked example [Hyp]: forest 700,000 亩, target area 600,000 亩."""
    b = org(db_session, "B县", "government", "520521")
    cov = CoverageEvidence(land_area_mu=1_090_910, forest_area_mu=700_000,
                           target_coverage_bp=5500)  # target area ⌈600,000.5⌉ = 600,001 亩
    data = dict(instrument="FCI", vintage=2019, holder_org_id=b, region_code="520521",
                period_start=date(2019, 1, 1), period_end=date(2019, 12, 31),
                verification_ref="森林资源一张图 2019", coverage=cov)
    with pytest.raises(InvalidInput, match="surplus of 99999 亩"):
        service.issue(db_session, SYSTEM, IssueIn(quantity=100_000, idempotency_key="f1", **data))
    row = service.issue(db_session, SYSTEM, IssueIn(quantity=20_000, idempotency_key="f2", **data))
    assert row.quantity == 20_000


def test_retire_and_cancel_remove_units_for_good(db_session):
    a = org(db_session, "甲公司")
    issue_project(db_session, a, 10)
    r = service.retire(db_session, SYSTEM, RetireIn(
        instrument="EMIS-COD", holder_org_id=a, quantity=4, beneficiary="甲公司",
        purpose="2024 年度排放抵消", idempotency_key="r1"))
    assert r.serials == ["EMIS-COD/2024/1-4"]
    c = service.cancel(db_session, SYSTEM, RetireIn(
        instrument="EMIS-COD", holder_org_id=a, quantity=1, beneficiary="-",
        purpose="核查撤销", idempotency_key="c1"))
    assert c.serials == ["EMIS-COD/2024/5-5"]
    assert service.unit_balance(db_session, "EMIS-COD", a) == 5
    with pytest.raises(InsufficientBalance):
        service.retire(db_session, SYSTEM, RetireIn(
            instrument="EMIS-COD", holder_org_id=a, quantity=6, beneficiary="x",
            purpose="x", idempotency_key="r2"))
    db_session.rollback()


def test_only_parties_and_registry_staff_move_units(db_session):
    a, b = org(db_session, "甲公司"), org(db_session, "乙公司")
    issue_project(db_session, a, 10)
    outsider = Principal(role=Role.ENTERPRISE, region_code=None, username="b", organisation_id=b)
    with pytest.raises(Forbidden):
        service.transfer(db_session, outsider, TransferIn(
            instrument="EMIS-COD", from_org_id=a, to_org_id=b, quantity=1, idempotency_key="t"))
    with pytest.raises(Forbidden):
        service.cancel(db_session, outsider, RetireIn(
            instrument="EMIS-COD", holder_org_id=a, quantity=1, beneficiary="-", purpose="-",
            idempotency_key="c"))
    county = Principal(role=Role.COUNTY_OPERATOR, region_code="520521", username="op")
    with pytest.raises(Forbidden, match="may not write in region 520381"):
        service.issue(db_session, county, IssueIn(
                instrument="EMIS-COD", vintage=2024, quantity=5, holder_org_id=a,
                period_start=date(2024, 1, 1), period_end=date(2024, 12, 31),
                verification_ref="v", idempotency_key="k9", project_ref="P-9",
                region_code="520381"))


def test_forest_coverage_counts_move_from_seller_to_buyer(db_session):
    """MECHANISMS §1.1 worked example [Hyp]: A (land 200,000 亩, forest 90,000, target 55 %)
    buys 20,000 亩 from B (forest 700,000): A counts 110,000 亩 = 55 %, B keeps 680,000."""
    a = org(db_session, "A区", "government", "520381")
    b = org(db_session, "B县", "government", "520521")
    service.issue(db_session, SYSTEM, IssueIn(
        instrument="FCI", vintage=2019, quantity=20_000, holder_org_id=b, region_code="520521",
        period_start=date(2019, 1, 1), period_end=date(2019, 12, 31),
        verification_ref="一张图", idempotency_key="f",
        coverage=CoverageEvidence(land_area_mu=1_000_000, forest_area_mu=700_000,
                                  target_coverage_bp=6000)))
    assert service.counted_forest_mu(db_session, region_code="520521", org_id=b,
                                     forest_area_mu=700_000) == 700_000  # not sold yet
    service.transfer(db_session, SYSTEM, TransferIn(
        instrument="FCI", from_org_id=b, to_org_id=a, quantity=20_000, idempotency_key="t"))
    service.retire(db_session, SYSTEM, RetireIn(
        instrument="FCI", holder_org_id=a, quantity=5_000, beneficiary="A区",
        purpose="2019 森林覆盖率考核", idempotency_key="r"))
    assert service.counted_forest_mu(db_session, region_code="520381", org_id=a,
                                     forest_area_mu=90_000) == 110_000
    assert service.counted_forest_mu(db_session, region_code="520521", org_id=b,
                                     forest_area_mu=700_000) == 680_000


def test_transfer_to_self_is_refused(db_session):
    a = org(db_session, "甲公司")
    issue_project(db_session, a, 10)
    with pytest.raises(InvalidInput, match="to itself"):
        service.transfer(db_session, SYSTEM, TransferIn(
            instrument="EMIS-COD", from_org_id=a, to_org_id=a, quantity=50,
            idempotency_key="t"))
