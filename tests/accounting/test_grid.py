"""The common grid: alignment, rasterised zones and bad-input errors (DESIGN §5)."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from liangshan.accounting.grid import open_grid, zonal_sums
from liangshan.datasets.study import StudyArea
from liangshan.errors import InvalidInput
from tests.accounting._study_fixture import (
    COLS,
    RES,
    ROWS,
    X0,
    Y0,
    YEAR,
    default_layers,
    make_study,
    write_raster,
)


def open_study(tmp_path: Path, **kwargs) -> StudyArea:
    return StudyArea.open(make_study(tmp_path / "study", **kwargs))


def test_grid_covers_zones_snapped_to_cells(tmp_path: Path) -> None:
    """Zones span columns 2–22 and rows 2–16 of the 100 m fixture: a 20 × 14 grid whose
    top-left corner is two cells in from the rasters'; cells are 1 ha."""
    g = open_grid(open_study(tmp_path))
    assert g.spec.shape == (14, 20)
    assert g.spec.transform.c == pytest.approx(X0 + 2 * RES)
    assert g.spec.transform.f == pytest.approx(Y0 - 2 * RES)
    assert g.spec.pixel_area_m2 == pytest.approx(1e4)


def test_region_index_blockwise(tmp_path: Path) -> None:
    """Each zone is 10 × 14 cells; block-wise rasterising (5-cell chunks) gives the same
    index as one block, and every cell is in a zone."""
    study = open_study(tmp_path)
    small = open_grid(study, chunk=5).region_index.values
    whole = open_grid(study, chunk=1000).region_index.values
    np.testing.assert_array_equal(small, whole)
    assert (small == 1).sum() == 140 and (small == 2).sum() == 140
    assert (small[:, :10] == 1).all() and (small[:, 10:] == 2).all()


def test_layer_on_same_grid_is_the_source_window(tmp_path: Path) -> None:
    """A raster already on the grid's cells is read, not resampled: values are the source's
    rows 2–16, columns 2–22, as float64 with NaN for nodata; chunks are bounded."""
    g = open_grid(open_study(tmp_path), chunk=8)
    dem = g.layer("dem")
    np.testing.assert_allclose(dem.values, default_layers()["dem"][2:16, 2:22])
    assert dem.dtype == np.float64
    assert max(dem.data.chunksize) <= 8
    eco = g.ecosystem(YEAR)
    assert eco.dtype == np.int32
    assert set(np.unique(eco.values)) <= {111, 113, 116, 121, 131, 143, 144, 145, 151, 161}


def test_finer_layer_resampled_by_average_and_mode(tmp_path: Path) -> None:
    """A 50 m layer on a 100 m grid: continuous by average (the mean of each 2 × 2 block),
    categorical by mode (the code held by 3 of the 4 sub-cells)."""
    fine = Affine(RES / 2, 0, X0, 0, -RES / 2, Y0)
    rng = np.random.default_rng(3)
    precip = 1000.0 + 100.0 * rng.random((2 * ROWS, 2 * COLS))
    eco = np.full((2 * ROWS, 2 * COLS), 111, dtype=np.uint16)
    eco[::2, ::2] = 131  # one sub-cell in four

    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "precip_mm":
            write_raster(path, precip, transform=fine)
            return True
        if name == "ecosystem":
            write_raster(path, eco, transform=fine)
            return True
        return False

    g = open_grid(open_study(tmp_path, raster_hook=hook))
    expected = precip.reshape(ROWS, 2, COLS, 2).mean(axis=(1, 3))[2:16, 2:22]
    np.testing.assert_allclose(g.layer("precip_mm", YEAR).values, expected, rtol=1e-6)
    assert (g.ecosystem(YEAR).values == 111).all()


def test_zonal_sums_bincount() -> None:
    """Block-wise bincount: bins 0/1 get 1+2+3 = 6 and 4 (NaN and key −1 are not counted)."""
    import xarray as xr

    key = xr.DataArray(np.array([[0, 0], [0, 1], [-1, 1]]), dims=("y", "x")).chunk(1)
    val = xr.DataArray(np.array([[1.0, 2.0], [3.0, 4.0], [9.0, np.nan]]), dims=("y", "x"))
    sums, counts = zonal_sums([val.chunk(1)], key, 2)
    np.testing.assert_allclose(sums[0], [6.0, 4.0])
    np.testing.assert_allclose(counts[0], [3, 1])


# -- bad input ------------------------------------------------------------------------------


def test_missing_file_names_file_and_layer(tmp_path: Path) -> None:
    study = open_study(tmp_path)
    path = study.raster_path("dem")
    path.unlink()
    with pytest.raises(InvalidInput, match=r"dem\.tif.*'dem'.*file not found") as err:
        open_grid(study).layer("dem")
    assert err.value.hint and "study.toml" in err.value.hint


def test_raster_without_crs(tmp_path: Path) -> None:
    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "temp_c":
            write_raster(path, data, crs=None)
            return True
        return False

    with pytest.raises(InvalidInput, match=r"temp_c\.tif.*'temp_c'.*no CRS") as err:
        open_grid(open_study(tmp_path, raster_hook=hook)).layer("temp_c", YEAR)
    assert "assign the CRS" in (err.value.hint or "")


def test_raster_not_covering_zones(tmp_path: Path) -> None:
    """A DEM shifted 1 km east leaves the western zone uncovered."""
    shifted = Affine(RES, 0, X0 + 1000.0, 0, -RES, Y0)

    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "dem":
            write_raster(path, data, transform=shifted)
            return True
        return False

    with pytest.raises(InvalidInput, match=r"dem\.tif.*'dem'.*expected an extent covering"):
        open_grid(open_study(tmp_path, raster_hook=hook)).layer("dem")


def test_precip_in_metres(tmp_path: Path) -> None:
    study = open_study(tmp_path, layers={"precip_mm": np.full((ROWS, COLS), 1.2)})
    with pytest.raises(InvalidInput, match=r"precip_mm\.tif.*median value 1\.2.*mm/yr") as err:
        open_grid(study).layer("precip_mm", YEAR)
    assert "metres" in (err.value.hint or "")


def test_ndvi_scaled(tmp_path: Path) -> None:
    study = open_study(tmp_path, layers={"ndvi": np.full((ROWS, COLS), 7000.0)})
    with pytest.raises(InvalidInput, match=r"ndvi\.tif.*maximum 7000.*between 0 and 1"):
        open_grid(study).layer("ndvi", YEAR)


def test_texture_in_g_per_kg(tmp_path: Path) -> None:
    study = open_study(tmp_path, layers={"sand_pct": np.full((ROWS, COLS), 300.0)})
    with pytest.raises(InvalidInput, match=r"sand_pct.*percent") as err:
        open_grid(study).layer("sand_pct")
    assert "g/kg" in (err.value.hint or "")


def test_all_nodata_band(tmp_path: Path) -> None:
    study = open_study(tmp_path, layers={"aet_mm": np.full((ROWS, COLS), -9999.0)})
    with pytest.raises(InvalidInput, match=r"aet_mm\.tif.*every pixel of band 1 is nodata"):
        open_grid(study).layer("aet_mm", YEAR)


def test_unknown_ecosystem_codes(tmp_path: Path) -> None:
    eco = default_layers()["ecosystem"].copy()
    eco[5, 5] = 999
    eco[6, 6] = 42
    with pytest.raises(InvalidInput, match=r"ecosystem\.tif.*codes not in the ecosystem table: "
                                           r"42, 999") as err:
        open_grid(open_study(tmp_path, layers={"ecosystem": eco})).ecosystem(YEAR)
    assert "crosswalk" in (err.value.hint or "")


@pytest.mark.parametrize(("crs", "found"), [("EPSG:4326", "geographic"),
                                            ("EPSG:32648", "not equal-area")])
def test_grid_crs_must_be_metric_equal_area(tmp_path: Path, crs: str, found: str) -> None:
    with pytest.raises(InvalidInput, match=found):
        open_grid(open_study(tmp_path), crs=crs)


def test_manifest_units_checked_by_study_reader(tmp_path: Path) -> None:
    """Declared units are the study reader's check; the grid relies on it (contract)."""
    root = make_study(tmp_path / "s")
    text = (root / "study.toml").read_text(encoding="utf-8")
    (root / "study.toml").write_text(text.replace('units = "mm/yr"', 'units = "m/yr"', 1),
                                     encoding="utf-8")
    with pytest.raises(InvalidInput, match="units"):
        StudyArea.open(root)


def test_reads_are_lazy(tmp_path: Path) -> None:
    """Layers are dask-backed: nothing is read until computed."""
    g = open_grid(open_study(tmp_path), chunk=4)
    arr = g.layer("erosivity", YEAR)
    assert arr.chunks is not None
    with rasterio.open(g.study.raster_path("erosivity", YEAR)) as src:
        assert src.count == 1


def test_geographic_layer_is_warped_to_the_grid(tmp_path: Path) -> None:
    """A precipitation raster in EPSG:4326 (0.0005° cells, about 50 m) is warped window by
    window onto the Albers grid: a field of 1200 mm in its western half and 1400 mm in its
    eastern half gives 1200 in the grid's first column, 1400 in its last, values in between
    only near the split, and the grid's shape."""
    from rasterio.warp import transform_bounds

    from tests.accounting._study_fixture import CRS

    west, south, east, north = transform_bounds(CRS, "EPSG:4326", X0, Y0 - ROWS * RES,
                                                X0 + COLS * RES, Y0, densify_pts=21)
    step = 0.0005
    west, south, east, north = west - 0.01, south - 0.01, east + 0.01, north + 0.01
    ncols, nrows = int((east - west) / step) + 1, int((north - south) / step) + 1
    lon = west + step * (np.arange(ncols) + 0.5)
    split = float(np.median(lon))
    field = np.where(lon[None, :] < split, 1200.0, 1400.0) * np.ones((nrows, 1))

    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "precip_mm":
            write_raster(path, field, crs="EPSG:4326",
                         transform=Affine(step, 0, west, 0, -step, north))
            return True
        return False

    g = open_grid(open_study(tmp_path, raster_hook=hook))
    out = g.layer("precip_mm", YEAR).values
    assert out.shape == g.spec.shape
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], 1200.0)
    np.testing.assert_allclose(out[:, -1], 1400.0)
    assert out.min() >= 1200.0 - 1e-6 and out.max() <= 1400.0 + 1e-6


def test_cells_outside_a_source_without_nodata_are_nan(tmp_path: Path) -> None:
    """A 50 m layer with no nodata value that stops one grid cell short of the eastern zone
    edge (within the one-cell coverage tolerance): the uncovered column reads NaN, never 0."""
    fine = Affine(RES / 2, 0, X0, 0, -RES / 2, Y0)
    short = np.full((2 * ROWS, 2 * 21), 1300.0)  # columns up to x0 + 21 cells; grid ends at 22

    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "precip_mm":
            write_raster(path, short, transform=fine, nodata=None)
            return True
        return False

    out = open_grid(open_study(tmp_path, raster_hook=hook)).layer("precip_mm", YEAR).values
    assert np.isnan(out[:, -1]).all()
    np.testing.assert_allclose(out[:, :-1], 1300.0)


def test_unreadable_raster(tmp_path: Path) -> None:
    def hook(name: str, path: Path, data: np.ndarray) -> bool:
        if name == "dem":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not a GeoTIFF", encoding="utf-8")
            return True
        return False

    with pytest.raises(InvalidInput, match=r"dem\.tif.*'dem'.*unreadable"):
        open_grid(open_study(tmp_path, raster_hook=hook)).layer("dem")


def test_zonal_stats_counts_nan_cells_and_all_cells() -> None:
    """One pass gives the value sums, the NaN cells of each coverage raster and the cells per
    bin: bin 0 has 3 cells (one NaN in the layer), bin 1 two (both valid); key −1 and keys
    ≥ nbins are not counted."""
    import xarray as xr

    from liangshan.accounting.grid import zonal_stats

    key = xr.DataArray(np.array([[0, 0], [0, 1], [-1, 1], [7, 0]]), dims=("y", "x")).chunk(1)
    val = xr.DataArray(np.array([[1.0, 2.0], [3.0, 4.0], [9.0, np.nan], [5.0, np.inf]]),
                       dims=("y", "x")).chunk(2)
    layer = xr.DataArray(np.array([[np.nan, 1.0], [1.0, 1.0], [np.nan, 1.0], [np.nan, np.nan]]),
                         dims=("y", "x")).chunk(3)
    stats = zonal_stats([val], key, 2, nan_of=[layer])
    np.testing.assert_array_equal(stats.sums, [[6.0, 4.0]])
    np.testing.assert_array_equal(stats.counts, [[3, 1]])
    np.testing.assert_array_equal(stats.nan_counts, [[2, 0]])
    np.testing.assert_array_equal(stats.cells, [4, 2])


def test_codes_in_block_matches_unique() -> None:
    """The presence-table pass gives np.unique's codes, also with values outside 0–65535."""
    from liangshan.accounting.grid import _codes_in_block

    rng = np.random.default_rng(1)
    block = rng.choice(np.array([0, 111, 112, 311, 65535], dtype=np.int32), (40, 30))
    np.testing.assert_array_equal(_codes_in_block(block), np.unique(block))
    block[3, 4], block[5, 6] = -2, 70000
    np.testing.assert_array_equal(_codes_in_block(block), np.unique(block))


def _tiled(path: Path, data: np.ndarray, side: int = 16) -> Path:
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
               "dtype": "float32", "transform": Affine(RES, 0, X0, 0, -RES, Y0),
               "nodata": -9999.0, "tiled": True, "blockxsize": side, "blockysize": side}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)
    return path


def test_units_sample_of_a_many_block_file_reads_a_lattice_of_blocks(tmp_path: Path) -> None:
    """A file of 40 × 40 blocks is sampled from at most 64 of its blocks (every other cell),
    spread over the whole extent: values from every quadrant, none beyond 64 × 8 × 8."""
    from liangshan.accounting.grid import StudyGrid

    rows, cols = np.mgrid[0:640, 0:640]
    data = (rows // 320) * 2 + (cols // 320) + 1.0  # quadrant number 1–4
    with rasterio.open(_tiled(tmp_path / "q.tif", data)) as src:
        sample = StudyGrid._sample(src)
    assert sample.size <= 64 * 8 * 8
    assert set(np.unique(sample)) == {1.0, 2.0, 3.0, 4.0}


def test_units_sample_falls_back_when_the_lattice_is_nodata(tmp_path: Path) -> None:
    """Valid cells only off the lattice's blocks: the decimated read of the whole band finds
    them, so NDVI scaled to 0–10000 is still caught."""
    from liangshan.accounting.grid import StudyGrid, _units_check

    data = np.full((640, 640), -9999.0)
    data[16:80, 16:80] = 7000.0  # block rows/columns 1–4: between lattice blocks 0 and 6
    with rasterio.open(_tiled(tmp_path / "ndvi.tif", data)) as src:
        sample = StudyGrid._sample(src)
    assert sample.size > 0 and (sample == 7000.0).all()
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        _units_check("ndvi", tmp_path / "ndvi.tif", sample)


def test_raw_float32_read_masks_nodata_as_gdal_does(tmp_path: Path) -> None:
    """Float32 layers on the grid are read raw and masked by a compiled pass: the same float64
    values and NaN cells as GDAL's masked read, also for values a few float32 steps from the
    nodata value (GDAL masks those within 2 ε relative), NaN and infinities."""
    nd = np.float32(-9999.0)
    near = [nd]
    for direction in (np.float32(0.0), np.float32(-1e9)):
        v = nd
        for _ in range(6):
            v = np.nextafter(v, direction)
            near.append(v)
    special = np.array([*near, np.nan, np.inf, -np.inf, 0.0, 12.5], dtype=np.float32)
    data = np.full((ROWS, COLS), 300.0, dtype=np.float32)
    inside = data[3:15, 3:21]  # a view inside the grid window (rows 2–16, columns 2–22)
    inside.flat[: special.size * 3 : 3] = special
    g = open_grid(open_study(tmp_path, layers={"erosivity": data}))
    got = g.layer("erosivity", YEAR).values
    with rasterio.open(g.study.raster_path("erosivity", YEAR)) as src:
        masked = src.read(1, masked=True)[2:16, 2:22]
    expected = np.ma.filled(masked.astype(np.float64), np.nan)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float64 and np.isnan(got).sum() >= 6


def test_zonal_stats_computes_only_the_blocks_asked_for() -> None:
    """Blocks left out are not computed: leaving out a block whose key is −1 everywhere
    changes nothing; leaving out one with keys drops its cells."""
    import dask.array as da
    import xarray as xr

    from liangshan.accounting.grid import zonal_stats

    k = np.array([[0, 1, -1, -1], [1, 1, -1, -1]])
    key = xr.DataArray(da.from_array(k, chunks=2), dims=("y", "x"))
    val = xr.DataArray(da.from_array(np.arange(8.0).reshape(2, 4), chunks=2), dims=("y", "x"))
    full = zonal_stats([val], key, 2)
    np.testing.assert_array_equal(full.sums, [[0.0, 1.0 + 4.0 + 5.0]])
    skipped = zonal_stats([val], key, 2, blocks=np.array([[True, False]]))
    np.testing.assert_array_equal(skipped.sums, full.sums)
    np.testing.assert_array_equal(skipped.cells, full.cells)
    none = zonal_stats([val], key, 2, blocks=np.array([[False, True]]))
    np.testing.assert_array_equal(none.cells, [0, 0])
