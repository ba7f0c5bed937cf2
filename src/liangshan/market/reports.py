"""Public registry reports: units issued, retired and cancelled by instrument, vintage, region.

Quantities are in each instrument's unit (see ``instruments.toml``). Output as
rows (JSON) or UTF-8 CSV with a BOM (opens correctly in Excel).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.market.instruments import get_instrument
from liangshan.market.models import Issuance, UnitBlock

COLUMNS = ("instrument", "unit", "vintage", "region_code", "issued", "active", "retired",
           "cancelled")


def registry_report(session: Session, *, instrument: str | None = None) -> list[dict[str, Any]]:
    """One row per instrument × vintage × region: issued, active, retired and cancelled units."""
    regions = {}
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    query = select(Issuance)
    if instrument:
        query = query.where(Issuance.instrument == instrument)
    for iss in session.scalars(query):
        regions[iss.id] = iss.region_code
        key = (iss.instrument, iss.vintage, iss.region_code)
        row = rows.setdefault(key, defaultdict(int))
        row["issued"] += iss.quantity
    blocks = select(UnitBlock).where(UnitBlock.status.in_(("active", "retired", "cancelled")))
    if instrument:
        blocks = blocks.where(UnitBlock.instrument == instrument)
    for b in session.scalars(blocks):
        key = (b.instrument, b.vintage, regions[b.issuance_id])
        rows[key][b.status] += b.serial_end - b.serial_start + 1
    out = []
    for (code, vintage, region), counts in sorted(rows.items()):
        out.append({"instrument": code, "unit": get_instrument(code).unit, "vintage": vintage,
                    "region_code": region, **{c: int(counts[c]) for c in COLUMNS[4:]}})
    return out


def report_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")
