"""VEP (特定地域单元生态产品价值): the GEP chain on a set of polygons (GEP_METHOD §9).

The physical engine reads its zones from ``study.zones``, so the footprint is applied as
a zone override: a thin proxy of the study area whose ``zones`` are the given polygons
(``region_code`` = the unit id) and whose rasters are the study's. Every pixel-based
service is then summed inside the footprint only.

Origin rule (§8 rule 3, applied strictly for VEP): statistics of an administrative
region are not attributable to a unit inside it, so the statistical tables are used
only for rows whose ``region_code`` is one of the unit ids (unit-level data the user
supplies); every other statistics-based indicator becomes a gap (``not accounted:
statistics are by administrative region …``), never a share guessed by area.

Before/after a project (§9, the Yangzhou standard's "exchange-value principle" [V]):
:func:`increments` compares two VEP accounts of the same units — two years on one
footprint (at the earlier year's prices), or a baseline and a project scenario in one year
(two study areas with different land cover) — indicator by indicator. Asset value
(§9 item 4): :func:`asset_values` capitalises the annual flow as an ordinary annuity,
100 years at 2.77 % by default [V: 博文静 et al. 2017]; rate and horizon are recorded in
the manifest's options (``npv``).

Not done yet: the unit-specific indicator selection of §9 item 3 (every indicator of the
profile is accounted). Values in CNY/yr; asset values in CNY (and integer fen).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from liangshan.accounting.account import Account, compare, to_fen
from liangshan.accounting.profiles import Profile
from liangshan.errors import InvalidInput

#: 博文静, 肖燚, 欧阳志云 et al. 2017 (生态学报 37(12)), forest ecosystem assets of China:
#: annual flows capitalised over 100 years at 2.77 % (GEP_METHOD §9) [V].
NPV_RATE = 0.0277
NPV_YEARS = 100
NPV_REFERENCE = ("博文静 et al. 2017, 生态学报 37(12): 100 years at 2.77 % "
                 "(GEP_METHOD §9) [V]")


class FootprintStudy:
    """A study area seen through a footprint: same rasters and CRS, zones replaced."""

    def __init__(self, study: Any, footprint: gpd.GeoDataFrame, id_field: str) -> None:
        if id_field not in footprint.columns:
            raise InvalidInput(f"VEP footprint: no column {id_field!r}",
                               hint="give each polygon a unit id in that column")
        if footprint.crs is None:
            raise InvalidInput("VEP footprint has no CRS", hint="set the polygons' CRS")
        ids = footprint[id_field].astype(str)
        if ids.duplicated().any():
            raise InvalidInput(f"VEP footprint: duplicate unit id {ids[ids.duplicated()].iloc[0]!r}",
                               hint="unit ids must be unique (dissolve the polygons first)")
        crs = getattr(study, "crs", None) or footprint.crs
        z = gpd.GeoDataFrame({"region_code": ids.to_numpy(),
                              "name": ids.to_numpy()}, geometry=footprint.geometry.to_numpy(),
                             crs=footprint.crs).to_crs(crs)
        self._study, self._zones = study, z

    @property
    def zones(self) -> gpd.GeoDataFrame:
        return self._zones

    @property
    def table_names(self) -> list[str]:
        return list(getattr(self._study, "table_names", []))

    def table(self, name: str) -> pd.DataFrame:
        """The study's table restricted to rows of the unit ids (origin rule)."""
        df = self._study.table(name)
        if "region_code" not in df.columns:
            return df
        return df[df["region_code"].astype(str).isin(set(self._zones["region_code"]))]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._study, attr)


def annuity_factor(rate: float, years: int) -> float:
    """Present value [CNY] of 1 CNY/yr received at the end of each of ``years`` years,
    discounted at ``rate`` (a fraction, 0.0277 = 2.77 %): (1 − (1 + r)^−T) / r, and T
    when r = 0."""
    if isinstance(years, bool) or int(years) != years or years < 1:
        raise InvalidInput(f"NPV horizon {years!r} years: expected a whole number ≥ 1",
                           hint=f"e.g. {NPV_YEARS} (博文静 2017)")
    if not math.isfinite(rate) or not -1.0 < rate < 1.0:
        raise InvalidInput(f"NPV discount rate {rate!r}: expected a fraction in (−1, 1)",
                           hint=f"write 2.77 % as {NPV_RATE}")
    if rate == 0.0:
        return float(years)
    return float((1.0 - (1.0 + rate) ** -int(years)) / rate)


def npv_options(rate: float = NPV_RATE, years: int = NPV_YEARS) -> dict[str, Any]:
    """The manifest record of an asset valuation (checked)."""
    annuity_factor(rate, years)
    default = (rate, years) == (NPV_RATE, NPV_YEARS)
    return {"discount_rate": float(rate), "horizon_years": int(years),
            "formula": "annual value × (1 − (1 + r)^−T) / r (flows at year ends)",
            "reference": NPV_REFERENCE if default else "user-chosen rate and horizon"}


def run_vep(study: Any, year: int, footprint: gpd.GeoDataFrame,
            profile: str | Path | Profile = "ndrc-2022", *, id_field: str = "unit_id",
            physical: pd.DataFrame | None = None, overrides: Any = None,
            progress: Any = None, physical_options: dict[str, Any] | None = None,
            npv: dict[str, Any] | None = None) -> Account:
    """VEP of each polygon of ``footprint`` for ``year``; an :class:`Account` whose
    region_code is the unit id. Options as :func:`liangshan.accounting.run.run_gep`;
    ``npv`` (from :func:`npv_options`) is recorded in the manifest for :func:`asset_values`."""
    from liangshan.accounting.run import run_gep

    proxy = FootprintStudy(study, footprint, id_field)
    options: dict[str, Any] = {"kind": "vep",
                               "footprint_units": sorted(proxy.zones["region_code"])}
    if npv is not None:
        options["npv"] = npv
    acc = run_gep(proxy, year, profile, physical=physical, overrides=overrides,
                  progress=progress, physical_options=physical_options, options=options)
    acc.rules.append({"rule": "origin_rule_vep", "indicator": "*",
                      "detail": "statistics used only for rows of the unit ids; "
                      "administrative-region statistics are not apportioned"})
    acc.warnings.append("VEP: the unit-specific indicator selection of GEP_METHOD §9 item 3 is "
                        "not applied; every indicator of the profile is accounted")
    return acc


def asset_values(account: Account, rate: float | None = None,
                 years: int | None = None) -> pd.DataFrame:
    """Asset value of each unit: its annual VEP capitalised as an annuity.

    Rate and horizon come from the arguments, else from the manifest (``options.npv``),
    else the 博文静 2017 defaults. Columns: region_code, annual_yuan (CNY/yr),
    discount_rate, horizon_years, annuity_factor, npv_yuan (CNY), npv_fen (分).
    """
    rec = account.manifest.get("options", {}).get("npv") or {}
    r = float(rate if rate is not None else rec.get("discount_rate", NPV_RATE))
    t = int(years if years is not None else rec.get("horizon_years", NPV_YEARS))
    f = annuity_factor(r, t)
    tot = account.totals()
    out = pd.DataFrame({"region_code": tot["region_code"], "annual_yuan": tot["gep_yuan"],
                        "discount_rate": r, "horizon_years": t, "annuity_factor": f})
    out["npv_yuan"] = out["annual_yuan"] * f
    out["npv_fen"] = to_fen(out["npv_yuan"])
    return out


def _quantities(acc: Account) -> pd.DataFrame:
    r = acc.records.copy()
    r["item"] = r["item"].fillna("").astype(str)
    return (r.groupby(["region_code", "class", "indicator", "item", "unit"], dropna=False)
            ["quantity"].sum(min_count=1).reset_index())


def _gap_reasons(acc: Account) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for g in acc.gaps.itertuples():
        out.setdefault((str(g.region_code), str(g.indicator)), str(g.reason))
    return out


def increments(before: Account, after: Account, *, constant_prices: bool = True) -> pd.DataFrame:
    """Per-indicator increment of each unit from ``before`` to ``after`` (GEP_METHOD §9).

    ``before`` and ``after`` are VEP (or GEP) accounts of the same units: two years on one
    footprint, or a baseline and a project scenario. Between two years the after-value is
    taken at the before-year's prices when ``constant_prices`` (as :func:`compare`).
    Columns: region_code, class, indicator, item, unit, quantity_before, quantity_after,
    quantity_change (per year, in ``unit``), value_before_yuan, value_after_yuan,
    value_change_yuan (CNY/yr), change_pct, price_basis, note. ``note`` names an indicator
    that is not accounted on one side (its change is then not an ecological increment).
    A ``GEP`` row per unit (class ``total``) sums the values.
    """
    if set(before.regions) != set(after.regions):
        raise InvalidInput(f"VEP increments: the units differ (before {before.regions}, "
                           f"after {after.regions})",
                           hint="account the same footprint (same unit ids) both times")
    cmp = compare(before, after, constant_prices=constant_prices)
    keys = ["region_code", "class", "indicator", "item"]
    vals = cmp.rows.rename(columns={"value_a_yuan": "value_before_yuan"})
    vals["value_after_yuan"] = (vals["value_b_const_yuan"] if constant_prices
                                else vals["value_b_yuan"])
    vals["price_basis"] = vals["constant_price_method"]
    qa, qb = _quantities(before), _quantities(after)
    q = qa.merge(qb, on=[*keys, "unit"], how="outer", suffixes=("_before", "_after"))
    out = q.merge(vals[[*keys, "value_before_yuan", "value_after_yuan", "price_basis"]],
                  on=keys, how="outer")
    out["quantity_change"] = out["quantity_after"] - out["quantity_before"]
    for c in ("value_before_yuan", "value_after_yuan"):
        out[c] = out[c].fillna(0.0)
    out["value_change_yuan"] = out["value_after_yuan"] - out["value_before_yuan"]
    out["change_pct"] = np.where(out["value_before_yuan"] != 0,
                                 out["value_change_yuan"] / out["value_before_yuan"] * 100,
                                 np.nan)
    gb, ga = _gap_reasons(before), _gap_reasons(after)
    notes = []
    for reg, ind in zip(out["region_code"].astype(str), out["indicator"], strict=True):
        parts = [f"{side}: {why[(reg, ind)]}" for side, why in (("before", gb), ("after", ga))
                 if (reg, ind) in why]
        notes.append("; ".join(parts))
    out["note"] = notes
    total = out.groupby("region_code", as_index=False)[
        ["value_before_yuan", "value_after_yuan", "value_change_yuan"]].sum()
    total["class"], total["indicator"], total["item"] = "total", "GEP", ""
    total["change_pct"] = np.where(total["value_before_yuan"] != 0, total["value_change_yuan"]
                                   / total["value_before_yuan"] * 100, np.nan)
    cols = ["region_code", "class", "indicator", "item", "unit", "quantity_before",
            "quantity_after", "quantity_change", "value_before_yuan", "value_after_yuan",
            "value_change_yuan", "change_pct", "price_basis", "note"]
    out = pd.concat([out, total], ignore_index=True).reindex(columns=cols)
    return out.sort_values(["region_code", "class", "indicator", "item"],
                           kind="stable").reset_index(drop=True)
