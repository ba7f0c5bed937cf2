"""Material supply (物质供给) from the statistical tables (GEP_METHOD §6.1).

Tables (docs/study-area.md): ``products`` (region_code, year, category, product,
quantity, unit, price_yuan_per_unit, output_value_10k_yuan; optional
net_output_value_10k_yuan), ``water_use`` (region_code, year, use, volume_10k_m3),
``hydropower`` (region_code, year, generation_10k_kwh).

The profile setting ``material_value_basis`` chooses how products are valued:
``quantity_price`` (Σ quantity × price), ``gross_output`` (output value from the
yearbook) or ``net_output`` (Garzê: 农林牧渔净产值; needs the optional
net_output_value_10k_yuan column). Water supply is volume (m3/yr) × tariff by use,
hydropower is generation (kWh/yr) × price. Values are CNY/yr at accounting-year prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from liangshan.accounting.valuation import (
    RECORD_COLUMNS,
    ValuationContext,
    price_columns,
)
from liangshan.errors import InvalidInput

# Ecosystem type a product is credited to: the convention of Garzê Table 4 [V] (crops to
# farmland, timber to forest, livestock to grassland, fish/water/hydropower to wetland).
CATEGORY_ECOSYSTEM = {"agriculture": 15, "forestry": 11, "livestock": 13, "fishery": 14,
                      "other": 0}
TABLE_COLUMNS = {
    "products": ("region_code", "year", "category", "product", "quantity", "unit",
                 "price_yuan_per_unit", "output_value_10k_yuan"),
    "water_use": ("region_code", "year", "use", "volume_10k_m3"),
    "hydropower": ("region_code", "year", "generation_10k_kwh"),
    "tourism": ("region_code", "year", "visitors_10k", "tourism_revenue_10k_yuan"),
    "socioeconomic": ("region_code", "year", "gdp_10k_yuan", "population_10k", "area_km2"),
    "emissions": ("region_code", "year", "pollutant", "emission_t"),
    "landscape": ("region_code", "year", "area_m2", "premium_yuan_per_m2"),
}

TableGetter = Callable[[str], "pd.DataFrame | None"]


def table_for_year(get: TableGetter, name: str, year: int) -> pd.DataFrame | None:
    """Rows of table ``name`` for ``year`` with its columns checked; None if absent."""
    df = get(name)
    if df is None:
        return None
    missing = [c for c in TABLE_COLUMNS[name] if c not in df.columns]
    if missing:
        raise InvalidInput(f"statistics table {name!r}: missing column(s) {missing}",
                           hint=f"expected columns {', '.join(TABLE_COLUMNS[name])} "
                           "(docs/study-area.md)")
    df = df.copy()
    df["region_code"] = df["region_code"].astype(str)
    if "year" in df.columns:
        df = df[pd.to_numeric(df["year"], errors="coerce") == year]
    # No row for the year is the same as no table: the callers record a gap.
    return df if len(df) else None


def _record(ctx: ValuationContext, **kw: object) -> dict[str, object]:
    rec: dict[str, object] = {c: None for c in RECORD_COLUMNS}
    rec.update(price_columns(None))
    rec.update({"class": "provisioning", "ecosystem_code": pd.NA, "profile": ctx.profile.id,
                "source": "statistics"})
    rec.update(kw)
    return rec


def _num(v: object) -> float:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return f


def material_supply(products: pd.DataFrame | None, ctx: ValuationContext) -> list[dict]:
    """Agricultural, forestry, livestock, fishery and other products (CNY/yr)."""
    cats = list(ctx.profile.setting("material_categories"))
    wanted = [c for c in cats if ctx.spec(f"material_{c}") is not None]
    if not wanted:
        return []
    if products is None:
        for c in wanted:
            ctx.gap("*", f"material_{c}", "missing table products (or no rows for the year)")
        return []
    basis = ctx.profile.setting("material_value_basis")
    out: list[dict] = []
    unknown = sorted(set(products["category"]) - set(CATEGORY_ECOSYSTEM))
    if unknown:
        raise InvalidInput(f"statistics table 'products': unknown category {unknown}",
                           hint=f"use one of {', '.join(CATEGORY_ECOSYSTEM)}")
    for cat in sorted(set(products["category"]) - set(wanted)):
        ctx.rule("material_category_excluded", f"material_{cat}",
                 f"category {cat!r} is not counted by profile {ctx.profile.id!r}",
                 reference=ctx.profile.settings_meta["material_categories"]["reference"])
    if basis == "net_output" and "net_output_value_10k_yuan" not in products.columns:
        for (reg, cat), _ in products[products["category"].isin(wanted)].groupby(
                ["region_code", "category"]):
            ctx.gap(reg, f"material_{cat}", "missing column products.net_output_value_10k_"
                    f"yuan (profile {ctx.profile.id!r} values products at net output)")
        return []
    for (reg, cat), g in products[products["category"].isin(wanted)].groupby(
            ["region_code", "category"], sort=True):
        ind = f"material_{cat}"
        method = str(ctx.spec(ind)["method"])  # type: ignore[index]
        eco = CATEGORY_ECOSYSTEM[str(cat)]
        if basis == "quantity_price":
            for _, r in g.iterrows():
                q, p = _num(r["quantity"]), _num(r["price_yuan_per_unit"])
                if math.isnan(p) or math.isnan(q):
                    what = "price_yuan_per_unit" if math.isnan(p) else "quantity"
                    ctx.gap(reg, ind, f"missing {what} for product {r['product']!r} "
                            "(table products)", item=str(r["product"]))
                    continue
                out.append(_record(ctx, region_code=reg, indicator=ind, item=r["product"],
                                   ecosystem_level1=eco, quantity=q, unit=f"{r['unit']}/yr",
                                   price=p, price_unit=f"CNY/{r['unit']}",
                                   price_id="statistics", price_year=ctx.year,
                                   price_reference="table products (price_yuan_per_unit)",
                                   value_yuan=q * p, method=method))
            continue
        col = "output_value_10k_yuan" if basis == "gross_output" else "net_output_value_10k_yuan"
        vals = pd.to_numeric(g[col], errors="coerce")
        for prod in g.loc[vals.isna(), "product"]:
            ctx.gap(reg, ind, f"missing {col} for product {prod!r} (table products)",
                    item=str(prod))
        if vals.notna().any():
            out.append(_record(ctx, region_code=reg, indicator=ind, item="",
                               ecosystem_level1=eco, quantity=math.nan, unit="",
                               price_id="statistics", price_year=ctx.year,
                               price_reference=f"table products ({col})",
                               value_yuan=float(vals.sum()) * 1e4, method=method))
    return out


def water_supply(water_use: pd.DataFrame | None, ctx: ValuationContext) -> list[dict]:
    """Water supplied to people by use (m3/yr × CNY/m3)."""
    spec = ctx.spec("water_supply")
    if spec is None:
        return []
    if water_use is None:
        ctx.gap("*", "water_supply", "missing table water_use (or no rows for the year)")
        return []
    uses = list(ctx.profile.setting("water_supply_uses"))
    for u in sorted(set(water_use["use"]) - set(uses)):
        ctx.rule("water_use_excluded", "water_supply",
                 f"water use {u!r} is not a supply counted by profile {ctx.profile.id!r}",
                 reference=ctx.profile.settings_meta["water_supply_uses"]["reference"])
    out: list[dict] = []
    for (reg, use), g in water_use[water_use["use"].isin(uses)].groupby(
            ["region_code", "use"], sort=True):
        vol = pd.to_numeric(g["volume_10k_m3"], errors="coerce")
        if vol.isna().any():
            ctx.gap(reg, "water_supply", "missing volume_10k_m3 (table water_use)", item=use)
            continue
        pr = ctx.resolve_price("water_supply", spec["price"], item=str(use), regions=[reg])
        if pr is None:
            continue
        q = float(vol.sum()) * 1e4
        out.append(_record(ctx, region_code=reg, indicator="water_supply", item=use,
                           ecosystem_level1=14, quantity=q, unit="m3/yr",
                           **price_columns(pr), value_yuan=q * pr.value,
                           method=str(spec["method"])))
    return out


def hydropower(table: pd.DataFrame | None, ctx: ValuationContext) -> list[dict]:
    """Hydropower generation (kWh/yr × CNY/kWh)."""
    spec = ctx.spec("hydropower")
    if spec is None:
        return []
    if table is None:
        ctx.gap("*", "hydropower", "missing table hydropower (or no rows for the year)")
        return []
    out: list[dict] = []
    for reg, g in table.groupby("region_code", sort=True):
        gen = pd.to_numeric(g["generation_10k_kwh"], errors="coerce")
        if gen.isna().any():
            ctx.gap(reg, "hydropower", "missing generation_10k_kwh (table hydropower)")
            continue
        pr = ctx.resolve_price("hydropower", spec["price"], regions=[str(reg)])
        if pr is None:
            continue
        q = float(gen.sum()) * 1e4
        out.append(_record(ctx, region_code=reg, indicator="hydropower", item="",
                           ecosystem_level1=14, quantity=q, unit="kWh/yr",
                           **price_columns(pr), value_yuan=q * pr.value,
                           method=str(spec["method"])))
    return out


def provisioning_records(get: TableGetter, ctx: ValuationContext) -> pd.DataFrame:
    """All provisioning records of the accounting year as a tidy frame."""
    recs = (material_supply(table_for_year(get, "products", ctx.year), ctx)
            + water_supply(table_for_year(get, "water_use", ctx.year), ctx)
            + hydropower(table_for_year(get, "hydropower", ctx.year), ctx))
    return pd.DataFrame(recs, columns=RECORD_COLUMNS)
