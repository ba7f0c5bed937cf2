"""VEP before/after increments and NPV asset values (GEP_METHOD §9)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from liangshan.accounting.vep import (
    NPV_RATE,
    NPV_YEARS,
    annuity_factor,
    asset_values,
    increments,
    npv_options,
    run_vep,
)
from liangshan.errors import InvalidInput

CRS = "EPSG:4547"
PRICE = pd.DataFrame([{
    "price_id": "oxygen_price.lyt1721_2007", "indicator": "oxygen_release", "item": "*",
    "ecosystem_level1": "*", "value": 10.0, "unit": "CNY/t", "price_year": 2010, "low": "",
    "high": "", "range_basis": "", "index_id": "none", "region": "CN", "reference": "test",
    "confidence": "[V]"}])


def _footprint() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"unit_id": ["lot-1"]}, geometry=[box(0, 0, 100, 100)], crs=CRS)


def _vep(oxygen_t: float, soil_t: float, year: int = 2010, npv=None):
    phys = pd.DataFrame([
        {"region_code": "lot-1", "ecosystem_code": 111, "indicator": "oxygen_release",
         "quantity": oxygen_t, "unit": "t/yr", "method": "m"},
        {"region_code": "lot-1", "ecosystem_code": 111, "indicator": "soil_retention",
         "quantity": soil_t, "unit": "t/yr", "method": "m"}])
    return run_vep(None, year, _footprint(), "mee-2020", physical=phys, overrides=PRICE,
                   npv=npv)


def test_annuity_factor_hand_computed():
    """博文静 2017: 100 years at 2.77 %. By hand: 1.0277^100 = e^(100·ln 1.0277) =
    e^2.732343 = 15.3688, so (1 − 1/15.3688)/0.0277 = 0.934933/0.0277 = 33.752."""
    assert annuity_factor(NPV_RATE, NPV_YEARS) == pytest.approx(33.752, abs=5e-4)
    # two years at 10 %: 1/1.1 + 1/1.21 = 0.909091 + 0.826446 (discounted flows, summed)
    assert annuity_factor(0.10, 2) == pytest.approx(1.735537, abs=1e-6)
    assert annuity_factor(0.0, 30) == 30.0
    for rate, years in ((0.0277, 0), (2.77, 100), (0.03, 1.5), (float("nan"), 10)):
        with pytest.raises(InvalidInput):
            annuity_factor(rate, years)


def test_asset_value_uses_the_manifest_rate_and_horizon():
    acc = _vep(100.0, 5.0, npv=npv_options(0.05, 20))
    assert acc.manifest["options"]["npv"]["discount_rate"] == 0.05
    assert acc.manifest["options"]["npv"]["horizon_years"] == 20
    a = asset_values(acc).set_index("region_code").loc["lot-1"]
    # 100 t × 10 CNY/t = 1,000 CNY/yr; (1 − 1.05^−20)/0.05 = 12.462210
    assert a["annual_yuan"] == pytest.approx(1000.0)
    assert a["npv_yuan"] == pytest.approx(12462.210, abs=1e-3)
    assert a["npv_fen"] == 1246221
    default = asset_values(_vep(100.0, 5.0)).iloc[0]
    assert default["npv_yuan"] == pytest.approx(1000.0 * 33.752, abs=0.5)
    # the NPV options are part of the account's identity
    assert _vep(100.0, 5.0, npv=npv_options()).id != _vep(100.0, 5.0).id
    assert not any("NPV" in w for w in acc.warnings)


def test_increment_between_scenarios_per_indicator():
    before, after = _vep(100.0, 5.0), _vep(150.0, 8.0)
    inc = increments(before, after).set_index(["region_code", "indicator"])
    o2 = inc.loc[("lot-1", "oxygen_release")]
    assert (o2["quantity_before"], o2["quantity_after"], o2["quantity_change"]) == (100, 150, 50)
    assert (o2["value_before_yuan"], o2["value_after_yuan"]) == (1000.0, 1500.0)
    assert o2["value_change_yuan"] == 500.0 and o2["change_pct"] == pytest.approx(50.0)
    soil = inc.loc[("lot-1", "soil_retention")]  # physical only: a quantity, no value
    assert soil["quantity_change"] == 3.0 and soil["value_change_yuan"] == 0.0
    assert inc.loc[("lot-1", "GEP"), "value_change_yuan"] == 500.0


def test_increment_between_years_at_the_earlier_prices():
    before, after = _vep(100.0, 5.0, 2010), _vep(150.0, 5.0, 2015)
    inc = increments(before, after).set_index("indicator")
    p2010 = before.valued["price"].iloc[0]
    assert inc.loc["oxygen_release", "value_after_yuan"] == pytest.approx(150.0 * p2010)
    assert "P_2010" in inc.loc["oxygen_release", "price_basis"]


def test_increment_refuses_different_units():
    other = _vep(1.0, 1.0)
    other.records["region_code"] = "lot-2"
    with pytest.raises(InvalidInput, match="units differ"):
        increments(_vep(1.0, 1.0), other)


@pytest.mark.slow
def test_cli_vep_against_a_baseline_with_npv(tmp_path):
    """A project turns a block of cropland (151) and shrub (121) into forest (111): the
    water-conservation increment follows the runoff coefficients, and the asset value is
    the annual VEP × the 2.77 %/100-year annuity factor."""
    from typer.testing import CliRunner

    from liangshan.cli import app
    from tests.accounting._study_fixture import CRS as FCRS
    from tests.accounting._study_fixture import RES, X0, Y0, ecosystem_array, make_study

    before = make_study(tmp_path / "before")
    eco = ecosystem_array()
    eco[eco == 121] = 111
    eco[eco == 151] = 111
    after = make_study(tmp_path / "after", layers={"ecosystem": eco})
    fp = gpd.GeoDataFrame({"unit_id": ["project"]}, crs=FCRS,
                          geometry=[box(X0 + 2 * RES, Y0 - 16 * RES, X0 + 12 * RES, Y0 - 2 * RES)])
    fp.to_file(tmp_path / "fp.gpkg", driver="GPKG")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["vep", "run", str(after), "--area", str(tmp_path / "fp.gpkg"),
                                   "--year", "2022", "--out", str(out), "--baseline",
                                   str(before), "--npv"])
    assert res.exit_code == 0, res.output
    inc = pd.read_csv(out / "vep_increments.csv").set_index("indicator")
    wc = inc.loc["water_conservation"]
    assert wc["quantity_after"] != wc["quantity_before"]
    assert inc.loc["GEP", "value_change_yuan"] == pytest.approx(
        inc.drop(index="GEP")["value_change_yuan"].sum())
    assets = pd.read_csv(out / "vep_assets.csv").iloc[0]
    assert assets["npv_yuan"] == pytest.approx(assets["annual_yuan"] * 33.75207, rel=1e-6)
    assert (out / "before" / "gep_account.json").is_file()
