"""Pledges (质押): a holder pledges units to a bank as security for a loan.

MECHANISMS.md §4 (green finance): banks lend against ecological rights taken as
security — e.g. the water-right pledge (取水权质押, Hubei 郧西 2022, 50 % pledge rate,
registered at the PBoC movable-asset registry) [V]; rules for pledging other eco-asset
rights (生态资产权益抵押) were not found [NF], so loan-to-value is the bank's affair and
not checked here. Here
a pledge moves the holder's oldest free serials into a pledge account of its own
(owner still the holder, one account per pledge), so no sale, transfer, retirement,
order, listing or auction lot can reach them, and :mod:`liangshan.market.funds` names
the pledge when a command asks for more than is free. Only the pledgee bank's officers
close a pledge: *release* (loan repaid) moves the serials back to the holder's main
account; *enforce* (default) transfers them to the bank's main account. Each step is
one ledger entry (hence one transparency-log leaf) plus an audit record, and takes an
idempotency key: the same key replayed returns the first result.

Quantities are in the instrument's unit step; ``amount_fen`` is integer fen.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.models import Organisation, OrgKind, Role
from liangshan.identity.service import record
from liangshan.ledger import service as ledger
from liangshan.ledger.log import lock_log
from liangshan.market.funds import Funds
from liangshan.market.instruments import get_instrument
from liangshan.market.issuance import labels, move_blocks, require_party, unit_account
from liangshan.market.models import Pledge
from liangshan.market.schemas import PledgeIn

STAFF = (Role.PROVINCE_ADMIN, Role.AUDITOR)


def pledge_account_name(key: str) -> str:
    """The ledger account name of the pledge made with idempotency key ``key``."""
    return "pledge-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _bank(session: Session, org_id: int) -> Organisation:
    bank = session.get(Organisation, org_id)
    if bank is None or bank.kind != OrgKind.BANK.value:
        raise InvalidInput(f"pledgee organisation {org_id} is "
                           f"{'unknown' if bank is None else 'a ' + bank.kind}, not a bank",
                           hint="pledge to an organisation of kind 'bank'")
    return bank


def pledge(session: Session, actor: Principal, data: PledgeIn) -> Pledge:
    """Pledge ``quantity`` free units of the holder, oldest serials first, to the bank."""
    require_party(actor, data.holder_org_id)
    inst = get_instrument(data.instrument)
    if data.quantity % inst.lot:
        raise InvalidInput(f"{inst.code}: {data.quantity} is not a multiple of the lot {inst.lot}")
    _bank(session, data.bank_org_id)
    main = unit_account(session, inst.code, data.holder_org_id)  # takes the log lock first
    seen = session.scalars(select(Pledge).where(
        Pledge.idempotency_key == data.idempotency_key)).first()
    if seen is not None:
        if (seen.instrument, seen.holder_org_id, seen.bank_org_id, seen.quantity,
                seen.amount_fen) != (inst.code, data.holder_org_id, data.bank_org_id,
                                     data.quantity, data.amount_fen):
            raise Conflict(f"idempotency key {data.idempotency_key!r} was used for pledge "
                           f"{seen.id} with other terms", hint="use a new key")
        return seen
    Funds(session).need_units(inst.code, data.holder_org_id, data.quantity,
                              f"pledge {data.idempotency_key!r}")
    held = ledger.open_account(session, asset=inst.code, owner_org_id=data.holder_org_id,
                               name=pledge_account_name(data.idempotency_key))
    ref = f"market:pledge:{data.idempotency_key}"
    posted = ledger.post_entry(session, idempotency_key=ref,
                               postings=[(main, -data.quantity), (held, data.quantity)],
                               memo=f"pledge {data.quantity} {inst.unit} {inst.code} to "
                                    f"organisation {data.bank_org_id} for loan {data.loan_ref}",
                               actor_id=actor.user_id, reference=ref)
    moved = move_blocks(session, inst.code, main.code, held.code, data.quantity, "active",
                        posted.id)
    row = Pledge(instrument=inst.code, holder_org_id=data.holder_org_id,
                 bank_org_id=data.bank_org_id, quantity=data.quantity, serials=labels(moved),
                 account_code=held.code, loan_ref=data.loan_ref, amount_fen=data.amount_fen,
                 start_date=data.start_date, maturity_date=data.maturity_date,
                 status="active", idempotency_key=data.idempotency_key, entry_id=posted.id)
    session.add(row)
    session.flush()
    record(session, actor, "pledge", "market_pledge", row.id,
           detail={"serials": row.serials, "bank_org_id": row.bank_org_id,
                   "loan_ref": row.loan_ref, "amount_fen": row.amount_fen,
                   "log_index": posted.log_index})
    return row


def _close(session: Session, actor: Principal, pledge_id: int, key: str, action: str
           ) -> Pledge:
    lock_log(session)  # serialise closers: the status read below sees every earlier commit
    row = session.get(Pledge, pledge_id, populate_existing=True)
    if row is None:
        raise NotFound(f"pledge {pledge_id} does not exist")
    if actor.role is not Role.BANK_OFFICER or actor.organisation_id != row.bank_org_id:
        raise Forbidden(f"{actor.label} may not {action[:-1]} pledge {pledge_id}: only officers "
                        f"of the pledgee bank (organisation {row.bank_org_id}) may",
                        hint="log in as a bank_officer of the pledgee bank")
    done = {"release": "released", "enforce": "enforced"}[action]
    if row.status != "active":
        if row.status == done and row.closing_key == key:
            return row  # a replay
        raise Conflict(f"pledge {pledge_id} is already {row.status}",
                       hint="only an active pledge can be released or enforced")
    to_org = row.holder_org_id if action == "release" else row.bank_org_id
    dst = unit_account(session, row.instrument, to_org)
    ref = f"market:pledge-{action}:{key}"
    posted = ledger.post_entry(session, idempotency_key=ref,
                               postings=[(row.account_code, -row.quantity), (dst, row.quantity)],
                               memo=f"{action} pledge {row.id}: {row.quantity} {row.instrument} "
                                    f"to organisation {to_org}",
                               actor_id=actor.user_id, reference=ref)
    moved = move_blocks(session, row.instrument, row.account_code, dst.code, row.quantity,
                        "active", posted.id)
    row.status, row.closing_key, row.closing_entry_id = done, key, posted.id
    row.closed_at = utcnow()
    session.flush()
    record(session, actor, f"pledge_{action}", "market_pledge", row.id,
           detail={"serials": labels(moved), "to_org_id": to_org,
                   "log_index": posted.log_index})
    return row


def release(session: Session, actor: Principal, pledge_id: int, key: str) -> Pledge:
    """The loan is repaid: the pledged serials go back to the holder's main account."""
    return _close(session, actor, pledge_id, key, "release")


def enforce(session: Session, actor: Principal, pledge_id: int, key: str) -> Pledge:
    """The borrower defaulted: the pledged serials are transferred to the bank."""
    return _close(session, actor, pledge_id, key, "enforce")


def list_pledges(session: Session, actor: Principal, *, bank_org_id: int | None = None
                 ) -> list[Pledge]:
    """Pledges the actor may see, newest first: a bank officer those to its bank, a
    holder's users its own, the province admin and auditors all (or one bank's)."""
    query = select(Pledge).order_by(Pledge.id.desc())
    if actor.role in STAFF:
        pass
    elif actor.organisation_id is None:
        raise Forbidden(f"{actor.label} belongs to no organisation and may not see pledges",
                        hint="pledges are shown to the pledgee bank, the holder and staff")
    elif actor.role is Role.BANK_OFFICER:
        query = query.where(Pledge.bank_org_id == actor.organisation_id)
    else:
        query = query.where(Pledge.holder_org_id == actor.organisation_id)
    if bank_org_id is not None:
        query = query.where(Pledge.bank_org_id == bank_org_id)
    return list(session.scalars(query))
