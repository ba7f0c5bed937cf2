"""Shapes of stored accounts: what the engine hands over, and what the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

#: Columns an account table must have to be stored (value_fen: integer fen).
REQUIRED_COLUMNS = ("region_code", "service_class", "indicator", "value_fen")
OPTIONAL_COLUMNS = ("item", "ecosystem_code", "quantity", "unit", "price", "price_unit",
                    "price_reference", "method")


class AccountIn(BaseModel):
    """An account produced by the engine, ready to be stored."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = Field(min_length=8, max_length=64, description="the engine's content hash")
    kind: str = Field(default="GEP", pattern="^(GEP|VEP)$")
    title: str
    region_code: str
    year: int = Field(ge=1949, le=2100)
    profile: str
    lines: pd.DataFrame
    manifest: dict[str, Any]
    summary: dict[str, Any] = Field(default_factory=dict)
    sample_data: bool = False
    supersedes_id: str | None = None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    title: str
    region_code: str
    year: int
    profile: str
    status: str
    gep_fen: int
    gep_yuan: str = ""
    sample_data: bool
    summary: dict[str, Any]
    supersedes_id: str | None
    created_at: datetime
    published_at: datetime | None
    log_index: int | None
    log_leaf_hash: str | None


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str
    service_class: str
    indicator: str
    item: str | None
    ecosystem_code: int | None
    quantity: float | None
    unit: str | None
    price: str | None
    price_unit: str | None
    price_reference: str | None
    value_fen: int
    method: str | None


class ComparisonRow(BaseModel):
    indicator: str
    service_class: str
    value_a_fen: int
    value_b_fen: int
    change_fen: int
    share_of_change: float | None = Field(description="this indicator's part of the GEP change")
