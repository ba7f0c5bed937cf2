"""Material supply, water, hydropower and cultural services from the statistical tables."""

from __future__ import annotations

import pandas as pd
import pytest

from liangshan.accounting.cultural import cultural_records
from liangshan.accounting.params import PriceBook
from liangshan.accounting.profiles import load_profile
from liangshan.accounting.provisioning import provisioning_records
from liangshan.accounting.valuation import ValuationContext
from liangshan.errors import InvalidInput
from tests.accounting import _small_case as sc


def _local(tmp_path, settings: str, indicators: str = "", parent="ndrc-2022"):
    p = tmp_path / "local.toml"
    p.write_text(f'[profile]\nid = "t"\nextends = "{parent}"\nname = "t"\ndocument = "t"\n'
                 f'confidence = "[Hyp]"\nstatus = "t"\n[settings]\n{settings}\n{indicators}',
                 encoding="utf-8")
    return load_profile(p)


def _run(profile, tables, year=2022):
    ctx = ValuationContext(profile=profile, book=PriceBook.load(), year=year)
    return provisioning_records(tables.get, ctx), cultural_records(tables.get, ctx), ctx


def _setting(name, value):
    return (f'{name} = {{ value = {value}, unit = "-", reference = "test", '
            'confidence = "[Hyp]" }')


def test_gross_output_and_quantity_price(tmp_path):
    t = sc.tables()
    prov, _, _ = _run(load_profile("ndrc-2022"), t)
    ag = prov[prov["indicator"] == "material_agriculture"]
    assert ag["value_yuan"].sum() == pytest.approx(500.0 * 1e4)  # 500 万元 gross output
    prof = _local(tmp_path, _setting("material_value_basis", '"quantity_price"'))
    t["products"].loc[len(t["products"])] = {
        "region_code": sc.R1, "year": 2022, "category": "agriculture", "product": "kiwi",
        "quantity": 5.0, "unit": "t", "price_yuan_per_unit": float("nan"),
        "output_value_10k_yuan": 3.0}
    prov, _, ctx = _run(prof, t)
    tea = prov[prov["item"] == "tea"]
    assert tea["value_yuan"].iloc[0] == pytest.approx(100.0 * 50000.0)
    assert "kiwi" not in set(prov["item"])
    gap = [g for g in ctx.gaps if g["item"] == "kiwi"]
    assert gap and "missing price_yuan_per_unit" in gap[0]["reason"]


def test_net_output_needs_its_column(tmp_path):
    prof = _local(tmp_path, _setting("material_value_basis", '"net_output"'))
    prov, _, ctx = _run(prof, sc.tables())
    assert not prov["indicator"].str.startswith("material_").any()
    reasons = {g["reason"] for g in ctx.gaps}
    assert any("missing column products.net_output_value_10k_yuan" in r for r in reasons)


def test_water_supply_by_use_and_hydropower():
    prov, _, ctx = _run(load_profile("ndrc-2022"), sc.tables())
    ws = prov[prov["indicator"] == "water_supply"].set_index("item")
    assert set(ws.index) == {"domestic", "industrial", "agricultural"}
    cpi = ws.loc["domestic", "price_index_factor"]
    assert ws.loc["domestic", "value_yuan"] == pytest.approx(100.0e4 * 2.6 * cpi)
    assert ws.loc["agricultural", "quantity"] == 200.0e4
    assert any(r["rule"] == "water_use_excluded" and "ecological" in r["detail"]
               for r in ctx.rules)
    hp = prov[prov["indicator"] == "hydropower"]
    assert hp["value_yuan"].iloc[0] == pytest.approx(1000.0e4 * hp["price"].iloc[0])
    assert hp["price_base_value"].iloc[0] == 0.53


def test_missing_statistics_column_is_an_error():
    t = sc.tables()
    t["water_use"] = t["water_use"].drop(columns="volume_10k_m3")
    with pytest.raises(InvalidInput, match=r"'water_use': missing column\(s\) \['volume_10k_m3'"):
        _run(load_profile("ndrc-2022"), t)


def test_missing_table_is_a_gap():
    t = sc.tables()
    del t["hydropower"], t["tourism"]
    _prov, cult, ctx = _run(load_profile("ndrc-2022"), t)
    reasons = {(g["indicator"], g["reason"].split(" (")[0]) for g in ctx.gaps}
    assert ("hydropower", "not accounted: missing table hydropower") in reasons
    assert ("recreation", "not accounted: missing table tourism") in reasons
    assert cult.empty


def test_recreation_revenue_share_and_travel_cost(tmp_path):
    prof = _local(tmp_path, _setting("nature_tourism_share", "0.4"))
    _, cult, ctx = _run(prof, sc.tables())
    rec = cult[cult["indicator"] == "recreation"]
    assert rec["value_yuan"].iloc[0] == pytest.approx(5000.0e4 * 0.4)
    assert rec["price"].iloc[0] == pytest.approx(5000.0e4 * 0.4 / 10.0e4)  # CNY/visit
    land = [g for g in ctx.gaps if g["indicator"] == "landscape_premium"]
    assert land and "missing table landscape" in land[0]["reason"]
    # Travel cost with no price shipped: a gap (ouyang-research names a local price).
    _, cult, ctx = _run(load_profile("ouyang-research"), sc.tables())
    assert cult.empty
    assert any(g["indicator"] == "recreation" and "missing price" in g["reason"]
               for g in ctx.gaps)


def test_year_without_rows_is_a_gap():
    prov, _, ctx = _run(load_profile("ndrc-2022"), sc.tables(years=(2021,)))
    assert prov.empty
    assert any(g["indicator"] == "water_supply" and "no rows for the year" in g["reason"]
               for g in ctx.gaps)


def test_landscape_table_used_when_present():
    t = sc.tables()
    t["landscape"] = pd.DataFrame([{"region_code": sc.R1, "year": 2022, "area_m2": 1000.0,
                                    "premium_yuan_per_m2": 12.0}])
    _, cult, _ = _run(load_profile("ndrc-2022"), t)
    assert cult[cult["indicator"] == "landscape_premium"]["value_yuan"].iloc[0] == 12000.0
