"""The bulk event path writes exactly what the one-event path writes: signed documents,
their canonical log leaves, one audit row each (plain rows, COPY on PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from liangshan.identity.models import AuditEvent
from liangshan.ledger import service as ledger
from liangshan.trace import public, service, signing
from liangshan.trace.models import TraceBatch, TraceEvent
from liangshan.trace.schemas import EventIn, InputUse


def _ev(world, step: str, hours: float, **kw) -> EventIn:
    return EventIn(biz_step=step, event_time=world.later(hours), **kw)


def test_leaf_bytes_equal_the_canonical_payload(world):
    ev = service.record_event(world.session, world.as_producer, world.batch.code, _ev(
        world, "planting", 1, notes="施肥 \"引号\" \\ 反斜杠", inputs_used=[InputUse(
            kind="fertiliser", name="菜籽饼肥", amount="150", unit="kg/亩")]))
    signature = bytes(ev.signature)
    expected = ledger.canonical_json(service.leaf_payload(ev.document, signature))
    assert service.leaf_bytes(signing.signed_bytes(ev.document), ev.event_id,
                              signature) == expected
    assert bytes(ledger.get_leaf(world.session, ev.log_index).payload) == expected


def test_bulk_rows_are_signed_logged_audited_and_verify(world):
    s = world.session
    other = world.new_batch(world.as_producer)
    s.commit()
    audits_before = s.scalar(select(func.count()).select_from(AuditEvent))
    first = service.record_events(s, world.as_producer, [
        (world.batch.code if i % 2 else other.code, _ev(world, "storage", 1 + i,
                                                         temperature_c="4.5"))
        for i in range(10)])
    second = service.record_events(s, world.as_producer, [
        (world.batch.code, _ev(world, "transport", 20 + i)) for i in range(3)])
    s.commit()
    s.expire_all()
    refs = first + second
    assert s.get(TraceBatch, world.batch.id).last_event_at == world.later(22)
    assert s.get(TraceBatch, other.id).last_event_at == world.later(9)
    rows = {r.event_id: r for r in s.scalars(select(TraceEvent).where(
        TraceEvent.event_id.in_([r.event_id for r in refs])))}
    assert len(rows) == 13
    ids = [rows[r.event_id].id for r in refs]
    assert ids == sorted(ids) and len(set(ids)) == 13  # reserved ids, in order
    for ref in refs:
        row = rows[ref.event_id]
        assert row.log_index == ref.log_index
        signing.check_signature(s, row.document, bytes(row.signature))  # raises if forged
        assert bytes(ledger.get_leaf(s, row.log_index).payload) == ledger.canonical_json(
            service.leaf_payload(row.document, bytes(row.signature)))
        assert service.iso(row.event_time) == row.document["when"]["event_time"]
        assert row.recorded_by == world.as_producer.user_id
    assert s.scalar(select(func.count()).select_from(AuditEvent)) == audits_before + 13
    assert ledger.verify_log(s) == []
    view = public.public_view(s, world.batch.code)
    assert view["verification"]["overall"] == "verified"
    assert len(view["events"]) == 1 + 5 + 3


def test_record_event_returns_a_persistent_row(world):
    s = world.session
    ev = service.record_event(s, world.as_producer, world.batch.code, _ev(world, "harvest", 1))
    assert inspect(ev).persistent
    assert s.get(TraceEvent, ev.id) is ev
    s.commit()
    s.expire_all()
    assert s.get(TraceEvent, ev.id).event_id == ev.event_id
