"""Pydantic shapes of the ledger: postings in, entries and proofs out.

Amounts are integers in the asset's smallest step (fen for CNY); hashes travel
as standard base64 (RFC 4648 §4), as in C2SP checkpoints.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class AccountKind(StrEnum):
    """What an account is for; "external" and "issuance" may go below zero."""

    HOLDER = "holder"          # a user's or organisation's own balance
    ESCROW = "escrow"          # value held while a trade or a loan settles
    FEE = "fee"                # platform or exchange fees collected
    EXTERNAL = "external"      # money entering/leaving the platform (bank in/out)
    ISSUANCE = "issuance"      # units created by the registry (−balance = outstanding)
    RETIREMENT = "retirement"  # units retired or cancelled, never to move again


class PostingIn(BaseModel):
    """One journal line: ``amount`` in the smallest unit, positive raises the balance."""

    model_config = ConfigDict(frozen=True)

    account: int | str = Field(description="account id or code")
    amount: StrictInt = Field(description="smallest unit (fen for CNY); not zero")


class PostedEntry(BaseModel):
    """A journal entry as posted (``replayed``: returned again for a repeated key)."""

    id: int
    idempotency_key: str
    memo: str
    reference: str | None = None
    actor_id: int | None
    created_at: datetime
    log_index: int
    postings: list[PostingIn]
    replayed: bool = False


class LeafOut(BaseModel):
    index: int
    kind: str
    leaf_hash: str = Field(description="base64 RFC 6962 leaf hash of kind || 0x0A || payload")
    payload_base64: str
    payload: dict[str, Any] | None = Field(None, description="the payload decoded, if JSON")
    created_at: datetime


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str] = Field(description="base64 hashes, leaf to root (RFC 9162 PATH)")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    hashes: list[str] = Field(description="base64 hashes (RFC 9162 PROOF)")
