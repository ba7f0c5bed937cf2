"""The frame shared by the market's stateful property tests (``test_properties.py``,
``test_pledges_properties.py``): each example gets its own empty migrated database of the
test's kind (SQLite or PostgreSQL, from ``db_engine``), one session and fresh idempotency
keys; steps that the model says must be refused for want of free units or money are
demanded to raise :class:`InsufficientBalance`; and the checks both machines make after
every step (holdings equal the model and never negative, every serial in exactly one
place, the transparency log verifies) are written once here."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test
from sqlalchemy import Engine, func, inspect, select, text

from liangshan.db import make_engine, session_factory
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import service
from liangshan.market.models import BookOrder, ListedOrder
from liangshan.market.schemas import TransferIn

from .helpers import issue_project

T = TypeVar("T")


@dataclass
class Databases:
    """Hands every example of a state machine an empty database like the test's ``db_engine``."""

    engine: Engine
    request: pytest.FixtureRequest
    tmp: Path
    runs: int = 0

    def fresh(self) -> Engine:
        self.runs += 1
        if self.engine.dialect.name == "sqlite":  # append-only triggers refuse DELETE: copy anew
            path = self.tmp / f"state-{self.runs}.sqlite"
            shutil.copy(self.request.getfixturevalue("_sqlite_template"), path)
            return make_engine(f"sqlite:///{path}")
        tables = [t for t in inspect(self.engine).get_table_names() if t != "alembic_version"]
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                              + " RESTART IDENTITY CASCADE"))
        return self.engine


class MarketMachine(RuleBasedStateMachine):
    """Base of the market state machines: a session on a fresh database and the shared steps
    and checks. Subclasses hold the model (who should hold what) and the rules."""

    dbs: ClassVar[Databases]  # bound by run(): the test's database kind

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.dbs.fresh()
        self.s = session_factory(self.engine)()
        self.n = 0

    def teardown(self) -> None:
        self.s.close()
        if self.engine is not self.dbs.engine:
            self.engine.dispose()

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def attempt(self, call: Callable[[], T], *, enough: bool) -> T | None:
        """Commit ``call`` when the model says there is enough, else demand it is refused."""
        if not enough:
            with pytest.raises(InsufficientBalance):
                call()
            self.s.rollback()
            return None
        out = call()
        self.s.commit()
        return out

    def offered(self, inst: str, who: int) -> int:
        """Units of ``inst`` that ``who`` offers in open sell orders and sell listings."""
        return sum(int(self.s.scalar(select(func.coalesce(func.sum(t.remaining), 0))
                                     .where(t.instrument == inst, t.org_id == who,
                                            t.side == "sell", t.status == "open")) or 0)
                   for t in (BookOrder, ListedOrder))

    def issue_units(self, inst: str, who: int, qty: int) -> None:
        key = self._key()
        issue_project(self.s, who, qty, instrument=inst, key=key, project=key)
        self.s.commit()

    def transfer_units(self, inst: str, src: int, dst: int, qty: int, *, held: int) -> bool:
        """Transfer unless the model's ``held`` less what is offered falls short; True if done."""
        data = TransferIn(instrument=inst, from_org_id=src, to_org_id=dst, quantity=qty,
                          idempotency_key=self._key())
        enough = held - self.offered(inst, src) >= qty
        self.attempt(lambda: service.transfer(self.s, SYSTEM, data), enough=enough)
        return enough

    def check_holdings(self, inst: str, orgs: Sequence[int], expected: Sequence[int]) -> int:
        """The ledger's balances of ``inst`` equal the model's and none is negative; their sum."""
        held = [service.unit_balance(self.s, inst, o) for o in orgs]
        assert min(held) >= 0
        assert held == list(expected)
        return sum(held)

    def check_serials(self) -> None:
        assert service.serial_problems(self.s) == []
        self.s.rollback()  # the checks' account openings are not part of the state

    def check_log(self) -> None:
        assert ledger.verify_log(self.s) == []


def run(machine: type[MarketMachine], db_engine: Engine,
        request: pytest.FixtureRequest, tmp_path: Path, *, max_examples: int,
        steps: int) -> None:
    """Run ``machine`` as a test, each example on its own fresh database."""
    bound = type(machine.__name__, (machine,), {"dbs": Databases(db_engine, request, tmp_path)})
    run_state_machine_as_test(bound, settings=settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
