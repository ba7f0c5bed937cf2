"""HTTP routes of the registry (logged-in users): register, change, look up, import.

Geometries travel as GeoJSON in the CRS named by ``crs`` (default EPSG:4326) and
are stored in the registry CRS. Public read access goes through the open-data API.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from shapely.geometry import shape

from liangshan.api.deps import PrincipalDep, SessionDep
from liangshan.errors import InvalidInput
from liangshan.registry import io, service
from liangshan.registry.models import REGISTRY_CRS
from liangshan.registry.schemas import (
    ParcelIn,
    ParcelOut,
    ParcelStatus,
    ParcelView,
    RightIn,
    RightOut,
)
from liangshan.registry.service import shows_personal

router = APIRouter(prefix="/registry", tags=["registry"])


def to_registry_crs(geojson: dict[str, Any], crs: str) -> Any:
    """A GeoJSON geometry in ``crs`` as a shapely geometry in the registry CRS (m)."""
    try:
        geom = shape(geojson)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        raise InvalidInput("geometry is not a GeoJSON geometry",
                           hint='send {"type": "Polygon", "coordinates": [...]}') from None
    return gpd.GeoSeries([geom], crs=crs).to_crs(REGISTRY_CRS).iloc[0]


class ParcelCreate(BaseModel):
    code: str | None = None
    region_code: str
    name: str | None = None
    resource_type: str
    status: ParcelStatus = ParcelStatus.REGISTERED
    ownership: str
    owner_name: str
    owner_org_id: int | None = None
    geometry: dict[str, Any] = Field(description="GeoJSON geometry")
    crs: str = "EPSG:4326"
    reason: str = "initial registration"


class ParcelChange(BaseModel):
    reason: str = Field(min_length=1)
    changes: dict[str, Any] = Field(description="fields to change; geometry as GeoJSON")
    crs: str = "EPSG:4326"


class DatedAction(BaseModel):
    on: date
    reason: str = Field(min_length=1)


@router.post("/parcels", response_model=ParcelOut, status_code=201)
def register_parcel(session: SessionDep, actor: PrincipalDep, body: ParcelCreate) -> Any:
    fields = body.model_dump(exclude={"crs", "reason", "geometry"})
    data = ParcelIn(**fields, geometry=to_registry_crs(body.geometry, body.crs))
    return service.register_parcel(session, actor, data, body.reason)


@router.patch("/parcels/{code}", response_model=ParcelOut)
def update_parcel(session: SessionDep, actor: PrincipalDep, code: str, body: ParcelChange) -> Any:
    changes = dict(body.changes)
    if "geometry" in changes:
        changes["geometry"] = to_registry_crs(changes["geometry"], body.crs)
    return service.update_parcel(session, actor, code, body.reason, **changes)


@router.get("/parcels", response_model=list[ParcelOut])
def find_parcels(session: SessionDep, actor: PrincipalDep, region_code: str | None = None,
                 resource_type: str | None = None, holder: str | None = None,
                 x: float | None = None, y: float | None = None, crs: str = "EPSG:4326",
                 at: datetime | None = None, offset: int = 0, limit: int = 100) -> Any:
    """By point (x, y in ``crs``), by holder, or a page by region/type."""
    if x is not None and y is not None:
        pt = gpd.GeoSeries([shapely.Point(x, y)], crs=crs).to_crs(REGISTRY_CRS).iloc[0]
        return service.parcels_at_point(session, pt.x, pt.y, at, resource_type)
    if holder:
        service.require_personal(actor, "search parcels by holder")
        return service.parcels_of_holder(session, holder, at)
    return service.list_parcels(session, region_code=region_code, resource_type=resource_type,
                                at=at, offset=offset, limit=min(limit, 1000))[1]


class PolygonQuery(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON polygon")
    crs: str = "EPSG:4326"
    at: datetime | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)


@router.post("/parcels/search", response_model=list[ParcelOut])
def parcels_in_polygon(session: SessionDep, _actor: PrincipalDep, body: PolygonQuery) -> Any:
    """Parcels whose area overlaps the polygon (touching only does not count)."""
    polygon = to_registry_crs(body.geometry, body.crs)
    return service.parcels_in_polygon(session, polygon, body.at, body.limit)


@router.get("/export")
def export(session: SessionDep, _actor: PrincipalDep, region_code: str | None = None,
           format: str = Query("gpkg", pattern="^(gpkg|geojson|shp)$"),
           crs: str = "EPSG:4326", at: datetime | None = None) -> Response:
    """Parcels as a GeoPackage, GeoJSON or zipped Shapefile (no rights, so no holders)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = io.export_parcels(session, Path(tmp) / f"parcels.{format}",
                                 region_code=region_code, at=at, crs=crs)
        if format == "shp":
            import zipfile

            zipped = Path(tmp) / "parcels.zip"
            with zipfile.ZipFile(zipped, "w") as zf:
                for part in sorted(Path(tmp).glob("parcels.*")):
                    if part != zipped:
                        zf.write(part, part.name)
            path = zipped
        body = path.read_bytes()
    media = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json",
             "shp": "application/zip"}[format]
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


@router.get("/parcels/{code}", response_model=ParcelView)
def get_parcel(session: SessionDep, actor: PrincipalDep, code: str,
               at: datetime | None = None) -> ParcelView:
    return service.parcel_view(session, code, at, show_personal=shows_personal(actor))


@router.get("/parcels/{code}/history", response_model=list[ParcelOut])
def parcel_history(session: SessionDep, _actor: PrincipalDep, code: str) -> Any:
    return service.parcel_history(session, code)


@router.post("/rights", response_model=RightOut, status_code=201)
def register_right(session: SessionDep, actor: PrincipalDep, body: RightIn,
                   reason: str = "registration") -> Any:
    return service.register_right(session, actor, body, reason)


@router.post("/rights/{code}/release", response_model=RightOut)
def release_mortgage(session: SessionDep, actor: PrincipalDep, code: str,
                     body: DatedAction) -> Any:
    return service.release_mortgage(session, actor, code, body.on, body.reason)


@router.post("/rights/{code}/end", response_model=RightOut)
def end_right(session: SessionDep, actor: PrincipalDep, code: str, body: DatedAction) -> Any:
    return service.end_right(session, actor, code, body.on, body.reason)


@router.get("/rights/{code}/history", response_model=list[RightOut])
def right_history(session: SessionDep, actor: PrincipalDep, code: str) -> Any:
    rows = [RightOut.model_validate(r) for r in service.right_history(session, code)]
    return rows if shows_personal(actor) else [service.redact(r) for r in rows]


@router.post("/import")
async def import_parcels(session: SessionDep, actor: PrincipalDep,
                         file: UploadFile = File(description=".gpkg, .geojson or a zipped .shp"),
                         assume_crs: str | None = Form(None)) -> dict[str, Any]:
    """Import a parcel file; returns the per-row report (accepted rows are registered)."""
    name = Path(file.filename or "upload.geojson").name
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(await file.read())
        if path.suffix.lower() == ".zip":  # a Shapefile travels zipped
            import zipfile

            with zipfile.ZipFile(path) as zf:
                zf.extractall(tmp)
            shps = sorted(Path(tmp).rglob("*.shp"))
            if not shps:
                raise InvalidInput(f"{name}: no .shp inside the zip", hint="zip the .shp, .shx, "
                                   ".dbf and .prj together")
            path = shps[0]
        report = io.import_parcels(session, actor, path, assume_crs=assume_crs)
    return {"source": name, "crs": report.crs, "accepted": report.accepted,
            "refused": report.refused, "rows": report.to_frame().to_dict("records")}
