"""Stateful property test of pledges (质押): any sequence of issue / transfer / listing /
pledge / release / enforce keeps every unit in exactly one place — a holder's main account,
an active pledge's own account, the bank, or an open listing's reservation — never lets a
pledge take units that are offered, never lets pledged units be offered or transferred,
keeps each active pledge's account holding exactly its recorded serials, and the
transparency log verifies."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from sqlalchemy import Engine, select

from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Role
from liangshan.ledger import service as ledger
from liangshan.market import agreements, issuance, pledges, service
from liangshan.market.models import Pledge, UnitBlock
from liangshan.market.schemas import ListedIn, PledgeIn

from ._market_machine import MarketMachine, run
from .helpers import org

INST = "EMIS-COD"  # listed band 1,800–2,200 fen around the 2,000 fen reference price


class Pledges(MarketMachine):
    def __init__(self) -> None:
        super().__init__()
        self.orgs = [org(self.s, "甲"), org(self.s, "乙")]
        self.bank = org(self.s, "银行", "bank")
        self.officer = Principal(role=Role.BANK_OFFICER, region_code=None,
                                 username="officer", organisation_id=self.bank)
        self.s.commit()
        self.units = dict.fromkeys(self.orgs, 0)  # main-account balances
        self.active: dict[int, int] = {}  # pledge id → quantity
        self.to_bank = self.issued = 0

    def teardown(self) -> None:
        self.check_log()
        super().teardown()

    def _free(self, who: int) -> int:
        return self.units[who] - self.offered(INST, who)

    @rule(who=st.integers(0, 1), qty=st.integers(100, 500))
    def issue(self, who: int, qty: int) -> None:
        self.issue_units(INST, self.orgs[who], qty)
        self.units[self.orgs[who]] += qty
        self.issued += qty

    @rule(a=st.integers(0, 1), qty=st.integers(1, 200))
    def transfer(self, a: int, qty: int) -> None:
        src, dst = self.orgs[a], self.orgs[1 - a]
        if self.transfer_units(INST, src, dst, qty, held=self.units[src]):
            self.units[src] -= qty
            self.units[dst] += qty

    @rule(who=st.integers(0, 1), qty=st.integers(1, 100))
    def list_sell(self, who: int, qty: int) -> None:
        me = self.orgs[who]
        data = ListedIn(instrument=INST, org_id=me, side="sell", quantity=qty,
                        price_fen=2000, idempotency_key=self._key())
        self.attempt(lambda: agreements.post_listing(self.s, SYSTEM, data),
                     enough=self._free(me) >= qty)

    @rule(who=st.integers(0, 1), qty=st.integers(1, 80))
    def pledge(self, who: int, qty: int) -> None:
        me = self.orgs[who]
        data = PledgeIn(instrument=INST, holder_org_id=me, bank_org_id=self.bank,
                        quantity=qty, loan_ref="L", amount_fen=qty * 1_000,
                        start_date=date(2026, 1, 1), maturity_date=date(2027, 1, 1),
                        idempotency_key=self._key())
        row = self.attempt(lambda: pledges.pledge(self.s, SYSTEM, data),
                           enough=self._free(me) >= qty)
        if row is None:
            return
        self.units[me] -= qty
        self.active[row.id] = qty

    @rule(pick=st.integers(0, 10**6))
    def release(self, pick: int) -> None:
        self._close(pick, enforce=False)

    @rule(pick=st.integers(0, 10**6))
    def enforce(self, pick: int) -> None:
        self._close(pick, enforce=True)

    def _close(self, pick: int, *, enforce: bool) -> None:
        if not self.active:
            return
        pid = sorted(self.active)[pick % len(self.active)]
        qty = self.active.pop(pid)
        row = (pledges.enforce if enforce else pledges.release)(
            self.s, self.officer, pid, self._key())
        self.s.commit()
        if enforce:
            self.to_bank += qty
        else:
            self.units[row.holder_org_id] += qty

    @invariant()
    def conserved(self) -> None:
        held = self.check_holdings(INST, self.orgs, [self.units[o] for o in self.orgs])
        assert service.unit_balance(self.s, INST, self.bank) == self.to_bank
        assert held + sum(self.active.values()) + self.to_bank == self.issued
        for p in self.s.scalars(select(Pledge).where(Pledge.status == "active")):
            assert ledger.balance(self.s, p.account_code) == self.active[p.id]
            blocks = self.s.scalars(select(UnitBlock).where(
                UnitBlock.account_code == p.account_code, UnitBlock.status == "active")
                .order_by(UnitBlock.vintage, UnitBlock.serial_start))
            assert issuance.labels(list(blocks)) == p.serials
        self.check_serials()


@pytest.mark.slow
def test_pledge_state_machine(db_engine: Engine, request: pytest.FixtureRequest,
                              tmp_path: Path) -> None:
    run(Pledges, db_engine, request, tmp_path, max_examples=20, steps=15)
