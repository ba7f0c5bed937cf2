"""Surface-water quality class after GB 3838-2002 《地表水环境质量标准》, Table 1.

The class limits are data (``gb3838_limits.csv``, each row with its reference and
confidence tag): the Class II/III limits of CODMn, NH₃-N and TP are confirmed in
MECHANISMS.md §3.4 [V]; the other limits are [K] (domain knowledge, to be checked
against the standard's text). All concentrations are mg/L.

Method: single-factor assessment (单因子评价) [K] — each parameter's class is the
best class whose limit it meets; the water's class is the worst of them; worse
than Class V is 劣V, returned as 6. A monthly class uses the month's mean per
parameter, an annual class the year's mean (the Chishui River targets are annual
means, MECHANISMS.md §3.3 [V]).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import pandas as pd

from liangshan.errors import InvalidInput

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "劣V"}
WORSE_THAN_V = 6


@dataclass(frozen=True)
class Limit:
    parameter: str
    unit: str
    bound: str  # "max": value must be ≤ limit; "min": value must be ≥ limit
    water_body: str
    limits: tuple[float, float, float, float, float]
    reference: str
    confidence: str


@cache
def limits_table() -> dict[tuple[str, str], Limit]:
    """(parameter, water_body) → limits; water_body "all" applies to rivers and lakes."""
    text = (files("liangshan.catalog") / "gb3838_limits.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        vals = tuple(float(row[f"class_{k}"]) for k in range(1, 6))
        if not row["reference"] or not row["confidence"]:
            raise InvalidInput(f"gb3838_limits.csv: parameter {row['parameter']} lacks its "
                               "reference or confidence tag", hint="every limit carries both")
        out[(row["parameter"], row["water_body"])] = Limit(
            row["parameter"], row["unit"], row["bound"], row["water_body"],
            vals, row["reference"], row["confidence"])  # type: ignore[arg-type]
    return out


def limit_for(parameter: str, water_body: str = "river") -> Limit | None:
    table = limits_table()
    return table.get((parameter, water_body)) or table.get((parameter, "all"))


def parameter_class(parameter: str, value: float, water_body: str = "river") -> int | None:
    """Class 1–6 of one concentration (mg/L); None if the standard does not class it."""
    lim = limit_for(parameter, water_body)
    if lim is None:
        return None
    for k, bound in enumerate(lim.limits, start=1):
        if (value <= bound) if lim.bound == "max" else (value >= bound):
            return k
    return WORSE_THAN_V


def water_class(values: dict[str, float], water_body: str = "river") -> tuple[int, list[str]]:
    """Single-factor class of a set of mean concentrations (mg/L) and the parameters that set it.

    Parameters the standard does not class (pH, flow …) are ignored; at least one classed
    parameter is required.
    """
    classes = {p: c for p, v in values.items()
               if pd.notna(v) and (c := parameter_class(p, float(v), water_body)) is not None}
    if not classes:
        raise InvalidInput(f"no GB 3838-2002 parameter among {sorted(values)}",
                           hint="give at least one of: " + ", ".join(
                               sorted({p for p, _ in limits_table()})))
    worst = max(classes.values())
    return worst, sorted(p for p, c in classes.items() if c == worst)


def classify_periods(readings: pd.DataFrame, freq: str = "month",
                     water_body: str = "river") -> pd.DataFrame:
    """Class per station and period from readings (station, parameter, observed_at, value).

    ``freq`` is "month" or "year". Returns station, period ("2024-03" or "2024"),
    water_class (1–6), class_label, determining (comma-separated parameters), and
    the mean of each parameter (mg/L) as its own column.
    """
    need = {"station", "parameter", "observed_at", "value"}
    if not need <= set(readings.columns):
        raise InvalidInput(f"readings lack column(s) {sorted(need - set(readings.columns))}",
                           hint="give station, parameter, observed_at, value")
    if readings.empty:
        return pd.DataFrame(columns=["station", "period", "water_class", "class_label",
                                     "determining"])
    ts = pd.to_datetime(readings["observed_at"], utc=True).dt.tz_convert("Asia/Shanghai")
    fmt = "%Y-%m" if freq == "month" else "%Y"
    frame = readings.assign(period=ts.dt.strftime(fmt))
    means = frame.pivot_table(index=["station", "period"], columns="parameter", values="value",
                              aggfunc="mean")
    rows = []
    for (station, period), row in means.iterrows():
        values = {p: v for p, v in row.items() if pd.notna(v)}
        try:
            cls, determining = water_class(values, water_body)
        except InvalidInput:
            continue  # a period with only unclassed parameters (e.g. flow) has no class
        rows.append({"station": station, "period": period, "water_class": cls,
                     "class_label": ROMAN[cls], "determining": ",".join(determining), **values})
    return pd.DataFrame(rows)
