"""Shared set-up for market tests: organisations, parcels, money, issued units."""

from __future__ import annotations

from datetime import date

from shapely.geometry import box
from sqlalchemy.orm import Session

from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.schemas import OrganisationIn
from liangshan.market import service
from liangshan.market.schemas import IssueIn
from liangshan.registry import service as registry
from liangshan.registry.schemas import ParcelIn

X0, Y0 = 500_000.0, 3_000_000.0


def org(session: Session, name: str, kind: str = "enterprise", region: str | None = None) -> int:
    return identity.create_organisation(session, SYSTEM, OrganisationIn(
        name=name, kind=kind, region_code=region)).id


def parcel(session: Session, i: int = 0, *, side: float = 100.0, rtype: str = "forest",
           region: str = "520381") -> str:
    """A square parcel of side² m² at a position that never overlaps parcel i±1."""
    data = ParcelIn(region_code=region, resource_type=rtype, ownership="collective",
                    owner_name="丙安村集体经济组织",
                    geometry=box(X0 + i * 1000, Y0, X0 + i * 1000 + side, Y0 + side))
    return registry.register_parcel(session, SYSTEM, data).code


def issue_project(session: Session, holder: int, qty: int, *, instrument: str = "EMIS-COD",
                  key: str = "i1", project: str = "P-1", year: int = 2024,
                  beneficiaries: list[dict] | None = None):
    return service.issue(session, SYSTEM, IssueIn(
        instrument=instrument, vintage=year, quantity=qty, holder_org_id=holder,
        period_start=date(year, 1, 1), period_end=date(year, 12, 31),
        verification_ref="监测报告-001", idempotency_key=key, project_ref=project,
        region_code="520381", beneficiaries=beneficiaries or []))
