"""Registry tables: parcel versions and right versions (a temporal registry).

Nothing is ever deleted. Every change to a parcel or a right appends a new
*version row* carrying who, when and why, and closes the previous version by
setting its ``valid_to`` (record time, UTC). The current state is the set of
rows with ``valid_to IS NULL``; the state "as of" a time T is the set of rows
with ``valid_from <= T < valid_to``. Parcels and rights are identified across
versions by their stable codes (DESIGN.md §2).

Geometry is WKB in the registry CRS (:data:`REGISTRY_CRS`, metres). The bounding
box columns and ``size_class`` make a B-tree-only spatial prefilter that works on
SQLite and PostgreSQL alike: ``size_class = ceil(log2(max(width, height, 1 m)))``,
so a parcel's ``minx`` lies within ``2**size_class`` metres left of any point it
contains, and each size class is one narrow range scan of the
``(size_class, minx)`` index (see :data:`liangshan.registry.rules.BBOX`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, UTCDateTime

#: The registry CRS: Albers equal-area (25°/47°, central meridian 105°, WGS84, metres) — the
#: same projection as the study CRS of :mod:`liangshan.datasets.boundaries`, so areas are true.
REGISTRY_CRS = (
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 "
    "+datum=WGS84 +units=m +no_defs"
)


class ParcelVersion(Base):
    """One version of a parcel (resource unit, 自然资源登记单元); ``area_m2`` in m²."""

    __tablename__ = "registry_parcels"
    __table_args__ = (
        Index("ix_registry_parcels_code_version", "code", "version", unique=True),
        Index("ix_registry_parcels_size_minx", "size_class", "minx"),
        Index("ix_registry_parcels_code_current", "code", "valid_to"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    resource_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    ownership: Mapped[str] = mapped_column(String(16))  # state 全民所有 / collective 集体所有
    owner_name: Mapped[str] = mapped_column(String(200))
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    area_m2: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    size_class: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_by_label: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)


class RightVersion(Base):
    """One version of a right on a parcel (承包/出让/转让/出租/抵押/入股).

    ``share_bp`` is the holder's share in basis points (10000 = the whole right).
    ``start_date``/``end_date`` are the legal term (inclusive start, exclusive end;
    ``end_date`` NULL means open-ended). ``holder_id_number`` is personal data of
    individual holders and is only shown to roles that need it.
    """

    __tablename__ = "registry_rights"
    __table_args__ = (
        Index("ix_registry_rights_code_version", "code", "version", unique=True),
        Index("ix_registry_rights_parcel_current", "parcel_code", "valid_to"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    parcel_code: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(64), index=True)
    holder_name: Mapped[str] = mapped_column(String(200), index=True)
    holder_kind: Mapped[str] = mapped_column(String(16))  # individual / organisation
    holder_id_number: Mapped[str | None] = mapped_column(String(32))
    holder_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    share_bp: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # active/released/transferred/terminated
    document_ref: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)  # mortgage principal / lease rent, 分
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_by_label: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
