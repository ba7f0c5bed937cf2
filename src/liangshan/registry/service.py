"""Registry services: register and change parcels and rights, look them up, as of any time.

Every write appends a version row (who, when, why) and an audit event; nothing is
deleted. Areas are m² in the registry CRS (:data:`~liangshan.registry.models.REGISTRY_CRS`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import READER_ROLES, Principal
from liangshan.identity.service import record
from liangshan.registry import rules, transparency
from liangshan.registry.models import ParcelVersion, RightVersion
from liangshan.registry.schemas import (
    ROOT_KINDS,
    ParcelIn,
    ParcelOut,
    ParcelStatus,
    ParcelView,
    RightIn,
    RightKind,
    RightOut,
    RightStatus,
)

#: Second letter of generated parcel codes by resource type (modelled on the feature code of
#: 不动产单元代码, GB/T 37346-2019 [K]; this registry's own letters, not the official table).
TYPE_LETTER = {"forest": "L", "grassland": "C", "wetland": "S", "water": "W", "cropland": "G",
               "unused": "U", "other": "X"}
OWNERSHIP_LETTER = {"state": "G", "collective": "J"}

#: Other domains register here to add their records to a parcel's one-identity view:
#: name → function(session, parcel_code) → list of dicts (e.g. "census_records", "credits").
VIEW_EXTENSIONS: dict[str, Callable[[Session, str], list[dict[str, Any]]]] = {}


def make_parcel_code(region_code: str, ownership: str, resource_type: str, seq: int) -> str:
    """``<region padded to 12 digits><ownership letter><type letter><5-digit sequence>``.

    Example: ``520381000000JL00017`` — collective (J) forest (L) parcel 17 of 赤水市.
    """
    if not 1 <= seq <= 99_999:
        raise InvalidInput(f"parcel sequence {seq} out of range 1–99999",
                           hint="use a township or village code to open a new range")
    return f"{region_code.ljust(12, '0')}{OWNERSHIP_LETTER[ownership]}{TYPE_LETTER[resource_type]}{seq:05d}"


def last_code_with_prefix(session: Session, prefix: str) -> str | None:
    """The highest parcel code starting with ``prefix`` (an index range, not LIKE, which
    SQLite cannot serve from a case-sensitive index)."""
    return session.scalar(select(func.max(ParcelVersion.code)).where(
        ParcelVersion.code >= prefix, ParcelVersion.code < prefix + "\x7f"))


def _next_code(session: Session, data: ParcelIn) -> str:
    prefix = make_parcel_code(data.region_code, data.ownership, data.resource_type, 1)[:14]
    last = last_code_with_prefix(session, prefix)
    seq = int(last[14:19]) + 1 if last and last[14:19].isdigit() else 1
    return make_parcel_code(data.region_code, data.ownership, data.resource_type, seq)


def _check_code(code: str, region_code: str) -> None:
    if not code.startswith(region_code[:6]):
        raise InvalidInput(f"parcel code {code} does not start with its region code "
                           f"{region_code[:6]}", hint="parcel codes start with the county code")


def _parcel_row(data: ParcelIn, code: str, geom: BaseGeometry, version: int, actor: Principal,
                reason: str, now: datetime) -> ParcelVersion:
    minx, miny, maxx, maxy = geom.bounds
    return ParcelVersion(
        code=code, version=version, region_code=data.region_code, name=data.name,
        resource_type=str(data.resource_type), status=str(data.status),
        ownership=str(data.ownership), owner_name=data.owner_name,
        owner_org_id=data.owner_org_id, area_m2=float(geom.area), geom_wkb=shapely.to_wkb(geom),
        minx=minx, miny=miny, maxx=maxx, maxy=maxy,
        size_class=rules.size_class(minx, miny, maxx, maxy), valid_from=now, valid_to=None,
        recorded_by=actor.user_id, recorded_by_label=actor.label, reason=reason)


def register_parcel(session: Session, actor: Principal, data: ParcelIn,
                    reason: str = "initial registration") -> ParcelVersion:
    """Register a new parcel; refused if it overlaps a parcel of the same resource type."""
    actor.require_write(data.region_code)
    code = data.code or _next_code(session, data)
    _check_code(code, data.region_code)
    geom = rules.check_polygon(data.geometry, f"parcel {code}")
    if session.scalar(select(ParcelVersion.id).where(ParcelVersion.code == code).limit(1)):
        raise Conflict(f"parcel code {code} is already registered",
                       hint="codes are never reused; change the parcel with update_parcel")
    rules.check_no_overlap(session, None, str(data.resource_type), geom)
    row = _parcel_row(data, code, geom, 1, actor, reason, utcnow())
    session.add(row)
    session.flush()
    record(session, actor, "register", "parcel", code, region_code=data.region_code,
           detail={"version": 1, "area_m2": row.area_m2,
                   "log_index": transparency.log_parcel(session, row)}, reason=reason)
    return row


def current_parcel(session: Session, code: str) -> ParcelVersion:
    row = session.scalar(select(ParcelVersion).where(ParcelVersion.code == code,
                                                     ParcelVersion.valid_to.is_(None)))
    if row is None:
        raise NotFound(f"parcel {code} does not exist",
                       hint="look parcels up by point, holder or region (GET /registry/parcels)")
    return row


def update_parcel(session: Session, actor: Principal, code: str, reason: str,
                  **changes: Any) -> ParcelVersion:
    """Change a parcel (geometry, type, status, owner …): closes the current version and
    appends the next one. ``reason`` is required and kept with the version."""
    if not reason.strip():
        raise InvalidInput(f"parcel {code}: a change needs a reason", hint="say why, e.g. the "
                           "survey or decision it follows")
    old = current_parcel(session, code)
    actor.require_write(old.region_code)
    unknown = set(changes) - (set(ParcelIn.model_fields) - {"code"})
    if unknown:
        raise InvalidInput(f"parcel {code}: unknown field(s) {', '.join(sorted(unknown))}",
                           hint="changeable: " + ", ".join(sorted(ParcelIn.model_fields)))
    current = {f: getattr(old, f) for f in ParcelIn.model_fields if f not in ("geometry", "code")}
    current["geometry"] = shapely.from_wkb(old.geom_wkb)
    data = ParcelIn.model_validate({**current, **changes, "code": code})
    if data.region_code[:6] != old.region_code[:6]:
        raise InvalidInput(f"parcel {code} cannot move from county {old.region_code[:6]} to "
                           f"{data.region_code[:6]}: its code starts with the county code",
                           hint="cancel it (status cancelled) and register a new parcel there")
    geom = rules.check_polygon(data.geometry, f"parcel {code}")
    if data.status != ParcelStatus.CANCELLED:
        rules.check_no_overlap(session, code, str(data.resource_type), geom)
    now = utcnow()
    old.valid_to = now
    row = _parcel_row(data, code, geom, old.version + 1, actor, reason, now)
    session.add(row)
    session.flush()
    record(session, actor, "update", "parcel", code, region_code=data.region_code,
           detail={"version": row.version, "changed": sorted(changes),
                   "log_index": transparency.log_parcel(session, row)}, reason=reason)
    return row


def parcel_as_of(session: Session, code: str, at: datetime | None = None) -> ParcelVersion:
    """The parcel as the registry recorded it at ``at`` (UTC; default now)."""
    if at is None:
        return current_parcel(session, code)
    row = session.scalar(_as_of(select(ParcelVersion), ParcelVersion, at)
                         .where(ParcelVersion.code == code))
    if row is None:
        raise NotFound(f"parcel {code} was not registered at {at.isoformat()}",
                       hint="see parcel_history for when it was registered")
    return row


def _as_of(query: Select[Any], model: Any, at: datetime | None) -> Select[Any]:
    if at is None:
        return query.where(model.valid_to.is_(None))
    return query.where(model.valid_from <= at,
                       (model.valid_to.is_(None)) | (model.valid_to > at))


def parcel_history(session: Session, code: str) -> list[ParcelVersion]:
    rows = list(session.scalars(select(ParcelVersion).where(ParcelVersion.code == code)
                                .order_by(ParcelVersion.version)))
    if not rows:
        raise NotFound(f"parcel {code} does not exist", hint="check the code")
    return rows


def parcels_at_point(session: Session, x: float, y: float, at: datetime | None = None,
                     resource_type: str | None = None) -> list[ParcelVersion]:
    """Parcels containing the point (x, y) in the registry CRS (m), boundary included."""
    query = _as_of(select(ParcelVersion), ParcelVersion, at).where(rules.BBOX)
    if resource_type:
        query = query.where(ParcelVersion.resource_type == resource_type)
    point = shapely.Point(x, y)
    return [r for r in session.scalars(query, rules.bbox_params(x, y, x, y))
            if shapely.from_wkb(r.geom_wkb).covers(point)]


def parcels_in_polygon(session: Session, polygon: BaseGeometry, at: datetime | None = None,
                       limit: int | None = None) -> list[ParcelVersion]:
    """Parcels whose area overlaps ``polygon`` (registry CRS); touching only does not count."""
    minx, miny, maxx, maxy = polygon.bounds
    query = _as_of(select(ParcelVersion), ParcelVersion, at).where(
        rules.BBOX).order_by(ParcelVersion.code)
    shapely.prepare(polygon)
    out = []
    for r in session.scalars(query, rules.bbox_params(minx, miny, maxx, maxy)):
        if rules.overlap_area(polygon, shapely.from_wkb(r.geom_wkb)) > 0:
            out.append(r)
            if limit and len(out) >= limit:
                break
    return out


def list_parcels(session: Session, *, region_code: str | None = None,
                 resource_type: str | None = None, at: datetime | None = None,
                 offset: int = 0, limit: int = 100) -> tuple[int, list[ParcelVersion]]:
    """A page of parcels (by code) and the total count."""
    query = _as_of(select(ParcelVersion), ParcelVersion, at)
    if region_code:
        query = query.where(ParcelVersion.region_code.startswith(region_code))
    if resource_type:
        query = query.where(ParcelVersion.resource_type == resource_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ParcelVersion.code).offset(offset).limit(limit))
    return int(total), list(rows)


# --- rights -------------------------------------------------------------------------------


def current_right(session: Session, code: str) -> RightVersion:
    row = session.scalar(select(RightVersion).where(RightVersion.code == code,
                                                    RightVersion.valid_to.is_(None)))
    if row is None:
        raise NotFound(f"right {code} does not exist", hint="list a parcel's rights first")
    return row


def _children(session: Session, parcel_code: str, parent_code: str | None) -> list[RightVersion]:
    query = select(RightVersion).where(RightVersion.parcel_code == parcel_code,
                                       RightVersion.valid_to.is_(None))
    query = query.where(RightVersion.parent_code.is_(None) if parent_code is None
                        else RightVersion.parent_code == parent_code)
    return list(session.scalars(query))


def _next_right_code(session: Session, parcel_code: str) -> str:
    n = session.scalar(select(func.count(func.distinct(RightVersion.code)))
                       .where(RightVersion.parcel_code == parcel_code)) or 0
    return f"{parcel_code}-R{n + 1:03d}"


def _right_row(data: RightIn, code: str, version: int, region_code: str, actor: Principal,
               reason: str, now: datetime, status: str = RightStatus.ACTIVE) -> RightVersion:
    return RightVersion(
        code=code, version=version, parcel_code=data.parcel_code, region_code=region_code,
        kind=str(data.kind), parent_code=data.parent_code, holder_name=data.holder_name,
        holder_kind=str(data.holder_kind), holder_id_number=data.holder_id_number,
        holder_org_id=data.holder_org_id, share_bp=data.share_bp, start_date=data.start_date,
        end_date=data.end_date, status=str(status), document_ref=data.document_ref,
        amount_fen=data.amount_fen, valid_from=now, valid_to=None, recorded_by=actor.user_id,
        recorded_by_label=actor.label, reason=reason)


def _close_and_append(session: Session, old: RightVersion, actor: Principal, reason: str,
                      now: datetime, **changes: Any) -> RightVersion:
    old.valid_to = now
    fields = {c.key: getattr(old, c.key) for c in RightVersion.__table__.columns
              if c.key not in ("id", "version", "valid_from", "valid_to", "recorded_by",
                               "recorded_by_label", "reason")}
    row = RightVersion(**{**fields, **changes}, version=old.version + 1, valid_from=now,
                       valid_to=None, recorded_by=actor.user_id, recorded_by_label=actor.label,
                       reason=reason)
    session.add(row)
    return row


def register_right(session: Session, actor: Principal, data: RightIn,
                   reason: str = "registration") -> RightVersion:
    """Register a right on a parcel, after checking every rule:

    * contract/grant sit directly under ownership; other kinds need an active parent right
      on the same parcel and must fit inside its term and share;
    * exclusive rights under one parent may not overlap in time beyond 100 % of it;
    * a transfer ends the parent right (status ``transferred``) and is refused while the
      parent carries an unreleased mortgage.
    """
    parcel = current_parcel(session, data.parcel_code)
    actor.require_write(parcel.region_code)
    if parcel.status == ParcelStatus.CANCELLED:
        raise Conflict(f"parcel {parcel.code} is cancelled (version {parcel.version})",
                       hint="rights cannot be registered on a cancelled parcel")
    if data.end_date is not None and data.end_date <= data.start_date:
        raise InvalidInput(f"right on {data.parcel_code}: end {data.end_date} is not after "
                           f"start {data.start_date}", hint="give a term that ends after it starts")
    code = _next_right_code(session, data.parcel_code)
    now = utcnow()
    if data.kind in ROOT_KINDS:
        if data.parent_code is not None:
            raise InvalidInput(f"a {data.kind} right sits directly under ownership; got parent "
                               f"{data.parent_code}", hint="omit parent_code")
        rules.check_exclusive(_children(session, data.parcel_code, None), data.kind,
                              data.start_date, data.end_date, data.share_bp, 10_000, code)
        row = _right_row(data, code, 1, parcel.region_code, actor, reason, now)
    else:
        if data.parent_code is None:
            raise InvalidInput(f"a {data.kind} right needs the parent right it derives from",
                               hint="give parent_code (e.g. the contract right)")
        parent = current_right(session, data.parent_code)
        if parent.parcel_code != data.parcel_code:
            raise Conflict(f"parent right {parent.code} is on parcel {parent.parcel_code}, "
                           f"not {data.parcel_code}", hint="derive rights on the same parcel")
        if parent.kind == RightKind.MORTGAGE:
            raise Conflict(f"right {code}: parent {parent.code} is a mortgage (a security "
                           "interest); rights derive from use rights", hint="name the contract, "
                           "grant or transfer right as parent")
        rules.check_within_parent(parent, data.start_date, data.end_date, data.share_bp, code)
        if data.kind == RightKind.TRANSFER:
            row = _transfer(session, actor, parent, data, code, reason, now)
        else:
            rules.check_exclusive(_children(session, data.parcel_code, parent.code), data.kind,
                                  data.start_date, data.end_date, data.share_bp, parent.share_bp,
                                  code)
            row = _right_row(data, code, 1, parcel.region_code, actor, reason, now)
    session.add(row)
    session.flush()
    record(session, actor, "register", "right", code, region_code=parcel.region_code,
           detail={"kind": row.kind, "parcel": row.parcel_code, "parent": row.parent_code,
                   "log_index": transparency.log_right(session, row)}, reason=reason)
    return row


def _transfer(session: Session, actor: Principal, parent: RightVersion, data: RightIn, code: str,
              reason: str, now: datetime) -> RightVersion:
    """转让: the new holder takes the parent's place (same level, same share) from the start
    date; the parent ends on that date."""
    rules.check_no_active_mortgage(_children(session, parent.parcel_code, parent.code),
                                   parent.code, data.start_date)
    for child in _children(session, parent.parcel_code, parent.code):
        if child.status == RightStatus.ACTIVE and (child.end_date is None
                                                   or child.end_date > data.start_date):
            raise Conflict(f"right {parent.code} cannot be transferred: derived {child.kind} "
                           f"right {child.code} of {child.holder_name} is still active",
                           hint=f"end right {child.code} first")
    if data.share_bp != parent.share_bp:
        raise Conflict(f"transfer {code}: share {data.share_bp} bp differs from the transferred "
                       f"right {parent.code} ({parent.share_bp} bp)",
                       hint="a transfer passes the whole right; split shares by co-holding")
    ended = _close_and_append(session, parent, actor, f"transferred to {code}: {reason}", now,
                              status=RightStatus.TRANSFERRED, end_date=data.start_date)
    session.flush()
    record(session, actor, "transfer", "right", parent.code, region_code=parent.region_code,
           detail={"to": code, "on": data.start_date.isoformat(),
                   "log_index": transparency.log_right(session, ended)}, reason=reason)
    row = _right_row(data, code, 1, parent.region_code, actor, reason, now)
    # the transferee stands where the transferor stood, not under it
    row.parent_code = parent.parent_code
    return row


def release_mortgage(session: Session, actor: Principal, code: str, on: date,
                     reason: str) -> RightVersion:
    """The mortgagee's release (解押): the mortgage ends on ``on`` with status ``released``."""
    old = current_right(session, code)
    actor.require_write(old.region_code)
    if old.kind != RightKind.MORTGAGE or old.status != RightStatus.ACTIVE:
        raise Conflict(f"right {code} is a {old.status} {old.kind} right, not an active mortgage",
                       hint="only an active mortgage can be released")
    row = _close_and_append(session, old, actor, reason, utcnow(), status=RightStatus.RELEASED,
                            end_date=on)
    session.flush()
    record(session, actor, "release", "right", code, region_code=old.region_code, reason=reason,
           detail={"log_index": transparency.log_right(session, row)})
    return row


def end_right(session: Session, actor: Principal, code: str, on: date,
              reason: str) -> RightVersion:
    """End a right early (termination); it stays in the registry with status ``terminated``."""
    old = current_right(session, code)
    actor.require_write(old.region_code)
    if old.status != RightStatus.ACTIVE:
        raise Conflict(f"right {code} is already {old.status}", hint="nothing to end")
    if any(c.status == RightStatus.ACTIVE and (c.end_date is None or c.end_date > on)
           for c in _children(session, old.parcel_code, code)):
        raise Conflict(f"right {code} still has active derived rights after {on}",
                       hint="end or release the derived rights first")
    row = _close_and_append(session, old, actor, reason, utcnow(), status=RightStatus.TERMINATED,
                            end_date=on)
    session.flush()
    record(session, actor, "terminate", "right", code, region_code=old.region_code, reason=reason,
           detail={"log_index": transparency.log_right(session, row)})
    return row


def rights_of(session: Session, parcel_code: str, *, at: datetime | None = None,
              in_force_on: date | None = None) -> list[RightVersion]:
    """Rights on a parcel as recorded at ``at`` (default now), optionally only those whose
    legal term covers ``in_force_on``."""
    query = _as_of(select(RightVersion), RightVersion, at).where(
        RightVersion.parcel_code == parcel_code).order_by(RightVersion.code)
    rows = list(session.scalars(query))
    if in_force_on is not None:
        rows = [r for r in rows if r.start_date <= in_force_on
                and (r.end_date is None or r.end_date > in_force_on)
                and r.status in (RightStatus.ACTIVE, RightStatus.TRANSFERRED,
                                 RightStatus.RELEASED, RightStatus.TERMINATED)]
    return rows


def right_history(session: Session, code: str) -> list[RightVersion]:
    return list(session.scalars(select(RightVersion).where(RightVersion.code == code)
                                .order_by(RightVersion.version)))


def parcels_of_holder(session: Session, holder_name: str,
                      at: datetime | None = None) -> list[ParcelVersion]:
    """Parcels on which ``holder_name`` holds a right (current or as of ``at``)."""
    codes = select(RightVersion.parcel_code).where(RightVersion.holder_name == holder_name)
    codes = _as_of(codes, RightVersion, at)
    query = _as_of(select(ParcelVersion), ParcelVersion, at).where(
        ParcelVersion.code.in_(codes)).order_by(ParcelVersion.code)
    return list(session.scalars(query))


def parcel_view(session: Session, code: str, at: datetime | None = None, *,
                show_personal: bool = False) -> ParcelView:
    """The parcel's one-identity view: its rights, census records and other domains' links."""
    parcel = parcel_as_of(session, code, at)
    rights = [RightOut.model_validate(r) for r in rights_of(session, code, at=at)]
    if not show_personal:
        rights = [redact(r) for r in rights]
    view = ParcelView(parcel=ParcelOut.model_validate(parcel), rights=rights)
    for name, fn in VIEW_EXTENSIONS.items():
        if name == "census_records":
            view.census_records = fn(session, code)
        else:
            view.links[name] = fn(session, code)
    return view


def shows_personal(actor: Principal | None) -> bool:
    """Individual holders' names and ID numbers are for government roles and auditors; through
    an API key only when it carries ``read:registry``."""
    if actor is None or actor.role not in READER_ROLES:
        return False
    return actor.api_key_id is None or "read:registry" in actor.scopes


def require_personal(actor: Principal | None, what: str) -> None:
    if not shows_personal(actor):
        label = actor.label if actor is not None else "an anonymous client"
        raise Forbidden(f"{label} may not {what}: it reveals personal data of holders",
                        hint="this is for government roles and auditors (keys: read:registry)")


def redact(right: RightOut) -> RightOut:
    """Hide personal data of individual holders (name masked, ID number removed)."""
    if right.holder_kind != "individual":
        return right.model_copy(update={"holder_id_number": None})
    name = right.holder_name
    masked = name[0] + "*" * max(1, len(name) - 1)
    return right.model_copy(update={"holder_name": masked, "holder_id_number": None})
