"""Shared SDR/NDR pieces: the float32 depression fill, LULC class tables, watershed sums."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from liangshan.accounting.invest import _routing_common as rc
from liangshan.accounting.invest import io
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.fill import fill_float32
from liangshan.errors import InvalidInput


def test_fill_float32_hand_case():
    """A 1 m pit inside a 3 m rim that spills at 2 m (pixel (0, 2)) fills to 2 m; the
    rim and the outlet keep their heights (priority-flood, Barnes et al. 2014)."""
    dem = np.array([[3, 3, 2, 3, 3],
                    [3, 1, 1, 1, 3],
                    [3, 1, 0.5, 1, 3],
                    [3, 3, 3, 3, 3]], dtype=np.float32)
    out = fill_float32(dem, np.ones(dem.shape, bool))
    expect = dem.astype(np.float64)
    expect[1:3, 1:4] = 2.0
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("seed", range(12))
def test_fill_float32_equals_fill_pits(seed: int):
    """Same filled heights as kernels.fill_pits (pygeoprocessing semantics) on random DEMs
    with many ties, negative heights and nodata holes (holes are outlets)."""
    rng = np.random.default_rng(seed)
    dem = rng.integers(-6, 7, (41, 37)).astype(np.float32) * np.float32(rng.choice([1, -0.75]))
    valid = rng.random(dem.shape) > 0.08
    dem[~valid] = 0
    np.testing.assert_array_equal(fill_float32(dem, valid), rt.fill_pits(dem, valid))


def test_fill_float32_falls_back_for_float64():
    dem = np.array([[2.0, 2.0, 2.0], [2.0, 1.0, 2.0], [2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(fill_float32(dem, np.ones((3, 3), bool)), np.full((3, 3), 2.0))


def test_lulc_table_reads_values_and_names_missing_codes():
    codes = np.array([[1, 3], [3, 9]], dtype=np.uint8)
    valid = np.array([[True, True], [True, False]])  # code 9 is masked out
    lo, lut = rc.lulc_table(codes, valid, {"usle_c": {1: 0.1, 3: 0.3, 7: 0.7}})
    assert lo == 1
    assert rc.lut_at(lut, 0, lo, 3) == 0.3
    with pytest.raises(InvalidInput, match=r"\[3\].*'usle_p'"):
        rc.lulc_table(codes, valid, {"usle_p": {1: 1.0}})


def test_watershed_sums_per_polygon():
    """Two overlapping 2×2-pixel squares on a 3×3 grid of 100 m pixels (1 ha each): each
    sum is Σ of its own valid pixels × 1 ha; the nodata pixel is skipped."""
    import geopandas as gpd

    grid = io.Raster(np.zeros((3, 3), np.uint8), None, (0.0, 100.0, 0.0, 300.0, 0.0, -100.0), "")
    gdf = gpd.GeoDataFrame({"ws_id": [1, 2]},
                           geometry=[box(0, 100, 200, 300), box(100, 0, 300, 200)])
    sheds = rc.Watersheds(gdf, grid)
    a = np.arange(9, dtype=np.float32).reshape(3, 3)
    a[1, 1] = -1.0
    sheds.add("x", a, -1.0)
    assert sheds.frame(["x"])["x"].tolist() == [0 + 1 + 3, 5 + 7 + 8]
    assert sheds.union().sum() == 7
