"""Registry changes enter the transparency log without personal data."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import geopandas as gpd
from shapely.geometry import box
from sqlalchemy import select

from liangshan.identity.access import SYSTEM
from liangshan.identity.models import AuditEvent
from liangshan.ledger.service import get_leaf
from liangshan.registry import io, service
from liangshan.registry.models import REGISTRY_CRS
from liangshan.registry.schemas import ParcelIn, RightIn


def _leaf(session, action):
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                            .order_by(AuditEvent.id.desc())).first()
    leaf = get_leaf(session, event.detail["log_index"])
    return leaf.kind, json.loads(leaf.payload)


def test_parcel_and_right_leaves(db_session):
    p = service.register_parcel(db_session, SYSTEM, ParcelIn(
        region_code="520381", resource_type="forest", ownership="collective",
        owner_name="丙安村", geometry=box(0, 3_150_000, 100, 3_150_100)))
    service.register_right(db_session, SYSTEM, RightIn(
        parcel_code=p.code, kind="contract", holder_name="王小明", holder_kind="individual",
        holder_id_number="520381199001011234", start_date=date(2020, 1, 1), document_ref="c1"))
    kind, parcel_leaf = _leaf(db_session, "register")
    assert kind == "registry" and parcel_leaf["type"] == "right"
    assert parcel_leaf["holder"] == "individual"
    assert "王小明" not in json.dumps(parcel_leaf, ensure_ascii=False)
    first = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    leaf = json.loads(get_leaf(db_session, first.detail["log_index"]).payload)
    assert leaf["geometry_sha256"] == hashlib.sha256(p.geom_wkb).hexdigest()


def test_import_leaf_hash_can_be_recomputed(db_session):
    frame = gpd.GeoDataFrame({"region": ["520381"] * 2, "res_type": ["forest"] * 2,
                              "ownership": ["state"] * 2, "owner": ["林场"] * 2},
                             geometry=[box(0, 3_150_000, 100, 3_150_100),
                                       box(100, 3_150_000, 200, 3_150_100)], crs=REGISTRY_CRS)
    report = io.import_parcel_frame(db_session, SYSTEM, frame, source="t")
    _kind, leaf = _leaf(db_session, "import")
    digest = hashlib.sha256()
    for code in sorted(r.code for r in report.rows):
        wkb = service.current_parcel(db_session, code).geom_wkb
        digest.update(f"{code}:{hashlib.sha256(wkb).hexdigest()}\n".encode())
    assert leaf["count"] == 2 and leaf["rows_sha256"] == digest.hexdigest()
