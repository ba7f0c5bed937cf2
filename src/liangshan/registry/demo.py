"""Demo seeding: a plausible registry, census and Chishui River monitoring series.

Everything generated here is synthetic [Hyp] — parcels are a grid clipped to the
real county boundaries, holders are made-up names, quantities and readings are
random draws — except the names, sides and target classes of the Chishui River
sections, which come from MECHANISMS.md §3.3 and chishui_river_compensation.csv
[V]. Section locations are placed inside the county the section lies in, not at
the real site [K]. Run it on an empty database.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.catalog import monitoring
from liangshan.catalog import service as catalog
from liangshan.catalog.schemas import CensusIn, ProductIn, StationIn
from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.registry import io, service
from liangshan.registry.models import REGISTRY_CRS, ParcelVersion
from liangshan.registry.schemas import RightIn

#: Resource-type mix of the generated parcels [Hyp]; Guizhou's forest cover is ~60 %.
TYPE_MIX = {"forest": 0.58, "cropland": 0.22, "grassland": 0.07, "water": 0.04,
            "wetland": 0.03, "unused": 0.06}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "明华国建平军志勇秀英兰芳德福贵发成林"
BANKS = ("贵州农信", "中国农业银行", "贵州银行")
COOPS = ("{}生态茶叶专业合作社", "{}竹业专业合作社", "{}林下经济合作社")

#: Chishui River assessment sections [V: names, sides, class II target — MECHANISMS.md §3.3,
#: chishui_river_compensation.csv]; region codes are where each section lies [K].
CHISHUI_SECTIONS = (
    {"code": "CSH-QSP", "name": "清水铺", "region_code": "520502", "upstream_region": "云南省",
     "downstream_region": "贵州省/四川省", "target_class": 2},
    {"code": "CSH-MTU", "name": "茅台镇上游新增断面", "region_code": "520382",
     "upstream_region": "贵州省/四川省 (shared boundary reach)", "downstream_region": None,
     "target_class": 2},
    {"code": "CSH-LYX", "name": "鲢鱼溪", "region_code": "520381", "upstream_region": "贵州省",
     "downstream_region": "四川省", "target_class": 2},
)
CHISHUI_SOURCE = ("《赤水河流域横向生态保护补偿协议》(2018), Xinhua 2018-03-25, "
                  "https://m.yybnet.net/sichuan/news/201803/7186743.html [V]")
#: Typical Class II concentrations (mg/L) around which readings are drawn [Hyp].
WATER_MEANS = {"codmn": 2.6, "nh3n": 0.25, "tp": 0.06, "do": 7.8}


def _grid(boundary: shapely.Geometry, n: int) -> list[shapely.Geometry]:
    """About ``n`` square cells covering ``boundary``, clipped to it (slivers dropped)."""
    minx, miny, maxx, maxy = boundary.bounds
    size = math.sqrt(boundary.area / n)
    xs = np.arange(minx, maxx, size)
    ys = np.arange(miny, maxy, size)
    cells = shapely.box(*np.meshgrid(xs, ys), *np.meshgrid(xs + size, ys + size))
    cells = np.asarray(cells).ravel()
    shapely.prepare(boundary)
    cells = cells[shapely.intersects(boundary, cells)]
    clipped = shapely.intersection(cells, boundary)
    clipped = clipped[shapely.area(clipped) > 0.05 * size * size]
    polys = [shapely.make_valid(g) for g in clipped]
    out = []
    for g in polys:  # keep the areal part of clipped collections
        if g.geom_type == "GeometryCollection":
            parts = [p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
            g = shapely.union_all(parts) if parts else None
        if g is not None and g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid:
            out.append(g)
    return out


def _person(rng: np.random.Generator) -> str:
    return str(rng.choice(list(SURNAMES))) + "".join(rng.choice(list(GIVEN), 2))


def seed_demo(session: Session, zones: gpd.GeoDataFrame, seed: int = 42,
              parcels_per_county: int = 300, years: tuple[int, int] = (2023, 2024)) -> dict[str, int]:
    """Seed registry, census and monitoring for ``zones`` (projected, ``region_code`` column).

    Returns counts: parcels, refused, rights, mortgages, censuses, products, stations,
    readings, alerts.
    """
    if "region_code" not in zones.columns or zones.crs is None or zones.crs.is_geographic:
        raise InvalidInput("zones must be projected (metres) and have a region_code column",
                           hint="use StudyArea.open(path).zones or load_counties_projected()")
    zones = zones.to_crs(REGISTRY_CRS)
    codes = [str(c) for c in zones["region_code"]]
    taken = session.scalar(select(ParcelVersion.code).where(
        ParcelVersion.region_code.in_(codes)).limit(1))
    if taken:
        raise Conflict(f"the registry already holds parcels of {', '.join(codes)} (e.g. {taken})",
                       hint="seed the demo into an empty database")
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(("parcels", "refused", "rights", "mortgages", "censuses",
                            "products", "stations", "readings", "alerts"), 0)
    names = zones["name"] if "name" in zones.columns else zones["region_code"]
    for code, name, boundary in zip(codes, names, zones.geometry, strict=True):
        parcels = _seed_parcels(session, rng, code, str(name), boundary, parcels_per_county,
                                counts)
        _seed_rights(session, rng, str(name), parcels, counts)
        _seed_census(session, rng, code, parcels, years, counts)
    _seed_monitoring(session, rng, zones, years, counts)
    return counts


def _seed_parcels(session: Session, rng: np.random.Generator, code: str, name: str,
                  boundary: Any, n: int, counts: dict[str, int]) -> list[ParcelVersion]:
    cells = _grid(boundary, n)
    types = rng.choice(list(TYPE_MIX), size=len(cells), p=list(TYPE_MIX.values()))
    rows = []
    for i, rtype in enumerate(types):
        state = rtype in ("water", "wetland") or rng.random() < 0.12
        village = f"{name}第{i // 25 + 1}村"
        rows.append({"region": code, "res_type": str(rtype),
                     "ownership": "state" if state else "collective",
                     "owner": f"{name}自然资源局" if state else f"{village}集体经济组织",
                     "name": f"{village}{i % 25 + 1}号地块"})
    frame = gpd.GeoDataFrame(rows, geometry=cells, crs=REGISTRY_CRS)
    report = io.import_parcel_frame(session, SYSTEM, frame, source=f"demo {code}",
                                    reason="demo seeding (synthetic parcels [Hyp])")
    counts["parcels"] += report.accepted
    counts["refused"] += report.refused
    accepted = [r.code for r in report.rows if r.accepted and r.code is not None]
    return [service.current_parcel(session, c) for c in accepted]


def _seed_rights(session: Session, rng: np.random.Generator, name: str,
                 parcels: list[ParcelVersion], counts: dict[str, int]) -> None:
    for p in parcels:
        if p.ownership != "collective" or p.resource_type not in ("forest", "cropland"):
            continue
        # 承包期 [K]: second-round cropland contracts to 2028; collective forest 70 years
        start, end = ((date(1998, 1, 1), date(2028, 1, 1)) if p.resource_type == "cropland"
                      else (date(2008, 1, 1), date(2078, 1, 1)))
        contract = service.register_right(session, SYSTEM, RightIn(
            parcel_code=p.code, kind="contract", holder_name=_person(rng),
            holder_kind="individual", start_date=start, end_date=end,
            document_ref=f"承包经营权证 {p.code[:6]}-{rng.integers(10**5, 10**6)}"),
            reason="demo seeding [Hyp]")
        counts["rights"] += 1
        draw = rng.random()
        if draw < 0.25:
            lease_end = date(2030, 1, 1) if end > date(2030, 1, 1) else end
            service.register_right(session, SYSTEM, RightIn(
                parcel_code=p.code, kind="lease", parent_code=contract.code,
                holder_name=str(rng.choice(COOPS)).format(name), holder_kind="organisation",
                start_date=date(2020, 1, 1), end_date=lease_end,
                document_ref=f"流转合同 {p.code[-5:]}", amount_fen=int(rng.integers(300, 900))
                * 100 * 15), reason="demo seeding [Hyp]")
            counts["rights"] += 1
        if 0.2 < draw < 0.32:
            service.register_right(session, SYSTEM, RightIn(
                parcel_code=p.code, kind="mortgage", parent_code=contract.code,
                holder_name=str(rng.choice(BANKS)), holder_kind="organisation",
                start_date=date(2022, 6, 1), end_date=date(2027, 6, 1),
                document_ref=f"抵押登记 {p.code[-5:]}",
                amount_fen=int(rng.integers(5, 50)) * 10_000 * 100), reason="demo seeding [Hyp]")
            counts["rights"] += 1
            counts["mortgages"] += 1


#: Census products per county [Hyp]: (type, name, unit, low, high, on a parcel type or None).
PRODUCTS = (
    ("material_agriculture", "茶叶", "t", 500, 5000, "cropland"),
    ("material_forestry", "竹材", "m3", 1e4, 1e5, "forest"),
    ("material_forestry", "竹笋", "t", 200, 3000, "forest"),
    ("material_other", "石斛", "t", 10, 500, "forest"),
    ("water_conservation", "水源涵养", "m3/yr", 5e8, 2e9, None),
    ("carbon_sequestration", "森林固碳", "t CO2/yr", 1e5, 1e6, None),
    ("recreation", "乡村旅游", "visits/yr", 1e5, 5e6, None),
)


#: Responsible department by product type [Hyp: a plausible county division of labour].
DEPARTMENTS = {"material_forestry": "林业局", "material_other": "林业局",
               "water_conservation": "水务局", "carbon_sequestration": "林业局",
               "recreation": "文化广电旅游局"}


def _seed_census(session: Session, rng: np.random.Generator, code: str,
                 parcels: list[ParcelVersion], years: tuple[int, int],
                 counts: dict[str, int]) -> None:
    by_type: dict[str, list[ParcelVersion]] = {}
    for p in parcels:
        by_type.setdefault(p.resource_type, []).append(p)
    base = {ptype + name: rng.uniform(lo, hi) for ptype, name, _u, lo, hi, _t in PRODUCTS}
    for k, year in enumerate(years):
        census = catalog.open_census(session, SYSTEM, CensusIn(
            region_code=code, year=year, title=f"{code} {year} 生态产品信息普查 (demo)"))
        counts["censuses"] += 1
        for ptype, name, unit, _lo, _hi, on in PRODUCTS:
            if k > 0 and name == "石斛" and rng.random() < 0.5:
                continue  # some products drop out of a later census: the change list shows it
            where = by_type.get(on or "", [])
            parcel = where[int(rng.integers(len(where)))] if where else None
            catalog.add_product(session, SYSTEM, census.id, ProductIn(
                region_code=code, product_type=ptype, name=name,
                quantity=round(base[ptype + name] * (1 + 0.05 * k) * rng.uniform(0.9, 1.1), 1),
                unit=unit, quality_grade="绿色食品" if ptype == "material_agriculture" else None,
                parcel_code=parcel.code if parcel is not None else None,
                department=DEPARTMENTS.get(ptype, "农业农村局"),
                survey_date=date(year, 9, 30), survey_method="统计报表与抽样调查 (demo)",
                evidence="synthetic demo data [Hyp]"))
            counts["products"] += 1


def _seed_monitoring(session: Session, rng: np.random.Generator, zones: gpd.GeoDataFrame,
                     years: tuple[int, int], counts: dict[str, int]) -> None:
    points = {str(c): g.representative_point() for c, g in zip(zones["region_code"],
                                                                  zones.geometry, strict=True)}
    months = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-01", freq="MS")
    for sec in CHISHUI_SECTIONS:
        pt = points.get(str(sec["region_code"]))
        monitoring.create_station(session, SYSTEM, StationIn(
            **sec, kind="water_quality", basin="长江", river="赤水河",
            x=pt.x if pt is not None else None, y=pt.y if pt is not None else None,
            source=CHISHUI_SOURCE))
        counts["stations"] += 1
        rows = []
        for t in months:
            season = 1 + 0.3 * math.sin(2 * math.pi * (t.month - 4) / 12)  # wet-season peak
            for param, mean in WATER_MEANS.items():
                factor = season if param != "do" else 1 / season
                value = mean * factor * rng.lognormal(0, 0.15)
                rows.append((sec["code"], param, (t + pd.Timedelta(days=14, hours=10)).isoformat(),
                             round(value, 3), "mg/L"))
            rows.append((sec["code"], "ph", (t + pd.Timedelta(days=14, hours=10)).isoformat(),
                         round(rng.normal(7.8, 0.2), 2), ""))
        frame = pd.DataFrame(rows, columns=["station", "parameter", "observed_at", "value",
                                            "unit"])
        report = monitoring.ingest(session, SYSTEM, frame, source=f"demo {sec['code']} [Hyp]")
        counts["readings"] += report.inserted
        counts["alerts"] += len(report.alerts)
