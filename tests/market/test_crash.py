"""A settlement killed between its unit leg and its money leg leaves no trace of either."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from liangshan.db import session_scope
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.market import service
from liangshan.market.settlement import PAUSE_ENV

from .helpers import issue_project, org

CHILD = """
import sys, time
from pathlib import Path
import liangshan.market.settlement as st
from liangshan.db import make_engine, session_scope
from liangshan.identity.access import SYSTEM
from liangshan.market.schemas import TradeIn

marker = Path(sys.argv[2])

class _Clock:
    @staticmethod
    def sleep(seconds):
        marker.write_text("between the legs")  # the unit leg is flushed, not committed
        time.sleep(seconds)

st.time = _Clock
engine = make_engine(sys.argv[1])
with session_scope(engine) as s:
    st.settle(s, SYSTEM, TradeIn(instrument="EMIS-COD", mode="listed", seller_org_id=int(sys.argv[3]),
              buyer_org_id=int(sys.argv[4]), quantity=40, price_fen=2000, idempotency_key="crash"))
print("committed")
"""


def _child(engine: Engine, tmp: Path, seller: int, buyer: int, pause: str | None
           ) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp / f"marker-{pause}"
    env = dict(os.environ)
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, engine.url.render_as_string(hide_password=False),
         str(marker), str(seller), str(buyer)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    return proc, marker


def _state(engine: Engine, seller: int, buyer: int) -> tuple[int, int, int, int, int]:
    with session_scope(engine) as s:
        assert ledger.verify_log(s) == []
        assert service.serial_problems(s) == []
        return (service.unit_balance(s, "EMIS-COD", seller),
                service.unit_balance(s, "EMIS-COD", buyer),
                service.money_balance(s, seller), service.money_balance(s, buyer),
                len(service.list_trades(s)))


@pytest.mark.slow
def test_kill_between_unit_and_money_leg_then_retry(db_engine: Engine, tmp_path: Path) -> None:
    with session_scope(db_engine) as s:
        seller, buyer = org(s, "卖方"), org(s, "买方")
        issue_project(s, seller, 100)
        service.deposit(s, SYSTEM, buyer, 100_000, "d")
    before = _state(db_engine, seller, buyer)
    assert before == (100, 0, 0, 100_000, 0)

    proc, marker = _child(db_engine, tmp_path, seller, buyer, "60")
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "child never reached the pause"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _state(db_engine, seller, buyer) == before  # none of the trade

    proc, _ = _child(db_engine, tmp_path, seller, buyer, None)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _state(db_engine, seller, buyer) == (60, 40, 80_000, 20_000, 1)  # all of it
    with session_scope(db_engine) as s:
        entries = ledger.entries_by_reference(s, "market:trade:crash")
        assert [e.idempotency_key for e in entries] == ["market:trade:crash:units",
                                                       "market:trade:crash:money"]


CYCLE_CHILD = """
import sys, time
from pathlib import Path
import liangshan.market.clearing as cl
from liangshan.db import make_engine, session_scope
from liangshan.identity.access import SYSTEM
from liangshan.market import orders
from liangshan.market.schemas import OrderIn

marker = Path(sys.argv[2])

class _Clock:
    @staticmethod
    def sleep(seconds):
        marker.write_text("entries flushed")  # every trade's entries written, not committed
        time.sleep(seconds)

cl.time = _Clock
engine = make_engine(sys.argv[1])
with session_scope(engine) as s:
    placed = orders.place_order(s, SYSTEM, OrderIn(
        instrument="EMIS-COD", org_id=int(sys.argv[3]), side="buy", quantity=50,
        price_fen=2010, idempotency_key="crash-buy"))
print(len(placed.trades))
"""


def _book_state(engine: Engine, seller: int, buyer: int) -> tuple[object, ...]:
    from sqlalchemy import select

    from liangshan.market.models import BookOrder
    with session_scope(engine) as s:
        assert ledger.verify_log(s) == []
        assert service.serial_problems(s) == []
        rows = [(o.idempotency_key, o.status, o.remaining) for o in
                s.scalars(select(BookOrder).order_by(BookOrder.id))]
        return (service.unit_balance(s, "EMIS-COD", seller),
                service.unit_balance(s, "EMIS-COD", buyer), service.money_balance(s, buyer),
                len(service.list_trades(s)), rows)


@pytest.mark.slow
def test_kill_in_the_middle_of_a_matching_cycle_then_retry(db_engine: Engine,
                                                           tmp_path: Path) -> None:
    from liangshan.market import orders
    from liangshan.market.schemas import OrderIn

    with session_scope(db_engine) as s:
        seller, buyer = org(s, "卖方"), org(s, "买方")
        issue_project(s, seller, 100)
        service.deposit(s, SYSTEM, buyer, 200_000, "d")
        for i, price in enumerate((2000, 2010)):
            orders.place_order(s, SYSTEM, OrderIn(instrument="EMIS-COD", org_id=seller,
                                                  side="sell", quantity=30, price_fen=price,
                                                  idempotency_key=f"ask{i}"))
    before = _book_state(db_engine, seller, buyer)
    assert before == (100, 0, 200_000, 0, [("ask0", "open", 30), ("ask1", "open", 30)])

    def child(pause: str | None) -> tuple[subprocess.Popen[str], Path]:
        marker = tmp_path / f"cycle-{pause}"
        env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
        if pause:
            env[PAUSE_ENV] = pause
        return subprocess.Popen(
            [sys.executable, "-c", CYCLE_CHILD,
             db_engine.url.render_as_string(hide_password=False), str(marker), str(buyer)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), marker

    proc, marker = child("60")
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "child never reached the pause"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _book_state(db_engine, seller, buyer) == before  # no trade, no order change

    proc, _ = child(None)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert out.strip() == "2"
    fee = orders.BOOK_FEE_BP
    cost = 30 * 2000 + 30 * 2000 * fee // 10_000 + 20 * 2010 + 20 * 2010 * fee // 10_000
    assert _book_state(db_engine, seller, buyer) == (
        50, 50, 200_000 - cost, 2,
        [("ask0", "filled", 0), ("ask1", "open", 10), ("crash-buy", "filled", 0)])
