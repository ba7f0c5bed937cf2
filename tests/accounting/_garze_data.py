"""Published inputs of the Garzê 2010 GEP account, as engine inputs.

Source: 白玛卓嘎, 肖燚, 欧阳志云, 王莉雁, 《甘孜藏族自治州生态系统生产总值核算研究》,
生态学报 2017, 37(19): 6302-6312, DOI 10.5846/stxb201607011362, Table 3 (功能量, 单价,
价值量) and §3 text (population, tourism). Quantities are the printed ones converted from
亿 / 万 to base units; nothing is derived from the published values.

Ecosystem types: the paper gives the physical quantities as prefecture totals only
(Table 4 splits values, not quantities), so each distributed service is given one
nominal level-3 type; flood storage (lake 144 / reservoir 145 / marsh 143), pest control
(forest 111 / grassland 131) and water-surface evaporation (wetland 144) carry their true
types. Not published, hence absent: the travel cost per visit (the recreation value
70.67 亿元 cannot be reproduced from published inputs) and GDP.
"""

from __future__ import annotations

import math

import pandas as pd

REGION = "513300"  # 甘孜藏族自治州 (GB/T 2260)
YI = 1e8  # 亿
WAN = 1e4  # 万

# indicator, ecosystem_code, printed quantity, decimals printed, scale, unit,
# price (元/unit, 2010), printed value (亿元, 4 decimals in Table 3)
PHYSICAL = [
    ("water_conservation", 131, 321.49, 2, YI, "m3/yr", 7.06, 2269.7074),
    ("sediment_avoided", 111, 10.03, 2, YI, "m3/yr", 15.58, 156.2555),
    ("nitrogen_retained", 111, 1437.94, 2, WAN, "t/yr", 875, 125.8199),
    ("phosphorus_retained", 111, 419.72, 2, WAN, "t/yr", 2800, 117.5226),
    ("sand_fixation", 131, 779.42, 2, WAN, "t/yr", 3.75 / (1.28 * 0.1), 2.2835),
    ("flood_regulation", 144, 2.43, 2, YI, "m3/yr", 7.06, 17.1430),
    ("flood_regulation", 145, 0.01, 2, YI, "m3/yr", 7.06, 0.0684),
    ("flood_regulation", 143, 6.00, 2, YI, "m3/yr", 7.06, 42.3436),
    ("air_purification_so2", 144, 1137, 0, 1, "t/yr", 1200, 0.0136),
    ("air_purification_nox", 144, 2772, 0, 1, "t/yr", 630, 0.0175),
    ("air_purification_pm", 144, 941, 0, 1, "t/yr", 150, 0.0014),
    ("water_purification_cod", 144, 5424, 0, 1, "t/yr", 700, 0.0380),
    ("water_purification_nh3n", 144, 625, 0, 1, "t/yr", 875, 0.0055),
    ("carbon_sequestration", 111, 0.31, 2, YI, "t CO2/yr", 380, 117.3548),
    ("oxygen_release", 111, 2.51, 2, YI, "t/yr", 727, 1821.9182),
    ("climate_regulation_transpiration", 111, 2799.10, 2, YI, "kWh/yr", 0.53, 1483.5208),
    ("climate_regulation_evaporation", 144, 1272.35, 2, YI, "kWh/yr", 0.53, 674.3433),
    ("pest_control", 111, 158, 0, WAN, "hm2/yr", 375, 5.9250),
    ("pest_control", 131, 711.13, 2, WAN, "hm2/yr", 112.5, 8.0003),
]
SOIL_RETENTION_T = 38.86 * YI  # §3.2.2, physical only

# Provisioning: net output values (亿元, Table 3, 4 decimals), water use (亿 m3), hydropower.
NET_OUTPUT_YI = {"agriculture": 12.2875, "forestry": 2.3777, "livestock": 22.0760,
                 "fishery": 0.0356}
WATER_USE_YI_M3 = {"domestic": (1.36, 2.6, 3.5400), "industrial": (150.17, 3.6, 540.6113),
                   "agricultural": (17.31, 0.07, 1.2117)}
HYDROPOWER_YI_KWH = (95.30, 0.53, 50.5090)
VISITORS_WAN = 358.68
TOURISM_REVENUE_YI = 23.56
POPULATION_WAN = 106  # §1: "至2010年人口约106万"
AREA_KM2 = 149687.70  # Table 1 total

# Printed results (亿元): Table 3 subtotals, §3 text and abstract.
PRINTED = {
    "material_agriculture": 12.29, "material_forestry": 2.38, "material_livestock": 22.08,
    "material_fishery": 0.04, "water_supply": 545.36, "hydropower": 50.51,
    "water_conservation": 2269.71, "soil": 399.60, "sand_fixation": 2.28,
    "flood_regulation": 59.56, "air": 0.03, "water_purification": 0.04,
    "carbon_oxygen": 1939.27, "climate_regulation": 2157.86, "pest_control": 13.93,
    "recreation": 70.67, "provisioning": 632.64, "regulating": 6842.28, "cultural": 70.67,
    "gep": 7545.59,
}
PER_CAPITA_WAN = 71.18


def physical_frame() -> pd.DataFrame:
    rows = [{"region_code": REGION, "ecosystem_code": eco, "indicator": ind,
             "quantity": q * scale, "unit": unit, "method": "published (Garzê Table 3)"}
            for ind, eco, q, _d, scale, unit, _p, _v in PHYSICAL]
    rows.append({"region_code": REGION, "ecosystem_code": 111, "indicator": "soil_retention",
                 "quantity": SOIL_RETENTION_T, "unit": "t/yr",
                 "method": "published (Garzê §3.2.2)"})
    return pd.DataFrame(rows)


def tables() -> dict[str, pd.DataFrame]:
    nan = math.nan
    products = pd.DataFrame([
        {"region_code": REGION, "year": 2010, "category": c, "product": f"{c} (total)",
         "quantity": nan, "unit": "", "price_yuan_per_unit": nan,
         "output_value_10k_yuan": nan, "net_output_value_10k_yuan": v * YI / WAN}
        for c, v in NET_OUTPUT_YI.items()])
    water = pd.DataFrame([{"region_code": REGION, "year": 2010, "use": u,
                           "volume_10k_m3": q * YI / WAN}
                          for u, (q, _p, _v) in WATER_USE_YI_M3.items()])
    hydro = pd.DataFrame([{"region_code": REGION, "year": 2010,
                           "generation_10k_kwh": HYDROPOWER_YI_KWH[0] * YI / WAN}])
    emissions = pd.DataFrame([
        {"region_code": REGION, "year": 2010, "pollutant": p, "emission_t": e}
        for p, e in (("SO2", 1137), ("NOx", 2772), ("PM", 941), ("COD", 5424),
                     ("NH3N", 625))])
    tourism = pd.DataFrame([{"region_code": REGION, "year": 2010,
                             "visitors_10k": VISITORS_WAN,
                             "tourism_revenue_10k_yuan": TOURISM_REVENUE_YI * YI / WAN}])
    socio = pd.DataFrame([{"region_code": REGION, "year": 2010, "gdp_10k_yuan": nan,
                           "population_10k": POPULATION_WAN, "area_km2": AREA_KM2}])
    return {"products": products, "water_use": water, "hydropower": hydro,
            "emissions": emissions, "tourism": tourism, "socioeconomic": socio}
