"""The journal's plain-row write path (ids reserved, ``COPY`` on PostgreSQL) writes the
rows the ORM unit of work wrote, keeps every refusal all-or-nothing, and the log verifies.

The reference writer below is the ORM path ``post_entries`` used before (commit 2e5c4d5):
``JournalEntry``/``Posting`` objects flushed, the log payload made by
:func:`journal.entry_payload` from those objects, the key stored by
:func:`journal.remember_idempotent`. Amounts are in fen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.errors import Conflict
from liangshan.ledger import journal, log, service
from liangshan.ledger.journal import InsufficientBalance, post_entries
from liangshan.ledger.models import IdempotencyKey, JournalEntry, LogLeaf, LogNode, Posting

BANK = "system:CNY:external:bank"
HOLDERS = [f"system:CNY:holder:h{i}" for i in range(6)]


def _setup(s: Session) -> None:
    service.open_account(s, asset="CNY", kind="external", name="bank")
    for code in HOLDERS:
        service.open_account(s, asset="CNY", name=code.rsplit(":", 1)[1])
    service.post_entry(s, idempotency_key="fund", postings=[(BANK, -6000)] + [
        (h, 1000) for h in HOLDERS])
    s.commit()


def _batch(n: int) -> list[dict[str, Any]]:
    """``n`` entries moving small sums around the holders, some with three lines."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        a, b, c = (HOLDERS[(i + k) % len(HOLDERS)] for k in (0, 1, 3))
        lines = [(a, -(i % 7 + 2)), (b, i % 7 + 1), (c, 1)] if i % 3 else [(a, -5), (b, 5)]
        out.append({"idempotency_key": f"e{i}", "postings": lines, "memo": f"move {i} «é»",
                    "reference": f"t:{i // 2}" if i % 2 else None, "actor_id": None})
    return out


def _orm_post(s: Session, entries: list[dict[str, Any]]) -> None:
    """The former ORM write of new entries (no replays, balances not checked here)."""
    accounts = {a.code: a for a in s.scalars(select(journal.LedgerAccount))}
    made = []
    for e in entries:
        entry = JournalEntry(idempotency_key=e["idempotency_key"], memo=e["memo"],
                             actor_id=e["actor_id"], reference=e["reference"],
                             created_at=journal.utcnow())
        entry.postings = [Posting(seq=j, account_id=accounts[c].id, amount=amt,
                                  account=accounts[c]) for j, (c, amt) in enumerate(e["postings"])]
        made.append(entry)
    logged = service.append_leaves(s, [("journal", journal.entry_payload(
        entry, {a.id: a for a in accounts.values()})) for entry in made])
    for entry, (index, _h) in zip(made, logged, strict=True):
        entry.log_index = index
    s.add_all(made)
    s.flush()
    for entry, e in zip(made, entries, strict=True):
        request = {"postings": [[c, amt] for c, amt in e["postings"]], "memo": e["memo"],
                   "actor_id": e["actor_id"], "reference": e["reference"]}
        journal.remember_idempotent(s, e["idempotency_key"], journal.JOURNAL_SCOPE, request,
                                    {"entry_id": entry.id, "log_index": entry.log_index},
                                    entry.id)
    s.flush()


def _rows(s: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every journal, key and log row after the setup; ids as offsets from the first new
    one (PostgreSQL sequences do not roll back, so absolute ids differ between runs)."""
    first_entry = s.scalar(select(func.min(JournalEntry.id)).where(
        JournalEntry.idempotency_key != "fund"))
    first_posting = s.scalar(select(func.min(Posting.id)).where(Posting.entry_id == first_entry))
    first_key = s.scalar(select(func.min(IdempotencyKey.id)).where(IdempotencyKey.key != "fund"))
    assert None not in (first_entry, first_posting, first_key)

    def rel(entry_id: int) -> int:
        return entry_id - first_entry

    entries = [(rel(e.id), e.idempotency_key, e.memo, e.reference, e.actor_id, e.log_index,
                e.created_at) for e in s.scalars(select(JournalEntry).where(
                    JournalEntry.id >= first_entry).order_by(JournalEntry.id))]
    postings = [(p.id - first_posting, rel(p.entry_id), p.seq, p.account_id, p.amount)
                for p in s.scalars(select(Posting).where(Posting.id >= first_posting)
                                   .order_by(Posting.id))]
    keys = [(k.id - first_key, k.key, k.scope, k.request_hash,
             {**k.result, "entry_id": rel(k.result["entry_id"])}, rel(k.entry_id or 0),
             k.created_at) for k in s.scalars(select(IdempotencyKey).where(
                 IdempotencyKey.id >= first_key).order_by(IdempotencyKey.id))]
    leaves = [tuple(r) for r in s.execute(select(
        LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.leaf_hash, LogLeaf.payload, LogLeaf.created_at)
        .order_by(LogLeaf.leaf_index))]
    nodes = [tuple(r) for r in s.execute(select(LogNode.level, LogNode.node_index, LogNode.hash)
                                         .order_by(LogNode.level, LogNode.node_index))]
    return {"entries": entries, "postings": postings, "keys": keys, "leaves": leaves,
            "nodes": nodes}


def test_plain_rows_equal_what_the_orm_wrote(db_session: Session,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    s = db_session
    _setup(s)
    # one fixed clock for both runs, later than the setup's leaves
    at = datetime.now(UTC) + timedelta(seconds=1)
    for module in (journal, log):
        monkeypatch.setattr(module, "utcnow", lambda: at)
    batch = _batch(40)
    _orm_post(s, batch)
    expected = _rows(s)
    s.rollback()
    assert s.scalar(select(func.count()).select_from(JournalEntry)) == 1

    posted = post_entries(s, batch)
    got = _rows(s)
    assert got == expected
    assert len(got["postings"]) == sum(len(e["postings"]) for e in batch)
    # what post_entries returns is what the stored rows read back through the ORM say
    s.commit()
    s.expunge_all()
    stored = {e.id: e for e in s.scalars(select(JournalEntry))}
    assert posted == [journal._posted(stored[p.id], replayed=False) for p in posted]
    assert service.verify_log(s) == []


def test_replay_and_conflict_after_a_bulk_post(db_session: Session) -> None:
    s = db_session
    _setup(s)
    batch = _batch(120)
    first = post_entries(s, batch)
    s.commit()
    size = service.log_size(s)
    again = post_entries(s, batch[::-1])  # replays in any order, one query for the entries
    assert [p.replayed for p in again] == [True] * len(batch)
    assert [p.model_dump(exclude={"replayed"}) for p in again[::-1]] == [
        p.model_dump(exclude={"replayed"}) for p in first]
    assert service.log_size(s) == size
    changed = {**batch[7], "memo": "another memo"}
    with pytest.raises(Conflict, match="'e7' was already used for a different request"):
        post_entries(s, [batch[0], changed])
    assert service.log_size(s) == size
    assert service.verify_log(s) == []


def test_a_refusal_in_the_middle_of_a_bulk_batch_writes_nothing(db_session: Session) -> None:
    s = db_session
    _setup(s)
    counts = [s.scalar(select(func.count()).select_from(m))
              for m in (JournalEntry, Posting, IdempotencyKey, LogLeaf, LogNode)]
    batch = _batch(60)
    # entry 30 takes h0 below zero: h0 pays 1000 plus what entries 0–29 left it
    batch.insert(30, {"idempotency_key": "overdraw", "postings": [(HOLDERS[0], -1200),
                                                                   (HOLDERS[1], 1200)]})
    with pytest.raises(InsufficientBalance, match=f"{HOLDERS[0]}: balance .* cannot cover 1200"):
        post_entries(s, batch)
    assert [s.scalar(select(func.count()).select_from(m))
            for m in (JournalEntry, Posting, IdempotencyKey, LogLeaf, LogNode)] == counts
    del batch[30]
    posted = post_entries(s, batch)  # the same session goes on: nothing half-written
    s.commit()
    assert [p.replayed for p in posted] == [False] * len(batch)
    assert sum(service.balance(s, h) for h in HOLDERS) == 6000
    assert service.verify_log(s) == []
