"""The official account tables as on paper (GEP_METHOD §5.2), from an account's stored lines.

* Table A — physical account (实物量核算表): one row per class × indicator × unit;
  quantities (in the line's unit) by level-1 ecosystem (森林 灌丛 草地 湿地 农田 城镇,
  其他), a column for lines not split by ecosystem type, the total and the method.
* Table B — value account (价值量核算表): one row per class × indicator × pricing
  (method, unit price, price unit, price source); values in 万元 (10⁴ yuan) by the
  same columns, the total in 万元 and the share of GEP in %.
* Table C — summary: GEP, the three class subtotals with shares, GDP and GEP/GDP
  when the account's summary has GDP.

Quantities of different units are never added: a row holds one unit. Money is
summed as integer fen and only formatted at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from liangshan.accounts.models import AccountLine, StoredAccount
from liangshan.web.dashboard import gep_gdp_ratio
from liangshan.web.i18n import fen_to_wan, format_money, format_quantity, translate
from liangshan.web.labels import (
    SERVICE_CLASSES,
    TABLE_ECOSYSTEMS,
    class_label,
    ecosystem_label,
    ecosystem_level1,
    indicator_item,
    indicator_label,
    indicator_order,
    table_column,
)

COLUMN_KEYS = (*(str(c) for c in TABLE_ECOSYSTEMS), "other", "none")


def column_headers(lang: str) -> list[str]:
    """Headers of the ecosystem columns, in :data:`COLUMN_KEYS` order."""
    return [*(ecosystem_label(c, lang) for c in TABLE_ECOSYSTEMS),
            translate(lang, "eco.other"), translate(lang, "eco.unclassified")]


def _class_rank(service_class: str) -> int:
    return SERVICE_CLASSES.index(service_class) if service_class in SERVICE_CLASSES else 9


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return (_class_rank(key[0]), indicator_order(key[1]), key[1], *(str(k) for k in key[2:]))


def _share(part: int, whole: int) -> str:
    if not whole:
        return "—"
    pct = Decimal(part) * 100 / Decimal(whole)
    return str(pct.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def physical_table(lines: Sequence[AccountLine], lang: str) -> list[dict[str, Any]]:
    """Table A rows: dicts with class, level2, item, unit, cells (text by column), total, method."""
    groups: dict[tuple[Any, ...], dict[str, float]] = {}
    methods: dict[tuple[Any, ...], set[str]] = {}
    for line in lines:
        if line.quantity is None:
            continue
        key = (line.service_class, line.indicator, line.unit or "")
        col = table_column(ecosystem_level1(line.ecosystem_code))
        cells = groups.setdefault(key, {})
        cells[col] = cells.get(col, 0.0) + float(line.quantity)
        if line.method:
            methods.setdefault(key, set()).add(line.method)
    rows = []
    for key in sorted(groups, key=_sort_key):
        cls, indicator, unit = key
        cells = groups[key]
        rows.append({
            "class": class_label(cls, lang), "level2": indicator_label(indicator, lang),
            "item": indicator_item(indicator, lang), "indicator": indicator, "unit": unit,
            "cells": [format_quantity(cells[c], None) if c in cells else ""
                      for c in COLUMN_KEYS],
            "total": format_quantity(sum(cells.values()), None),
            "method": ", ".join(sorted(methods.get(key, ()))),
        })
    return rows


def _join(values: set[str]) -> str:
    return "; ".join(sorted(v for v in values if v))


def format_price(price: str) -> str:
    """A stored exact price shown with at most 6 significant digits (the CSV keeps all)."""
    try:
        value = Decimal(price)
    except ArithmeticError:
        return price
    if value != value:  # NaN
        return price
    return f"{value:,.0f}" if abs(value) >= 1_000_000 else f"{value:.6g}"


def value_table(lines: Sequence[AccountLine], gep_fen: int, lang: str) -> list[dict[str, Any]]:
    """Table B rows, one per class × indicator: method(s), unit price (or "varies by region or
    type" when the lines differ), price unit(s), source(s), 万元 cells, total, share of GEP."""
    groups: dict[tuple[Any, ...], dict[str, int]] = {}
    meta: dict[tuple[Any, ...], dict[str, set[str]]] = {}
    for line in lines:
        key = (line.service_class, line.indicator)
        col = table_column(ecosystem_level1(line.ecosystem_code))
        cells = groups.setdefault(key, {})
        cells[col] = cells.get(col, 0) + int(line.value_fen)
        info = meta.setdefault(key, {"method": set(), "price": set(), "price_unit": set(),
                                     "reference": set()})
        info["method"].add(line.method or "")
        info["price"].add(line.price or "")
        info["price_unit"].add(line.price_unit or "")
        info["reference"].add(line.price_reference or "")
    rows = []
    for key in sorted(groups, key=_sort_key):
        cls, indicator = key
        cells, info = groups[key], meta[key]
        prices = {p for p in info["price"] if p}
        if len(prices) == 1:
            price = format_price(next(iter(prices)))
        else:
            price = translate(lang, "t.price_varies") if prices else ""
        total = sum(cells.values())
        rows.append({
            "class": class_label(cls, lang), "level2": indicator_label(indicator, lang),
            "item": indicator_item(indicator, lang), "indicator": indicator,
            "method": _join(info["method"]), "price": price,
            "price_unit": _join(info["price_unit"]), "reference": _join(info["reference"]),
            "cells": [fen_to_wan(cells[c]) if c in cells else "" for c in COLUMN_KEYS],
            "total_fen": total, "total": fen_to_wan(total), "share": _share(total, gep_fen),
        })
    return rows


def summary_table(row: StoredAccount, lines: Sequence[AccountLine], lang: str,
                  region: str | None = None) -> list[tuple[str, str]]:
    """Table C as (label, text) pairs: GEP, class subtotals with shares, GDP and GEP/GDP.

    With ``region`` (a part of the account) the figures are that part's; the account-wide
    GDP and ratios are then left out, as they do not describe the part.
    """
    by_class: dict[str, int] = {}
    for line in lines:
        by_class[line.service_class] = by_class.get(line.service_class, 0) + int(line.value_fen)
    gep = sum(by_class.values()) if region else row.gep_fen
    out = [(translate(lang, "t.gep"), format_money(gep, lang))]
    for cls in sorted(by_class, key=_class_rank):
        fen = by_class[cls]
        out.append((class_label(cls, lang), f"{format_money(fen, lang)} ({_share(fen, gep)}%)"))
    if region and region != row.region_code:
        return out
    summary = row.summary or {}
    gdp = summary.get("gdp_fen")
    if gdp is None and summary.get("gdp_yuan") is not None:
        gdp = int(Decimal(str(summary["gdp_yuan"])) * 100)
    if gdp:
        out.append((translate(lang, "t.gdp"), format_money(int(gdp), lang)))
    ratio = gep_gdp_ratio(row, row.gep_fen)
    if ratio is not None:
        out.append((translate(lang, "t.gep_gdp"), str(ratio.quantize(Decimal("0.001")))))
    for key, label, unit in (("gep_per_km2_yuan", "t.gep_per_km2", "/km²"),
                             ("gep_per_capita_yuan", "t.gep_per_capita",
                              "/人" if lang == "zh" else " per person")):
        if summary.get(key) is not None:
            fen = int(Decimal(str(summary[key])) * 100)
            out.append((translate(lang, label), format_money(fen, lang) + unit))
    return out
