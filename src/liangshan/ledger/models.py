"""Ledger tables: accounts, the double-entry journal, idempotency keys and the log.

Every table here is append-only. The service never updates or deletes a row, the
ORM refuses to flush an update or delete of these classes, and the migration adds
database triggers that refuse ``UPDATE``/``DELETE`` (``TRUNCATE`` for test cleanup
is left alone). Whatever still changes a row behind the application's back is
found by :func:`liangshan.ledger.service.verify_log`.

Amounts are integers in the asset's smallest step: fen (分) for ``CNY``, the
instrument's smallest unit step otherwise. Hashes are raw 32-byte SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from liangshan.db import Base, Timestamped, UTCDateTime
from liangshan.errors import Conflict

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class LedgerAccount(Timestamped, Base):
    """A balance holder for one asset. Its balance is the sum of its postings."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("owner_user_id IS NULL OR owner_org_id IS NULL", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    asset: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    allow_negative: Mapped[bool] = mapped_column(Boolean)
    log_index: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_log_leaves.leaf_index"), unique=True)


class JournalEntry(Timestamped, Base):
    """One balanced movement of value; recorded in the log at ``log_index``."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    #: What the entry settles in another domain, e.g. "market:trade:42" (free text).
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    log_index: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_log_leaves.leaf_index"), unique=True)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.seq", lazy="selectin")


class Posting(Base):
    """One line of an entry: ``amount`` (smallest unit, signed; + raises the balance)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        UniqueConstraint("entry_id", "seq", name="uq_ledger_postings_entry_seq"),
        CheckConstraint("amount <> 0", name="nonzero"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"), index=True)
    seq: Mapped[int] = mapped_column(SmallInteger)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship(lazy="joined")


class IdempotencyKey(Timestamped, Base):
    """A command key seen once: replaying the same request returns ``result``."""

    __tablename__ = "ledger_idempotency_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))


class LogLeaf(Base):
    """Leaf ``leaf_index`` of the transparency log.

    ``leaf_hash`` = SHA-256(0x00 || kind || 0x0A || payload) (RFC 6962 leaf hash of
    the leaf input ``kind || "\\n" || payload``); ``payload`` is the canonical bytes.
    """

    __tablename__ = "ledger_log_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LogNode(Base):
    """A perfect subtree hash ``(level ≥ 1, node_index)``, stored once it is complete.

    It covers leaves [node_index·2^level, (node_index+1)·2^level); level 0 is the
    leaf hash itself. Proofs read these instead of rehashing payloads.
    """

    __tablename__ = "ledger_log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class SignedCheckpoint(Timestamped, Base):
    """A signed tree head: the C2SP checkpoint note for ``tree_size`` leaves."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    origin: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)


APPEND_ONLY: tuple[type[Base], ...] = (
    LedgerAccount, JournalEntry, Posting, IdempotencyKey, LogLeaf, LogNode, SignedCheckpoint)
APPEND_ONLY_TABLES = tuple(cls.__tablename__ for cls in APPEND_ONLY)


def _refuse(verb: str) -> Callable[[Any, Any, Any], None]:
    def listener(_mapper: Any, _connection: Any, target: Any) -> None:
        raise Conflict(
            f"{type(target).__tablename__}: ledger rows are append-only, refusing to {verb} "
            f"{target!r}",
            hint="post a reversing journal entry instead of changing or deleting one")
    return listener


for _cls in APPEND_ONLY:
    event.listen(_cls, "before_update", _refuse("update"))
    event.listen(_cls, "before_delete", _refuse("delete"))
