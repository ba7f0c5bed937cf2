"""Concurrent writers on SQLite and PostgreSQL: no double spend, no forked log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from liangshan.db import session_scope
from liangshan.ledger import service
from liangshan.ledger.journal import InsufficientBalance


def test_parallel_spends_of_one_balance_let_exactly_one_through(db_engine: Engine) -> None:
    with session_scope(db_engine) as s:
        bank = service.open_account(s, asset="CNY", kind="external", name="bank")
        alice = service.open_account(s, asset="CNY", name="alice")
        for i in range(4):
            service.open_account(s, asset="CNY", name=f"shop{i}")
        service.post_entry(s, idempotency_key="fund", postings=[(bank, -100), (alice, 100)])

    def spend(i: int) -> str:
        try:
            with session_scope(db_engine) as s:
                service.post_entry(s, idempotency_key=f"spend-{i}", postings=[
                    ("system:CNY:holder:alice", -100), (f"system:CNY:holder:shop{i}", 100)])
            return "ok"
        except InsufficientBalance:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(spend, range(4)))
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]

    def deposit(i: int) -> None:
        for j in range(5):
            with session_scope(db_engine) as s:
                service.post_entry(s, idempotency_key=f"dep-{i}-{j}", postings=[
                    ("system:CNY:external:bank", -1), (f"system:CNY:holder:shop{i}", 1)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(deposit, range(4)))
    with session_scope(db_engine) as s:
        assert service.balance(s, "system:CNY:holder:alice") == 0
        assert service.balance(s, "system:CNY:external:bank") == -120
        assert service.log_size(s) == 6 + 1 + 1 + 20
        assert service.verify_log(s) == []
