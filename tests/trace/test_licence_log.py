"""Brand licence states in the transparency log: every grant, suspension, reinstatement,
revocation and expiry is a leaf; a licence row changed behind the application is flagged by
``liangshan log verify`` and by the public page (as the issue asks of events)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from liangshan.identity.access import SYSTEM
from liangshan.ledger import service as ledger
from liangshan.ledger.log import leaves_of_kind
from liangshan.trace import brands, public
from liangshan.trace.models import BrandLicence
from liangshan.trace.schemas import BrandIn, Certificate, LicenceIn
from tests.tampering import tamper

GREEN = Certificate(type="green_food", number="LB-2025-001", issuer="中国绿色食品发展中心",
                    valid_from=date(2025, 1, 1), valid_to=date(2099, 12, 31))


@pytest.fixture
def branded(world):
    """A brand, a licence valid until 2099 and a batch claiming the brand."""
    s = world.session
    b = brands.create_brand(s, SYSTEM, BrandIn(
        code="duyun-maojian", name="都匀毛尖", kind="regional_public_brand",
        manager_org_id=world.bureau.id, region_prefixes=["5227"],
        product_types=["tea_leaf", "tea"], required_certifications=["green_food"]))
    lic = brands.grant_licence(s, world.as_bureau, b.code, LicenceIn(
        licensee_org_id=world.producer.id, product_types=["tea_leaf", "tea"],
        valid_from=date(2025, 1, 1), valid_to=date(2099, 1, 1)))
    batch = world.new_batch(world.as_producer, brand_code=b.code, certifications=[GREEN])
    s.commit()
    return b, lic, batch


def _states(session, number: str) -> list[tuple[int, dict]]:
    return [(i, json.loads(p)) for i, p in leaves_of_kind(
        session, brands.LEAF_KIND, containing=brands.number_needle(number))]


def test_every_change_of_a_licence_is_a_leaf_chained_to_the_one_before(world, branded):
    s = world.session
    _b, lic, batch = branded
    brands.set_licence_status(s, world.as_bureau, lic.id, "suspended", "抽检不合格")
    brands.set_licence_status(s, world.as_bureau, lic.id, "active", "整改完成")
    brands.set_licence_status(s, world.as_bureau, lic.id, "revoked", "冒用")
    s.commit()
    states = _states(s, lic.number)
    assert [st["change"] for _i, st in states] == ["grant", "suspend", "reinstate", "revoke"]
    assert [st["status"] for _i, st in states] == ["active", "suspended", "active", "revoked"]
    assert [st["previous"] for _i, st in states] == [None] + [i for i, _st in states[:-1]]
    assert lic.log_index == states[-1][0]
    assert states[-1][1]["status_reason"] == "冒用" and states[-1][1]["brand"] == "duyun-maojian"
    assert ledger.verify_log(s) == []
    view = public.public_view(s, batch.code)
    assert view["brand"]["licence"]["status"] == "revoked"
    assert view["brand"]["licence"]["log"]["status"] == "verified"
    assert view["verification"]["overall"] == "verified"


def test_expiry_is_logged_once(world, branded):
    s = world.session
    _b, lic, _batch = branded
    assert brands.expire_licences(s, SYSTEM, date(2098, 12, 31)) == []
    assert [r.number for r in brands.expire_licences(s, SYSTEM, date(2099, 1, 1))] == [lic.number]
    assert brands.expire_licences(s, SYSTEM, date(2099, 6, 1)) == []
    s.commit()
    last = _states(s, lic.number)[-1][1]
    assert (last["change"], last["status"]) == ("expire", "expired")
    assert "2099-01-01" in last["status_reason"]
    assert brands.check_licence(s, "duyun-maojian", world.producer.id, "tea",
                                date(2098, 6, 1), [GREEN.model_dump(mode="json")]
                                ).status == "expired"
    with pytest.raises(Exception, match="final"):
        brands.set_licence_status(s, world.as_bureau, lic.id, "active", "续期")
    assert ledger.verify_log(s) == []


def test_a_licence_reinstated_in_the_database_is_flagged_by_log_verify_and_the_page(
        world, branded, db_engine):
    s = world.session
    _b, lic, batch = branded
    brands.set_licence_status(s, world.as_bureau, lic.id, "revoked", "冒用")
    s.commit()
    assert not public.public_view(s, batch.code)["brand"]["licence"]["ok"]
    tamper(s, ("UPDATE trace_brand_licences SET status = 'active', status_reason = NULL "
               "WHERE id = :i", {"i": lic.id}))
    problems = [p for p in ledger.verify_log(s) if p.table == "trace_brand_licences"]
    assert len(problems) == 1 and lic.number in problems[0].row
    assert "status" in problems[0].message and "status_reason" in problems[0].message
    view = public.public_view(s, batch.code)
    licence = view["brand"]["licence"]
    assert licence["ok"] is False and licence["log"]["status"] == "failed"
    assert "differs from its state in the transparency log" in licence["log"]["reasons"][0]
    assert view["verification"]["overall"] == "failed"
    # the command a supervisor runs (same database, same data directory)
    env = {**os.environ, "LIANGSHAN_DATABASE_URL":
           db_engine.url.render_as_string(hide_password=False)}
    out = subprocess.run([sys.executable, "-m", "liangshan.cli", "log", "verify"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "trace_brand_licences" in out.stdout and lic.number in out.stdout


def test_a_licence_set_back_to_an_older_logged_state_is_flagged(world, branded):
    """Status and log_index both set back to the grant: the row equals an old leaf, but
    the log holds a newer state of the same licence."""
    s = world.session
    _b, lic, batch = branded
    grant_index = lic.log_index
    brands.set_licence_status(s, world.as_bureau, lic.id, "revoked", "冒用")
    s.commit()
    tamper(s, ("UPDATE trace_brand_licences SET status = 'active', status_reason = NULL, "
               "status_changed_at = NULL, log_index = :g WHERE id = :i",
               {"g": grant_index, "i": lic.id}))
    problems = [p for p in ledger.verify_log(s) if p.table == "trace_brand_licences"]
    assert any("latest logged state" in p.message for p in problems)
    licence = public.public_view(s, batch.code)["brand"]["licence"]
    assert licence["ok"] is False
    assert any("old state" in r for r in licence["log"]["reasons"])


def test_a_licence_inserted_behind_the_application_is_flagged(world, branded):
    s = world.session
    b, _lic, _batch = branded
    tamper(s, ("INSERT INTO trace_brand_licences (number, brand_id, licensee_org_id, "
               "product_types, valid_from, valid_to, status, created_at) VALUES "
               "('FAKE-1', :b, :o, '[\"tea_leaf\"]', '2025-01-01', '2099-01-01', 'active', "
               "'2025-01-01 00:00:00')", {"b": b.id, "o": world.buyer.id}))
    problems = [p for p in ledger.verify_log(s) if p.table == "trace_brand_licences"]
    assert [p.row.split()[-1] for p in problems] == ["(FAKE-1)"]
    assert "not in the log" in problems[0].message
    buyer_batch = world.new_batch(world.as_buyer, brand_code=b.code, certifications=[GREEN])
    s.commit()
    licence = public.public_view(s, buyer_batch.code)["brand"]["licence"]
    assert licence["ok"] is False and licence["log"]["status"] == "failed"


def test_a_changed_event_row_is_flagged_by_log_verify(world):
    """The issue's 'done when': an event changed in the database is named by log verify."""
    from liangshan.trace import service
    from liangshan.trace.schemas import EventIn

    s = world.session
    ev = service.record_event(s, world.as_producer, world.batch.code, EventIn(
        biz_step="harvest", event_time=world.later(1)))
    s.commit()
    assert ledger.verify_log(s) == []
    doc = dict(ev.document, how={**ev.document["how"], "notes": "有机 organic"})
    tamper(s, ("UPDATE trace_events SET document = :d WHERE event_id = :e",
               {"d": json.dumps(doc), "e": ev.event_id}))
    problems = ledger.verify_log(s)
    assert [(p.table, "content changed" in p.message) for p in problems] == [
        ("trace_events", True)]
    assert ev.event_id in problems[0].row


def test_licence_rows_record_their_latest_leaf(world, branded):
    s = world.session
    _b, lic, _batch = branded
    row = s.get(BrandLicence, lic.id)
    assert row is not None and row.log_index == _states(s, lic.number)[-1][0]


def test_licences_granted_before_logging_are_flagged_until_backfilled(world, branded):
    """A row without a logged state (as after migration 0008) fails the page and log verify;
    log_unlogged_licences logs its current state once, and both pass again."""
    s = world.session
    _b, lic, batch = branded
    tamper(s, ("UPDATE trace_brand_licences SET log_index = NULL WHERE id = :i",
               {"i": lic.id}))
    # the grant leaf stays in the log: a NULL row is also "not its latest state"
    assert public.public_view(s, batch.code)["brand"]["licence"]["log"]["status"] == "failed"
    assert [r.number for r in brands.log_unlogged_licences(s, SYSTEM)] == [lic.number]
    assert brands.log_unlogged_licences(s, SYSTEM) == []
    s.commit()
    assert _states(s, lic.number)[-1][1]["change"] == "backfill"
    assert [p for p in ledger.verify_log(s) if p.table == "trace_brand_licences"] == []
    assert public.public_view(s, batch.code)["brand"]["licence"]["log"]["status"] == "verified"


def test_the_daily_expiry_command_expires_and_logs_ended_licences(world, branded, db_engine):
    s = world.session
    _b, lic, _batch = branded
    env = {**os.environ, "LIANGSHAN_DATABASE_URL":
           db_engine.url.render_as_string(hide_password=False)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "liangshan.cli", "trace", *args],
                              capture_output=True, text=True, env=env, timeout=300)

    bad = run("expire-licences", "--on", "2099-13-01")
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    early = run("expire-licences", "--on", "2098-12-31")
    assert early.returncode == 0 and "0 licence(s) expired" in early.stdout
    due = run("expire-licences", "--on", "2099-01-01")
    assert due.returncode == 0 and lic.number in due.stdout, due.stdout + due.stderr
    s.expire_all()
    assert s.get(BrandLicence, lic.id).status == "expired"
    assert _states(s, lic.number)[-1][1]["change"] == "expire"
    assert ledger.verify_log(s) == []
    assert "0 licence(s) logged" in run("log-licences").stdout
