"""The official tables as an Excel workbook, laid out as a statistics office hands them in.

Sheets: 表A 实物量核算表, 表B 价值量核算表 (万元), 表C 汇总表, 缺口与规则 (gaps and applied
rules), 来源 (provenance manifest). Each sheet has a merged title, a line with the
accounting year, region, profile and unit, a bold bordered header row frozen in place,
thin borders on every cell and thousands separators. Written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from liangshan.accounting.account import Account

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_TITLE = Font(name="SimSun", size=14, bold=True)
_BOLD = Font(name="SimSun", bold=True)
_BODY = Font(name="SimSun")


def _cell_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def _sheet(wb: Workbook, name: str, title: str, subtitle: str, df: pd.DataFrame,
           number_format: str = "#,##0.00") -> Worksheet:
    ws = wb.create_sheet(name)
    ncol = max(len(df.columns), 1)
    ws.cell(row=1, column=1, value=title).font = _TITLE
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    ws.cell(row=2, column=1, value=subtitle).font = _BODY
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncol)
    for j, col in enumerate(df.columns, start=1):
        c = ws.cell(row=3, column=j, value=str(col))
        c.font, c.fill, c.border = _BOLD, _HEAD_FILL, _BORDER
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for i, row in enumerate(df.itertuples(index=False), start=4):
        for j, v in enumerate(row, start=1):
            c = ws.cell(row=i, column=j, value=_cell_value(v))
            c.border, c.font = _BORDER, _BODY
            if isinstance(c.value, float):
                c.number_format = number_format
    for j, col in enumerate(df.columns, start=1):
        width = max([len(str(col))] + [len(str(_cell_value(v) or ""))
                                       for v in df.iloc[:200, j - 1]])
        ws.column_dimensions[get_column_letter(j)].width = min(max(10, width * 1.2), 60)
    ws.freeze_panes = "A4"
    return ws


def write_xlsx(account: Account, path: str | Path, *, region: str | None = None,
               region_name: str | None = None, uncertainty: Any = None) -> Path:
    """Write tables A, B, C, gaps/rules and provenance of ``account`` to ``path`` (.xlsx).

    ``region`` restricts the tables to one region code (default: all regions summed).
    Values in Table B and C are 万元 (10⁴ CNY) per year. With ``uncertainty`` (an
    UncertaintyResult of the whole account) a sheet 不确定性 holds the 5/50/95 % values
    per indicator, class and GEP (万元) and the status of every physical coefficient.
    """
    path = Path(path)
    where = (region_name or (account.region_names.get(str(region)) if region else None)
             or region or "全部核算单元")
    base = f"核算年度: {account.year}    核算单元: {where}    核算口径: {account.profile}"
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "表A 实物量", f"{where} {account.year}年 生态产品实物量核算表",
           base + "    单位: 见“单位”列 (每年)", account.table_a(region))
    _sheet(wb, "表B 价值量", f"{where} {account.year}年 生态产品价值量核算表",
           base + "    单位: 万元 (价值), 单价见“单价单位”列", account.table_b(region))
    _sheet(wb, "表C 汇总", f"{where} {account.year}年 生态产品总值(GEP)汇总表",
           base + "    单位: 见“单位”列", account.table_c(region))
    gaps = account.gaps.rename(columns={"region_code": "地区代码", "indicator": "指标",
                                        "item": "子项", "reason": "原因"})
    _sheet(wb, "缺口与规则", "未核算指标 (缺口清单)", base, gaps)
    rules = pd.DataFrame([{"规则": r.get("rule"), "指标": r.get("indicator"),
                           "说明": r.get("detail"), "依据": r.get("reference", "")}
                          for r in account.rules], columns=["规则", "指标", "说明", "依据"])
    ws = wb["缺口与规则"]
    start = ws.max_row + 2
    ws.cell(row=start, column=1, value="已应用的重复计算/边界规则 (GEP_METHOD §8)").font = _BOLD
    for j, col in enumerate(rules.columns, start=1):
        c = ws.cell(row=start + 1, column=j, value=col)
        c.font, c.fill, c.border = _BOLD, _HEAD_FILL, _BORDER
    for i, row in enumerate(rules.itertuples(index=False), start=start + 2):
        for j, v in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=_cell_value(v)).border = _BORDER
    if uncertainty is not None:
        t = uncertainty.by_indicator.rename(columns={"indicator": "指标"})
        for c in ("value_yuan", "mean_yuan", "p05_yuan", "p50_yuan", "p95_yuan"):
            t[c.replace("_yuan", " (万元)")] = t.pop(c) / 1e4
        ws = _sheet(wb, "不确定性", "蒙特卡洛区间 (5–95 %)",
                    base + f"    抽样 {uncertainty.n} 次, seed {uncertainty.seed}    单位: 万元",
                    t)
        start = ws.max_row + 2
        ws.cell(row=start, column=1, value="实物量参数: varied / fixed").font = _BOLD
        params = uncertainty.parameters
        for j, col in enumerate(params.columns, start=1):
            c = ws.cell(row=start + 1, column=j, value=str(col))
            c.font, c.fill, c.border = _BOLD, _HEAD_FILL, _BORDER
        for i, row in enumerate(params.itertuples(index=False), start=start + 2):
            for j, v in enumerate(row, start=1):
                ws.cell(row=i, column=j, value=_cell_value(v)).border = _BORDER
    man = pd.DataFrame([{"项目": k, "内容": json.dumps(v, ensure_ascii=False, default=str)
                         if not isinstance(v, str) else v}
                        for k, v in account.manifest.items()], columns=["项目", "内容"])
    _sheet(wb, "来源", "核算来源与可追溯信息 (manifest)", f"核算ID: {account.id}", man)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return path
