"""Idempotent custodial POSTs: a retried request returns its first result.

A client that lost the response to ``POST /trace/batches/{code}/events`` (or another
POST that the server signs with the organisation's custodial key) sends it again with
the same ``Idempotency-Key`` header. The first response — status and JSON body — is
stored with the key, per organisation, in the transaction that recorded the event; the
retry gets it back and records nothing. The same key with a different request (method,
path or body) is refused with 409. Only successful results are stored: a refused
request rolls back with everything else, so its retry is checked afresh.

Concurrent requests with one key are serialised before the stored result is read:
PostgreSQL takes a transaction-scoped advisory lock on (organisation, key), SQLite
opens its single write transaction. The second request waits for the first to commit,
then replays it; the unique constraint on (org_id, key) stands behind both.
[NF: the header follows the IETF httpapi draft "The Idempotency-Key HTTP Header Field";
storing only successes is our choice.]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput
from liangshan.ledger.log import canonical_json
from liangshan.trace.models import IdempotencyRecord

HEADER = "Idempotency-Key"
#: Printable ASCII without spaces at the ends, 1 … 255 characters (e.g. a UUID).
_KEY = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$")
#: Base of the PostgreSQL advisory-lock keys of idempotency keys ("ti" …).
LOCK_BASE = 0x7469 << 48


def check_key(key: str) -> str:
    """The key if it is well-formed; a clear refusal otherwise."""
    if not _KEY.match(key):
        raise InvalidInput(f"{HEADER} header {key[:40]!r} is not 1–255 printable ASCII "
                           "characters", hint="send e.g. a fresh UUID per logical request, "
                           "and the same one on every retry of it")
    return key


def request_hash(method: str, path: str, body: Mapping[str, Any]) -> bytes:
    """SHA-256 of the request as the server understood it (canonical JSON of the body)."""
    return hashlib.sha256(canonical_json({"method": method.upper(), "path": path,
                                          "body": dict(body)})).digest()


def _lock(session: Session, org_id: int, key: str) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        digest = hashlib.sha256(f"{org_id}\n{key}".encode()).digest()
        # 48 bits of the digest under a fixed prefix: a collision only makes two
        # unrelated requests wait for each other.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": LOCK_BASE + int.from_bytes(digest[:6], "big")})
    elif dialect == "sqlite":
        session.execute(text("UPDATE trace_idempotency_keys SET id = id WHERE 1 = 0"))


def run_once(session: Session, org_id: int, key: str, fingerprint: bytes,
             handler: Callable[[], tuple[int, Any]]) -> tuple[int, Any, bool]:
    """``handler()`` → ``(status, JSON body)``, run at most once per (organisation, key).

    Returns ``(status, body, replayed)``; ``replayed`` is True when the stored first
    result is returned instead of running ``handler``. The caller's transaction commits
    the stored result together with what ``handler`` wrote.
    """
    check_key(key)
    _lock(session, org_id, key)
    stored = session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.org_id == org_id, IdempotencyRecord.key == key))
    if stored is not None:
        if bytes(stored.request_hash) != fingerprint:
            raise Conflict(f"{HEADER} {key!r} of organisation {org_id} was already used for a "
                           "different request", hint="use a new key for a new request; a "
                           "retry must repeat the first request exactly")
        return stored.status_code, stored.response, True
    status, body = handler()
    session.add(IdempotencyRecord(org_id=org_id, key=key, request_hash=fingerprint,
                                  status_code=status, response=body, created_at=utcnow()))
    session.flush()
    return status, body, False
