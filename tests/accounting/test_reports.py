"""Exports: xlsx as a statistics office hands it in, self-contained HTML, CSV and JSON."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from openpyxl import load_workbook

from liangshan.accounting.reports import export_csv, export_json, write_html, write_xlsx
from liangshan.accounting.run import run_gep
from tests.accounting import _small_case as sc


@pytest.fixture(scope="module")
def acc():
    return run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical())


def test_xlsx_layout(acc, tmp_path):
    p = write_xlsx(acc, tmp_path / "gep.xlsx")
    wb = load_workbook(p)
    assert wb.sheetnames == ["表A 实物量", "表B 价值量", "表C 汇总", "缺口与规则", "来源"]
    ws = wb["表B 价值量"]
    assert "价值量核算表" in ws["A1"].value and "万元" in ws["A2"].value
    assert ws.freeze_panes == "A4"
    assert ws["A3"].font.bold and ws["A3"].border.top.style == "thin"
    header = [c.value for c in ws[3]]
    assert "合计(万元)" in header
    col = header.index("合计(万元)") + 1
    total = sum(ws.cell(row=r, column=col).value or 0 for r in range(4, ws.max_row + 1))
    assert total == pytest.approx(acc.gep() / 1e4)
    assert ws.cell(row=4, column=col).number_format == "#,##0.00"
    assert not list(tmp_path.glob(".*.tmp"))


def test_html_is_self_contained(acc, tmp_path):
    p = write_html(acc, tmp_path / "gep.html")
    text = p.read_text(encoding="utf-8")
    assert "<svg" in text and "表A 实物量核算表" in text and acc.id in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_csv_and_json(acc, tmp_path):
    df = pd.read_csv(export_csv(acc, tmp_path / "gep.csv"), encoding="utf-8-sig",
                     dtype={"region_code": str})
    assert len(df) == len(acc.records)
    assert df["value_fen"].sum() == acc.gep_fen()
    d = json.loads(export_json(acc, tmp_path / "gep.json").read_text(encoding="utf-8"))
    assert d["account_id"] == acc.id and d["gep_fen"] == acc.gep_fen()
