"""Bulk census input: product records from a CSV or XLSX table, with a per-row report.

Columns (English or the Chinese heading): region_code 行政区代码, product_type 指标代码,
name 产品名称, quantity 数量, unit 计量单位, quality_grade 质量等级, parcel_code 单元代码,
department 责任部门, survey_date 调查日期, survey_method 调查方法, evidence 佐证材料,
account_id, account_indicator. Each row is checked by the same rules as a single
record (:func:`liangshan.catalog.service.add_product`) inside a savepoint, so a
refused row leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session

from liangshan.catalog import service
from liangshan.catalog.schemas import ProductIn
from liangshan.errors import InvalidInput, LiangshanError
from liangshan.identity.access import Principal

ALIASES = {"行政区代码": "region_code", "指标代码": "product_type", "产品名称": "name",
           "数量": "quantity", "计量单位": "unit", "质量等级": "quality_grade",
           "单元代码": "parcel_code", "责任部门": "department", "调查日期": "survey_date",
           "调查方法": "survey_method", "佐证材料": "evidence"}
REQUIRED = ("region_code", "product_type", "name", "quantity", "unit", "department",
            "survey_date", "survey_method")


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        if path.suffix.lower() == ".xlsx":
            frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
        else:
            raise InvalidInput(f"{path}: unknown table format '{path.suffix}'",
                               hint="give a .csv (UTF-8) or .xlsx file")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"{path}: cannot be read: {str(exc).splitlines()[0]}",
                           hint="save it again as UTF-8 CSV or XLSX with a header row") from None
    return frame.rename(columns=lambda c: ALIASES.get(str(c).strip(), str(c).strip()))


def import_products(session: Session, actor: Principal, census_id: int,
                    path: str | Path) -> dict[int, str]:
    """Add every acceptable row of ``path`` to the census; returns {row: reason} of refusals
    (row numbers as in a spreadsheet: the header is row 1)."""
    frame = read_table(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}",
                           hint="columns: " + ", ".join(REQUIRED))
    refused: dict[int, str] = {}
    for n, rec in enumerate(frame.to_dict("records"), start=2):
        clean: dict[str, Any] = {k: (None if v is None or (isinstance(v, str) and not v.strip())
                                     or (isinstance(v, float) and pd.isna(v)) else v)
                                 for k, v in rec.items() if k in ProductIn.model_fields}
        try:
            data = ProductIn(**clean)
        except ValidationError as exc:
            refused[n] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                   for e in exc.errors())
            continue
        savepoint = session.begin_nested()
        try:
            service.add_product(session, actor, census_id, data)
            savepoint.commit()
        except LiangshanError as exc:
            savepoint.rollback()
            refused[n] = exc.message
    return refused
