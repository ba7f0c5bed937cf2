"""Brands: criteria, licences (expiry, suspension, revocation), the check and the report."""

from __future__ import annotations

from datetime import date

import pytest

from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.trace import brands, public, service
from liangshan.trace.schemas import BrandIn, Certificate, EventIn, LicenceIn, Sale

GREEN = Certificate(type="green_food", number="LB-2025-001", issuer="中国绿色食品发展中心",
                    valid_from=date(2025, 1, 1), valid_to=date(2027, 12, 31))


@pytest.fixture
def brand(world):
    s = world.session
    b = brands.create_brand(s, SYSTEM, BrandIn(
        code="duyun-maojian", name="都匀毛尖", kind="regional_public_brand",
        manager_org_id=world.bureau.id, region_prefixes=["5227"],
        product_types=["tea_leaf", "tea"], required_certifications=["green_food"]))
    lic = brands.grant_licence(s, world.as_bureau, b.code, LicenceIn(
        licensee_org_id=world.producer.id, product_types=["tea_leaf", "tea"],
        valid_from=date(2025, 1, 1), valid_to=date(2026, 1, 1)))
    s.commit()
    return b, lic


def test_licence_statuses(world, brand):
    s = world.session
    b, lic = brand
    certs = [GREEN.model_dump(mode="json")]
    check = brands.check_licence
    assert check(s, b.code, world.producer.id, "tea", date(2025, 6, 1), certs).ok
    assert check(s, b.code, world.producer.id, "tea", date(2026, 1, 1), certs).status == "expired"
    assert check(s, b.code, world.producer.id, "tea", date(2024, 12, 31),
                 certs).status == "not_yet_valid"
    assert check(s, b.code, world.producer.id, "tea", date(2025, 6, 1),
                 []).status == "criteria_not_met"
    assert check(s, b.code, world.buyer.id, "tea", date(2025, 6, 1), certs).status == "no_licence"
    assert check(s, b.code, world.producer.id, "rice", date(2025, 6, 1),
                 certs).status == "no_licence"
    brands.set_licence_status(s, world.as_bureau, lic.id, "suspended", "抽检不合格")
    suspended = check(s, b.code, world.producer.id, "tea", date(2025, 6, 1), certs)
    assert suspended.status == "suspended" and "抽检不合格" in suspended.message
    brands.set_licence_status(s, world.as_bureau, lic.id, "active", "整改完成")
    assert check(s, b.code, world.producer.id, "tea", date(2025, 6, 1), certs).ok
    brands.set_licence_status(s, world.as_bureau, lic.id, "revoked", "冒用")
    with pytest.raises(Conflict, match="final"):
        brands.set_licence_status(s, world.as_bureau, lic.id, "active", "再议")


def test_only_the_manager_licenses_and_criteria_hold(world, brand):
    s = world.session
    b, _ = brand
    with pytest.raises(Forbidden, match="does not manage"):
        brands.grant_licence(s, world.as_producer, b.code, LicenceIn(
            licensee_org_id=world.producer.id, product_types=["tea"],
            valid_from=date(2025, 1, 1), valid_to=date(2026, 1, 1)))
    with pytest.raises(InvalidInput, match="does not cover"):
        brands.grant_licence(s, world.as_bureau, b.code, LicenceIn(
            licensee_org_id=world.buyer.id, product_types=["rice"],
            valid_from=date(2025, 1, 1), valid_to=date(2026, 1, 1)))


def test_public_page_shows_the_licence_check(world, brand):
    s = world.session
    b, lic = brand
    batch = world.new_batch(world.as_producer, brand_code=b.code, certifications=[GREEN])
    s.commit()
    view = public.public_view(s, batch.code)
    assert view["brand"]["name"] == "都匀毛尖"
    expected_ok = brands.check_licence(s, b.code, world.producer.id, "tea_leaf", None,
                                       batch.certifications).ok
    assert view["brand"]["licence"]["ok"] is expected_ok
    brands.set_licence_status(s, world.as_bureau, lic.id, "revoked", "冒用品牌")
    s.commit()
    revoked = public.public_view(s, batch.code)["brand"]["licence"]
    assert revoked["ok"] is False and revoked["status"] == "revoked"


def test_report_volumes_and_price_premium(world, brand):
    """Hand-computed: branded 10 000 g sold at 80 fen/g, unbranded 20 000 g at 50 fen/g
    and 10 000 g at 20 fen/g → unbranded mean 40 fen/g; premium (80 − 40)/40 = 100 %."""
    s = world.session
    b, _ = brand
    branded = world.new_batch(world.as_producer, quantity=10_000, brand_code=b.code,
                        certifications=[GREEN])
    plain1 = world.new_batch(world.as_producer, quantity=20_000)
    plain2 = world.new_batch(world.as_producer, quantity=10_000)
    for batch, price in ((branded, 80), (plain1, 50), (plain2, 20)):
        service.record_event(s, world.as_producer, batch.code, EventIn(
            biz_step="sale", event_time=world.later(1),
            sale=Sale(quantity=batch.quantity, unit_price_fen=price)))
    s.commit()
    report = brands.brand_report(s, b.code, on=date(2025, 6, 1))
    assert report["licensed_producers"][0]["name"] == world.producer.name
    assert report["volumes"] == [{"product_type": "tea_leaf", "unit": "g", "quantity": 10_000}]
    premium = report["price_premium"][0]
    assert premium["branded_mean_fen_per_unit"] == 80
    assert premium["unbranded_mean_fen_per_unit"] == 40
    assert premium["premium_pct"] == 100.0
