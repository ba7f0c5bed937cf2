"""Tile-by-tile routing equals whole-grid routing (issue 3: province scale in bounded memory).

The reference is the one-piece chain of :func:`liangshan.accounting.physical_terms.
upslope_area_mfd` (``fill_pits`` → ``flow_dir_mfd`` → ``flow_accumulation_mfd``, the
pygeoprocessing semantics of INVEST_NOTES §2). Tiled pit filling follows Barnes (2016),
"Parallel priority-flood depression filling for trillion cell digital elevation models on
desktops or clusters", Computers & Geosciences 96:56-68: it only compares heights, so the
filled DEM — and the flow directions computed from it — must be bit-identical; the
accumulation differs only by the order of additions and the float32 result.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels import tiled as tk
from liangshan.accounting.physical_terms import upslope_area_mfd
from liangshan.accounting.tiling import route, upslope_area_tiled

CHUNKINGS = [(40, 50), (17, 23), (64, 64), (3, 50), (1, 7), (157, 203)]


def rough_dem(seed: int, shape: tuple[int, int] = (157, 203)) -> np.ndarray:
    """Smoothed noise on a gentle tilt, rounded to 1 m so that pits fill into flat lakes and
    plateaus cross tile edges; scattered nodata cells and a nodata corner."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.random(shape), 3) * 300
    z += np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * 0.05
    z = np.round(z, 0)
    z[rng.random(shape) < 0.003] = np.nan
    z[:5, :7] = np.nan
    return z.astype(np.float32)


def whole_grid_directions(dem: np.ndarray) -> np.ndarray:
    valid = np.isfinite(dem)
    filled = rt.fill_pits(np.where(valid, dem, np.float32(0)), valid)
    return rt.flow_dir_mfd(filled, valid)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_tiled_directions_are_bit_identical(seed: int, chunks: tuple[int, int]) -> None:
    dem = rough_dem(seed)
    got = route(da.from_array(dem, chunks=chunks), workers=2).fd
    np.testing.assert_array_equal(got, whole_grid_directions(dem))


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("chunks", [(40, 50), (3, 50), (157, 203)])
def test_tiled_upslope_area_equals_whole_grid(seed: int, chunks: tuple[int, int]) -> None:
    dem = rough_dem(seed)
    ref = upslope_area_mfd(dem, 30.0)
    got = upslope_area_tiled(da.from_array(dem, chunks=chunks), 30.0, workers=2)
    assert got.dtype == np.float32
    # float32 result: relative 6e-8; the summation order adds ~1e-15
    np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-3)
    assert ref.max() > 1e6  # long flow paths, crossing many tiles


def test_lake_across_four_tiles_fills_to_its_pour_point() -> None:
    """A bowl centred on the corner of four 6 × 6 tiles, rim 10 m, bottom 1 m, one notch at
    4 m on the east rim: the whole bowl fills flat to 4 m (Barnes et al. 2014), which no tile
    sees alone; the flat lake then drains to the notch, across tile edges."""
    dem = np.full((12, 12), 10.0, dtype=np.float32)
    dem[2:10, 2:10] = 1.0
    dem[6, 10:] = 4.0  # the notch runs out to the east edge
    dem[6, 11] = 3.0
    fd = route(da.from_array(dem, chunks=6), workers=2).fd
    np.testing.assert_array_equal(fd, whole_grid_directions(dem))
    up = upslope_area_tiled(da.from_array(dem, chunks=6), 1.0, workers=2)
    # every bowl cell and the notch cell drain through (6, 11): 64 + 1 upslope cells there,
    # plus the rim cells that flow into the bowl
    ref = upslope_area_mfd(dem, 1.0)
    np.testing.assert_allclose(up, ref, rtol=1e-6)
    assert up[6, 11] >= 65.0


def test_upslope_area_on_a_line_hand_computed() -> None:
    """A 1 × 5 ramp falling east: accumulation 1, 2, 3, 4, 5 cells, so the inlet area is
    (FA − 1) × 30² = 0, 900, 1800, 2700, 3600 m² (the cell itself excluded)."""
    dem = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    up = upslope_area_tiled(da.from_array(dem, chunks=(1, 2)), 30.0, workers=1)
    np.testing.assert_array_equal(up, np.array([[0, 900, 1800, 2700, 3600]], np.float32))


def test_nodata_only_tiles_and_nodata_everywhere_else() -> None:
    dem = np.full((20, 20), np.nan, dtype=np.float32)
    dem[12:18, 12:18] = np.arange(36, dtype=np.float32).reshape(6, 6)
    up = upslope_area_tiled(da.from_array(dem, chunks=5), 30.0, workers=2)
    np.testing.assert_allclose(up, upslope_area_mfd(dem, 30.0), rtol=2e-7)
    assert np.all(up[np.isnan(dem)] == 0)


def test_spill_levels_minimax() -> None:
    """Labels 1–3 in a chain to the outside (0): 1 spills at 5 to 0, 2 at 7 to 1, 3 at 4 to 2
    → levels 5, 7, 7 (the highest spill on the lowest path out)."""
    level = tk.solve_spill_levels(4, np.array([1, 2, 3]), np.array([0, 1, 2]),
                                  np.array([5.0, 7.0, 4.0]))
    np.testing.assert_array_equal(level, [-np.inf, 5.0, 7.0, 7.0])


def test_account_is_the_same_with_tiled_routing(tmp_path, monkeypatch) -> None:
    """The physical account of the test study area with a rough DEM (pits, flats) gives the
    same soil indicators whether LS is routed in one piece or tile by tile (3 × 4 blocks)."""
    from liangshan.accounting import physical_terms
    from liangshan.accounting.physical import physical_account
    from liangshan.datasets.study import StudyArea
    from tests.accounting._study_fixture import COLS, ROWS, make_study

    dem = rough_dem(7, (ROWS, COLS)).astype(np.float64) + 1000.0
    dem[np.isnan(dem)] = 1000.0  # the fixture's zones need a DEM everywhere
    study = StudyArea.open(make_study(tmp_path / "study", layers={"dem": dem}))
    kw = {"chunk": 4, "hot_days": 73, "indicators": ["soil_retention", "sediment_avoided"]}
    whole = physical_account(study, 2022, **kw)
    monkeypatch.setattr(physical_terms, "WHOLE_GRID_ROUTING_MAX_CELLS", 0)
    tiled = physical_account(study, 2022, **kw)
    assert len(whole) > 0 and (whole["quantity"] > 0).any()
    pd.testing.assert_frame_equal(tiled, whole, check_exact=False, rtol=1e-6)
