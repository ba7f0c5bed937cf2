"""``verify_log`` names every row changed behind the application (SQLite and PostgreSQL).

Each test builds a small log through the service, then changes rows with plain SQL
as a database administrator could (append-only triggers switched off first), and
checks that the audit names the table and row.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session

from liangshan.ledger import merkle, note, service
from liangshan.ledger.log import leaf_input
from liangshan.ledger.note import NoteVerifier
from tests.tampering import tamper


@pytest.fixture
def log(db_session: Session) -> dict:
    """Accounts, three entries, trace leaves and two signed checkpoints."""
    s = db_session
    signer = note.generate_signer("liangshan.test/log")
    bank = service.open_account(s, asset="CNY", kind="external", name="bank")
    alice = service.open_account(s, asset="CNY", name="alice")
    bob = service.open_account(s, asset="CNY", name="bob")
    e1 = service.post_entry(s, idempotency_key="e1", postings=[(bank, -900), (alice, 900)])
    for i in range(4):
        service.append_leaf(s, "trace", {"batch": "QN-001", "step": i})
    service.sign_checkpoint(s, signer)
    e2 = service.post_entry(s, idempotency_key="e2", postings=[(alice, -300), (bob, 300)])
    e3 = service.post_entry(s, idempotency_key="e3", postings=[(bob, -100), (alice, 100)])
    trace, _ = service.append_leaf(s, "trace", {"batch": "QN-001", "step": "sold"})
    service.sign_checkpoint(s, signer)
    s.commit()
    return {"verifier": signer.verifier(), "e1": e1, "e2": e2, "e3": e3, "trace": trace,
            "alice": alice}


def problems(session: Session, verifier: NoteVerifier, chunk: int = 4096) -> list[str]:
    return [str(p) for p in service.verify_log(session, verifier, chunk=chunk)]


def test_untouched_log_verifies(db_session: Session, log: dict) -> None:
    assert problems(db_session, log["verifier"]) == []
    assert problems(db_session, log["verifier"], chunk=2) == []  # streaming in small chunks
    out = io.StringIO()
    assert service.verify_cli(db_session, Console(file=out)) == 0
    assert "log verified" in out.getvalue()


def test_changed_posting_amount_names_the_entry(db_session: Session, log: dict) -> None:
    e2 = log["e2"]
    tamper(db_session, ("UPDATE ledger_postings SET amount = -30 WHERE entry_id = :e "
                        "AND amount = -300", {"e": e2.id}))
    found = problems(db_session, log["verifier"])
    assert any(p.startswith(f"ledger_entries id {e2.id} ") and "content changed" in p
               for p in found)
    assert any(f"id {e2.id} " in p and "does not balance" in p for p in found)
    assert not any("ledger_log" in p for p in found)  # the log itself is intact


def test_balanced_rewrite_of_an_entry_is_still_named(db_session: Session, log: dict) -> None:
    e3 = log["e3"]
    tamper(db_session,
           ("UPDATE ledger_postings SET amount = -1 WHERE entry_id = :e AND amount = -100",
            {"e": e3.id}),
           ("UPDATE ledger_postings SET amount = 1 WHERE entry_id = :e AND amount = 100",
            {"e": e3.id}))
    found = problems(db_session, log["verifier"])
    assert found == [f"ledger_entries id {e3.id} (key 'e3'): content changed: differs from "
                     f"what log leaf {e3.log_index} recorded"]


def test_changed_leaf_payload_names_the_leaf(db_session: Session, log: dict) -> None:
    i = log["trace"]
    tamper(db_session, ("UPDATE ledger_log_leaves SET payload = :p WHERE leaf_index = :i",
                        {"p": b'{"batch":"QN-001","step":"burnt"}', "i": i}))
    found = problems(db_session, log["verifier"])
    assert found == [f"ledger_log_leaves index {i}: content changed: kind 'trace' and payload "
                     "do not hash to the stored leaf hash"]


def test_changed_kind_names_the_leaf(db_session: Session, log: dict) -> None:
    tamper(db_session, ("UPDATE ledger_log_leaves SET kind = 'registry' WHERE leaf_index = :i",
                        {"i": log["trace"]}))
    assert any(p.startswith(f"ledger_log_leaves index {log['trace']}:")
               for p in problems(db_session, log["verifier"]))


def test_rehashed_leaf_is_caught_by_nodes_and_checkpoint(db_session: Session, log: dict) -> None:
    """Payload and leaf hash rewritten together: the stored subtree and the signed root differ."""
    i = 5  # a trace leaf under the first checkpoint (size 8)
    payload = b'{"batch":"QN-001","step":99}'
    tamper(db_session, ("UPDATE ledger_log_leaves SET payload = :p, leaf_hash = :h "
                        "WHERE leaf_index = :i",
                        {"p": payload, "h": merkle.hash_leaf(leaf_input("trace", payload)),
                         "i": i}))
    found = problems(db_session, log["verifier"])
    assert any(p.startswith("ledger_log_nodes (level 1, index 2)") and "leaves 4–5" in p
               for p in found)
    assert sum(p.startswith("ledger_checkpoints") and "root" in p for p in found) == 2


def test_fully_recomputed_tree_is_caught_by_the_signature(db_session: Session, log: dict
                                                          ) -> None:
    """Rewriting a leaf and every node above it leaves only the signed checkpoints to tell."""
    i, payload = 5, b'{"batch":"QN-001","step":99}'
    rows = db_session.execute(text("SELECT kind, payload FROM ledger_log_leaves "
                                   "ORDER BY leaf_index")).all()
    hashes = [merkle.hash_leaf(leaf_input(k, bytes(p))) for k, p in rows]
    hashes[i] = merkle.hash_leaf(leaf_input("trace", payload))
    node = merkle.subtree_hashes_from_leaves(hashes)
    updates = [("UPDATE ledger_log_leaves SET payload = :p, leaf_hash = :h WHERE leaf_index = :i",
                {"p": payload, "h": hashes[i], "i": i})]
    for level in range(1, len(hashes).bit_length()):
        for idx in range(len(hashes) >> level):
            updates.append(("UPDATE ledger_log_nodes SET hash = :h WHERE level = :l AND "
                            "node_index = :x", {"h": node(level, idx), "l": level, "x": idx}))
    tamper(db_session, *updates)
    found = problems(db_session, log["verifier"])
    assert found and all(p.startswith("ledger_checkpoints") for p in found)


def test_swapped_leaf_order_is_named(db_session: Session, log: dict) -> None:
    tamper(db_session,
           ("UPDATE ledger_log_leaves SET leaf_index = -1 WHERE leaf_index = 4", {}),
           ("UPDATE ledger_log_leaves SET leaf_index = 4 WHERE leaf_index = 6", {}),
           ("UPDATE ledger_log_leaves SET leaf_index = 6 WHERE leaf_index = -1", {}))
    found = problems(db_session, log["verifier"])
    assert any(p.startswith("ledger_log_nodes") for p in found)
    assert any(p.startswith("ledger_checkpoints") for p in found)


def test_deleted_entry_and_leaf_are_named(db_session: Session, log: dict) -> None:
    e1 = log["e1"]
    tamper(db_session,
           ("DELETE FROM ledger_idempotency_keys WHERE entry_id = :e", {"e": e1.id}),
           ("DELETE FROM ledger_postings WHERE entry_id = :e", {"e": e1.id}),
           ("DELETE FROM ledger_entries WHERE id = :e", {"e": e1.id}))
    found = problems(db_session, log["verifier"])
    assert found == [f"ledger_entries (log leaf {e1.log_index}): row missing: the log records "
                     "it but the table lost it"]
    tamper(db_session, ("DELETE FROM ledger_log_leaves WHERE leaf_index = 4", {}))
    assert "ledger_log_leaves index 4: missing: the next stored leaf is 5" in problems(
        db_session, log["verifier"])


def test_changed_account_and_checkpoint_note_are_named(db_session: Session, log: dict) -> None:
    alice = log["alice"]
    tamper(db_session,
           ("UPDATE ledger_accounts SET allow_negative = :t WHERE id = :a",
            {"t": True, "a": alice.id}),
           ("UPDATE ledger_checkpoints SET note = replace(note, 'liangshan.test/log\n8',"
            " 'liangshan.test/log\n9') WHERE tree_size = 8", {}))
    found = problems(db_session, log["verifier"])
    assert any(p.startswith(f"ledger_accounts id {alice.id} ") for p in found)
    assert any(p.startswith("ledger_checkpoints") and "does not verify" in p for p in found)
    out = io.StringIO()
    assert service.verify_cli(db_session, Console(file=out, width=200)) == 1
    assert "problem(s)" in out.getvalue()


def test_backdated_leaf_is_named_as_reordered(db_session: Session, log: dict) -> None:
    first = db_session.execute(text("SELECT created_at FROM ledger_log_leaves "
                                    "WHERE leaf_index = 0")).scalar_one()
    tamper(db_session, ("UPDATE ledger_log_leaves SET created_at = :t WHERE leaf_index = 6",
                        {"t": first}),
           ("UPDATE ledger_log_leaves SET created_at = :t WHERE leaf_index < 6 AND "
            "leaf_index > 0", {"t": first}))
    found = problems(db_session, log["verifier"])
    assert found == [], "equal times are not a reordering"
    later = db_session.execute(text("SELECT created_at FROM ledger_log_leaves "
                                    "WHERE leaf_index = 10")).scalar_one()
    tamper(db_session, ("UPDATE ledger_log_leaves SET created_at = :t WHERE leaf_index = 3",
                        {"t": later}))
    assert "ledger_log_leaves index 4: order changed: created before the leaf before it" in (
        problems(db_session, log["verifier"]))
