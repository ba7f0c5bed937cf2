"""Fixtures of the trace tests: organisations, principals and a small tea batch.

Helpers are methods of :class:`World` so that test modules import nothing from here
(the suite runs in both rootdir and package import modes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM, Principal
from liangshan.identity.models import Organisation, Role
from liangshan.identity.schemas import OrganisationIn
from liangshan.trace import service
from liangshan.trace.models import TraceBatch
from liangshan.trace.schemas import BatchIn

T0 = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)


@dataclass
class World:
    session: Session
    producer: Organisation
    buyer: Organisation
    bureau: Organisation
    household: Organisation
    as_producer: Principal
    as_buyer: Principal
    as_bureau: Principal
    as_household: Principal
    batch: TraceBatch

    @staticmethod
    def later(hours: float) -> datetime:
        return later(hours)

    def new_batch(self, actor: Principal, **kw) -> TraceBatch:
        return new_batch(self.session, actor, **kw)


def principal(org: Organisation, role: Role = Role.ENTERPRISE) -> Principal:
    return Principal(role=role, region_code=org.region_code, username=f"user-of-{org.id}",
                     organisation_id=org.id)


def org(session: Session, name: str, kind: str, region: str) -> Organisation:
    return identity.create_organisation(session, SYSTEM, OrganisationIn(
        name=name, kind=kind, region_code=region))


def new_batch(session: Session, actor: Principal, *, region: str = "522701",
              product_type: str = "tea_leaf", quantity: int = 500_000, at: datetime = T0,
              **extra) -> TraceBatch:
    return service.create_batch(session, actor, BatchIn(
        region_code=region, product_type=product_type, product_name="都匀毛尖鲜叶",
        quantity=quantity, unit="g", event_time=at, **extra))


@pytest.fixture
def world(db_session: Session) -> World:
    s = db_session
    producer = org(s, "都匀毛尖茶业有限公司", "enterprise", "522701")
    buyer = org(s, "黔南茶叶批发公司", "enterprise", "522701")
    bureau = org(s, "都匀市农业农村局", "government", "522701")
    household = org(s, "王某某", "individual", "522701")
    as_producer = principal(producer)
    batch = new_batch(s, as_producer)
    s.commit()
    return World(s, producer, buyer, bureau, household, as_producer, principal(buyer),
                 principal(bureau, Role.DEPARTMENT_STAFF), principal(household), batch)


def later(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)
