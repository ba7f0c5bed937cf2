"""Parcel import and export: GeoPackage, Shapefile and GeoJSON in any CRS.

Import gives a per-row report: each row is accepted or refused with the reason
(bad geometry, missing field, missing or wrong CRS, duplicate code, overlap, region
scope). Accepted rows are registered in bulk, in the registry CRS (metres). Refused
rows change nothing. Export writes to a temporary file and renames it, so a
failed export never leaves a half-written file.

Columns (import accepts these, their Shapefile-truncated forms and the Chinese
aliases below; export writes the short names so all three formats agree):
``code`` (optional), ``region`` (GB/T 2260), ``res_type``, ``ownership``,
``owner`` (holding organisation), ``name`` (optional), ``status`` (optional).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from liangshan.db import utcnow
from liangshan.errors import InvalidInput
from liangshan.identity.access import WRITER_ROLES, Principal
from liangshan.identity.service import record
from liangshan.registry import rules, transparency
from liangshan.registry.models import REGISTRY_CRS, ParcelVersion
from liangshan.registry.schemas import Ownership, ParcelStatus, ResourceType
from liangshan.registry.service import last_code_with_prefix, make_parcel_code

DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON"}

#: Accepted column names → canonical field.
COLUMN_ALIASES = {
    "code": "code", "单元代码": "code", "parcel_code": "code",
    "region": "region_code", "region_code": "region_code", "region_cod": "region_code",
    "行政区代码": "region_code",
    "res_type": "resource_type", "resource_type": "resource_type", "resource_t": "resource_type",
    "资源类型": "resource_type",
    "ownership": "ownership", "所有权": "ownership", "所有权性质": "ownership",
    "owner": "owner_name", "owner_name": "owner_name", "所有权人": "owner_name",
    "name": "name", "名称": "name", "status": "status", "状态": "status",
}
REQUIRED = ("region_code", "resource_type", "ownership", "owner_name")
VALUE_ALIASES = {
    "resource_type": {"森林": "forest", "林地": "forest", "草原": "grassland", "草地": "grassland",
                      "湿地": "wetland", "水流": "water", "水域": "water", "耕地": "cropland",
                      "未利用地": "unused", "荒地": "unused"},
    "ownership": {"全民所有": "state", "国有": "state", "集体所有": "collective", "集体": "collective"},
}
#: Longitude/latitude box of China (degrees): a row outside it after reprojection means a wrong
#: or mislabelled CRS.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
_REGION_RE = re.compile(r"^\d{6}(\d{3})?(\d{3})?$")
_CODE_RE = re.compile(r"^[0-9A-Z]{6,40}$")
CHUNK = 5_000


@dataclass
class RowResult:
    row: int
    code: str | None
    accepted: bool
    reason: str = ""


@dataclass
class ImportReport:
    """Per-row outcome of an import; ``row`` is the 1-based feature number in the source."""

    source: str
    crs: str | None
    rows: list[RowResult] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.rows)

    @property
    def refused(self) -> int:
        return len(self.rows) - self.accepted

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rows],
                            columns=["row", "code", "accepted", "reason"])

    def refusals(self) -> dict[int, str]:
        return {r.row: r.reason for r in self.rows if not r.accepted}


def read_parcel_file(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoPackage/Shapefile/GeoJSON with pyogrio; refuse unknown formats clearly."""
    path = Path(path)
    if path.suffix.lower() not in DRIVERS:
        raise InvalidInput(f"{path}: unknown format '{path.suffix}'",
                           hint="give a .gpkg, .shp or .geojson file")
    if not path.exists():
        raise InvalidInput(f"{path}: no such file", hint="check the path")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several driver-specific errors
        raise InvalidInput(f"{path}: cannot be read as {DRIVERS[path.suffix.lower()]}: "
                           f"{str(exc).splitlines()[0]}",
                           hint="open it in QGIS to check it, or export it again") from None


def import_parcels(session: Session, actor: Principal, path: str | Path, *,
                   layer: str | None = None, assume_crs: str | None = None,
                   reason: str | None = None) -> ImportReport:
    """Import parcels from a file; ``assume_crs`` is used only when the file declares none."""
    gdf = read_parcel_file(path, layer)
    return import_parcel_frame(session, actor, gdf, source=str(path), assume_crs=assume_crs,
                               reason=reason or f"import from {Path(path).name}")


def _normalise(gdf: gpd.GeoDataFrame) -> tuple[pd.DataFrame, list[str]]:
    renamed: dict[str, str] = {}
    for col in gdf.columns:
        key = COLUMN_ALIASES.get(str(col)) or COLUMN_ALIASES.get(str(col).lower())
        if key and key not in renamed.values():
            renamed[col] = key
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).rename(columns=renamed)
    missing = [c for c in REQUIRED if c not in attrs.columns]
    for col in ("code", "name", "status", *REQUIRED):
        if col not in attrs.columns:
            attrs[col] = None
    return attrs, missing


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _field_reason(rec: dict[str, Any]) -> str | None:
    for col in REQUIRED:
        if rec[col] is None:
            return f"missing value in field '{col}'"
    if not _REGION_RE.match(rec["region_code"]):
        return f"region '{rec['region_code']}' is not a 6/9/12-digit GB/T 2260 code"
    if rec["resource_type"] not in ResourceType.__members__.values():
        return (f"res_type '{rec['resource_type']}' unknown; expected one of "
                + ", ".join(ResourceType))
    if rec["ownership"] not in Ownership.__members__.values():
        return f"ownership '{rec['ownership']}' unknown; expected state/全民所有 or collective/集体所有"
    if rec["status"] not in ParcelStatus.__members__.values():
        return f"status '{rec['status']}' unknown; expected one of " + ", ".join(ParcelStatus)
    code = rec["code"]
    if code is not None and (not _CODE_RE.match(code) or not code.startswith(rec["region_code"][:6])):
        return f"code '{code}' must be 6–40 capital letters/digits starting with the county code"
    return None


def import_parcel_frame(session: Session, actor: Principal, gdf: gpd.GeoDataFrame, *,
                        source: str = "(frame)", assume_crs: str | None = None,
                        reason: str = "bulk import") -> ImportReport:
    """Check every row of ``gdf`` and register the acceptable ones in bulk."""
    n = len(gdf)
    crs = gdf.crs
    report = ImportReport(source, None if crs is None else crs.to_string())
    refused: dict[int, str] = {}
    if crs is None and assume_crs is None:
        report.rows = [RowResult(i + 1, None, False, "the file declares no CRS; pass assume_crs "
                                 "(e.g. EPSG:4490 for CGCS2000) or write the file with a CRS")
                       for i in range(n)]
        return report
    if crs is None:
        gdf = gdf.set_crs(assume_crs)
        report.crs = str(assume_crs)
    attrs, missing = _normalise(gdf)
    if missing:
        why = (f"missing field(s) {', '.join(missing)} (file columns: "
               f"{', '.join(map(str, gdf.columns))})")
        report.rows = [RowResult(i + 1, None, False, why) for i in range(n)]
        return report
    recs = []
    for rec in attrs[["code", "name", "status", *REQUIRED]].to_dict("records"):
        rec = {k: _text(v) for k, v in rec.items()}
        for col, aliases in VALUE_ALIASES.items():
            if rec[col] is not None:
                rec[col] = aliases.get(rec[col], rec[col].lower())
        rec["status"] = rec["status"] or "registered"
        rec["region_code"] = rec["region_code"]
        recs.append(rec)

    raw = gdf.geometry.values
    geoms = np.asarray(gdf.geometry.to_crs(REGISTRY_CRS).values, dtype=object)
    wgs = gdf.geometry.to_crs("EPSG:4326").bounds.to_numpy()
    for i in range(n):
        g = raw[i]
        if g is None or g.is_empty:
            refused[i] = "no geometry (empty or null)"
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            refused[i] = f"geometry is a {g.geom_type}; a parcel must be a Polygon or MultiPolygon"
        elif not g.is_valid:
            refused[i] = f"invalid polygon: {shapely.is_valid_reason(g)}"
        elif not np.isfinite(wgs[i]).all() or not (
                CHINA_BOUNDS[0] <= wgs[i][0] and wgs[i][2] <= CHINA_BOUNDS[2]
                and CHINA_BOUNDS[1] <= wgs[i][1] and wgs[i][3] <= CHINA_BOUNDS[3]):
            refused[i] = (f"lies outside China when read as {report.crs} "
                          f"(lon/lat bounds {np.round(wgs[i], 3).tolist()}); is the CRS right?")
        elif (field_why := _field_reason(recs[i])) is not None:
            refused[i] = field_why
        elif actor.role not in WRITER_ROLES or not actor.covers_region(recs[i]["region_code"]):
            refused[i] = f"{actor.label} may not write in region {recs[i]['region_code']}"

    _refuse_duplicate_codes(session, recs, refused)
    _assign_codes(session, recs, refused)
    _refuse_overlaps(session, recs, geoms, refused)

    now = utcnow()
    accepted = [i for i in range(n) if i not in refused]
    if accepted:
        wkb = shapely.to_wkb(geoms[accepted])
        bounds = shapely.bounds(geoms[accepted])
        areas = shapely.area(geoms[accepted])
        rows = []
        for k, i in enumerate(accepted):
            minx, miny, maxx, maxy = (float(v) for v in bounds[k])
            r = recs[i]
            rows.append({
                "code": r["code"], "version": 1, "region_code": r["region_code"],
                "name": r["name"], "resource_type": r["resource_type"], "status": r["status"],
                "ownership": r["ownership"], "owner_name": r["owner_name"], "owner_org_id": None,
                "area_m2": float(areas[k]), "geom_wkb": wkb[k], "minx": minx, "miny": miny,
                "maxx": maxx, "maxy": maxy, "size_class": rules.size_class(minx, miny, maxx, maxy),
                "valid_from": now, "valid_to": None, "recorded_by": actor.user_id,
                "recorded_by_label": actor.label, "reason": reason})
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(ParcelVersion), rows[start:start + CHUNK])
        regions = sorted({recs[i]["region_code"][:6] for i in accepted})
        record(session, actor, "import", "parcel", None,
               region_code=regions[0] if len(regions) == 1 else None,
               detail={"source": source, "accepted": len(accepted), "refused": len(refused),
                       "first_code": recs[accepted[0]]["code"],
                       "last_code": recs[accepted[-1]]["code"],
                       "log_index": transparency.log_import(session, rows, source)},
               reason=reason)
        session.flush()
    report.rows = [RowResult(i + 1, recs[i]["code"], i not in refused, refused.get(i, ""))
                   for i in range(n)]
    return report


def _refuse_duplicate_codes(session: Session, recs: list[dict[str, Any]],
                            refused: dict[int, str]) -> None:
    seen: dict[str, int] = {}
    for i, rec in enumerate(recs):
        code = rec["code"]
        if code is None or i in refused:
            continue
        if code in seen:
            refused[i] = f"duplicate code {code} (also in row {seen[code] + 1})"
        else:
            seen[code] = i
    codes = list(seen)
    for start in range(0, len(codes), 900):  # stay under SQLite's bound-parameter limit
        taken = session.scalars(select(ParcelVersion.code).distinct()
                                .where(ParcelVersion.code.in_(codes[start:start + 900])))
        for code in taken:
            refused[seen[code]] = f"code {code} is already registered; codes are never reused"


def _assign_codes(session: Session, recs: list[dict[str, Any]], refused: dict[int, str]) -> None:
    """Generate codes for rows without one, continuing each prefix's sequence."""
    next_seq: dict[str, int] = {}
    for i, rec in enumerate(recs):
        if rec["code"] is not None or i in refused:
            continue
        prefix = make_parcel_code(rec["region_code"], rec["ownership"], rec["resource_type"], 1)[:14]
        if prefix not in next_seq:
            last = last_code_with_prefix(session, prefix)
            in_file = [r["code"] for r in recs if r["code"] and r["code"].startswith(prefix)]
            seqs = [int(c[14:19]) for c in [last, *in_file] if c and c[14:19].isdigit()]
            next_seq[prefix] = max(seqs, default=0) + 1
        try:
            rec["code"] = make_parcel_code(rec["region_code"], rec["ownership"],
                                           rec["resource_type"], next_seq[prefix])
        except InvalidInput as exc:
            refused[i] = exc.message
        next_seq[prefix] += 1


def _refuse_overlaps(session: Session, recs: list[dict[str, Any]], geoms: np.ndarray,
                     refused: dict[int, str]) -> None:
    """Refuse rows that overlap an earlier accepted row or a registered parcel (same type)."""
    ok = np.array([i for i in range(len(recs)) if i not in refused], dtype=int)
    if ok.size == 0:
        return
    types = np.array([recs[i]["resource_type"] for i in ok], dtype=object)
    mine = geoms[ok]
    tree = shapely.STRtree(mine)
    left, right = tree.query(mine, predicate="intersects")
    keep = (left < right) & (types[left] == types[right])
    left, right = left[keep], right[keep]
    if left.size:
        area = shapely.area(shapely.intersection(mine[left], mine[right]))
        for a, b, ar in sorted(zip(left, right, area, strict=True), key=lambda t: t[1]):
            if ar > rules.OVERLAP_TOLERANCE_M2 and ok[a] not in refused:
                refused[ok[b]] = (f"overlaps row {ok[a] + 1} ({recs[ok[a]]['code']}) by "
                                  f"{ar:.2f} m²")
    # against parcels already registered, by bounding box of the whole batch
    minx, miny, maxx, maxy = shapely.total_bounds(mine)
    query = select(ParcelVersion.code, ParcelVersion.resource_type, ParcelVersion.geom_wkb).where(
        ParcelVersion.valid_to.is_(None), ParcelVersion.status != "cancelled",
        ParcelVersion.resource_type.in_(sorted(set(types))),
        rules.BBOX)
    params = rules.bbox_params(minx, miny, maxx, maxy)
    for code, rtype, wkb in session.execute(query, params).yield_per(CHUNK):
        other = shapely.from_wkb(wkb)
        for k in tree.query(other, predicate="intersects"):
            i = ok[k]
            if i in refused or types[k] != rtype:
                continue
            ar = rules.overlap_area(mine[k], other)
            if ar > rules.OVERLAP_TOLERANCE_M2:
                refused[i] = f"overlaps registered parcel {code} by {ar:.2f} m²"


def parcels_frame(session: Session, *, region_code: str | None = None,
                  at: datetime | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    """Current (or as-of) parcels as a GeoDataFrame with the short export columns."""
    from liangshan.registry.service import _as_of

    query = _as_of(select(ParcelVersion), ParcelVersion, at).order_by(ParcelVersion.code)
    if region_code:
        query = query.where(ParcelVersion.region_code.startswith(region_code))
    rows = list(session.scalars(query))
    gdf = gpd.GeoDataFrame({
        "code": [r.code for r in rows], "region": [r.region_code for r in rows],
        "res_type": [r.resource_type for r in rows], "ownership": [r.ownership for r in rows],
        "owner": [r.owner_name for r in rows], "name": [r.name or "" for r in rows],
        "status": [r.status for r in rows], "area_m2": [r.area_m2 for r in rows],
        "version": [r.version for r in rows]},
        geometry=shapely.from_wkb([r.geom_wkb for r in rows]), crs=REGISTRY_CRS)
    return gdf.to_crs(crs) if crs else gdf


def export_parcels(session: Session, path: str | Path, *, region_code: str | None = None,
                   at: datetime | None = None, crs: str | None = "EPSG:4326") -> Path:
    """Write parcels to ``path`` (format from its suffix); atomic (temp file, then rename)."""
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInput(f"{path}: unknown export format '{path.suffix}'",
                           hint="use .gpkg, .shp or .geojson")
    if crs is not None:
        try:
            pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            raise InvalidInput(f"unknown CRS '{crs}'", hint="give e.g. EPSG:4490") from None
    gdf = parcels_frame(session, region_code=region_code, at=at, crs=crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        gdf.to_file(tmp, driver=driver, engine="pyogrio")
        for produced in tmpdir.iterdir():  # a Shapefile is several sibling files
            os.replace(produced, path.parent / produced.name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
