"""Organisation keys and event signatures (Ed25519 over the event's canonical JSON).

Every organisation that records events has an Ed25519 keypair. Its public key is
stored in ``trace_org_keys`` under a key ID (the 8-hex-digit C2SP signed-note key
ID of name ``liangshan.trace/org-<id>``). The event document names the key ID and
the organisation, and carries a random ``nonce`` and the ``event_id``; both are
unique in the table, so a captured (document, signature) pair cannot be recorded
twice — a replay is refused, and a signature that does not verify is refused as forged.

Two ways to hold the private key:

* the organisation keeps it and sends the signature with the event (the API accepts
  ``signature``); only its public key is registered here
  (:func:`register_public_key`);
* custodial: the platform keeps it in ``<data_dir>/keys/trace/org-<id>.key``
  (mode 0600, never in the database; :func:`custodial_signer`). [NF: whether a
  custodial key satisfies any Chinese e-signature rule is not established.]
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from liangshan.config import get_settings
from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.service import record
from liangshan.ledger.log import canonical_json
from liangshan.ledger.note import NoteSigner, NoteVerifier, generate_signer, parse_signer_key
from liangshan.trace.models import OrgKey

#: Base of the PostgreSQL advisory-lock keys that serialise key registration ("tk" …).
KEY_LOCK_BASE = 0x746B << 40


def key_name(org_id: int) -> str:
    return f"liangshan.trace/org-{org_id}"


def key_path(org_id: int) -> Path:
    return get_settings().data_dir / "keys" / "trace" / f"org-{org_id}.key"


def _write_private(path: Path, text: str) -> bool:
    """Write a private key atomically; False if another process wrote it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def _register(session: Session, org_id: int, public_key: bytes) -> OrgKey:
    verifier = NoteVerifier(key_name(org_id), public_key)
    kid = verifier.key_id.hex()
    # Serialise first registrations: two requests of a new organisation would both insert.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_LOCK_BASE + org_id})
    elif dialect == "sqlite":
        session.execute(text("UPDATE trace_org_keys SET id = id WHERE 1 = 0"))
    row = session.scalar(select(OrgKey).where(OrgKey.key_id == kid))
    if row is not None:
        if row.org_id != org_id or bytes(row.public_key) != public_key:
            raise Conflict(f"trace key {kid} is already registered for organisation "
                           f"{row.org_id}", hint="generate a new key")
        return row
    row = OrgKey(org_id=org_id, key_id=kid, public_key=public_key)
    session.add(row)
    session.flush()
    return row


#: Custodial signers already read from disk, by key file path (a path names one data dir).
_signers: dict[Path, NoteSigner] = {}


def custodial_signer(session: Session, org_id: int) -> NoteSigner:
    """The organisation's custodial signer; generated (and its public key stored) on first use.

    The key file is read once per process; the public key row once per transaction.
    """
    path = key_path(org_id)
    signer = _signers.get(path)
    if signer is None or not path.exists():
        if not path.exists():
            signer = generate_signer(key_name(org_id))
            if not _write_private(path, signer.encode()):
                signer = parse_signer_key(path.read_text(encoding="utf-8"))
        else:
            signer = parse_signer_key(path.read_text(encoding="utf-8"))
        _signers[path] = signer
    # Checked once per transaction: a rolled-back registration must be made again.
    memo = session.info.get("trace_keys_registered")
    txn = session.get_transaction()
    if memo is None or memo[0] is not txn:
        memo = (txn, set[tuple[int, bytes]]())
        session.info["trace_keys_registered"] = memo
    if (org_id, signer.public_key) not in memo[1]:
        row = _register(session, org_id, signer.public_key)
        if row.revoked_at is not None:  # a revoked custodial key is replaced, never used
            path.rename(path.with_name(f"{path.name}.revoked-{row.key_id}"))
            _signers.pop(path, None)
            return custodial_signer(session, org_id)
        memo[1].add((org_id, signer.public_key))
    return signer


def register_public_key(session: Session, actor: Principal, org_id: int,
                        public_key_b64: str) -> OrgKey:
    """Register an organisation-held public key (32 raw bytes, base64)."""
    if actor.organisation_id != org_id and actor.region_code is not None:
        raise Forbidden(f"{actor.label} may not register keys for organisation {org_id}",
                        hint="log in as a user of that organisation")
    try:
        public_key = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("public_key is not standard base64",
                           hint="send the 32-byte Ed25519 public key, base64-encoded") from None
    if len(public_key) != 32:
        raise InvalidInput(f"public_key has {len(public_key)} bytes, an Ed25519 key has 32")
    row = _register(session, org_id, public_key)
    record(session, actor, "register_key", "trace_org_key", row.key_id,
           detail={"org_id": org_id})
    return row


def revoke_key(session: Session, actor: Principal, key_id: str) -> OrgKey:
    """Revoke a key: later events signed with it are refused (earlier ones stay valid)."""
    row = session.scalar(select(OrgKey).where(OrgKey.key_id == key_id))
    if row is None:
        raise NotFound(f"trace key {key_id} does not exist")
    if actor.organisation_id != row.org_id and actor.region_code is not None:
        raise Forbidden(f"{actor.label} may not revoke keys of organisation {row.org_id}")
    row.revoked_at = utcnow()
    record(session, actor, "revoke_key", "trace_org_key", key_id)
    return row


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What is signed: the document's canonical JSON (sorted keys, UTF-8, no spaces)."""
    return canonical_json(document)


def sign_document(signer: NoteSigner, document: dict[str, Any]) -> bytes:
    """The raw 64-byte Ed25519 signature of the document."""
    return signer.sign(signed_bytes(document))


def document_signer(signer: NoteSigner) -> Callable[[dict[str, Any]], bytes]:
    """:func:`sign_document` with the key loaded once, for signing many documents.

    Same signatures (Ed25519 is deterministic); each document is still signed alone.
    """
    sign = bytes_signer(signer)
    return lambda document: sign(signed_bytes(document))


def bytes_signer(signer: NoteSigner) -> Callable[[bytes], bytes]:
    """Sign :func:`signed_bytes` already computed (the bulk path reuses them for the log)."""
    return Ed25519PrivateKey.from_private_bytes(signer.seed).sign


def org_key(session: Session, key_id: str) -> OrgKey | None:
    return session.scalar(select(OrgKey).where(OrgKey.key_id == key_id))


def check_signature(session: Session, document: dict[str, Any], signature: bytes) -> OrgKey:
    """Refuse a document whose signature does not verify with the named organisation's key."""
    who = document.get("who") or {}
    kid, org_id = who.get("key_id"), who.get("org_id")
    key = org_key(session, str(kid))
    if key is None:
        raise Forbidden(f"event {document.get('event_id')}: signing key {kid!r} is not "
                        "registered", hint="register the organisation's public key first")
    if key.org_id != org_id:
        raise Forbidden(f"event {document.get('event_id')}: key {kid} belongs to organisation "
                        f"{key.org_id}, the event names organisation {org_id}",
                        hint="sign with a key of the recording organisation")
    if key.revoked_at is not None:
        raise Forbidden(f"event {document.get('event_id')}: key {kid} was revoked",
                        hint="register a new key")
    if not verify_signature(bytes(key.public_key), document, signature):
        raise Forbidden(f"event {document.get('event_id')}: forged signature — it does not "
                        f"verify with key {kid} of organisation {org_id}",
                        hint="sign the canonical JSON of exactly this document")
    return key


def verify_signature(public_key: bytes, document: dict[str, Any], signature: bytes) -> bool:
    """True when ``signature`` is the Ed25519 signature of the document by ``public_key``."""
    if len(signature) != 64:
        return False
    return NoteVerifier("k", public_key).verify(signed_bytes(document), signature)
