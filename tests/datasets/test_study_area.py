"""StudyArea: the reader and validator of the study-area contract (docs/study-area.md)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from liangshan.datasets.boundaries import PILOT_COUNTIES
from liangshan.datasets.study import LAYERS, TABLES, StudyArea
from liangshan.errors import InvalidInput

# rasterio ≤ 1.4 multiplies Affine objects with `*` internally
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture()
def area_copy(sample_area: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(sample_area, dst)
    return dst


def _edit_manifest(root: Path, edit) -> None:
    m = root / "study.toml"
    doc = tomllib.loads(m.read_text(encoding="utf-8"))
    edit(doc)
    m.write_text(tomli_w.dumps(doc), encoding="utf-8")


def test_open_sample(sample_area: Path):
    sa = StudyArea.open(sample_area)
    assert sa.is_sample
    assert sa.years == [2022, 2023]
    assert set(sa.raster_names) == set(LAYERS)
    assert set(sa.table_names) == set(TABLES)
    assert list(sa.zones["region_code"]) == list(PILOT_COUNTIES)
    assert sa.raster_path("dem").is_file()
    assert sa.raster_path("ecosystem", 2023).name == "ecosystem.tif"
    assert "2023" in str(sa.raster_path("ecosystem", 2023))
    assert sa.raster_path("dem", 2022) == sa.raster_path("dem")  # static layers serve any year
    for name, cols in TABLES.items():
        df = sa.table(name)
        assert set(cols) <= set(df.columns)
        assert df["region_code"].map(type).eq(str).all()


def test_missing_manifest(tmp_path: Path):
    with pytest.raises(InvalidInput, match=r"no study\.toml"):
        StudyArea.open(tmp_path)


def test_missing_file(area_copy: Path):
    (area_copy / "rasters" / "2022" / "ndvi.tif").unlink()
    with pytest.raises(InvalidInput, match=r"ndvi.*not found"):
        StudyArea.open(area_copy)


def test_unknown_layer_name(area_copy: Path):
    _edit_manifest(area_copy, lambda d: d["rasters"][0].update(name="elevation"))
    with pytest.raises(InvalidInput, match="unknown raster layer 'elevation'"):
        StudyArea.open(area_copy)
    sa_err = None
    try:
        StudyArea.open(area_copy)
    except InvalidInput as e:
        sa_err = str(e)
    assert sa_err is not None and "dem" in sa_err  # lists the known layer names


def test_wrong_units(area_copy: Path):
    def edit(d):
        for r in d["rasters"]:
            if r["name"] == "precip_mm":
                r["units"] = "m/yr"
    _edit_manifest(area_copy, edit)
    with pytest.raises(InvalidInput, match=r"precip_mm.*units 'm/yr', expected 'mm/yr'"):
        StudyArea.open(area_copy)


def test_table_missing_column(area_copy: Path):
    f = area_copy / "tables" / "hydropower.csv"
    pd.read_csv(f).drop(columns=["generation_10k_kwh"]).to_csv(f, index=False)
    sa = StudyArea.open(area_copy)
    with pytest.raises(InvalidInput, match="generation_10k_kwh"):
        sa.table("hydropower")


def test_zone_code_field_missing(area_copy: Path):
    _edit_manifest(area_copy, lambda d: d["zones"].update(code_field="adcode"))
    sa = StudyArea.open(area_copy)
    with pytest.raises(InvalidInput, match="zone code field 'adcode' missing"):
        _ = sa.zones


def test_unknown_layer_or_table_lookup(sample_area: Path):
    sa = StudyArea.open(sample_area)
    with pytest.raises(InvalidInput, match="unknown raster layer"):
        sa.raster_path("slope")
    with pytest.raises(InvalidInput, match="per year"):
        sa.raster_path("ecosystem")
    with pytest.raises(InvalidInput, match="no entry for year 2030"):
        sa.raster_path("ecosystem", 2030)
    with pytest.raises(InvalidInput, match="unknown table"):
        sa.table("visitors")


def test_bad_toml_and_schema(area_copy: Path):
    m = area_copy / "study.toml"
    m.write_text("[study\nname=", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        StudyArea.open(area_copy)
    m.write_text(tomli_w.dumps({"study": {"name": "x", "crs": "EPSG:3857"}}), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"study\.years"):
        StudyArea.open(area_copy)


def test_validate_sample_and_broken_copies(sample_area: Path, area_copy: Path):
    StudyArea.open(sample_area).validate()
    f = area_copy / "tables" / "tourism.csv"
    df = pd.read_csv(f, dtype={"region_code": str})
    df.loc[3, "region_code"] = "520999"
    df.to_csv(f, index=False)
    with pytest.raises(InvalidInput, match=r"line 5: region_code '520999'"):
        StudyArea.open(area_copy).validate()


def test_validate_refuses_multiband_raster(area_copy: Path):
    import numpy as np
    import rasterio

    path = area_copy / "rasters" / "dem.tif"
    with rasterio.open(path) as src:
        profile = src.profile
        data = src.read(1)
    profile.update(count=2, sparse_ok=False)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([data, data]))
    with pytest.raises(InvalidInput, match="2 bands"):
        StudyArea.open(area_copy).validate()
