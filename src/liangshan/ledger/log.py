"""The transparency log in the database: append leaves, prove, sign checkpoints.

Leaf ``i`` stores its kind, its canonical payload bytes and its RFC 6962 leaf hash
over the leaf input ``kind || 0x0A || payload``. Every perfect subtree is stored
in ``ledger_log_nodes`` the moment it completes (amortised one row per leaf), so a
proof reads O(log n) stored hashes and rehashes no payload; the root of any past
size is the fold of at most log₂ n stored nodes.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock, on
SQLite by its single writer. Functions here write (flush) but never commit; the
caller's transaction commits (``session_scope`` or the API's per-request session).

Because the lock is held until the transaction ends, the log's tail (size, last
time, the right edge of the tree) read by the first append of a transaction stays
true for the rest of it: later appends in the same transaction reuse it from
``session.info`` and only insert. :func:`append_leaves` appends a whole batch with
one lock, one tail read and two bulk inserts (``COPY`` on PostgreSQL, :mod:`liangshan.db_bulk`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, func, literal, select, text
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.db_bulk import insert_rows
from liangshan.errors import DatabaseError, InvalidInput, NotFound
from liangshan.ledger import merkle
from liangshan.ledger.merkle import Node
from liangshan.ledger.models import LogLeaf, LogNode, SignedCheckpoint
from liangshan.ledger.note import Checkpoint, NoteSigner, sign_checkpoint_note

#: Key of the PostgreSQL advisory lock that serialises log appends ("ls-log").
LOG_LOCK_KEY = 0x6C732D6C6F67
_TAIL_KEY = "ledger_log_tail"
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, no NaN/Infinity.

    Keys sort by code point (Python's order), which differs from RFC 8785 (JCS)
    only for characters outside the Basic Multilingual Plane; numbers are written
    as Python writes them, so keep money and quantities integers.

    Refuses values JSON cannot carry exactly (datetimes, Decimals, bytes): convert
    them to strings or integers first, so that the same record always hashes alike.
    """
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"log payload cannot be written as canonical JSON: {exc}",
                           hint="use str, int, bool, None, lists and dicts with str keys; "
                           "write times as ISO 8601 strings and money as integer fen") from None


def leaf_input(kind: str, payload: bytes) -> bytes:
    """The bytes whose RFC 6962 leaf hash is stored: ``kind || 0x0A || payload``."""
    return kind.encode("ascii") + b"\n" + payload


def lock_log(session: Session) -> None:
    """Serialise writers to the log (and the journal) until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a no-op write, which
    opens the write transaction now (waiting up to the busy timeout), so the reads
    that follow (log size, balances) cannot be overtaken by another writer.
    """
    held = session.info.get("ledger_log_lock")
    if held is not None and held is session.get_transaction():
        return  # this transaction already holds it
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE ledger_log_nodes SET level = level WHERE 1 = 0"))
    session.info["ledger_log_lock"] = session.get_transaction()


def log_size(session: Session) -> int:
    """The number of leaves in the log."""
    last = session.scalar(select(func.max(LogLeaf.leaf_index)))
    return 0 if last is None else int(last) + 1


def node_hashes(session: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """Stored hashes of perfect subtrees ``(level, index)`` (level 0: leaf hashes)."""
    by_level: dict[int, set[int]] = defaultdict(set)
    for level, index in nodes:
        by_level[level].add(index)
    # The SQL is written directly from integers computed here: building it as
    # SQLAlchemy expressions cost ten times the query itself (profiled on a 1M-leaf
    # log). One IN list per level, so both databases walk the primary key index, and
    # one statement (UNION ALL) for leaves and upper nodes: one round trip.
    parts = [f"SELECT 0, leaf_index, leaf_hash FROM ledger_log_leaves WHERE leaf_index IN "
             f"({','.join(str(int(i)) for i in by_level[0])})"] if by_level.get(0) else []
    upper = [f"(level = {int(lv)} AND node_index IN ({','.join(str(int(i)) for i in ix)}))"
             for lv, ix in by_level.items() if lv > 0]
    if upper:
        parts.append("SELECT level, node_index, hash FROM ledger_log_nodes WHERE "
                     + " OR ".join(upper))
    found: dict[Node, bytes] = {}
    if parts:
        rows = session.execute(text(" UNION ALL ".join(parts)))
        found.update({(int(lv), int(i)): bytes(h) for lv, i, h in rows})
    missing = {(lv, i) for lv, ix in by_level.items() for i in ix} - found.keys()
    if missing:
        raise DatabaseError(
            f"ledger_log_nodes/ledger_log_leaves: {len(missing)} stored hash(es) missing, "
            f"e.g. (level, index) {min(missing)}",
            hint="the log tables were changed outside the application; run "
            "'liangshan log verify'")
    return found


def _leaf_bytes(kind: str, payload: bytes | Mapping[str, Any]) -> bytes:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidInput(f"log leaf kind {kind!r} is not a lower-case ASCII word",
                           hint="use e.g. 'journal', 'trace', 'registry' (≤ 32 characters)")
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, Mapping):
        return canonical_json(payload)
    raise InvalidInput(f"log payload of type {type(payload).__name__} is neither bytes "
                       "nor a dict", hint="pass canonical bytes or a JSON-able dict")


@dataclass
class _Tail:
    """The log's right edge, valid while this transaction holds the append lock.

    ``frontier`` is :func:`merkle.perfect_subtrees` ``(0, size)`` as ``(level, index,
    hash)``, largest first; a hash is None until an append needs it (it is read then).
    ``owner``/``savepoint``: the transaction and savepoint it was read in; a rolled-back
    savepoint or a new transaction makes it stale, and it is read again.
    """

    size: int
    last_at: datetime | None
    frontier: list[tuple[int, int, bytes | None]]
    owner: Any
    savepoint: Any


def _tail(session: Session) -> _Tail:
    cached = session.info.get(_TAIL_KEY)
    if (cached is not None and cached.owner is session.get_transaction()
            and cached.savepoint is session.get_nested_transaction()):
        return cached
    last = session.execute(select(LogLeaf.leaf_index, LogLeaf.created_at)
                           .order_by(LogLeaf.leaf_index.desc()).limit(1)).first()
    size = 0 if last is None else int(last[0]) + 1
    return _Tail(size, None if last is None else last[1],
                 [(lv, ix, None) for lv, ix in merkle.perfect_subtrees(0, size)],
                 session.get_transaction(), session.get_nested_transaction())


def append_leaves(session: Session, items: Sequence[tuple[str, bytes | Mapping[str, Any]]]
                  ) -> list[tuple[int, bytes]]:
    """Append leaves in order; returns ``(index, leaf_hash)`` of each (hash: 32 bytes).

    The same rows as :func:`append_leaf` called once per item, in one lock, one read
    of the log's tail (none if this transaction appended before) and one bulk
    insert per table; the subtree hashes the batch completes are computed in memory.
    Every item is checked before anything is written. ``items`` are ``(kind,
    payload)`` as for :func:`append_leaf`.
    """
    prepared = [(kind, _leaf_bytes(kind, payload)) for kind, payload in items]
    if not prepared:
        return []
    lock_log(session)
    tail = _tail(session)
    start, end = tail.size, tail.size + len(prepared)
    # The batch merges away exactly the frontier nodes that are not on the new
    # frontier; read the hashes of those not known yet (at most log2 n, one query).
    survivors = set(merkle.perfect_subtrees(0, end))
    wanted = [(lv, ix) for lv, ix, h in tail.frontier if h is None and (lv, ix) not in survivors]
    stored = node_hashes(session, wanted) if wanted else {}
    frontier = [(lv, ix, h if h is not None else stored.get((lv, ix)))
                for lv, ix, h in tail.frontier]
    # Leaf times never go backwards, even if app servers' clocks disagree slightly:
    # verify_log reads a backwards time as a reordered log.
    now = utcnow()
    created_at = now if tail.last_at is None else max(now, tail.last_at)
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    out: list[tuple[int, bytes]] = []
    for index, (kind, data) in enumerate(prepared, start=start):
        leaf_hash = merkle.hash_leaf(leaf_input(kind, data))
        leaves.append({"leaf_index": index, "kind": kind, "leaf_hash": leaf_hash,
                       "payload": data, "created_at": created_at})
        out.append((index, leaf_hash))
        # A leaf completes one perfect subtree per trailing 1-bit of its index: it
        # merges with the frontier's last node while that node has its level.
        level, node, h = 0, index, leaf_hash
        while frontier and frontier[-1][0] == level:
            left = frontier.pop()[2]
            assert left is not None  # read above: it is not on the new frontier
            h = merkle.hash_children(left, h)
            level, node = level + 1, node >> 1
            nodes.append({"level": level, "node_index": node, "hash": h})
        frontier.append((level, node, h))
    insert_rows(session, LogLeaf, leaves)  # COPY on PostgreSQL: no per-row statement
    insert_rows(session, LogNode, nodes)
    session.info[_TAIL_KEY] = _Tail(end, created_at, frontier, tail.owner, tail.savepoint)
    return out


def append_leaf(session: Session, kind: str, payload: bytes | Mapping[str, Any]) -> tuple[
        int, bytes]:
    """Append one leaf; returns ``(index, leaf_hash)`` (leaf hash: 32 bytes).

    ``kind`` names what the leaf records ("journal", "ledger_account", "account",
    "trace", "registry" …: lower-case ASCII). A dict payload is written as
    canonical JSON (:func:`canonical_json`); bytes are stored as given. Many leaves
    at once: :func:`append_leaves`.
    """
    return append_leaves(session, [(kind, payload)])[0]


def leaves_of_kind(session: Session, kind: str, *, containing: bytes | None = None,
                   after: int = -1) -> list[tuple[int, bytes]]:
    """``(index, payload)`` of the leaves of ``kind`` after index ``after``, in log order.

    ``containing``: only payloads holding these bytes (e.g. a record's canonical
    ``"number":"…"``), filtered by the database so that rare kinds stay cheap to search
    in a large log (the kind is indexed).
    """
    query = select(LogLeaf.leaf_index, LogLeaf.payload).where(
        LogLeaf.kind == kind, LogLeaf.leaf_index > after).order_by(LogLeaf.leaf_index)
    if containing is not None:
        needle = literal(containing, LargeBinary)
        found = (func.position(needle.op("IN")(LogLeaf.payload))
                 if session.get_bind().dialect.name == "postgresql"
                 else func.instr(LogLeaf.payload, needle))
        query = query.where(found > 0)
    return [(int(i), bytes(p)) for i, p in session.execute(query)]


def get_leaf(session: Session, index: int) -> LogLeaf:
    leaf = session.get(LogLeaf, index)
    if leaf is None:
        raise NotFound(f"log leaf {index} does not exist (the log has {log_size(session)} "
                       "leaves)", hint="indices count from 0")
    return leaf


def _check_tree_size(session: Session, size: int, *, what: str) -> None:
    current = log_size(session)
    if not 0 <= size <= current:
        raise InvalidInput(f"{what}: tree size {size} is outside 0 … {current}",
                           hint="ask for a size no larger than the latest checkpoint's")


def root_hash(session: Session, size: int | None = None) -> bytes:
    """The RFC 6962 root (32 bytes) of the first ``size`` leaves (default: all)."""
    size = log_size(session) if size is None else size
    _check_tree_size(session, size, what="root hash")
    nodes = merkle.perfect_subtrees(0, size)
    stored = node_hashes(session, nodes)
    return merkle.fold_right([stored[n] for n in nodes])


def _range_proof(session: Session, ranges: list[merkle.LeafRange]) -> list[bytes]:
    needed = [merkle.perfect_subtrees(b, e) for b, e in ranges]
    stored = node_hashes(session, [n for ns in needed for n in ns])
    return [merkle.fold_right([stored[n] for n in ns]) for ns in needed]


def inclusion_proof(session: Session, index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) from stored hashes: O(log n) reads, no rehashing."""
    _check_tree_size(session, tree_size, what=f"inclusion proof of leaf {index}")
    return _range_proof(session, merkle.inclusion_ranges(index, tree_size))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) from stored hashes."""
    _check_tree_size(session, second, what=f"consistency proof from {first}")
    return _range_proof(session, merkle.consistency_ranges(first, second))


def latest_checkpoint(session: Session) -> SignedCheckpoint | None:
    return session.scalars(select(SignedCheckpoint)
                           .order_by(SignedCheckpoint.tree_size.desc()).limit(1)).first()


def sign_checkpoint(session: Session, signer: NoteSigner) -> SignedCheckpoint:
    """Sign and store a checkpoint for the current log size (origin = key name).

    Returns the stored one if the log has not grown. Before signing, the new tree is
    proven consistent with the previous checkpoint from the stored hashes, so the
    log never signs two inconsistent heads (C2SP tlog-checkpoint).
    """
    lock_log(session)
    size = log_size(session)
    previous = latest_checkpoint(session)
    if previous is not None and previous.tree_size == size:
        return previous
    root = root_hash(session, size)
    if previous is not None:
        try:
            merkle.verify_consistency(previous.tree_size, size,
                                      consistency_proof(session, previous.tree_size, size),
                                      bytes(previous.root_hash), root)
        except merkle.ProofError as exc:
            raise DatabaseError(
                f"refusing to sign size {size}: the log is not consistent with checkpoint "
                f"{previous.tree_size}: {exc.message}",
                hint="run 'liangshan log verify' to find the changed rows") from None
    note = sign_checkpoint_note(Checkpoint(signer.name, size, root), signer)
    row = SignedCheckpoint(tree_size=size, root_hash=root, origin=signer.name, note=note)
    session.add(row)
    session.flush()
    return row
