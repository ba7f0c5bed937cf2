"""Shared InVEST I/O helpers: nodata rule, tables, reclassification, zonal sums, writing."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

# a 10×10 grid of 1 m pixels whose value is 10·row + col
GRID = iio.Raster(np.arange(100, dtype=np.float32).reshape(10, 10), -1.0,
                  (0.0, 1.0, 0.0, 10.0, 0.0, -1.0), "")


def test_zonal_stats_pixel_centre_rule_hand_computed():
    """Left half: Σ_r Σ_{c<5} (10r + c) = Σ_r (50r + 10) = 2350 over 50 px; right half 2600.
    Overlapping polygons are summed independently (cols 0–5: Σ_r (60r + 15) = 2850)."""
    halves = iio.zonal_stats({"v": GRID}, [box(0, 0, 5, 10), box(5, 0, 10, 10)])
    assert halves == [{"v_sum": 2350.0, "v_count": 50.0}, {"v_sum": 2600.0, "v_count": 50.0}]
    overlap = iio.zonal_stats({"v": GRID}, [box(0, 0, 6, 10), box(5, 0, 10, 10)])
    assert overlap[0] == {"v_sum": 2850.0, "v_count": 60.0}
    # a polygon covering under half of a pixel's centre row gets no pixel (ALL_TOUCHED off)
    thin = iio.zonal_stats({"v": GRID}, [box(0, 9.6, 10, 10)])
    assert thin[0]["v_count"] == 0


def test_zonal_stats_skip_nodata():
    arr = GRID.array.copy()
    arr[0, 0] = -1.0  # nodata, value 0 dropped: same sum, one pixel fewer
    r = iio.Raster(arr, -1.0, GRID.transform, "")
    s = iio.zonal_stats({"v": r}, [box(0, 0, 5, 10)])
    assert s[0] == {"v_sum": 2350.0, "v_count": 49.0}


def test_nodata_mask_is_isclose_and_nan_aware():
    a = np.array([-1.0, np.float32(-1.0000001), 0.0, np.nan], dtype=np.float32)
    assert iio.nodata_mask(a, -1.0).tolist() == [True, True, False, False]
    assert iio.nodata_mask(a, float("nan")).tolist() == [False, False, False, True]
    assert not iio.nodata_mask(np.array([255], np.uint8), 1000).any()
    assert not iio.nodata_mask(a, None).any()


def test_read_table_is_case_insensitive(tmp_path):
    (tmp_path / "t.csv").write_text("LuCode, Kc ,Name\n1,0.5, Forest \n2,0.7,crop\n")
    t = iio.read_table(tmp_path / "t.csv", "lucode", ("kc",))
    assert t.loc[2, "kc"] == 0.7 and t.loc[1, "name"] == "Forest"
    with pytest.raises(InvalidInput, match="lacks column"):
        iio.read_table(tmp_path / "t.csv", "lucode", ("root_depth",))
    (tmp_path / "d.csv").write_text("lucode,kc\n1,0.5\n1,0.6\n")
    with pytest.raises(InvalidInput, match="duplicate"):
        iio.read_table(tmp_path / "d.csv", "lucode")


def test_reclassify_many_and_missing_codes():
    codes = np.array([[1, 2], [255, 3]], dtype=np.uint8)
    a, b = iio.reclassify_many(codes, 255, [{1: 10, 2: 20, 3: 30}, {1: 1, 2: 2, 3: 3}], -1.0)
    assert a.tolist() == [[10, 20], [-1, 30]] and b.tolist() == [[1, 2], [-1, 3]]
    with pytest.raises(InvalidInput, match=r"values \[3\]"):
        iio.reclassify(codes, 255, {1: 1, 2: 2}, -1.0)


def test_write_raster_roundtrip_and_suffix(tmp_path):
    path = iio.output_path(tmp_path, "output/x.tif", iio.normalize_suffix("run1"))
    assert path.name == "x_run1.tif"
    iio.write_raster(path, GRID.array, GRID, -1.0)
    back = iio.read_raster(path)
    assert back.nodata == -1.0 and np.array_equal(back.array, GRID.array)
    assert back.transform == GRID.transform
    assert [p.name for p in path.parent.iterdir()] == ["x_run1.tif"]  # no temp left over
