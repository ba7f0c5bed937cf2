"""The public view: verified chains, recalls at once, tampering flagged, no personal data."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from liangshan.ledger import service as ledger
from liangshan.trace import lineage, public, service
from liangshan.trace.schemas import EventIn, InputUse
from tests.tampering import tamper as tamper_rows


def tamper(session: Session, sql: str, params: dict) -> None:
    """One SQL change behind the application's back (ledger triggers switched off)."""
    tamper_rows(session, (sql, params))


def _history(world):
    s, b = world.session, world.batch
    service.record_event(s, world.as_producer, b.code, EventIn(
        biz_step="planting", event_time=world.later(1), inputs_used=[InputUse(
            kind="fertiliser", name="菜籽饼肥", amount="150", unit="kg/亩")]))
    harvest = service.record_event(s, world.as_producer, b.code,
                                   EventIn(biz_step="harvest", event_time=world.later(2)))
    s.commit()
    return harvest


def test_an_untouched_chain_is_verified(world):
    _history(world)
    view = public.public_view(world.session, world.batch.code, with_proofs=True)
    assert view["verification"]["overall"] == "verified"
    assert [e["verification"]["status"] for e in view["events"]] == ["verified"] * 3
    assert view["events"][1]["how"]["inputs_used"][0]["name"] == "菜籽饼肥"
    proof = view["events"][2]["proof"]
    assert proof["tree_size"] == view["log"]["tree_size"] and proof["hashes"]
    assert view["log"]["verified"] and view["status"] == "active"


def test_a_changed_log_leaf_is_flagged_by_verify_log_and_the_public_page(world):
    harvest = _history(world)
    s = world.session
    public.public_view(s, world.batch.code)  # a checkpoint is signed over the honest log
    forged = bytes(ledger.get_leaf(s, harvest.log_index).payload).replace(
        b'"harvest"', b'"inspection"')
    tamper(s, "UPDATE ledger_log_leaves SET payload = :p WHERE leaf_index = :i",
           {"p": forged, "i": harvest.log_index})
    problems = ledger.verify_log(s)
    assert any(p.table == "ledger_log_leaves" and f"index {harvest.log_index}" in p.row
               and "content changed" in p.message for p in problems)
    view = public.public_view(s, world.batch.code)
    assert view["verification"]["overall"] == "failed"
    flagged = [e for e in view["events"] if e["verification"]["status"] == "failed"]
    assert [e["event_id"] for e in flagged] == [harvest.event_id]
    assert "log's copy of this event" in flagged[0]["verification"]["reasons"][0]


def test_an_event_changed_everywhere_is_flagged_by_verify_log_and_the_public_page(world):
    """The attacker rewrites the event row, its log leaf and the leaf hash consistently;
    the signed checkpoint and the stored tree nodes still betray it."""
    import json

    from liangshan.ledger.log import leaf_input
    from liangshan.ledger.merkle import hash_leaf

    harvest = _history(world)
    s = world.session
    public.public_view(s, world.batch.code)
    doc = dict(harvest.document, why={**harvest.document["why"], "biz_step": "inspection"})
    payload = ledger.canonical_json(service.leaf_payload(doc, bytes(harvest.signature)))
    tamper(s, "UPDATE trace_events SET document = :d, biz_step = 'inspection' "
           "WHERE event_id = :e", {"d": json.dumps(doc), "e": harvest.event_id})
    tamper(s, "UPDATE ledger_log_leaves SET payload = :p, leaf_hash = :h WHERE leaf_index = :i",
           {"p": payload, "h": hash_leaf(leaf_input("trace", payload)), "i": harvest.log_index})
    assert ledger.verify_log(s), "verify_log must report the rewritten leaf"
    view = public.public_view(s, world.batch.code)
    bad = next(e for e in view["events"] if e["event_id"] == harvest.event_id)
    assert view["verification"]["overall"] == "failed"
    assert any("transparency log" in r for r in bad["verification"]["reasons"])
    assert any("signature" in r for r in bad["verification"]["reasons"])


def test_a_changed_event_row_is_flagged_by_the_public_page(world):
    harvest = _history(world)
    s = world.session
    doc = dict(harvest.document, how={**harvest.document["how"], "notes": "有机 organic"})
    import json
    tamper(s, "UPDATE trace_events SET document = :d WHERE event_id = :e",
           {"d": json.dumps(doc), "e": harvest.event_id})
    view = public.public_view(s, world.batch.code)
    assert view["verification"]["overall"] == "failed"
    bad = next(e for e in view["events"] if e["event_id"] == harvest.event_id)
    assert bad["verification"]["status"] == "failed"
    assert any("signature" in r for r in bad["verification"]["reasons"])


def test_a_changed_batch_quantity_is_flagged(world):
    _history(world)
    tamper(world.session, "UPDATE trace_batches SET quantity = 900000 WHERE id = :i",
           {"i": world.batch.id})
    view = public.public_view(world.session, world.batch.code)
    assert view["verification"]["overall"] == "failed"
    assert any("quantity" in p for p in view["verification"]["problems"])


def test_a_recall_shows_at_once_on_every_descendant(world):
    s = world.session
    part, _rest = lineage.split(s, world.as_producer, world.batch.code, [1_000, 2_000],
                                world.later(1))
    assert public.public_view(s, part.code)["status"] == "active"
    service.recall(s, world.as_bureau, world.batch.code, "农残超标 residue over limit", world.later(2))
    s.commit()
    view = public.public_view(s, part.code)
    assert view["status"] == "recalled"
    assert view["recall"]["reason"] == "农残超标 residue over limit"


def test_households_are_never_named(world):
    s = world.session
    b = world.new_batch(world.as_household)
    s.commit()
    view = public.public_view(s, b.code)
    assert world.household.name not in repr(view)
    assert view["producer"]["name"].startswith("农户")
    assert view["producer"]["id"] is None


@pytest.mark.parametrize("bad", ["522701", "nonsense-code-000000000000"])
def test_public_view_refuses_malformed_codes(world, bad):
    from liangshan.errors import InvalidInput
    with pytest.raises(InvalidInput):
        public.public_view(world.session, bad)


def test_the_json_proofs_verify_offline_with_the_log_key(world):
    """A client holding only the JSON and the log's public key checks every event with
    the ledger's offline bundle verifier."""
    import base64

    from liangshan.ledger.bundle import verify_bundle
    from liangshan.ledger.note import parse_verifier_key

    _history(world)
    view = public.public_view(world.session, world.batch.code, with_proofs=True)
    key = parse_verifier_key(view["log"]["log_key"])
    for e in view["events"]:
        p = e["proof"]
        bundle = {"index": p["log_index"], "kind": "trace", "payload": p["payload"],
                  "tree_size": p["tree_size"], "hashes": p["hashes"],
                  "checkpoint": view["log"]["note"]}
        _cp, payload = verify_bundle(bundle, key)
        assert e["event_id"].encode() in payload
        assert base64.b64decode(p["payload"]) == payload


def test_the_html_page_says_plainly_when_an_event_fails(world):
    from liangshan.trace.api import _env

    harvest = _history(world)
    s = world.session
    import json
    doc = dict(harvest.document, how={**harvest.document["how"], "notes": "特级"})
    tamper(s, "UPDATE trace_events SET document = :d WHERE event_id = :e",
           {"d": json.dumps(doc), "e": harvest.event_id})
    html = _env.get_template("trace_public.html").render(
        v=public.public_view(s, world.batch.code), json_url="/t/x.json")
    assert "验证失败 Verification FAILED" in html and "✘ failed" in html
    assert "已验证 Verified" not in html


def test_origin_shows_published_gep_and_vep(world):
    """A published county GEP (1 500.00 yuan = 150 000 fen) and a parcel VEP line of
    250.00 yuan appear with the origin parcel; drafts do not."""
    import pandas as pd

    from liangshan.accounts import service as accounts
    from liangshan.accounts.schemas import AccountIn
    from liangshan.identity.access import SYSTEM

    s = world.session
    parcel = "522701000000JG00001"

    def account(aid, kind, region, lines):
        return AccountIn(id=aid, kind=kind, title="t", region_code="522701", year=2024,
                         profile="ndrc-2022", manifest={"x": aid}, lines=pd.DataFrame({
                             "region_code": ["522701"] * len(lines),
                             "item": [r for r, _ in lines],
                             "service_class": ["regulating"] * len(lines),
                             "indicator": ["water_conservation"] * len(lines),
                             "value_fen": [v for _, v in lines]}))

    accounts.store(s, SYSTEM, account("g" * 64, "GEP", "522701", [("522701", 150_000)]))
    accounts.publish(s, SYSTEM, "g" * 64)
    accounts.store(s, SYSTEM, account("v" * 64, "VEP", "522701",
                                      [(parcel, 25_000), ("522701000000JG00002", 7)]))
    b = world.new_batch(world.as_producer, origin_parcels=[])
    s.commit()
    values = public._values(s, parcel)
    assert values["county_gep"]["value_yuan"] == "1500.00" and "parcel_vep" not in values
    accounts.publish(s, SYSTEM, "v" * 64)
    s.commit()
    assert public._values(s, parcel)["parcel_vep"]["value_yuan"] == "250.00"
    assert public.public_view(s, b.code)["origin"]["parcels"] == []
