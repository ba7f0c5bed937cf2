"""Audit of the ledger and log tables: find every row changed behind the application.

:func:`verify_log` recomputes, from the stored rows alone,

1. each leaf hash from its kind and payload, and the leaves' order (indices 0…n−1
   without gaps, creation times never decreasing);
2. every stored perfect-subtree hash from the leaf hashes, streaming in chunks so
   memory stays bounded whatever the log size;
3. each checkpoint's root from the leaves, the root and size written in its note,
   and — given the log's public key — the note's Ed25519 signature;
4. each journal entry and account from its rows, compared with the canonical payload
   logged when it was made; each entry still balances per asset; every journal and
   account leaf still has its row.

A changed amount, a moved posting, a rewritten payload, a swapped index or a
recomputed hash chain all show up, each as a :class:`LogProblem` naming the table
and row. Rewriting everything consistently still breaks the signed checkpoints,
unless the attacker also holds the signing key.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from liangshan.errors import LiangshanError
from liangshan.ledger import merkle
from liangshan.ledger.journal import account_payload, entry_payload
from liangshan.ledger.log import canonical_json, leaf_input, log_size
from liangshan.ledger.merkle import Node
from liangshan.ledger.models import (
    IdempotencyKey,
    JournalEntry,
    LedgerAccount,
    LogLeaf,
    LogNode,
    SignedCheckpoint,
)
from liangshan.ledger.note import NoteVerifier, open_note, parse_checkpoint, split_note


@dataclass(frozen=True)
class LogProblem:
    """One finding: which table, which row, what is wrong."""

    table: str
    row: str
    message: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.message}"


def _stored_nodes(session: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, index in nodes:
        by_level[level].append(index)
    if not by_level:
        return {}
    rows = session.execute(select(LogNode.level, LogNode.node_index, LogNode.hash).where(
        or_(*[and_(LogNode.level == lv, LogNode.node_index.in_(ix))
              for lv, ix in by_level.items()])))
    return {(int(lv), int(i)): bytes(h) for lv, i, h in rows}


def _check_nodes(session: Session, computed: dict[Node, bytes],
                 problems: list[LogProblem]) -> None:
    stored = _stored_nodes(session, computed)
    for (level, index), h in sorted(computed.items()):
        first, last = index << level, ((index + 1) << level) - 1
        where = f"(level {level}, index {index})"
        if (level, index) not in stored:
            problems.append(LogProblem("ledger_log_nodes", where,
                                       f"missing: the hash over leaves {first}–{last}"))
        elif stored[(level, index)] != h:
            problems.append(LogProblem(
                "ledger_log_nodes", where,
                f"stored hash differs from the one recomputed over leaves {first}–{last}: "
                "a leaf in that range, or this node, was changed"))


def _check_leaves(session: Session, size: int, wanted: set[Node], chunk: int,
                  problems: list[LogProblem]) -> dict[Node, bytes]:
    """Stream the leaves; returns recomputed hashes of the ``wanted`` perfect subtrees."""
    captured: dict[Node, bytes] = {}
    stack: list[tuple[int, int, bytes]] = []  # (level, index, hash) of the compact range
    pending: dict[Node, bytes] = {}
    previous_at = None
    query = select(LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.leaf_hash, LogLeaf.payload,
                   LogLeaf.created_at).order_by(LogLeaf.leaf_index)
    rows = session.execute(query.execution_options(yield_per=chunk))
    for expected, (index, kind, stored_hash, payload, created_at) in enumerate(rows):
        index = int(index)
        if index != expected:
            problems.append(LogProblem("ledger_log_leaves", f"index {expected}",
                                       f"missing: the next stored leaf is {index}"))
            return captured  # hashes past a gap would all differ; the gap is the finding
        stored_hash = bytes(stored_hash)
        if merkle.hash_leaf(leaf_input(kind, bytes(payload))) != stored_hash:
            problems.append(LogProblem("ledger_log_leaves", f"index {index}",
                                       f"content changed: kind {kind!r} and payload do not "
                                       "hash to the stored leaf hash"))
        if previous_at is not None and created_at < previous_at:
            problems.append(LogProblem("ledger_log_leaves", f"index {index}",
                                       "order changed: created before the leaf before it"))
        previous_at = created_at
        if (0, index) in wanted:
            captured[(0, index)] = stored_hash
        level, node_index, h = 0, index, stored_hash
        while stack and stack[-1][0] == level:
            _, _, left = stack.pop()
            level, node_index = level + 1, node_index >> 1
            h = merkle.hash_children(left, h)
            pending[(level, node_index)] = h
            if (level, node_index) in wanted:
                captured[(level, node_index)] = h
        stack.append((level, node_index, h))
        if len(pending) >= chunk:
            _check_nodes(session, pending, problems)
            pending = {}
    _check_nodes(session, pending, problems)
    expected_nodes = sum(size >> lv for lv in range(1, size.bit_length()))
    stored_count = session.scalar(select(func.count()).select_from(LogNode)) or 0
    if stored_count > expected_nodes:
        problems.append(LogProblem("ledger_log_nodes", "(extra rows)",
                                   f"{stored_count} stored, {expected_nodes} expected for "
                                   f"{size} leaves: leaves were deleted"))
    return captured


def _check_checkpoints(checkpoints: list[SignedCheckpoint], size: int,
                       recomputed: dict[Node, bytes], verifier: NoteVerifier | None,
                       problems: list[LogProblem]) -> None:
    for cp in checkpoints:
        row = f"id {cp.id} (size {cp.tree_size})"
        if cp.tree_size > size:
            problems.append(LogProblem("ledger_checkpoints", row,
                                       f"signed for more leaves than the log holds ({size})"))
            continue
        nodes = merkle.perfect_subtrees(0, cp.tree_size)
        if all(n in recomputed for n in nodes):
            root = merkle.fold_right([recomputed[n] for n in nodes])
            if root != bytes(cp.root_hash):
                problems.append(LogProblem(
                    "ledger_checkpoints", row,
                    f"root {base64.b64encode(root).decode()} recomputed from the leaves differs "
                    "from the signed root: leaves before this size were changed"))
        try:
            text = open_note(cp.note, [verifier]) if verifier else split_note(cp.note)[0]
            signed = parse_checkpoint(text)
        except LiangshanError as exc:
            problems.append(LogProblem("ledger_checkpoints", row, f"note: {exc.message}"))
            continue
        if (signed.size, signed.root_hash) != (cp.tree_size, bytes(cp.root_hash)):
            problems.append(LogProblem("ledger_checkpoints", row,
                                       "size or root column differs from the signed note"))


def _leaf_records(session: Session, indices: list[int]) -> dict[int, tuple[str, bytes]]:
    rows = session.execute(select(LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.payload)
                           .where(LogLeaf.leaf_index.in_(indices)))
    return {int(i): (k, bytes(p)) for i, k, p in rows}


def _compare(table: str, row: str, log_index: int, kind: str, payload: bytes,
             leaves: dict[int, tuple[str, bytes]], problems: list[LogProblem]) -> None:
    leaf = leaves.get(log_index)
    if leaf is None or leaf[0] != kind:
        problems.append(LogProblem(table, row, f"log leaf {log_index} is not its {kind} record"))
    elif leaf[1] != payload:
        problems.append(LogProblem(table, row, f"content changed: differs from what log leaf "
                                   f"{log_index} recorded"))


def _check_records(session: Session, chunk: int, problems: list[LogProblem]) -> None:
    accounts = {a.id: a for a in session.scalars(select(LedgerAccount))}
    ordered = sorted(accounts.values(), key=lambda a: a.id)
    for start in range(0, len(ordered), chunk):
        part = ordered[start:start + chunk]
        leaves = _leaf_records(session, [a.log_index for a in part])
        for acc in part:
            _compare("ledger_accounts", f"id {acc.id} ({acc.code})", acc.log_index,
                     "ledger_account", canonical_json(account_payload(acc)), leaves, problems)
    previous: int | None = None
    entries = session.scalars(select(JournalEntry).order_by(JournalEntry.id)
                              .execution_options(yield_per=chunk))
    for batch in entries.partitions():
        leaves = _leaf_records(session, [e.log_index for e in batch])
        for entry in batch:
            row = f"id {entry.id} (key {entry.idempotency_key!r})"
            if any(p.account_id not in accounts for p in entry.postings):
                problems.append(LogProblem("ledger_postings", f"entry {entry.id}",
                                           "refers to an account that does not exist"))
                continue
            _compare("ledger_entries", row, entry.log_index, "journal",
                     canonical_json(entry_payload(entry, accounts)), leaves, problems)
            sums: dict[str, int] = defaultdict(int)
            for p in entry.postings:
                sums[accounts[p.account_id].asset] += p.amount
            if any(sums.values()):
                problems.append(LogProblem("ledger_entries", row,
                                           f"does not balance: {dict(sums)}"))
            if previous is not None and entry.log_index < previous:
                problems.append(LogProblem("ledger_entries", row,
                                           "order changed: logged before the entry before it"))
            previous = entry.log_index
    for kind, table, model in (("journal", "ledger_entries", JournalEntry),
                               ("ledger_account", "ledger_accounts", LedgerAccount)):
        orphans = session.scalars(select(LogLeaf.leaf_index).where(
            LogLeaf.kind == kind,
            ~select(model.id).where(model.log_index == LogLeaf.leaf_index).exists()))
        for index in orphans:
            problems.append(LogProblem(table, f"(log leaf {index})",
                                       "row missing: the log records it but the table lost it"))
    dangling = session.execute(select(IdempotencyKey.key).outerjoin(
        JournalEntry, IdempotencyKey.entry_id == JournalEntry.id).where(
        IdempotencyKey.entry_id.is_not(None), JournalEntry.id.is_(None)))
    for (key,) in dangling:
        problems.append(LogProblem("ledger_idempotency_keys", f"key {key!r}",
                                   "points to a journal entry that no longer exists"))


#: Checks of other domains' rows against the leaves they logged, by name; each appends
#: its findings. Domains register theirs when imported (see :func:`register_record_check`).
RecordCheck = Callable[[Session, list[LogProblem]], None]
RECORD_CHECKS: dict[str, RecordCheck] = {}


def register_record_check(name: str, check: RecordCheck) -> None:
    """Have :func:`verify_log` also run ``check`` (a domain comparing its rows with the log)."""
    RECORD_CHECKS[name] = check


def verify_log(session: Session, verifier: NoteVerifier | None = None, *,
               chunk: int = 4096) -> list[LogProblem]:
    """Every problem found in the log and ledger tables, and by the registered checks of
    other domains (:data:`RECORD_CHECKS`); an empty list: all consistent.

    ``verifier`` is the log's public key; without it checkpoint signatures are not
    checked (only their text against the leaves). ``chunk`` is the number of rows
    held in memory at a time.
    """
    problems: list[LogProblem] = []
    size = log_size(session)
    checkpoints = list(session.scalars(select(SignedCheckpoint)
                                       .order_by(SignedCheckpoint.tree_size)))
    wanted = {n for cp in checkpoints if cp.tree_size <= size
              for n in merkle.perfect_subtrees(0, cp.tree_size)}
    recomputed = _check_leaves(session, size, wanted, chunk, problems)
    _check_checkpoints(checkpoints, size, recomputed, verifier, problems)
    _check_records(session, chunk, problems)
    for check in RECORD_CHECKS.values():
        check(session, problems)
    return problems
