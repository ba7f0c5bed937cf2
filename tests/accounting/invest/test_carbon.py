"""Carbon: InVEST's golden numbers, hand-computed totals, parity with natcap.invest 3.20.2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from liangshan.accounting.invest import carbon, run_model
from liangshan.errors import InvalidInput

from .conftest import assert_parity, read_band


def _lulc(path, array, cell=1.0):
    with rasterio.open(path, "w", driver="GTiff", height=array.shape[0], width=array.shape[1],
                       count=1, dtype=array.dtype, crs="EPSG:32648", nodata=255,
                       transform=Affine(cell, 0, 500_000, 0, -cell, 3_000_000)) as dst:
        dst.write(array, 1)
    return str(path)


def _pools(path):
    path.write_text("LUCODE,c_above,C_BELOW,c_soil,c_dead\n1,15,10,60,1\n2,5,2,20,0\n")
    return str(path)


def test_valuation_constant_matches_invest_golden_number():
    """natcap.invest tests/test_carbon.py: price 43, rate change 2.8 %, discount −7.1 %,
    2016→2030 gives 59.00136 (INVEST_NOTES §3.7)."""
    assert carbon.valuation_constant(2016, 2030, -7.1, 2.8, 43) == pytest.approx(59.00136, 1e-6)


def test_valuation_constant_ratio_one_is_price():
    """ratio = 1 ⇒ Σ ratio^t = n, so the constant is the price itself (hand computation)."""
    assert carbon.valuation_constant(2000, 2010, 0.0, 0.0, 10.0) == pytest.approx(10.0)


def test_storage_total_10x10_one_square_metre_pixels(tmp_path):
    """InVEST test_carbon: pools 15+10+60+1 = 86 Mg/ha on a 10×10 raster of 1 m² pixels
    totals 86 · 100 m² / 10⁴ = 0.86 Mg."""
    lulc = _lulc(tmp_path / "bas.tif", np.ones((10, 10), np.uint8))
    run_model("carbon", {"workspace_dir": str(tmp_path / "ws"), "lulc_bas_path": lulc,
                         "carbon_pools_path": _pools(tmp_path / "pools.csv")})
    c, nd = read_band(str(tmp_path / "ws" / "c_storage_bas.tif"))
    assert nd == -1.0 and np.all(c == 86.0)
    summary = pd.read_csv(tmp_path / "ws" / "raster_values_summary.csv")
    assert summary.loc[0, "Total"] == pytest.approx(0.86)
    assert summary.loc[0, "Filename"] == "c_storage_bas.tif"


def test_sequestration_and_npv(tmp_path):
    """Hand case: 2 pixels change from class 1 (86 Mg/ha) to 2 (27 Mg/ha) → −59 Mg/ha each;
    npv = −59 · constant; nodata LULC stays nodata in every output."""
    bas = np.ones((3, 3), np.uint8)
    bas[2, 2] = 255
    alt = bas.copy()
    alt[0, :2] = 2
    args = {"workspace_dir": str(tmp_path / "ws"), "results_suffix": "s",
            "lulc_bas_path": _lulc(tmp_path / "b.tif", bas, 10.0),
            "lulc_alt_path": _lulc(tmp_path / "a.tif", alt, 10.0), "calc_sequestration": True,
            "carbon_pools_path": _pools(tmp_path / "p.csv"), "do_valuation": True,
            "lulc_bas_year": 2020, "lulc_alt_year": 2030, "price_per_metric_ton_of_c": 100,
            "discount_rate": 5, "rate_change": 0}
    run_model("carbon", args)
    change, nd = read_band(str(tmp_path / "ws" / "c_change_bas_alt_s.tif"))
    assert change[0, 0] == change[0, 1] == -59.0 and change[1, 1] == 0 and change[2, 2] == nd
    npv, npv_nd = read_band(str(tmp_path / "ws" / "npv_alt_s.tif"))
    const = 100 / 10 * sum(1.05**-t for t in range(10))
    assert npv[0, 0] == pytest.approx(-59 * const, rel=1e-6)
    assert npv[2, 2] == npv_nd
    summary = pd.read_csv(tmp_path / "ws" / "raster_values_summary_s.csv")
    assert summary["Total"].iloc[2] == pytest.approx(-59 * 2 * 100 / 1e4)


def test_bad_inputs(tmp_path):
    lulc = _lulc(tmp_path / "bas.tif", np.full((2, 2), 3, np.uint8))
    with pytest.raises(InvalidInput, match=r"values \[3\]"):
        run_model("carbon", {"workspace_dir": str(tmp_path / "ws"), "lulc_bas_path": lulc,
                             "carbon_pools_path": _pools(tmp_path / "p.csv")})
    with pytest.raises(InvalidInput, match="lulc_alt_year"):
        carbon.valuation_constant(2030, 2020, 1, 1, 1)


@pytest.mark.invest
def test_parity_with_invest(invest_inputs_factory, tmp_path):
    """Baseline + alternate + valuation through natcap.invest 3.20.2 on generated inputs."""
    pytest.importorskip("natcap.invest")
    from natcap.invest.carbon import carbon as invest_carbon

    p = invest_inputs_factory(n=40, seed=2, holes=True)
    args = {"lulc_bas_path": p.lulc_path, "lulc_alt_path": p.lulc_alt_path,
            "calc_sequestration": True, "carbon_pools_path": p.carbon_pools_path,
            "do_valuation": True, "lulc_bas_year": 2016, "lulc_alt_year": 2030,
            "price_per_metric_ton_of_c": 43, "discount_rate": -7.1, "rate_change": 2.8}
    run_model("carbon", args | {"workspace_dir": str(tmp_path / "ours")})
    invest_carbon.execute(args | {"workspace_dir": str(tmp_path / "invest")})
    for name in ("c_storage_bas", "c_storage_alt", "c_change_bas_alt", "npv_alt"):
        r = assert_parity(str(tmp_path / "ours" / f"{name}.tif"),
                          str(tmp_path / "invest" / f"{name}.tif"))
        assert r["max_rel"] < 1e-6  # pools are summed in float32 in InVEST's order
    ours = pd.read_csv(tmp_path / "ours" / "raster_values_summary.csv")
    theirs = pd.read_csv(tmp_path / "invest" / "raster_values_summary.csv")
    assert list(ours.columns) == list(theirs.columns)
    assert list(ours["Raster"]) == list(theirs["Raster"])
    np.testing.assert_allclose(ours["Total"], theirs["Total"], rtol=1e-9)


def test_strips_and_missing_code_in_alternate_only(tmp_path, monkeypatch):
    """Strips of 2 rows over a 5×4 map give the same totals as one strip (hand sums:
    baseline 17 px of class 1 (86 Mg/ha) + 2 px of class 2 (27) on 1 m² pixels =
    (17·86 + 2·27)/10⁴ Mg); a code missing from the pools table only in the alternate
    map is named with the argument it comes from."""
    from liangshan.accounting.invest import stream

    bas = np.ones((5, 4), np.uint8)
    bas[4, :2] = 2
    bas[0, 0] = 255
    alt = bas.copy()
    args = {"lulc_bas_path": _lulc(tmp_path / "b.tif", bas),
            "lulc_alt_path": _lulc(tmp_path / "a.tif", alt), "calc_sequestration": True,
            "carbon_pools_path": _pools(tmp_path / "p.csv")}
    monkeypatch.setattr(stream, "STRIP_ROWS", 2)
    run_model("carbon", args | {"workspace_dir": str(tmp_path / "ws")})
    summary = pd.read_csv(tmp_path / "ws" / "raster_values_summary.csv")
    np.testing.assert_allclose(summary["Total"], [(17 * 86 + 2 * 27) / 1e4] * 2 + [0.0])
    alt[3, 3] = 9
    _lulc(tmp_path / "a9.tif", alt)
    with pytest.raises(InvalidInput, match=r"values \[9\] in lulc_alt_path"):
        run_model("carbon", args | {"workspace_dir": str(tmp_path / "ws9"),
                                    "lulc_alt_path": str(tmp_path / "a9.tif")})
    assert not (tmp_path / "ws9" / "c_storage_bas.tif").exists()  # nothing half-written
