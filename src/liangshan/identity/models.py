"""Identity tables: organisations, users, login tokens, API keys and the audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from liangshan.db import Base, Timestamped, UTCDateTime


class OrgKind(StrEnum):
    """What an organisation is; government departments carry a region code."""

    GOVERNMENT = "government"
    ENTERPRISE = "enterprise"
    BANK = "bank"
    VILLAGE_COLLECTIVE = "village_collective"
    INDIVIDUAL = "individual"


class Role(StrEnum):
    """What a user may do; region scope narrows it further (see :mod:`.access`)."""

    PROVINCE_ADMIN = "province_admin"
    COUNTY_OPERATOR = "county_operator"
    DEPARTMENT_STAFF = "department_staff"
    ENTERPRISE = "enterprise"
    BANK_OFFICER = "bank_officer"
    AUDITOR = "auditor"
    PUBLIC = "public"


class Organisation(Timestamped, Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    is_active: Mapped[bool] = mapped_column(default=True)

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")


class LoginToken(Timestamped, Base):
    """A bearer token issued at login; only its SHA-256 is stored."""

    __tablename__ = "login_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKey(Timestamped, Base):
    """A key for machine clients: ``ls_<prefix>_<secret>``; the secret is stored hashed."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    rate_limit_per_minute: Mapped[int] = mapped_column(default=600)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what, when, to which record: one row for every write."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    region_code: Mapped[str | None] = mapped_column(String(12))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
