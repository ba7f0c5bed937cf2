"""Posting a batch of entries gives the results of posting them one by one.

The reference is :func:`post_entry` called once per entry (tested in test_journal.py),
run first and rolled back, from the same committed state; amounts are in fen.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.errors import Conflict
from liangshan.ledger import service
from liangshan.ledger.journal import InsufficientBalance, post_entries
from liangshan.ledger.models import JournalEntry, LogLeaf

BANK = "system:CNY:external:bank"
A, B, C = (f"system:CNY:holder:{n}" for n in ("a", "b", "c"))


def _setup(s: Session) -> None:
    service.open_account(s, asset="CNY", kind="external", name="bank")
    for name in "abc":
        service.open_account(s, asset="CNY", name=name)
    service.post_entry(s, idempotency_key="fund-a", postings=[(BANK, -500), (A, 500)])
    s.commit()


def _entries() -> list[dict[str, Any]]:
    return [
        {"idempotency_key": "k1", "postings": [(A, -300), (B, 300)], "memo": "one"},
        # B spends what k1 just gave it: the batch sees its own earlier entries
        {"idempotency_key": "k2", "postings": [(B, -250), (C, 250)], "reference": "t:2"},
        {"idempotency_key": "fund-a", "postings": [(BANK, -500), (A, 500)]},  # stored: replay
        {"idempotency_key": "k1", "postings": [(A, -300), (B, 300)], "memo": "one"},  # replay
        {"idempotency_key": "k3", "postings": [(C, -250), (A, 100), (B, 150)], "actor_id": None},
    ]


def _state(s: Session, posted: list[Any]) -> dict[str, Any]:
    leaves = s.execute(select(LogLeaf.leaf_index, LogLeaf.kind, LogLeaf.payload)
                       .order_by(LogLeaf.leaf_index)).all()
    payloads = []
    for index, kind, payload in leaves:
        doc = json.loads(payload)
        doc.pop("created_at", None)  # the only field that differs between the two runs
        payloads.append((index, kind, doc))
    return {
        "posted": [(p.idempotency_key, p.log_index, p.replayed, p.memo, p.reference,
                    [(x.account, x.amount) for x in p.postings]) for p in posted],
        "balances": [service.balance(s, code) for code in (BANK, A, B, C)],
        "entries": s.scalar(select(func.count()).select_from(JournalEntry)),
        "leaves": payloads,
    }


def test_a_batch_posts_what_one_by_one_posts(db_session: Session) -> None:
    s = db_session
    _setup(s)
    one_by_one = [service.post_entry(s, **e) for e in _entries()]
    expected = _state(s, one_by_one)
    s.rollback()
    assert service.balance(s, B) == 0

    got = _state(s, post_entries(s, _entries()))
    assert got == expected
    assert got["balances"] == [-500, 300, 200, 0]
    assert [p[2] for p in got["posted"]] == [False, False, True, True, False]
    s.commit()
    assert service.verify_log(s) == []
    # posting the batch again replays every entry and writes nothing
    size = service.log_size(s)
    assert all(p.replayed for p in post_entries(s, _entries()))
    assert service.log_size(s) == size


def test_a_refused_entry_writes_none_of_the_batch(db_session: Session) -> None:
    s = db_session
    _setup(s)
    size = service.log_size(s)
    with pytest.raises(InsufficientBalance, match="balance 200 CNY cannot cover 300"):
        post_entries(s, [
            {"idempotency_key": "x1", "postings": [(A, -300), (B, 300)]},
            {"idempotency_key": "x2", "postings": [(A, -300), (C, 300)]},  # only 200 left
        ])
    with pytest.raises(Conflict, match="twice in one batch"):
        post_entries(s, [
            {"idempotency_key": "y", "postings": [(A, -1), (B, 1)]},
            {"idempotency_key": "y", "postings": [(A, -2), (B, 2)]},
        ])
    with pytest.raises(Conflict, match="different request"):
        post_entries(s, [{"idempotency_key": "fund-a", "postings": [(BANK, -1), (A, 1)]}])
    assert service.log_size(s) == size
    assert s.scalar(select(func.count()).select_from(JournalEntry)) == 1
    assert post_entries(s, []) == []
