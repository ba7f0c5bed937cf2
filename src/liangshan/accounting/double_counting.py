"""Double-counting and boundary rules (GEP_METHOD §8); every applied rule is recorded.

Rules applied here (the number is the §8 item):

1. Final products only — ``soil_retention`` (t/yr) stays a physical indicator; its value
   is counted through sediment_avoided, nitrogen_retained and phosphorus_retained.
3. Origin rule (生产属地; GB/T 46869-2025) — when the profile sets ``origin_rule``, water
   transferred in from outside the region (``water_use`` rows with use ``transfer_in``,
   10k m3) is subtracted from the water supply of that region, pro rata by use.
4. Benefit — air and water purification are capped at the actual emission load of the
   region (table ``emissions``, t/yr) when ``purification_cap = "emissions"``.
5. Water overlaps — ``water_supply_with_conservation = "drop_supply"`` drops water supply.
6. Carbon vs oxygen and 7. material exclusions are profile choices recorded by the
   valuation steps (``excluded_by_profile``, ``material_category_excluded``); 9. the
   nature share of tourism revenue is recorded by :mod:`.cultural`.
"""

from __future__ import annotations

import pandas as pd

from liangshan.accounting.valuation import ValuationContext

PURIFICATION_POLLUTANT = {
    "air_purification_so2": "SO2", "air_purification_nox": "NOx", "air_purification_pm": "PM",
    "water_purification_cod": "COD", "water_purification_nh3n": "NH3N",
    "water_purification_tn": "TN", "water_purification_tp": "TP",
}


def cap_purification_at_emissions(physical: pd.DataFrame, emissions: pd.DataFrame | None,
                                  ctx: ValuationContext) -> pd.DataFrame:
    """Rule 4: scale purification quantities (t/yr) so no region exceeds its emission (t/yr).

    Rows of one region × pollutant are scaled by the same factor, so the split across
    ecosystem types is kept. A region without emission data is not capped; the rule
    record and a warning say so.
    """
    if ctx.profile.setting("purification_cap") != "emissions":
        return physical
    mask = physical["indicator"].isin(list(PURIFICATION_POLLUTANT))
    if not mask.any():
        return physical
    out = physical.copy()
    em = None
    if emissions is not None:
        em = emissions.assign(emission_t=pd.to_numeric(emissions["emission_t"],
                                                       errors="coerce"))
        em = em.groupby(["region_code", "pollutant"])["emission_t"].sum(min_count=1)
    sub = out[mask]
    totals = sub.groupby(["region_code", "indicator"])["quantity"].sum()
    factor = pd.Series(1.0, index=totals.index)
    missing: list[str] = []
    for (reg, ind), total in totals.items():
        pol = PURIFICATION_POLLUTANT[str(ind)]
        e = None if em is None else em.get((reg, pol))
        if e is None or pd.isna(e):
            missing.append(f"{ind}@{reg}")
        elif total > e:
            factor[(reg, ind)] = float(e) / float(total)
            ctx.rule("purification_capped_at_emissions", str(ind),
                     f"region {reg}: {total:.6g} t/yr capped to emission {e:.6g} t/yr",
                     region_code=str(reg), removed_quantity=float(total) - float(e))
    if missing:
        msg = (f"purification not capped for {len(missing)} region × indicator pair(s) without "
               f"an emission in table emissions (may overstate the service): "
               f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
        ctx.rule("purification_cap_not_applied", "purification", msg, pairs=missing)
        ctx.warnings.append(msg)
    keys = pd.MultiIndex.from_frame(sub[["region_code", "indicator"]])
    out.loc[mask, "quantity"] = sub["quantity"].to_numpy() * factor.reindex(keys).to_numpy()
    return out


def final_products_only(records: pd.DataFrame, ctx: ValuationContext) -> pd.DataFrame:
    """Rule 1: record that soil retention is valued only through its components."""
    if (records["indicator"] == "soil_retention").any():
        ctx.rule("final_products_only", "soil_retention",
                 "soil retention (t/yr) is reported physically; its value is counted once, "
                 "through sediment_avoided, nitrogen_retained and phosphorus_retained")
    return records


def water_supply_overlap(records: pd.DataFrame, ctx: ValuationContext) -> pd.DataFrame:
    """Rule 5: drop water supply when the profile says it overlaps water conservation."""
    if ctx.profile.setting("water_supply_with_conservation") != "drop_supply":
        return records
    drop = records["indicator"] == "water_supply"
    if drop.any():
        ctx.rule("water_supply_dropped", "water_supply",
                 f"{int(drop.sum())} water-supply record(s) dropped: counted within water "
                 "conservation", removed_value_yuan=float(records.loc[drop, "value_yuan"].sum()))
    return records[~drop].reset_index(drop=True)


def origin_rule(records: pd.DataFrame, water_use: pd.DataFrame | None,
                ctx: ValuationContext) -> pd.DataFrame:
    """Rule 3: subtract water transferred in from outside the region (pro rata by use)."""
    if not ctx.profile.setting("origin_rule"):
        return records
    ws = records["indicator"] == "water_supply"
    transfer = None
    if water_use is not None:
        transfer = water_use[water_use["use"] == "transfer_in"]
    if transfer is None or transfer.empty:
        ctx.rule("origin_rule", "water_supply",
                 "no water transferred in (water_use rows with use='transfer_in'); nothing "
                 "subtracted")
        return records
    out = records.copy()
    vols = transfer.groupby("region_code")["volume_10k_m3"].sum() * 1e4
    for reg, vol in vols.items():
        rows = ws & (out["region_code"] == reg)
        supplied = float(out.loc[rows, "quantity"].sum())
        if supplied <= 0:
            continue
        keep = max(0.0, 1.0 - float(vol) / supplied)
        removed = float(out.loc[rows, "value_yuan"].sum()) * (1 - keep)
        out.loc[rows, "quantity"] *= keep
        out.loc[rows, "value_yuan"] *= keep
        ctx.rule("origin_rule", "water_supply",
                 f"region {reg}: {vol:.6g} m3/yr transferred in subtracted from "
                 f"{supplied:.6g} m3/yr supplied", region_code=str(reg),
                 removed_value_yuan=removed)
    return out
