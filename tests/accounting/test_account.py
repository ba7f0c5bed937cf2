"""The Account: totals, fen, ratios, official tables, roll-up, compare, manifest ID."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liangshan.accounting.account import compare, region_at, to_fen
from liangshan.accounting.run import run_gep
from liangshan.errors import InvalidInput
from tests.accounting import _small_case as sc


@pytest.fixture(scope="module")
def acc():
    return run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical())


def test_totals_are_sums_of_rows_and_fen_add_up(acc):
    v = acc.valued
    t = acc.totals().set_index("region_code")
    for r in (sc.R1, sc.R2):
        assert t.loc[r, "gep_yuan"] == pytest.approx(v[v["region_code"] == r]["value_yuan"].sum())
        assert t.loc[r, "gep_fen"] == int(v[v["region_code"] == r]["value_fen"].sum())
    assert acc.gep_fen() == int(t["gep_fen"].sum())
    assert abs(acc.gep_fen() / 100 - acc.gep()) < len(v)  # half a fen per row at most
    assert str(acc.records["value_fen"].dtype) == "Int64"
    assert acc.records.loc[acc.records["indicator"] == "soil_retention", "value_fen"].isna().all()
    assert sum(acc.class_totals().values()) == pytest.approx(acc.gep())


def test_to_fen_rounds_half_to_even():
    s = to_fen(pd.Series([0.005, 0.015, 1.234, float("nan")]))
    assert s.tolist()[:3] == [0, 2, 123] and s.isna().iloc[3]


def test_ratios_hand_computed(acc):
    r = acc.ratios().set_index("region_code")
    gep1 = acc.totals().set_index("region_code").loc[sc.R1, "gep_yuan"]
    assert r.loc[sc.R1, "gep_gdp_ratio"] == pytest.approx(gep1 / 1.0e9)
    assert r.loc[sc.R1, "gep_per_capita_yuan"] == pytest.approx(gep1 / 3.0e5)
    assert r.loc[sc.R1, "gep_per_km2_yuan"] == pytest.approx(gep1 / 1800.0)


def test_gaps_listed_never_zero(acc):
    assert "landscape_premium" in set(acc.gaps["indicator"])
    assert acc.gaps["reason"].str.startswith("not accounted:").all()
    assert "landscape_premium" not in set(acc.records["indicator"])


def test_official_tables(acc):
    a = acc.table_a()
    assert {"一级类", "实物量指标", "单位", "森林", "湿地", "合计", "方法"} <= set(a.columns)
    wc = a[a["实物量指标"] == "水源涵养量"].iloc[0]
    assert wc["合计"] == pytest.approx(4.2e6) and wc["森林"] == pytest.approx(4.0e6)
    b = acc.table_b()
    assert b["合计(万元)"].sum() == pytest.approx(acc.gep() / 1e4)
    assert b["占GEP(%)"].sum() == pytest.approx(100.0)
    c = acc.table_c().set_index("项目")
    assert c.loc["生态产品总值 GEP", "数值"] == pytest.approx(acc.gep() / 1e4)
    assert c.loc["GEP/GDP (绿金指数)", "数值"] == pytest.approx(acc.gep() / 1.5e9)
    b1 = acc.table_b(sc.R1)
    assert b1["合计(万元)"].sum() < b["合计(万元)"].sum()
    with pytest.raises(InvalidInput, match="not in the account"):
        acc.table_b("999999")


def test_rollup_preserves_gep(acc):
    assert region_at("520381", "prefecture") == "520300"
    assert region_at("520381001", "county") == "520381"
    pre = acc.rollup("prefecture")
    assert pre.regions == ["520300"]
    assert pre.gep_fen() == acc.gep_fen()
    assert pre.ratios()["gdp_yuan"].iloc[0] == pytest.approx(1.5e9)
    prov = pre.rollup("province")
    assert prov.regions == ["520000"] and prov.gep() == pytest.approx(acc.gep())


def test_compare_constant_prices_contributions():
    """Doubling every physical quantity doubles regulating values at constant prices."""
    a = run_gep(sc.tables(), 2021, "ndrc-2022", physical=sc.physical(2021))
    b = run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical(2022, scale=2.0))
    cmp = compare(a, b, constant_prices=True)
    rows = cmp.rows
    wc = rows[(rows["indicator"] == "water_conservation") & (rows["region_code"] == sc.R2)]
    assert wc["value_b_const_yuan"].iloc[0] == pytest.approx(2 * wc["value_a_yuan"].iloc[0])
    assert wc["constant_price_method"].iloc[0] == "Q_2022 x P_2021"
    for _, g in rows.groupby("region_code"):
        assert g["contribution_share"].sum() == pytest.approx(1.0)
    tot = cmp.totals.set_index("region_code")
    assert tot["change_yuan"].sum() == pytest.approx(rows["change_yuan"].sum())
    # Gross-output statistics (no quantity) are deflated with the CPI, recorded per row.
    ag = rows[rows["indicator"] == "material_agriculture"].iloc[0]
    assert ag["constant_price_method"].startswith("deflated by cpi:CN 2022")
    assert ag["value_b_const_yuan"] == pytest.approx(ag["value_b_yuan"] / 1.020)
    cur = compare(a, b, constant_prices=False)
    assert (cur.rows["value_b_const_yuan"] == cur.rows["value_b_yuan"]).all()


def test_manifest_id_is_a_content_hash(acc, tmp_path):
    again = run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical())
    assert acc.id == again.id and len(acc.id) == 64
    assert acc.manifest["created_utc"]
    other = run_gep(sc.tables(), 2022, "ndrc-2022", physical=sc.physical(scale=1.01))
    assert other.id != acc.id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gbt = run_gep(sc.tables(), 2022, "gbt-46869-2025", physical=sc.physical())
    assert gbt.id != acc.id and gbt.warnings and "NOT confirmed" in gbt.warnings[0]
    m = acc.manifest
    assert set(m["parameters"]) >= {"prices", "price_indices", "indicators"}
    assert m["profile"]["id"] == "ndrc-2022" and len(m["code"]["accounting_sources_sha256"]) == 64
    assert "table:products" in m["inputs"] and "physical" in m["inputs"]


def test_origin_rule_subtracts_transferred_water():
    t = sc.tables()
    t["water_use"].loc[len(t["water_use"])] = {"region_code": sc.R1, "year": 2022,
                                               "use": "transfer_in", "volume_10k_m3": 35.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_gep(t, 2022, "gbt-46869-2025", physical=sc.physical())
    ndrc = run_gep(t, 2022, "ndrc-2022", physical=sc.physical())
    ws_a = a.valued[a.valued["indicator"] == "water_supply"]["quantity"].sum()
    ws_n = ndrc.valued[ndrc.valued["indicator"] == "water_supply"]["quantity"].sum()
    assert ws_n == 350.0e4 and ws_a == pytest.approx(315.0e4)
    assert any(r["rule"] == "origin_rule" and "region_code" in r for r in a.rules)


def test_json_export_roundtrip(acc):
    d = acc.to_dict()
    assert d["gep_fen"] == acc.gep_fen() and d["account_id"] == acc.id
    assert len(d["records"]) == len(acc.records)
    assert not any(isinstance(v, float) and math.isnan(v) for v in d["class_totals_yuan"].values())
    assert np.isfinite(d["gep_yuan"])


def test_lines_for_storage_are_whole_fen(acc):
    lines = acc.lines()
    assert {"region_code", "service_class", "indicator", "value_fen"} <= set(lines.columns)
    assert str(lines["value_fen"].dtype) == "int64"
    assert int(lines["value_fen"].sum()) == acc.gep_fen()
    s = acc.summary()
    assert s["gep_fen"] == acc.gep_fen() == sum(s[f"{c}_fen"] for c in
                                                 ("provisioning", "regulating", "cultural"))
    assert acc.kind == "GEP" and s["gaps"]


def test_no_study_and_no_physical_is_an_error():
    with pytest.raises(InvalidInput, match="no study area and no physical account"):
        run_gep(None, 2022, "ndrc-2022")


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["520381", "520382", "520521", "522634"]),
                          st.sampled_from([111, 131, 144, 145]),
                          st.floats(0, 1e9, allow_nan=False)), min_size=1, max_size=12))
def test_rollup_and_fen_invariants(rows):
    """Roll-up keeps GEP to the fen; value is linear in quantity (V = Q × P)."""
    phys = pd.DataFrame([{"region_code": r, "ecosystem_code": e, "indicator": "water_conservation",
                          "quantity": q, "unit": "m3/yr", "method": "h"} for r, e, q in rows])
    acc = run_gep(None, 2022, "ndrc-2022", physical=phys)
    assert acc.rollup("province").gep_fen() == acc.gep_fen()
    assert acc.rollup("prefecture").gep_fen() == acc.gep_fen()
    price = acc.valued["price"].iloc[0]
    assert acc.gep() == pytest.approx(phys["quantity"].sum() * price, rel=1e-9, abs=1e-6)


def test_region_without_rows_in_a_used_table_is_a_gap(acc):
    g = acc.gaps
    hit = g[(g["region_code"] == sc.R2) & (g["indicator"] == "water_supply")]
    assert len(hit) == 1 and "no rows for region 520382 in table water_use" in hit["reason"].iloc[0]
    assert g[(g["region_code"] == sc.R1) & (g["indicator"] == "material_agriculture")].empty
