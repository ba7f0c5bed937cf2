"""Eco-product matching (ranked, hard filters) and the public registry report."""

from __future__ import annotations

from datetime import date

import pytest

from liangshan.identity.access import SYSTEM
from liangshan.market import service
from liangshan.market.matching import rank_matches, score_match
from liangshan.market.models import Listing
from liangshan.market.schemas import DemandIn, ListingIn, RetireIn

from .helpers import issue_project, org


def _listing(i, product="赤水晒醋", region="520381", qty=100, grade=1, price=1500):
    return Listing(id=i, seller_org_id=1, product=product, region_code=region, quantity=qty,
                   unit="kg", quality_grade=grade, price_fen=price)


def test_score_hand_computed_and_ranking():
    """Range 1000–2000 fen, price 1500 → 0.5; cover 100/200 → 0.5; grade 1 → 1.0;
    prefix '5203' (4 of 6 digits) → 0.667. Score 0.4·0.5 + 0.3·0.5 + 0.2·1 + 0.1·0.667."""
    demand = DemandIn(product="赤水晒醋", region_prefix="5203", quantity=200, max_grade=2,
                      price_min_fen=1000, price_max_fen=2000)
    m = score_match(demand, _listing(1))
    assert m is not None and m.score == pytest.approx(0.2 + 0.15 + 0.2 + 0.1 * 4 / 6)
    assert score_match(demand, _listing(2, product="都匀毛尖")) is None
    assert score_match(demand, _listing(3, region="522701")) is None
    assert score_match(demand, _listing(4, grade=3)) is None
    assert score_match(demand, _listing(5, price=2001)) is None
    ranked = rank_matches(demand, [_listing(6, price=1900), _listing(7, qty=300, price=1200),
                                   _listing(8, grade=4)])
    assert [r.listing_id for r in ranked] == [7, 6]


def test_event_presents_best_listings(db_session):
    seller, buyer = org(db_session, "卖方"), org(db_session, "买方")
    for price in (1200, 1500, 1900):
        service.add_listing(db_session, SYSTEM, seller, ListingIn(
            product="赤水晒醋", region_code="520381", quantity=100, unit="kg", quality_grade=1,
            price_fen=price))
    d = service.add_demand(db_session, SYSTEM, buyer, DemandIn(
        product="赤水晒醋", region_prefix="520381", quantity=100, price_max_fen=1600))
    ev = service.plan_event(db_session, SYSTEM, name="推介会", region_code="520381",
                            held_on=date(2026, 3, 2), demand_ids=[d.id], per_demand=3)
    prices = {r.id: r.price_fen for r in service.list_listings(db_session)}
    assert [prices[i] for i in ev.listing_ids] == [1200, 1500]


def test_registry_report_counts_by_status(db_session):
    a = org(db_session, "甲")
    issue_project(db_session, a, 100, key="a", project="A", year=2023)
    issue_project(db_session, a, 50, key="b", project="B", year=2024)
    service.retire(db_session, SYSTEM, RetireIn(instrument="EMIS-COD", holder_org_id=a,
                                                quantity=120, beneficiary="甲", purpose="抵消",
                                                idempotency_key="r"))
    rows = service.registry_report(db_session)
    assert [(r["vintage"], r["issued"], r["active"], r["retired"]) for r in rows] == [
        (2023, 100, 0, 100), (2024, 50, 30, 20)]
    csv_text = service.report_csv(rows).decode("utf-8-sig").splitlines()
    assert csv_text[0] == "instrument,unit,vintage,region_code,issued,active,retired,cancelled"
    assert csv_text[2] == "EMIS-COD,kg,2024,520381,50,30,20,0"
