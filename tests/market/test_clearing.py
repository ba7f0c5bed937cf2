"""Batch settlement gives the same serials, fees, shares and balances as trade-by-trade."""

from __future__ import annotations

import pytest

from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import service
from liangshan.market.clearing import settle_batch
from liangshan.market.schemas import TradeIn

from .helpers import issue_project, org

# (seller, buyer, qty, price fen): units bought in the batch are resold later in it
SCRIPT = [(0, 1, 30, 2000), (0, 2, 50, 2010), (1, 2, 20, 1990), (2, 0, 60, 2005),
          (0, 1, 80, 1999), (1, 0, 5, 2001)]


def _world(session, inst: str, tag: str):
    orgs = [org(session, f"{tag}{i}") for i in range(3)]
    village = org(session, f"{tag}村", "village_collective")
    issue_project(session, orgs[0], 100, instrument=inst, key=f"{tag}a", project=f"{tag}A",
                  beneficiaries=[{"org_id": village, "share_bp": 1500,
                                  "role": "village_collective"}])
    issue_project(session, orgs[0], 40, instrument=inst, key=f"{tag}b", project=f"{tag}B")
    for i, o in enumerate(orgs):
        service.deposit(session, SYSTEM, o, 400_000, f"{tag}d{i}")
    trades = [TradeIn(instrument=inst, mode="listed", seller_org_id=orgs[s],
                      buyer_org_id=orgs[b], quantity=q, price_fen=p, fee_bp=25,
                      idempotency_key=f"{tag}t{i}") for i, (s, b, q, p) in enumerate(SCRIPT)]
    return [*orgs, village], trades


@pytest.mark.parametrize("net", [False, True])
def test_batch_equals_one_by_one(db_session, net):
    batch_orgs, batch_trades = _world(db_session, "EMIS-COD", "B")
    single_orgs, single_trades = _world(db_session, "WATER", "S")
    rows = settle_batch(db_session, SYSTEM, batch_trades, batch_key="b1", net=net)
    singles = [service.settle(db_session, SYSTEM, t) for t in single_trades]
    strip = [[s.split("/", 1)[1] for s in r.serials] for r in rows]
    assert strip == [[s.split("/", 1)[1] for s in r.serials] for r in singles]
    assert [r.shares and r.shares[0]["fen"] for r in rows] == \
        [r.shares and r.shares[0]["fen"] for r in singles]
    for a, b in zip(batch_orgs, single_orgs, strict=True):
        assert service.money_balance(db_session, a) == service.money_balance(db_session, b)
        assert service.unit_balance(db_session, "EMIS-COD", a) == \
            service.unit_balance(db_session, "WATER", b)
    assert [(h.serial_start, h.serial_end) for h in
            service.holdings(db_session, "EMIS-COD", batch_orgs[2])] == \
        [(h.serial_start, h.serial_end) for h in
         service.holdings(db_session, "WATER", single_orgs[2])]
    assert settle_batch(db_session, SYSTEM, batch_trades, batch_key="b1")[0].id == rows[0].id
    entries = ledger.entries_by_reference(db_session, "market:batch:b1")
    assert len(entries) == 2
    lines = len(entries[0].postings) + len(entries[1].postings)
    assert lines < 20 if net else lines >= 2 * len(SCRIPT) + 3 * len(SCRIPT)
    leaf = ledger.get_leaf(db_session, entries[0].log_index - 1)
    assert leaf.kind == "market_batch" and b'"Bt5"' in bytes(leaf.payload)
    assert service.serial_problems(db_session) == []
    assert ledger.verify_log(db_session) == []
    db_session.commit()


def test_a_trade_that_cannot_be_covered_refuses_the_batch(db_engine):
    from liangshan.db import session_scope
    with session_scope(db_engine) as s:
        orgs, trades = _world(s, "EMIS-COD", "B")
    bad = [*trades[:2], trades[2].model_copy(update={"quantity": 31})]  # org 1 holds 30
    with pytest.raises(InsufficientBalance, match="Bt2"), session_scope(db_engine) as s:
        settle_batch(s, SYSTEM, bad, batch_key="b")
    with session_scope(db_engine) as s:
        assert service.list_trades(s) == []
        assert service.unit_balance(s, "EMIS-COD", orgs[0]) == 140
        assert service.serial_problems(s) == []
