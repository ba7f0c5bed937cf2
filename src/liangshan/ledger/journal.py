"""Double-entry journal: accounts, balanced entries, balances, idempotent replay.

Only this module changes balances (DESIGN §3 rule 3). Every entry balances per
asset, carries an idempotency key, and is appended to the transparency log as a
"journal" leaf before its rows are written; every account opening is a
"ledger_account" leaf. Amounts are integers in the asset's smallest step (fen for
CNY). A balance is the sum of the account's postings; nothing stores it.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.ledger.log import append_leaf, canonical_json, lock_log
from liangshan.ledger.models import IdempotencyKey, JournalEntry, LedgerAccount, Posting
from liangshan.ledger.schemas import AccountKind, PostedEntry, PostingIn

#: Kinds whose balance may go below zero: money or units entering from outside.
OVERDRAFT_KINDS = frozenset({AccountKind.EXTERNAL, AccountKind.ISSUANCE})
JOURNAL_SCOPE = "ledger.post_entry"
_ASSET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

AccountRef = LedgerAccount | int | str


class InsufficientBalance(Conflict):
    """A posting would take an account that may not overdraw below zero."""

    code = "insufficient_balance"


def iso(at: datetime) -> str:
    """UTC ISO 8601 with microseconds: the form times take inside log payloads."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def account_code(asset: str, kind: str, owner_user_id: int | None, owner_org_id: int | None,
                 name: str) -> str:
    """``<owner>:<asset>:<kind>:<name>``, owner ``user-<id>``, ``org-<id>`` or ``system``."""
    owner = (f"user-{owner_user_id}" if owner_user_id is not None
             else f"org-{owner_org_id}" if owner_org_id is not None else "system")
    return f"{owner}:{asset}:{kind}:{name}"


def account_payload(account: LedgerAccount) -> dict[str, Any]:
    """The canonical record of an account opening, as written to the log."""
    return {"type": "ledger_account", "v": 1, "code": account.code, "asset": account.asset,
            "kind": account.kind, "owner_user_id": account.owner_user_id,
            "owner_org_id": account.owner_org_id, "allow_negative": account.allow_negative,
            "created_at": iso(account.created_at)}


def open_account(session: Session, *, asset: str, kind: AccountKind | str = AccountKind.HOLDER,
                 owner_user_id: int | None = None, owner_org_id: int | None = None,
                 name: str = "main", allow_negative: bool | None = None) -> LedgerAccount:
    """Open (or return the identical existing) account for ``asset``.

    ``asset`` is "CNY" (amounts in fen) or an instrument code (amounts in its
    smallest unit step). ``allow_negative`` defaults to True for the kinds
    "external" and "issuance" only. Opening is idempotent on the account code;
    reopening with other attributes raises :class:`Conflict`.
    """
    kind = AccountKind(kind)
    if not isinstance(asset, str) or not _ASSET.match(asset):
        raise InvalidInput(f"ledger account asset {asset!r} is not an asset code",
                           hint="use 'CNY' or an instrument code of letters, digits, . _ / -")
    if not _NAME.match(name):
        raise InvalidInput(f"ledger account name {name!r} is not a lower-case word",
                           hint="use e.g. 'main', 'escrow', 'fees'")
    if owner_user_id is not None and owner_org_id is not None:
        raise InvalidInput("a ledger account has one owner: a user or an organisation, not both")
    negative = kind in OVERDRAFT_KINDS if allow_negative is None else bool(allow_negative)
    code = account_code(asset, kind.value, owner_user_id, owner_org_id, name)
    lock_log(session)
    existing = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).first()
    if existing is not None:
        if existing.allow_negative != negative:
            raise Conflict(f"ledger account {code} exists with allow_negative="
                           f"{existing.allow_negative}", hint="accounts cannot be changed")
        return existing
    account = LedgerAccount(code=code, asset=asset, kind=kind.value, owner_user_id=owner_user_id,
                            owner_org_id=owner_org_id, allow_negative=negative,
                            created_at=utcnow())
    account.log_index, _ = append_leaf(session, "ledger_account", account_payload(account))
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, ref: AccountRef) -> LedgerAccount:
    """An account by object, id or code."""
    if isinstance(ref, LedgerAccount):
        return ref
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InvalidInput(f"ledger account reference {ref!r} is neither an id nor a code")
    account = (session.get(LedgerAccount, ref) if isinstance(ref, int) else
               session.scalars(select(LedgerAccount).where(LedgerAccount.code == ref)).first())
    if account is None:
        raise NotFound(f"ledger account {ref!r} does not exist",
                       hint="open it first with open_account()")
    return account


def balance(session: Session, account: AccountRef, as_of: datetime | None = None) -> int:
    """The balance (smallest unit: fen for CNY) = sum of postings, optionally up to ``as_of``."""
    acc = get_account(session, account)
    query = select(func.coalesce(func.sum(Posting.amount), 0)).where(
        Posting.account_id == acc.id)
    if as_of is not None:
        if as_of.tzinfo is None:
            raise InvalidInput(f"as_of {as_of!r} is naive", hint="give a timezone-aware time")
        query = query.join(JournalEntry, Posting.entry_id == JournalEntry.id).where(
            JournalEntry.created_at <= as_of)
    return int(session.scalar(query) or 0)


def entry_payload(entry: JournalEntry, accounts: Mapping[int, LedgerAccount]) -> dict[str, Any]:
    """The canonical record of a journal entry, as written to the log."""
    return {"type": "journal_entry", "v": 1, "idempotency_key": entry.idempotency_key,
            "memo": entry.memo, "reference": entry.reference, "actor_id": entry.actor_id,
            "created_at": iso(entry.created_at),
            "postings": [{"account": accounts[p.account_id].code,
                          "asset": accounts[p.account_id].asset, "amount": p.amount}
                         for p in sorted(entry.postings, key=lambda p: p.seq)]}


def _posted(entry: JournalEntry, *, replayed: bool) -> PostedEntry:
    return PostedEntry(
        id=entry.id, idempotency_key=entry.idempotency_key, memo=entry.memo,
        reference=entry.reference,
        actor_id=entry.actor_id, created_at=entry.created_at, log_index=entry.log_index,
        postings=[PostingIn(account=p.account.code, amount=p.amount)
                  for p in sorted(entry.postings, key=lambda p: p.seq)],
        replayed=replayed)


def request_hash(scope: str, request: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical request, to tell a replay from a reused key."""
    return hashlib.sha256(scope.encode() + b"\n" + canonical_json(request)).hexdigest()


def find_idempotent(session: Session, key: str, scope: str,
                    request: Mapping[str, Any]) -> IdempotencyKey | None:
    """The first result stored under ``key``, or None if the key is new.

    Raises :class:`Conflict` if the key was used for another scope or request.
    """
    row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)).first()
    if row is None:
        return None
    if row.scope != scope or row.request_hash != request_hash(scope, request):
        raise Conflict(f"idempotency key {key!r} was already used for a different request "
                       f"({row.scope}, {iso(row.created_at)})",
                       hint="use a new key for a new command; reuse a key only to retry")
    return row


def remember_idempotent(session: Session, key: str, scope: str, request: Mapping[str, Any],
                        result: Mapping[str, Any], entry_id: int | None = None) -> None:
    """Store the result of a command under its idempotency key (in the same transaction)."""
    session.add(IdempotencyKey(key=key, scope=scope, request_hash=request_hash(scope, request),
                               result=dict(result), entry_id=entry_id, created_at=utcnow()))


def _normalise(session: Session, postings: Sequence[PostingIn | tuple[AccountRef, int]]
               ) -> list[tuple[LedgerAccount, int]]:
    refs: list[tuple[AccountRef, int]] = []
    for i, p in enumerate(postings):
        ref, amount = (p.account, p.amount) if isinstance(p, PostingIn) else p
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidInput(f"posting {i}: amount {amount!r} is not an integer",
                               hint="amounts are integers in the smallest unit (fen for CNY)")
        if amount == 0:
            raise InvalidInput(f"posting {i}: amount is zero", hint="leave the line out")
        refs.append((ref, amount))
    # accounts named by code: one query for all of them (get_account raises for the unknown)
    codes = {ref for ref, _ in refs if isinstance(ref, str)}
    by_code = {a.code: a for a in session.scalars(
        select(LedgerAccount).where(LedgerAccount.code.in_(codes)))} if codes else {}
    lines = [(by_code[ref] if isinstance(ref, str) and ref in by_code
              else get_account(session, ref), amount) for ref, amount in refs]
    if len(lines) < 2:
        raise InvalidInput(f"a journal entry needs at least two postings, got {len(lines)}")
    sums: dict[str, int] = defaultdict(int)
    for account, amount in lines:
        sums[account.asset] += amount
    unbalanced = {a: s for a, s in sums.items() if s}
    if unbalanced:
        raise InvalidInput(
            "journal entry does not balance: "
            + ", ".join(f"{a} postings sum to {s:+d}" for a, s in sorted(unbalanced.items())),
            hint="the postings of each asset must sum to zero")
    return lines


def post_entry(session: Session, *, idempotency_key: str,
               postings: Sequence[PostingIn | tuple[AccountRef, int]], memo: str = "",
               actor_id: int | None = None, reference: str | None = None) -> PostedEntry:
    """Post a balanced journal entry, or replay the one already posted under the key.

    ``postings`` are ``(account, amount)``: account by object, id or code; amount an
    integer in the asset's smallest unit, positive to raise the balance. Refused:
    fewer than two lines, zero or non-integer amounts, any asset not summing to zero
    (:class:`InvalidInput`), a non-overdraft account going below zero
    (:class:`InsufficientBalance`), the key reused for another request
    (:class:`Conflict`). ``reference`` names what the entry settles in another domain
    ("market:trade:42"); it is logged with the entry. Flushes; the caller commits.
    """
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200:
        raise InvalidInput(f"idempotency key {idempotency_key!r} must be 1–200 characters",
                           hint="let the client generate a UUID per command")
    lock_log(session)
    lines = _normalise(session, postings)
    if reference is not None and not 0 < len(reference) <= 200:
        raise InvalidInput(f"entry reference {reference!r} must be 1–200 characters",
                           hint="e.g. 'market:trade:42'")
    request = {"postings": [[a.code, amt] for a, amt in lines], "memo": memo,
               "actor_id": actor_id, "reference": reference}
    seen = find_idempotent(session, idempotency_key, JOURNAL_SCOPE, request)
    if seen is not None:
        return _posted(session.get_one(JournalEntry, seen.entry_id), replayed=True)
    deltas: dict[int, int] = defaultdict(int)
    for account, amount in lines:
        deltas[account.id] += amount
    # balances of the accounts this entry would take down: one query for all of them
    debited = {a.id for a, _ in lines if deltas[a.id] < 0 and not a.allow_negative}
    balances = {int(a): int(b) for a, b in session.execute(
        select(Posting.account_id, func.sum(Posting.amount)).where(
            Posting.account_id.in_(debited)).group_by(Posting.account_id))} if debited else {}
    for account, _ in lines:
        delta = deltas.pop(account.id, 0)
        if delta < 0 and not account.allow_negative:
            current = int(balances.get(account.id) or 0)
            if current + delta < 0:
                raise InsufficientBalance(
                    f"ledger account {account.code}: balance {current} {account.asset} "
                    f"cannot cover {-delta}", hint="the account may not go below zero")
    entry = JournalEntry(idempotency_key=idempotency_key, memo=memo, actor_id=actor_id,
                         reference=reference, created_at=utcnow())
    entry.postings = [Posting(seq=i, account_id=a.id, amount=amt, account=a)
                      for i, (a, amt) in enumerate(lines)]
    entry.log_index, _ = append_leaf(session, "journal",
                                     entry_payload(entry, {a.id: a for a, _ in lines}))
    session.add(entry)
    session.flush()
    remember_idempotent(session, idempotency_key, JOURNAL_SCOPE, request,
                        {"entry_id": entry.id, "log_index": entry.log_index}, entry.id)
    session.flush()
    return _posted(entry, replayed=False)


def account_history(session: Session, account: AccountRef, limit: int = 100
                    ) -> list[tuple[JournalEntry, int]]:
    """The latest entries touching ``account`` with this account's amount, newest first."""
    acc = get_account(session, account)
    rows = session.execute(
        select(JournalEntry, Posting.amount).join(Posting, Posting.entry_id == JournalEntry.id)
        .where(Posting.account_id == acc.id).order_by(JournalEntry.log_index.desc())
        .limit(limit))
    return [(e, int(a)) for e, a in rows]


def entries_by_reference(session: Session, reference: str) -> list[PostedEntry]:
    """The entries posted with ``reference``, oldest first."""
    rows = session.scalars(select(JournalEntry).where(JournalEntry.reference == reference)
                           .order_by(JournalEntry.log_index))
    return [_posted(e, replayed=False) for e in rows]
