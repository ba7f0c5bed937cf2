"""The one-map dashboard's data: published accounts → per-county values and drill-down charts.

Everything is read through :mod:`liangshan.accounts.service` from **published
GEP accounts**; an account that a later published account supersedes is left
out. When several accounts of one year cover a county (a county account and a
province account, say), the most specific one (longest region code) is used, so
nothing is counted twice.

Every chart is a :class:`Chart`: named columns and rows, rendered by ECharts and
downloadable as CSV. Money columns are integer fen (``*_fen``) with a 万元 (10⁴
yuan) text column beside them; the float ``*_wan`` columns feed the chart only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import event
from sqlalchemy.orm import Session

from liangshan.accounts import service as accounts
from liangshan.accounts.models import StoredAccount
from liangshan.errors import InvalidInput, NotFound
from liangshan.web import geo
from liangshan.web.i18n import fen_to_wan as _fen_to_wan
from liangshan.web.i18n import format_money
from liangshan.web.labels import (
    SERVICE_CLASSES,
    class_label,
    ecosystem_label,
    ecosystem_level1,
    indicator_order,
    value_label,
)

#: Map metrics besides "ind:<indicator>": GEP (fen), GEP per km² (fen/km²), GEP/GDP (ratio).
BASE_METRICS = ("gep", "gep_per_km2", "gep_gdp")
TOP_N = 10
LINE_COLUMNS = ["account_id", "region_code", "service_class", "indicator", "ecosystem_code",
                "value_fen"]


@dataclass
class Chart:
    """Rows of one chart; ``columns`` fixes the CSV column order."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_csv(self) -> bytes:
        """UTF-8 CSV with a byte-order mark, so spreadsheet programs read the Chinese names."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue().encode("utf-8-sig")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "columns": self.columns, "rows": self.rows}


def fen_to_wan(fen: int) -> str:
    """万元 text without separators: the downloadable column beside the exact fen."""
    return _fen_to_wan(fen, group=False)


def _wan(fen: int) -> float:
    """万元 as a float for plotting only (stored amounts stay integer fen)."""
    return float(Decimal(int(fen)) / 1_000_000)


def _memo(session: Session, key: tuple[Any, ...]) -> dict[tuple[Any, ...], Any]:
    """A cache that lives as long as the session (one request): a drill-down panel asks for
    the same year's lines five times. Writes through this session clear it."""
    cache: dict[tuple[Any, ...], Any] | None = session.info.get("liangshan.web.dashboard")
    if cache is None:
        cache = session.info["liangshan.web.dashboard"] = {}
        event.listen(session, "after_flush", lambda *_: cache.clear())
        event.listen(session, "after_rollback", lambda *_: cache.clear())
    if session.new or session.dirty or session.deleted:
        cache.clear()
    return cache


def effective_accounts(session: Session, year: int | None = None) -> list[StoredAccount]:
    """Published GEP accounts of ``year`` (all years if None) that nothing published supersedes."""
    cache = _memo(session, ("accounts", year))
    if ("accounts", year) not in cache:
        cache[("accounts", year)] = [
            r for r in accounts.list_accounts(session, year=year, published_only=True,
                                              current_only=True) if r.kind == "GEP"]
    return list(cache[("accounts", year)])


def years(session: Session) -> list[int]:
    """Years that have at least one published GEP account, newest first."""
    return sorted({r.year for r in effective_accounts(session)}, reverse=True)


def _lines_frame(session: Session, rows: list[StoredAccount]) -> pd.DataFrame:
    records = [
        (line.account_id, line.region_code, line.service_class, line.indicator,
         line.ecosystem_code, int(line.value_fen))
        for row in rows for line in accounts.lines(session, row.id)
    ]
    return pd.DataFrame.from_records(records, columns=LINE_COLUMNS)


def _most_specific(frame: pd.DataFrame, rows: list[StoredAccount]) -> pd.DataFrame:
    """Add ``county`` (6-digit code) and keep, per county, the lines of its most specific
    account: a county's own account beats a province account covering it."""
    frame = frame.assign(county=frame["region_code"].astype(str).str[:6])
    frame = frame[frame["county"].str.len() == 6]
    specificity = {r.id: len(r.region_code) for r in rows}
    frame = frame.assign(_spec=frame["account_id"].map(specificity))
    best = frame.groupby("county")["_spec"].transform("max")
    return frame[frame["_spec"] == best].drop(columns="_spec").reset_index(drop=True)


def county_totals(session: Session, year: int) -> pd.DataFrame:
    """GEP of ``year`` by county and service class (one aggregate query).

    Columns: ``account_id``, ``region_code``, ``service_class``, ``value_fen`` (integer
    fen), ``county``; each county from its most specific account.
    """
    cache = _memo(session, ("totals", year))
    if ("totals", year) not in cache:
        rows = effective_accounts(session, year)
        totals = accounts.region_totals(session, [r.id for r in rows])
        totals["value_fen"] = totals["value_fen"].astype("int64")
        cache[("totals", year)] = _most_specific(totals, rows)
    return cache[("totals", year)].copy()


def county_lines(session: Session, year: int, county: str | None = None) -> pd.DataFrame:
    """Lines of ``year`` (of one county if given), each county from its most specific account.

    Columns: :data:`LINE_COLUMNS` + ``county`` (6-digit code); ``value_fen`` integer fen.
    With ``county`` only the account that supplies it is read.
    """
    key = ("lines", year, county)
    cache = _memo(session, key)
    if key not in cache:
        rows = effective_accounts(session, year)
        if county is not None:
            totals = county_totals(session, year)
            wanted = set(totals.loc[totals["county"] == county, "account_id"])
            rows = [r for r in rows if r.id in wanted]
        frame = _most_specific(_lines_frame(session, rows), rows)
        cache[key] = frame if county is None else frame[frame["county"] == county]
    return cache[key].copy()


def gep_gdp_ratio(row: StoredAccount | None, gep_fen: int) -> Decimal | None:
    """GEP/GDP (绿金指数) of a county's own account, or None when its summary has no GDP.

    From ``gdp_fen`` (integer fen) or ``gdp_yuan`` in the summary when present, else the
    engine's ``gep_gdp_ratio``.
    """
    summary = (row.summary or {}) if row is not None else {}
    gdp: Decimal | None = None
    if summary.get("gdp_fen") is not None:
        gdp = Decimal(int(summary["gdp_fen"]))
    elif summary.get("gdp_yuan") is not None:
        gdp = Decimal(str(summary["gdp_yuan"])) * 100
    if gdp:
        return Decimal(gep_fen) / gdp
    if summary.get("gep_gdp_ratio") is not None:
        return Decimal(str(summary["gep_gdp_ratio"]))
    return None


def indicators_of(frame: pd.DataFrame) -> list[str]:
    """Indicators present in a line frame, in the national list's order."""
    return sorted(set(frame["indicator"]), key=lambda c: (indicator_order(c), c))


def check_metric(metric: str, available: list[str]) -> str:
    if metric in BASE_METRICS:
        return metric
    if metric.startswith("ind:") and metric[4:] in available:
        return metric
    raise InvalidInput(
        f"unknown map metric {metric!r}",
        hint=f"use one of {', '.join(BASE_METRICS)} or ind:<indicator> with an indicator "
        f"of this year's accounts ({', '.join(available) or 'none'})",
    )


def map_chart(session: Session, year: int, metric: str = "gep", lang: str = "zh") -> Chart:
    """One row per county with data: code, name, pilot, value (万元, 万元/km² or ratio), text.

    ``gep_per_km2`` is GEP (fen) ÷ county area (km², equal-area CRS) — value in 万元/km²;
    ``gep_gdp`` needs GDP (or the ratio) in a county account's summary (:func:`gep_gdp_ratio`),
    else the county has no value (left out, not zero).
    """
    if metric.startswith("ind:"):
        frame = county_lines(session, year)
        metric = check_metric(metric, indicators_of(frame))
        frame = frame[frame["indicator"] == metric[4:]]
    else:
        metric = check_metric(metric, [])
        frame = county_totals(session, year)
    props = geo.county_properties()
    own = {r.region_code: r for r in effective_accounts(session, year)}
    chart = Chart("map", ["region_code", "name", "pilot", "metric", "value", "unit",
                          "value_fen", "value_wan_yuan", "text"])
    wan = "万元" if lang == "zh" else "10⁴ CNY"
    totals = frame.groupby("county")["value_fen"].sum()
    for code, fen in totals.items():
        fen = int(fen)
        info = props.get(str(code), {"name": code, "pilot": False, "area_km2": None})
        row: dict[str, Any] = {"region_code": code, "name": geo.county_name(str(code), lang),
                               "pilot": bool(info["pilot"]), "metric": metric}
        if metric == "gep_per_km2":
            if not info.get("area_km2"):
                continue
            per_km2 = Decimal(fen) / Decimal(str(info["area_km2"]))
            row.update(value=float(per_km2 / 1_000_000), unit=f"{wan}/km²",
                       value_fen="", value_wan_yuan=fen_to_wan(int(per_km2)),
                       text=f"{format_money(int(per_km2), lang)}/km²")
        elif metric == "gep_gdp":
            ratio = gep_gdp_ratio(own.get(str(code)), fen)
            if ratio is None:
                continue
            row.update(value=float(ratio), unit="ratio", value_fen="", value_wan_yuan="",
                       text=str(ratio.quantize(Decimal("0.001"))))
        else:
            row.update(value=_wan(fen), unit=wan, value_fen=fen,
                       value_wan_yuan=fen_to_wan(fen), text=format_money(fen, lang))
        chart.rows.append(row)
    chart.rows.sort(key=lambda r: r["value"], reverse=True)
    return chart


def _require_county(session: Session, code: str, year: int) -> pd.DataFrame:
    """The county's class totals of ``year``; NotFound when no published account covers it."""
    frame = county_totals(session, year)
    frame = frame[frame["county"] == code]
    if frame.empty:
        raise NotFound(f"no published GEP account covers county {code} in {year}",
                       hint="pick a county shown in colour on the map, or another year")
    return frame


def _county_frame(session: Session, code: str, year: int) -> pd.DataFrame:
    _require_county(session, code, year)
    frame = county_lines(session, year, code)
    if frame.empty:
        raise NotFound(f"no published GEP account covers county {code} in {year}",
                       hint="pick a county shown in colour on the map, or another year")
    return frame


def composition(session: Session, code: str, year: int, lang: str = "zh") -> Chart:
    """GEP of one county by service class (provisioning / regulating / cultural), fen."""
    frame = _require_county(session, code, year)
    sums = frame.groupby("service_class")["value_fen"].sum()
    chart = Chart("composition", ["service_class", "label", "value_fen", "value_wan_yuan",
                                  "value_wan"])
    extra = [c for c in sums.index if c not in SERVICE_CLASSES]
    for cls in (*SERVICE_CLASSES, *sorted(extra)):
        if cls in sums.index:
            fen = int(sums[cls])
            chart.rows.append({"service_class": cls, "label": class_label(cls, lang),
                               "value_fen": fen, "value_wan_yuan": fen_to_wan(fen),
                               "value_wan": _wan(fen)})
    return chart


def top_indicators(session: Session, code: str, year: int, lang: str = "zh") -> Chart:
    """The :data:`TOP_N` largest indicators of one county by value (fen)."""
    frame = _county_frame(session, code, year)
    sums = frame.groupby(["indicator", "service_class"])["value_fen"].sum()
    sums = sums.sort_values(ascending=False).head(TOP_N)
    chart = Chart("top", ["indicator", "label", "service_class", "value_fen", "value_wan_yuan",
                          "value_wan"])
    for (indicator, cls), fen in sums.items():
        chart.rows.append({"indicator": indicator, "label": value_label(indicator, lang),
                           "service_class": cls, "value_fen": int(fen),
                           "value_wan_yuan": fen_to_wan(int(fen)), "value_wan": _wan(int(fen))})
    return chart


def by_ecosystem(session: Session, code: str, year: int, lang: str = "zh") -> Chart:
    """Value of one county by level-1 ecosystem type (level-3 code // 10); untyped lines apart."""
    frame = _county_frame(session, code, year)
    sums: dict[int | None, int] = {}
    # a plain loop: Series.map would turn the None of untyped lines back into NaN
    for code_value, fen in zip(frame["ecosystem_code"], frame["value_fen"], strict=True):
        untyped = code_value is None or pd.isna(code_value)
        key = None if untyped else ecosystem_level1(int(code_value))
        sums[key] = sums.get(key, 0) + int(fen)
    chart = Chart("ecosystem", ["ecosystem_level1", "label", "value_fen", "value_wan_yuan",
                                "value_wan"])
    for key in sorted(sums, key=lambda k: (k is None, k or 0)):
        fen = sums[key]
        chart.rows.append({"ecosystem_level1": "" if key is None else key,
                           "label": ecosystem_label(key, lang), "value_fen": fen,
                           "value_wan_yuan": fen_to_wan(fen), "value_wan": _wan(fen)})
    return chart


def trend(session: Session, code: str, lang: str = "zh") -> Chart:
    """GEP of one county in every published year, by service class (fen, current prices)."""
    chart = Chart("trend", ["year", *(f"{c}_fen" for c in SERVICE_CLASSES), "total_fen",
                            "total_wan_yuan", *(f"{c}_wan" for c in SERVICE_CLASSES)])
    for year in sorted(years(session)):
        frame = county_totals(session, year)
        frame = frame[frame["county"] == code]
        if frame.empty:
            continue
        sums = frame.groupby("service_class")["value_fen"].sum()
        row: dict[str, Any] = {"year": year}
        for cls in SERVICE_CLASSES:
            fen = int(sums.get(cls, 0))
            row[f"{cls}_fen"] = fen
            row[f"{cls}_wan"] = _wan(fen)
        total = int(sums.sum())
        row.update(total_fen=total, total_wan_yuan=fen_to_wan(total))
        chart.rows.append(row)
    return chart


def comparison(session: Session, code: str, year: int, lang: str = "zh") -> Chart:
    """GEP of every county with data in ``year``, largest first, the chosen county marked."""
    _require_county(session, code, year)
    base = map_chart(session, year, "gep", lang)
    chart = Chart("comparison", ["region_code", "name", "pilot", "selected", "value_fen",
                                 "value_wan_yuan", "value_wan"])
    for row in base.rows:
        chart.rows.append({"region_code": row["region_code"], "name": row["name"],
                           "pilot": row["pilot"], "selected": row["region_code"] == code,
                           "value_fen": row["value_fen"], "value_wan_yuan": row["value_wan_yuan"],
                           "value_wan": row["value"]})
    return chart


#: Drill-down charts by name: (function, needs a year).
DRILL_CHARTS = {
    "composition": composition,
    "top": top_indicators,
    "ecosystem": by_ecosystem,
    "comparison": comparison,
}


def drill_chart(session: Session, name: str, code: str, year: int, lang: str = "zh") -> Chart:
    """One drill-down chart by name (composition, top, ecosystem, comparison, trend)."""
    if name == "trend":
        return trend(session, code, lang)
    func = DRILL_CHARTS.get(name)
    if func is None:
        raise NotFound(f"unknown chart {name!r}",
                       hint="charts: " + ", ".join([*DRILL_CHARTS, "trend"]))
    return func(session, code, year, lang)


def county_account_id(session: Session, code: str, year: int) -> str | None:
    """The account a county's drill-down figures come from (for the link to its tables)."""
    frame = county_totals(session, year)
    ids = frame.loc[frame["county"] == code, "account_id"].unique()
    return str(ids[0]) if len(ids) else None
