"""Processing lineage: split, merge and transform batches; ancestors, descendants, chains.

A processing step is one signed TransformationEvent (EPCIS) whose ``what`` names the
input codes with the quantities taken and the new output codes. ``trace_lineage`` keeps
one row per (input, output) pair, so a recall walks down to every batch made from the
recalled one and the public page walks up to every origin. Quantities are integers in
each batch's own unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liangshan.errors import Conflict, InvalidInput
from liangshan.identity.access import Principal
from liangshan.identity.service import record
from liangshan.ledger.note import NoteSigner
from liangshan.trace import codes
from liangshan.trace.models import TraceBatch, TraceEvent, TraceLineage
from liangshan.trace.schemas import BizStep, TransformIn, TransformInput, TransformOutput
from liangshan.trace.service import (
    _check_future,
    _new_batch,
    _sign,
    _signer,
    _store_event,
    acting_org,
    build_document,
    check_rules,
    get_batch,
    iso,
)


def transform(session: Session, actor: Principal, data: TransformIn,
              signer: NoteSigner | None = None) -> list[TraceBatch]:
    """Processing (split, merge, transform): inputs → new output batches, lineage kept."""
    org = acting_org(session, actor, data.org_id)
    _check_future(data.event_time)
    t = data.event_time.astimezone(UTC)
    inputs: list[tuple[TraceBatch, int]] = []
    for item in data.inputs:
        b = get_batch(session, item.code)
        doc_stub = {"why": {"biz_step": BizStep.PROCESSING.value},
                    "when": {"event_time": iso(t)}, "who": {"org_id": org.id}}
        check_rules(session, b, doc_stub)
        if item.quantity > b.remaining:
            raise Conflict(f"processing takes {item.quantity} {b.unit} of batch "
                           f"{codes.display(b.code)}, only {b.remaining} {b.unit} remain")
        if any(b.id == other.id for other, _ in inputs):
            raise InvalidInput(f"batch {codes.display(b.code)} is named twice as an input")
        inputs.append((b, item.quantity))
    parcels = sorted({p for b, _ in inputs for p in b.origin_parcels})
    starts = [b.harvest_start for b, _ in inputs if b.harvest_start]
    ends = [b.harvest_end for b, _ in inputs if b.harvest_end]
    outputs = []
    for out in data.outputs:
        if out.product_type not in codes.PRODUCT_TYPES:
            raise InvalidInput(f"unknown product type {out.product_type!r}",
                               hint="known: " + ", ".join(codes.PRODUCT_TYPES))
        outputs.append(_new_batch(
            session, org, actor, region_code=data.region_code, product_type=out.product_type,
            product_name=out.product_name, quantity=out.quantity, unit=out.unit, parcels=parcels,
            certifications=[c.model_dump(mode="json") for c in out.certifications],
            brand_code=out.brand_code, harvest=(min(starts, default=None), max(ends, default=None)),
            at=t))
    what = {"batch": outputs[0].code,
            "inputs": [{"code": b.code, "quantity": q, "unit": b.unit} for b, q in inputs],
            "outputs": [{"code": o.code, "quantity": o.quantity, "unit": o.unit,
                         "product_type": o.product_type} for o in outputs]}
    how = {"process": data.process,
           "test_results": [r.model_dump(mode="json") for r in data.test_results]}
    doc = build_document(org.id, _signer(session, org.id, signer), BizStep.PROCESSING,
                         data.event_time, what, data.where.model_dump(mode="json"), how)
    event = _store_event(session, actor, outputs[0], doc, _sign(session, org.id, signer, doc))
    for b, q in inputs:
        b.remaining -= q
        b.last_event_at = t
        if b.remaining == 0:
            b.status = "consumed"
        for o in outputs:
            session.add(TraceLineage(parent_id=b.id, child_id=o.id, quantity=q,
                                     event_id=event.event_id))
    record(session, actor, "transform", "trace_event", event.event_id,
           region_code=data.region_code,
           detail={"inputs": [b.code for b, _ in inputs], "outputs": [o.code for o in outputs]})
    session.flush()
    return outputs


def split(session: Session, actor: Principal, code: str, quantities: list[int],
          event_time: datetime, region_code: str | None = None) -> list[TraceBatch]:
    """Split a batch into parts of ``quantities`` (same product and unit)."""
    b = get_batch(session, code)
    return transform(session, actor, TransformIn(
        inputs=[TransformInput(code=b.code, quantity=sum(quantities))],
        outputs=[TransformOutput(product_type=b.product_type, product_name=b.product_name,
                                 quantity=q, unit=b.unit, brand_code=b.brand_code)
                 for q in quantities],
        event_time=event_time, region_code=region_code or b.region_code[:6], process="split",
        org_id=None if actor.organisation_id else b.holder_org_id))


def _walk(session: Session, start: Iterable[int], up: bool) -> list[int]:
    seen: set[int] = set()
    frontier = set(start)
    order: list[int] = []
    src, dst = ((TraceLineage.child_id, TraceLineage.parent_id) if up
                else (TraceLineage.parent_id, TraceLineage.child_id))
    while frontier:
        nxt = set(session.scalars(select(dst).where(src.in_(frontier)))) - seen
        seen |= nxt
        order.extend(sorted(nxt))
        frontier = nxt
    return order


def ancestors(session: Session, batch_id: int) -> list[TraceBatch]:
    """Every batch this one was made from, through any number of processing steps."""
    ids = _walk(session, [batch_id], up=True)
    return list(session.scalars(select(TraceBatch).where(TraceBatch.id.in_(ids)))) if ids else []


def descendants(session: Session, batch_id: int) -> list[TraceBatch]:
    """Every batch made (in part) from this one."""
    ids = _walk(session, [batch_id], up=False)
    return list(session.scalars(select(TraceBatch).where(TraceBatch.id.in_(ids)))) if ids else []


def event_chain(session: Session, batch: TraceBatch) -> list[TraceEvent]:
    """The events of a batch and of all its ancestors, in time order."""
    ids = [batch.id, *(b.id for b in ancestors(session, batch.id))]
    lineage_events = select(TraceLineage.event_id).where(TraceLineage.child_id.in_(ids))
    query = select(TraceEvent).where(or_(TraceEvent.batch_id.in_(ids),
                                         TraceEvent.event_id.in_(lineage_events)))
    return list(session.scalars(query.order_by(TraceEvent.event_time, TraceEvent.log_index)))
