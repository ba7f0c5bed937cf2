"""Shapes of the census, catalogue and monitoring: service inputs and API outputs."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REGION_PATTERN = r"^\d{6}(\d{3})?(\d{3})?$"


class CensusIn(BaseModel):
    region_code: str = Field(pattern=r"^\d{6}$", description="county code (GB/T 2260)")
    year: int = Field(ge=2000, le=2100)
    title: str = Field(min_length=1, max_length=200)


class ProductIn(BaseModel):
    """A product record. ``quantity`` is in ``unit``, which must be one of the product type's
    accepted units (product_types.csv). ``geometry`` is a shapely polygon in the registry CRS
    (m) when the product is located by polygon instead of by parcel."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    region_code: str = Field(pattern=REGION_PATTERN, description="county, township or village")
    product_type: str
    name: str = Field(min_length=1, max_length=200)
    quantity: float = Field(ge=0)
    unit: str
    quality_grade: str | None = Field(default=None, max_length=32)
    parcel_code: str | None = None
    geometry: Any = None
    department: str = Field(min_length=1, max_length=200, description="responsible department")
    survey_date: date
    survey_method: str = Field(min_length=1, max_length=200)
    evidence: str | None = None
    account_id: str | None = None
    account_indicator: str | None = None


class CensusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    region_code: str
    year: int
    title: str
    created_at: datetime


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    census_id: int
    region_code: str
    product_type: str
    service_class: str
    name: str
    quantity: float
    unit: str
    quality_grade: str | None
    parcel_code: str | None
    area_m2: float | None
    department: str
    survey_date: date
    survey_method: str
    evidence: str | None
    account_id: str | None
    account_indicator: str | None


class StationKind(StrEnum):
    WATER_QUALITY = "water_quality"
    AIR = "air"
    HYDROLOGY = "hydrology"


class StationIn(BaseModel):
    """A station; ``x``/``y`` in the registry CRS (m). ``target_class`` is the GB 3838-2002
    class (1–5) the section must meet."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: StationKind
    region_code: str = Field(pattern=REGION_PATTERN)
    basin: str | None = None
    river: str | None = None
    water_body: str = Field(default="river", pattern="^(river|lake)$")
    x: float | None = None
    y: float | None = None
    upstream_region: str | None = None
    downstream_region: str | None = None
    target_class: int | None = Field(default=None, ge=1, le=5)
    source: str | None = None


class StationOut(StationIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


class ReadingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    parameter: str
    observed_at: datetime
    value: float
    unit: str
    source: str


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    region_code: str | None
    period: str
    parameter: str | None
    message: str
    created_at: datetime


class Page(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[Any]
