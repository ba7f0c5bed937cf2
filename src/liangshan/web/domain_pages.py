"""The domain pages: registry (parcels), catalogue per county, monitoring stations, market.

Thin by rule (DESIGN §3 rule 4): parse the request, call the domain's service, render.
Whether individual holders' names show is decided by
:func:`liangshan.registry.service.shows_personal` (government roles and auditors);
searching by holder name reveals who holds what, so it follows the same rule.
Money is shown from integer fen; areas in m² (registry CRS), quantities in each
instrument's unit.
"""

from __future__ import annotations

import json
import math
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pyproj import Transformer

from liangshan.catalog import catalogue, monitoring
from liangshan.errors import InvalidInput, NotFound
from liangshan.market import service as market
from liangshan.registry import service as registry
from liangshan.registry.models import REGISTRY_CRS
from liangshan.web import dashboard, geo, market_view
from liangshan.web.auth import WebPrincipal, WebSession
from liangshan.web.i18n import pick_lang
from liangshan.web.render import HtmlErrorRoute, page, secure_headers

router = APIRouter(route_class=HtmlErrorRoute, include_in_schema=False)

PAGE_SIZE = 50


def _int_field(text: str | None, name: str, default: int | None) -> int | None:
    """A whole number from a query field; empty means ``default``."""
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit():
        raise InvalidInput(f"{name} {text!r} is not a whole number", hint=f"type a number for {name}")
    return int(text.strip())


def _json_for_script(data: Any) -> str:
    """JSON inside <script type="application/json">: no early end tag."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


# ---------------------------------------------------------------- registry


@cache
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(REGISTRY_CRS, "EPSG:4326", always_xy=True)


def parcel_outline(geom_wkb: bytes) -> list[list[list[float]]]:
    """The parcel's rings as [[lon, lat], ...] in WGS84 degrees (for the small ECharts map)."""
    geom = shapely.transform(shapely.from_wkb(geom_wkb), lambda xy: _stack(*_to_wgs84()
                             .transform(xy[:, 0], xy[:, 1])))
    rings = []
    for part in getattr(geom, "geoms", [geom]):
        for ring in [part.exterior, *part.interiors]:
            rings.append([[round(x, 6), round(y, 6)] for x, y in ring.coords])
    return rings


def _stack(xs: Any, ys: Any) -> Any:
    return np.column_stack([xs, ys])


@router.get("/web/parcels")
def parcels_page(request: Request, session: WebSession, principal: WebPrincipal,
                 code: str | None = None, holder: str | None = None,
                 region_code: str | None = None, page_no: str | None = None) -> Response:
    """Search by parcel code, by holder (government roles and auditors only) or list a region."""
    number = _int_field(page_no, "page", 1) or 1
    personal = registry.shows_personal(principal)
    code, holder, region = (code or "").strip(), (holder or "").strip(), (region_code or "").strip()
    if holder:
        registry.require_personal(principal, "search parcels by holder name")
        rows = [r for r in registry.parcels_of_holder(session, holder)
                if not region or r.region_code.startswith(region)]
        total = len(rows)
        rows = rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    elif code:
        try:
            rows = [registry.current_parcel(session, code)]
        except NotFound:
            rows = []
        total = len(rows)
    else:
        total, rows = registry.list_parcels(session, region_code=region or None,
                                            offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return page(request, "parcels.html", principal, rows=rows, total=total, page_no=number,
                pages=pages, code=code, holder=holder, region_code=region,
                may_search_holder=personal, region_name=geo.namer(pick_lang(request)))


@router.get("/web/parcels/{code}")
def parcel_page(request: Request, session: WebSession, principal: WebPrincipal,
                code: str) -> Response:
    """The parcel's one-identity page; holders' personal data per ``shows_personal``."""
    view = registry.parcel_view(session, code, show_personal=registry.shows_personal(principal))
    links = {name: rows for name, rows in view.links.items() if rows}
    outline = parcel_outline(registry.current_parcel(session, code).geom_wkb) \
        if view.parcel.valid_to is None else []
    return page(request, "parcel.html", principal, view=view, links=links,
                region_name=geo.county_name(view.parcel.region_code, pick_lang(request)),
                history=registry.parcel_history(session, code),
                outline_json=_json_for_script({"rings": outline}))


# ---------------------------------------------------------------- catalogue


def _catalogue_rows(session: WebSession, region_code: str, year: str | None
                    ) -> tuple[list[str], list[dict[str, Any]], int | None]:
    wanted = _int_field(year, "year", None)
    frame = catalogue.build_catalogue(session, region_code, year=wanted)
    rows = json.loads(frame.to_json(orient="records", force_ascii=False))
    return list(frame.columns), rows, wanted


@router.get("/web/catalog/{region_code}")
def catalog_page(request: Request, session: WebSession, principal: WebPrincipal,
                 region_code: str, year: str | None = None) -> Response:
    """The 目录清单 of a county (or the province, "52") as a table."""
    columns, rows, wanted = _catalogue_rows(session, region_code, year)
    return page(request, "catalog.html", principal, region_code=region_code,
                region_name=geo.county_name(region_code, pick_lang(request)), columns=columns,
                rows=rows,
                headings=catalogue.HEADINGS, year=wanted)


@router.get("/web/catalog/{region_code}/download.csv")
def catalog_download(session: WebSession, region_code: str, year: str | None = None) -> Response:
    """The 目录清单 as UTF-8 CSV with a byte-order mark (machine column names)."""
    columns, rows, _ = _catalogue_rows(session, region_code, year)
    body = dashboard.Chart("catalogue", columns, rows).to_csv()
    return secure_headers(Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="catalogue-{region_code}.csv"'}))


# ---------------------------------------------------------------- monitoring


@router.get("/web/monitoring")
def stations_page(request: Request, session: WebSession, principal: WebPrincipal,
                  region_code: str | None = None) -> Response:
    region = (region_code or "").strip()
    return page(request, "stations.html", principal, region_code=region,
                rows=monitoring.list_stations(session, region_code=region or None),
                region_name=geo.namer(pick_lang(request)))


@router.get("/web/monitoring/{code}")
def station_page(request: Request, session: WebSession, principal: WebPrincipal,
                 code: str) -> Response:
    """GB 3838-2002 class per month (chart and table) and the station's alerts."""
    station = monitoring.get_station(session, code)
    frame = monitoring.station_classes(session, code, "month")
    rows = json.loads(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
    chart = {"periods": [str(r["period"]) for r in rows],
             "classes": [r.get("water_class") for r in rows],
             "target": station.target_class, "lang": pick_lang(request)}
    station_alerts = [a for a in monitoring.alerts(session, region_code=station.region_code)
                      if a.station_id == station.id]
    return page(request, "station.html", principal, station=station, rows=rows,
                columns=list(frame.columns), alerts=station_alerts,
                region_name=geo.county_name(station.region_code, pick_lang(request)),
                chart_json=_json_for_script(chart))


# ---------------------------------------------------------------- market


@router.get("/web/market")
def market_page(request: Request, session: WebSession, principal: WebPrincipal,
                instrument: str | None = None) -> Response:
    """Instruments and their rules, one instrument's order-book depth, open auctions, the
    public registry report, recent trades, last closes; for a participant's user, its own
    holdings, money and open orders and bids (:mod:`liangshan.web.market_view`)."""
    instruments = market.load_instruments()
    chosen = (instrument or "").strip() or market_view.busiest_book(session, list(instruments))
    market.get_instrument(chosen)   # an unknown code is a 404 naming the known ones
    trades = market.list_trades(session, limit=10**6)[-50:][::-1]
    # the latest recorded close of each instrument: the one before the end of the calendar
    closes = {code: market.previous_close(session, code, date.max) for code in instruments}
    depth = market_view.book_depth(session, chosen)
    chart = market_view.depth_chart(depth, instruments[chosen], pick_lang(request))
    return page(request, "market.html", principal, instruments=list(instruments.values()),
                chosen=instruments[chosen], depth=depth, depth_json=_json_for_script(chart),
                auctions=market_view.open_auctions(session),
                board=market_view.listed_board(session, instruments),
                position=market_view.position(session, principal, instruments),
                report=market.registry_report(session), trades=trades, closes=closes)
