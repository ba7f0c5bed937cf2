"""Exports of an :class:`~liangshan.accounting.account.Account`.

* :func:`write_xlsx` — tables A/B/C, gaps/rules and provenance as a formatted workbook.
* :func:`write_html` — a self-contained HTML report (inline CSS/SVG, no internet).
* :func:`export_csv` — the tidy table (UTF-8 with BOM so Excel opens Chinese text).
* :func:`export_json` — records, totals, gaps, rules and manifest as JSON.

All writers are atomic (temporary file, then rename) and return the path written.
"""

from __future__ import annotations

import json
from pathlib import Path

from liangshan.accounting.account import Account, write_atomic
from liangshan.accounting.reports.html import render_html, write_html
from liangshan.accounting.reports.xlsx import write_xlsx


def export_csv(account: Account, path: str | Path) -> Path:
    """The tidy table (one row per region × indicator × item × ecosystem) as CSV."""
    return write_atomic(path, account.to_frame().to_csv(index=False).encode("utf-8-sig"))


def export_json(account: Account, path: str | Path) -> Path:
    """:meth:`Account.to_dict` as indented UTF-8 JSON."""
    text = json.dumps(account.to_dict(), ensure_ascii=False, indent=1, default=str)
    return write_atomic(path, text.encode("utf-8"))


__all__ = ["export_csv", "export_json", "render_html", "write_html", "write_xlsx"]
