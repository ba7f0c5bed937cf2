"""Shapes of the registry: what services take and what the API returns.

Vocabulary [K]: the Chinese terms follow 《自然资源统一确权登记暂行办法》 (2019) and the
rural land contract law (承包/出租/入股/抵押 of 土地经营权); they have not been checked
word for word against the official texts.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REGION_PATTERN = r"^\d{6}(\d{3})?(\d{3})?$"


class ResourceType(StrEnum):
    """Resource type of a parcel (自然资源类型)."""

    FOREST = "forest"  # 森林
    GRASSLAND = "grassland"  # 草原
    WETLAND = "wetland"  # 湿地
    WATER = "water"  # 水流
    CROPLAND = "cropland"  # 耕地
    UNUSED = "unused"  # 未利用地 / 荒地
    OTHER = "other"


class Ownership(StrEnum):
    STATE = "state"  # 全民所有
    COLLECTIVE = "collective"  # 集体所有


class ParcelStatus(StrEnum):
    REGISTERED = "registered"  # 已登记
    PENDING = "pending"  # 待登记
    DISPUTED = "disputed"  # 权属争议
    CANCELLED = "cancelled"  # 注销 (kept, never deleted)


class RightKind(StrEnum):
    """Kinds of rights. ``contract``/``grant`` sit directly under ownership; the others under a
    parent right."""

    CONTRACT = "contract"  # 承包
    GRANT = "grant"  # 出让
    TRANSFER = "transfer"  # 转让 (replaces the parent right for the rest of its term)
    LEASE = "lease"  # 出租
    MORTGAGE = "mortgage"  # 抵押 (a security interest, not exclusive)
    SHAREHOLDING = "shareholding"  # 入股


#: Rights that exclude one another in time under the same parent (beyond their shares).
EXCLUSIVE_KINDS = frozenset({RightKind.CONTRACT, RightKind.GRANT, RightKind.TRANSFER,
                             RightKind.LEASE, RightKind.SHAREHOLDING})
ROOT_KINDS = frozenset({RightKind.CONTRACT, RightKind.GRANT})


class RightStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"  # a mortgage the mortgagee released (解押)
    TRANSFERRED = "transferred"
    TERMINATED = "terminated"


class HolderKind(StrEnum):
    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"


class ParcelIn(BaseModel):
    """A parcel to register. ``geometry`` is a shapely (Multi)Polygon in the registry CRS (m)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    code: str | None = Field(default=None, max_length=40, pattern=r"^[0-9A-Z]+$",
                             description="stable code starting with the region code; "
                             "generated when omitted")
    region_code: str = Field(pattern=REGION_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    resource_type: ResourceType
    status: ParcelStatus = ParcelStatus.REGISTERED
    ownership: Ownership
    owner_name: str = Field(min_length=1, max_length=200, description="holding organisation")
    owner_org_id: int | None = None
    geometry: Any


class RightIn(BaseModel):
    """A right to register on a parcel; ``share_bp`` in basis points of the parent (or whole)."""

    parcel_code: str
    kind: RightKind
    parent_code: str | None = None
    holder_name: str = Field(min_length=1, max_length=200)
    holder_kind: HolderKind = HolderKind.ORGANISATION
    holder_id_number: str | None = Field(default=None, max_length=32)
    holder_org_id: int | None = None
    share_bp: int = Field(default=10_000, ge=1, le=10_000)
    start_date: date
    end_date: date | None = None
    document_ref: str = Field(min_length=1, max_length=200)
    amount_fen: int | None = Field(default=None, ge=0, description="mortgage principal or rent, 分")


class ParcelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    region_code: str
    name: str | None
    resource_type: str
    status: str
    ownership: str
    owner_name: str
    area_m2: float
    minx: float
    miny: float
    maxx: float
    maxy: float
    valid_from: datetime
    valid_to: datetime | None
    recorded_by_label: str
    reason: str


class RightOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    parcel_code: str
    kind: str
    parent_code: str | None
    holder_name: str
    holder_kind: str
    holder_id_number: str | None = None
    share_bp: int
    start_date: date
    end_date: date | None
    status: str
    document_ref: str
    amount_fen: int | None
    valid_from: datetime
    valid_to: datetime | None
    recorded_by_label: str
    reason: str


def _empty_links() -> dict[str, list[dict[str, Any]]]:
    return {"gep_vep": [], "credits": [], "loans": [], "compensation": []}


class ParcelView(BaseModel):
    """A parcel's one-identity view (DESIGN.md §2): rights, census records, and links that
    other domains fill in (GEP/VEP, credits, loans, compensation)."""

    parcel: ParcelOut
    rights: list[RightOut]
    census_records: list[dict[str, Any]] = Field(default_factory=list)
    links: dict[str, list[dict[str, Any]]] = Field(default_factory=_empty_links)
