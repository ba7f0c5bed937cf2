"""The ecological-product catalogue (生态产品目录清单), per county or province, and its changes.

A county's catalogue is its census summed by region, product type, product name
and unit; a province's is the latest census of each county (or that of a given
year) stacked. Quantities are summed only within one unit (never across units).
The change list compares a census with the same county's previous census.
Exports (XLSX via openpyxl, CSV as UTF-8 with BOM for Excel) are written to a
temporary file and renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from liangshan.catalog import service
from liangshan.catalog.models import CensusRound
from liangshan.errors import InvalidInput, NotFound

KEY = ["region_code", "service_class", "product_type", "name", "unit"]
COLUMNS = [*KEY, "level2_zh", "quantity", "records", "quality_grades", "departments",
           "census_year"]
#: Column headings of the exported 目录清单 (Chinese first, units in the unit column).
HEADINGS = {"region_code": "行政区代码", "service_class": "类别", "level2_zh": "产品类型",
            "product_type": "指标代码", "name": "产品名称", "unit": "计量单位",
            "quantity": "数量", "records": "记录数", "quality_grades": "质量等级",
            "departments": "责任部门", "census_year": "普查年度"}


def _joined(values: pd.Series) -> str:
    return "; ".join(sorted({v for v in values if isinstance(v, str) and v}))


def _summarise(census: CensusRound, session: Session) -> pd.DataFrame:
    rows = service.products(session, census.id)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame([{k: getattr(r, k) for k in (*KEY, "quantity", "quality_grade",
                                                      "department")} for r in rows])
    out = frame.groupby(KEY, as_index=False).agg(
        quantity=("quantity", "sum"), records=("quantity", "size"),
        quality_grades=("quality_grade", _joined),
        departments=("department", _joined))
    types = service.product_types()
    out["level2_zh"] = out["product_type"].map(lambda t: types[t]["level2_zh"])
    out["census_year"] = census.year
    return out[COLUMNS]


def build_catalogue(session: Session, region_code: str, year: int | None = None) -> pd.DataFrame:
    """The 目录清单 of a county (6 digits) or province (2 digits, e.g. "52").

    ``year`` picks that year's census of each county; default: each county's latest.
    """
    censuses = service.list_censuses(session, region_code)
    censuses = [c for c in censuses if c.region_code.startswith(region_code)]
    if year is not None:
        censuses = [c for c in censuses if c.year == year]
    else:
        latest: dict[str, CensusRound] = {}
        for c in censuses:
            if c.region_code not in latest or c.year > latest[c.region_code].year:
                latest[c.region_code] = c
        censuses = list(latest.values())
    if not censuses:
        raise NotFound(f"no census of region {region_code}"
                       + (f" for {year}" if year is not None else ""),
                       hint="open a census and record products first")
    parts = [_summarise(c, session) for c in censuses]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return frame.sort_values(KEY, kind="stable").reset_index(drop=True)


def change_list(session: Session, census_id: int) -> pd.DataFrame:
    """Changes from the county's previous census to this one, per catalogue line.

    ``change`` is added / removed / changed / unchanged; ``delta`` = new − old, in ``unit``.
    """
    census = service.get_census(session, census_id)
    new = _summarise(census, session)
    prev = service.previous_census(session, census)
    old = _summarise(prev, session) if prev is not None else pd.DataFrame(columns=COLUMNS)
    merged = new[[*KEY, "quantity"]].merge(old[[*KEY, "quantity"]], on=KEY, how="outer",
                                           suffixes=("_new", "_old"))
    merged["delta"] = merged["quantity_new"].fillna(0) - merged["quantity_old"].fillna(0)

    def kind(row: pd.Series) -> str:
        if pd.isna(row["quantity_old"]):
            return "added"
        if pd.isna(row["quantity_new"]):
            return "removed"
        return "unchanged" if row["delta"] == 0 else "changed"

    merged["change"] = merged.apply(kind, axis=1) if len(merged) else []
    merged["previous_year"] = prev.year if prev is not None else None
    merged["year"] = census.year
    return merged.sort_values(KEY, kind="stable").reset_index(drop=True)


def export_table(frame: pd.DataFrame, path: str | Path, *, sheet: str = "目录清单",
                 chinese_headings: bool = True) -> Path:
    """Write a catalogue or change list as .xlsx or .csv, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise InvalidInput(f"{path}: cannot export as '{suffix}'", hint="use .xlsx or .csv")
    out = frame.rename(columns=HEADINGS) if chinese_headings else frame
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".catalogue-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".xlsx":
            with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
                out.to_excel(writer, sheet_name=sheet, index=False)
        else:
            out.to_csv(tmp, index=False, encoding="utf-8-sig")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
