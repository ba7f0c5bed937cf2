"""JSON (and CSV) endpoints behind the dashboard: ``/web/api/...``.

Public: they read published accounts only. Every chart endpoint takes
``format=csv`` and then returns the same rows as a download.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from liangshan.web import dashboard, geo
from liangshan.web.auth import WebSession
from liangshan.web.i18n import pick_lang
from liangshan.web.labels import value_label

router = APIRouter(prefix="/web/api", tags=["web"])

FORMAT = Query("json", pattern="^(json|csv)$", description="json, or csv for a download")


def _out(chart: dashboard.Chart, fmt: str, filename: str) -> Response:
    if fmt == "csv":
        return Response(chart.to_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
    return JSONResponse(chart.to_json())


@router.get("/geo/guizhou-counties.json")
def county_geojson() -> Response:
    """Guizhou's 88 counties, simplified GeoJSON in WGS84 (see :mod:`liangshan.web.geo`)."""
    return Response(geo.county_geojson_text(), media_type="application/geo+json",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/years")
def years(session: WebSession) -> list[int]:
    """Years with published GEP accounts, newest first."""
    return dashboard.years(session)


@router.get("/indicators")
def indicators(request: Request, session: WebSession, year: int) -> list[dict[str, str]]:
    """Indicators present in ``year``'s published accounts: map metric ``ind:<code>`` + label."""
    lang = pick_lang(request)
    frame = dashboard.county_lines(session, year)
    return [{"metric": f"ind:{code}", "indicator": code, "label": value_label(code, lang)}
            for code in dashboard.indicators_of(frame)]


@router.get("/map")
def map_values(request: Request, session: WebSession, year: int, metric: str = "gep",
               format: str = FORMAT) -> Response:
    """One value per county for the map (metric: gep, gep_per_km2, gep_gdp, ind:<indicator>)."""
    chart = dashboard.map_chart(session, year, metric, pick_lang(request))
    return _out(chart, format, f"map-{year}-{metric.replace(':', '-')}")


@router.get("/county/{code}/{chart}")
def county_chart(request: Request, session: WebSession, code: str, chart: str, year: int,
                 format: str = FORMAT) -> Response:
    """One drill-down chart of a county: composition, top, ecosystem, trend, comparison."""
    data = dashboard.drill_chart(session, chart, code, year, pick_lang(request))
    return _out(data, format, f"{code}-{year}-{chart}")
