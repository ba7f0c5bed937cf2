"""Regulating-service valuation V = Q × P, hand-computed, and its input checks."""

from __future__ import annotations

import pandas as pd
import pytest

from liangshan.accounting.double_counting import cap_purification_at_emissions
from liangshan.accounting.params import PriceBook, read_price_indices
from liangshan.accounting.profiles import load_profile
from liangshan.accounting.valuation import ValuationContext, value_physical
from liangshan.errors import InvalidInput
from tests.accounting import _small_case as sc


def _ctx(profile="ndrc-2022", year=2022):
    return ValuationContext(profile=load_profile(profile), book=PriceBook.load(), year=year)


def _chain(index, start, end, subst=None):
    """Hand re-basing factor: product of (preceding-year=100) values from start+1 to end."""
    idx = read_price_indices()
    f = 1.0
    for y in range(start + 1, end + 1):
        s = idx[(idx["index_id"] == index) & (idx["year"] == y)]
        if s.empty and subst:
            s = idx[(idx["index_id"] == subst) & (idx["year"] == y)]
        f *= float(s["value"].iloc[0]) / 100
    return f


def test_water_conservation_value_by_region_and_ecosystem():
    ctx = _ctx()
    rec = value_physical(sc.physical(), ctx)
    p = 6.1107 * _chain("fai", 2005, 2022, subst="ppi")  # LY/T 2005 price -> 2022
    wc = rec[rec["indicator"] == "water_conservation"].set_index(["region_code",
                                                                   "ecosystem_code"])
    assert wc.loc[(sc.R1, 111), "value_yuan"] == pytest.approx(1.0e6 * p)
    assert wc.loc[(sc.R1, 131), "value_yuan"] == pytest.approx(2.0e5 * p)
    assert wc.loc[(sc.R2, 111), "value_yuan"] == pytest.approx(3.0e6 * p)
    assert wc["price_base_value"].eq(6.1107).all() and wc["price_base_year"].eq(2005).all()
    assert wc["price_index"].iloc[0].startswith("fai (fai:CN 2006-2019; ppi:CN 2020-2022)")


def test_carbon_uses_the_years_ets_price_and_oxygen_is_excluded_by_ndrc():
    ctx = _ctx()
    rec = value_physical(sc.physical(), ctx)
    c = rec[(rec["indicator"] == "carbon_sequestration") & (rec["region_code"] == sc.R1)]
    assert c["value_yuan"].iloc[0] == pytest.approx(2.0e4 * 55.3)
    assert "oxygen_release" not in set(rec["indicator"])
    assert any(r["rule"] == "excluded_by_profile" and r["indicator"] == "oxygen_release"
               for r in ctx.rules)
    ctx24 = _ctx(year=2024)
    rec24 = value_physical(sc.physical(), ctx24)
    c24 = rec24[rec24["indicator"] == "carbon_sequestration"]
    assert c24["price_id"].iloc[0] == "carbon_price.ets_cn_2023"
    assert any(r["rule"] == "price_year_fallback" for r in ctx24.rules)


def test_soil_retention_kept_physical_without_value():
    rec = value_physical(sc.physical(), _ctx())
    s = rec[rec["indicator"] == "soil_retention"]
    assert len(s) == 1 and s["value_yuan"].isna().all() and s["quantity"].iloc[0] == 5.0e4


def test_missing_price_is_a_gap_not_a_zero(tmp_path):
    p = tmp_path / "local.toml"
    p.write_text('[profile]\nid = "t"\nextends = "ndrc-2022"\nname = "t"\ndocument = "t"\n'
                 'confidence = "[Hyp]"\nstatus = "t"\n[indicators.flood_regulation]\n'
                 'price = "reservoir_cost.not_there"\nmethod = "m"\nreference = "r"\n'
                 'confidence = "[Hyp]"\n')
    ctx = ValuationContext(profile=load_profile(p), book=PriceBook.load(), year=2022)
    rec = value_physical(sc.physical(), ctx)
    assert "flood_regulation" not in set(rec["indicator"])
    gap = [g for g in ctx.gaps if g["indicator"] == "flood_regulation"]
    assert gap and gap[0]["region_code"] == sc.R2
    assert gap[0]["reason"].startswith("not accounted: missing price 'reservoir_cost")


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.drop(columns="unit"), "missing column"),
    (lambda d: d.assign(quantity=d["quantity"].where(d.index != 2, float("nan"))),
     "not a finite number"),
    (lambda d: d.assign(unit=d["unit"].where(d["indicator"] != "carbon_sequestration",
                                             "tC/yr")), "carbon_sequestration"),
    (lambda d: d.assign(indicator=d["indicator"].replace("soil_retention", "soil_health")),
     "unknown indicator"),
    (lambda d: d.assign(quantity=-d["quantity"]), "negative"),
])
def test_bad_physical_input(mutate, match):
    with pytest.raises(InvalidInput, match=match):
        value_physical(mutate(sc.physical()), _ctx())


def test_sand_fixation_area_cost():
    """V = Q/(ρh)·c: 1280 t / (1.28 t/m3 × 0.1 m) × 3.75 CNY/m2 = 37,500 CNY (Garzê eq. 6)."""
    phys = pd.DataFrame([{"region_code": "513300", "ecosystem_code": 131,
                          "indicator": "sand_fixation", "quantity": 1280.0, "unit": "t/yr",
                          "method": "m"}])
    rec = value_physical(phys, _ctx("ouyang-research", 2010))
    assert rec["value_yuan"].iloc[0] == pytest.approx(37500.0)


def test_purification_capped_at_emissions():
    ctx = _ctx()
    em = sc.tables()["emissions"]
    em = em[em["year"] == 2022]
    capped = cap_purification_at_emissions(sc.physical(), em, ctx)
    cod = capped[capped["indicator"] == "water_purification_cod"]["quantity"].iloc[0]
    so2 = capped[capped["indicator"] == "air_purification_so2"]["quantity"].iloc[0]
    assert cod == 200.0 and so2 == 50.0
    assert next(r for r in ctx.rules if r["rule"] == "purification_capped_at_emissions")[
        "removed_quantity"] == 100.0
