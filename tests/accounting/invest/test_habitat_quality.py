"""Habitat Quality: hand-computed degradation, quality and rarity; parity with InVEST 3.20.2."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from liangshan.accounting.invest import habitat_quality as hq
from liangshan.accounting.invest import run_model
from liangshan.errors import InvalidInput

from .conftest import assert_parity, read_band

CELL = 30.0


def _raster(path, array, nodata=255):
    with rasterio.open(path, "w", driver="GTiff", height=array.shape[0], width=array.shape[1],
                       count=1, dtype=array.dtype, crs="EPSG:32648", nodata=nodata,
                       transform=Affine(CELL, 0, 500_000, 0, -CELL, 3_000_000)) as dst:
        dst.write(array, 1)
    return str(path)


def _single_threat_case(tmp_path, decay_kind, k=0.5):
    lulc = np.ones((5, 5), np.uint8)
    lulc[4, 0] = 255
    threat = np.zeros((5, 5), np.uint8)
    threat[2, 2] = 1
    _raster(tmp_path / "t.tif", threat)
    (tmp_path / "threats.csv").write_text(
        f"THREAT,MAX_DIST,WEIGHT,DECAY,CUR_PATH\nRoad,90,2.0,{decay_kind},t.tif\n")
    (tmp_path / "sens.csv").write_text("lucode,habitat,road\n1,0.8,0.5\n")
    args = {"workspace_dir": str(tmp_path / "ws"),
            "lulc_cur_path": _raster(tmp_path / "lulc.tif", lulc),
            "threats_table_path": str(tmp_path / "threats.csv"),
            "sensitivity_table_path": str(tmp_path / "sens.csv"),
            "half_saturation_constant": k}
    run_model("habitat_quality", args)
    deg, deg_nd = read_band(str(tmp_path / "ws" / "deg_sum_c.tif"))
    q, q_nd = read_band(str(tmp_path / "ws" / "quality_c.tif"))
    return deg, deg_nd, q, q_nd


def test_linear_decay_hand_computed(tmp_path):
    """One threat pixel at the centre, max_dist 90 m = 3 px, linear decay, sensitivity 0.5,
    habitat 0.8, k = 0.5 (User's Guide eq. 2–4): at d = 2 px, D = (3−2)/3·0.5 = 1/6 and
    Q = 0.8·(1 − D^2.5/(D^2.5 + 0.5^2.5)); beyond 3 px D = 0; the nodata pixel stays nodata."""
    deg, deg_nd, q, q_nd = _single_threat_case(tmp_path, "linear")
    d = 1 / 6
    assert deg[2, 4] == pytest.approx(d, rel=1e-6)
    assert q[2, 4] == pytest.approx(0.8 * (1 - d**2.5 / (d**2.5 + 0.5**2.5)), rel=1e-6)
    assert deg[2, 2] == pytest.approx(0.5)  # on the threat: i = 1
    assert deg[0, 0] == pytest.approx((3 - math.sqrt(8)) / 3 * 0.5, rel=1e-5)
    assert deg[4, 0] == deg_nd and q[4, 0] == q_nd
    assert deg_nd == np.finfo(np.float32).max


def test_exponential_decay_hand_computed(tmp_path):
    """i = exp(−2.99·d/dmax): at d = 1 px, dmax = 3 px, i = exp(−2.99/3)."""
    deg, *_ = _single_threat_case(tmp_path, "Exponential")
    assert deg[2, 3] == pytest.approx(math.exp(-2.99 / 3) * 0.5, rel=1e-6)


def test_no_threat_pixels_means_no_degradation():
    d = hq.threat_distance(np.zeros((4, 6), np.uint8), 255)
    assert np.all(hq.decay(d, 3.0, "linear") == 0)


def test_rarity_hand_computed(tmp_path):
    """Base: 4 px of class 1; current: 2 px class 1, 2 px class 2 →
    rarity(1) = 1 − 2/(4 + 2) = 2/3, rarity(2) = 0 (absent from the baseline)."""
    base = np.ones((2, 2), np.uint8)
    cur = np.array([[1, 1], [2, 2]], np.uint8)
    _raster(tmp_path / "t.tif", np.zeros((2, 2), np.uint8))
    (tmp_path / "threats.csv").write_text(
        "threat,max_dist,weight,decay,cur_path,base_path\nx,30,1,linear,t.tif,\n")
    (tmp_path / "sens.csv").write_text("lucode,habitat,x\n1,1,1\n2,1,1\n")
    run_model("hq", {"workspace_dir": str(tmp_path / "ws"),
                     "lulc_cur_path": _raster(tmp_path / "c.tif", cur),
                     "lulc_bas_path": _raster(tmp_path / "b.tif", base),
                     "threats_table_path": str(tmp_path / "threats.csv"),
                     "sensitivity_table_path": str(tmp_path / "sens.csv"),
                     "half_saturation_constant": 0.5})
    table = pd.read_csv(tmp_path / "ws" / "rarity_c.csv")
    assert table["lucode"].tolist() == [1, 2]
    np.testing.assert_allclose(table["rarity_value"], [2 / 3, 0.0])
    r, _ = read_band(str(tmp_path / "ws" / "rarity_c.tif"))
    np.testing.assert_allclose(r, [[2 / 3, 2 / 3], [0, 0]], rtol=1e-6)


def test_threat_values_outside_unit_interval_rejected(tmp_path):
    _raster(tmp_path / "t.tif", np.full((2, 2), 3, np.uint8))
    (tmp_path / "threats.csv").write_text(
        "threat,max_dist,weight,decay,cur_path\nx,30,1,linear,t.tif\n")
    (tmp_path / "sens.csv").write_text("lucode,habitat,x\n1,1,1\n")
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        run_model("habitat_quality", {
            "workspace_dir": str(tmp_path / "ws"),
            "lulc_cur_path": _raster(tmp_path / "c.tif", np.ones((2, 2), np.uint8)),
            "threats_table_path": str(tmp_path / "threats.csv"),
            "sensitivity_table_path": str(tmp_path / "sens.csv"),
            "half_saturation_constant": 0.5})


@pytest.mark.invest
def test_parity_with_invest(invest_inputs_factory, tmp_path):
    """Current + future + baseline LULC and an access vector through natcap.invest 3.20.2."""
    pytest.importorskip("natcap.invest")
    import geopandas as gpd
    from natcap.invest.habitat_quality import habitat_quality as invest_hq
    from shapely.geometry import box

    p = invest_inputs_factory(n=40, seed=4, holes=True)
    access = tmp_path / "access.gpkg"
    gpd.GeoDataFrame({"ACCESS": [0.4]}, crs="EPSG:32648",
                     geometry=[box(600_000, 2_950_000 - 600, 600_600, 2_950_000)]).to_file(access)
    args = {"lulc_cur_path": p.lulc_path, "lulc_fut_path": p.lulc_alt_path,
            "lulc_bas_path": p.lulc_alt_path, "threats_table_path": p.threats_table_path,
            "sensitivity_table_path": p.sensitivity_table_path,
            "access_vector_path": str(access), "half_saturation_constant": 0.4}
    run_model("habitat_quality", args | {"workspace_dir": str(tmp_path / "ours")})
    invest_hq.execute(args | {"workspace_dir": str(tmp_path / "invest")})
    for name in ("deg_sum_c", "quality_c", "deg_sum_f", "quality_f", "rarity_c", "rarity_f"):
        assert_parity(str(tmp_path / "ours" / f"{name}.tif"),
                      str(tmp_path / "invest" / f"{name}.tif"))
    for name in ("rarity_c", "rarity_f"):
        ours = pd.read_csv(tmp_path / "ours" / f"{name}.csv")
        theirs = pd.read_csv(tmp_path / "invest" / f"{name}.csv")
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("kind", ["linear", "exponential"])
def test_fused_degradation_equals_distance_then_decay(kind):
    """The fused kernel (capped column distances, envelope of the columns below the cap,
    decay applied at once) equals the plain route: exact EDT of the whole raster
    (threat_distance), then decay(d), times sensitivity and weight (User's Guide eq. 2–3);
    LULC nodata pixels are left untouched."""
    rng = np.random.default_rng(11)
    rows, cols = 70, 90
    present = rng.random((rows, cols)) < 0.004  # sparse threat: many rows have none near
    codes = rng.integers(1, 4, (rows, cols)).astype(np.uint8)
    codes[5, :10] = 255
    sens_by_code = np.array([0.0, 0.9, 0.5, 0.25], np.float32)  # index = code − lo, lo = 0
    maxd, weight = np.float32(7.5), np.float32(0.4)
    cap = int(np.ceil(maxd)) + 2
    g = np.empty((rows, cols), np.int16)
    hq._column_distances(present, cap, g)
    got = np.zeros((rows, cols), np.float32)
    hq._degrade(g, cap, False, codes, 255.0, True, 0, sens_by_code, maxd, kind == "exponential",
                weight, np.ones((1, 1), np.float32), False, got)
    d = hq.threat_distance(present.astype(np.uint8), None)
    expected = hq.decay(d, float(maxd), kind) * sens_by_code[np.where(codes == 255, 0, codes)]
    expected = expected * weight
    expected[codes == 255] = 0
    assert (expected > 0).sum() > 500 and (expected == 0).sum() > 500
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


def test_no_threat_pixel_uses_pygeoprocessing_infinity():
    """No threat pixel: d = rows + cols = 10 px everywhere (pygeoprocessing's 'infinity'),
    so with max_dist 12 px the linear impact is (12 − 10)/12 on every pixel."""
    g = np.zeros((4, 6), np.int16)
    got = np.zeros((4, 6), np.float32)
    codes = np.ones((4, 6), np.uint8)
    hq._degrade(g, 14, True, codes, 0.0, False, 0, np.array([0.0, 1.0], np.float32),
                np.float32(12.0), False, np.float32(1.0), np.ones((1, 1), np.float32), False,
                got)
    np.testing.assert_allclose(got, (12 - 10) / 12, rtol=1e-6)
