"""Catalog tables: census rounds and product records, monitoring stations, readings, alerts,
and the open-data request log.

A census round is one county's survey of one year; its product records are the
rows of the 目录清单. Quantities are in the unit stored with them (checked against
the product type's accepted units); money is not stored here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, Timestamped, UTCDateTime


class CensusRound(Timestamped, Base):
    """One county's ecological-product census (生态产品信息普查) for one year."""

    __tablename__ = "catalog_censuses"
    __table_args__ = (Index("ix_catalog_censuses_region_year", "region_code", "year", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ProductRecord(Timestamped, Base):
    """One surveyed ecological product: type, quantity + unit, quality, where, who, how."""

    __tablename__ = "catalog_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    census_id: Mapped[int] = mapped_column(ForeignKey("catalog_censuses.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    product_type: Mapped[str] = mapped_column(String(64))
    service_class: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    quality_grade: Mapped[str | None] = mapped_column(String(32))
    parcel_code: Mapped[str | None] = mapped_column(String(40), index=True)
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    area_m2: Mapped[float | None] = mapped_column(Float)
    department: Mapped[str] = mapped_column(String(200))
    survey_date: Mapped[date] = mapped_column(Date)
    survey_method: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    account_id: Mapped[str | None] = mapped_column(String(64))
    account_indicator: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Station(Timestamped, Base):
    """A monitoring station or assessment section; ``x``/``y`` in the registry CRS (m)."""

    __tablename__ = "monitoring_stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # water_quality / air / hydrology
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    basin: Mapped[str | None] = mapped_column(String(100))
    river: Mapped[str | None] = mapped_column(String(100))
    water_body: Mapped[str] = mapped_column(String(8), default="river")  # river / lake
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    upstream_region: Mapped[str | None] = mapped_column(String(100))
    downstream_region: Mapped[str | None] = mapped_column(String(100))
    target_class: Mapped[int | None] = mapped_column(Integer)  # GB 3838-2002 class 1–5
    source: Mapped[str | None] = mapped_column(Text)


class Reading(Base):
    """One measured value; (station, parameter, time) is unique, so re-ingestion is a no-op."""

    __tablename__ = "monitoring_readings"
    __table_args__ = (Index("ix_monitoring_readings_key", "station_id", "parameter", "observed_at",
                            unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("monitoring_stations.id"))
    parameter: Mapped[str] = mapped_column(String(32))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))  # the parameter's canonical unit
    source: Mapped[str] = mapped_column(String(200))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Timestamped, Base):
    """A monitoring alert; ``key`` makes raising the same alert twice a no-op."""

    __tablename__ = "monitoring_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # below_target / implausible / ecosystem_loss
    station_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_stations.id"))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    period: Mapped[str] = mapped_column(String(32))
    parameter: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)


class OpenDataRequest(Base):
    """One request to the open-data API (who, what, outcome, time taken in ms)."""

    __tablename__ = "opendata_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    client: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    query: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
