"""Double-entry journal on SQLite and PostgreSQL (``db_session`` runs each test twice).

Amounts are hand-computed integers in fen (CNY) or unit steps; every expected
balance below is the sum of the postings written in the test.
"""

from __future__ import annotations

import inspect
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotFound
from liangshan.identity.models import Organisation
from liangshan.ledger import journal, service
from liangshan.ledger.log import log_size
from liangshan.ledger.models import JournalEntry, LedgerAccount, LogLeaf, Posting
from liangshan.ledger.schemas import PostingIn


@pytest.fixture
def org(db_session: Session) -> Organisation:
    o = Organisation(name="赤水市竹业合作社", kind="village_collective", region_code="520381")
    db_session.add(o)
    db_session.commit()
    return o


@pytest.fixture
def accounts(db_session: Session, org: Organisation) -> dict[str, LedgerAccount]:
    out = {
        "bank": service.open_account(db_session, asset="CNY", kind="external", name="bank"),
        "coop": service.open_account(db_session, asset="CNY", owner_org_id=org.id),
        "buyer": service.open_account(db_session, asset="CNY", name="buyer"),
        "issuance": service.open_account(db_session, asset="GZ-FCS/2024", kind="issuance"),
        "coop_units": service.open_account(db_session, asset="GZ-FCS/2024",
                                           owner_org_id=org.id),
        "buyer_units": service.open_account(db_session, asset="GZ-FCS/2024", name="buyer"),
    }
    db_session.commit()
    return out


def test_balances_derive_from_entries(db_session: Session, accounts: dict) -> None:
    bank, coop, buyer = accounts["bank"], accounts["coop"], accounts["buyer"]
    service.post_entry(db_session, idempotency_key="dep-1", memo="deposit",
                       postings=[(bank, -1_000_00), (buyer, 1_000_00)])
    db_session.commit()
    after_deposit = utcnow()
    service.post_entry(db_session, idempotency_key="pay-1", memo="bamboo shoots",
                       postings=[PostingIn(account=buyer.code, amount=-250_50),
                                 PostingIn(account=coop.id, amount=250_50)])
    db_session.commit()
    assert service.balance(db_session, buyer) == 1_000_00 - 250_50 == 749_50
    assert service.balance(db_session, coop.code) == 250_50
    assert service.balance(db_session, bank.id) == -1_000_00
    assert service.balance(db_session, buyer, as_of=after_deposit) == 1_000_00
    assert service.balance(db_session, coop, as_of=after_deposit - timedelta(days=1)) == 0
    total = db_session.scalar(select(func.sum(Posting.amount)))
    assert total == 0  # money is only moved, never created, inside the journal
    history = service.account_history(db_session, buyer)
    assert [a for _, a in history] == [-250_50, 1_000_00]


def test_delivery_versus_payment_balances_per_asset(db_session: Session, accounts: dict
                                                    ) -> None:
    """Units against money in one entry: each asset sums to zero on its own."""
    a = accounts
    service.post_entry(db_session, idempotency_key="dep", postings=[(a["bank"], -500),
                                                                     (a["buyer"], 500)])
    service.post_entry(db_session, idempotency_key="issue", postings=[(a["issuance"], -30),
                                                                       (a["coop_units"], 30)])
    posted = service.post_entry(db_session, idempotency_key="dvp", postings=[
        (a["buyer"], -300), (a["coop"], 300), (a["coop_units"], -10), (a["buyer_units"], 10)])
    db_session.commit()
    assert len(posted.postings) == 4
    assert service.balance(db_session, a["buyer_units"]) == 10
    assert service.balance(db_session, a["coop_units"]) == 20
    assert service.balance(db_session, a["issuance"]) == -30  # units outstanding
    assert service.balance(db_session, a["coop"]) == 300


@pytest.mark.parametrize("lines", [
    [("bank", -100), ("buyer", 99)],                         # off by one fen
    [("buyer", -5), ("coop_units", 5)],                      # sums to 0 only across assets
    [("bank", -100)],                                        # a single line
    [("bank", -100), ("buyer", 100), ("coop", 0)],           # a zero line
])
def test_unbalanced_or_malformed_entries_are_refused(db_session: Session, accounts: dict,
                                                     lines: list) -> None:
    size = log_size(db_session)
    with pytest.raises(InvalidInput):
        service.post_entry(db_session, idempotency_key="bad",
                           postings=[(accounts[n], amt) for n, amt in lines])
    db_session.rollback()
    assert log_size(db_session) == size
    assert db_session.scalar(select(func.count()).select_from(JournalEntry)) == 0


@pytest.mark.parametrize("amount", [1.5, Decimal("1.50"), True, "100"])
def test_amounts_must_be_integers(db_session: Session, accounts: dict, amount: object) -> None:
    with pytest.raises(InvalidInput, match="posting 0"):
        service.post_entry(db_session, idempotency_key="float",
                           postings=[(accounts["bank"], amount), (accounts["buyer"], -1)])


def test_negative_balance_refused_for_holders_not_for_external(db_session: Session,
                                                               accounts: dict) -> None:
    a = accounts
    with pytest.raises(journal.InsufficientBalance, match="cannot cover 1"):
        service.post_entry(db_session, idempotency_key="overdraw",
                           postings=[(a["buyer"], -1), (a["coop"], 1)])
    db_session.rollback()
    service.post_entry(db_session, idempotency_key="in", postings=[(a["bank"], -7),
                                                                    (a["buyer"], 7)])
    service.post_entry(db_session, idempotency_key="all", postings=[(a["buyer"], -7),
                                                                     (a["coop"], 7)])
    db_session.commit()
    assert service.balance(db_session, a["buyer"]) == 0
    assert service.balance(db_session, a["bank"]) == -7


def test_replay_returns_the_first_result_and_reuse_is_refused(db_session: Session,
                                                              accounts: dict) -> None:
    a = accounts
    lines = [(a["bank"], -42), (a["buyer"], 42)]
    first = service.post_entry(db_session, idempotency_key="k1", postings=lines, memo="m")
    db_session.commit()
    size = log_size(db_session)
    again = service.post_entry(db_session, idempotency_key="k1", postings=lines, memo="m")
    db_session.commit()
    assert again.replayed and not first.replayed
    assert (again.id, again.log_index, again.created_at) == (first.id, first.log_index,
                                                             first.created_at)
    assert log_size(db_session) == size
    assert service.balance(db_session, a["buyer"]) == 42
    with pytest.raises(Conflict, match="different request"):
        service.post_entry(db_session, idempotency_key="k1",
                           postings=[(a["bank"], -43), (a["buyer"], 43)], memo="m")


def test_each_entry_is_a_log_leaf_with_its_canonical_record(db_session: Session,
                                                            accounts: dict) -> None:
    a = accounts
    posted = service.post_entry(db_session, idempotency_key="leaf", memo="说明",
                                reference="trace:batch:QN-001",
                                postings=[(a["bank"], -3), (a["buyer"], 3)])
    db_session.commit()
    leaf = db_session.get_one(LogLeaf, posted.log_index)
    assert leaf.kind == "journal"
    at = journal.iso(posted.created_at)
    expected = ('{"actor_id":null,"created_at":"' + at + '","idempotency_key":"leaf",'
                '"memo":"说明","postings":[{"account":"system:CNY:external:bank","amount":-3,'
                '"asset":"CNY"},{"account":"system:CNY:holder:buyer","amount":3,"asset":"CNY"}],'
                '"reference":"trace:batch:QN-001","type":"journal_entry","v":1}')
    assert bytes(leaf.payload) == expected.encode("utf-8")
    assert [e.id for e in service.entries_by_reference(db_session, "trace:batch:QN-001")] == [
        posted.id]


def test_accounts_open_idempotently_and_refuse_changes(db_session: Session, org: Organisation
                                                       ) -> None:
    first = service.open_account(db_session, asset="CNY", owner_org_id=org.id)
    assert service.open_account(db_session, asset="CNY", owner_org_id=org.id).id == first.id
    assert first.code == f"org-{org.id}:CNY:holder:main"
    with pytest.raises(Conflict):
        service.open_account(db_session, asset="CNY", owner_org_id=org.id, allow_negative=True)
    with pytest.raises(InvalidInput):
        service.open_account(db_session, asset="CNY:x")
    with pytest.raises(NotFound):
        service.get_account(db_session, "nobody:CNY:holder:main")


def test_there_is_no_update_or_delete_path(db_session: Session, accounts: dict) -> None:
    """No service function edits; the ORM refuses; the database refuses direct SQL."""
    names = [n for n, _ in inspect.getmembers(service, inspect.isfunction)]
    assert not [n for n in names if any(w in n for w in ("update", "delete", "edit", "remove"))]
    posted = service.post_entry(db_session, idempotency_key="x",
                                postings=[(accounts["bank"], -5), (accounts["buyer"], 5)])
    db_session.commit()
    entry = db_session.get_one(JournalEntry, posted.id)
    entry.memo = "rewritten"
    with pytest.raises(Conflict, match="append-only"):
        db_session.flush()
    db_session.rollback()
    db_session.delete(db_session.get_one(JournalEntry, posted.id))
    with pytest.raises(Conflict, match="append-only"):
        db_session.flush()
    db_session.rollback()
    for sql in ("UPDATE ledger_postings SET amount = 6 WHERE amount = 5",
                "DELETE FROM ledger_log_leaves"):
        with pytest.raises(DBAPIError, match="append-only"):
            db_session.execute(text(sql))
        db_session.rollback()
    assert service.balance(db_session, accounts["buyer"]) == 5
