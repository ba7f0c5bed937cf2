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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.db_bulk import insert_rows, reserve_ids
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.ledger.log import append_leaf, append_leaves, canonical_json, lock_log
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


Lines = Sequence[PostingIn | tuple[AccountRef, int]]


def _refs(postings: Lines) -> list[tuple[AccountRef, int]]:
    return [(p.account, p.amount) if isinstance(p, PostingIn) else p for p in postings]


def _by_code(session: Session, codes: set[str]) -> dict[str, LedgerAccount]:
    """Accounts named by code, one query for all (unknown codes are left out)."""
    return {a.code: a for a in session.scalars(
        select(LedgerAccount).where(LedgerAccount.code.in_(codes)))} if codes else {}


def _normalise(session: Session, postings: Lines,
               by_code: Mapping[str, LedgerAccount] | None = None
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
    if by_code is None:  # accounts named by code: one query (get_account raises for unknowns)
        by_code = _by_code(session, {ref for ref, _ in refs if isinstance(ref, str)})
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
    Many entries at once: :func:`post_entries`.
    """
    return post_entries(session, [{"idempotency_key": idempotency_key, "postings": postings,
                                   "memo": memo, "actor_id": actor_id,
                                   "reference": reference}])[0]


def post_entries(session: Session, entries: Sequence[Mapping[str, Any]]) -> list[PostedEntry]:
    """Post entries in order, with the result of :func:`post_entry` called once per entry.

    Each item holds :func:`post_entry`'s keyword arguments (``idempotency_key``,
    ``postings``, optional ``memo``, ``actor_id``, ``reference``); amounts in the asset's
    smallest unit (fen for CNY). A later entry sees the balances left by the earlier
    ones; a key repeated with the same request replays the entry, with another request
    it raises :class:`Conflict`. All checks run before anything is written, so a refused
    entry writes none of the batch. One query each for accounts named by code,
    idempotency keys and balances, one bulk log append, then the entries, postings
    and idempotency rows as plain rows (:func:`_write`: the rows the ORM would write,
    ids reserved in one round trip, ``COPY`` on PostgreSQL). Flushes; the caller commits.
    """
    unknown = [set(e) - {"idempotency_key", "postings", "memo", "actor_id", "reference"}
               for e in entries]
    for i, extra in enumerate(unknown):
        if extra or "idempotency_key" not in entries[i] or "postings" not in entries[i]:
            raise InvalidInput(f"entry {i}: expected the keyword arguments of post_entry, "
                               f"got {sorted(entries[i])}",
                               hint="give idempotency_key and postings; memo, actor_id and "
                               "reference are optional")
    for e in entries:
        key = e["idempotency_key"]
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            raise InvalidInput(f"idempotency key {key!r} must be 1–200 characters",
                               hint="let the client generate a UUID per command")
    if not entries:
        return []
    lock_log(session)
    by_code = _by_code(session, {ref for e in entries for ref, _ in _refs(e["postings"])
                                 if isinstance(ref, str)})
    prepared = []
    for e in entries:
        lines = _normalise(session, e["postings"], by_code)
        reference = e.get("reference")
        if reference is not None and not 0 < len(reference) <= 200:
            raise InvalidInput(f"entry reference {reference!r} must be 1–200 characters",
                               hint="e.g. 'market:trade:42'")
        request = {"postings": [[a.code, amt] for a, amt in lines], "memo": e.get("memo", ""),
                   "actor_id": e.get("actor_id"), "reference": reference}
        prepared.append((e["idempotency_key"], lines, request))
    stored = {row.key: row for row in session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.key.in_({key for key, _l, _r in prepared})))}
    # balances of the accounts the batch would take down: one query; kept running below
    debited = {a.id for _k, lines, _r in prepared for a, amt in lines
               if amt < 0 and not a.allow_negative}
    balances: dict[int, int] = defaultdict(int)
    if debited:
        balances.update({int(a): int(b) for a, b in session.execute(
            select(Posting.account_id, func.sum(Posting.amount)).where(
                Posting.account_id.in_(debited)).group_by(Posting.account_id))})
    results: list[_NewEntry | IdempotencyKey | int] = []  # new entry, stored or earlier
    new: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for i, (key, lines, request) in enumerate(prepared):
        if key in stored:
            results.append(_check_replay(stored[key], key, request))
            continue
        if key in new:  # the same command twice in one batch: the second is a replay
            first, first_request = new[key]
            if first_request != request:
                raise Conflict(f"idempotency key {key!r} is used twice in one batch for "
                               "different requests", hint="use a new key for a new command")
            results.append(first)
            continue
        deltas: dict[int, int] = defaultdict(int)
        for account, amount in lines:
            deltas[account.id] += amount
        for account, _ in lines:
            delta = deltas.pop(account.id, 0)
            if delta < 0 and not account.allow_negative:
                current = balances[account.id]
                if current + delta < 0:
                    raise InsufficientBalance(
                        f"ledger account {account.code}: balance {current} {account.asset} "
                        f"cannot cover {-delta}", hint="the account may not go below zero")
        for account, amount in lines:
            balances[account.id] += amount
        new[key] = (i, request)
        results.append(_NewEntry(key, lines, request, utcnow()))
    _write(session, [r for r in results if isinstance(r, _NewEntry)])
    return _results(session, results)


@dataclass
class _NewEntry:
    """An entry :func:`post_entries` writes: its lines, canonical request and, once
    written, its id and log index."""

    key: str
    lines: list[tuple[LedgerAccount, int]]
    request: Mapping[str, Any]
    created_at: datetime
    id: int = 0
    log_index: int = 0

    def payload(self) -> dict[str, Any]:
        """The log payload; the same dict :func:`entry_payload` makes of the stored rows."""
        return {"type": "journal_entry", "v": 1, "idempotency_key": self.key,
                "memo": self.request["memo"], "reference": self.request["reference"],
                "actor_id": self.request["actor_id"], "created_at": iso(self.created_at),
                "postings": [{"account": a.code, "asset": a.asset, "amount": amt}
                             for a, amt in self.lines]}

    def posted(self, *, replayed: bool) -> PostedEntry:
        return PostedEntry(
            id=self.id, idempotency_key=self.key, memo=self.request["memo"],
            reference=self.request["reference"], actor_id=self.request["actor_id"],
            created_at=self.created_at, log_index=self.log_index,
            postings=[PostingIn(account=a.code, amount=amt) for a, amt in self.lines],
            replayed=replayed)


def _write(session: Session, fresh: Sequence[_NewEntry]) -> None:
    """Log and insert ``fresh`` as plain rows: entries, postings, idempotency keys.

    The rows the ORM would write for ``JournalEntry``/``Posting`` objects and
    :func:`remember_idempotent`, written by :mod:`liangshan.db_bulk` (ids reserved in
    one round trip, ``COPY`` on PostgreSQL) instead of the unit of work: the ORM's
    multi-row ``INSERT … RETURNING`` was most of a settlement cycle's time.
    """
    if not fresh:
        return
    logged = append_leaves(session, [("journal", e.payload()) for e in fresh])
    session.flush()  # rows the new ones refer to (accounts, users) are in the database
    n_postings = sum(len(e.lines) for e in fresh)
    entry_ids = reserve_ids(session, JournalEntry, len(fresh))
    posting_ids = iter(reserve_ids(session, Posting, n_postings))
    key_ids = reserve_ids(session, IdempotencyKey, len(fresh))
    entries, postings, keys = [], [], []
    for e, entry_id, key_id, (index, _leaf) in zip(fresh, entry_ids, key_ids, logged,
                                                   strict=True):
        e.id, e.log_index = entry_id, index
        entries.append({"id": entry_id, "idempotency_key": e.key, "memo": e.request["memo"],
                        "reference": e.request["reference"],
                        "actor_id": e.request["actor_id"], "log_index": index,
                        "created_at": e.created_at})
        postings += [{"id": next(posting_ids), "entry_id": entry_id, "seq": seq,
                      "account_id": a.id, "amount": amt}
                     for seq, (a, amt) in enumerate(e.lines)]
        keys.append({"id": key_id, "key": e.key, "scope": JOURNAL_SCOPE,
                     "request_hash": request_hash(JOURNAL_SCOPE, e.request),
                     "result": {"entry_id": entry_id, "log_index": index},
                     "entry_id": entry_id, "created_at": utcnow()})
    insert_rows(session, JournalEntry, entries)
    insert_rows(session, Posting, postings)
    insert_rows(session, IdempotencyKey, keys)


def _results(session: Session, results: Sequence[_NewEntry | IdempotencyKey | int]
             ) -> list[PostedEntry]:
    """What :func:`post_entries` returns; entries replayed from earlier calls: one query."""
    earlier_ids = {r.entry_id for r in results if isinstance(r, IdempotencyKey)}
    earlier = {e.id: e for e in session.scalars(
        select(JournalEntry).where(JournalEntry.id.in_(earlier_ids)))} if earlier_ids else {}
    out: list[PostedEntry] = []
    for r in results:
        if isinstance(r, _NewEntry):
            out.append(r.posted(replayed=False))
        elif isinstance(r, int):  # the same key earlier in this batch
            first = results[r]
            assert isinstance(first, _NewEntry)
            out.append(first.posted(replayed=True))
        else:
            assert r.entry_id is not None  # a journal key stores its entry (_check_replay)
            out.append(_posted(earlier[r.entry_id], replayed=True))
    return out


def _check_replay(row: IdempotencyKey, key: str, request: Mapping[str, Any]
                  ) -> IdempotencyKey:
    """``row`` if it stored this very request under ``key``; :class:`Conflict` otherwise."""
    if row.scope != JOURNAL_SCOPE or row.request_hash != request_hash(JOURNAL_SCOPE, request):
        raise Conflict(f"idempotency key {key!r} was already used for a different request "
                       f"({row.scope}, {iso(row.created_at)})",
                       hint="use a new key for a new command; reuse a key only to retry")
    return row


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
