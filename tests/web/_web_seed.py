"""Seed data of the web tests: the five pilot counties' accounts, three users, an app.

The seeded accounts are small hand-made tables (integer fen), not model output:
two years (2021, 2022) for each pilot county, three service classes, ecosystem
codes on the regulating lines, GDP in the summary. 大方县 (520521) also has a
2023 draft, so there is an "edit page" of another county for the access tests.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import timedelta

import geopandas as gpd
import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from liangshan.accounts import service as accounts
from liangshan.accounts.models import StoredAccount
from liangshan.accounts.schemas import AccountIn
from liangshan.api.app import create_app
from liangshan.db import session_factory, utcnow
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import Role
from liangshan.identity.schemas import UserIn
from liangshan.web import mount_web

PILOTS = {"520381": "赤水市", "520521": "大方县", "520621": "江口县", "522634": "雷山县",
          "522701": "都匀市"}
PASSWORD = "correct horse battery staple"
#: (service_class, indicator, ecosystem_code, quantity, unit, price, price_unit, method)
LINE_SPEC = (
    ("provisioning", "material_agriculture", None, 1.2e5, "t", "3000", "CNY/t", "market_value"),
    ("provisioning", "hydropower", None, 4.0e8, "kWh/yr", "0.3", "CNY/kWh", "market_value"),
    ("regulating", "water_conservation", 111, 3.0e8, "m3/yr", "6.1107", "CNY/m3", "water_balance"),
    ("regulating", "water_conservation", 151, 2.0e7, "m3/yr", "6.1107", "CNY/m3", "water_balance"),
    ("regulating", "carbon_sequestration", 111, 5.0e5, "t CO2/yr", "80", "CNY/t CO2", "npp"),
    ("regulating", "carbon_sequestration", 131, 4.0e4, "t CO2/yr", "80", "CNY/t CO2", "npp"),
    ("cultural", "recreation", None, 6.0e6, "visits/yr", "120", "CNY/visit", "travel_cost"),
)


def line_values(county_index: int, year: int) -> list[int]:
    """Fen of each line of LINE_SPEC: distinct per county and growing 5 % a year (integers)."""
    base = [36_000_000_000, 12_000_000_000, 183_321_000_000, 12_221_400_000,
            4_000_000_000, 320_000_000, 72_000_000_000]
    scale = (100 + 17 * county_index) * (105 ** (year - 2021))
    return [v * scale // (100 * 100 ** (year - 2021)) for v in base]


def account_in(code: str, county_index: int, year: int) -> AccountIn:
    values = line_values(county_index, year)
    lines = pd.DataFrame([
        {"region_code": code, "service_class": s[0], "indicator": s[1], "ecosystem_code": s[2],
         "quantity": s[3], "unit": s[4], "price": s[5], "price_unit": s[6], "method": s[7],
         "price_reference": "test price, GEP_METHOD §7", "value_fen": v}
        for s, v in zip(LINE_SPEC, values, strict=True)
    ])
    return AccountIn(id=f"{code}{year}".ljust(64, "0"), title=f"{PILOTS[code]} {year} 年 GEP",
                     region_code=code, year=year, profile="ndrc-2022", lines=lines,
                     manifest={"inputs": {"lines": f"sha256-of-{code}-{year}"}, "code": "test"},
                     summary={"gdp_fen": 20_000_000_000_00 + county_index * 10**12},
                     sample_data=True)


def publish(session: Session, account_id: str) -> None:
    """Publish through the accounts service when the ledger has landed; else mark it published.

    The fallback writes the status columns only (the ledger service, which assigns the log
    index and leaf hash, is not in this build yet).
    """
    if importlib.util.find_spec("liangshan.ledger.service") is not None:
        accounts.publish(session, SYSTEM, account_id)
        return
    row = session.get(StoredAccount, account_id)
    assert row is not None
    row.status = "published"
    row.published_at = utcnow()
    row.log_index = 0
    row.log_leaf_hash = "0" * 64


def seed(engine: Engine) -> dict[str, str]:
    """Accounts for the five pilots (2021, 2022 published; 大方 2023 draft) and three users."""
    session = session_factory(engine)()
    try:
        for i, code in enumerate(PILOTS):
            for year in (2021, 2022):
                row = accounts.store(session, SYSTEM, account_in(code, i, year))
                publish(session, row.id)
        accounts.store(session, SYSTEM, account_in("520521", 1, 2023))
        for username, role, region in (("chishui", Role.COUNTY_OPERATOR, "520381"),
                                       ("province", Role.PROVINCE_ADMIN, None),
                                       ("citizen", Role.PUBLIC, None)):
            identity.create_user(session, SYSTEM, UserIn(
                username=username, display_name=username, password=PASSWORD, role=role,
                region_code=region))
        session.commit()
    finally:
        session.close()
    return {"draft": account_in("520521", 1, 2023).id,
            "chishui_2022": account_in("520381", 0, 2022).id}


def domain_zones() -> gpd.GeoDataFrame:
    """Two small square zones (projected, registry CRS) for the registry demo."""
    from liangshan.registry.models import REGISTRY_CRS

    return gpd.GeoDataFrame(
        {"region_code": ["520381", "520521"], "name": ["赤水市", "大方县"]},
        geometry=[box(0, 3_150_000, 5_000, 3_155_000), box(20_000, 3_150_000, 25_000, 3_155_000)],
        crs=REGISTRY_CRS)


def seed_domains(engine: Engine) -> None:
    """The registry demo (parcels, census, catalogue, stations) and the market demo."""
    from liangshan.market import demo as market_demo
    from liangshan.registry import demo as registry_demo

    session = session_factory(engine)()
    try:
        registry_demo.seed_demo(session, domain_zones(), seed=3, parcels_per_county=12)
        market_demo.seed_demo(session, seed=3)
        session.commit()
    finally:
        session.close()


def make_app(engine: Engine) -> FastAPI:
    """The API with the web pages mounted, as ``create_app`` will do once wired."""
    app = create_app(engine)
    mount_web(app)
    return app


def csrf_token(client: TestClient, path: str = "/web/login") -> str:
    """The CSRF token that the page at ``path`` puts in its forms (and its cookie set)."""
    html = client.get(path).text
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, f"no CSRF token in the forms of {path}"
    return match.group(1)


def login(client: TestClient, username: str) -> None:
    response = client.post("/web/login", data={"username": username, "password": PASSWORD,
                                               "csrf_token": csrf_token(client)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


#: A sealed bid's price (fen per kg) that the public page must never show before the award.
SEALED_BID_FEN = 1987
#: The standing bid of the open ascending auction (fen per kg), shown to everyone.
ASCENDING_BID_FEN = 1911
#: The sealed auction's bidding deadline, this long after seeding.
SEALED_OPEN_FOR = timedelta(days=7)
#: 遵义某化工公司's listed-agreement offer of EMIS-COD: (kg, fen per kg, kg accepted by power).
LISTED_COD = (1_000, 1_950, 400)


def seed_market_users(engine: Engine) -> dict[str, int]:
    """After :func:`seed_domains`: users of two market participants and two open auctions.

    ``power`` (贵州某电力公司) and ``tech`` (贵阳某科技公司) log in as enterprise users of
    their organisations. 遵义某化工公司 offers EMIS-COD in a sealed auction closing
    SEALED_OPEN_FOR after seeding (``power`` bids SEALED_BID_FEN), in an ascending one
    without deadline (``tech`` bids ASCENDING_BID_FEN) and on the listed board
    (LISTED_COD, ``power`` takes part of it). ``newcomer`` is the user of a new
    organisation that holds no ledger account yet. Returns the organisation ids, the
    auction ids and the listing id.
    """
    from sqlalchemy import select

    from liangshan.identity.models import Organisation
    from liangshan.identity.schemas import OrganisationIn
    from liangshan.market import agreements, auctions
    from liangshan.market.schemas import AcceptIn, AuctionIn, BidIn, ListedIn

    session = session_factory(engine)()
    try:
        org = {o.name.split()[0]: o.id for o in session.scalars(select(Organisation))}
        ids = {"power": org["贵州某电力公司"], "tech": org["贵阳某科技公司"],
               "chem": org["遵义某化工公司"]}
        for username in ("power", "tech"):
            identity.create_user(session, SYSTEM, UserIn(
                username=username, display_name=username, password=PASSWORD, role=Role.ENTERPRISE,
                organisation_id=ids[username]))
        ids["newcomer"] = identity.create_organisation(session, SYSTEM, OrganisationIn(
            name="黔南某新入场公司", kind="enterprise", region_code=None)).id
        identity.create_user(session, SYSTEM, UserIn(
            username="newcomer", display_name="newcomer", password=PASSWORD,
            role=Role.ENTERPRISE, organisation_id=ids["newcomer"]))
        closes_at = utcnow() + SEALED_OPEN_FOR
        sealed = auctions.create_auction(session, SYSTEM, AuctionIn(
            instrument="EMIS-COD", seller_org_id=ids["chem"], quantity=5_000, reserve_fen=1800,
            closes_at=closes_at, idempotency_key="web:auction:sealed"))
        auctions.place_bid(session, SYSTEM, sealed.id, BidIn(
            org_id=ids["power"], quantity=1_000, price_fen=SEALED_BID_FEN,
            idempotency_key="web:bid:sealed"))
        ascending = auctions.create_auction(session, SYSTEM, AuctionIn(
            instrument="EMIS-COD", seller_org_id=ids["chem"], quantity=2_000, reserve_fen=1800,
            sealed=False, increment_fen=10, idempotency_key="web:auction:ascending"))
        auctions.place_bid(session, SYSTEM, ascending.id, BidIn(
            org_id=ids["tech"], quantity=1_000, price_fen=ASCENDING_BID_FEN,
            idempotency_key="web:bid:ascending"))
        qty, price, taken = LISTED_COD
        listing = agreements.post_listing(session, SYSTEM, ListedIn(
            instrument="EMIS-COD", org_id=ids["chem"], side="sell", quantity=qty,
            price_fen=price, idempotency_key="web:listed:cod"))
        agreements.accept_listing(session, SYSTEM, listing.id, AcceptIn(
            org_id=ids["power"], quantity=taken, idempotency_key="web:accept:cod"))
        session.commit()
        return {**ids, "sealed": sealed.id, "ascending": ascending.id, "listing": listing.id}
    finally:
        session.close()
