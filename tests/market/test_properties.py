"""Stateful property test: any sequence of issue / deposit / transfer / directly settled
trade / retire, orders in the persisted order book (place, cancel) and listings on the
persisted listed-agreement board (post, accept, withdraw) keeps units and money conserved,
nothing negative, every serial in exactly one place, the model's balances equal to the
ledger's, open sell orders and listings within holdings and open buy orders and listings
within money (no double-selling across venues), and the log verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from sqlalchemy import Engine, select

from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.service import InsufficientBalance
from liangshan.market import agreements, orders, service
from liangshan.market.funds import cost_fen
from liangshan.market.models import BookOrder, ListedOrder
from liangshan.market.schemas import (
    AcceptIn,
    ListedIn,
    OrderIn,
    RetireIn,
    TradeIn,
)

from ._market_machine import MarketMachine, run
from .helpers import org

INSTRUMENTS = ("EMIS-COD", "WATER")
N_ORGS = 3
FEE_BP = 30
#: inside each instrument's band (EMIS-COD: ±10 % of its 20 元/kg reference price)
BASE_PRICE = {"EMIS-COD": 2000, "WATER": 100}


class Market(MarketMachine):
    def __init__(self) -> None:
        super().__init__()
        self.orgs = [org(self.s, f"参与者{i}") for i in range(N_ORGS)]
        self.s.commit()
        self.units = {(i, o): 0 for i in INSTRUMENTS for o in self.orgs}
        self.retired = dict.fromkeys(INSTRUMENTS, 0)
        self.issued = dict.fromkeys(INSTRUMENTS, 0)
        self.money = dict.fromkeys(self.orgs, 0)
        self.deposited = 0
        self.fees = 0
        orders.drop_engines()  # a fresh database: no book carried over

    @rule(inst=st.sampled_from(INSTRUMENTS), who=st.integers(0, N_ORGS - 1),
          qty=st.integers(1, 500))
    def issue(self, inst: str, who: int, qty: int) -> None:
        self.issue_units(inst, self.orgs[who], qty)
        self.units[(inst, self.orgs[who])] += qty
        self.issued[inst] += qty

    @rule(who=st.integers(0, N_ORGS - 1), fen=st.integers(1, 500_000))
    def deposit(self, who: int, fen: int) -> None:
        service.deposit(self.s, SYSTEM, self.orgs[who], fen, self._key())
        self.s.commit()
        self.money[self.orgs[who]] += fen
        self.deposited += fen

    @rule(inst=st.sampled_from(INSTRUMENTS), a=st.integers(0, N_ORGS - 1),
          b=st.integers(0, N_ORGS - 1), qty=st.integers(1, 400))
    def transfer(self, inst: str, a: int, b: int, qty: int) -> None:
        src, dst = self.orgs[a], self.orgs[b]
        if src == dst:
            return
        if self.transfer_units(inst, src, dst, qty, held=self.units[(inst, src)]):
            self.units[(inst, src)] -= qty
            self.units[(inst, dst)] += qty

    @rule(inst=st.sampled_from(INSTRUMENTS), a=st.integers(0, N_ORGS - 1),
          b=st.integers(0, N_ORGS - 1), qty=st.integers(1, 200), offset=st.integers(-10, 10))
    def trade(self, inst: str, a: int, b: int, qty: int, offset: int) -> None:
        """A matched trade settled directly (service.settle), outside any order book."""
        seller, buyer = self.orgs[a], self.orgs[b]
        if seller == buyer:
            return
        price = BASE_PRICE[inst] + offset
        gross = qty * price
        fee = gross * FEE_BP // 10_000
        data = TradeIn(instrument=inst, mode="continuous", seller_org_id=seller,
                       buyer_org_id=buyer, quantity=qty, price_fen=price,
                       idempotency_key=self._key(), fee_bp=FEE_BP)
        enough = (self.units[(inst, seller)] - self.offered(inst, seller) >= qty
                  and self.money[buyer] - self._bidding(buyer) >= gross + fee)
        if self.attempt(lambda: service.settle(self.s, SYSTEM, data), enough=enough) is None:
            return
        self.units[(inst, seller)] -= qty
        self.units[(inst, buyer)] += qty
        self.money[buyer] -= gross + fee
        self.money[seller] += gross - fee
        self.fees += 2 * fee

    def _bidding(self, who: int) -> int:
        return sum(cost_fen(r.remaining, r.price_fen or 0, r.fee_bp)
                   for t in (BookOrder, ListedOrder)
                   for r in self.s.scalars(select(t).where(
                       t.org_id == who, t.side == "buy", t.status == "open")))

    def _settled(self, trades: list) -> None:
        for t in trades:
            self.units[(t.instrument, t.seller_org_id)] -= t.quantity
            self.units[(t.instrument, t.buyer_org_id)] += t.quantity
            self.money[t.buyer_org_id] -= t.gross_fen + t.buyer_fee_fen
            self.money[t.seller_org_id] += t.gross_fen - t.seller_fee_fen
            self.fees += t.buyer_fee_fen + t.seller_fee_fen
            assert t.buyer_fee_fen == t.gross_fen * FEE_BP // 10_000

    @rule(inst=st.sampled_from(INSTRUMENTS), who=st.integers(0, N_ORGS - 1),
          buy=st.booleans(), qty=st.integers(1, 200), offset=st.integers(-10, 10))
    def list_order(self, inst: str, who: int, buy: bool, qty: int, offset: int) -> None:
        data = ListedIn(instrument=inst, org_id=self.orgs[who], side="buy" if buy else "sell",
                        quantity=qty, price_fen=BASE_PRICE[inst] + offset,
                        idempotency_key=self._key())
        try:  # short of free units / money, or crossing the best opposite listing
            agreements.post_listing(self.s, SYSTEM, data, fee_bp=FEE_BP)
        except (InsufficientBalance, Conflict):
            self.s.rollback()
            return
        self.s.commit()

    def _pick_open(self, table: type[BookOrder] | type[ListedOrder], pick: int) -> int | None:
        """The id of the open order or listing at ``pick`` (modulo how many are open)."""
        open_ids = list(self.s.scalars(select(table.id).where(table.status == "open")
                                       .order_by(table.id)))
        return open_ids[pick % len(open_ids)] if open_ids else None

    @rule(pick=st.integers(0, 10**6), who=st.integers(0, N_ORGS - 1),
          qty=st.integers(1, 200))
    def accept_listing(self, pick: int, who: int, qty: int) -> None:
        listing = self._pick_open(ListedOrder, pick)
        if listing is None:
            return
        data = AcceptIn(org_id=self.orgs[who], quantity=qty, idempotency_key=self._key())
        try:  # own listing, beyond the best 5, more than is left, short of funds
            done = agreements.accept_listing(self.s, SYSTEM, listing, data)
        except (InsufficientBalance, Conflict, InvalidInput):
            self.s.rollback()
            return
        self.s.commit()
        self._settled([done.trade])

    @rule(pick=st.integers(0, 10**6))
    def withdraw_listing(self, pick: int) -> None:
        listing = self._pick_open(ListedOrder, pick)
        if listing is not None:
            agreements.withdraw_listing(self.s, SYSTEM, listing)
            self.s.commit()

    @rule(inst=st.sampled_from(INSTRUMENTS), who=st.integers(0, N_ORGS - 1),
          buy=st.booleans(), qty=st.integers(1, 200), offset=st.integers(-10, 10),
          market=st.booleans())
    def book_order(self, inst: str, who: int, buy: bool, qty: int, offset: int,
                   market: bool) -> None:
        me = self.orgs[who]
        data = OrderIn(instrument=inst, org_id=me, side="buy" if buy else "sell",
                       kind="market" if market else "limit", quantity=qty,
                       price_fen=None if market else BASE_PRICE[inst] + offset,
                       idempotency_key=self._key())
        try:
            placed = orders.place_order(self.s, SYSTEM, data, fee_bp=FEE_BP)
        except (InsufficientBalance, Conflict):  # short of free units / money, self-trade
            self.s.rollback()
            return
        self.s.commit()
        self._settled(placed.trades)

    @rule(pick=st.integers(0, 10**6))
    def book_cancel(self, pick: int) -> None:
        order = self._pick_open(BookOrder, pick)
        if order is not None:
            orders.cancel_order(self.s, SYSTEM, order)
            self.s.commit()

    @invariant()
    def open_orders_covered(self) -> None:
        for o in self.orgs:
            for inst in INSTRUMENTS:
                assert self.offered(inst, o) <= self.units[(inst, o)]
            assert self._bidding(o) <= self.money[o]
        self.s.rollback()

    @rule(inst=st.sampled_from(INSTRUMENTS), who=st.integers(0, N_ORGS - 1),
          qty=st.integers(1, 300))
    def retire(self, inst: str, who: int, qty: int) -> None:
        me = self.orgs[who]
        data = RetireIn(instrument=inst, holder_org_id=me, quantity=qty, beneficiary="某公司",
                        purpose="年度抵消", idempotency_key=self._key())
        enough = self.units[(inst, me)] - self.offered(inst, me) >= qty
        self.attempt(lambda: service.retire(self.s, SYSTEM, data), enough=enough)
        if enough:
            self.units[(inst, me)] -= qty
            self.retired[inst] += qty

    @invariant()
    def conserved(self) -> None:
        for inst in INSTRUMENTS:
            held = self.check_holdings(inst, self.orgs, [self.units[(inst, o)] for o in self.orgs])
            assert held + self.retired[inst] == self.issued[inst]
        cash = [service.money_balance(self.s, o) for o in self.orgs]
        assert min(cash) >= 0 and cash == [self.money[o] for o in self.orgs]
        fee_total = ledger.balance(self.s, "system:CNY:fee:market") if self.fees else 0
        assert fee_total == self.fees
        assert sum(cash) + fee_total == self.deposited
        self.check_serials()

    @invariant()
    def log_verifies(self) -> None:
        if self.n % 4 == 0:
            self.check_log()


@pytest.mark.slow
def test_market_state_machine(db_engine: Engine, request: pytest.FixtureRequest,
                              tmp_path: Path) -> None:
    run(Market, db_engine, request, tmp_path, max_examples=6, steps=12)
