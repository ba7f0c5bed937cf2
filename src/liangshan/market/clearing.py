"""Batch settlement (批量结算): many matched trades, delivery versus payment, in one go.

:func:`settle_batch` settles trades in their given order exactly as
:func:`liangshan.market.settlement.settle` would one by one — the same serials
move, the same fees and benefit shares are paid, a trade that cannot be covered
at its turn is refused — but it posts ONE unit entry and ONE money entry for the
whole batch (each line still a gross per-trade line, so the journal shows every
trade), writes the trade rows and the resulting serial blocks in bulk, and all of
it lands in one transaction or not at all. Blocks that only passed through an
account inside the batch get no row of their own; each trade row lists the
serials it moved. Money in fen; quantities in the instrument's unit.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger import service as ledger
from liangshan.ledger.models import LedgerAccount
from liangshan.ledger.service import InsufficientBalance
from liangshan.market.instruments import get_instrument
from liangshan.market.issuance import money_account, serial_label, unit_account
from liangshan.market.models import Issuance, Trade, UnitBlock
from liangshan.market.schemas import TradeIn
from liangshan.market.settlement import (
    check_trade,
    fee_account,
    money_postings,
    previous_close,
    trade_day,
)


@dataclass
class _Seg:
    """Serials [start, end] of one issuance; ``origin`` is the DB block they came from."""

    vintage: int
    start: int
    end: int
    issuance_id: int
    origin: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.vintage, self.start)


def _take(segs: list[_Seg], qty: int, what: str) -> list[_Seg]:
    out, left = [], qty
    while left:
        if not segs:
            raise Conflict(f"{what}: serial blocks hold {qty - left} units, the trade needs "
                           f"{qty}", hint="the unit blocks disagree with the ledger")
        s = segs[0]
        size = s.end - s.start + 1
        if size <= left:
            out.append(segs.pop(0))
            left -= size
        else:
            out.append(_Seg(s.vintage, s.start, s.start + left - 1, s.issuance_id, s.origin))
            s.start += left
            left = 0
    return out


def settle_batch(session: Session, actor: Principal, trades: Sequence[TradeIn], *,
                 batch_key: str, net: bool = False) -> list[Trade]:
    """Settle ``trades`` in order as one clearing batch; returns their trade rows.

    ``net`` False: the two entries carry gross per-trade lines. ``net`` True (净额结算):
    they carry one net line per account, and the trades themselves — parties,
    quantities, prices, serials — are appended to the log as one "market_batch"
    leaf (always written, whichever way the entries are posted).

    Only the market operator (province admin) runs a clearing batch. Replaying
    ``batch_key`` returns the batch's trades. Any trade that its seller's units or its
    buyer's money cannot cover at its turn refuses the whole batch
    (:class:`InsufficientBalance`, naming the trade); nothing moves.
    """
    actor.require_role(Role.PROVINCE_ADMIN)
    if not trades:
        return []
    fees = fee_account(session)  # opening takes the ledger lock first
    ref = f"market:batch:{batch_key}"
    done = ledger.entries_by_reference(session, ref)
    if done:
        keys = [t.idempotency_key for t in trades]
        found = {t.idempotency_key: t for t in session.scalars(
            select(Trade).where(Trade.idempotency_key.in_(keys)))}
        return [found[k] for k in keys]
    clash = session.scalars(select(Trade.idempotency_key).where(
        Trade.idempotency_key.in_([t.idempotency_key for t in trades]))).first()
    if clash is not None:
        raise Conflict(f"trade key {clash!r} was already settled",
                       hint="a clearing batch carries only new trades")
    accounts: dict[tuple[str, int], LedgerAccount] = {}
    by_code: dict[str, LedgerAccount] = {fees: ledger.get_account(session, fees)}
    running: dict[str, int] = {}

    def _keep(key: tuple[str, int], acc: LedgerAccount) -> LedgerAccount:
        accounts[key] = by_code[acc.code] = acc
        running[acc.code] = ledger.balance(session, acc)
        return acc

    def units(inst: str, org: int) -> LedgerAccount:
        acc = accounts.get((inst, org))
        return acc if acc is not None else _keep((inst, org), unit_account(session, inst, org))

    def cash(org: int) -> LedgerAccount:
        acc = accounts.get(("CNY", org))
        return acc if acc is not None else _keep(("CNY", org), money_account(session, org))

    closes: dict[str, int | None] = {}
    day = trade_day(utcnow())
    for t in trades:
        if t.seller_org_id == t.buyer_org_id:
            raise InvalidInput(f"trade {t.idempotency_key}: two different parties needed")
        inst = get_instrument(t.instrument)
        if inst.code not in closes:
            closes[inst.code] = previous_close(session, inst.code, day)
        check_trade(inst, t, closes[inst.code])
        units(t.instrument, t.seller_org_id)
        units(t.instrument, t.buyer_org_id)
        cash(t.seller_org_id)
        cash(t.buyer_org_id)
    codes = [a.code for k, a in accounts.items() if k[0] != "CNY"]
    segs: dict[str, list[_Seg]] = defaultdict(list)
    originals: dict[int, UnitBlock] = {}
    for b in session.scalars(select(UnitBlock).where(
            UnitBlock.account_code.in_(codes), UnitBlock.status == "active")
            .order_by(UnitBlock.vintage, UnitBlock.serial_start)):
        originals[b.id] = b
        segs[b.account_code].append(_Seg(b.vintage, b.serial_start, b.serial_end,
                                         b.issuance_id, b.id))
    issuances: dict[int, Issuance] = {}
    unit_lines: list[tuple[LedgerAccount, int]] = []
    money_lines: list[tuple[LedgerAccount, int]] = []
    rows: list[Trade] = []
    now = utcnow()
    for t in trades:
        seller_u, buyer_u = units(t.instrument, t.seller_org_id), units(t.instrument,
                                                                        t.buyer_org_id)
        gross = t.quantity * t.price_fen
        fee = gross * t.fee_bp // 10_000
        if running[seller_u.code] < t.quantity:
            raise InsufficientBalance(f"trade {t.idempotency_key}: {seller_u.code} holds "
                                      f"{running[seller_u.code]}, sells {t.quantity}")
        buyer_c, seller_c = cash(t.buyer_org_id), cash(t.seller_org_id)
        if running[buyer_c.code] < gross + fee:
            raise InsufficientBalance(f"trade {t.idempotency_key}: {buyer_c.code} has "
                                      f"{running[buyer_c.code]} fen, owes {gross + fee}")
        moved = _take(segs[seller_u.code], t.quantity, seller_u.code)
        target = segs[buyer_u.code]
        for s in moved:
            bisect.insort(target, s, key=lambda x: x.key)
        shares: dict[int, int] = defaultdict(int)
        per_iss: dict[int, int] = defaultdict(int)
        for s in moved:
            per_iss[s.issuance_id] += s.end - s.start + 1
        for iss_id, q in per_iss.items():
            iss = issuances.get(iss_id) or issuances.setdefault(
                iss_id, session.get_one(Issuance, iss_id))
            if iss.holder_org_id == t.seller_org_id:
                for ben in iss.beneficiaries:
                    if ben["org_id"] != t.seller_org_id:
                        shares[ben["org_id"]] += q * t.price_fen * ben["share_bp"] // 10_000
        share_lines = [(cash(o).code, a) for o, a in shares.items() if a]
        lines = money_postings(gross, t.fee_bp, seller_c.code, buyer_c.code, fees, share_lines)
        for code, amount in lines:
            running[code] = running.get(code, 0) + amount
        running[seller_u.code] -= t.quantity
        running[buyer_u.code] += t.quantity
        unit_lines += [(seller_u, -t.quantity), (buyer_u, t.quantity)]
        money_lines += [(by_code[c], a) for c, a in lines]
        rows.append(Trade(
            instrument=t.instrument, mode=t.mode, seller_org_id=t.seller_org_id,
            buyer_org_id=t.buyer_org_id, quantity=t.quantity, price_fen=t.price_fen,
            gross_fen=gross, buyer_fee_fen=fee, seller_fee_fen=fee,
            shares=[{"org_id": o, "fen": a, "role": "beneficiary"} for o, a in shares.items()
                    if a],
            serials=[serial_label(t.instrument, s.vintage, s.start, s.end) for s in moved],
            idempotency_key=t.idempotency_key, executed_at=now))
    if net:
        unit_lines, money_lines = _net(unit_lines), _net(money_lines)
    leaf, _ = ledger.append_leaf(session, "market_batch", {
        "type": "market_batch", "v": 1, "batch_key": batch_key,
        "trades": [[r.idempotency_key, r.instrument, r.mode, r.seller_org_id, r.buyer_org_id,
                    r.quantity, r.price_fen, r.buyer_fee_fen, r.shares, r.serials]
                   for r in rows]})
    u = ledger.post_entry(session, idempotency_key=f"{ref}:units", postings=unit_lines,
                          memo=f"clearing batch {batch_key}: {len(rows)} trades, units",
                          actor_id=actor.user_id, reference=ref)
    m = ledger.post_entry(session, idempotency_key=f"{ref}:money", postings=money_lines,
                          memo=f"clearing batch {batch_key}: {len(rows)} trades, money",
                          actor_id=actor.user_id, reference=ref)
    _write_blocks(session, segs, originals, u.id, now)
    for r in rows:
        r.unit_entry_id, r.money_entry_id = u.id, m.id
    session.add_all(rows)
    session.flush()
    record(session, actor, "settle_batch", "market_trade", batch_key,
           detail={"trades": len(rows), "unit_entry": u.id, "money_entry": m.id,
                   "log_index": leaf})
    return rows


def _net(lines: list[tuple[LedgerAccount, int]]) -> list[tuple[LedgerAccount, int]]:
    """One line per account (its summed amount), zero sums left out, first-seen order."""
    total: dict[int, int] = {}
    acc: dict[int, LedgerAccount] = {}
    for a, amount in lines:
        acc[a.id] = a
        total[a.id] = total.get(a.id, 0) + amount
    return [(acc[i], t) for i, t in total.items() if t]


def _write_blocks(session: Session, segs: dict[str, list[_Seg]],
                  originals: dict[int, UnitBlock], entry_id: int, now: datetime) -> None:
    """Supersede every original block that changed; insert the segments that are new."""
    kept: set[int] = set()
    new: list[UnitBlock] = []
    for code, lst in segs.items():
        for s in lst:
            o = originals[s.origin]
            if o.account_code == code and (o.serial_start, o.serial_end) == (s.start, s.end):
                kept.add(o.id)
                continue
            new.append(UnitBlock(instrument=o.instrument, vintage=s.vintage,
                                 serial_start=s.start, serial_end=s.end,
                                 issuance_id=s.issuance_id, account_code=code, status="active",
                                 parent_id=o.id, entry_id=entry_id, created_at=now))
    for oid, o in originals.items():
        if oid not in kept:
            o.status, o.closed_at = "superseded", now
    session.add_all(new)
