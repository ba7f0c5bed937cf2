"""Clerks of one producer creating batches at the same moment get distinct batch numbers
(separate sessions in threads, on SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from liangshan.db import session_factory
from liangshan.identity.access import Principal
from liangshan.identity.models import Role
from liangshan.trace import codes
from liangshan.trace.schemas import BatchIn
from liangshan.trace.service import create_batch


def test_concurrent_batch_creation_numbers_batches_once(world, db_engine):
    world.session.commit()
    actor = Principal(role=Role.ENTERPRISE, region_code="522701", username="clerk",
                      organisation_id=world.producer.id)

    def create(_i: int) -> str:
        with session_factory(db_engine)() as s:
            b = create_batch(s, actor, BatchIn(
                region_code="522701", product_type="tea_leaf", product_name="鲜叶",
                quantity=1_000, unit="g", event_time=world.later(1)))
            s.commit()
            return b.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(create, range(8)))
    seqs = sorted(int(codes.parse_code(c).batch) for c in made)
    assert seqs == list(range(2, 10))  # batch 1 is the fixture's


def test_a_new_organisations_first_events_in_parallel_register_its_key_once(db_engine):
    from liangshan.identity import service as identity
    from liangshan.identity.access import SYSTEM
    from liangshan.identity.schemas import OrganisationIn

    with session_factory(db_engine)() as s:
        org = identity.create_organisation(s, SYSTEM, OrganisationIn(
            name="新茶厂", kind="enterprise", region_code="522634"))
        s.commit()
        actor = Principal(role=Role.ENTERPRISE, region_code="522634", username="new",
                          organisation_id=org.id)

    def create(i: int) -> str:
        with session_factory(db_engine)() as s:
            b = create_batch(s, actor, BatchIn(
                region_code="522634", product_type="tea" if i % 2 else "tea_leaf",
                product_name="银球茶", quantity=10, unit="g",
                event_time=world_time()))
            s.commit()
            return b.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(create, range(4)))
    assert len(set(made)) == 4


def world_time():
    from datetime import UTC, datetime
    return datetime(2025, 4, 1, tzinfo=UTC)
