"""Cultural services: recreation and landscape premium (GEP_METHOD §6.13).

* Recreation, ``travel_cost``: V = visits × travel cost per visit (CNY/visit, a price id
  of the profile). ``revenue_share``: V = tourism revenue × nature-attributable share
  (profile setting ``nature_tourism_share``, unit 1); the implied CNY/visit is recorded.
* Landscape premium (hedonic): V = Σ area (m2) × premium (CNY/m2) from an optional
  ``landscape`` table (region_code, year, area_m2, premium_yuan_per_m2); without it the
  indicator is a gap, never a zero.

Inputs: table ``tourism`` (visitors_10k, tourism_revenue_10k_yuan). Values in CNY/yr.
"""

from __future__ import annotations

import math

import pandas as pd

from liangshan.accounting.provisioning import TableGetter, _record, table_for_year
from liangshan.accounting.valuation import RECORD_COLUMNS, ValuationContext, price_columns


def recreation(tourism: pd.DataFrame | None, ctx: ValuationContext) -> list[dict]:
    """Nature-based recreation value per region (CNY/yr)."""
    spec = ctx.spec("recreation")
    if spec is None:
        return []
    if tourism is None:
        ctx.gap("*", "recreation", "missing table tourism (or no rows for the year)")
        return []
    method = ctx.profile.setting("recreation_method")
    out: list[dict] = []
    for reg, g in tourism.groupby("region_code", sort=True):
        visits = pd.to_numeric(g["visitors_10k"], errors="coerce").sum(min_count=1) * 1e4
        if method == "travel_cost":
            if math.isnan(visits):
                ctx.gap(reg, "recreation", "missing visitors_10k (table tourism)")
                continue
            pr = ctx.resolve_price("recreation", spec["price"], regions=[str(reg)])
            if pr is None:
                continue
            out.append(_record(ctx, **{"class": "cultural"}, region_code=reg,
                               indicator="recreation", item="", ecosystem_level1=0,
                               quantity=visits, unit="visits/yr", **price_columns(pr),
                               value_yuan=visits * pr.value, method=str(spec["method"])))
            continue
        rev = pd.to_numeric(g["tourism_revenue_10k_yuan"], errors="coerce").sum(min_count=1)
        if math.isnan(rev):
            ctx.gap(reg, "recreation", "missing tourism_revenue_10k_yuan (table tourism)")
            continue
        share_meta = ctx.profile.settings_meta["nature_tourism_share"]
        share = float(share_meta["value"])
        value = rev * 1e4 * share
        ctx.rule("recreation_nature_share", "recreation",
                 f"tourism revenue × nature-attributable share {share:g} (GEP_METHOD §8 rule 9)",
                 region_code=str(reg), reference=share_meta["reference"],
                 confidence=share_meta["confidence"])
        unit_price = value / visits if visits and not math.isnan(visits) else math.nan
        out.append(_record(ctx, **{"class": "cultural"}, region_code=reg,
                           indicator="recreation", item="", ecosystem_level1=0,
                           quantity=visits, unit="visits/yr", price=unit_price,
                           price_unit="CNY/visit", price_id="revenue_share",
                           price_year=ctx.year,
                           price_reference=f"table tourism × share: {share_meta['reference']}",
                           price_confidence=share_meta["confidence"], value_yuan=value,
                           method=str(spec["method"])))
    return out


def landscape_premium(table: pd.DataFrame | None, ctx: ValuationContext) -> list[dict]:
    """Hedonic landscape premium (CNY/yr) from the optional ``landscape`` table."""
    spec = ctx.spec("landscape_premium")
    if spec is None:
        return []
    if table is None:
        ctx.gap("*", "landscape_premium", "missing table landscape (region_code, year, "
                "area_m2, premium_yuan_per_m2)")
        return []
    out: list[dict] = []
    for reg, g in table.groupby("region_code", sort=True):
        area = pd.to_numeric(g["area_m2"], errors="coerce")
        prem = pd.to_numeric(g["premium_yuan_per_m2"], errors="coerce")
        if area.isna().any() or prem.isna().any():
            ctx.gap(reg, "landscape_premium", "missing area_m2 or premium_yuan_per_m2 "
                    "(table landscape)")
            continue
        value = float((area * prem).sum())
        out.append(_record(ctx, **{"class": "cultural"}, region_code=reg,
                           indicator="landscape_premium", item="", ecosystem_level1=16,
                           quantity=float(area.sum()), unit="m2/yr",
                           price=value / float(area.sum()) if area.sum() else math.nan,
                           price_unit="CNY/m2", price_id="landscape_table",
                           price_year=ctx.year, price_reference="table landscape",
                           value_yuan=value, method=str(spec["method"])))
    return out


def cultural_records(get: TableGetter, ctx: ValuationContext) -> pd.DataFrame:
    """All cultural-service records of the accounting year as a tidy frame."""
    recs = (recreation(table_for_year(get, "tourism", ctx.year), ctx)
            + landscape_premium(table_for_year(get, "landscape", ctx.year), ctx))
    return pd.DataFrame(recs, columns=RECORD_COLUMNS)
