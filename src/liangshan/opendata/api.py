"""Open data read endpoints (/open): parcels, catalogue, stations, readings.

JSON pages (total, offset, limit, items), CSV (UTF-8 with BOM) or GeoJSON
(EPSG:4326) by ``format``. Parcel data never includes personal data of individual
holders unless the caller's role needs it (see
:func:`liangshan.registry.service.shows_personal`). Every request is logged and rate
limited (:mod:`.access`).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

import geopandas as gpd
import shapely
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from liangshan.api.deps import SessionDep
from liangshan.catalog import catalogue, monitoring
from liangshan.identity.access import Principal
from liangshan.opendata.access import LoggedRoute, reader
from liangshan.registry import service as registry
from liangshan.registry.models import REGISTRY_CRS
from liangshan.registry.schemas import ParcelOut
from liangshan.registry.service import shows_personal

router = APIRouter(prefix="/open", tags=["open data"], route_class=LoggedRoute)

RegistryReader = Annotated[Principal | None, Depends(reader("read:registry"))]
CatalogReader = Annotated[Principal | None, Depends(reader("read:catalog"))]
MonitoringReader = Annotated[Principal | None, Depends(reader("read:monitoring"))]
FORMAT = Query("json", pattern="^(json|csv|geojson)$")
TABLE_FORMAT = Query("json", pattern="^(json|csv)$")
MAX_LIMIT = 1000


def _csv(rows: list[dict[str, Any]], name: str) -> Response:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(buffer.getvalue().encode("utf-8-sig"), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _geojson(rows: list[dict[str, Any]], geoms: list[Any], extra: dict[str, Any]) -> Response:
    wgs = gpd.GeoSeries(geoms, crs=REGISTRY_CRS).to_crs("EPSG:4326")
    features = [{"type": "Feature", "properties": r,
                 "geometry": None if g is None else shapely.geometry.mapping(g)}
                for r, g in zip(rows, wgs, strict=True)]
    body = {"type": "FeatureCollection", "features": features, **extra}
    return Response(json.dumps(body, ensure_ascii=False, default=str),
                    media_type="application/geo+json")


def _page(rows: list[dict[str, Any]], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"total": total, "offset": offset, "limit": limit, "items": rows}


@router.get("/parcels")
def parcels(session: SessionDep, _actor: RegistryReader, region_code: str | None = None,
            resource_type: str | None = None, at: datetime | None = None,
            offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=MAX_LIMIT),
            format: str = FORMAT) -> Any:
    """Parcels (no rights, so no holders): code, region, type, ownership, area in m²."""
    total, rows = registry.list_parcels(session, region_code=region_code,
                                        resource_type=resource_type, at=at, offset=offset,
                                        limit=limit)
    items = [ParcelOut.model_validate(r).model_dump(mode="json",
                                                     exclude={"recorded_by_label", "reason"})
             for r in rows]
    if format == "csv":
        return _csv(items, "parcels")
    if format == "geojson":
        return _geojson(items, [shapely.from_wkb(r.geom_wkb) for r in rows],
                        {"total": total, "offset": offset, "limit": limit})
    return _page(items, total, offset, limit)


@router.get("/parcels/{code}")
def parcel(session: SessionDep, actor: RegistryReader, code: str,
           at: datetime | None = None) -> Any:
    """A parcel's one-identity view; individual holders are masked unless the role needs them."""
    return registry.parcel_view(session, code, at, show_personal=shows_personal(actor))


@router.get("/catalogue")
def open_catalogue(session: SessionDep, _actor: CatalogReader, region_code: str = "52",
                   year: int | None = None, offset: int = Query(0, ge=0),
                   limit: int = Query(100, ge=1, le=MAX_LIMIT),
                   format: str = TABLE_FORMAT) -> Any:
    frame = catalogue.build_catalogue(session, region_code, year)
    part = frame.iloc[offset:offset + limit]
    rows = part.astype(object).where(part.notna(), None).to_dict("records")
    if format == "csv":
        return _csv(rows, f"catalogue-{region_code}")
    return _page(rows, len(frame), offset, limit)


def _station_row(s: Any) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ("code", "name", "kind", "region_code", "basin", "river",
                                       "upstream_region", "downstream_region", "target_class")}


@router.get("/stations")
def stations(session: SessionDep, _actor: MonitoringReader, region_code: str | None = None,
             basin: str | None = None, format: str = FORMAT) -> Any:
    rows = monitoring.list_stations(session, region_code=region_code, basin=basin)
    items = [_station_row(s) for s in rows]
    if format == "csv":
        return _csv(items, "stations")
    if format == "geojson":
        geoms = [shapely.Point(s.x, s.y) if s.x is not None and s.y is not None else None
                 for s in rows]
        return _geojson(items, geoms, {})
    return _page(items, len(items), 0, len(items))


@router.get("/stations/{code}/readings")
def readings(session: SessionDep, _actor: MonitoringReader, code: str,
             parameter: str | None = None, start: datetime | None = None,
             end: datetime | None = None, offset: int = Query(0, ge=0),
             limit: int = Query(1000, ge=1, le=10 * MAX_LIMIT),
             format: str = TABLE_FORMAT) -> Any:
    """A station's readings (canonical units), oldest first."""
    frame = monitoring.series(session, code, parameter, start, end)
    part = frame.iloc[offset:offset + limit]
    rows = [{**r, "observed_at": r["observed_at"].isoformat()}
            for r in part.to_dict("records")]
    if format == "csv":
        return _csv(rows, f"readings-{code}")
    return _page(rows, len(frame), offset, limit)


@router.get("/stations/{code}/classes")
def classes(session: SessionDep, _actor: MonitoringReader, code: str,
            freq: str = Query("month", pattern="^(month|year)$"),
            format: str = TABLE_FORMAT) -> Any:
    """GB 3838-2002 class per month or year (single-factor; means of the period)."""
    frame = monitoring.station_classes(session, code, freq)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    if format == "csv":
        return _csv(rows, f"classes-{code}")
    return _page(rows, len(rows), 0, len(rows))


@router.get("/stations/{code}/compliance")
def compliance(session: SessionDep, _actor: MonitoringReader, code: str,
               year: int = Query(ge=2000, le=2100)) -> dict[str, Any]:
    """A section's compliance with its target class in a year (annual mean and months)."""
    return monitoring.compliance(session, code, year)
