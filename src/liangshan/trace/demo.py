"""Demo traceability data for the pilot counties: tea and other products with full chains.

Products [K: the product names are the counties' well-known specialities; every
quantity, price, test value and the recall are made up for the demo — Hyp]:

* 都匀毛尖 (都匀市 522701): fresh leaf → 杀青/揉捻/烘干 → tea, branded "黔系列", sold
  in retail packs (item codes and labels) at a premium over an unbranded lot;
* 雷山银球茶 (雷山县 522634): a household's fresh leaf bought by a cooperative and
  merged with the cooperative's own leaf, certified 绿色农产品;
* 梵净山抹茶 (江口县 520621), 金钗石斛 (赤水市 520381);
* 大方天麻 (大方县 520521): split for two buyers, then recalled after a failed sulphur
  dioxide test — the recall reaches both parts.

Origin parcels come from the registry when it holds parcels of the county.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Organisation, Role
from liangshan.identity.schemas import OrganisationIn
from liangshan.trace import brands, lineage, service
from liangshan.trace.models import Brand
from liangshan.trace.schemas import (
    BatchIn,
    BrandIn,
    Certificate,
    EventIn,
    InputUse,
    LicenceIn,
    Sale,
    TestResult,
    TransformIn,
    Where,
)

CST = timezone(timedelta(hours=8))
MARK = "（示例）"


def _org(session: Session, name: str, kind: str, region: str) -> Organisation:
    return identity.create_organisation(session, SYSTEM, OrganisationIn(
        name=name + MARK, kind=kind, region_code=region))


def _as(org: Organisation, role: Role = Role.ENTERPRISE) -> Principal:
    return Principal(role=role, region_code=org.region_code, username=f"demo-{org.id}",
                     organisation_id=org.id)


def _parcels(session: Session, county: str, n: int = 2) -> list[str]:
    try:
        from liangshan.registry.service import list_parcels
    except ModuleNotFoundError:
        return []
    for kind in ("cropland", "forest", None):
        _total, rows = list_parcels(session, region_code=county, resource_type=kind, limit=n)
        if rows:
            return [r.code for r in rows]
    return []


def _t(day: date, hour: float, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CST) + timedelta(
        hours=hour + rng.uniform(0, 0.5))


def seed_demo(session: Session, *, seed: int = 42) -> dict[str, Any]:
    """Seed organisations, brands, licences, batches with full event chains and a recall.

    Returns codes of the interesting batches and items, to show their public pages
    (``/t/<code>``). Refuses to seed twice (the demo organisations exist).
    """
    if session.scalar(select(Brand.id).where(Brand.code == "qian-series")):
        from liangshan.errors import Conflict
        raise Conflict("the traceability demo is already seeded (brand qian-series exists)",
                       hint="use a fresh database")
    rng = random.Random(seed)
    out: dict[str, Any] = {"batches": {}, "items": {}}

    province = _org(session, "贵州省农业农村厅", "government", "52")
    duyun_bureau = _org(session, "都匀市农业农村局", "government", "522701")
    leishan_bureau = _org(session, "雷山县农业农村局", "government", "522634")
    dafang_bureau = _org(session, "大方县市场监督管理局", "government", "520521")
    maojian = _org(session, "都匀毛尖茶业有限公司", "enterprise", "522701")
    duyun_small = _org(session, "都匀市山野茶厂", "enterprise", "522701")
    yinqiu = _org(session, "雷山银球茶专业合作社", "enterprise", "522634")
    household = _org(session, "雷山县农户", "individual", "522634")
    fanjing = _org(session, "江口梵净山茶业有限公司", "enterprise", "520621")
    shihu = _org(session, "赤水金钗石斛有限公司", "enterprise", "520381")
    tianma = _org(session, "大方天麻产业有限公司", "enterprise", "520521")
    retailer = _org(session, "贵阳生态农产品超市", "enterprise", "520102")
    wholesaler = _org(session, "毕节天麻批发商行", "enterprise", "520502")

    qian = brands.create_brand(session, SYSTEM, BrandIn(
        code="qian-series", name="黔系列", kind="regional_public_brand",
        manager_org_id=province.id, region_prefixes=["52"],
        product_types=["tea", "tea_leaf", "dendrobium", "gastrodia"],
        description="贵州省区域公用品牌 (demo criteria) [NF]"))
    green = brands.create_brand(session, SYSTEM, BrandIn(
        code="green-agri", name="绿色农产品", kind="certification_mark",
        manager_org_id=province.id, region_prefixes=["52"],
        product_types=["tea", "tea_leaf", "dendrobium", "gastrodia", "rice"],
        required_certifications=["green_food"], description="demo criteria [NF]"))
    as_province = _as(province, Role.PROVINCE_ADMIN)
    for org, brand in ((maojian, qian), (fanjing, qian), (shihu, qian), (yinqiu, green),
                       (tianma, qian)):
        brands.grant_licence(session, as_province, brand.code, LicenceIn(
            licensee_org_id=org.id, product_types=["tea", "tea_leaf", "dendrobium", "gastrodia"]
            if brand is qian else ["tea", "tea_leaf"],
            valid_from=date(2025, 1, 1), valid_to=date(2027, 1, 1)))
    out["brands"] = [qian.code, green.code]

    # 都匀毛尖: planting → harvest → inspection → processing → storage → transport → sale
    day = date(2025, 3, 18)
    p = _as(maojian)
    leaf = service.create_batch(session, p, BatchIn(
        region_code="522701", product_type="tea_leaf", product_name="都匀毛尖鲜叶（明前）",
        quantity=rng.randrange(380_000, 420_000, 1_000), unit="g",
        harvest_start=day, harvest_end=day + timedelta(days=3),
        origin_parcels=_parcels(session, "522701"), event_time=_t(day - timedelta(days=20), 8,
                                                                  rng),
        where=Where(region_code="522701", zone="都匀市毛尖镇茶园")))
    service.record_event(session, p, leaf.code, EventIn(
        biz_step="planting", event_time=_t(day - timedelta(days=15), 9, rng),
        inputs_used=[InputUse(kind="fertiliser", name="菜籽饼有机肥", amount="150",
                              unit="kg/亩", applied_on=day - timedelta(days=15))],
        where=Where(region_code="522701")))
    service.record_event(session, p, leaf.code, EventIn(
        biz_step="harvest", event_time=_t(day, 7, rng), where=Where(region_code="522701"),
        notes="一芽一叶初展"))
    service.record_event(session, _as(duyun_bureau, Role.DEPARTMENT_STAFF), leaf.code, EventIn(
        biz_step="inspection", event_time=_t(day + timedelta(days=1), 10, rng),
        test_results=[TestResult(item="毒死蜱 chlorpyrifos", value="ND", unit="mg/kg",
                                 limit="0.1", passed=True, lab="黔南州农产品质量安全检测中心",
                                 report_no="QN-2025-0318")]))
    tea = lineage.transform(session, p, TransformIn(
        inputs=[{"code": leaf.code, "quantity": leaf.quantity}],
        outputs=[{"product_type": "tea", "product_name": "都匀毛尖（特级）",
                  "quantity": leaf.quantity // 5, "unit": "g", "brand_code": qian.code}],
        event_time=_t(day + timedelta(days=2), 9, rng), region_code="522701",
        process="杀青 揉捻 搓团提毫 烘干"))[0]
    service.record_event(session, p, tea.code, EventIn(
        biz_step="storage", event_time=_t(day + timedelta(days=3), 9, rng),
        temperature_c="4", where=Where(read_point="都匀毛尖冷库1号")))
    packs = lineage.split(session, p, tea.code, [tea.quantity // 2, tea.quantity // 2],
                          _t(day + timedelta(days=4), 9, rng))
    service.record_event(session, p, packs[0].code, EventIn(
        biz_step="transport", event_time=_t(day + timedelta(days=5), 8, rng),
        where=Where(region_code="520102", read_point="贵阳"), temperature_c="6"))
    service.record_event(session, p, packs[0].code, EventIn(
        biz_step="sale", event_time=_t(day + timedelta(days=6), 10, rng),
        sale=Sale(quantity=packs[0].quantity, unit_price_fen=rng.randrange(300, 340),
                  buyer_org_id=retailer.id, order_no="GY-2025-0401")))
    items = service.issue_items(session, _as(retailer), packs[0].code, 24)
    service.record_event(session, _as(retailer), packs[0].code, EventIn(
        biz_step="sale", event_time=_t(day + timedelta(days=7), 15, rng),
        sale=Sale(quantity=250, unit_price_fen=rng.randrange(380, 420))))
    out["batches"]["duyun_maojian"] = packs[0].code
    out["items"]["duyun_maojian"] = items[:3]

    # an unbranded lot of the same product type: the brand report's price comparison
    q = _as(duyun_small)
    plain = service.create_batch(session, q, BatchIn(
        region_code="522701", product_type="tea", product_name="都匀绿茶", quantity=40_000,
        unit="g", event_time=_t(day, 9, rng)))
    service.record_event(session, q, plain.code, EventIn(
        biz_step="sale", event_time=_t(day + timedelta(days=6), 11, rng),
        sale=Sale(quantity=40_000, unit_price_fen=rng.randrange(150, 180))))
    out["batches"]["duyun_unbranded"] = plain.code

    # 雷山银球茶: a household's leaf bought by the cooperative, merged with its own
    day = date(2025, 4, 2)
    h = _as(household)
    home = service.create_batch(session, h, BatchIn(
        region_code="522634", product_type="tea_leaf", product_name="雷山茶鲜叶",
        quantity=60_000, unit="g", harvest_start=day, harvest_end=day,
        origin_parcels=_parcels(session, "522634", 1), event_time=_t(day, 7, rng)))
    service.record_event(session, h, home.code, EventIn(
        biz_step="sale", event_time=_t(day, 12, rng),
        sale=Sale(quantity=60_000, unit_price_fen=8, buyer_org_id=yinqiu.id)))
    y = _as(yinqiu)
    own = service.create_batch(session, y, BatchIn(
        region_code="522634", product_type="tea_leaf", product_name="雷山茶鲜叶",
        quantity=140_000, unit="g", harvest_start=day, harvest_end=day,
        origin_parcels=_parcels(session, "522634", 2)[1:], event_time=_t(day, 8, rng)))
    ball = lineage.transform(session, y, TransformIn(
        inputs=[{"code": home.code, "quantity": 60_000}, {"code": own.code,
                                                          "quantity": 140_000}],
        outputs=[{"product_type": "tea", "product_name": "雷山银球茶", "quantity": 42_000,
                  "unit": "g", "brand_code": green.code, "certifications": [Certificate(
                      type="green_food", number="LB-45-25040001", issuer="中国绿色食品发展中心",
                      valid_from=date(2025, 1, 1), valid_to=date(2027, 12, 31))]}],
        event_time=_t(day + timedelta(days=1), 9, rng), region_code="522634",
        process="摊青 杀青 揉捻 造型成球 烘干"))[0]
    service.record_event(session, _as(leishan_bureau, Role.DEPARTMENT_STAFF), ball.code,
                         EventIn(biz_step="inspection",
                                 event_time=_t(day + timedelta(days=2), 10, rng),
                                 test_results=[TestResult(item="铅 Pb", value="0.21",
                                                          unit="mg/kg", limit="5.0",
                                                          passed=True)]))
    out["batches"]["leishan_yinqiu"] = ball.code

    # 梵净山抹茶 and 金钗石斛: short chains
    for key, org, county, ptype, name, qty in (
            ("jiangkou_matcha", fanjing, "520621", "tea", "梵净山抹茶", 80_000),
            ("chishui_shihu", shihu, "520381", "dendrobium", "赤水金钗石斛", 25_000)):
        a = _as(org)
        b = service.create_batch(session, a, BatchIn(
            region_code=county, product_type=ptype, product_name=name, quantity=qty, unit="g",
            origin_parcels=_parcels(session, county, 1), brand_code=qian.code,
            event_time=_t(date(2025, 5, 6), 8, rng)))
        service.record_event(session, a, b.code, EventIn(
            biz_step="storage", event_time=_t(date(2025, 5, 7), 9, rng)))
        out["batches"][key] = b.code

    # 大方天麻: split for two buyers, then recalled — both parts show the recall
    t = _as(tianma)
    root = service.create_batch(session, t, BatchIn(
        region_code="520521", product_type="gastrodia", product_name="大方天麻（干片）",
        quantity=500, unit="kg", origin_parcels=_parcels(session, "520521", 1),
        brand_code=qian.code, event_time=_t(date(2025, 6, 1), 8, rng)))
    parts = lineage.split(session, t, root.code, [200, 300], _t(date(2025, 6, 3), 9, rng))
    service.record_event(session, t, parts[1].code, EventIn(
        biz_step="sale", event_time=_t(date(2025, 6, 4), 9, rng),
        sale=Sale(quantity=300, unit_price_fen=16_000, buyer_org_id=wholesaler.id)))
    service.recall(session, _as(dafang_bureau, Role.DEPARTMENT_STAFF), root.code,
                   "二氧化硫残留超标（示例）SO₂ residue over the limit (demo)",
                   _t(date(2025, 6, 10), 9, rng))
    out["batches"]["dafang_tianma_recalled"] = parts[1].code
    out["recalled"] = [root.code, *(x.code for x in parts)]
    out["organisations"] = 13
    return out
