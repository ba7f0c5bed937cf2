"""Batch settlement (批量结算): many matched trades, delivery versus payment, in one go.

Two ways, one plan (:func:`_plan` checks every trade and moves its serials in memory):
:func:`settle_trades` posts each trade's own two entries (as :func:`settle` would) in
one ledger call — the path of the order book's matching cycles; :func:`settle_batch`
posts one unit entry and one money entry for a whole clearing batch.

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
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.db_bulk import insert_objects
from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger import service as ledger
from liangshan.ledger.models import LedgerAccount
from liangshan.ledger.service import InsufficientBalance
from liangshan.market.funds import Funds
from liangshan.market.instruments import get_instrument
from liangshan.market.issuance import (
    balances,
    holder_accounts,
    holder_code,
    money_account,
    serial_label,
)
from liangshan.market.models import Issuance, Trade, UnitBlock
from liangshan.market.schemas import TradeIn
from liangshan.market.settlement import (
    PAUSE_ENV,
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
    trade: int = -1  # index of the last trade that moved or cut it (-1: untouched)

    @property
    def key(self) -> tuple[int, int]:
        return (self.vintage, self.start)


def _take(segs: list[_Seg], qty: int, what: str, trade: int) -> list[_Seg]:
    """The ``qty`` first serials of ``segs`` (removed from it), cut by trade ``trade``."""
    out, left = [], qty
    while left:
        if not segs:
            raise Conflict(f"{what}: serial blocks hold {qty - left} units, the trade needs "
                           f"{qty}", hint="the unit blocks disagree with the ledger")
        s = segs[0]
        size = s.end - s.start + 1
        if size <= left:
            out.append(segs.pop(0))
            s.trade = trade
            left -= size
        else:
            out.append(_Seg(s.vintage, s.start, s.start + left - 1, s.issuance_id, s.origin,
                            trade))
            s.start += left
            s.trade = trade
            left = 0
    return out


def _oldest_blocks(session: Session, sold: dict[str, int]) -> list[UnitBlock]:
    """Per selling account, its oldest active blocks that hold the ``sold`` units: one
    windowed query for all accounts (a running sum per account, oldest first).

    Enough, though the account may also buy in the batch: every serial it could be
    asked to deliver first is older than any block left unloaded (oldest first, by
    vintage then serial), so the outcome equals loading all its blocks — without
    reading the many small blocks a busy account accumulates.
    """
    size = UnitBlock.serial_end - UnitBlock.serial_start + 1
    order = (UnitBlock.vintage, UnitBlock.serial_start)
    before = (func.sum(size).over(partition_by=UnitBlock.account_code, order_by=order)
              - size).label("before")
    ranked = select(UnitBlock.id, UnitBlock.account_code.label("code"), before).where(
        UnitBlock.account_code.in_(sold), UnitBlock.status == "active").subquery()
    need = case(sold, value=ranked.c.code)  # each account's own quantity sold
    return list(session.scalars(select(UnitBlock).join(ranked, ranked.c.id == UnitBlock.id)
                                .where(ranked.c.before < need)
                                .order_by(UnitBlock.account_code, *order)))


@dataclass
class _Plan:
    """A list of trades worked out in memory: rows to write, each trade's two legs, blocks."""

    rows: list[Trade]
    legs: list[tuple[list[tuple[LedgerAccount, int]], list[tuple[LedgerAccount, int]]]]
    segs: dict[str, list[_Seg]]
    originals: dict[int, UnitBlock]
    now: datetime


def _plan(session: Session, trades: Sequence[TradeIn]) -> _Plan:
    """Check every trade's rules and cover at its turn and move its serials, in memory.

    Raises (nothing written) for a rule broken or a trade its seller's units or its
    buyer's money (fen) cannot cover after the trades before it.
    """
    # A constant number of queries, whatever the number of trades: the fee account,
    # one previous close per instrument, the sellers' oldest blocks, their issuances,
    # the parties' (and beneficiaries') accounts, and all their balances.
    fees = fee_account(session)  # opening takes the ledger lock first
    by_code: dict[str, LedgerAccount] = {fees: ledger.get_account(session, fees)}
    closes: dict[str, int | None] = {}
    day = trade_day(utcnow())
    for t in trades:
        if t.seller_org_id == t.buyer_org_id:
            raise InvalidInput(f"trade {t.idempotency_key}: two different parties needed")
        inst = get_instrument(t.instrument)
        if inst.code not in closes:
            closes[inst.code] = previous_close(session, inst.code, day)
        check_trade(inst, t, closes[inst.code])
    sold: dict[str, int] = defaultdict(int)
    for t in trades:
        sold[holder_code(t.instrument, t.seller_org_id)] += t.quantity
    segs: dict[str, list[_Seg]] = defaultdict(list)
    originals: dict[int, UnitBlock] = {}
    for b in _oldest_blocks(session, sold):
        originals[b.id] = b
        segs[b.account_code].append(_Seg(b.vintage, b.serial_start, b.serial_end,
                                         b.issuance_id, b.id))
    iss_ids = {b.issuance_id for b in originals.values()}
    issuances = {i.id: i for i in session.scalars(
        select(Issuance).where(Issuance.id.in_(iss_ids)))} if iss_ids else {}
    sellers = {t.seller_org_id for t in trades}
    payees = {ben["org_id"] for i in issuances.values() if i.holder_org_id in sellers
              for ben in i.beneficiaries}  # may receive a benefit share (primary sales)
    parties = [(asset, org) for t in trades for asset, org in (
        (t.instrument, t.seller_org_id), (t.instrument, t.buyer_org_id),
        ("CNY", t.seller_org_id), ("CNY", t.buyer_org_id))]
    accounts = holder_accounts(session, [*parties, *(("CNY", o) for o in payees)],
                               open_missing=False)
    for asset, org in parties:  # a party's first trade in an asset opens its account
        if (asset, org) not in accounts:
            accounts[(asset, org)] = ledger.open_account(session, asset=asset, owner_org_id=org)
    running = balances(session, accounts.values())
    by_code.update((a.code, a) for a in accounts.values())

    def units(inst: str, org: int) -> LedgerAccount:
        return accounts[(inst, org)]

    def cash(org: int) -> LedgerAccount:
        acc = accounts.get(("CNY", org))
        if acc is None:  # a beneficiary's first money account: opened now, balance 0
            acc = accounts[("CNY", org)] = money_account(session, org)
            by_code[acc.code], running[acc.code] = acc, 0
        return acc

    legs: list[tuple[list[tuple[LedgerAccount, int]], list[tuple[LedgerAccount, int]]]] = []
    rows: list[Trade] = []
    now = utcnow()
    for i, t in enumerate(trades):
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
        moved = _take(segs[seller_u.code], t.quantity, seller_u.code, i)
        target = segs[buyer_u.code]
        for s in moved:
            bisect.insort(target, s, key=lambda x: x.key)
        shares: dict[tuple[int, str], int] = defaultdict(int)
        per_iss: dict[int, int] = defaultdict(int)
        for s in moved:
            per_iss[s.issuance_id] += s.end - s.start + 1
        for iss_id, q in per_iss.items():
            iss = issuances[iss_id]
            if iss.holder_org_id == t.seller_org_id:  # a primary sale pays the beneficiaries
                for ben in iss.beneficiaries:
                    if ben["org_id"] != t.seller_org_id:
                        shares[(ben["org_id"], ben["role"])] += (
                            q * t.price_fen * ben["share_bp"] // 10_000)
        share_lines = [(cash(o).code, a) for (o, _r), a in shares.items() if a]
        lines = money_postings(gross, t.fee_bp, seller_c.code, buyer_c.code, fees, share_lines)
        for code, amount in lines:
            running[code] = running.get(code, 0) + amount
        running[seller_u.code] -= t.quantity
        running[buyer_u.code] += t.quantity
        legs.append(([(seller_u, -t.quantity), (buyer_u, t.quantity)],
                     [(by_code[c], a) for c, a in lines]))
        rows.append(Trade(
            instrument=t.instrument, mode=t.mode, seller_org_id=t.seller_org_id,
            buyer_org_id=t.buyer_org_id, quantity=t.quantity, price_fen=t.price_fen,
            gross_fen=gross, buyer_fee_fen=fee, seller_fee_fen=fee,
            shares=[{"org_id": o, "fen": a, "role": r} for (o, r), a in shares.items() if a],
            serials=[serial_label(t.instrument, s.vintage, s.start, s.end) for s in moved],
            idempotency_key=t.idempotency_key, executed_at=now))
    return _Plan(rows, legs, segs, originals, now)


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
    fee_account(session)  # opening takes the ledger lock first
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
    plan = _plan(session, trades)
    _within_free(session, plan)
    rows = plan.rows
    unit_lines = [line for u, _m in plan.legs for line in u]
    money_lines = [line for _u, m in plan.legs for line in m]
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
    _write_blocks(session, plan, [u.id] * len(rows))
    for r in rows:
        r.unit_entry_id, r.money_entry_id = u.id, m.id
    insert_objects(session, rows)
    session.flush()  # the superseded blocks
    record(session, actor, "settle_batch", "market_trade", batch_key,
           detail={"trades": len(rows), "unit_entry": u.id, "money_entry": m.id,
                   "log_index": leaf})
    return rows


def settle_trades(session: Session, actor: Principal, trades: Sequence[TradeIn], *,
                  cycle_key: str) -> list[Trade]:
    """Settle one matching cycle's trades in the caller's transaction, each trade whole.

    Each trade gets exactly the journal entries :func:`~liangshan.market.settlement.settle`
    would post — a unit entry ``market:trade:<key>:units`` and a money entry
    ``market:trade:<key>:money`` (gross, fees and benefit shares in fen), each with its
    own idempotency key and log leaf — but all entries go through one
    :func:`liangshan.ledger.service.post_entries` call, and the serial blocks and trade
    rows are written in bulk. All trades or none: a trade that cannot be covered at its
    turn refuses the cycle (:class:`InsufficientBalance`), nothing written. A cycle
    whose trades were all settled already (same keys, same terms) returns them; a cycle
    mixing settled and new keys is a :class:`Conflict`. Parties or the market operator
    only. Flushes; the caller commits.
    """
    if not trades:
        return []
    if actor.role is not Role.PROVINCE_ADMIN:
        for t in trades:
            if actor.organisation_id not in (t.seller_org_id, t.buyer_org_id):
                raise Conflict(f"{actor.label} is neither party to trade {t.idempotency_key} "
                               "nor the market operator")
    fee_account(session)  # opening takes the ledger lock first
    keys = [t.idempotency_key for t in trades]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"cycle {cycle_key}: a trade key appears twice",
                           hint="give every trade its own idempotency key")
    seen = {r.idempotency_key: r for r in session.scalars(
        select(Trade).where(Trade.idempotency_key.in_(keys)))}
    if seen:
        return _replayed(cycle_key, trades, seen)
    plan = _plan(session, trades)
    entries: list[dict[str, Any]] = []
    for t, (unit_lines, money_lines) in zip(trades, plan.legs, strict=True):
        ref = f"market:trade:{t.idempotency_key}"
        inst = get_instrument(t.instrument)
        entries.append({"idempotency_key": f"{ref}:units", "postings": unit_lines,
                        "memo": f"{t.mode} trade: {t.quantity} {inst.unit} {inst.code}",
                        "actor_id": actor.user_id, "reference": ref})
        entries.append({"idempotency_key": f"{ref}:money", "postings": money_lines,
                        "memo": f"payment for {t.quantity} {inst.unit} {inst.code} at "
                                f"{t.price_fen} fen", "actor_id": actor.user_id,
                        "reference": ref})
    posted = ledger.post_entries(session, entries)
    pause = os.environ.get(PAUSE_ENV)
    if pause:  # only the crash test sets this: die here and nothing must remain
        time.sleep(float(pause))
    _write_blocks(session, plan, [posted[2 * i].id for i in range(len(trades))])
    for i, r in enumerate(plan.rows):
        r.unit_entry_id, r.money_entry_id = posted[2 * i].id, posted[2 * i + 1].id
    insert_objects(session, plan.rows)  # plain rows: the ORM's INSERTs were a third of a cycle
    session.flush()  # the superseded blocks
    record(session, actor, "settle_cycle", "market_trade", cycle_key,
           detail={"trades": len(plan.rows), "first_trade": plan.rows[0].id,
                   "last_trade": plan.rows[-1].id})
    return plan.rows


def _replayed(cycle_key: str, trades: Sequence[TradeIn], seen: dict[str, Trade]
              ) -> list[Trade]:
    missing = [t.idempotency_key for t in trades if t.idempotency_key not in seen]
    if missing:
        raise Conflict(f"cycle {cycle_key}: trade keys {sorted(seen)[:3]} were settled "
                       f"already but {missing[:3]} were not",
                       hint="replay a cycle whole, or settle new trades under new keys")
    for t in trades:
        r = seen[t.idempotency_key]
        if (r.instrument, r.mode, r.seller_org_id, r.buyer_org_id, r.quantity,
                r.price_fen) != (t.instrument, t.mode, t.seller_org_id, t.buyer_org_id,
                                 t.quantity, t.price_fen):
            raise Conflict(f"idempotency key {t.idempotency_key!r} settled trade {r.id} "
                           "with other terms", hint="use a new key per trade")
    return [seen[t.idempotency_key] for t in trades]


def _within_free(session: Session, plan: _Plan) -> None:
    """A clearing batch may not take what open orders, lots or bids hold: each party's net
    outflow of units, and of money (fen), stays within what was free before the batch."""
    funds = Funds(session)
    for a, amount in _net([line for u, m in plan.legs for line in u + m]):
        if amount >= 0 or a.owner_org_id is None:
            continue
        what = f"clearing batch ({a.code})"
        if a.asset == "CNY":
            funds.need_cash(a.owner_org_id, -amount, what)
        else:
            funds.need_units(a.asset, a.owner_org_id, -amount, what)


def _net(lines: list[tuple[LedgerAccount, int]]) -> list[tuple[LedgerAccount, int]]:
    """One line per account (its summed amount), zero sums left out, first-seen order."""
    total: dict[int, int] = {}
    acc: dict[int, LedgerAccount] = {}
    for a, amount in lines:
        acc[a.id] = a
        total[a.id] = total.get(a.id, 0) + amount
    return [(acc[i], t) for i, t in total.items() if t]


def _write_blocks(session: Session, plan: _Plan, entry_ids: Sequence[int]) -> None:
    """Supersede every original block that changed; insert the segments that are new.

    A new segment records the unit entry of the last trade that moved or cut it.
    """
    kept: set[int] = set()
    new: list[UnitBlock] = []
    originals, now = plan.originals, plan.now
    for code, lst in plan.segs.items():
        for s in lst:
            o = originals[s.origin]
            if o.account_code == code and (o.serial_start, o.serial_end) == (s.start, s.end):
                kept.add(o.id)
                continue
            new.append(UnitBlock(instrument=o.instrument, vintage=s.vintage,
                                 serial_start=s.start, serial_end=s.end,
                                 issuance_id=s.issuance_id, account_code=code, status="active",
                                 parent_id=o.id, entry_id=entry_ids[s.trade],
                                 created_at=now))
    for oid, o in originals.items():
        if oid not in kept:
            o.status, o.closed_at = "superseded", now
    insert_objects(session, new)
