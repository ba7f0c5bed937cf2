"""Batches, signed events, lineage, recalls and every refusal (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from liangshan.db import utcnow
from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.ledger import service as ledger
from liangshan.ledger.note import generate_signer
from liangshan.trace import codes, lineage, service, signing
from liangshan.trace.models import TraceEvent
from liangshan.trace.schemas import EventIn, Sale, TestResult, TransformIn

T0 = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)


def ev(step: str, hours: float, **kw) -> EventIn:
    return EventIn(biz_step=step, event_time=T0 + timedelta(hours=hours), **kw)


def test_events_are_signed_logged_and_chained(world):
    s, b = world.session, world.batch
    e = service.record_event(s, world.as_producer, b.code, ev("harvest", 1))
    s.commit()
    leaf = ledger.get_leaf(s, e.log_index)
    assert leaf.kind == "trace"
    assert bytes(leaf.payload) == ledger.canonical_json(service.leaf_payload(
        e.document, bytes(e.signature)))
    key = signing.org_key(s, e.key_id)
    assert key.org_id == world.producer.id
    assert signing.verify_signature(bytes(key.public_key), e.document, bytes(e.signature))
    chain = lineage.event_chain(s, b)
    assert [x.biz_step for x in chain] == ["commissioning", "harvest"]
    assert chain[1].document["type"] == "ObjectEvent"


def test_unknown_batch_is_refused(world):
    unknown = codes.make_code("522701", world.producer.id, "tea", 999, 0)
    with pytest.raises(NotFound, match="unknown batch"):
        service.record_event(world.session, world.as_producer, unknown, ev("harvest", 1))


def test_wrong_check_character_is_refused(world):
    code = world.batch.code
    wrong = code[:-1] + ("A" if code[-1] != "A" else "B")
    with pytest.raises(InvalidInput, match="wrong check character"):
        service.record_event(world.session, world.as_producer, wrong, ev("harvest", 1))


def test_out_of_order_time_is_refused(world):
    s, b = world.session, world.batch
    service.record_event(s, world.as_producer, b.code, ev("harvest", 5))
    with pytest.raises(InvalidInput, match="out-of-order time"):
        service.record_event(s, world.as_producer, b.code, ev("storage", 4))


def test_future_time_is_refused(world):
    future = EventIn(biz_step="storage", event_time=utcnow() + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="in the future"):
        service.record_event(world.session, world.as_producer, world.batch.code, future)


def test_producer_cannot_record_for_a_batch_it_does_not_hold(world):
    s, b = world.session, world.batch
    service.record_event(s, world.as_producer, b.code, ev("sale", 2, sale=Sale(
        quantity=b.remaining, unit_price_fen=12_000, buyer_org_id=world.buyer.id)))
    with pytest.raises(Forbidden, match="does not hold batch"):
        service.record_event(s, world.as_producer, b.code, ev("storage", 3))
    stored = service.record_event(s, world.as_buyer, b.code, ev("storage", 3))
    assert stored.org_id == world.buyer.id


def test_other_enterprise_cannot_record_but_the_bureau_may_inspect(world):
    s, b = world.session, world.batch
    with pytest.raises(Forbidden, match="does not hold batch"):
        service.record_event(s, world.as_buyer, b.code, ev("storage", 1))
    with pytest.raises(Forbidden, match="does not hold batch"):
        service.record_event(s, world.as_bureau, b.code, ev("storage", 1))
    result = TestResult(item="毒死蜱 chlorpyrifos", value="0.005", unit="mg/kg", limit="0.1",
                        passed=True, lab="黔南州农产品质量检测中心")
    e = service.record_event(s, world.as_bureau, b.code, ev("inspection", 1,
                                                              test_results=[result]))
    assert e.document["how"]["test_results"][0]["value"] == "0.005"


def test_forged_signature_is_refused(world):
    s, b = world.session, world.batch
    doc = service.prepare_event(s, world.as_producer, b.code, ev("harvest", 1))
    forger = generate_signer("attacker")
    with pytest.raises(Forbidden, match="forged signature"):
        service.commit_event(s, world.as_producer, doc, signing.sign_document(forger, doc))
    genuine = signing.sign_document(signing.custodial_signer(s, world.producer.id), doc)
    altered = {**doc, "how": {**doc["how"], "notes": "organic"}}
    with pytest.raises(Forbidden, match="forged signature"):
        service.commit_event(s, world.as_producer, altered, genuine)


def test_replayed_signature_is_refused(world):
    s, b = world.session, world.batch
    doc = service.prepare_event(s, world.as_producer, b.code, ev("harvest", 1))
    sig = signing.sign_document(signing.custodial_signer(s, world.producer.id), doc)
    service.commit_event(s, world.as_producer, doc, sig)
    s.commit()
    with pytest.raises(Conflict, match="replayed signature"):
        service.commit_event(s, world.as_producer, doc, sig)


def test_organisation_held_key_signs_client_side(world):
    s, b = world.session, world.batch
    own = generate_signer(signing.key_name(world.producer.id))
    import base64
    signing.register_public_key(s, world.as_producer, world.producer.id,
                                base64.b64encode(own.public_key).decode())
    doc = service.prepare_event(s, world.as_producer, b.code, ev("harvest", 1),
                                key_id=own.key_id.hex())
    e = service.commit_event(s, world.as_producer, doc, signing.sign_document(own, doc))
    assert e.key_id == own.key_id.hex()


def test_correction_is_a_new_event_naming_the_old_one(world):
    s, b = world.session, world.batch
    first = service.record_event(s, world.as_producer, b.code, ev("harvest", 1, notes="50 kg"))
    fix = service.record_event(s, world.as_producer, b.code,
                               ev("harvest", 2, notes="500 kg", corrects=first.event_id))
    s.commit()
    assert fix.document["corrects"] == first.event_id
    first.document = {**first.document, "how": {}}
    with pytest.raises(Conflict, match="never changed"):
        s.flush()
    s.rollback()
    with pytest.raises(Forbidden, match="only it may correct"):
        service.record_event(s, world.as_bureau, b.code,
                             ev("inspection", 3, corrects=first.event_id))


def test_split_and_merge_keep_lineage_and_a_recall_reaches_every_descendant(world):
    s = world.session
    a, c = lineage.split(s, world.as_producer, world.batch.code, [200_000, 300_000], world.later(2))
    other = world.new_batch(world.as_producer, at=world.later(1))
    merged = lineage.transform(s, world.as_producer, TransformIn(
        inputs=[{"code": a.code, "quantity": 200_000}, {"code": other.code, "quantity": 100_000}],
        outputs=[{"product_type": "tea", "product_name": "都匀毛尖", "quantity": 60_000,
                  "unit": "g"}],
        event_time=world.later(3), region_code="522701", process="杀青 揉捻 烘干"))[0]
    assert world.batch.status == "consumed" and a.status == "consumed"
    assert other.remaining == 400_000 and other.status == "active"
    assert {x.code for x in lineage.ancestors(s, merged.id)} == {world.batch.code, a.code,
                                                                   other.code}
    chain = [e.biz_step for e in lineage.event_chain(s, merged)]
    assert chain.count("commissioning") == 2 and chain.count("processing") == 2
    service.recall(s, world.as_bureau, world.batch.code, "农残超标", world.later(4))
    s.commit()
    for x in (world.batch, a, c, merged):
        assert x.status == "recalled"
    assert other.status == "active"  # a recall goes down the lineage, never up
    with pytest.raises(Conflict, match="recalled"):
        service.record_event(s, world.as_producer, merged.code, ev("storage", 5))
    with pytest.raises(Conflict, match="recalled"):
        service.recall(s, world.as_bureau, c.code, "again", world.later(5))


def test_processing_takes_no_more_than_remains_and_only_from_the_holder(world):
    s = world.session
    with pytest.raises(Conflict, match="only 500000 g remain"):
        lineage.split(s, world.as_producer, world.batch.code, [400_000, 200_000], world.later(1))
    with pytest.raises(Forbidden):
        lineage.transform(s, world.as_buyer, TransformIn(
            inputs=[{"code": world.batch.code, "quantity": 1}],
            outputs=[{"product_type": "tea", "product_name": "x", "quantity": 1, "unit": "g"}],
            event_time=world.later(1), region_code="522701"))


def test_sale_of_part_to_an_organisation_needs_a_split(world):
    with pytest.raises(InvalidInput, match="split the batch first"):
        service.record_event(world.session, world.as_producer, world.batch.code, ev(
            "sale", 1, sale=Sale(quantity=10, unit_price_fen=100, buyer_org_id=world.buyer.id)))


def test_item_codes_are_issued_in_sequence(world):
    s = world.session
    items = service.issue_items(s, world.as_producer, world.batch.code, 3)
    assert [codes.parse_code(c).serial_number for c in items] == [1, 2, 3]
    assert service.get_batch(s, items[2]).id == world.batch.id
    never = codes.make_code("522701", world.producer.id, "tea_leaf",
                            world.batch.batch_seq, 4)
    with pytest.raises(NotFound, match="never issued"):
        service.get_batch(s, never)


def test_every_write_leaves_an_audit_row(world):
    from liangshan.identity.models import AuditEvent
    s = world.session
    e = service.record_event(s, world.as_producer, world.batch.code, ev("harvest", 1))
    s.flush()
    rows = s.scalars(select(AuditEvent).where(AuditEvent.target_id == e.event_id)).all()
    assert [r.action for r in rows] == ["record_event"]
    assert s.scalar(select(TraceEvent.log_index).where(
        TraceEvent.event_id == e.event_id)) == e.log_index


def test_sale_to_an_organisation_moves_custody_and_retail_sales_reduce_stock(world):
    s, b = world.session, world.batch
    service.record_event(s, world.as_producer, b.code, ev("sale", 1, sale=Sale(
        quantity=b.remaining, unit_price_fen=10, buyer_org_id=world.buyer.id)))
    assert (b.holder_org_id, b.remaining) == (world.buyer.id, 500_000)
    service.record_event(s, world.as_buyer, b.code, ev("sale", 2, sale=Sale(
        quantity=1_500, unit_price_fen=30)))
    assert b.remaining == 498_500
    with pytest.raises(Conflict, match="exceeds what remains"):
        service.record_event(s, world.as_buyer, b.code, ev("sale", 3, sale=Sale(
            quantity=498_501, unit_price_fen=30)))


def test_bulk_recording_keeps_order_rules_and_is_all_or_nothing(world):
    s, b = world.session, world.batch
    other = world.new_batch(world.as_producer)
    rows = service.record_events(s, world.as_producer, [
        (b.code, ev("harvest", 1)), (other.code, ev("harvest", 1)), (b.code, ev("storage", 2))])
    s.commit()
    assert [r.log_index for r in rows] == sorted(r.log_index for r in rows)
    assert b.last_event_at == world.later(2)
    size = ledger.log_size(s)
    with pytest.raises(InvalidInput, match="out-of-order"):
        service.record_events(s, world.as_producer, [
            (b.code, ev("storage", 5)), (b.code, ev("storage", 4))])
    s.rollback()
    assert ledger.log_size(s) == size
    assert len(service.events_of(s, b.code)) == 3


def test_origin_parcels_come_from_the_registry(world):
    """A registered parcel is accepted, shown publicly without its owner, and linked back
    from the registry's parcel view; an unknown one is refused."""
    from shapely.geometry import box

    from liangshan.identity.access import SYSTEM
    from liangshan.registry import service as registry
    from liangshan.registry.schemas import ParcelIn
    from liangshan.trace import public

    s = world.session
    parcel = registry.register_parcel(s, SYSTEM, ParcelIn(
        region_code="522701", resource_type="cropland", ownership="collective",
        owner_name="毛尖镇某村集体", name="茶园一号", geometry=box(0, 0, 200, 100)))
    b = world.new_batch(world.as_producer, origin_parcels=[parcel.code])
    s.commit()
    view = public.public_view(s, b.code)
    origin = view["origin"]["parcels"][0]
    assert origin["code"] == parcel.code and origin["area_ha"] == 2.0
    assert "毛尖镇某村集体" not in repr(view)
    links = registry.parcel_view(s, parcel.code).links["trace_batches"]
    assert [x["code"] for x in links] == [b.code]
    with pytest.raises(NotFound):
        world.new_batch(world.as_producer, origin_parcels=["522701000000JG99999"])
    with pytest.raises(InvalidInput, match="not in the batch's county"):
        world.new_batch(world.as_producer, region="522634", origin_parcels=[parcel.code])


def test_revoked_keys_sign_nothing_new_and_old_events_stay_verified(world):
    from liangshan.trace import public

    s, b = world.session, world.batch
    old = service.record_event(s, world.as_producer, b.code, ev("harvest", 1))
    signing.revoke_key(s, world.as_producer, old.key_id)
    s.commit()
    doc = service.prepare_event(s, world.as_producer, b.code, ev("storage", 2),
                                key_id=old.key_id)
    with pytest.raises(Forbidden, match="revoked"):
        service.commit_event(s, world.as_producer, doc, bytes(old.signature))
    new = service.record_event(s, world.as_producer, b.code, ev("storage", 2))
    s.commit()
    assert new.key_id != old.key_id
    assert public.public_view(s, b.code)["verification"]["overall"] == "verified"
