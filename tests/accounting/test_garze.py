"""Reproduce the Garzê 2010 GEP value account under the ``ouyang-research`` profile.

Source: 白玛卓嘎, 肖燚, 欧阳志云, 王莉雁, 《甘孜藏族自治州生态系统生产总值核算研究》,
生态学报 2017, 37(19): 6302-6312, DOI 10.5846/stxb201607011362 — Table 3 (physical
quantities, 2010 unit prices, values in 亿元 to 4 decimals, subtotals to 2 decimals) and
the abstract (GEP 7,545.59 亿元; provisioning 632.64, regulating 6,842.28, cultural 70.67;
per capita 71.18 万元).

"To its printed precision": the paper prints quantities rounded (e.g. O2 2.51 亿 t), so a
value recomputed from them can differ from the printed value by up to half a unit of
the quantity's last digit times the price, plus half a unit of the value's last digit.
Every tolerance below is exactly that bound, computed per item; none is a fudge factor.
The largest are O2 (±3.6 亿元) and CO2 (±1.9 亿元). Where the quantity is exact (air and
water purification, hydropower) the 4-decimal value must match exactly.

Not reproducible from published inputs: recreation (景观游憩) — the paper gives the visits
(358.68 万人次) but no travel cost per visit. Without one the engine lists recreation as
a gap; the totals test supplies the cost implied by the published value itself
(70.6669 亿元 / 358.68 万人次, [D], circular) to close the total, and says so.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from liangshan.accounting.run import run_gep
from tests.accounting import _garze_data as g

YI = 1e8


def _account(overrides=None):
    return run_gep(g.tables(), 2010, "ouyang-research", physical=g.physical_frame(),
                   overrides=overrides)


@pytest.fixture(scope="module")
def acc():
    return _account()


def _value(acc, indicator, eco=None, item=None):
    r = acc.valued[acc.valued["indicator"] == indicator]
    if eco is not None:
        r = r[r["ecosystem_code"] == eco]
    if item is not None:
        r = r[r["item"] == item]
    assert len(r), f"{indicator} missing from the account"
    return float(r["value_yuan"].sum()) / YI


def _tol_q(decimals, scale, price):
    """Half a unit of the printed quantity's last digit, valued, in 亿元."""
    return 0.5 * 10.0 ** -decimals * scale * price / YI


@pytest.mark.parametrize("row", g.PHYSICAL, ids=[f"{r[0]}-{r[1]}" for r in g.PHYSICAL])
def test_table3_item_values(acc, row):
    ind, eco, _q, dec, scale, _unit, price, printed = row
    got = _value(acc, ind, eco)
    rec = acc.valued[(acc.valued["indicator"] == ind) & (acc.valued["ecosystem_code"] == eco)]
    assert rec["price"].iloc[0] == pytest.approx(price, rel=1e-12)
    assert abs(got - printed) <= 0.5e-4 + _tol_q(dec, scale, price) + 1e-12


@pytest.mark.parametrize("ind", ["air_purification_so2", "air_purification_nox",
                                 "air_purification_pm", "water_purification_cod",
                                 "water_purification_nh3n"])
def test_exact_quantities_match_to_four_decimals(acc, ind):
    printed = next(r[7] for r in g.PHYSICAL if r[0] == ind)
    assert round(_value(acc, ind), 4) == printed


def test_provisioning_items(acc):
    for cat, v in g.NET_OUTPUT_YI.items():
        assert _value(acc, f"material_{cat}") == pytest.approx(v, abs=1e-9)
    for use, (_q, p, printed) in g.WATER_USE_YI_M3.items():
        assert abs(_value(acc, "water_supply", item=use) - printed) <= (
            0.5e-4 + _tol_q(2, YI, p))
    _q, _p, printed = g.HYDROPOWER_YI_KWH
    assert round(_value(acc, "hydropower"), 4) == printed


GROUPS = {
    "soil": ["sediment_avoided", "nitrogen_retained", "phosphorus_retained"],
    "air": ["air_purification_so2", "air_purification_nox", "air_purification_pm"],
    "water_purification": ["water_purification_cod", "water_purification_nh3n"],
    "carbon_oxygen": ["carbon_sequestration", "oxygen_release"],
    "climate_regulation": ["climate_regulation_transpiration",
                           "climate_regulation_evaporation"],
    "water_conservation": ["water_conservation"], "flood_regulation": ["flood_regulation"],
    "sand_fixation": ["sand_fixation"], "pest_control": ["pest_control"],
}


def _group_tol(inds):
    return sum(_tol_q(d, s, p) for i, _e, _q, d, s, _u, p, _v in g.PHYSICAL if i in inds)


@pytest.mark.parametrize("name", list(GROUPS))
def test_table3_service_subtotals(acc, name):
    inds = GROUPS[name]
    got = sum(_value(acc, i) for i in inds)
    assert abs(got - g.PRINTED[name]) <= 0.005 + _group_tol(inds) + 1e-9


def test_recreation_is_a_gap_without_a_published_travel_cost(acc):
    gaps = acc.gaps[acc.gaps["indicator"] == "recreation"]
    assert len(gaps) == 1
    assert gaps["reason"].iloc[0].startswith("not accounted: missing price")
    assert acc.class_totals()["cultural"] == 0.0


def test_soil_retention_is_physical_only(acc):
    r = acc.records[acc.records["indicator"] == "soil_retention"]
    assert len(r) == 1 and math.isnan(r["value_yuan"].iloc[0])
    assert any(x["rule"] == "final_products_only" for x in acc.rules)


def test_class_totals_and_gep_with_implied_travel_cost():
    """Closes the total with the travel cost implied by the paper's own recreation value."""
    implied = 70.6669 * YI / (g.VISITORS_WAN * 1e4)  # [D] circular: value / visits
    ov = pd.DataFrame([{
        "price_id": "recreation_travel_cost.local", "indicator": "recreation", "item": "*",
        "ecosystem_level1": "*", "value": implied, "unit": "CNY/visit", "price_year": 2010,
        "low": "", "high": "", "range_basis": "", "index_id": "cpi", "region": "CN",
        "reference": "[D] implied by Garzê Table 3: 70.6669 亿元 / 358.68 万人次 (circular)",
        "confidence": "[D]"}])
    acc = _account(ov)
    assert acc.gaps.empty
    assert acc.manifest["price_overrides"]["added"] == ["recreation_travel_cost.local"]
    ct = {k: v / YI for k, v in acc.class_totals().items()}
    prov_tol = 0.005 + 4 * 0.5e-4 + sum(_tol_q(2, YI, p) for _q, p, _v in
                                        g.WATER_USE_YI_M3.values()) + _tol_q(2, YI, 0.53)
    reg_tol = 0.005 + _group_tol({r[0] for r in g.PHYSICAL})
    assert abs(ct["provisioning"] - g.PRINTED["provisioning"]) <= prov_tol
    assert abs(ct["regulating"] - g.PRINTED["regulating"]) <= reg_tol
    assert abs(ct["cultural"] - g.PRINTED["cultural"]) <= 0.005
    gep = acc.gep() / YI
    assert abs(gep - g.PRINTED["gep"]) <= prov_tol + reg_tol + 0.005
    per_capita_wan = acc.ratios()["gep_per_capita_yuan"].iloc[0] / 1e4
    # Population is printed as "约106万" (±0.5 万): relative bound 0.5/106 plus the GEP bound.
    rel = 0.5 / g.POPULATION_WAN + (prov_tol + reg_tol + 0.005) / g.PRINTED["gep"]
    assert abs(per_capita_wan - g.PER_CAPITA_WAN) <= 0.005 + g.PER_CAPITA_WAN * rel
    # Provisioning 8.38 %, regulating 90.68 %, cultural 0.94 % of GEP (abstract).
    assert round(ct["cultural"] / gep * 100, 2) == pytest.approx(0.94, abs=0.011)
