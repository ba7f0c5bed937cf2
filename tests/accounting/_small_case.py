"""A small hand-made GEP case: two counties of one prefecture, two years.

Numbers are chosen so that every value can be checked by hand (quantities are round, the
physical frame follows the contract of ``liangshan.accounting.physical.physical_account``).
"""

from __future__ import annotations

import pandas as pd

R1, R2 = "520381", "520382"  # two counties of 遵义市 (prefecture 520300)


def physical(year: int = 2022, scale: float = 1.0) -> pd.DataFrame:
    rows = [
        (R1, 111, "water_conservation", 1.0e6, "m3/yr"),
        (R1, 131, "water_conservation", 2.0e5, "m3/yr"),
        (R1, 111, "soil_retention", 5.0e4, "t/yr"),
        (R1, 111, "sediment_avoided", 1.0e4, "m3/yr"),
        (R1, 111, "nitrogen_retained", 100.0, "t/yr"),
        (R1, 111, "phosphorus_retained", 10.0, "t/yr"),
        (R1, 111, "carbon_sequestration", 2.0e4, "tCO2/yr"),
        (R1, 111, "oxygen_release", 1.5e4, "tO2/yr"),
        (R1, 144, "water_purification_cod", 300.0, "t/yr"),
        (R1, 111, "air_purification_so2", 50.0, "t/yr"),
        (R1, 111, "climate_regulation_transpiration", 1.0e7, "kWh/yr"),
        (R2, 111, "water_conservation", 3.0e6, "m3/yr"),
        (R2, 145, "flood_regulation", 4.0e5, "m3/yr"),
        (R2, 111, "carbon_sequestration", 1.0e4, "tCO2/yr"),
    ]
    df = pd.DataFrame(rows, columns=["region_code", "ecosystem_code", "indicator", "quantity",
                                     "unit"])
    df["quantity"] *= scale
    df["method"] = "hand-made"
    return df


def tables(years=(2021, 2022)) -> dict[str, pd.DataFrame]:
    prod, water, hydro, em, tour, socio = [], [], [], [], [], []
    for y in years:
        prod += [
            {"region_code": R1, "year": y, "category": "agriculture", "product": "tea",
             "quantity": 100.0, "unit": "t", "price_yuan_per_unit": 50000.0,
             "output_value_10k_yuan": 500.0},
            {"region_code": R1, "year": y, "category": "forestry", "product": "bamboo",
             "quantity": 2000.0, "unit": "t", "price_yuan_per_unit": 600.0,
             "output_value_10k_yuan": 120.0},
            {"region_code": R2, "year": y, "category": "fishery", "product": "fish",
             "quantity": 10.0, "unit": "t", "price_yuan_per_unit": 20000.0,
             "output_value_10k_yuan": 20.0},
        ]
        water += [{"region_code": R1, "year": y, "use": u, "volume_10k_m3": v}
                  for u, v in (("domestic", 100.0), ("industrial", 50.0),
                               ("agricultural", 200.0), ("ecological", 30.0))]
        hydro.append({"region_code": R2, "year": y, "generation_10k_kwh": 1000.0})
        em += [{"region_code": R1, "year": y, "pollutant": "COD", "emission_t": 200.0},
               {"region_code": R1, "year": y, "pollutant": "SO2", "emission_t": 80.0}]
        tour += [{"region_code": R1, "year": y, "visitors_10k": 10.0,
                  "tourism_revenue_10k_yuan": 5000.0}]
        socio += [{"region_code": r, "year": y, "gdp_10k_yuan": g, "population_10k": p,
                   "area_km2": a} for r, g, p, a in ((R1, 100000.0, 30.0, 1800.0),
                                                     (R2, 50000.0, 10.0, 600.0))]
    return {"products": pd.DataFrame(prod), "water_use": pd.DataFrame(water),
            "hydropower": pd.DataFrame(hydro), "emissions": pd.DataFrame(em),
            "tourism": pd.DataFrame(tour), "socioeconomic": pd.DataFrame(socio)}
