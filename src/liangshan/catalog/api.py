"""HTTP routes of the census, catalogue and monitoring (logged-in users and keys with
``write:monitoring``). Public reads go through the open-data API (/open)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from liangshan.api.deps import PrincipalDep, SessionDep
from liangshan.catalog import catalogue, monitoring, service
from liangshan.catalog.schemas import (
    AlertOut,
    CensusIn,
    CensusOut,
    ProductIn,
    ProductOut,
    StationIn,
    StationOut,
)
from liangshan.registry.api import to_registry_crs

router = APIRouter(tags=["catalog"])


def table_response(frame: pd.DataFrame, fmt: str, name: str) -> Any:
    """A table as JSON records, CSV (UTF-8 with BOM) or XLSX."""
    if fmt == "json":
        return frame.astype(object).where(frame.notna(), None).to_dict("records")
    with tempfile.TemporaryDirectory() as tmp:
        path = catalogue.export_table(frame, Path(tmp) / f"{name}.{fmt}")
        body = path.read_bytes()
    media = ("text/csv" if fmt == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


class ProductBody(ProductIn):
    geometry: dict[str, Any] | None = None
    crs: str = "EPSG:4326"


@router.post("/catalog/censuses", response_model=CensusOut, status_code=201)
def open_census(session: SessionDep, actor: PrincipalDep, body: CensusIn) -> Any:
    return service.open_census(session, actor, body)


@router.get("/catalog/censuses", response_model=list[CensusOut])
def list_censuses(session: SessionDep, _actor: PrincipalDep,
                  region_code: str | None = None) -> Any:
    return service.list_censuses(session, region_code)


@router.post("/catalog/censuses/{census_id}/products", response_model=ProductOut,
             status_code=201)
def add_product(session: SessionDep, actor: PrincipalDep, census_id: int,
                body: ProductBody) -> Any:
    geom = to_registry_crs(body.geometry, body.crs) if body.geometry else None
    data = ProductIn(**body.model_dump(exclude={"geometry", "crs"}), geometry=geom)
    return service.add_product(session, actor, census_id, data)


@router.get("/catalog/censuses/{census_id}/products", response_model=list[ProductOut])
def list_products(session: SessionDep, _actor: PrincipalDep, census_id: int) -> Any:
    return service.products(session, census_id)


@router.get("/catalog/censuses/{census_id}/changes")
def change_list(session: SessionDep, _actor: PrincipalDep, census_id: int,
                format: str = Query("json", pattern="^(json|csv|xlsx)$")) -> Any:
    frame = catalogue.change_list(session, census_id)
    return table_response(frame, format, f"changes-{census_id}")


@router.get("/catalog/catalogue")
def get_catalogue(session: SessionDep, _actor: PrincipalDep, region_code: str,
                  year: int | None = None,
                  format: str = Query("json", pattern="^(json|csv|xlsx)$")) -> Any:
    frame = catalogue.build_catalogue(session, region_code, year)
    return table_response(frame, format, f"catalogue-{region_code}")


@router.post("/monitoring/stations", response_model=StationOut, status_code=201)
def create_station(session: SessionDep, actor: PrincipalDep, body: StationIn) -> Any:
    return monitoring.create_station(session, actor, body)


class ReadingIn(BaseModel):
    station: str
    parameter: str
    observed_at: str
    value: float
    unit: str


def _report(report: monitoring.IngestReport) -> dict[str, Any]:
    return {"source": report.source, "inserted": report.inserted,
            "duplicates": report.duplicates,
            "refused": [{"row": k, "reason": v} for k, v in sorted(report.refused.items())],
            "alerts": report.alerts}


@router.post("/monitoring/readings")
def ingest_readings(session: SessionDep, actor: PrincipalDep,
                    body: list[ReadingIn]) -> dict[str, Any]:
    """Ingest readings (idempotent); naive times are Asia/Shanghai."""
    frame = pd.DataFrame([r.model_dump() for r in body],
                         columns=["station", "parameter", "observed_at", "value", "unit"])
    return _report(monitoring.ingest(session, actor, frame, source="api"))


@router.post("/monitoring/readings/csv")
async def ingest_readings_csv(session: SessionDep, actor: PrincipalDep,
                              file: UploadFile = File(...)) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(file.filename or "readings.csv").name
        path.write_bytes(await file.read())
        return _report(monitoring.ingest_csv(session, actor, path))


@router.get("/monitoring/alerts", response_model=list[AlertOut])
def list_alerts(session: SessionDep, _actor: PrincipalDep, region_code: str | None = None,
                kind: str | None = None) -> Any:
    return monitoring.alerts(session, region_code=region_code, kind=kind)


@router.get("/monitoring/stations/{code}/classes")
def station_classes(session: SessionDep, _actor: PrincipalDep, code: str,
                    freq: str = Query("month", pattern="^(month|year)$")) -> Any:
    return table_response(monitoring.station_classes(session, code, freq), "json", code)

