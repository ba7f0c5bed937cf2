"""Traceability services: batches, signed events in the log, processing lineage, recalls.

Every event is an EPCIS-shaped document (:func:`build_document`) signed by the
recording organisation (Ed25519, :mod:`.signing`) and appended to the transparency
log as leaf kind ``trace`` whose payload is :func:`leaf_payload`. Events are never
edited: a correction is a new event naming the one it corrects (``corrects``).

Refusals (each with its own message): an unknown batch, a recalled or used-up batch,
an event time before the batch's last event or in the future, an organisation that
does not hold the batch (only government bodies may inspect or recall a batch they do
not hold), a forged signature (it does not verify with the named key) and a replayed
one (its event ID or nonce was already recorded).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import String, case, cast, func, literal, or_, select, text, update
from sqlalchemy.orm import Session, defer, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from liangshan.db import UTCDateTime, utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.models import AuditEvent, Organisation, OrgKind, Role
from liangshan.identity.service import record
from liangshan.ledger.note import NoteSigner
from liangshan.ledger.service import append_leaf, append_leaves
from liangshan.trace import codes, signing
from liangshan.trace.bulk import insert_rows, reserve_ids
from liangshan.trace.models import TraceBatch, TraceEvent
from liangshan.trace.schemas import (
    EPCIS,
    OVERSIGHT_STEPS,
    BatchIn,
    BizStep,
    EventIn,
)

#: Clock skew tolerated for event times in the future.
MAX_FUTURE = timedelta(minutes=5)
#: Roles that may record trace events (for their own organisation).
RECORDER_ROLES = frozenset({Role.ENTERPRISE, Role.COUNTY_OPERATOR, Role.DEPARTMENT_STAFF,
                            Role.PROVINCE_ADMIN})
LEAF_KIND = "trace"
#: Base of the PostgreSQL advisory-lock keys that serialise batch numbering ("tr" …).
BATCH_LOCK_BASE = 0x7472 << 40


def iso(t: datetime) -> str:
    """UTC ISO 8601 with a Z, microseconds kept: the form signed and logged."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise InvalidInput(f"event time {text!r} is not ISO 8601") from None
    if t.tzinfo is None:
        raise InvalidInput(f"event time {text!r} has no timezone")
    return t.astimezone(UTC)


# ------------------------------------------------------------------ who acts


def acting_org(session: Session, actor: Principal, org_id: int | None) -> Organisation:
    """The organisation an actor records for: its own; a province admin names one."""
    actor.require_scope("write:trace")
    actor.require_role(*RECORDER_ROLES)
    if actor.organisation_id is not None:
        if org_id is not None and org_id != actor.organisation_id:
            raise Forbidden(f"{actor.label} belongs to organisation {actor.organisation_id} and "
                            f"may not record for organisation {org_id}",
                            hint="log in as a user of that organisation")
        org_id = actor.organisation_id
    elif org_id is None:
        raise InvalidInput(f"{actor.label} belongs to no organisation: name org_id",
                           hint="give the organisation the record is made for")
    elif actor.role is not Role.PROVINCE_ADMIN:
        raise Forbidden(f"{actor.label} belongs to no organisation and may not record for "
                        f"organisation {org_id}", hint="only a province admin acts for others")
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist",
                       hint="list organisations with GET /identity/organisations")
    return org


def _covers(org: Organisation, region_code: str) -> bool:
    return (org.kind == OrgKind.GOVERNMENT.value and org.region_code is not None
            and region_code.startswith(org.region_code))


# ------------------------------------------------------------------ batches


def get_batch(session: Session, code: str) -> TraceBatch:
    """The batch of a batch or item code (the check character is checked first)."""
    parsed = codes.parse_code(code)
    row = session.scalar(select(TraceBatch).where(TraceBatch.code == parsed.batch_code))
    if row is None:
        raise NotFound(f"unknown batch: no batch has code {codes.display(parsed.batch_code)}",
                       hint="check the code, or create the batch first (POST /trace/batches)")
    if parsed.serial_number > row.items_issued:
        raise NotFound(f"item {parsed.serial_number} of batch {codes.display(row.code)} was "
                       f"never issued (only {row.items_issued} item codes were)",
                       hint="the code is not genuine or was mistyped")
    return row


def _check_parcels(session: Session, parcels: list[str], region_code: str) -> None:
    try:
        from liangshan.registry.service import current_parcel
    except ModuleNotFoundError:  # registry not part of this build: codes kept as given
        return
    for code in parcels:
        parcel = current_parcel(session, code)
        if not parcel.region_code.startswith(region_code):
            raise InvalidInput(f"origin parcel {code} lies in region {parcel.region_code}, not "
                               f"in the batch's county {region_code}",
                               hint="give parcels of the county of origin")


def _new_batch(session: Session, org: Organisation, actor: Principal, *, region_code: str,
               product_type: str, product_name: str, quantity: int, unit: str,
               parcels: list[str], certifications: list[dict[str, Any]],
               brand_code: str | None, harvest: tuple[Any, Any], at: datetime) -> TraceBatch:
    product = codes.PRODUCT_TYPES[product_type][0]
    # Two requests of one producer must not both take the next batch number. PostgreSQL:
    # an advisory lock until the transaction ends; SQLite: a no-op write opens the write
    # transaction now (its single writer), before the number is read.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": BATCH_LOCK_BASE + org.id * 1000 + int(product)})
    elif dialect == "sqlite":
        session.execute(text("UPDATE trace_batches SET id = id WHERE 1 = 0"))
    last = session.scalar(select(func.max(TraceBatch.batch_seq)).where(
        TraceBatch.producer_org_id == org.id, TraceBatch.product_code == product))
    seq = (last or 0) + 1
    row = TraceBatch(
        code=codes.make_code(region_code, org.id, product, seq, 0), region_code=region_code,
        producer_org_id=org.id, holder_org_id=org.id, product_type=product_type,
        product_code=product, product_name=product_name, batch_seq=seq, quantity=quantity,
        remaining=quantity, unit=unit, harvest_start=harvest[0], harvest_end=harvest[1],
        origin_parcels=parcels, certifications=certifications, brand_code=brand_code,
        status="active", items_issued=0, last_event_at=at, created_by=actor.user_id)
    session.add(row)
    session.flush()
    return row


def create_batch(session: Session, actor: Principal, data: BatchIn,
                 signer: NoteSigner | None = None) -> TraceBatch:
    """Commission a batch: its code, and a signed, logged commissioning event."""
    org = acting_org(session, actor, data.org_id)
    if data.harvest_start and data.harvest_end and data.harvest_end < data.harvest_start:
        raise InvalidInput("harvest_end is before harvest_start")
    _check_future(data.event_time)
    _check_parcels(session, data.origin_parcels, data.region_code)
    if data.brand_code is not None:
        from liangshan.trace.brands import get_brand
        get_brand(session, data.brand_code)
    certs = [c.model_dump(mode="json") for c in data.certifications]
    row = _new_batch(session, org, actor, region_code=data.region_code,
                     product_type=data.product_type, product_name=data.product_name,
                     quantity=data.quantity, unit=data.unit, parcels=list(data.origin_parcels),
                     certifications=certs, brand_code=data.brand_code,
                     harvest=(data.harvest_start, data.harvest_end),
                     at=data.event_time.astimezone(UTC))
    what = {"batch": row.code, "product_type": row.product_type, "product_name": row.product_name,
            "quantity": row.quantity, "unit": row.unit, "origin_parcels": row.origin_parcels,
            "harvest": [_d(row.harvest_start), _d(row.harvest_end)],
            "certifications": certs, "brand": row.brand_code}
    doc = build_document(org.id, _signer(session, org.id, signer), BizStep.COMMISSIONING,
                         data.event_time, what, data.where.model_dump(mode="json"), {})
    _store_event(session, actor, row, doc, _sign(session, org.id, signer, doc))
    record(session, actor, "create", "trace_batch", row.code, region_code=row.region_code,
           detail={"quantity": row.quantity, "unit": row.unit})
    return row


def _d(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def issue_items(session: Session, actor: Principal, code: str, count: int) -> list[str]:
    """Issue ``count`` more item codes (serials) of a batch for labels; returns them."""
    batch = get_batch(session, code)
    org = acting_org(session, actor, None if actor.organisation_id else batch.holder_org_id)
    if org.id not in (batch.holder_org_id, batch.producer_org_id):
        raise Forbidden(f"organisation {org.id} does not hold batch {codes.display(batch.code)}")
    if not 1 <= count <= 100_000:
        raise InvalidInput(f"label count {count} outside 1 … 100000")
    first = batch.items_issued + 1
    batch.items_issued += count
    p = codes.parse_code(batch.code)
    out = [codes.make_code(p.region, p.producer, p.product, int(p.batch), s)
           for s in range(first, first + count)]
    record(session, actor, "issue_items", "trace_batch", batch.code,
           region_code=batch.region_code, detail={"first": first, "count": count})
    return out


# ------------------------------------------------------------------ documents


def build_document(org_id: int, key_id: str, step: BizStep, event_time: datetime,
                   what: dict[str, Any], where: dict[str, Any], how: dict[str, Any],
                   corrects: str | None = None) -> dict[str, Any]:
    """The EPCIS-shaped event document that is signed and logged (JSON-able, no floats)."""
    etype, action, cbv = EPCIS[step]
    return {
        "schema": "liangshan.trace/1", "event_id": uuid.uuid4().hex,
        "nonce": secrets.token_hex(16), "type": etype, "action": action,
        "when": {"event_time": iso(event_time),
                 "event_timezone_offset": event_time.strftime("%z")[:3] + ":"
                 + event_time.strftime("%z")[3:]},
        "what": what, "where": where,
        "why": {"biz_step": step.value, "cbv_biz_step": cbv},
        "who": {"org_id": org_id, "key_id": key_id}, "how": how, "corrects": corrects,
    }


def leaf_payload(document: dict[str, Any], signature: bytes) -> dict[str, Any]:
    """The log leaf's payload for an event: the signed document and its signature."""
    return {"type": "trace_event", "event_id": document["event_id"], "document": document,
            "signature": base64.b64encode(signature).decode()}


def leaf_bytes(signed: bytes, event_id: str, signature: bytes) -> bytes:
    """``canonical_json(leaf_payload(document, signature))`` from the document's canonical
    bytes ``signed``, without encoding the document again.

    Canonical JSON sorts keys, and ``document`` < ``event_id`` < ``signature`` < ``type``;
    the event ID (hex) and the signature (base64) need no escaping.
    """
    return (b'{"document":' + signed + b',"event_id":"' + event_id.encode("ascii")
            + b'","signature":"' + base64.b64encode(signature) + b'","type":"trace_event"}')


def _signer(session: Session, org_id: int, signer: NoteSigner | None) -> str:
    s = signer or signing.custodial_signer(session, org_id)
    return s.key_id.hex()


def _sign(session: Session, org_id: int, signer: NoteSigner | None,
          doc: dict[str, Any]) -> bytes:
    return signing.sign_document(signer or signing.custodial_signer(session, org_id), doc)


def _check_future(t: datetime) -> None:
    if t.astimezone(UTC) > utcnow() + MAX_FUTURE:
        raise InvalidInput(f"event time {iso(t)} is in the future",
                           hint="record events when they have happened")


def _event_row(actor: Principal, batch: TraceBatch, doc: dict[str, Any], signature: bytes,
               index: int) -> TraceEvent:
    return TraceEvent(
        event_id=doc["event_id"], batch_id=batch.id, event_type=doc["type"],
        biz_step=doc["why"]["biz_step"], event_time=parse_time(doc["when"]["event_time"]),
        org_id=doc["who"]["org_id"], key_id=doc["who"]["key_id"], nonce=doc["nonce"],
        corrects_event_id=doc.get("corrects"), document=doc, signature=signature,
        log_index=index, recorded_at=utcnow(), recorded_by=actor.user_id)


def _store_event(session: Session, actor: Principal, batch: TraceBatch, doc: dict[str, Any],
                 signature: bytes) -> TraceEvent:
    index, _leaf = append_leaf(session, LEAF_KIND, leaf_payload(doc, signature))
    row = _event_row(actor, batch, doc, signature, index)
    session.add(row)
    return row


# ------------------------------------------------------------------ events


def _how(data: EventIn) -> dict[str, Any]:
    return {"inputs_used": [u.model_dump(mode="json") for u in data.inputs_used],
            "test_results": [r.model_dump(mode="json") for r in data.test_results],
            "certificate": data.certificate.model_dump(mode="json") if data.certificate else None,
            "sale": data.sale.model_dump(mode="json") if data.sale else None,
            "temperature_c": data.temperature_c, "notes": data.notes}


def prepare_event(session: Session, actor: Principal, code: str, data: EventIn,
                  key_id: str | None = None) -> dict[str, Any]:
    """The unsigned document of an event on batch ``code`` after all checks.

    ``key_id``: the organisation's own key (client-side signing); default its custodial key.
    """
    org = acting_org(session, actor, data.org_id)
    batch = get_batch(session, code)
    doc = build_document(org.id, key_id or _signer(session, org.id, None), data.biz_step,
                         data.event_time, {"batch": batch.code},
                         data.where.model_dump(mode="json"), _how(data), data.corrects)
    check_rules(session, batch, doc)
    return doc


def check_rules(session: Session, batch: TraceBatch, doc: dict[str, Any],
                last_at: datetime | None = None, org: Organisation | None = None) -> None:
    """Refuse an event that breaks a rule of the batch's history (see module docstring).

    ``last_at``: the batch's last event time when newer than the stored one (bulk recording).
    ``org``: the recording organisation when the caller has it loaded (bulk recording).
    """
    step = BizStep(doc["why"]["biz_step"])
    t = parse_time(doc["when"]["event_time"])
    if org is None or org.id != doc["who"]["org_id"]:
        org = session.get(Organisation, doc["who"]["org_id"])
    name = codes.display(batch.code)
    if batch.status == "recalled":
        raise Conflict(f"batch {name} was recalled; no further events may be recorded on it",
                       hint="recalled goods leave the chain; see its public page")
    if batch.status == "consumed" and step is not BizStep.RECALL:
        raise Conflict(f"batch {name} was used up by processing",
                       hint="record events on the batches made from it")
    _check_future(t)
    last = max(filter(None, (batch.last_event_at, last_at)), default=None)
    if last is not None and t < last:
        raise InvalidInput(f"out-of-order time: event at {iso(t)} is before the last event "
                           f"of batch {name} ({iso(last)})",
                           hint="events of a batch are recorded in time order; a late record "
                           "of an earlier fact is a correction naming the event it corrects")
    holds = org is not None and org.id == batch.holder_org_id
    oversight = org is not None and step in OVERSIGHT_STEPS and _covers(org, batch.region_code)
    recall_by_producer = org is not None and step is BizStep.RECALL and (
        org.id == batch.producer_org_id)
    if not (holds or oversight or recall_by_producer):
        raise Forbidden(f"organisation {doc['who']['org_id']} does not hold batch {name} "
                        f"(holder: organisation {batch.holder_org_id}) and may not record "
                        f"{step.value} on it",
                        hint="only the holder records; government bodies of the region may "
                        "inspect or recall")
    if doc.get("corrects"):
        old = session.scalar(select(TraceEvent).where(TraceEvent.event_id == doc["corrects"]))
        if old is None or old.batch_id != batch.id:
            raise NotFound(f"event {doc['corrects']} (named as corrected) is not an event of "
                           f"batch {name}", hint="give the event ID shown on the batch's page")
        if old.org_id != doc["who"]["org_id"]:
            raise Forbidden(f"event {doc['corrects']} was recorded by organisation "
                            f"{old.org_id}; only it may correct it")
    sale = (doc.get("how") or {}).get("sale")
    if sale is not None:
        if step is not BizStep.SALE:
            raise InvalidInput("sale details belong to a sale event")
        if sale["quantity"] > batch.remaining:
            raise Conflict(f"sale of {sale['quantity']} {batch.unit} exceeds what remains of "
                           f"batch {name} ({batch.remaining} {batch.unit})")
        if sale.get("buyer_org_id") is not None and sale["quantity"] != batch.remaining:
            raise InvalidInput(f"a sale to organisation {sale['buyer_org_id']} hands over the "
                               f"whole batch ({batch.remaining} {batch.unit})",
                               hint="split the batch first to sell a part to an organisation")


def commit_event(session: Session, actor: Principal, document: dict[str, Any],
                 signature: bytes) -> TraceEvent:
    """Record a signed document: check signature, replay and rules; log it; apply it."""
    if actor.organisation_id is not None and document.get("who", {}).get(
            "org_id") != actor.organisation_id:
        raise Forbidden(f"{actor.label} may only record events of organisation "
                        f"{actor.organisation_id}")
    acting_org(session, actor, document.get("who", {}).get("org_id"))
    signing.check_signature(session, document, signature)
    seen = session.scalar(select(TraceEvent.event_id).where(or_(
        TraceEvent.event_id == document.get("event_id"),
        TraceEvent.nonce == document.get("nonce"))).limit(1))
    if seen is not None:
        raise Conflict(f"replayed signature: event {seen} with this event ID or nonce was "
                       "already recorded", hint="prepare a new event; a signature is "
                       "accepted once")
    try:
        step = BizStep(document["why"]["biz_step"])
        batch = get_batch(session, document["what"]["batch"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, NotFound):
            raise
        raise InvalidInput(f"event document is malformed: {exc!r}",
                           hint="send the document exactly as prepared") from None
    if step in (BizStep.COMMISSIONING, BizStep.PROCESSING):
        raise InvalidInput(f"{step.value} events are recorded through batch creation or "
                           "transformation")
    check_rules(session, batch, document)
    row = _store_event(session, actor, batch, document, signature)
    _apply(session, actor, batch, row)
    return row


def record_event(session: Session, actor: Principal, code: str, data: EventIn,
                 signer: NoteSigner | None = None) -> TraceEvent:
    """Prepare, sign (custodial key unless ``signer`` is given) and record one event."""
    return _attached(session, TraceEvent(**_record(session, actor, [(code, data)], signer)[0]))


class EventRef(NamedTuple):
    """What a bulk feed gets back for each event recorded: its ID and its log index."""

    event_id: str
    log_index: int


def record_events(session: Session, actor: Principal, items: Sequence[tuple[str, EventIn]],
                  signer: NoteSigner | None = None) -> list[EventRef]:
    """Record many events (same rules, one log leaf and one audit row each), in order.

    For bulk feeds: batches are read in one query, each event is checked, signed alone
    and logged (one :func:`append_leaves` per run of events), and the event and audit
    rows are written together at the end as plain rows (:mod:`.bulk`: ids reserved in
    one round trip, ``COPY`` on PostgreSQL; no ORM objects). An event may not name as
    ``corrects`` another event of the same call. All or nothing: the caller's
    transaction is rolled back on a refusal.
    """
    return [EventRef(v["event_id"], v["log_index"])
            for v in _record(session, actor, items, signer)]


def _record(session: Session, actor: Principal, items: Sequence[tuple[str, EventIn]],
            signer: NoteSigner | None) -> list[dict[str, Any]]:
    """:func:`record_events`; returns the column values of the event rows written."""
    parsed = [codes.parse_code(code) for code, _ in items]
    batch_codes = [p.batch_code for p in parsed]  # computed (check character) once each
    wanted = set(batch_codes)
    # The rules read no JSON column of a batch: decoding them was a third of the load.
    batches = {b.code: b for b in session.scalars(select(TraceBatch).where(
        TraceBatch.code.in_(wanted)).options(defer(TraceBatch.origin_parcels),
                                             defer(TraceBatch.certifications)))}
    last_at: dict[int, datetime] = {}
    rows: list[tuple[TraceBatch, dict[str, Any]]] = []
    texts: list[str] = []  # each document's canonical JSON: signed, logged and stored
    pending: list[tuple[TraceBatch, dict[str, Any], bytes, bytes, datetime]] = []
    now = utcnow()

    def log_pending() -> None:
        # One bulk append for the events signed so far; their rows are written at the end.
        indices = append_leaves(session, [
            (LEAF_KIND, leaf_bytes(signed, doc["event_id"], signature))
            for _b, doc, signed, signature, _t in pending])
        for (b, doc, signed, signature, t), (index, _leaf) in zip(pending, indices,
                                                                  strict=True):
            rows.append((b, _event_values(actor, b, doc, signature, t, index, now)))
            texts.append(signed.decode())
        pending.clear()

    # Within one call the actor, its organisations and their keys do not change: each is
    # checked and loaded once (the refusals are the same, raised at the first event).
    orgs: dict[int | None, Organisation] = {}
    keys: dict[int, tuple[str, Callable[[bytes], bytes]]] = {}
    applied: set[str] = set()  # sales and recalls, audited by _apply
    for p, batch_code, (_code, data) in zip(parsed, batch_codes, items, strict=True):
        org = orgs.get(data.org_id)
        if org is None:
            org = orgs[data.org_id] = acting_org(session, actor, data.org_id)
        batch = batches.get(batch_code)
        if batch is None or p.serial_number > batch.items_issued:
            get_batch(session, p.code)  # raises the precise NotFound
            raise NotFound(f"unknown batch {codes.display(p.batch_code)}")  # pragma: no cover
        if org.id not in keys:
            key = signer or signing.custodial_signer(session, org.id)
            keys[org.id] = (key.key_id.hex(), signing.bytes_signer(key))
        key_id, sign = keys[org.id]
        doc = build_document(org.id, key_id, data.biz_step, data.event_time,
                             {"batch": batch.code}, data.where.model_dump(mode="json"),
                             _how(data), data.corrects)
        check_rules(session, batch, doc, last_at.get(batch.id), org)
        t = data.event_time.astimezone(UTC)
        signed = signing.signed_bytes(doc)
        pending.append((batch, doc, signed, sign(signed), t))
        last_at[batch.id] = max(t, last_at.get(batch.id, t))
        if data.sale is not None or data.biz_step is BizStep.RECALL:
            # a sale or recall changes the batch now (later events are checked against it)
            log_pending()
            _apply(session, actor, batch, TraceEvent(**rows[-1][1]))
            applied.add(doc["event_id"])
    log_pending()
    values = [v for _b, v in rows]
    for v, i in zip(values, reserve_ids(session, TraceEvent, len(values)), strict=True):
        v["id"] = i
    insert_rows(session, TraceEvent, values, json_text={"document": texts})
    insert_rows(session, AuditEvent, [_audit_values(actor, batch, v) for batch, v in rows
                                      if v["event_id"] not in applied])
    session.flush()  # what _apply changed (sales, recalls) is written before the times
    newest = {b.id: (b, max(filter(None, (b.last_event_at, last_at[b.id]))))
              for b in batches.values() if b.id in last_at}
    if newest:  # one UPDATE for all batches (the ORM would send one per batch)
        session.execute(update(TraceBatch).where(TraceBatch.id.in_(newest)).values(
            last_event_at=case({i: literal(t, UTCDateTime()) for i, (_b, t) in newest.items()},
                               value=TraceBatch.id)).execution_options(
            synchronize_session=False))
        for b, t in newest.values():
            set_committed_value(b, "last_event_at", t)
    return values


def _attached(session: Session, row: TraceEvent) -> TraceEvent:
    """An event row written by :func:`bulk.insert_rows`, made a persistent ORM object."""
    make_transient_to_detached(row)
    session.add(row)
    return row


def _event_values(actor: Principal, batch: TraceBatch, doc: dict[str, Any], signature: bytes,
                  event_time: datetime, index: int, at: datetime) -> dict[str, Any]:
    """The columns of an event's row (those of :func:`_event_row`), for a bulk insert."""
    return {"event_id": doc["event_id"], "batch_id": batch.id, "event_type": doc["type"],
            "biz_step": doc["why"]["biz_step"], "event_time": event_time,
            "org_id": doc["who"]["org_id"], "key_id": doc["who"]["key_id"],
            "nonce": doc["nonce"], "corrects_event_id": doc.get("corrects"), "document": doc,
            "signature": signature, "log_index": index, "recorded_at": at,
            "recorded_by": actor.user_id}


def _audit_values(actor: Principal, batch: TraceBatch, row: dict[str, Any]) -> dict[str, Any]:
    """The audit row :func:`_audit` writes, as column values (for one bulk insert)."""
    return {"at": utcnow(), "actor_user_id": actor.user_id,
            "actor_api_key_id": actor.api_key_id, "action": "record_event",
            "target_type": "trace_event", "target_id": row["event_id"],
            "region_code": batch.region_code, "reason": None,
            "detail": {"batch": batch.code, "biz_step": row["biz_step"],
                       "log_index": row["log_index"]}}


def _audit(session: Session, actor: Principal, batch: TraceBatch, row: TraceEvent) -> None:
    record(session, actor, "record_event", "trace_event", row.event_id,
           region_code=batch.region_code,
           detail={"batch": batch.code, "biz_step": row.biz_step, "log_index": row.log_index})


def _apply(session: Session, actor: Principal, batch: TraceBatch, row: TraceEvent) -> None:
    """Side effects of an event on the batch (time, sale, holder, recall) and its audit row."""
    doc = row.document
    batch.last_event_at = max(batch.last_event_at or row.event_time, row.event_time)
    sale = (doc.get("how") or {}).get("sale")
    if sale is not None:  # to an organisation: custody moves; to consumers: stock goes down
        if sale.get("buyer_org_id") is not None:
            batch.holder_org_id = sale["buyer_org_id"]
        else:
            batch.remaining -= sale["quantity"]
    if row.biz_step == BizStep.RECALL.value:
        from liangshan.trace.lineage import descendants

        for b in [batch, *descendants(session, batch.id)]:
            b.status = "recalled"
            b.recalled_at = row.event_time
            b.recall_event_id = row.event_id
    _audit(session, actor, batch, row)


def recall(session: Session, actor: Principal, code: str, reason: str, event_time: datetime,
           org_id: int | None = None) -> TraceEvent:
    """Recall a batch: every batch made from it (through splits and merges) is recalled too."""
    if not reason.strip():
        raise InvalidInput("a recall needs a reason", hint="say what was found, e.g. the test")
    return record_event(session, actor, code, EventIn(
        biz_step=BizStep.RECALL, event_time=event_time, notes=reason, org_id=org_id))


def events_of(session: Session, code: str) -> list[TraceEvent]:
    """The events recorded on batch ``code`` itself, in time order."""
    batch = get_batch(session, code)
    return list(session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch.id)
                                .order_by(TraceEvent.event_time, TraceEvent.log_index)))


def batches_from_parcel(session: Session, parcel_code: str) -> list[dict[str, Any]]:
    """Batches whose origin includes ``parcel_code``: the registry's one-identity view link."""
    # origin_parcels is a JSON list; matching its text with the quoted code works alike on
    # SQLite and PostgreSQL (codes are [0-9A-Z] only, so no LIKE wildcard can occur).
    text_form = cast(TraceBatch.origin_parcels, String)
    rows = session.scalars(select(TraceBatch).where(text_form.contains(f'"{parcel_code}"'))
                           .order_by(TraceBatch.id))
    return [{"code": b.code, "product_type": b.product_type, "product_name": b.product_name,
             "quantity": b.quantity, "unit": b.unit, "status": b.status} for b in rows]


def _register_view_extension() -> None:
    try:
        from liangshan.registry.service import VIEW_EXTENSIONS
    except ModuleNotFoundError:
        return
    VIEW_EXTENSIONS.setdefault("trace_batches", batches_from_parcel)


_register_view_extension()


def _register_log_check() -> None:
    from liangshan.trace import audit  # imports this module: registered once it is complete

    audit.register()


_register_log_check()
