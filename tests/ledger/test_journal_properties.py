"""Property: any sequence of transfers leaves balances equal to a plain running model.

The model is a dict of integers updated only when the transfer keeps every
non-overdraft account at or above zero; the ledger must accept exactly those,
refuse the others, and its log must stay consistent (verify_log finds nothing).
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from liangshan.ledger import service
from liangshan.ledger.journal import InsufficientBalance

NAMES = ["a", "b", "c"]
transfers = st.lists(st.tuples(st.sampled_from(["bank", *NAMES]), st.sampled_from(NAMES),
                               st.integers(1, 500)), min_size=1, max_size=8)
_keys = itertools.count()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=transfers)
def test_balances_follow_the_model(db_session: Session, batch: list) -> None:
    s = db_session
    accounts = {"bank": service.open_account(s, asset="CNY", kind="external", name="bank")}
    accounts |= {n: service.open_account(s, asset="CNY", name=n) for n in NAMES}
    s.commit()
    model = {n: service.balance(s, acc) for n, acc in accounts.items()}
    for source, target, amount in batch:
        if source == target:
            continue
        key = f"p-{next(_keys)}"
        lines = [(accounts[source], -amount), (accounts[target], amount)]
        if source != "bank" and model[source] < amount:
            try:
                service.post_entry(s, idempotency_key=key, postings=lines)
            except InsufficientBalance:
                s.rollback()
                continue
            raise AssertionError(f"{source} overdrew {amount} with {model[source]}")
        service.post_entry(s, idempotency_key=key, postings=lines)
        s.commit()
        model[source] -= amount
        model[target] += amount
    assert {n: service.balance(s, acc) for n, acc in accounts.items()} == model
    assert sum(model.values()) == 0
    assert service.verify_log(s) == []
