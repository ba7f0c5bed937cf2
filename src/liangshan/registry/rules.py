"""Registry rules: geometry checks, the spatial prefilter, overlap and right conflicts.

Every refusal is a :class:`~liangshan.errors.Conflict` (or InvalidInput) whose
message names the conflicting record, so an operator can look it up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from liangshan.errors import Conflict, InvalidInput
from liangshan.registry.models import ParcelVersion, RightVersion
from liangshan.registry.schemas import EXCLUSIVE_KINDS, RightKind, RightStatus

#: Overlap below this area (m²) is treated as touching: clipped or reprojected edges carry
#: floating-point slivers. 0.01 m² is far below any survey accuracy.
OVERLAP_TOLERANCE_M2 = 0.01
#: Largest size class searched: 2**26 m ≈ 67,000 km, more than the Earth's circumference.
MAX_SIZE_CLASS = 26


def size_class(minx: float, miny: float, maxx: float, maxy: float) -> int:
    """``ceil(log2(max(width, height, 1)))`` of a bounding box in metres."""
    span = max(maxx - minx, maxy - miny, 1.0)
    return min(MAX_SIZE_CLASS, max(0, math.ceil(math.log2(span))))


def check_polygon(geom: object, where: str) -> BaseGeometry:
    """Refuse anything that is not a valid, non-empty (Multi)Polygon; return it."""
    if not isinstance(geom, BaseGeometry):
        raise InvalidInput(f"{where}: no geometry", hint="give a Polygon or MultiPolygon")
    if geom.is_empty:
        raise InvalidInput(f"{where}: the geometry is empty", hint="give a non-empty polygon")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"{where}: geometry is a {geom.geom_type}, expected a Polygon or "
                           "MultiPolygon", hint="a parcel is an area; buffer lines or points first")
    if not geom.is_valid:
        raise InvalidInput(f"{where}: invalid polygon ({shapely.is_valid_reason(geom)})",
                           hint="repair it (e.g. shapely.make_valid or QGIS 'Fix geometries')")
    if geom.area <= 0:
        raise InvalidInput(f"{where}: the polygon has zero area", hint="check the coordinates")
    return geom


def _bbox_clause() -> ColumnElement[bool]:
    P = ParcelVersion
    per_class = [and_(P.size_class == k, P.minx >= bindparam(f"bb_lo{k}"),
                      P.minx <= bindparam("bb_maxx"))
                 for k in range(MAX_SIZE_CLASS + 1)]
    return and_(or_(*per_class), P.maxx >= bindparam("bb_minx"), P.miny <= bindparam("bb_maxy"),
                P.maxy >= bindparam("bb_miny"))


#: SQL condition "the parcel's bounding box intersects (or touches) the query box": one narrow
#: ``(size_class, minx)`` index range per size class (see models). Built once, because building
#: this expression costs more than running it; bind its values with :func:`bbox_params`.
BBOX = _bbox_clause()


def bbox_params(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, float]:
    """Bind values of :data:`BBOX` for a query box in the registry CRS (m)."""
    params = {f"bb_lo{k}": minx - 2.0 ** k for k in range(MAX_SIZE_CLASS + 1)}
    params.update(bb_minx=minx, bb_miny=miny, bb_maxx=maxx, bb_maxy=maxy)
    return params


def overlap_area(a: BaseGeometry, b: BaseGeometry) -> float:
    """Area (m²) shared by two polygons; 0 when they only touch."""
    if not a.intersects(b):
        return 0.0
    return float(a.intersection(b).area)


def check_no_overlap(session: Session, code: str | None, resource_type: str,
                     geom: BaseGeometry) -> None:
    """Refuse ``geom`` if it overlaps a current parcel of the same resource type.

    Touching edges are fine (overlap ≤ :data:`OVERLAP_TOLERANCE_M2`).
    """
    minx, miny, maxx, maxy = geom.bounds
    query = select(ParcelVersion.code, ParcelVersion.geom_wkb).where(
        ParcelVersion.valid_to.is_(None),
        ParcelVersion.resource_type == resource_type,
        ParcelVersion.status != "cancelled",
        BBOX,
    )
    if code is not None:
        query = query.where(ParcelVersion.code != code)
    shapely.prepare(geom)
    for other_code, wkb in session.execute(query, bbox_params(minx, miny, maxx, maxy)):
        area = overlap_area(geom, shapely.from_wkb(wkb))
        if area > OVERLAP_TOLERANCE_M2:
            raise Conflict(
                f"parcel {code or '(new)'} ({resource_type}) overlaps parcel {other_code} "
                f"by {area:.2f} m²",
                hint=f"correct the boundary, or change parcel {other_code} first; parcels of "
                "one resource type may touch but not overlap",
            )


def _term(right: RightVersion) -> tuple[date, date]:
    return right.start_date, right.end_date or date.max


def _describe(r: RightVersion) -> str:
    end = r.end_date.isoformat() if r.end_date else "open-ended"
    return f"{r.kind} right {r.code} of {r.holder_name} ({r.start_date.isoformat()}–{end})"


def check_within_parent(parent: RightVersion, start: date, end: date | None,
                        share_bp: int, code: str) -> None:
    """A right cannot outlive, predate or exceed its parent right."""
    p_start, p_end = _term(parent)
    if parent.status != RightStatus.ACTIVE:
        raise Conflict(f"right {code}: parent {_describe(parent)} is {parent.status}",
                       hint="derive rights only from an active right")
    if start < p_start or (end or date.max) > p_end:
        raise Conflict(f"right {code} ({start.isoformat()}–"
                       f"{end.isoformat() if end else 'open-ended'}) does not fit inside the term "
                       f"of its parent {_describe(parent)}",
                       hint="shorten the term to end no later than the parent right")
    if share_bp > parent.share_bp:
        raise Conflict(f"right {code}: share {share_bp / 100:.2f} % exceeds the parent's "
                       f"{parent.share_bp / 100:.2f} % ({_describe(parent)})",
                       hint="a derived right cannot be larger than the right it comes from")


def check_exclusive(siblings: Sequence[RightVersion], kind: str, start: date, end: date | None,
                    share_bp: int, cap_bp: int, code: str) -> None:
    """Exclusive rights under one parent may not overlap in time beyond the parent's share.

    Co-holders with partial shares (e.g. 2 × 50 %) may coexist; a full-share right and any
    other exclusive right overlapping it in time may not.
    """
    if kind not in EXCLUSIVE_KINDS:
        return
    s, e = start, end or date.max
    overlapping = [r for r in siblings
                   if r.kind in EXCLUSIVE_KINDS and r.status == RightStatus.ACTIVE
                   and r.start_date < e and s < (r.end_date or date.max)]
    used = sum(r.share_bp for r in overlapping)
    if used + share_bp > cap_bp:
        names = "; ".join(_describe(r) for r in overlapping)
        raise Conflict(f"right {code} ({kind}, {share_bp / 100:.2f} %) overlaps in time with "
                       f"{names}: together {(used + share_bp) / 100:.2f} % of "
                       f"{cap_bp / 100:.2f} %",
                       hint="end or transfer the existing right first, or register shares that "
                       "add up to no more than the whole")


def check_no_active_mortgage(children: Sequence[RightVersion], right_code: str,
                             on: date) -> None:
    """A mortgaged right cannot be transferred until the mortgagee releases the mortgage."""
    for r in children:
        if (r.kind == RightKind.MORTGAGE and r.status == RightStatus.ACTIVE
                and (r.end_date is None or r.end_date > on)):
            raise Conflict(f"right {right_code} is mortgaged: {_describe(r)} has not been "
                           "released",
                           hint=f"the mortgagee ({r.holder_name}) must release mortgage {r.code} "
                           "first (release_mortgage)")
