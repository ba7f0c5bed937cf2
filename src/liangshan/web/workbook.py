"""The account tables of a stored account as an Excel workbook (the page's tables A, B, C).

The engine's exporter (:func:`liangshan.accounting.reports.write_xlsx`) needs the
engine's full ``Account`` records (price IDs, items, sources), which a stored
account does not keep; this workbook holds exactly what the account page shows,
from the stored lines: 表A (quantities in each row's unit), 表B (万元, 10⁴ yuan),
表C (summary), and the manifest with the publication proof.
"""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from liangshan.accounts.models import StoredAccount
from liangshan.web.i18n import translate

_BOLD = Font(bold=True)
_HEAD = PatternFill("solid", fgColor="EEF4EF")


def _number(text: str) -> Any:
    """Table text back to a number for the cell ('1,234.50' → 1234.5); other text stays."""
    try:
        return float(text.replace(",", "")) if text not in ("", "—") else text
    except ValueError:
        return text


def _sheet(wb: Workbook, title: str, heading: str, header: list[str],
           rows: list[list[Any]]) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append([heading])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(header)
    for cell in ws[2]:
        cell.font, cell.fill = _BOLD, _HEAD
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        ws.append(row)
    ws.freeze_panes = "A3"
    return ws


def account_workbook(row: StoredAccount, summary: list[tuple[str, str]],
                     physical: list[dict[str, Any]], value: list[dict[str, Any]],
                     columns: list[str], manifest_hash: str, lang: str) -> bytes:
    """The workbook as bytes (sheets: 表A, 表B, 表C, manifest)."""
    t = lambda key: translate(lang, key)  # noqa: E731 - a local shorthand
    title = f"{row.title} · {row.year} · {row.profile}"
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "A", f"{t('acc.physical')} — {title}",
           [t("t.level1"), t("t.level2"), t("t.physical_indicator"), t("t.unit"), *columns,
            t("t.total"), t("t.method")],
           [[r["class"], r["level2"], r["item"], r["unit"], *map(_number, r["cells"]),
             _number(r["total"]), r["method"]] for r in physical])
    _sheet(wb, "B", f"{t('acc.value')} (万元) — {title}",
           [t("t.level1"), t("t.level2"), t("t.value_item"), t("t.method"), t("t.price"),
            t("t.price_unit"), t("t.price_ref"), *columns, t("t.total_wan"), t("t.share")],
           [[r["class"], r["level2"], r["item"], r["method"], _number(r["price"]),
             r["price_unit"], r["reference"], *map(_number, r["cells"]), _number(r["total"]),
             _number(r["share"])] for r in value])
    _sheet(wb, "C", f"{t('acc.summary')} — {title}", ["", ""], [list(p) for p in summary])
    proof: list[list[Any]] = [["account id", row.id], ["status", row.status],
                              ["gep_fen", row.gep_fen],
             ["manifest_sha256", manifest_hash], ["log_index", row.log_index],
             ["log_leaf_hash", row.log_leaf_hash],
             ["manifest", json.dumps(row.manifest, ensure_ascii=False, sort_keys=True)]]
    _sheet(wb, "manifest", t("acc.manifest"), ["key", "value"], proof)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
