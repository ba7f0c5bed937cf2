"""Demo seeding of the market: instruments, participants, units issued from the sample
registry, and one trading day in each mode, all persisted (listed agreement, the
continuous order book, block agreement, one-way bidding as a sealed auction) plus the
fixed-price 单株碳汇 sale, with settlement, a retirement, eco-product matching and a 推介会.

All names and numbers are made up [Hyp] except the rules and prices tagged in
``instruments.toml`` (e.g. 3 元 per tree-year [V], 2,500 元/亩 forest-area index [V]).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from shapely.geometry import box
from sqlalchemy.orm import Session

from liangshan.errors import Conflict
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.schemas import OrganisationIn
from liangshan.market import agreements, auctions, orders, service
from liangshan.market.instruments import SHANGHAI
from liangshan.market.schemas import (
    AcceptIn,
    AuctionIn,
    Beneficiary,
    BidIn,
    BlockIn,
    CoverageEvidence,
    DemandIn,
    IssueIn,
    ListedIn,
    ListingIn,
    OrderIn,
    RetireIn,
    TradeIn,
    TransferIn,
)
from liangshan.registry import service as registry
from liangshan.registry.schemas import ParcelIn

PARTICIPANTS = [  # (name, kind, region)
    ("赤水市林业合作社 [Hyp]", "enterprise", None),
    ("丙安村集体经济组织 [Hyp]", "village_collective", None),
    ("贵州某电力公司 [Hyp]", "enterprise", None),
    ("遵义某化工公司 [Hyp]", "enterprise", None),
    ("贵阳某科技公司 [Hyp]", "enterprise", None),
    ("农户王某 [Hyp]", "individual", None),
    ("大方县人民政府 [Hyp]", "government", "520521"),
    ("都匀市人民政府 [Hyp]", "government", "522701"),
]
FEE_BP = 5  # [NF] demo fee per side


def _parcels(session: Session) -> list[str]:
    """Forest or cropland parcels of 赤水市 from the registry, or two demo parcels."""
    _, rows = registry.list_parcels(session, region_code="520381", resource_type="forest",
                                    limit=50)
    codes = [r.code for r in rows if r.area_m2 >= 667.0]
    if len(codes) >= 2:
        return codes[:2]
    out = []
    for i in range(2):  # far from the sample registry's extent, so they never overlap
        geom = box(9_000_000.0 + i * 1000, 3_000_000.0, 9_000_500.0 + i * 1000, 3_000_500.0)
        out.append(registry.register_parcel(session, SYSTEM, ParcelIn(
            region_code="520381", resource_type="forest", ownership="collective",
            owner_name="丙安村集体经济组织 [Hyp]", geometry=geom)).code)
    return out


def seed_demo(session: Session, *, seed: int = 42) -> dict[str, Any]:
    """Seed the market into a database that has none of it; returns counts and the report.

    Flushes; the caller commits. Refuses (:class:`Conflict`) if the demo was seeded.
    """
    rng = random.Random(seed)
    if any(i.idempotency_key.startswith("demo:") for i in service.list_issuances(session)):
        raise Conflict("the market demo is already seeded",
                               hint="seed it into an empty database")
    orgs = [identity.create_organisation(session, SYSTEM, OrganisationIn(
        name=n, kind=k, region_code=r)).id for n, k, r in PARTICIPANTS]
    coop, village, power, chem, tech, household, dafang, duyun = orgs
    forest, trees = _parcels(session)
    year = 2024

    def issue(key: str, **kw: Any) -> None:
        service.issue(session, SYSTEM, IssueIn(vintage=kw.pop("vintage", year),
                                               period_start=date(year, 1, 1),
                                               period_end=date(year, 12, 31),
                                               idempotency_key=f"demo:{key}", **kw))

    village_share = [Beneficiary(org_id=village, share_bp=1000, role="village_collective")]
    issue("ccer", instrument="CCER-AR", quantity=150_000, holder_org_id=coop,
          parcel_code=forest, project_start=date(2021, 3, 12), beneficiaries=village_share,
          verification_ref="CCER-14-001-V01 核查报告 [Hyp]")
    issue("tree", instrument="GZ-TREE", quantity=400, holder_org_id=coop, parcel_code=trees,
          verification_ref="单株碳汇登记 [Hyp]",
          beneficiaries=[Beneficiary(org_id=household, share_bp=10_000, role="household")])
    issue("fci", instrument="FCI", quantity=20_000, holder_org_id=dafang, region_code="520521",
          verification_ref="森林资源一张图 [Hyp]",
          coverage=CoverageEvidence(land_area_mu=5_000_000, forest_area_mu=3_000_000,
                                    target_coverage_bp=5500))
    issue("cod", instrument="EMIS-COD", quantity=50_000, holder_org_id=chem,
          region_code="520381", project_ref="排污许可 520381-COD-001 [Hyp]",
          verification_ref="减排核查 [Hyp]")
    for i, o in enumerate((power, chem, tech, duyun)):
        service.deposit(session, SYSTEM, o, 10_000_000_000, f"demo:deposit:{i}")

    service.transfer(session, SYSTEM, _transfer("CCER-AR", coop, tech, 2_000, "demo:t1"))
    # listed agreement (挂牌协议), persisted: the coop and the tech firm list offers, the power
    # firm takes (摘牌) from the best 5 levels; each acceptance settles at once
    ids = [agreements.post_listing(session, SYSTEM, ListedIn(
        instrument="CCER-AR", org_id=who, side="sell", quantity=qty, price_fen=price,
        idempotency_key=f"demo:listed:{i}"), fee_bp=FEE_BP).id
        for i, (who, qty, price) in enumerate(((coop, 500, 5000), (coop, 500, 5010),
                                               (coop, 500, 5020), (tech, 800, 5020)))]
    for i, (listing, qty) in enumerate(((ids[0], 500), (ids[3], 300))):
        agreements.accept_listing(session, SYSTEM, listing, AcceptIn(
            org_id=power, quantity=qty, idempotency_key=f"demo:accept:{i}"))
    # the persisted continuous order book, priced around the listed trades; each order
    # is its own matching cycle and its trades settle at once (orders left open rest)
    for i in range(40):
        side = rng.choice(("buy", "sell"))
        who = power if side == "buy" else rng.choice((coop, tech))
        orders.place_order(session, SYSTEM, OrderIn(
            instrument="CCER-AR", org_id=who, side=side, quantity=rng.randint(1, 60),
            price_fen=5000 + rng.randint(-40, 40), idempotency_key=f"demo:order:{i}"),
            fee_bp=FEE_BP)
    # block agreement (大宗协议): ≥ 100,000 t within ±30 %, proposed by the coop and
    # confirmed by the chemical firm, which settles it
    deal = agreements.propose_block(session, SYSTEM, BlockIn(
        instrument="CCER-AR", org_id=coop, seller_org_id=coop, buyer_org_id=chem,
        quantity=100_000, price_fen=4600, idempotency_key="demo:block:0"), fee_bp=FEE_BP)
    agreements.confirm_block(session, SYSTEM, deal.id, chem)
    # one-way bidding (单向竞价) on emission rights, reserve 18 元/kg, sealed bids
    lot = auctions.create_auction(session, SYSTEM, AuctionIn(
        instrument="EMIS-COD", seller_org_id=chem, quantity=20_000, reserve_fen=1800,
        idempotency_key="demo:auction:0"), fee_bp=FEE_BP)
    for i, (who, price) in enumerate(((power, 1900), (tech, 2050), (duyun, 1850))):
        auctions.place_bid(session, SYSTEM, lot.id, BidIn(
            org_id=who, quantity=10_000, price_fen=price, idempotency_key=f"demo:bid:{i}"))
    auctions.award_auction(session, SYSTEM, lot.id)
    # fixed-price 单株碳汇: 200 trees for one year, all money to the household
    service.settle(session, SYSTEM, TradeIn(
        instrument="GZ-TREE", mode="fixed", seller_org_id=coop, buyer_org_id=tech,
        quantity=200, price_fen=300, idempotency_key="demo:fixed:0"))
    # forest-area index: a block deal between governments at 2,500 元/亩 [V]
    service.settle(session, SYSTEM, TradeIn(
        instrument="FCI", mode="block", seller_org_id=dafang, buyer_org_id=duyun,
        quantity=15_000, price_fen=250_000, idempotency_key="demo:fci:0"))
    service.retire(session, SYSTEM, RetireIn(
        instrument="CCER-AR", holder_org_id=chem, quantity=30_000, beneficiary="遵义某化工公司",
        purpose="2025 年度自愿抵消 [Hyp]", idempotency_key="demo:retire:0"))
    # eco-product matching and a 推介会
    for product, region, qty, grade, price in (("赤水晒醋", "520381", 5000, 1, 1800),
                                               ("赤水晒醋", "520381", 800, 2, 1500),
                                               ("都匀毛尖", "522701", 300, 1, 60_000)):
        service.add_listing(session, SYSTEM, coop, ListingIn(
            product=product, region_code=region, quantity=qty, unit="kg",
            quality_grade=grade, price_fen=price))
    demand = service.add_demand(session, SYSTEM, tech, DemandIn(
        product="赤水晒醋", region_prefix="5203", quantity=2000, max_grade=2,
        price_min_fen=1000, price_max_fen=2000))
    event = service.plan_event(session, SYSTEM, name="赤水市生态产品推介会 [Hyp]",
                               region_code="520381", held_on=date(2026, 3, 2),
                               demand_ids=[demand.id])
    trades = service.list_trades(session)
    # the day's closing prices (VWAP of listed trades), so the market page shows them
    closes = [service.close_day(session, code, day) for code, day in sorted(
        {(t.instrument, t.executed_at.astimezone(SHANGHAI).date()) for t in trades})]
    return {"closing_prices": sum(c is not None for c in closes),
            "organisations": len(orgs), "issuances": len(service.list_issuances(session)),
            "trades": len(trades), "trades_by_mode": _count(t.mode for t in trades),
            "matches": len(service.matches_for(session, demand.id)),
            "event_listings": len(event.listing_ids),
            "report": service.registry_report(session)}


def _transfer(instrument: str, a: int, b: int, qty: int, key: str) -> TransferIn:
    return TransferIn(instrument=instrument, from_org_id=a, to_org_id=b, quantity=qty,
                      idempotency_key=key)


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out
