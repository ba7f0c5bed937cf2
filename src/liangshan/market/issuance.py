"""Serial-numbered units: issue against evidence, transfer, retire, cancel.

A unit's identity is ``instrument/vintage/serial`` (DESIGN §2); serials of an
instrument and vintage are allocated upwards from 1 and never reused. How many
units an account holds is its ledger balance; *which* serials it holds are its
active :class:`UnitBlock` rows. Both change in the same transaction, and the
ledger entry comes first: its log lock serialises writers, so the block reads
that follow see every earlier commit and a serial can never land in two places.

Eligibility (MECHANISMS.md §1):
* ``parcel`` (CCER-AR, GZ-TREE): a registered parcel of an allowed resource type
  (not wetland [V]); CCER-AR parcels ≥ 400 m² (667 m² for projects started ≤ 2019)
  [V]; CCER project start ≥ 2012-11-08 and credited period after 2020-09-22 [K].
* ``parcel_increment`` (GREEN-INC): quantity (亩) ≤ the parcel's area [NF].
* ``coverage_surplus`` (FCI): quantity ≤ forest − target·land (亩) [V], less what the
  region already issued for an overlapping period.
* ``project``: a project or permit reference and a region code.
Issuing twice against the same evidence, instrument and an overlapping period is
refused (no double counting).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.models import Role
from liangshan.identity.service import record
from liangshan.ledger import service as ledger
from liangshan.ledger.journal import account_code
from liangshan.ledger.log import lock_log
from liangshan.ledger.models import LedgerAccount, Posting
from liangshan.ledger.schemas import AccountKind
from liangshan.market.funds import Funds
from liangshan.market.instruments import Instrument, get_instrument
from liangshan.market.models import Issuance, Retirement, UnitBlock
from liangshan.market.schemas import IssueIn, RetireIn, TransferIn
from liangshan.registry import service as registry

MU_M2 = 2000.0 / 3.0  # 1 亩 = 666.67 m²
CURRENT = ("active", "retired", "cancelled")


def serial_label(instrument: str, vintage: int, start: int, end: int) -> str:
    return f"{instrument}/{vintage}/{start}-{end}"


# -- ledger accounts ---------------------------------------------------------------------------

def unit_account(session: Session, instrument: str, org_id: int) -> LedgerAccount:
    return ledger.open_account(session, asset=instrument, owner_org_id=org_id)


def money_account(session: Session, org_id: int) -> LedgerAccount:
    return ledger.open_account(session, asset="CNY", owner_org_id=org_id)


def holder_code(asset: str, org_id: int) -> str:
    """The code of :func:`unit_account` (asset an instrument) or :func:`money_account`
    (asset "CNY") of ``org_id``, without opening it."""
    return account_code(asset, AccountKind.HOLDER.value, None, org_id, "main")


def holder_accounts(session: Session, wanted: Iterable[tuple[str, int]], *,
                    open_missing: bool = True) -> dict[tuple[str, int], LedgerAccount]:
    """Many :func:`unit_account` / :func:`money_account` look-ups in one query.

    ``wanted`` holds ``(asset, org_id)`` pairs, asset an instrument code or "CNY".
    Accounts that exist come from one ``SELECT … WHERE code IN``; the rest are opened
    one by one in first-seen order (each opening is a log leaf), or, with
    ``open_missing`` False, left out of the result.
    """
    pairs = list(dict.fromkeys(wanted))
    if not pairs:
        return {}
    lock_log(session)  # as open_account: the lock before the reads
    codes = {(asset, org): holder_code(asset, org) for asset, org in pairs}
    found = {a.code: a for a in session.scalars(
        select(LedgerAccount).where(LedgerAccount.code.in_(set(codes.values()))))}
    out: dict[tuple[str, int], LedgerAccount] = {}
    for (asset, org), code in codes.items():
        acc = found.get(code)
        if acc is not None and acc.allow_negative:
            raise Conflict(f"ledger account {code} exists with allow_negative=True",
                           hint="accounts cannot be changed")
        if acc is None and open_missing:
            acc = ledger.open_account(session, asset=asset, owner_org_id=org)
        if acc is not None:
            out[(asset, org)] = acc
    return out


def balances(session: Session, accounts: Iterable[LedgerAccount]) -> dict[str, int]:
    """Balances (fen for CNY, else the instrument's unit) of many accounts, by code: one
    grouped query over their postings (an account without postings: 0)."""
    by_id = {a.id: a.code for a in accounts}
    out = dict.fromkeys(by_id.values(), 0)
    if by_id:
        for account_id, total in session.execute(
                select(Posting.account_id, func.sum(Posting.amount))
                .where(Posting.account_id.in_(by_id)).group_by(Posting.account_id)):
            out[by_id[account_id]] = int(total)
    return out


def issuance_account(session: Session, instrument: str) -> LedgerAccount:
    return ledger.open_account(session, asset=instrument, kind="issuance", name="registry")


def sink_account(session: Session, instrument: str, kind: str) -> LedgerAccount:
    """Where retired ("retired") or cancelled ("cancelled") units go, never to move again."""
    return ledger.open_account(session, asset=instrument, kind="retirement", name=kind)


def require_party(actor: Principal, org_id: int) -> None:
    """A participant acts for its own organisation; the province admin operates the platform."""
    if actor.role is Role.PROVINCE_ADMIN or actor.organisation_id == org_id:
        return
    raise Forbidden(f"{actor.label} may not act for organisation {org_id}",
                    hint="log in with a user of that organisation")


# -- evidence ----------------------------------------------------------------------------------

def _overlapping(session: Session, instrument: str, key: str, start: date, end: date
                 ) -> Issuance | None:
    return session.scalars(select(Issuance).where(
        Issuance.instrument == instrument, Issuance.evidence_key == key,
        Issuance.period_start <= end, Issuance.period_end >= start)).first()


def check_evidence(session: Session, inst: Instrument, data: IssueIn) -> tuple[str, str,
                                                                              dict[str, Any]]:
    """(region code, evidence key, evidence record) or an error naming the failed rule."""
    kind = inst.evidence
    if kind in ("parcel", "parcel_increment"):
        if not data.parcel_code:
            raise InvalidInput(f"{inst.code} is issued against a registered parcel",
                               hint="give parcel_code")
        parcel = registry.current_parcel(session, data.parcel_code)
        if inst.resource_types and parcel.resource_type not in inst.resource_types:
            raise InvalidInput(f"{inst.code}: parcel {parcel.code} is {parcel.resource_type}, "
                               f"eligible types are {', '.join(inst.resource_types)}")
        if inst.code == "CCER-AR":
            _check_ccer_ar(inst, data, parcel.area_m2, parcel.code)
        if kind == "parcel_increment" and data.quantity > parcel.area_m2 / MU_M2:
            raise InvalidInput(f"{inst.code}: {data.quantity} 亩 exceeds parcel {parcel.code}'s "
                               f"{parcel.area_m2 / MU_M2:.2f} 亩")
        return parcel.region_code, parcel.code, {"parcel_code": parcel.code,
                                                 "parcel_version": parcel.version,
                                                 "area_m2": parcel.area_m2}
    if not data.region_code:
        raise InvalidInput(f"{inst.code} needs region_code for its evidence")
    if kind == "coverage_surplus":
        cov = data.coverage
        if cov is None:
            raise InvalidInput("FCI issuance needs coverage evidence (land, forest, target)")
        surplus = cov.forest_area_mu - -(-cov.target_coverage_bp * cov.land_area_mu // 10_000)
        if data.quantity > surplus:
            raise InvalidInput(
                f"FCI: region {data.region_code} has a surplus of {max(surplus, 0)} 亩 over its "
                f"target ({cov.forest_area_mu} 亩 forest, target "
                f"{cov.target_coverage_bp / 100:g} % of {cov.land_area_mu} 亩); asked "
                f"{data.quantity}", hint="only forest area above the own target can be sold [V]")
        return data.region_code, data.region_code, cov.model_dump()
    if not data.project_ref:
        raise InvalidInput(f"{inst.code} needs project_ref (project, permit or section)")
    return data.region_code, data.project_ref, {"project_ref": data.project_ref}


def _check_ccer_ar(inst: Instrument, data: IssueIn, area_m2: float, code: str) -> None:
    start = data.project_start
    if start is None:
        raise InvalidInput("CCER-AR needs project_start (afforestation start date)")
    earliest = date.fromisoformat(inst.extra["earliest_project_start"])
    if start < earliest:
        raise InvalidInput(f"CCER-AR: project started {start}, before {earliest} [K]")
    credited = date.fromisoformat(inst.extra["earliest_credited"])
    if data.period_start <= credited:
        raise InvalidInput(f"CCER-AR: credited period starts {data.period_start}; reductions "
                           f"must arise after {credited} [K]")
    minimum = (inst.extra["min_parcel_area_m2_pre2020"] if start.year <= 2019
               else inst.extra["min_parcel_area_m2"])
    if area_m2 < minimum:
        raise InvalidInput(f"CCER-AR: parcel {code} is {area_m2:.0f} m², below the "
                           f"{minimum:.0f} m² minimum of CCER-14-001-V01 (c) [V]")
    if data.period_start.year - start.year > inst.extra["crediting_years_max"]:
        raise InvalidInput("CCER-AR: period lies beyond the 40-year crediting maximum [K]")


# -- blocks ------------------------------------------------------------------------------------

def move_blocks(session: Session, instrument: str, from_code: str, to_code: str, qty: int,
                status: str, entry_id: int) -> list[UnitBlock]:
    """Move the ``qty`` oldest serials of ``from_code`` to ``to_code`` with ``status``.

    A block taken partly is superseded by two: the part moved and the part kept.
    Returns the new blocks holding the moved serials.
    """
    now = utcnow()
    blocks = session.scalars(select(UnitBlock).where(
        UnitBlock.instrument == instrument, UnitBlock.account_code == from_code,
        UnitBlock.status == "active").order_by(UnitBlock.vintage, UnitBlock.serial_start))
    moved: list[UnitBlock] = []
    left = qty
    for b in blocks:
        if left == 0:
            break
        size = b.serial_end - b.serial_start + 1
        take = min(size, left)
        b.status, b.closed_at = "superseded", now
        cut = b.serial_start + take - 1
        moved.append(UnitBlock(instrument=instrument, vintage=b.vintage,
                               serial_start=b.serial_start, serial_end=cut,
                               issuance_id=b.issuance_id, account_code=to_code, status=status,
                               parent_id=b.id, entry_id=entry_id, created_at=now))
        if take < size:
            session.add(UnitBlock(instrument=instrument, vintage=b.vintage, serial_start=cut + 1,
                                  serial_end=b.serial_end, issuance_id=b.issuance_id,
                                  account_code=from_code, status="active", parent_id=b.id,
                                  entry_id=entry_id, created_at=now))
        left -= take
    if left:
        raise Conflict(f"{from_code} holds {qty - left} serials of {instrument} but its ledger "
                       f"balance allowed moving {qty}",
                       hint="the unit blocks disagree with the ledger: run the market audit")
    session.add_all(moved)
    session.flush()
    return moved


def labels(blocks: list[UnitBlock]) -> list[str]:
    return [serial_label(b.instrument, b.vintage, b.serial_start, b.serial_end) for b in blocks]


# -- commands ----------------------------------------------------------------------------------

def issue(session: Session, actor: Principal, data: IssueIn) -> Issuance:
    """Issue ``quantity`` new serials to the holder against verified evidence.

    The region of the evidence must lie in the actor's write scope. Replaying the
    same idempotency key returns the first issuance.
    """
    inst = get_instrument(data.instrument)
    source = issuance_account(session, inst.code)  # opening takes the ledger lock first
    holder = unit_account(session, inst.code, data.holder_org_id)
    if data.quantity % inst.lot:
        raise InvalidInput(f"{inst.code}: {data.quantity} is not a multiple of the lot {inst.lot}")
    seen = session.scalars(select(Issuance).where(
        Issuance.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.instrument, seen.quantity, seen.holder_org_id) != (
                inst.code, data.quantity, data.holder_org_id):
            raise Conflict(f"idempotency key {data.idempotency_key!r} was used for issuance "
                           f"{seen.id} with other terms", hint="use a new key")
        return seen
    region, key, evidence = check_evidence(session, inst, data)
    actor.require_write(region)
    clash = _overlapping(session, inst.code, key, data.period_start, data.period_end)
    if clash is not None:
        raise Conflict(f"{inst.code} was already issued against {key} for "
                       f"{clash.period_start}–{clash.period_end} (issuance {clash.id}, serials "
                       f"{serial_label(inst.code, clash.vintage, clash.serial_start, clash.serial_end)})",
                       hint="the same evidence and period can back units only once")
    top = session.scalar(select(func.max(Issuance.serial_end)).where(
        Issuance.instrument == inst.code, Issuance.vintage == data.vintage))
    start = int(top or 0) + 1
    end = start + data.quantity - 1
    posted = ledger.post_entry(
        session, idempotency_key=f"market:issue:{data.idempotency_key}",
        postings=[(source, -data.quantity), (holder, data.quantity)],
        memo=f"issue {serial_label(inst.code, data.vintage, start, end)} against {key}",
        actor_id=actor.user_id, reference=f"market:issue:{data.idempotency_key}")
    row = Issuance(instrument=inst.code, vintage=data.vintage, region_code=region,
                   evidence_kind=inst.evidence, evidence_key=key, evidence=evidence,
                   period_start=data.period_start, period_end=data.period_end,
                   verification_ref=data.verification_ref, quantity=data.quantity,
                   serial_start=start, serial_end=end, holder_org_id=data.holder_org_id,
                   beneficiaries=[b.model_dump() for b in data.beneficiaries],
                   idempotency_key=data.idempotency_key, entry_id=posted.id)
    session.add(row)
    session.flush()
    session.add(UnitBlock(instrument=inst.code, vintage=data.vintage, serial_start=start,
                          serial_end=end, issuance_id=row.id, account_code=holder.code,
                          status="active", entry_id=posted.id))
    session.flush()
    record(session, actor, "issue", "market_issuance", row.id, region_code=region,
           detail={"serials": serial_label(inst.code, data.vintage, start, end),
                   "evidence": key, "log_index": posted.log_index})
    return row


def transfer(session: Session, actor: Principal, data: TransferIn) -> list[str]:
    """Move units between participants; returns the serial ranges moved."""
    require_party(actor, data.from_org_id)
    if data.from_org_id == data.to_org_id:
        raise InvalidInput(f"transfer from organisation {data.from_org_id} to itself",
                           hint="a transfer needs two different holders")
    inst = get_instrument(data.instrument)
    if data.quantity % inst.lot:
        raise InvalidInput(f"{inst.code}: {data.quantity} is not a multiple of the lot {inst.lot}")
    src = unit_account(session, inst.code, data.from_org_id)
    dst = unit_account(session, inst.code, data.to_org_id)
    ref = f"market:transfer:{data.idempotency_key}"
    if not ledger.entries_by_reference(session, ref):  # offered units may not leave
        Funds(session).need_units(inst.code, data.from_org_id, data.quantity, ref)
    posted = ledger.post_entry(session, idempotency_key=ref,
                               postings=[(src, -data.quantity), (dst, data.quantity)],
                               memo=f"transfer {data.quantity} {inst.unit} {inst.code}",
                               actor_id=actor.user_id, reference=ref)
    if posted.replayed:
        return labels(list(session.scalars(select(UnitBlock).where(
            UnitBlock.entry_id == posted.id, UnitBlock.account_code == dst.code))))
    moved = move_blocks(session, inst.code, src.code, dst.code, data.quantity, "active",
                        posted.id)
    record(session, actor, "transfer", "market_units", posted.id,
           detail={"serials": labels(moved), "to_org_id": data.to_org_id})
    return labels(moved)


def _sink(session: Session, actor: Principal, data: RetireIn, kind: str) -> Retirement:
    seen = session.scalars(select(Retirement).where(
        Retirement.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        return seen
    inst = get_instrument(data.instrument)
    src = unit_account(session, inst.code, data.holder_org_id)
    dst = sink_account(session, inst.code, "retired" if kind == "retire" else "cancelled")
    if kind == "retire":  # a holder may not retire units it offers for sale
        Funds(session).need_units(inst.code, data.holder_org_id, data.quantity,
                                  f"retirement {data.idempotency_key!r}")
    ref = f"market:{kind}:{data.idempotency_key}"
    posted = ledger.post_entry(session, idempotency_key=ref,
                               postings=[(src, -data.quantity), (dst, data.quantity)],
                               memo=f"{kind} {data.quantity} {inst.unit} {inst.code}: "
                                    f"{data.purpose}", actor_id=actor.user_id, reference=ref)
    moved = move_blocks(session, inst.code, src.code, dst.code, data.quantity,
                        "retired" if kind == "retire" else "cancelled", posted.id)
    row = Retirement(kind=kind, instrument=inst.code, quantity=data.quantity,
                     holder_org_id=data.holder_org_id, beneficiary=data.beneficiary,
                     purpose=data.purpose, serials=labels(moved),
                     idempotency_key=data.idempotency_key, entry_id=posted.id)
    session.add(row)
    session.flush()
    record(session, actor, kind, "market_units", row.id,
           detail={"serials": row.serials, "beneficiary": data.beneficiary})
    return row


def retire(session: Session, actor: Principal, data: RetireIn) -> Retirement:
    """Retire units for a beneficiary and purpose: they never move again."""
    require_party(actor, data.holder_org_id)
    return _sink(session, actor, data, "retire")


def cancel(session: Session, actor: Principal, data: RetireIn) -> Retirement:
    """Cancel units (e.g. a failed verification): registry staff only; ``purpose`` = reason."""
    actor.require_role(Role.PROVINCE_ADMIN, Role.COUNTY_OPERATOR, Role.DEPARTMENT_STAFF)
    return _sink(session, actor, data, "cancel")


def holdings(session: Session, instrument: str, org_id: int) -> list[UnitBlock]:
    """The active blocks an organisation holds, oldest vintage and serial first."""
    code = unit_account(session, instrument, org_id).code
    return list(session.scalars(select(UnitBlock).where(
        UnitBlock.instrument == instrument, UnitBlock.account_code == code,
        UnitBlock.status == "active").order_by(UnitBlock.vintage, UnitBlock.serial_start)))


def serial_problems(session: Session) -> list[str]:
    """Audit: current blocks overlap nowhere, cover every issued serial, and agree with the
    ledger balance of every account. Returns one line per problem (empty = sound)."""
    problems: list[str] = []
    blocks = list(session.scalars(select(UnitBlock).where(UnitBlock.status.in_(CURRENT))
                                  .order_by(UnitBlock.instrument, UnitBlock.vintage,
                                            UnitBlock.serial_start)))
    held: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    per_account: dict[str, int] = defaultdict(int)
    for b in blocks:
        held[(b.instrument, b.vintage)].append((b.serial_start, b.serial_end))
        per_account[b.account_code] += b.serial_end - b.serial_start + 1
    for iss in session.scalars(select(Issuance)):
        held.setdefault((iss.instrument, iss.vintage), [])
    issued: dict[tuple[str, int], int] = defaultdict(int)
    for iss in session.scalars(select(Issuance)):
        issued[(iss.instrument, iss.vintage)] = max(issued[(iss.instrument, iss.vintage)],
                                                    iss.serial_end)
    for key, ranges in held.items():
        expect = 1
        for first, last in ranges:
            if first != expect:
                problems.append(f"{key[0]}/{key[1]}: serial {expect} "
                                f"{'missing' if first > expect else 'in two blocks'}")
            expect = max(expect, last + 1)
        if expect - 1 != issued[key]:
            problems.append(f"{key[0]}/{key[1]}: blocks end at {expect - 1}, issued to "
                            f"{issued[key]}")
    per_instrument: dict[str, int] = defaultdict(int)
    for b in blocks:
        per_instrument[b.instrument] += b.serial_end - b.serial_start + 1
    for instrument, qty in per_instrument.items():
        outstanding = -ledger.balance(session, f"system:{instrument}:issuance:registry")
        if outstanding != qty:
            problems.append(f"{instrument}: {outstanding} units issued in the ledger, "
                            f"{qty} in blocks")
    for code, qty in per_account.items():
        bal = ledger.balance(session, code)
        if bal != qty:
            problems.append(f"{code}: ledger balance {bal} but blocks hold {qty}")
    return problems


def counted_forest_mu(session: Session, *, region_code: str, org_id: int,
                      forest_area_mu: int) -> int:
    """Forest area (亩) that counts toward a region's coverage target after FCI trades.

    MECHANISMS.md §1.1: bought area counts toward the buyer [V]; sold area stops
    counting toward the seller [K]. ``org_id`` is the region's own participant
    (its government). Sold = FCI issued against ``region_code`` that ``org_id`` no
    longer holds; bought = FCI of other regions that ``org_id`` holds or retired.
    """
    own = unit_account(session, "FCI", org_id).code
    sold = bought = 0
    rows = session.execute(select(UnitBlock, Issuance.region_code).join(
        Issuance, UnitBlock.issuance_id == Issuance.id).where(
        UnitBlock.instrument == "FCI", UnitBlock.status.in_(CURRENT)))
    retired_by_org = {r.entry_id for r in session.scalars(select(Retirement).where(
        Retirement.instrument == "FCI", Retirement.holder_org_id == org_id,
        Retirement.kind == "retire"))}
    for block, region in rows:
        size = block.serial_end - block.serial_start + 1
        mine = (block.account_code == own and block.status == "active") or (
            block.status == "retired" and block.entry_id in retired_by_org)
        if region == region_code and not mine:
            sold += size
        elif region != region_code and mine:
            bought += size
    return forest_area_mu - sold + bought
