"""Shapes of traceability: batches, EPCIS-shaped events, transformations, brands.

Business steps and their EPCIS 2.0 event types follow MECHANISMS.md §7 [K: GS1 EPCIS 2.0
aligned with GB/T 38156 as a suggested schema, not a mandated one]. Quantities are
integers in the batch's unit; prices integer fen (分) per unit; times timezone-aware.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liangshan.trace.codes import PRODUCT_TYPES

COUNTY = r"^\d{6}$"
DECIMAL = r"^-?\d+(\.\d+)?$"


class BizStep(StrEnum):
    """Our business steps; ``EPCIS`` maps each to (event type, action, CBV bizStep)."""

    COMMISSIONING = "commissioning"  # batch created (赋码)
    PLANTING = "planting"  # 种植 / 田间管理 (inputs applied)
    HARVEST = "harvest"  # 采收
    INSPECTION = "inspection"  # 检测 / 认证
    PROCESSING = "processing"  # 加工 (split, merge, transform)
    STORAGE = "storage"  # 仓储
    TRANSPORT = "transport"  # 运输
    SALE = "sale"  # 销售
    RECALL = "recall"  # 召回


#: (EPCIS event type, action, CBV bizStep) [K: CBV 2.0 names; "planting" has no CBV step].
EPCIS: dict[BizStep, tuple[str, str, str | None]] = {
    BizStep.COMMISSIONING: ("ObjectEvent", "ADD", "commissioning"),
    BizStep.PLANTING: ("ObjectEvent", "OBSERVE", None),
    BizStep.HARVEST: ("ObjectEvent", "OBSERVE", None),
    BizStep.INSPECTION: ("ObjectEvent", "OBSERVE", "inspecting"),
    BizStep.PROCESSING: ("TransformationEvent", "ADD", "transforming"),
    BizStep.STORAGE: ("ObjectEvent", "OBSERVE", "storing"),
    BizStep.TRANSPORT: ("ObjectEvent", "OBSERVE", "shipping"),
    BizStep.SALE: ("TransactionEvent", "ADD", "retail_selling"),
    BizStep.RECALL: ("ObjectEvent", "OBSERVE", "recalling"),
}

#: Steps a government organisation may record on a batch it does not hold.
OVERSIGHT_STEPS = frozenset({BizStep.INSPECTION, BizStep.RECALL})


class Certificate(BaseModel):
    """A certificate: green food / organic / 地理标志 / 承诺达标合格证 [K] …"""

    type: str = Field(min_length=1, max_length=64, examples=["green_food", "organic", "gi",
                                                             "compliance_certificate"])
    number: str = Field(min_length=1, max_length=64)
    issuer: str = Field(min_length=1, max_length=200)
    valid_from: date | None = None
    valid_to: date | None = None


class InputUse(BaseModel):
    """A farm input applied (fertiliser, pesticide …); ``amount`` a decimal string."""

    kind: str = Field(pattern="^(fertiliser|pesticide|other)$")
    name: str = Field(min_length=1, max_length=200)
    amount: str = Field(pattern=DECIMAL)
    unit: str = Field(min_length=1, max_length=32, examples=["kg/亩", "mL/亩"])
    applied_on: date | None = None


class TestResult(BaseModel):
    """A laboratory result; ``value``/``limit`` decimal strings in ``unit``."""

    __test__ = False  # not a pytest class

    item: str = Field(min_length=1, max_length=200)
    value: str = Field(pattern=r"^(<|≤)?-?\d+(\.\d+)?$|^ND$")
    unit: str = Field(max_length=32)
    limit: str | None = Field(default=None, pattern=DECIMAL)
    passed: bool
    lab: str | None = Field(default=None, max_length=200)
    report_no: str | None = Field(default=None, max_length=64)


class Where(BaseModel):
    """EPCIS ``where``: a county, a read point (parcel code, site) and a zone."""

    region_code: str | None = Field(default=None, pattern=r"^\d{6}(\d{3})?(\d{3})?$")
    read_point: str | None = Field(default=None, max_length=64)
    zone: str | None = Field(default=None, max_length=100)


class Sale(BaseModel):
    """A sale: ``quantity`` in the batch's unit, ``unit_price_fen`` fen per unit.

    ``buyer_org_id`` (optional): the buyer organisation, which becomes the holder.
    Consumers are never named.
    """

    quantity: int = Field(gt=0)
    unit_price_fen: int = Field(ge=0)
    buyer_org_id: int | None = None
    order_no: str | None = Field(default=None, max_length=64)


class EventIn(BaseModel):
    """One event on a batch. ``notes`` must hold no personal data (it is public)."""

    biz_step: BizStep
    event_time: datetime
    where: Where = Field(default_factory=Where)
    inputs_used: list[InputUse] = Field(default_factory=list)
    test_results: list[TestResult] = Field(default_factory=list)
    certificate: Certificate | None = None
    sale: Sale | None = None
    temperature_c: str | None = Field(default=None, pattern=DECIMAL)
    notes: str | None = Field(default=None, max_length=500)
    corrects: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    org_id: int | None = Field(default=None, description="recording organisation; default: "
                               "the actor's")

    @field_validator("event_time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("event_time needs a timezone (e.g. 2025-04-01T08:00:00+08:00)")
        return v

    @field_validator("biz_step")
    @classmethod
    def _not_processing(cls, v: BizStep) -> BizStep:
        if v in (BizStep.PROCESSING, BizStep.COMMISSIONING):
            raise ValueError(f"{v.value} events are recorded by creating or transforming "
                             "batches (POST /trace/batches, /trace/transformations)")
        return v


class BatchIn(BaseModel):
    """A new batch (commissioning). ``quantity`` integer in ``unit``."""

    region_code: str = Field(pattern=COUNTY, description="county of origin (GB/T 2260)")
    product_type: str = Field(description="a key of codes.PRODUCT_TYPES")
    product_name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16, examples=["g", "kg"])
    harvest_start: date | None = None
    harvest_end: date | None = None
    origin_parcels: list[str] = Field(default_factory=list)
    certifications: list[Certificate] = Field(default_factory=list)
    brand_code: str | None = None
    event_time: datetime
    where: Where = Field(default_factory=Where)
    org_id: int | None = None

    @field_validator("product_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in PRODUCT_TYPES:
            raise ValueError(f"unknown product type {v!r}; known: {', '.join(PRODUCT_TYPES)}")
        return v

    @field_validator("event_time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("event_time needs a timezone")
        return v


class TransformInput(BaseModel):
    code: str
    quantity: int = Field(gt=0, description="taken from the input batch, in its unit")


class TransformOutput(BaseModel):
    product_type: str
    product_name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    brand_code: str | None = None
    certifications: list[Certificate] = Field(default_factory=list)


class TransformIn(BaseModel):
    """Processing: inputs (codes, quantities taken) → new output batches.

    A split is one input and several outputs; a merge several inputs and one output.
    """

    inputs: list[TransformInput] = Field(min_length=1)
    outputs: list[TransformOutput] = Field(min_length=1)
    event_time: datetime
    region_code: str = Field(pattern=COUNTY, description="county where processing happens")
    where: Where = Field(default_factory=Where)
    process: str = Field(default="processing", max_length=100, examples=["杀青", "split"])
    test_results: list[TestResult] = Field(default_factory=list)
    org_id: int | None = None


class SignedEventIn(BaseModel):
    """A document prepared by the platform and signed by the organisation's own key."""

    document: dict[str, Any]
    signature: str = Field(description="base64 of the 64-byte Ed25519 signature")


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    region_code: str
    producer_org_id: int
    holder_org_id: int
    product_type: str
    product_name: str
    quantity: int
    remaining: int
    unit: str
    harvest_start: date | None
    harvest_end: date | None
    origin_parcels: list[str]
    certifications: list[dict[str, Any]]
    brand_code: str | None
    status: str
    items_issued: int
    recalled_at: datetime | None
    created_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: str
    event_type: str
    biz_step: str
    event_time: datetime
    org_id: int
    key_id: str
    corrects_event_id: str | None
    document: dict[str, Any]
    log_index: int
    recorded_at: datetime


class BrandIn(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,31}$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(regional_public_brand|certification_mark)$")
    manager_org_id: int
    region_prefixes: list[str] = Field(default_factory=list)
    product_types: list[str] = Field(default_factory=list)
    required_certifications: list[str] = Field(default_factory=list)
    description: str = ""


class LicenceIn(BaseModel):
    licensee_org_id: int
    product_types: list[str] = Field(min_length=1)
    valid_from: date
    valid_to: date


class LicenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    brand_id: int
    licensee_org_id: int
    product_types: list[str]
    valid_from: date
    valid_to: date
    status: str
    status_reason: str | None
