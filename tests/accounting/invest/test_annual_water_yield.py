"""Annual Water Yield: hand-computed cases, InVEST's own golden numbers, parity with InVEST."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rasterio

from liangshan.accounting.invest import annual_water_yield as awy
from liangshan.accounting.invest import run_model
from liangshan.errors import InvalidInput

from .conftest import assert_parity, read_band

# natcap.invest 3.20.2 tests/test_annual_water_yield.py::test_fractp_op (inputs and expected
# output, Z = 6), also INVEST_NOTES §3.7.
KC = np.array([[1, 0.1, 0.1], [0.6, 0.6, 0.1]])
ETO = np.array([[1000, 900, 900], [1100, 1005, 1000]])
PRECIP = np.array([[100, 1000, 10], [500, 800, 1100]])
ROOT = np.array([[99, 300, 400], [5, 500, 800]])
SOIL = np.array([[600, 700, 700], [800, 900, 600]])
PAWC = np.array([[0.11, 0.11, 0.12], [0.55, 0.55, 0.19]])
VEG = np.array([[1, 1, 0], [0, 1, 0]])


def _args(p, ws):
    return dict(
        workspace_dir=str(ws), lulc_path=p.lulc_path,
        depth_to_root_rest_layer_path=p.depth_to_root_rest_layer_path,
        precipitation_path=p.precipitation_path, pawc_path=p.pawc_path, eto_path=p.eto_path,
        watersheds_path=p.watersheds_path, sub_watersheds_path=p.sub_watersheds_path,
        biophysical_table_path=p.biophysical_table_path, seasonality_constant=5,
    )


def test_fractp_matches_invest_golden_numbers():
    """InVEST's own test_fractp_op expected values (natcap.invest 3.20.2 test suite)."""
    got = awy.fractp_op(KC, ETO, PRECIP, ROOT, SOIL, PAWC, VEG, 6)
    expected = np.array([[0.9345682, 0.06896508, 1.0], [1.0, 0.6487423, 0.09090909]])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_fractp_hand_computed_vegetated_pixel():
    """Fu–Zhang by hand for pixel (0, 0): PET/P = 10, AWC = min(99, 600)·0.11 = 10.89 mm,
    ω = 10.89/100·6 + 1.25; AET/P = min(10, 1 + 10 − (1 + 10^ω)^(1/ω)) (User's Guide eq. 1–3)."""
    w = 10.89 / 100 * 6 + 1.25
    expected = min(10.0, 1 + 10 - (1 + 10**w) ** (1 / w))
    got = awy.fractp_op(KC, ETO, PRECIP, ROOT, SOIL, PAWC, VEG, 6)
    assert got[0, 0] == pytest.approx(expected, rel=1e-6)
    # non-vegetated: AET = min(Kc·ET0, P) → 100/1100 and min(90, 10)/10 = 1
    assert got[1, 2] == pytest.approx(100 / 1100, rel=1e-6)
    assert got[0, 2] == pytest.approx(1.0)


def test_omega_is_capped_at_five():
    """ω = min(Z·AWC/P + 1.25, 5): with Z = 30 and AWC/P = 1, ω would be 31.25 (cap 5)."""
    one = np.ones((1, 1))
    got = awy.fractp_op(one, one * 800, one * 1000, one * 1000, one * 1000, one, one, 30)
    phi = 0.8
    expected = 1 + phi - (1 + phi**5) ** (1 / 5)
    assert got[0, 0] == pytest.approx(expected, rel=1e-6)


def test_zero_precipitation_is_nodata():
    one = np.ones((1, 2))
    p = np.array([[0.0, 500.0]])
    got = awy.fractp_op(one, one * 800, p, one * 100, one * 100, one * 0.1, one, 5,
                        valid=np.abs(p) > 0)
    assert got[0, 0] == -1.0 and 0 < got[0, 1] <= 1


def test_execute_outputs_and_volume_rule(invest_inputs_factory, tmp_path):
    """wyield = P − AET per pixel; wyield_vol = wyield_mn · polygon area / 1000 (InVEST §3.1)."""
    p = invest_inputs_factory(n=24, seed=3)
    run_model("annual_water_yield", _args(p, tmp_path / "ws") | {"results_suffix": "x"})
    out = tmp_path / "ws" / "output"
    wy, wy_nd = read_band(str(out / "per_pixel" / "wyield_x.tif"))
    aet, _ = read_band(str(out / "per_pixel" / "aet_x.tif"))
    precip, _ = read_band(p.precipitation_path)
    valid = wy != wy_nd
    assert valid.all()
    np.testing.assert_allclose(wy + aet, precip, rtol=1e-5)
    table = pd.read_csv(out / "watershed_results_wyield_x.csv")
    assert list(table.columns[:6]) == ["ws_id", "precip_mn", "PET_mn", "AET_mn", "wyield_mn",
                                       "wyield_vol"]
    # polygons are 12×12 pixels of 30 m: area 129 600 m²
    np.testing.assert_allclose(table["wyield_vol"], table["wyield_mn"] * 129_600 / 1000)
    assert table["wyield_vol"].sum() == pytest.approx(wy.sum(dtype=float) * 900 / 1000, rel=1e-6)
    assert (out / "subwatershed_results_wyield_x.shp").exists()


def test_missing_lucode_is_a_clear_error(invest_inputs_factory, tmp_path):
    p = invest_inputs_factory(n=16)
    table = pd.read_csv(p.biophysical_table_path)
    table[table["LUCODE"] != 1].to_csv(tmp_path / "bio.csv", index=False)
    args = _args(p, tmp_path / "ws") | {"biophysical_table_path": str(tmp_path / "bio.csv")}
    with pytest.raises(InvalidInput, match=r"values \[1\].*biophysical_table_path"):
        run_model("annual_water_yield", args)


def test_demand_and_valuation(invest_inputs_factory, tmp_path):
    """consum_vol = Σ demand; rsupply_vl = wyield_vol − consum_vol; hp_energy =
    eff·frac·height·rsupply·0.00272; hp_val = (price·E − cost)·Σ_{t<T}(1+d)^−t (User's Guide)."""
    p = invest_inputs_factory(n=16)
    (tmp_path / "demand.csv").write_text("lucode,demand\n" + "".join(
        f"{c},{c * 0.5}\n" for c in range(1, 9)))
    (tmp_path / "val.csv").write_text(
        "ws_id,efficiency,fraction,height,kw_price,cost,time_span,discount\n"
        + "".join(f"{i},0.8,0.6,50,0.07,1000,10,5\n" for i in range(1, 5)))
    args = _args(p, tmp_path / "ws") | {"demand_table_path": str(tmp_path / "demand.csv"),
                                        "valuation_table_path": str(tmp_path / "val.csv")}
    run_model("annual_water_yield", args)
    t = pd.read_csv(tmp_path / "ws" / "output" / "watershed_results_wyield.csv")
    lulc, _ = read_band(p.lulc_path)
    expected_consum = (lulc[:8, :8] * 0.5).sum()
    assert t.loc[0, "consum_vol"] == pytest.approx(expected_consum)
    np.testing.assert_allclose(t["rsupply_vl"], t["wyield_vol"] - t["consum_vol"])
    energy = 0.8 * 0.6 * 50 * t["rsupply_vl"] * 0.00272
    np.testing.assert_allclose(t["hp_energy"], energy)
    dsum = sum(1.05 ** -k for k in range(10))
    np.testing.assert_allclose(t["hp_val"], (0.07 * energy - 1000) * dsum)
    assert math.isfinite(t["hp_val"].sum())


@pytest.mark.invest
@pytest.mark.slow
def test_parity_with_invest(invest_inputs_factory, tmp_path):
    """Same inputs (with nodata holes and a P = 0 pixel) through natcap.invest 3.20.2."""
    pytest.importorskip("natcap.invest")
    from natcap.invest.annual_water_yield import annual_water_yield as invest_awy

    p = invest_inputs_factory(n=40, seed=1, holes=True)
    run_model("annual_water_yield", _args(p, tmp_path / "ours"))
    invest_awy.execute(_args(p, tmp_path / "invest"))
    for name in ("fractp", "aet", "wyield"):
        assert_parity(str(tmp_path / "ours/output/per_pixel" / f"{name}.tif"),
                      str(tmp_path / "invest/output/per_pixel" / f"{name}.tif"))
    for stem, key in (("watershed_results_wyield", "ws_id"),
                      ("subwatershed_results_wyield", "subws_id")):
        ours = pd.read_csv(tmp_path / "ours/output" / f"{stem}.csv").set_index(key)
        theirs = pd.read_csv(tmp_path / "invest/output" / f"{stem}.csv").set_index(key)
        assert list(ours.columns) == list(theirs.columns)
        for col in theirs.columns:
            np.testing.assert_allclose(ours[col], theirs[col], rtol=0.005, err_msg=col)


@pytest.mark.invest
def test_alignment_parity_with_invest(invest_inputs_factory, tmp_path):
    """Misaligned inputs: precipitation on a coarser 60 m grid with a larger, offset extent
    and a watershed vector covering only the top quarter. InVEST warps every raster with
    'near' onto the LULC grid over the intersection of all extents and the vector
    (INVEST_NOTES §3.1); ours must produce the same grid and values."""
    pytest.importorskip("natcap.invest")
    import geopandas as gpd
    from affine import Affine
    from natcap.invest.annual_water_yield import annual_water_yield as invest_awy

    p = invest_inputs_factory(n=32, seed=5)
    precip, nd = read_band(p.precipitation_path)
    coarse = np.pad(precip[::2, ::2], 3, mode="edge") + np.float32(7)
    with rasterio.open(
        tmp_path / "precip60.tif", "w", driver="GTiff", height=coarse.shape[0],
        width=coarse.shape[1], count=1, dtype="float32", crs="EPSG:32648", nodata=nd,
        transform=Affine(60, 0, 600_000 - 3 * 60 - 15, 0, -60, 2_950_000 + 3 * 60 + 15),
    ) as dst:
        dst.write(coarse, 1)
    top = gpd.read_file(p.sub_watersheds_path).query("subws_id <= 4")
    top.rename(columns={"subws_id": "ws_id"}).to_file(tmp_path / "top.gpkg")
    args = _args(p, tmp_path) | {"precipitation_path": str(tmp_path / "precip60.tif"),
                                 "watersheds_path": str(tmp_path / "top.gpkg"),
                                 "sub_watersheds_path": None}
    run_model("annual_water_yield", args | {"workspace_dir": str(tmp_path / "ours")})
    invest_awy.execute(args | {"workspace_dir": str(tmp_path / "invest")})
    for name in ("fractp", "wyield"):
        ours = str(tmp_path / "ours/output/per_pixel" / f"{name}.tif")
        theirs = str(tmp_path / "invest/output/per_pixel" / f"{name}.tif")
        with rasterio.open(ours) as a, rasterio.open(theirs) as b:
            assert a.shape == b.shape and a.transform.almost_equals(b.transform)
        assert_parity(ours, theirs)
    ours = pd.read_csv(tmp_path / "ours/output/watershed_results_wyield.csv")
    theirs = pd.read_csv(tmp_path / "invest/output/watershed_results_wyield.csv")
    np.testing.assert_allclose(ours["wyield_vol"], theirs["wyield_vol"], rtol=0.005)
