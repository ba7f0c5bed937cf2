"""Delivery versus payment: a trade's units and money move in ONE database transaction.

The unit leg (seller → buyer) and the money leg (buyer → seller, fees, benefit
shares) are two balanced journal entries posted through
:func:`liangshan.ledger.service.post_entry` inside the caller's transaction, with
the serial blocks and the trade row. Nothing commits here: if anything fails — or
the process dies between the legs — the transaction rolls back and neither leg
exists (tested by killing a child process between them).

Fees: ``fee_bp`` basis points of the gross on each side, rounded down to the fen
(the buyer pays gross + fee, the seller receives gross − fee) [NF: no Guizhou fee
schedule found; 山西 charged 0.75 % per side, MECHANISMS.md §1.6].

Benefit sharing: on a primary sale (the seller is the holder the units were
issued to), each beneficiary named at issuance receives ``share_bp`` of the
proceeds of that issuance's units, rounded down to the fen; the seller keeps the
rest (e.g. a village collective's share, or 100 % to the household for 单株碳汇 [V]).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger import service as ledger
from liangshan.market.funds import Funds, cost_fen
from liangshan.market.instruments import SHANGHAI, Instrument, get_instrument
from liangshan.market.issuance import labels, money_account, move_blocks, unit_account
from liangshan.market.models import DailyPrice, Issuance, Trade
from liangshan.market.modes import check_block, check_fixed, check_listed, check_tick_lot
from liangshan.market.schemas import TradeIn

#: Test hook: seconds to sleep between the unit leg and the money leg (crash tests).
PAUSE_ENV = "LIANGSHAN_TEST_SETTLE_PAUSE"
FEE_ACCOUNT = "system:CNY:fee:market"


def fee_account(session: Session) -> str:
    return ledger.open_account(session, asset="CNY", kind="fee", name="market").code


def bank_account(session: Session) -> str:
    return ledger.open_account(session, asset="CNY", kind="external", name="bank").code


def deposit(session: Session, actor: Principal, org_id: int, amount_fen: int,
            idempotency_key: str) -> int:
    """Record money (fen) arriving from the participant's bank; returns the new balance."""
    actor.require_role(Role.PROVINCE_ADMIN)
    bank = bank_account(session)
    acc = money_account(session, org_id)
    ledger.post_entry(session, idempotency_key=f"market:deposit:{idempotency_key}",
                      postings=[(bank, -amount_fen), (acc, amount_fen)],
                      memo="deposit from bank", actor_id=actor.user_id,
                      reference=f"market:deposit:{idempotency_key}")
    record(session, actor, "deposit", "market_money", org_id, detail={"fen": amount_fen})
    return ledger.balance(session, acc)


def trade_day(at: datetime) -> date:
    """The Asia/Shanghai trading date of a moment."""
    return at.astimezone(SHANGHAI).date()


def previous_close(session: Session, instrument: str, day: date) -> int | None:
    """The latest closing price (fen) recorded before ``day``, or None."""
    row = session.scalars(select(DailyPrice).where(
        DailyPrice.instrument == instrument, DailyPrice.day < day)
        .order_by(DailyPrice.day.desc())).first()
    return None if row is None else row.close_fen


def check_trade(inst: Instrument, data: TradeIn, prev_close_fen: int | None) -> None:
    """The rules of the trade's mode: fixed price; listed/continuous size and ±band; block
    threshold and ±band; auction tick and lot (its reserve was checked by the auction)."""
    if inst.fixed_price_fen is not None or data.mode == "fixed":
        check_fixed(inst, data.price_fen, data.quantity)
    elif data.mode == "block":
        check_block(inst, data.price_fen, data.quantity, prev_close_fen)
    elif data.mode in ("listed", "continuous"):
        check_listed(inst, data.price_fen, data.quantity, prev_close_fen)
    else:
        check_tick_lot(inst, data.price_fen, data.quantity)


def _terms(t: Trade) -> tuple[Any, ...]:
    return (t.instrument, t.mode, t.seller_org_id, t.buyer_org_id, t.quantity, t.price_fen)


def money_postings(gross: int, fee_bp: int, seller: str, buyer: str, fees: str,
                   shares: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The money leg: buyer pays gross + fee; fees, shares and seller's rest credited (fen)."""
    buyer_fee = gross * fee_bp // 10_000
    seller_fee = gross * fee_bp // 10_000
    lines: dict[str, int] = defaultdict(int)
    lines[buyer] -= gross + buyer_fee
    lines[fees] += buyer_fee + seller_fee
    paid_out = 0
    for code, amount in shares:
        lines[code] += amount
        paid_out += amount
    lines[seller] += gross - seller_fee - paid_out
    return [(c, a) for c, a in lines.items() if a]


def settle(session: Session, actor: Principal, data: TradeIn) -> Trade:
    """Settle a matched trade: units and money together, or neither. Flushes; caller commits.

    Replaying the same idempotency key returns the settled trade; a key reused for
    other terms is a :class:`Conflict`. A buyer short of money or a seller short of
    units raises :class:`liangshan.ledger.service.InsufficientBalance` and nothing moves.
    """
    if actor.role is not Role.PROVINCE_ADMIN and actor.organisation_id not in (
            data.seller_org_id, data.buyer_org_id):
        raise Conflict(f"{actor.label} is neither party nor the market operator")
    if data.seller_org_id == data.buyer_org_id:
        raise InvalidInput("a trade needs two different parties")
    inst = get_instrument(data.instrument)
    seller_units = unit_account(session, inst.code, data.seller_org_id)  # takes the ledger lock
    seen = session.scalars(select(Trade).where(
        Trade.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if _terms(seen) != (inst.code, data.mode, data.seller_org_id, data.buyer_org_id,
                            data.quantity, data.price_fen):
            raise Conflict(f"idempotency key {data.idempotency_key!r} settled trade {seen.id} "
                           f"with other terms", hint="use a new key per trade")
        return seen
    check_trade(inst, data, previous_close(session, inst.code, trade_day(utcnow())))
    funds = Funds(session)  # what is offered in open orders, lots or bids is not free
    funds.need_units(inst.code, data.seller_org_id, data.quantity, f"trade {data.idempotency_key!r}")
    funds.need_cash(data.buyer_org_id, cost_fen(data.quantity, data.price_fen, data.fee_bp),
                    f"trade {data.idempotency_key!r}")
    buyer_units = unit_account(session, inst.code, data.buyer_org_id)
    seller_cash = money_account(session, data.seller_org_id)
    buyer_cash = money_account(session, data.buyer_org_id)
    fees = ledger.open_account(session, asset="CNY", kind="fee", name="market")
    ref = f"market:trade:{data.idempotency_key}"
    units = ledger.post_entry(session, idempotency_key=f"{ref}:units",
                              postings=[(seller_units, -data.quantity),
                                        (buyer_units, data.quantity)],
                              memo=f"{data.mode} trade: {data.quantity} {inst.unit} {inst.code}",
                              actor_id=actor.user_id, reference=ref)
    moved = move_blocks(session, inst.code, seller_units.code, buyer_units.code, data.quantity,
                        "active", units.id)
    pause = os.environ.get(PAUSE_ENV)
    if pause:  # only the crash test sets this: die here and nothing must remain
        time.sleep(float(pause))
    gross = data.quantity * data.price_fen
    shares = _shares(session, moved, data.seller_org_id, data.price_fen)
    cash = {a.code: a for a in (seller_cash, buyer_cash, fees)}
    cash.update((acc.code, acc) for acc in (money_account(session, o) for o, _, _ in shares))
    lines = money_postings(gross, data.fee_bp, seller_cash.code, buyer_cash.code, fees.code,
                           [(money_account(session, o).code, a) for o, a, _ in shares])
    money = ledger.post_entry(
        session, idempotency_key=f"{ref}:money",
        postings=[(cash[c], a) for c, a in lines],  # objects: no lookup per line
        memo=f"payment for {data.quantity} {inst.unit} {inst.code} at {data.price_fen} fen",
        actor_id=actor.user_id, reference=ref)
    fee = gross * data.fee_bp // 10_000
    trade = Trade(instrument=inst.code, mode=data.mode, seller_org_id=data.seller_org_id,
                  buyer_org_id=data.buyer_org_id, quantity=data.quantity,
                  price_fen=data.price_fen, gross_fen=gross, buyer_fee_fen=fee,
                  seller_fee_fen=fee,
                  shares=[{"org_id": o, "fen": a, "role": r} for o, a, r in shares],
                  serials=labels(moved), idempotency_key=data.idempotency_key,
                  unit_entry_id=units.id, money_entry_id=money.id, executed_at=utcnow())
    session.add(trade)
    session.flush()
    record(session, actor, "settle", "market_trade", trade.id,
           detail={"serials": trade.serials, "gross_fen": gross})
    return trade


def _shares(session: Session, moved: list[Any], seller_org_id: int, price_fen: int
            ) -> list[tuple[int, int, str]]:
    """(org id, fen, role) for the beneficiaries of a primary sale."""
    per_issuance: dict[int, int] = defaultdict(int)
    for b in moved:
        per_issuance[b.issuance_id] += b.serial_end - b.serial_start + 1
    out: dict[tuple[int, str], int] = defaultdict(int)
    for iss_id, qty in per_issuance.items():
        iss = session.get_one(Issuance, iss_id)
        if iss.holder_org_id != seller_org_id:
            continue  # a resale: shares were paid on the primary sale
        for b in iss.beneficiaries:
            if b["org_id"] != seller_org_id:
                out[(b["org_id"], b["role"])] += qty * price_fen * b["share_bp"] // 10_000
    return [(o, a, r) for (o, r), a in out.items() if a]
