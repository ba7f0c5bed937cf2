"""Registry rules on both databases: each rule is attacked and must refuse, naming the record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from shapely.geometry import Polygon, box

from liangshan.errors import Conflict, Forbidden, InvalidInput, NotFound
from liangshan.identity import service as identity
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import AuditEvent, Role
from liangshan.identity.schemas import UserIn
from liangshan.registry import service
from liangshan.registry.schemas import ParcelIn, RightIn

X0, Y0 = 500_000.0, 3_000_000.0


def _parcel(session, x=0.0, y=0.0, w=100.0, h=100.0, rtype="forest", code=None, **kw):
    data = ParcelIn(code=code, region_code=kw.pop("region_code", "520381"),
                    resource_type=rtype, ownership=kw.pop("ownership", "collective"),
                    owner_name=kw.pop("owner_name", "丙安村集体经济组织"),
                    geometry=box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h), **kw)
    return service.register_parcel(session, SYSTEM, data)


def _right(session, parcel, kind="contract", parent=None, holder="王某某", start=date(2020, 1, 1),
           end=date(2050, 1, 1), share=10_000, **kw):
    return service.register_right(session, SYSTEM, RightIn(
        parcel_code=parcel.code, kind=kind, parent_code=parent.code if parent else None,
        holder_name=holder, holder_kind=kw.pop("holder_kind", "individual"), share_bp=share,
        start_date=start, end_date=end, document_ref=kw.pop("doc", "赤林承字(2020)第001号"), **kw))


def test_codes_start_with_region_and_are_sequential(db_session):
    a = _parcel(db_session, 0, 0)
    b = _parcel(db_session, 100, 0)
    assert a.code == "520381000000JL00001" and b.code == "520381000000JL00002"
    assert a.area_m2 == pytest.approx(10_000.0)
    with pytest.raises(InvalidInput, match="does not start with its region code"):
        _parcel(db_session, 500, 0, code="520521000000JL00001")
    with pytest.raises(Conflict, match="already registered"):
        _parcel(db_session, 900, 0, code=a.code)


def test_overlap_same_type_refused_naming_the_other_parcel(db_session):
    first = _parcel(db_session, 0, 0)
    with pytest.raises(Conflict, match=f"overlaps parcel {first.code} by 2500.00 m²"):
        _parcel(db_session, 50, 50)


def test_touching_edges_and_other_types_are_fine(db_session):
    _parcel(db_session, 0, 0)
    _parcel(db_session, 100, 0)  # shares the edge x = 100
    _parcel(db_session, 100, 100)  # shares only a corner
    _parcel(db_session, 50, 50, rtype="water")  # a river over forest is another resource
    assert service.list_parcels(db_session)[0] == 4


def test_overlap_found_for_a_large_parcel_far_from_its_bbox_corner(db_session):
    """A big parcel's minx lies far left of the query: the size-class prefilter must reach it."""
    big = _parcel(db_session, 0, 0, w=50_000, h=50_000, rtype="grassland")
    with pytest.raises(Conflict, match=big.code):
        _parcel(db_session, 40_000, 40_000, w=10, h=10, rtype="grassland")


def test_invalid_geometry_refused(db_session):
    bow = Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    with pytest.raises(InvalidInput, match="invalid polygon"):
        service.register_parcel(db_session, SYSTEM, ParcelIn(
            region_code="520381", resource_type="forest", ownership="state",
            owner_name="赤水市林业局", geometry=bow))


def test_update_keeps_history_and_as_of(db_session):
    p = _parcel(db_session, 0, 0)
    t1 = datetime.now(UTC)
    p2 = service.update_parcel(db_session, SYSTEM, p.code, "resurvey 2024",
                               geometry=box(X0, Y0, X0 + 200, Y0 + 100))
    db_session.commit()
    assert p2.version == 2 and p2.area_m2 == pytest.approx(20_000)
    history = service.parcel_history(db_session, p.code)
    assert [h.version for h in history] == [1, 2] and history[0].valid_to is not None
    assert service.parcel_as_of(db_session, p.code, t1).area_m2 == pytest.approx(10_000)
    assert service.parcel_as_of(db_session, p.code).version == 2
    with pytest.raises(NotFound):
        service.parcel_as_of(db_session, p.code, t1 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="needs a reason"):
        service.update_parcel(db_session, SYSTEM, p.code, " ", name="x")


def test_update_into_overlap_refused(db_session):
    a = _parcel(db_session, 0, 0)
    b = _parcel(db_session, 200, 0)
    with pytest.raises(Conflict, match=a.code):
        service.update_parcel(db_session, SYSTEM, b.code, "grow", geometry=box(
            X0 + 50, Y0, X0 + 300, Y0 + 100))


def test_point_and_polygon_lookup(db_session):
    a = _parcel(db_session, 0, 0)
    b = _parcel(db_session, 100, 0)
    assert [p.code for p in service.parcels_at_point(db_session, X0 + 50, Y0 + 50)] == [a.code]
    on_edge = {p.code for p in service.parcels_at_point(db_session, X0 + 100, Y0 + 50)}
    assert on_edge == {a.code, b.code}
    assert service.parcels_at_point(db_session, X0 - 1, Y0 - 1) == []
    found = service.parcels_in_polygon(db_session, box(X0 + 150, Y0 + 10, X0 + 160, Y0 + 20))
    assert [p.code for p in found] == [b.code]


def test_region_scope_enforced(db_session):
    user = identity.create_user(db_session, SYSTEM, UserIn(
        username="dafang", display_name="大方", password="correct horse battery",
        role=Role.COUNTY_OPERATOR, region_code="520521"))
    with pytest.raises(Forbidden):
        service.register_parcel(db_session, identity.principal_of(user), ParcelIn(
            region_code="520381", resource_type="forest", ownership="state",
            owner_name="x", geometry=box(0, 0, 1, 1)))


def test_right_cannot_outlive_or_exceed_parent(db_session):
    p = _parcel(db_session)
    contract = _right(db_session, p, end=date(2030, 1, 1), share=6_000)
    with pytest.raises(Conflict, match=f"inside the term of its parent contract right "
                                       f"{contract.code}"):
        _right(db_session, p, "lease", contract, "合作社", end=date(2031, 1, 1),
               holder_kind="organisation")
    with pytest.raises(Conflict, match=r"exceeds the parent.s 60\.00 %"):
        _right(db_session, p, "lease", contract, "合作社", end=date(2029, 1, 1), share=7_000,
               holder_kind="organisation")
    with pytest.raises(Conflict, match="inside the term"):
        _right(db_session, p, "lease", contract, "合作社", start=date(2019, 1, 1),
               end=date(2029, 1, 1), holder_kind="organisation")


def test_exclusive_rights_cannot_overlap_in_time(db_session):
    p = _parcel(db_session)
    first = _right(db_session, p, end=date(2030, 1, 1))
    with pytest.raises(Conflict, match=f"overlaps in time with contract right {first.code}"):
        _right(db_session, p, holder="李某某", start=date(2029, 6, 1), end=date(2040, 1, 1))
    # after the first ends, a new contract is fine; co-holders with partial shares too
    _right(db_session, p, holder="李某某", start=date(2030, 1, 1), end=date(2040, 1, 1))
    q = _parcel(db_session, 300, 0)
    _right(db_session, q, holder="甲", share=5_000)
    _right(db_session, q, holder="乙", share=5_000)
    with pytest.raises(Conflict, match=r"together 100\.01 %"):
        _right(db_session, q, holder="丙", share=1)


def test_mortgaged_right_cannot_be_transferred_until_released(db_session):
    p = _parcel(db_session)
    contract = _right(db_session, p)
    mortgage = _right(db_session, p, "mortgage", contract, "赤水农商银行",
                      end=date(2027, 1, 1), holder_kind="organisation", amount_fen=50_000_000)
    with pytest.raises(Conflict, match=f"parent {mortgage.code} is a mortgage"):
        _right(db_session, p, "lease", mortgage, "合作社", end=date(2026, 1, 1))
    # a lease may coexist with a mortgage (not exclusive)
    _right(db_session, p, "lease", contract, "合作社", end=date(2024, 6, 1),
           holder_kind="organisation")
    with pytest.raises(Conflict, match=f"mortgage right {mortgage.code}.*not been released"):
        _right(db_session, p, "transfer", contract, "赵某某", start=date(2025, 1, 1))
    service.release_mortgage(db_session, SYSTEM, mortgage.code, date(2024, 12, 1), "loan repaid")
    new = _right(db_session, p, "transfer", contract, "赵某某", start=date(2025, 1, 1))
    db_session.commit()
    old = service.current_right(db_session, contract.code)
    assert old.status == "transferred" and old.end_date == date(2025, 1, 1) and old.version == 2
    assert new.parent_code is None and new.end_date == date(2050, 1, 1)
    on_2024 = {r.holder_name for r in service.rights_of(db_session, p.code,
                                                        in_force_on=date(2024, 6, 1))}
    assert on_2024 == {"王某某", "赤水农商银行"}
    assert [h.status for h in service.right_history(db_session, mortgage.code)] == [
        "active", "released"]


def test_cannot_transfer_past_parent_or_derive_from_ended_right(db_session):
    p = _parcel(db_session)
    contract = _right(db_session, p, end=date(2030, 1, 1))
    with pytest.raises(Conflict, match="inside the term"):
        _right(db_session, p, "transfer", contract, "赵", start=date(2025, 1, 1),
               end=date(2035, 1, 1))
    service.end_right(db_session, SYSTEM, contract.code, date(2025, 1, 1), "surrendered")
    with pytest.raises(Conflict, match="is terminated"):
        _right(db_session, p, "lease", contract, "合作社", end=date(2026, 1, 1))


def test_view_redacts_individuals_and_every_write_is_audited(db_session):
    p = _parcel(db_session)
    _right(db_session, p, holder="王小明", holder_id_number="520381199001011234")
    db_session.commit()
    view = service.parcel_view(db_session, p.code)
    assert view.rights[0].holder_name == "王**" and view.rights[0].holder_id_number is None
    # placeholders every view has; other domains may add their own (VIEW_EXTENSIONS)
    assert {"gep_vep", "credits", "loans", "compensation"} <= set(view.links)
    full = service.parcel_view(db_session, p.code, show_personal=True)
    assert full.rights[0].holder_id_number == "520381199001011234"
    holders = service.parcels_of_holder(db_session, "王小明")
    assert [h.code for h in holders] == [p.code]
    actions = [e.action for e in db_session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions == ["register", "register"]


def test_parcel_cannot_move_county(db_session):
    p = _parcel(db_session)
    with pytest.raises(InvalidInput, match="cannot move from county 520381 to 520521"):
        service.update_parcel(db_session, SYSTEM, p.code, "typo", region_code="520521")
