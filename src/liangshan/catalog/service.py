"""Census services: open a county's census round, record products, list and link them.

Product types and their accepted units come from ``product_types.csv`` (the GEP
indicator classes of GEP_METHOD.md §3.1 [V]). A product is located by a parcel of
the registry (checked through the registry's service) or by a polygon, or only by
its region when neither applies (e.g. a township's water conservation).
"""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.catalog.models import CensusRound, ProductRecord
from liangshan.catalog.schemas import CensusIn, ProductIn, ProductOut
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.service import record


@cache
def product_types() -> dict[str, dict[str, Any]]:
    """product_type → its row of product_types.csv, with ``units`` as a tuple."""
    text = (files("liangshan.catalog") / "product_types.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["product_type"]] = {**row, "units": tuple(row["units"].split(";"))}
    return out


def open_census(session: Session, actor: Principal, data: CensusIn) -> CensusRound:
    """Open the census of a county for a year (one per county and year)."""
    actor.require_write(data.region_code)
    existing = session.scalar(select(CensusRound).where(
        CensusRound.region_code == data.region_code, CensusRound.year == data.year))
    if existing is not None:
        raise Conflict(f"census {existing.id} of {data.region_code} for {data.year} already exists",
                       hint="add records to it instead of opening another")
    row = CensusRound(**data.model_dump(), created_by=actor.user_id)
    session.add(row)
    session.flush()
    record(session, actor, "create", "census", row.id, region_code=row.region_code,
           detail={"year": row.year})
    return row


def get_census(session: Session, census_id: int) -> CensusRound:
    row = session.get(CensusRound, census_id)
    if row is None:
        raise NotFound(f"census {census_id} does not exist", hint="list censuses of the county")
    return row


def find_census(session: Session, region_code: str, year: int) -> CensusRound:
    row = session.scalar(select(CensusRound).where(CensusRound.region_code == region_code,
                                                   CensusRound.year == year))
    if row is None:
        raise NotFound(f"no census of {region_code} for {year}",
                       hint="open one first (open_census)")
    return row


def list_censuses(session: Session, region_code: str | None = None) -> list[CensusRound]:
    query = select(CensusRound).order_by(CensusRound.region_code, CensusRound.year)
    if region_code:
        query = query.where(CensusRound.region_code.startswith(region_code[:6]))
    return list(session.scalars(query))


def previous_census(session: Session, census: CensusRound) -> CensusRound | None:
    """The same county's latest census before this one, if any."""
    return session.scalar(select(CensusRound).where(
        CensusRound.region_code == census.region_code, CensusRound.year < census.year)
        .order_by(CensusRound.year.desc()).limit(1))


def _check_product(session: Session, census: CensusRound, data: ProductIn,
                   where: str) -> dict[str, Any]:
    types = product_types()
    ptype = types.get(data.product_type)
    if ptype is None:
        raise InvalidInput(f"{where}: unknown product type '{data.product_type}'",
                           hint="one of: " + ", ".join(types))
    if data.unit not in ptype["units"]:
        raise InvalidInput(f"{where}: unit '{data.unit}' is not a unit of {data.product_type}",
                           hint="use one of: " + ", ".join(ptype["units"]))
    if not data.region_code.startswith(census.region_code):
        raise InvalidInput(f"{where}: region {data.region_code} is not inside census county "
                           f"{census.region_code}", hint="record it in that county's census")
    extra: dict[str, Any] = {"service_class": ptype["service_class"], "geom_wkb": None,
                             "area_m2": None}
    if data.parcel_code is not None:
        from liangshan.registry.service import current_parcel  # the registry's service API

        parcel = current_parcel(session, data.parcel_code)
        if not parcel.region_code.startswith(census.region_code):
            raise InvalidInput(f"{where}: parcel {parcel.code} lies in {parcel.region_code}, "
                               f"outside county {census.region_code}", hint="check the code")
        extra["area_m2"] = parcel.area_m2
    if data.geometry is not None:
        from liangshan.registry.rules import check_polygon

        geom = check_polygon(data.geometry, where)
        extra["geom_wkb"] = shapely.to_wkb(geom)
        extra["area_m2"] = float(geom.area)
    if data.account_id is not None:
        from liangshan.accounts.service import get as get_account

        get_account(session, data.account_id)
        if not data.account_indicator:
            raise InvalidInput(f"{where}: a link to account {data.account_id} needs the "
                               "indicator", hint="give account_indicator, e.g. "
                               + data.product_type)
    return extra


def add_product(session: Session, actor: Principal, census_id: int,
                data: ProductIn) -> ProductRecord:
    """Record one product in a census after checking type, unit, region and links."""
    census = get_census(session, census_id)
    actor.require_write(data.region_code)
    extra = _check_product(session, census, data, f"census {census_id}, product '{data.name}'")
    fields = data.model_dump(exclude={"geometry"})
    row = ProductRecord(census_id=census.id, **fields, **extra, created_by=actor.user_id)
    session.add(row)
    session.flush()
    record(session, actor, "create", "product", row.id, region_code=row.region_code,
           detail={"census": census.id, "type": row.product_type, "quantity": row.quantity,
                   "unit": row.unit})
    return row


def products(session: Session, census_id: int | None = None, *, region_code: str | None = None,
             parcel_code: str | None = None) -> list[ProductRecord]:
    query = select(ProductRecord).order_by(ProductRecord.id)
    if census_id is not None:
        query = query.where(ProductRecord.census_id == census_id)
    if region_code:
        query = query.where(ProductRecord.region_code.startswith(region_code))
    if parcel_code:
        query = query.where(ProductRecord.parcel_code == parcel_code)
    return list(session.scalars(query))


def census_records_of_parcel(session: Session, parcel_code: str) -> list[dict[str, Any]]:
    """A parcel's census records for its one-identity view (registered with the registry)."""
    return [ProductOut.model_validate(r).model_dump(mode="json")
            for r in products(session, parcel_code=parcel_code)]


def _register_view_extension() -> None:
    from liangshan.registry.service import VIEW_EXTENSIONS

    VIEW_EXTENSIONS.setdefault("census_records", census_records_of_parcel)


_register_view_extension()
