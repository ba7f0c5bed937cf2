"""Request and response shapes of the identity API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from liangshan.identity.models import OrgKind, Role


class OrganisationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    region_code: str | None = Field(default=None, pattern=r"^\d{2}(\d{4})?(\d{3})?(\d{3})?$")
    credit_code: str | None = Field(default=None, max_length=18)


class OrganisationOut(OrganisationIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    created_at: datetime


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    display_name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=10, max_length=256)
    role: Role
    region_code: str | None = Field(default=None, pattern=r"^\d{2}(\d{4})?(\d{3})?(\d{3})?$")
    organisation_id: int | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    role: Role
    region_code: str | None
    organisation_id: int | None
    is_active: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(min_length=1)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=100_000)


class ApiKeyOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    key: str | None = Field(default=None, description="shown once, at creation")
