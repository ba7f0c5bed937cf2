"""Tables of stored accounts and their lines (one row per region × indicator × ecosystem)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liangshan.db import Base, Timestamped, UTCDateTime


class StoredAccount(Timestamped, Base):
    """An account as the engine produced it. Its ID is the engine's content hash."""

    __tablename__ = "gep_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # GEP or VEP
    title: Mapped[str] = mapped_column(String(300))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(index=True)
    profile: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    gep_fen: Mapped[int] = mapped_column(BigInteger)
    sample_data: Mapped[bool] = mapped_column(default=False)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("gep_accounts.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    log_index: Mapped[int | None] = mapped_column()
    log_leaf_hash: Mapped[str | None] = mapped_column(String(64))


class AccountLine(Base):
    """One line of an account; ``value_fen`` is integer fen (分)."""

    __tablename__ = "gep_account_lines"
    __table_args__ = (Index("ix_gep_account_lines_account_region", "account_id", "region_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("gep_accounts.id"))
    region_code: Mapped[str] = mapped_column(String(12))
    service_class: Mapped[str] = mapped_column(String(16))  # provisioning/regulating/cultural
    indicator: Mapped[str] = mapped_column(String(64))
    item: Mapped[str | None] = mapped_column(String(128))  # e.g. the product of a provisioning line
    ecosystem_code: Mapped[int | None] = mapped_column()
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[str | None] = mapped_column(String(40))  # decimal as text: exact
    price_unit: Mapped[str | None] = mapped_column(String(32))
    price_reference: Mapped[str | None] = mapped_column(Text)
    value_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str | None] = mapped_column(Text)
