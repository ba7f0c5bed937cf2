"""Traceability tables: batches, their lineage, signed events, organisation keys, brands.

Events are never updated or deleted: a correction is a new event naming the one it
corrects. The ORM refuses to flush an update or delete of :class:`TraceEvent`; what
still changes a row behind the application's back is caught when the public page
recomputes the event's log leaf and checks its inclusion proof.

Quantities are integers in the batch's unit (``g`` for tea, ``kg`` for rice …);
prices are integer fen (分) per unit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, Timestamped, UTCDateTime
from liangshan.errors import Conflict


class TraceBatch(Timestamped, Base):
    """A batch of product (批次) with its traceability code (serial ``000000``).

    ``holder_org_id`` is the organisation that holds it now (changes on sale/transfer);
    ``status`` is ``active``, ``consumed`` (all of it went into other batches) or
    ``recalled``. ``items_issued`` counts the item codes (serials 1…n) issued for labels.
    """

    __tablename__ = "trace_batches"
    __table_args__ = (
        UniqueConstraint("producer_org_id", "product_code", "batch_seq",
                         name="uq_trace_batches_producer_product_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(26), unique=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    producer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_type: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(3))
    product_name: Mapped[str] = mapped_column(String(200))
    batch_seq: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(16))
    harvest_start: Mapped[date | None] = mapped_column(Date)
    harvest_end: Mapped[date | None] = mapped_column(Date)
    origin_parcels: Mapped[list[str]] = mapped_column(JSON)
    certifications: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    brand_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    items_issued: Mapped[int] = mapped_column(Integer, default=0)
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recall_event_id: Mapped[str | None] = mapped_column(String(32))
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TraceLineage(Base):
    """``child`` was made (wholly or partly) from ``parent`` by event ``event_id``."""

    __tablename__ = "trace_lineage"
    __table_args__ = (Index("ix_trace_lineage_parent", "parent_id"),
                      Index("ix_trace_lineage_child", "child_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id"))
    child_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)  # of the parent, in the parent's unit
    event_id: Mapped[str] = mapped_column(String(32))


class TraceEvent(Base):
    """One signed event (EPCIS-shaped ``document``), recorded in the log at ``log_index``.

    ``document`` is exactly what the organisation signed; ``signature`` is the raw
    Ed25519 signature over its canonical JSON by key ``key_id`` of ``org_id``.
    """

    __tablename__ = "trace_events"
    __table_args__ = (Index("ix_trace_events_batch_time", "batch_id", "event_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    biz_step: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    corrects_event_id: Mapped[str | None] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    log_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class OrgKey(Timestamped, Base):
    """An organisation's Ed25519 public key for event signatures (32 raw bytes)."""

    __tablename__ = "trace_org_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Brand(Timestamped, Base):
    """A regional public brand (区域公用品牌) or a certification mark (e.g. 绿色农产品).

    ``criteria``: ``region_prefixes`` (GB/T 2260 prefixes), ``product_types``,
    ``required_certifications`` (certificate types a batch must carry).
    """

    __tablename__ = "trace_brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    manager_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")


class BrandLicence(Timestamped, Base):
    """A licence to use a brand: ``status`` active/suspended/revoked; dates inclusive-exclusive."""

    __tablename__ = "trace_brand_licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("trace_brands.id"), index=True)
    licensee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_types: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The log leaf of the licence's latest state (grant, status change or expiry); None
    #: only for licences granted before licence changes were logged (migration 0008).
    log_index: Mapped[int | None] = mapped_column(BigInteger)


class IdempotencyRecord(Base):
    """The first response to a custodial POST sent with an ``Idempotency-Key`` header.

    One per organisation and key: a retry of the same request (same ``request_hash``,
    SHA-256 of its method, path and body) gets ``status_code`` and ``response`` again;
    a different request with the same key is refused.
    """

    __tablename__ = "trace_idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_trace_idempotency_keys_org_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _refuse(verb: str) -> Any:
    def listener(_mapper: Any, _connection: Any, target: Any) -> None:
        raise Conflict(f"trace_events: events are never changed, refusing to {verb} event "
                       f"{target.event_id}",
                       hint="record a new event that names this one in 'corrects'")
    return listener


event.listen(TraceEvent, "before_update", _refuse("update"))
event.listen(TraceEvent, "before_delete", _refuse("delete"))
