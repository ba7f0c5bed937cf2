"""Registry changes in the transparency log (DESIGN.md §6): one leaf per version row,
one per bulk import.

Leaves are public, so they carry no personal data: an individual holder appears
only as ``"individual"``; geometry appears as the SHA-256 of its WKB. Anyone
holding a parcel's exported row can recompute the hash and check it against the
leaf. The leaf index goes into the audit event of the change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from liangshan.registry.models import ParcelVersion, RightVersion

KIND = "registry"


def _append(session: Session, payload: dict[str, Any]) -> int | None:
    try:
        from liangshan.ledger.service import append_leaf
    except ModuleNotFoundError:  # a build without the ledger keeps no log
        return None
    index, _leaf = append_leaf(session, KIND, payload)
    return index


def geometry_sha256(wkb: bytes) -> str:
    return hashlib.sha256(wkb).hexdigest()


def log_parcel(session: Session, row: ParcelVersion) -> int | None:
    """Append a parcel version to the log; returns the leaf index."""
    return _append(session, {
        "type": "parcel", "code": row.code, "version": row.version,
        "region_code": row.region_code, "resource_type": row.resource_type,
        "status": row.status, "ownership": row.ownership, "owner_name": row.owner_name,
        "area_m2": round(row.area_m2, 2), "geometry_sha256": geometry_sha256(row.geom_wkb),
        "valid_from": row.valid_from.isoformat(), "reason": row.reason})


def log_right(session: Session, row: RightVersion) -> int | None:
    """Append a right version to the log (individual holders left anonymous)."""
    holder = row.holder_name if row.holder_kind != "individual" else "individual"
    return _append(session, {
        "type": "right", "code": row.code, "version": row.version,
        "parcel_code": row.parcel_code, "kind": row.kind, "parent_code": row.parent_code,
        "holder": holder, "share_bp": row.share_bp, "start_date": row.start_date.isoformat(),
        "end_date": row.end_date.isoformat() if row.end_date else None, "status": row.status,
        "document_ref": row.document_ref, "valid_from": row.valid_from.isoformat()})


def log_import(session: Session, rows: Iterable[dict[str, Any]], source: str) -> int | None:
    """One leaf for a bulk import: count, code range and a hash over (code, geometry hash)."""
    digest = hashlib.sha256()
    codes = []
    for r in sorted(rows, key=lambda r: r["code"]):
        codes.append(r["code"])
        digest.update(f"{r['code']}:{geometry_sha256(r['geom_wkb'])}\n".encode())
    if not codes:
        return None
    return _append(session, {"type": "parcel_import", "source": source, "count": len(codes),
                             "first_code": codes[0], "last_code": codes[-1],
                             "rows_sha256": digest.hexdigest()})
