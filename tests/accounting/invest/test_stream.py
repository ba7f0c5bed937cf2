"""Strip-wise streaming: the same pixels, sums and errors as the whole-array helpers of io."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from liangshan.accounting.invest import io as iio
from liangshan.accounting.invest import run_model, stream
from liangshan.errors import InvalidInput

from .conftest import read_band

# a 10×10 grid of 1 m pixels whose value is 10·row + col (as in test_io)
VALUES = np.arange(100, dtype=np.float32).reshape(10, 10)
GRID = stream.GridSpec((0.0, 1.0, 0.0, 10.0, 0.0, -1.0), (10, 10), "")


def _sums(geoms, values=VALUES, nodata=-1.0, height=3):
    z = stream.ZoneSums(geoms, GRID, ["v"])
    for r0, r1 in stream.strips(10, height):
        z.add(r0, r1, {"v": (values[r0:r1], nodata)})
    return z.rows()


def test_zone_sums_by_strips_hand_computed():
    """Strips of 3 rows give test_io's hand sums: left half Σ_r(50r + 10) = 2350 over 50 px,
    right half 2600; overlapping polygons each summed in full (cols 0–5: 2850 over 60 px)."""
    assert _sums([box(0, 0, 5, 10), box(5, 0, 10, 10)]) == [
        {"v_sum": 2350.0, "v_count": 50.0}, {"v_sum": 2600.0, "v_count": 50.0}]
    assert _sums([box(0, 0, 6, 10), box(5, 0, 10, 10)])[0] == {"v_sum": 2850.0,
                                                               "v_count": 60.0}
    with_nd = VALUES.copy()
    with_nd[0, 0] = -1.0  # nodata (value 0 dropped): same sum, one pixel fewer
    assert _sums([box(0, 0, 5, 10)], with_nd)[0] == {"v_sum": 2350.0, "v_count": 49.0}
    nan = VALUES.copy()
    nan[9, 9] = np.nan  # NaN nodata: Σ_r Σ_{c≥5}(10r + c) − 99 = 2501 over 49 px
    assert _sums([box(5, 0, 10, 10)], nan, float("nan"))[0] == {"v_sum": 2501.0,
                                                                "v_count": 49.0}


def test_zone_sums_equal_io_zonal_stats_on_random_polygons():
    rng = np.random.default_rng(7)
    values = rng.random((10, 10)).astype(np.float32)
    overlapping = [box(1.2, 2.7, 8.9, 9.4), box(0, 0, 3.3, 4.1), box(4.5, 0.5, 10, 6.5),
                   box(20, 20, 30, 30)]  # the last one lies outside the grid: no pixel
    disjoint = [box(0, 0, 4.4, 10), box(4.4, 0, 12, 10), box(-5, -5, -1, -1)]
    for geoms in (overlapping, disjoint):
        whole = iio.zonal_stats({"v": iio.Raster(values, -1.0, GRID.transform, "")}, geoms)
        for a, b in zip(_sums(geoms, values, height=4), whole, strict=True):
            assert a["v_count"] == b["v_count"]
            assert a["v_sum"] == pytest.approx(b["v_sum"], rel=1e-12)
        assert whole[-1]["v_count"] == 0 and whole[0]["v_count"] > 0


def _write(path, array, transform, nodata=-9.0, crs="EPSG:32648"):
    with rasterio.open(path, "w", driver="GTiff", height=array.shape[0],
                       width=array.shape[1], count=1, dtype=array.dtype, crs=crs,
                       nodata=nodata, transform=transform) as dst:
        dst.write(array, 1)
    return str(path)


def test_grid_reader_window_and_warp_equal_whole_array_warp(tmp_path):
    """A source on the grid (whole-pixel offset) is read as a window; a coarser, offset one
    is warped per strip: both equal io.warp_to_grid of the whole array, outside = nodata."""
    grid = stream.GridSpec((600_030.0, 30.0, 0.0, 2_950_000.0 - 60, 0.0, -30.0), (20, 16),
                           "EPSG:32648")
    big = np.arange(30 * 30, dtype=np.float32).reshape(30, 30)
    on = _write(tmp_path / "on.tif", big, Affine(30, 0, 600_000, 0, -30, 2_950_000))
    coarse = _write(tmp_path / "coarse.tif", big[:8, :8],
                    Affine(60, 0, 600_000 + 15, 0, -60, 2_950_000 - 45))
    like = iio.Raster(np.zeros(grid.shape, np.float32), None, grid.transform,
                      rasterio.crs.CRS.from_epsg(32648).to_wkt())
    for path in (on, coarse):
        reader = stream.GridReader(path, grid)
        got = np.vstack([reader.read(r0, r1) for r0, r1 in stream.strips(20, 7)])
        reader.close()
        expected = iio.warp_to_grid(iio.read_raster(path), like).array
        np.testing.assert_array_equal(got, expected)
    assert (got == -9.0).any()  # the coarse raster does not cover the whole grid


def test_run_strips_writes_and_cleans_up_on_failure(tmp_path):
    src = _write(tmp_path / "in.tif", VALUES, Affine(1, 0, 0, 0, -1, 10), crs=None)
    spec = stream.raster_spec(src)
    out = tmp_path / "out.tif"

    def double(r0, r1, arrays):
        return [arrays[0] * 2]

    stream.run_strips([stream.GridReader(src, spec)],
                      [stream.GridWriter(out, spec, np.float32, -1.0)], double, 10, height=4)
    back, nd = read_band(str(out))
    assert nd == -1.0 and np.array_equal(back, VALUES * 2)

    def fail(r0, r1, arrays):
        if r0 >= 4:
            raise InvalidInput("boom")
        return [arrays[0]]

    with pytest.raises(InvalidInput, match="boom"):
        stream.run_strips([stream.GridReader(src, spec)],
                          [stream.GridWriter(tmp_path / "x.tif", spec, np.float32, -1.0)],
                          fail, 10, height=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_code_table_sparse_codes_and_nodata():
    """Codes 5 and 10⁷ (a span > 2²⁰) are renumbered 0, 1; nodata → −2, unknown → −1."""
    t = stream.CodeTable([{5: 0.5, 10_000_000: 2.0}])
    codes = np.array([5, 10_000_000, 7, 99], dtype=np.int32)
    mapped, nd, has = t.kernel_codes(codes, 99)
    assert mapped.tolist() == [0, 1, -1, -2] and (nd, has) == (-2.0, True)
    assert t.lut[0].tolist() == [0.5, 2.0] and t.known.tolist() == [True, True]
    assert "[7]" in str(t.missing(codes, 99, "lulc", "table"))
    dense = stream.CodeTable([{1: 1.0, 3: 3.0}])
    assert dense.lo == 1 and dense.known.tolist() == [True, False, True]


def test_awy_strip_by_strip_equals_one_strip(invest_inputs_factory, tmp_path, monkeypatch):
    """Strips of 5 rows (several strips, a short last one) give the same rasters and
    watershed table as one strip holding the whole 24×24 raster, and wyield = (1 − fractp)·P
    per pixel in float32 (InVEST's raster_map)."""
    p = invest_inputs_factory(n=24, seed=2, holes=True)
    args = dict(lulc_path=p.lulc_path, depth_to_root_rest_layer_path=p.depth_to_root_rest_layer_path,
                precipitation_path=p.precipitation_path, pawc_path=p.pawc_path,
                eto_path=p.eto_path, watersheds_path=p.watersheds_path,
                sub_watersheds_path=p.sub_watersheds_path,
                biophysical_table_path=p.biophysical_table_path, seasonality_constant=5)
    run_model("annual_water_yield", args | {"workspace_dir": str(tmp_path / "one")})
    monkeypatch.setattr(stream, "STRIP_ROWS", 5)
    run_model("annual_water_yield", args | {"workspace_dir": str(tmp_path / "many")})
    for name in ("fractp", "aet", "wyield"):
        a, _ = read_band(str(tmp_path / "one/output/per_pixel" / f"{name}.tif"))
        b, _ = read_band(str(tmp_path / "many/output/per_pixel" / f"{name}.tif"))
        np.testing.assert_array_equal(a, b)
    for stem in ("watershed_results_wyield", "subwatershed_results_wyield"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one/output" / f"{stem}.csv"),
                                      pd.read_csv(tmp_path / "many/output" / f"{stem}.csv"))
    fr, _ = read_band(str(tmp_path / "many/output/per_pixel/fractp.tif"))
    wy, _ = read_band(str(tmp_path / "many/output/per_pixel/wyield.tif"))
    precip, _ = read_band(p.precipitation_path)
    ok = fr != -1
    assert (~ok).any() and ok.sum() > 400  # the holes are nodata, the rest computed
    np.testing.assert_array_equal(wy[ok], (np.float32(1) - fr[ok]) * precip[ok])
