"""Regional public brands (区域公用品牌) and certification marks: criteria, licences, reports.

A brand's manager (an organisation, e.g. a county agriculture bureau or a brand
association) licenses producers to use the brand on given product types for a
period. A licence can be suspended (and reinstated), revoked (final) or expire
(:func:`expire_licences`, when its ``valid_to`` has passed). Every public page checks
the licence of the batch's claimed brand *now*: a batch keeps its brand claim, but the
page says plainly when the licence behind it lapsed.

Every state of a licence — the grant and each change — is appended to the transparency
log as a leaf of kind ``trace_licence`` (:func:`licence_payload`: the full state, the
change and the index of the previous state's leaf), and the row keeps the index of its
latest one. :func:`licence_log_problems` finds a row that differs from its latest logged
state, or that points at a state the log has since superseded.

The criteria (regions, product types, required certificates) are this platform's
data model [NF: the actual rules of "黔系列"/"贵州绿色农产品" brand use have not been
obtained; each brand's criteria are entered by its manager].
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.models import Organisation, Role
from liangshan.identity.service import record
from liangshan.ledger.log import canonical_json, leaf_input, leaves_of_kind
from liangshan.ledger.merkle import hash_leaf
from liangshan.ledger.service import append_leaf, get_leaf
from liangshan.trace.codes import PRODUCT_TYPES
from liangshan.trace.models import Brand, BrandLicence, TraceBatch, TraceEvent
from liangshan.trace.schemas import BrandIn, LicenceIn


def get_brand(session: Session, code: str) -> Brand:
    row = session.scalar(select(Brand).where(Brand.code == code))
    if row is None:
        raise NotFound(f"brand {code!r} does not exist", hint="list brands: GET /trace/brands")
    return row


def list_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.code)))


def _require_manager(actor: Principal, brand: Brand) -> None:
    if actor.role is Role.PROVINCE_ADMIN and actor.organisation_id is None:
        return
    if actor.organisation_id != brand.manager_org_id:
        raise Forbidden(f"{actor.label} does not manage brand {brand.code} (managed by "
                        f"organisation {brand.manager_org_id})",
                        hint="log in as a user of the brand's managing organisation")


def create_brand(session: Session, actor: Principal, data: BrandIn) -> Brand:
    """Register a brand with its criteria (province admins only)."""
    actor.require_role(Role.PROVINCE_ADMIN)
    if session.scalar(select(Brand.id).where(Brand.code == data.code)):
        raise Conflict(f"brand {data.code!r} already exists")
    if session.get(Organisation, data.manager_org_id) is None:
        raise NotFound(f"organisation {data.manager_org_id} (brand manager) does not exist")
    unknown = sorted(set(data.product_types) - set(PRODUCT_TYPES))
    if unknown:
        raise InvalidInput(f"brand {data.code}: unknown product type(s) {', '.join(unknown)}",
                           hint="known: " + ", ".join(PRODUCT_TYPES))
    row = Brand(code=data.code, name=data.name, kind=data.kind,
                manager_org_id=data.manager_org_id, description=data.description,
                criteria={"region_prefixes": data.region_prefixes,
                          "product_types": data.product_types,
                          "required_certifications": data.required_certifications})
    session.add(row)
    session.flush()
    record(session, actor, "create", "trace_brand", row.code, detail=row.criteria)
    return row


def grant_licence(session: Session, actor: Principal, brand_code: str,
                  data: LicenceIn) -> BrandLicence:
    """License an organisation; refused if it falls outside the brand's criteria."""
    brand = get_brand(session, brand_code)
    _require_manager(actor, brand)
    org = session.get(Organisation, data.licensee_org_id)
    if org is None:
        raise NotFound(f"organisation {data.licensee_org_id} does not exist")
    if data.valid_to <= data.valid_from:
        raise InvalidInput("licence valid_to must be after valid_from")
    allowed = brand.criteria.get("product_types") or []
    outside = [p for p in data.product_types if allowed and p not in allowed]
    if outside:
        raise InvalidInput(f"brand {brand.code} does not cover product type(s) "
                           f"{', '.join(outside)}", hint=f"it covers: {', '.join(allowed)}")
    prefixes = brand.criteria.get("region_prefixes") or []
    if prefixes and not any((org.region_code or "").startswith(p) for p in prefixes):
        raise InvalidInput(f"organisation {org.id} (region {org.region_code}) lies outside the "
                           f"regions of brand {brand.code} ({', '.join(prefixes)})")
    count = len(list(session.scalars(select(BrandLicence.id)
                                     .where(BrandLicence.brand_id == brand.id))))
    row = BrandLicence(number=f"{brand.code.upper()}-{data.valid_from.year}-{count + 1:05d}",
                       brand_id=brand.id, licensee_org_id=org.id,
                       product_types=list(data.product_types), valid_from=data.valid_from,
                       valid_to=data.valid_to, status="active")
    session.add(row)
    session.flush()
    _log_state(session, row, brand.code, "grant")
    record(session, actor, "grant", "trace_brand_licence", row.number,
           detail={"brand": brand.code, "licensee": org.id, "log_index": row.log_index})
    return row


LEAF_KIND = "trace_licence"
#: The change a new status is logged as.
CHANGES = {"active": "reinstate", "suspended": "suspend", "revoked": "revoke",
           "expired": "expire"}
#: The row's fields that make up a logged state (besides the brand's code).
STATE_FIELDS = ("number", "licensee_org_id", "product_types", "valid_from", "valid_to",
                "status", "status_reason", "status_changed_at")


def licence_state(row: BrandLicence, brand_code: str) -> dict[str, Any]:
    """The licence's state as logged: JSON values (dates ISO 8601, times UTC with Z)."""
    changed = row.status_changed_at
    return {"number": row.number, "brand": brand_code, "licensee_org_id": row.licensee_org_id,
            "product_types": list(row.product_types), "valid_from": row.valid_from.isoformat(),
            "valid_to": row.valid_to.isoformat(), "status": row.status,
            "status_reason": row.status_reason,
            "status_changed_at": None if changed is None else changed.isoformat().replace(
                "+00:00", "Z")}


def licence_payload(row: BrandLicence, brand_code: str, change: str,
                    previous: int | None) -> dict[str, Any]:
    """The ``trace_licence`` leaf of one state: the state, the change and the leaf before."""
    return {"type": "brand_licence", "change": change, "previous": previous,
            **licence_state(row, brand_code)}


def _log_state(session: Session, row: BrandLicence, brand_code: str, change: str) -> None:
    row.log_index, _leaf = append_leaf(session, LEAF_KIND,
                                       licence_payload(row, brand_code, change, row.log_index))


def number_needle(number: str) -> bytes:
    """The bytes naming licence ``number`` inside a canonical leaf payload."""
    return canonical_json({"number": number})[1:-1]


def licence_log_problems(session: Session, row: BrandLicence,
                         brand_code: str) -> tuple[list[str], bytes | None]:
    """What is wrong between the row and its latest logged state; and that leaf's hash.

    Checks that the row's ``log_index`` holds a ``trace_licence`` leaf whose stored hash
    matches its payload, that the payload's state equals the row's, and that no later
    leaf logs a newer state of the same licence (a row set back to an old state).
    """
    if row.log_index is None:
        return [f"licence {row.number} was granted before licence changes were logged: "
                "its state cannot be checked against the log"], None
    try:
        leaf = get_leaf(session, row.log_index)
    except NotFound:
        return [f"log leaf {row.log_index} of licence {row.number} is missing"], None
    payload, stored = bytes(leaf.payload), bytes(leaf.leaf_hash)
    problems = []
    if leaf.kind != LEAF_KIND:
        problems.append(f"log leaf {row.log_index} is not a licence record")
    elif hash_leaf(leaf_input(LEAF_KIND, payload)) != stored:
        problems.append(f"the log's copy of licence {row.number} (leaf {row.log_index}) was "
                        "altered")
    else:
        logged = json.loads(payload)
        state = licence_state(row, brand_code)
        changed = [k for k in ("brand", *STATE_FIELDS) if logged.get(k) != state[k]]
        if changed:
            problems.append(f"licence {row.number} differs from its state in the "
                            f"transparency log (leaf {row.log_index}): "
                            + ", ".join(f"{k} is {state[k]!r}, logged {logged.get(k)!r}"
                                        for k in changed))
    later = [i for i, p in leaves_of_kind(session, LEAF_KIND, after=row.log_index,
                                            containing=number_needle(row.number))
             if json.loads(p).get("number") == row.number]
    if later:
        problems.append(f"licence {row.number} points at an old state (leaf {row.log_index}); "
                        f"the log records a newer one at leaf {later[-1]}")
    return problems, stored


def _licence(session: Session, licence_id: int) -> BrandLicence:
    row = session.get(BrandLicence, licence_id)
    if row is None:
        raise NotFound(f"brand licence {licence_id} does not exist")
    return row


def set_licence_status(session: Session, actor: Principal, licence_id: int, status: str,
                       reason: str) -> BrandLicence:
    """Suspend, reinstate (→ active) or revoke a licence; revocation is final."""
    if status not in ("active", "suspended", "revoked"):
        raise InvalidInput(f"licence status {status!r} is not active, suspended or revoked",
                           hint="licences expire by themselves (expire_licences)")
    if not reason.strip():
        raise InvalidInput("a licence status change needs a reason")
    row = _licence(session, licence_id)
    brand = session.get(Brand, row.brand_id)
    assert brand is not None
    _require_manager(actor, brand)
    if row.status in ("revoked", "expired"):
        raise Conflict(f"licence {row.number} {row.status}; that is final",
                       hint="grant a new licence")
    row.status, row.status_reason, row.status_changed_at = status, reason, utcnow()
    _log_state(session, row, brand.code, CHANGES[status])
    record(session, actor, status, "trace_brand_licence", row.number, reason=reason,
           detail={"log_index": row.log_index})
    return row


def expire_licences(session: Session, actor: Principal, on: date | None = None
                    ) -> list[BrandLicence]:
    """Mark every active or suspended licence whose ``valid_to`` ≤ ``on`` (default today,
    UTC) expired, logging each as a new state; returns them. Running it again does nothing.
    """
    actor.require_role(Role.PROVINCE_ADMIN, Role.COUNTY_OPERATOR, Role.DEPARTMENT_STAFF)
    on = on or utcnow().date()
    rows = list(session.scalars(select(BrandLicence).where(
        BrandLicence.status.in_(("active", "suspended")), BrandLicence.valid_to <= on)
        .order_by(BrandLicence.id)))
    codes = {b.id: b.code for b in session.scalars(select(Brand).where(
        Brand.id.in_({r.brand_id for r in rows})))} if rows else {}
    for row in rows:
        row.status, row.status_changed_at = "expired", utcnow()
        row.status_reason = f"valid_to {row.valid_to.isoformat()} reached"
        _log_state(session, row, codes[row.brand_id], "expire")
        record(session, actor, "expired", "trace_brand_licence", row.number,
               detail={"log_index": row.log_index})
    return rows


def log_unlogged_licences(session: Session, actor: Principal) -> list[BrandLicence]:
    """Log the current state of every licence granted before licence changes were logged
    (``log_index`` empty after migration 0008), as change ``backfill``; returns them.

    Until then their public pages say the licence cannot be checked against the log.
    What such a licence was before this moment cannot be proven; only from now on.
    """
    actor.require_role(Role.PROVINCE_ADMIN)
    rows = list(session.scalars(select(BrandLicence).where(BrandLicence.log_index.is_(None))
                                .order_by(BrandLicence.id)))
    codes = {b.id: b.code for b in session.scalars(select(Brand))} if rows else {}
    for row in rows:
        _log_state(session, row, codes[row.brand_id], "backfill")
        record(session, actor, "log_state", "trace_brand_licence", row.number,
               detail={"log_index": row.log_index})
    return rows


@dataclass(frozen=True)
class LicenceCheck:
    """The outcome of checking a brand claim: ``ok`` and a reason a person can read."""

    ok: bool
    status: str  # licensed / suspended / revoked / expired / not_yet_valid / no_licence / …
    message: str
    licence_number: str | None = None
    valid_to: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "message": self.message,
                "licence_number": self.licence_number,
                "valid_to": self.valid_to.isoformat() if self.valid_to else None}


def check_licence(session: Session, brand_code: str, org_id: int, product_type: str,
                  on: date | None = None, certifications: list[dict[str, Any]] | None = None
                  ) -> LicenceCheck:
    """Does ``org_id`` hold a valid licence of the brand for ``product_type`` on ``on``?"""
    on = on or utcnow().date()
    brand = session.scalar(select(Brand).where(Brand.code == brand_code))
    if brand is None:
        return LicenceCheck(False, "unknown_brand", f"brand {brand_code} is not registered")
    required = brand.criteria.get("required_certifications") or []
    have = {c.get("type") for c in certifications or []}
    missing = [r for r in required if r not in have]
    rows = [r for r in session.scalars(select(BrandLicence).where(
        BrandLicence.brand_id == brand.id, BrandLicence.licensee_org_id == org_id))
        if product_type in r.product_types]
    if not rows:
        return LicenceCheck(False, "no_licence", f"the producer holds no licence of "
                            f"{brand.name} for this product")
    rows.sort(key=lambda r: (r.status == "active", r.valid_to))
    best = rows[-1]
    if best.status in ("suspended", "revoked"):
        return LicenceCheck(False, best.status, f"licence {best.number} of {brand.name} was "
                            f"{best.status}: {best.status_reason}", best.number, best.valid_to)
    if on < best.valid_from:
        return LicenceCheck(False, "not_yet_valid", f"licence {best.number} is valid from "
                            f"{best.valid_from}", best.number, best.valid_to)
    if on >= best.valid_to or best.status == "expired":
        return LicenceCheck(False, "expired", f"licence {best.number} expired on "
                            f"{best.valid_to}", best.number, best.valid_to)
    if missing:
        return LicenceCheck(False, "criteria_not_met", f"the batch lacks the certificate(s) "
                            f"{', '.join(missing)} that {brand.name} requires", best.number,
                            best.valid_to)
    return LicenceCheck(True, "licensed", f"licensed to use {brand.name} (licence "
                        f"{best.number}, valid until {best.valid_to})", best.number,
                        best.valid_to)


def brand_report(session: Session, brand_code: str, on: date | None = None) -> dict[str, Any]:
    """Licensed producers, branded volumes by product and unit, and the price premium.

    The premium compares the quantity-weighted mean sale price (fen per unit) of
    branded batches with that of unbranded batches of the same product type and
    unit; it is reported only where both have recorded sales (never a silent zero).
    """
    brand = get_brand(session, brand_code)
    on = on or utcnow().date()
    licences = list(session.scalars(select(BrandLicence).where(
        BrandLicence.brand_id == brand.id).order_by(BrandLicence.id)))
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(
        Organisation.id.in_([lic.licensee_org_id for lic in licences])))} if licences else {}
    producers = []
    for lic in licences:
        org = orgs.get(lic.licensee_org_id)
        current = lic.status == "active" and lic.valid_from <= on < lic.valid_to
        producers.append({
            "licence": lic.number, "org_id": lic.licensee_org_id,
            "name": _public_org_name(org), "product_types": lic.product_types,
            "status": lic.status if lic.status != "active" or current else "expired",
            "valid_from": lic.valid_from.isoformat(), "valid_to": lic.valid_to.isoformat()})
    batches = list(session.scalars(select(TraceBatch).where(TraceBatch.brand_code == brand.code)))
    volumes: dict[tuple[str, str], int] = defaultdict(int)
    for b in batches:
        if check_licence(session, brand.code, b.producer_org_id, b.product_type, on,
                         b.certifications).ok:
            volumes[(b.product_type, b.unit)] += b.quantity
    premium = _premium(session, brand.code)
    return {"brand": brand.code, "name": brand.name, "kind": brand.kind, "as_of": on.isoformat(),
            "licensed_producers": producers,
            "volumes": [{"product_type": p, "unit": u, "quantity": q}
                        for (p, u), q in sorted(volumes.items())],
            "price_premium": premium}


def _public_org_name(org: Organisation | None) -> str:
    if org is None:
        return "?"
    return "农户 (household producer)" if org.kind == "individual" else org.name


def _premium(session: Session, brand_code: str) -> list[dict[str, Any]]:
    rows = session.execute(select(TraceBatch.product_type, TraceBatch.unit, TraceBatch.brand_code,
                                  TraceEvent.document)
                           .join(TraceEvent, TraceEvent.batch_id == TraceBatch.id)
                           .where(TraceEvent.biz_step == "sale"))
    sums: dict[tuple[str, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for product, unit, brand, doc in rows:
        sale = (doc.get("how") or {}).get("sale")
        if not sale:
            continue
        acc = sums[(product, unit, brand == brand_code)]
        acc[0] += sale["quantity"] * sale["unit_price_fen"]
        acc[1] += sale["quantity"]
    out = []
    for (product, unit, branded), (value, qty) in sorted(sums.items()):
        other = sums.get((product, unit, False))
        if not branded or not other or not other[1] or not qty:
            continue
        mean_b, mean_o = value / qty, other[0] / other[1]
        out.append({"product_type": product, "unit": unit,
                    "branded_mean_fen_per_unit": round(mean_b, 2),
                    "unbranded_mean_fen_per_unit": round(mean_o, 2),
                    "premium_pct": round(100 * (mean_b - mean_o) / mean_o, 1) if mean_o else None,
                    "branded_quantity": qty, "unbranded_quantity": other[1]})
    return out
