"""The physical account on a small hand-made study area (GEP_METHOD §6; DESIGN §5).

Fixture (``_study_fixture``): 100 m cells (1 ha), two zones of 10 × 14 cells; ecosystem types
in columns, so each type covers 14 or 28 cells of a zone. Uniform P = 1200 mm, storm rain
250 mm, AET 700 mm, ET0 900 mm, NPP 600 gC/m², T = 15 °C.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from liangshan.accounting.coefficients import DEFAULT_PATH
from liangshan.accounting.physical import COLUMNS, INDICATORS, gaps_frame, physical_account
from liangshan.datasets.study import StudyArea
from liangshan.errors import InvalidInput
from tests.accounting._study_fixture import make_study

WEST, EAST = "520381", "520521"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudyArea:
    return StudyArea.open(make_study(tmp_path_factory.mktemp("phys") / "study"))


@pytest.fixture(scope="module")
def account(study: StudyArea, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    maps = tmp_path_factory.mktemp("maps")
    return physical_account(study, 2022, maps_dir=maps, hot_days=73, lake_region="qinghai_tibet")


def q(acc: pd.DataFrame, indicator: str, region: str, eco: int, method: str = "") -> float:
    rows = acc[(acc.indicator == indicator) & (acc.region_code == region)
               & (acc.ecosystem_code == eco) & acc.method.str.contains(method, regex=False)]
    assert len(rows) == 1, rows
    return float(rows.quantity.iloc[0])


def test_columns_types_and_units(account: pd.DataFrame) -> None:
    assert tuple(account.columns) == COLUMNS
    assert account.region_code.map(type).eq(str).all()
    assert account.ecosystem_code.dtype == np.int64
    assert account.quantity.dtype == np.float64
    assert set(account.indicator) <= set(INDICATORS)
    for ind, unit in account[["indicator", "unit"]].drop_duplicates().itertuples(index=False):
        assert unit == INDICATORS[ind][0]
    assert np.isfinite(account.quantity).all() and (account.quantity >= 0).all()
    assert account.method.str.contains("GEP_METHOD").all()


def test_water_conservation_hand_value(account: pd.DataFrame) -> None:
    """Evergreen conifer (113, α = 3.02 %) in the west zone, 28 ha:
    (1200 − 36.24 − 700) mm × 1e4 m² × 1e-3 = 4637.6 m³/ha → 129 852.8 m³ (GEP_METHOD §6.2)."""
    assert q(account, "water_conservation", WEST, 113) == pytest.approx(129852.8)


def test_flood_terms_hand_values(account: pd.DataFrame) -> None:
    """GEP_METHOD §6.6. Vegetation 113, 28 ha: 250·(1 − 0.0302) mm → 2424.5 m³/ha → 67 886 m³.
    Marsh 143, 14 ha × 0.3 m → 42 000 m³. Reservoirs: west 0.35 × 100e4 = 350 000 m³ (no
    flood capacity published); east its flood capacity 50e4 m³. Lake 144, 0.14 km²:
    e^6.636 × 0.14^0.678 × 1e4 m³ (Qinghai–Tibet regression, asked for explicitly)."""
    assert q(account, "flood_regulation", WEST, 113) == pytest.approx(67886.0)
    assert q(account, "flood_regulation", WEST, 143) == pytest.approx(42000.0)
    assert q(account, "flood_regulation", WEST, 145, "reservoir") == pytest.approx(350000.0)
    assert q(account, "flood_regulation", EAST, 145, "reservoir") == pytest.approx(500000.0)
    lake = np.exp(6.636) * 0.14**0.678 * 1e4
    assert q(account, "flood_regulation", WEST, 144) == pytest.approx(lake)


def test_purification_capped_and_allocated(account: pd.DataFrame) -> None:
    """GEP_METHOD §6.7 min(E, Σ q·A). West: dust capacity of 28 ha conifer (113) = 28 × 33.2
    = 929.6 t < emission 1000 t → 929.6 t. East: 28 ha 111 (10.11 t/ha) + 28 ha 113 = 283.08 +
    929.6 = 1212.68 t > 1000 t → 1000 t shared 283.08 : 929.6. SO₂ west: capacity 28 ×
    0.2156 = 6.0368 t > emission 5 t → 5 t."""
    assert q(account, "air_purification_pm", WEST, 113) == pytest.approx(929.6)
    east = account[(account.indicator == "air_purification_pm") & (account.region_code == EAST)]
    assert east.quantity.sum() == pytest.approx(1000.0)
    assert q(account, "air_purification_pm", EAST, 111) == pytest.approx(1000 * 283.08 / 1212.68)
    assert q(account, "air_purification_so2", WEST, 113) == pytest.approx(5.0)


def test_carbon_and_oxygen_hand_values(account: pd.DataFrame) -> None:
    """Rh = 12 × 0.22·[exp(1.3695) + ln(0.3145·100 + 1)]·30·0.465 = 273.009 gC/m²;
    NEP = 326.991 gC/m² → 3.26991 t C/ha → 11.98967 t CO₂/ha; 28 ha of 111 in the east zone →
    335.711 t CO₂; O₂ = 32/12 × 3.26991 × 28 = 244.153 t (GEP_METHOD §6.9–6.10)."""
    assert q(account, "carbon_sequestration", EAST, 111) == pytest.approx(335.711, rel=1e-5)
    assert q(account, "oxygen_release", EAST, 111) == pytest.approx(244.153, rel=1e-5)


def test_climate_hand_values(account: pd.DataFrame) -> None:
    """GEP_METHOD §6.11. Transpiration, hot_days = 73 (a fifth of the year): 140 mm/ha =
    1400 m³ → 1.4e6 kg × 2450 kJ/kg / 3600 / 3 = 317 592.59 kWh/ha; 28 ha of 113 (west).
    Evaporation of lake 144 (west, 14 ha): 9000 m³/ha × (2450e3/3600 + 120) = 7 205 000 kWh/ha."""
    assert q(account, "climate_regulation_transpiration", WEST, 113) == pytest.approx(
        28 * 317592.5926)
    assert q(account, "climate_regulation_evaporation", WEST, 144) == pytest.approx(14 * 7205000)


def test_soil_retention_plausible(account: pd.DataFrame) -> None:
    """Soil retention is positive on vegetated land, absent on water and built-up land, and its
    by-products follow from it: sediment = 0.24 Q / 0.93, N = 0.37 % Q, P = 0.108 % Q."""
    soil = account[account.indicator == "soil_retention"]
    assert (soil.quantity > 0).all()
    assert not set(soil.ecosystem_code) & {144, 145, 161}
    total = soil.quantity.sum()
    by = account.groupby("indicator").quantity.sum()
    assert by["sediment_avoided"] == pytest.approx(0.24 * total / 0.93)
    assert by["nitrogen_retained"] == pytest.approx(0.0037 * total)
    assert by["phosphorus_retained"] == pytest.approx(0.00108 * total)


def test_totals_equal_per_pixel_maps(account: pd.DataFrame) -> None:
    """Each indicator's table total equals the sum of its per-pixel COG (reservoirs have no
    pixels and are left out of the comparison)."""
    maps = account.attrs["maps"]
    assert set(maps) >= {"water_conservation", "soil_retention", "carbon_sequestration"}
    for indicator, path in maps.items():
        with rasterio.open(path) as src:
            assert src.driver == "GTiff" and src.profile.get("tiled")
            pixel_sum = float(np.nansum(src.read(1).astype(np.float64)))
        rows = account[(account.indicator == indicator)
                       & ~account.method.str.contains("reservoir")]
        assert pixel_sum == pytest.approx(rows.quantity.sum(), rel=1e-5), indicator


def test_gaps_not_zeros(account: pd.DataFrame) -> None:
    """What cannot be computed is listed as a gap and has no row (GEP_METHOD §6.2: farmland and
    urban have no runoff coefficient; §6.8 gives no wetland purification rates)."""
    gaps = gaps_frame(account)
    wc = gaps[gaps.indicator == "water_conservation"]
    assert set(wc.ecosystem_code.dropna()) == {116, 151, 161}
    assert not ((account.indicator == "water_conservation") & account.ecosystem_code.isin(
        [116, 151, 161])).any()
    assert {"water_purification_cod", "water_purification_nh3n", "water_purification_tp",
            "air_purification_nox"} <= set(gaps.indicator)
    assert not account.indicator.str.startswith("water_purification").any()
    assert gaps.reason.str.startswith("not accounted").all()


def test_defaults_leave_lake_and_transpiration_as_gaps(study: StudyArea) -> None:
    acc = physical_account(study, 2022, indicators=["flood_regulation",
                                                    "climate_regulation_transpiration"])
    gaps = gaps_frame(acc)
    assert "hot_days" in gaps[gaps.indicator == "climate_regulation_transpiration"].reason.iloc[0]
    assert (gaps.ecosystem_code == 144).any()
    assert set(acc.indicator) == {"flood_regulation"}
    assert not (acc.ecosystem_code == 144).any()


def test_missing_raster_and_table_are_gaps(tmp_path: Path) -> None:
    study = StudyArea.open(make_study(tmp_path / "s", drop=("npp_gc_m2",),
                                      drop_tables=("reservoirs",)))
    acc = physical_account(study, 2022, indicators=["carbon_sequestration", "oxygen_release",
                                                    "flood_regulation"])
    gaps = gaps_frame(acc)
    assert set(gaps[gaps.reason.str.contains("npp_gc_m2")].indicator) == {
        "carbon_sequestration", "oxygen_release"}
    assert gaps.reason.str.contains("reservoirs").any()
    assert set(acc.indicator) == {"flood_regulation"}
    assert not acc.method.str.contains("reservoir").any()


def test_local_coefficients_enable_water_purification(tmp_path: Path, study: StudyArea) -> None:
    """A user CSV adding COD rates for marsh and lake (made-up test rates, 2 t/(ha·yr)) makes
    COD purification computable: west has 14 ha of each → 56 t capacity > 20 t load → 20 t."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    for code in (143, 144):
        text += f"cod_purification_capacity,{code},2,t/(hm2·a),test rate,[Hyp]\n"
    path = tmp_path / "coef.csv"
    path.write_text(text, encoding="utf-8")
    acc = physical_account(study, 2022, indicators=["water_purification_cod"], coefficients=path)
    west = acc[acc.region_code == WEST]
    assert west.quantity.sum() == pytest.approx(20.0)
    assert set(west.ecosystem_code) == {143, 144}


def test_unknown_indicator_and_lake_region(study: StudyArea) -> None:
    with pytest.raises(InvalidInput, match="unknown indicator"):
        physical_account(study, 2022, indicators=["water_yield_magic"])
    with pytest.raises(InvalidInput, match="lake_region"):
        physical_account(study, 2022, lake_region="yunnan_guizhou")


def test_extent_and_progress(study: StudyArea) -> None:
    stages: list[tuple[str, float]] = []
    acc = physical_account(study, 2022, indicators=["water_conservation"],
                           progress=lambda s, f: stages.append((s, f)))
    extent = pd.DataFrame(acc.attrs["extent"])
    assert extent.area_km2.sum() == pytest.approx(2 * 140 * 0.01)
    assert stages[-1] == ("done", 1.0)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions)


def test_chunking_does_not_change_the_account(study: StudyArea, account: pd.DataFrame) -> None:
    small = physical_account(study, 2022, chunk=4, hot_days=73, lake_region="qinghai_tibet")
    pd.testing.assert_frame_equal(small, account, check_exact=False, rtol=1e-9)


@pytest.mark.slow
def test_distributed_cluster_gives_the_same_account(study: StudyArea,
                                                    account: pd.DataFrame) -> None:
    """Two-worker LocalCluster (threads) as the current scheduler: same table."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        dist = physical_account(study, 2022, chunk=6, hot_days=73, lake_region="qinghai_tibet")
    pd.testing.assert_frame_equal(dist, account, check_exact=False, rtol=1e-9)


@pytest.mark.slow
def test_sample_study_area_plausible(tmp_path: Path) -> None:
    """The generated sample for 赤水市 at a coarse 300 m grid: the account adds up and stays in
    physically possible ranges (not a calibration — the data are generated).

    Bounds: the accounted area is the zone's area (±2 %); water conservation depth lies
    between 0 and the mean precipitation; storm storage below storm rain; CO₂ uptake below
    40 t/(ha·yr) (NPP ≤ ~1100 gC/m² → ≤ 40 t CO₂/ha); per-pixel maps sum to the table totals.
    """
    from liangshan.accounting.grid import open_grid
    from liangshan.datasets.sample import write_sample_study_area

    root = write_sample_study_area(tmp_path / "sample", counties=["520381"], years=[2022],
                                   resolution_m=300.0)
    study = StudyArea.open(root)
    acc = physical_account(study, 2022, hot_days=90, maps_dir=tmp_path / "maps")
    extent = pd.DataFrame(acc.attrs["extent"])
    zone_km2 = study.zones.to_crs(acc.attrs["crs"]).area.sum() / 1e6
    assert extent.area_km2.sum() == pytest.approx(zone_km2, rel=0.02)
    area = extent.set_index("ecosystem_code").area_km2

    grid = open_grid(study)
    precip = float(grid.layer("precip_mm", 2022).where(grid.region_index > 0).mean())
    wc = acc[acc.indicator == "water_conservation"]
    depth_mm = wc.quantity.sum() / (area.loc[wc.ecosystem_code].sum() * 1e6) * 1e3
    assert 0 < depth_mm < precip

    storm = float(grid.layer("storm_precip_mm", 2022).where(grid.region_index > 0).max())
    veg = acc[(acc.indicator == "flood_regulation") & (acc.ecosystem_code // 10 <= 13)]
    assert 0 < veg.quantity.sum() < storm * 1e-3 * area.loc[veg.ecosystem_code].sum() * 1e6

    co2 = acc[acc.indicator == "carbon_sequestration"]
    per_ha = co2.quantity.sum() / (area.loc[co2.ecosystem_code].sum() * 100)
    assert 0 < per_ha < 40

    for indicator, path in acc.attrs["maps"].items():
        with rasterio.open(path) as src:
            total = float(np.nansum(src.read(1).astype(np.float64)))
        rows = acc[(acc.indicator == indicator) & ~acc.method.str.contains("reservoir")]
        assert total == pytest.approx(rows.quantity.sum(), rel=1e-4), indicator


def test_fvc_from_ndvi_when_fvc_is_missing(tmp_path: Path) -> None:
    """Without an fvc layer, FVC comes from NDVI (dimidiate pixel model, 5/95 % percentiles,
    GEP_METHOD §6.3); without either, soil retention is a gap. NDVI = 0.1 + 0.5·f of the
    fixture's FVC f: the percentiles stretch the derived FVC to 0–1, so retention differs from
    the fvc-layer account; the rows are the same and the total within a factor of two."""
    from tests.accounting._study_fixture import default_layers

    base = StudyArea.open(make_study(tmp_path / "a"))
    ref = physical_account(base, 2022, indicators=["soil_retention"])
    fvc = default_layers()["fvc"]
    study = StudyArea.open(make_study(tmp_path / "b", layers={"ndvi": 0.1 + 0.5 * fvc},
                                      drop=("fvc",)))
    acc = physical_account(study, 2022, indicators=["soil_retention"])
    assert any("FVC from NDVI" in n for n in acc.attrs["notes"])
    assert set(zip(acc.region_code, acc.ecosystem_code, strict=True)) == set(
        zip(ref.region_code, ref.ecosystem_code, strict=True))
    ratio = acc.quantity.sum() / ref.quantity.sum()
    assert 0.5 < ratio < 2.0
    none = StudyArea.open(make_study(tmp_path / "c", drop=("fvc", "ndvi")))
    gaps = gaps_frame(physical_account(none, 2022, indicators=["soil_retention"]))
    assert gaps.reason.str.contains("'fvc' \\(or 'ndvi'\\)").any()


def test_year_outside_study(study: StudyArea) -> None:
    with pytest.raises(InvalidInput, match="year 2031"):
        physical_account(study, 2031)


def test_coefficient_provenance(account: pd.DataFrame) -> None:
    info = account.attrs["coefficients"]
    assert info["source"].endswith("physical_coefficients.csv")
    assert len(info["sha256"]) == 64


def test_l_max_lowers_soil_retention(study: StudyArea, account: pd.DataFrame) -> None:
    """Capping L (l_max = 1, below the single-cell L of a 100 m cell, (100/22.13)^0.4 ≈ 1.83)
    can only lower soil retention, and says so in the notes."""
    capped = physical_account(study, 2022, indicators=["soil_retention"], l_max=1.0)
    free = account[account.indicator == "soil_retention"].quantity.sum()
    assert 0 < capped.quantity.sum() < free
    assert any("l_max = 1.0" in n for n in capped.attrs["notes"])


def test_nodata_cells_inside_zones_are_gaps(tmp_path: Path) -> None:
    """Three west-zone cells without precipitation and two without an ecosystem type are
    reported (cell counts per region), not silently dropped: water conservation of conifer
    (113, west) then covers 28 − 3 cells."""
    from tests.accounting._study_fixture import default_layers

    layers = default_layers()
    precip = layers["precip_mm"].copy()
    precip[5, 3] = precip[6, 3] = precip[7, 3] = -9999.0  # column 3 is 113, west zone
    eco = layers["ecosystem"].copy()
    eco[10, 4] = eco[11, 4] = 0
    study = StudyArea.open(make_study(tmp_path / "s", layers={"precip_mm": precip,
                                                              "ecosystem": eco}))
    acc = physical_account(study, 2022, indicators=["water_conservation", "soil_retention"])
    gaps = gaps_frame(acc)
    precip_gaps = gaps[gaps.reason.str.contains("'precip_mm'")]
    assert set(precip_gaps.indicator) == {"water_conservation"}
    assert precip_gaps.region_code.tolist() == [WEST]
    assert precip_gaps.reason.iloc[0].startswith("not accounted on 3 cells")
    untyped = gaps[gaps.reason.str.contains("no ecosystem type")]
    assert set(untyped.indicator) == {"water_conservation", "soil_retention"}
    assert untyped.reason.str.startswith("not accounted on 2 cells").all()
    assert q(acc, "water_conservation", WEST, 113) == pytest.approx(25 * 4637.6)
