"""Generated statistical tables of the sample study area (GENERATED SAMPLE DATA).

Quantities follow from the generated land cover (class areas × yields), from
population and GDP (per-capita rates), and from the reservoirs placed on the
map. Where a published figure exists (data/calibration.csv, from
pilot_counties_stats.csv) the county's values are scaled to it and the
``source`` column says so; otherwise ``source`` reads "generated". Yields,
prices and rates are rough Guizhou orders of magnitude [K], chosen only to make
the tables plausible. Money in the tables is yuan (price) and 10⁴ yuan
(output value), as the contract requires.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liangshan.datasets.sample_climate import year_factors
from liangshan.datasets.sample_params import CountyParams, published

GEN = "generated (sample)"
GDP_GROWTH = 0.05  # per year, used to carry a published GDP to other years [K]
POP_TREND = -0.003  # per year [K]
GUIZHOU_DENSITY = 3865e4 / 176100.0  # persons per km² (2023) [K]
GUIZHOU_GDP_PC = 54172.0  # yuan per person (2023) [K]

# product: (category, unit, yield per ha of its base class or per 10k persons, price yuan/unit)
_CROPS = {
    "rice": ("agriculture", "t", "paddy", 0.85 * 6.5, 2800.0),
    "maize": ("agriculture", "t", "dry", 0.45 * 5.5, 2600.0),
    "rapeseed": ("agriculture", "t", "crop", 0.25 * 2.0, 5600.0),
    "vegetables": ("agriculture", "t", "dry", 0.30 * 25.0, 2200.0),
    "fruit": ("agriculture", "t", "orchard", 12.0, 4500.0),
    "tea": ("agriculture", "t", "tea", 0.5, 120000.0),
    "medicinal_herbs": ("agriculture", "t", "dry", 0.02 * 3.0, 20000.0),
    "timber": ("forestry", "m3", "forest", 0.6, 1000.0),
    "bamboo": ("forestry", "t", "forest", 0.1, 800.0),
    "fish": ("fishery", "t", "water", 1.5, 14000.0),
}
_LIVESTOCK = {  # per 10k persons
    "pigs": ("livestock", "head", 4700.0, 2200.0),
    "cattle": ("livestock", "head", 450.0, 9000.0),
    "poultry": ("livestock", "head", 30000.0, 40.0),
}
_OUTPUT_CALIB = {
    "agriculture": "gross_output_crop_farming_10k_yuan",
    "forestry": "gross_output_forestry_10k_yuan",
    "livestock": "gross_output_animal_husbandry_10k_yuan",
}


def _class_ha(shares: dict[int, float], area_km2: float) -> dict[str, float]:
    def ha(pred) -> float:
        return sum(v for k, v in shares.items() if pred(k)) * area_km2 * 100.0

    return {
        "paddy": ha(lambda c: c == 151), "dry": ha(lambda c: c == 152),
        "orchard": ha(lambda c: c == 153), "tea": ha(lambda c: c == 154),
        "crop": ha(lambda c: c in (151, 152)), "forest": ha(lambda c: c // 10 == 11),
        "water": ha(lambda c: c in (145, 146)),
    }


def _pub(code: str, ind: str) -> tuple[float, int | None, str] | None:
    r = published().get((code, ind))
    if r is None:
        return None
    year = int(r["year"]) if r["year"] else None
    return float(r["value"]), year, f"{ind} {r['year'] or 'n.d.'} {r['confidence']}"


def socioeconomic(cps: list[CountyParams], years: list[int]) -> pd.DataFrame:
    """region_code, year, gdp_10k_yuan, population_10k, area_km2, source."""
    rows = []
    for p in cps:
        gdp = _pub(p.region_code, "gdp_10k_yuan")
        gdp_pc = _pub(p.region_code, "gdp_per_capita_yuan")
        pop = _pub(p.region_code, "resident_population_10k")
        for y in years:
            src = []
            if pop is not None:
                pop_y = pop[0] * (1 + POP_TREND) ** (y - (pop[1] or y))
                src.append(f"population from {pop[2]}")
            elif gdp is not None and gdp_pc is not None and gdp[1] == gdp_pc[1]:
                pop_y = gdp[0] / gdp_pc[0] * (1 + POP_TREND) ** (y - (gdp[1] or y))
                src.append("population = GDP / GDP per capita (calibration.csv) [K]")
            elif gdp is not None:
                gdp_then = gdp[0] * (1 + GDP_GROWTH) ** (2023 - (gdp[1] or 2023))
                pop_y = gdp_then / GUIZHOU_GDP_PC * (1 + POP_TREND) ** (y - 2023)
                src.append("population generated: published GDP / Guizhou GDP per capita")
            else:
                pop_y = p.area_km2 * GUIZHOU_DENSITY / 1e4 * (0.8 + 10 * p.urban)
                src.append("population generated from area × Guizhou density")
            if gdp is not None:
                gdp_y = gdp[0] * (1 + GDP_GROWTH) ** (y - (gdp[1] or y))
                src.append(f"GDP from {gdp[2]}, carried at {GDP_GROWTH:.0%}/yr")
            else:
                gdp_y = pop_y * GUIZHOU_GDP_PC * (0.7 + 8 * p.urban) * (1 + GDP_GROWTH) ** (
                    y - 2023)
                src.append("GDP generated from population × Guizhou GDP per capita")
            rows.append({"region_code": p.region_code, "year": y,
                         "gdp_10k_yuan": round(gdp_y, 1), "population_10k": round(pop_y, 3),
                         "area_km2": round(p.area_km2, 3), "source": "; ".join(src)})
    return pd.DataFrame(rows)


def products(cps: list[CountyParams], shares: list[dict[int, float]], years: list[int],
             socio: pd.DataFrame, seed: int) -> pd.DataFrame:
    """region_code, year, category, product, quantity, unit, price_yuan_per_unit,
    output_value_10k_yuan, source."""
    rows = []
    for p, sh in zip(cps, shares, strict=True):
        ha = _class_ha(sh, p.area_km2)
        rng = np.random.default_rng([seed & 0xFFFFFFFF, int(p.region_code), 17])
        mult = {k: float(rng.uniform(0.7, 1.3)) for k in (*_CROPS, *_LIVESTOCK)}
        if p.region_code == "520381":
            mult["bamboo"] *= 8.0  # 赤水: 123万亩 bamboo (pilot_counties_stats.csv)
        for y in years:
            yf = year_factors(seed, y)["precip"]
            pop = float(socio.loc[(socio.region_code == p.region_code) & (socio.year == y),
                                  "population_10k"].iloc[0])
            items = []
            for prod, (cat, unit, base, yld, price) in _CROPS.items():
                weather = yf**0.3 if cat == "agriculture" else 1.0
                q = ha[base] * yld * mult[prod] * weather * 1.02 ** (y - years[0])
                items.append([cat, prod, q, unit, price])
            for prod, (cat, unit, per10k, price) in _LIVESTOCK.items():
                items.append([cat, prod, pop * per10k * mult[prod], unit, price])
            df = pd.DataFrame(items, columns=["category", "product", "quantity", "unit",
                                              "price_yuan_per_unit"])
            df["output_value_10k_yuan"] = df["quantity"] * df["price_yuan_per_unit"] / 1e4
            df["source"] = GEN + ": class area × yield × price [K]"
            for cat, ind in _OUTPUT_CALIB.items():
                pub = _pub(p.region_code, ind)
                sel = df["category"] == cat
                if pub is None or df.loc[sel, "output_value_10k_yuan"].sum() <= 0:
                    continue
                target = pub[0] * (1.04 ** (y - (pub[1] or y)))
                f = target / df.loc[sel, "output_value_10k_yuan"].sum()
                df.loc[sel, "quantity"] *= f
                df.loc[sel, "output_value_10k_yuan"] *= f
                df.loc[sel, "source"] = f"{GEN}, category total scaled to {pub[2]}"
            df.insert(0, "year", y)
            df.insert(0, "region_code", p.region_code)
            rows.append(df)
    out = pd.concat(rows, ignore_index=True)
    out["quantity"] = out["quantity"].round(1)
    out["output_value_10k_yuan"] = out["output_value_10k_yuan"].round(2)
    return out


def water_use(cps: list[CountyParams], shares: list[dict[int, float]], years: list[int],
              socio: pd.DataFrame, seed: int) -> pd.DataFrame:
    """region_code, year, use, volume_10k_m3, source (m³ rates per ha / person / 10⁴ yuan [K])."""
    rows = []
    for p, sh in zip(cps, shares, strict=True):
        ha = _class_ha(sh, p.area_km2)
        for y in years:
            s = socio[(socio.region_code == p.region_code) & (socio.year == y)].iloc[0]
            dry = 1.0 / year_factors(seed, y)["precip"]
            agri = (ha["paddy"] * 6000 + ha["dry"] * 900 + (ha["tea"] + ha["orchard"]) * 600)
            vols = {
                "agricultural": agri * dry / 1e4,
                "industrial": s.gdp_10k_yuan * 0.33 * 0.003,
                "domestic": s.population_10k * 55.0,
                "ecological": s.population_10k * 55.0 * 0.08,
            }
            for use, v in vols.items():
                rows.append({"region_code": p.region_code, "year": y, "use": use,
                             "volume_10k_m3": round(v, 2), "source": GEN})
    return pd.DataFrame(rows)


def hydropower(cps: list[CountyParams], years: list[int], seed: int) -> pd.DataFrame:
    """region_code, year, generation_10k_kwh, source (capacity × 3 600 h × weather)."""
    rows = []
    for p in cps:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, int(p.region_code), 23])
        pub = _pub(p.region_code, "exploitable_hydropower_10k_kw")
        if pub is not None:
            cap, src = 0.7 * pub[0], f"{GEN}: 70 % of {pub[2]} × 3600 h"
        else:
            cap, src = p.area_km2 / 1000.0 * float(rng.uniform(0.5, 2.5)), GEN
        for y in years:
            gen = cap * 3600.0 * year_factors(seed, y)["precip"]
            rows.append({"region_code": p.region_code, "year": y,
                         "generation_10k_kwh": round(gen, 1), "source": src})
    return pd.DataFrame(rows)


def emissions(cps: list[CountyParams], shares: list[dict[int, float]], years: list[int],
              socio: pd.DataFrame, seed: int) -> pd.DataFrame:
    """region_code, year, pollutant, emission_t, source (t per 10⁸ yuan GDP / 10⁴ persons [K])."""
    rows = []
    for p, sh in zip(cps, shares, strict=True):
        crop_ha = _class_ha(sh, p.area_km2)["crop"]
        rng = np.random.default_rng([seed & 0xFFFFFFFF, int(p.region_code), 29])
        noise = {k: float(rng.lognormal(0.0, 0.15)) for k in
                 ("SO2", "NOx", "PM", "COD", "NH3N", "TN", "TP")}
        for y in years:
            s = socio[(socio.region_code == p.region_code) & (socio.year == y)].iloc[0]
            gdp_yi = s.gdp_10k_yuan / 1e4
            pop = s.population_10k
            base = {
                "SO2": gdp_yi * 8.0, "NOx": gdp_yi * 10.0, "PM": gdp_yi * 7.0,
                "COD": pop * 90.0 + crop_ha * 0.02, "NH3N": pop * 9.0,
                "TN": pop * 25.0 + crop_ha * 0.01, "TP": pop * 2.5 + crop_ha * 0.002,
            }
            trend = (1 - 0.03) ** (y - years[0])
            for k, v in base.items():
                rows.append({"region_code": p.region_code, "year": y, "pollutant": k,
                             "emission_t": round(v * noise[k] * trend, 2), "source": GEN})
    return pd.DataFrame(rows)


def tourism(cps: list[CountyParams], years: list[int], socio: pd.DataFrame,
            seed: int) -> pd.DataFrame:
    """region_code, year, visitors_10k, tourism_revenue_10k_yuan, source."""
    rows = []
    for p in cps:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, int(p.region_code), 31])
        vis = _pub(p.region_code, "tourist_visits_10k")
        rev = _pub(p.region_code, "tourism_revenue_10k_yuan")
        for y in years:
            rebound = 1.0 if y <= 2022 else 1.25  # post-pandemic rebound in 2023 [K]
            if vis is not None and rev is not None:
                v = vis[0] * rebound
                r = rev[0] / vis[0] * v
                src = f"{GEN}: level of {vis[2]} carried to {y} (×{rebound})"
            else:
                pop = float(socio.loc[(socio.region_code == p.region_code) & (socio.year == y),
                                      "population_10k"].iloc[0])
                v = pop * float(rng.uniform(10.0, 30.0)) * rebound
                r = v * 900.0
                src = GEN
            rows.append({"region_code": p.region_code, "year": y, "visitors_10k": round(v, 2),
                         "tourism_revenue_10k_yuan": round(r, 1), "source": src})
    return pd.DataFrame(rows)


def reservoirs(cps: list[CountyParams], res_list: list) -> pd.DataFrame:
    """region_code, name, total_capacity_10k_m3, flood_capacity_10k_m3, area_km2, source."""
    rows = []
    count: dict[int, int] = {}
    for r in res_list:
        p = cps[r.county]
        count[r.county] = count.get(r.county, 0) + 1
        total = r.area_km2 * 1e6 * r.depth_m * 0.5 / 1e4  # mean depth = half the max depth
        rows.append({"region_code": p.region_code,
                     "name": f"{p.name}样例水库{count[r.county]} (sample)",
                     "total_capacity_10k_m3": round(total, 1),
                     "flood_capacity_10k_m3": round(0.25 * total, 1),
                     "area_km2": round(r.area_km2, 3), "source": GEN + ": drawn on the map"})
    cols = ["region_code", "name", "total_capacity_10k_m3", "flood_capacity_10k_m3",
            "area_km2", "source"]
    return pd.DataFrame(rows, columns=cols)
