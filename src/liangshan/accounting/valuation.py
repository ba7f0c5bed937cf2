"""Regulating-service valuation, V = Q × P, by region × ecosystem type (GEP_METHOD §5.1 step 7).

Input: the physical account of :func:`liangshan.accounting.physical.physical_account`
(columns region_code, ecosystem_code (level-3 code; ``code // 10`` is level 1),
indicator, quantity, unit, method). Quantities are per year in the unit of the
indicator registry (``params/indicators.csv``: m3/yr, t/yr, t CO2/yr, kWh/yr, hm2/yr).
Prices come from the profile's price choice, looked up in the :class:`PriceBook`,
unit-checked (no silent conversion) and re-based to the accounting year; every
record keeps the price id, base value, base year, index and factor used.

A price the tables do not hold is not a zero: the indicator is left out of the
value account and listed in the gaps as ``not accounted: missing price …``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liangshan.accounting.params import PriceBook, PriceRecord, read_indicators
from liangshan.accounting.profiles import SPECIAL_PRICES, Profile
from liangshan.errors import InvalidInput, ParameterNotFound

RECORD_COLUMNS = [
    "region_code", "indicator", "item", "class", "ecosystem_code", "ecosystem_level1",
    "quantity", "unit", "price", "price_unit", "price_id", "price_year", "price_base_value",
    "price_base_year", "price_index", "price_index_factor", "price_reference",
    "price_confidence", "price_low", "price_high", "value_yuan", "method", "profile",
    "source",
]
PHYSICAL_COLUMNS = ("region_code", "ecosystem_code", "indicator", "quantity", "unit", "method")
GAP_COLUMNS = ["region_code", "indicator", "item", "reason"]


@dataclass
class ValuationContext:
    """What every valuation step needs; collects gaps and applied rules as it goes."""

    profile: Profile
    book: PriceBook
    year: int
    region: str = "CN"
    indicators: pd.DataFrame = field(default_factory=read_indicators)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        subs = self.profile.settings_meta.get("index_substitutes", {}).get("value") or {}
        self.book.index_substitutes = dict(subs)

    @property
    def rebase(self) -> bool:
        return bool(self.profile.setting("rebase_prices"))

    def gap(self, region_code: str, indicator: str, reason: str, item: str = "") -> None:
        """Record an indicator that could not be accounted (never a silent zero)."""
        self.gaps.append({"region_code": str(region_code), "indicator": indicator,
                          "item": item, "reason": f"not accounted: {reason}"})

    def rule(self, rule: str, indicator: str, detail: str, **extra: Any) -> None:
        """Record an applied double-counting / boundary rule (GEP_METHOD §8)."""
        self.rules.append({"rule": rule, "indicator": indicator, "detail": detail, **extra})

    def spec(self, indicator: str) -> dict[str, Any] | None:
        """The profile entry of an indicator, or None if the profile does not count it."""
        entry = self.profile.indicators.get(indicator)
        if entry is None or not entry.get("include", True):
            return None
        return entry

    def registry(self, indicator: str) -> pd.Series:
        if indicator not in self.indicators.index:
            raise InvalidInput(
                f"unknown indicator {indicator!r}",
                hint=f"expected one of {', '.join(self.indicators.index)} "
                "(params/indicators.csv)")
        return self.indicators.loc[indicator]

    def resolve_price(self, indicator: str, price_spec: Any, *, item: str = "*",
                      ecosystem_level1: int | str = "*",
                      regions: list[str] | None = None) -> PriceRecord | None:
        """Price of ``indicator`` (re-based), or None after recording a gap per region.

        ``price_spec`` is a price id, a mapping item -> price id, or an id with a
        ``{year}`` placeholder (the accounting year, else the latest earlier year found
        within ten years, recorded as a rule).
        """
        reg = self.registry(indicator)
        pid = price_spec.get(item) if isinstance(price_spec, dict) else price_spec
        if pid is None:
            for r in regions or ["*"]:
                self.gap(r, indicator, f"missing price for item {item!r} in profile "
                         f"{self.profile.id!r}", item=item)
            return None
        candidates = [pid]
        if "{year}" in pid:
            candidates = [pid.format(year=y) for y in range(self.year, self.year - 11, -1)]
        for cand in candidates:
            try:
                self.book.find(cand, indicator=indicator, item=item,
                               ecosystem_level1=ecosystem_level1)
            except ParameterNotFound:
                continue
            if cand != candidates[0]:
                self.rule("price_year_fallback", indicator,
                          f"{candidates[0]} not found; used {cand}")
            # Errors past this point (unit mismatch, missing index year) are real errors.
            return self.book.price(cand, indicator=indicator, year=self.year,
                                   expected_unit=str(reg["price_unit"]), item=item,
                                   ecosystem_level1=ecosystem_level1, region=self.region,
                                   rebase=self.rebase)
        for r in regions or ["*"]:
            self.gap(r, indicator, f"missing price {pid!r} (item {item!r}, ecosystem type "
                     f"{ecosystem_level1}) in the price table", item=item if item != "*"
                     else "")
        return None


def price_columns(pr: PriceRecord | None) -> dict[str, Any]:
    """The price part of a record."""
    if pr is None:
        return {"price": math.nan, "price_unit": "", "price_id": "", "price_year": pd.NA,
                "price_base_value": math.nan, "price_base_year": pd.NA, "price_index": "",
                "price_index_factor": math.nan, "price_reference": "",
                "price_confidence": "", "price_low": math.nan, "price_high": math.nan}
    return {"price": pr.value, "price_unit": pr.unit, "price_id": pr.price_id,
            "price_year": pr.year, "price_base_value": pr.base_value,
            "price_base_year": pr.base_year,
            "price_index": f"{pr.index_id} ({pr.index_series})" if pr.index_id != "none"
            else "none", "price_index_factor": pr.index_factor,
            "price_reference": pr.reference, "price_confidence": pr.confidence,
            "price_low": pr.low, "price_high": pr.high}


def check_physical(physical: pd.DataFrame) -> pd.DataFrame:
    """Validate the physical-account frame; returns a copy with typed columns."""
    missing = [c for c in PHYSICAL_COLUMNS if c not in physical.columns]
    if missing:
        raise InvalidInput(f"physical account: missing column(s) {missing}",
                           hint=f"expected columns {', '.join(PHYSICAL_COLUMNS)}")
    df = physical.copy()
    df["region_code"] = df["region_code"].astype(str)
    df["ecosystem_code"] = pd.to_numeric(df["ecosystem_code"], errors="raise").astype(int)
    q = pd.to_numeric(df["quantity"], errors="coerce")
    bad = ~np.isfinite(q.to_numpy(dtype=float))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInput(f"physical account row {i}: quantity {df['quantity'].iloc[i]!r} "
                           f"({df['indicator'].iloc[i]}, region {df['region_code'].iloc[i]}) "
                           "is not a finite number", hint="the physical engine must give a "
                           "number; drop the row or mark the indicator missing instead")
    if (q < 0).any():
        i = int(np.argmax((q < 0).to_numpy()))
        raise InvalidInput(f"physical account row {i}: negative quantity {q.iloc[i]} for "
                           f"{df['indicator'].iloc[i]}", hint="quantities of services are >= 0")
    df["quantity"] = q.astype(float)
    return df


def value_physical(physical: pd.DataFrame, ctx: ValuationContext) -> pd.DataFrame:
    """Value the physical account: one record per region × ecosystem × indicator.

    Units: quantity in the registry unit per year; price in CNY per that unit at
    accounting-year prices; value_yuan in CNY/yr. Sand fixation follows GEP_METHOD §6.4,
    V = Q / (ρ h) × c (ρ in t/m3, h in m, c in CNY/m2).
    """
    df = check_physical(physical)
    out: list[pd.DataFrame] = []
    df["ecosystem_level1"] = df["ecosystem_code"] // 10
    for (ind, eco1), g in df.groupby(["indicator", "ecosystem_level1"], sort=True):
        reg = ctx.registry(str(ind))
        accepted = {str(reg["quantity_unit"])} | {
            u for u in str(reg["accepted_units"]).split(";") if u}
        bad = ~g["unit"].isin(accepted)
        if bad.any():
            raise InvalidInput(
                f"physical account: indicator {ind!r} has unit {g['unit'][bad].iloc[0]!r}",
                hint=f"expected {sorted(accepted)} (params/indicators.csv)")
        spec = ctx.spec(str(ind))
        if spec is None:
            if not any(r["rule"] == "excluded_by_profile" and r["indicator"] == ind
                       for r in ctx.rules):
                ctx.rule("excluded_by_profile", str(ind),
                         f"profile {ctx.profile.id!r} does not count {ind}",
                         reference=(ctx.profile.indicators.get(str(ind)) or {}).get(
                             "reference", "not in profile"))
            continue
        regions = sorted(g["region_code"].unique())
        pspec = spec["price"]
        scale = 1.0
        if pspec == "none":
            pr, price, price_unit = None, math.nan, ""
        else:
            if pspec in SPECIAL_PRICES:
                raise InvalidInput(f"profile {ctx.profile.id!r}: indicator {ind!r} has "
                                   f"price {pspec!r}, which does not apply to a physical "
                                   "indicator", hint="name a price id of prices.csv")
            pr = ctx.resolve_price(str(ind), pspec, ecosystem_level1=int(eco1),
                                   regions=regions)
            if pr is None:
                continue
            price, price_unit = pr.value, pr.unit
            if ind == "sand_fixation":
                rho = ctx.book.param("sand_bulk_density", indicator="sand_fixation",
                                     expected_unit="t/m3")
                h = ctx.book.param("standard_sand_cover_thickness",
                                   indicator="sand_fixation", expected_unit="m")
                scale = 1.0 / (float(rho["value"]) * float(h["value"]))
                price = pr.value * scale
                price_unit = "CNY/t"
                ctx.rule("derived_price", "sand_fixation",
                         f"c/(rho*h) = {pr.value:g}/({rho['value']:g}*{h['value']:g}) CNY/t",
                         reference=str(rho["reference"]))
        n = len(g)
        cols: dict[str, Any] = {
            "region_code": g["region_code"].to_numpy(), "indicator": ind,
            "item": "", "class": reg["class"],
            "ecosystem_code": g["ecosystem_code"].to_numpy(), "ecosystem_level1": int(eco1),
            "quantity": g["quantity"].to_numpy(), "unit": g["unit"].to_numpy(),
            "method": (g["method"].astype(str) + " → " + str(spec["method"])).to_numpy(),
            "profile": ctx.profile.id, "source": "physical"}
        pc = price_columns(pr)
        pc.update({"price": price, "price_unit": price_unit,
                   "price_low": pc["price_low"] * scale, "price_high": pc["price_high"] * scale})
        cols.update(pc)  # scalars broadcast over the group's rows
        cols["value_yuan"] = (cols["quantity"] * price if pspec != "none"
                              else np.full(n, math.nan))
        rec = pd.DataFrame(cols)
        out.append(rec)
    if not out:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    return pd.concat(out, ignore_index=True)[RECORD_COLUMNS]
