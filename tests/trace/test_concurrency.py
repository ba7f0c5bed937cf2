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
