"""Exports of an :class:`~liangshan.accounting.account.Account`.

* :func:`write_xlsx` — tables A/B/C, gaps/rules and provenance as a formatted workbook.
* :func:`write_html` — a self-contained HTML report (inline CSS/SVG, no internet).
* :func:`export_csv` — the tidy table (UTF-8 with BOM so Excel opens Chinese text).
* :func:`export_json` — records, totals, gaps, rules and manifest as JSON.
* :func:`write_account_folder` — all of the above plus the manifest, one folder per account.

All writers are atomic (temporary file, then rename) and return the path written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liangshan.accounting.account import Account, Comparison, write_atomic
from liangshan.accounting.reports.html import render_html, write_html
from liangshan.accounting.reports.xlsx import write_xlsx


def export_csv(account: Account, path: str | Path) -> Path:
    """The tidy table (one row per region × indicator × item × ecosystem) as CSV."""
    return write_atomic(path, account.to_frame().to_csv(index=False).encode("utf-8-sig"))


def export_json(account: Account, path: str | Path) -> Path:
    """:meth:`Account.to_dict` as indented UTF-8 JSON."""
    text = json.dumps(account.to_dict(), ensure_ascii=False, indent=1, default=str)
    return write_atomic(path, text.encode("utf-8"))


def write_uncertainty(result: Any, folder: str | Path) -> list[Path]:
    """uncertainty_by_indicator.csv (indicators, classes, GEP), uncertainty_by_region.csv
    (value, mean, p05, p50, p95 in CNY/yr), uncertainty_prices.csv (prices drawn) and
    uncertainty_parameters.csv (every physical coefficient: varied or fixed, and why)."""
    folder = Path(folder)
    frames = {"by_indicator": result.by_indicator, "by_region": result.by_region,
              "prices": result.varied, "parameters": result.parameters}
    return [write_atomic(folder / f"uncertainty_{k}.csv",
                         f.to_csv(index=False).encode("utf-8-sig")) for k, f in frames.items()]


def write_account_folder(account: Account, folder: str | Path, *, title: str,
                         region_names: dict[str, str] | None = None,
                         per_region: bool = True, uncertainty: Any = None) -> list[Path]:
    """Write every report of ``account`` into ``folder``; returns the paths written.

    gep_tables.xlsx (all regions), gep_tables_<code>.xlsx (one per region, if
    ``per_region``), gep_account.csv, gep_account.json, report.html and manifest.json;
    with ``uncertainty`` (an UncertaintyResult) also the interval CSVs of
    :func:`write_uncertainty` and an interval section in the HTML report.
    """
    folder = Path(folder)
    names = region_names or {}
    label = "、".join(names.get(c, c) for c in account.regions) or "全部核算单元"
    written = [
        write_xlsx(account, folder / "gep_tables.xlsx", region_name=label,
                   uncertainty=uncertainty),
        export_csv(account, folder / "gep_account.csv"),
        export_json(account, folder / "gep_account.json"),
        write_html(account, folder / "report.html", title=title, uncertainty=uncertainty),
        write_atomic(folder / "manifest.json", json.dumps(
            account.manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()),
    ]
    if uncertainty is not None:
        written += write_uncertainty(uncertainty, folder)
    if per_region and len(account.regions) > 1:
        for code in account.regions:
            written.append(write_xlsx(account, folder / f"gep_tables_{code}.xlsx", region=code,
                                      region_name=names.get(code, code)))
    return written


def write_comparison(comparison: Comparison, folder: str | Path) -> list[Path]:
    """comparison_by_indicator.csv and comparison_totals.csv of :func:`compare` in ``folder``."""
    folder = Path(folder)
    return [write_atomic(folder / f"comparison_{name}.csv",
                         frame.to_csv(index=False).encode("utf-8-sig"))
            for name, frame in (("by_indicator", comparison.rows),
                                ("totals", comparison.totals))]


__all__ = ["export_csv", "export_json", "render_html", "write_account_folder",
           "write_comparison", "write_html", "write_uncertainty", "write_xlsx"]
