"""The study-area reader and validator: the accounting engine's input contract.

A study area is a folder with a manifest ``study.toml`` (format: docs/study-area.md).
:meth:`StudyArea.open` parses and checks the manifest (pydantic models), checks
that every file it names exists, that each raster layer is a known layer with the
units of the contract, and that the zones layer has its code field. Tables are
read on demand by :meth:`StudyArea.table`, which checks the required columns.
Every error is an :class:`~liangshan.errors.InvalidInput` that names the file,
the layer or column, what was found, what was expected, and how to fix it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from liangshan.errors import InvalidInput

MANIFEST = "study.toml"


@dataclass(frozen=True)
class LayerSpec:
    """A raster layer of the contract: its units string, kind and whether it changes by year."""

    units: str
    kind: Literal["continuous", "categorical"]
    per_year: bool
    dtype: str = "float32"
    nodata: float = -9999.0


#: Raster layers of the contract (name → spec); units strings exactly as in the manifest.
LAYERS: dict[str, LayerSpec] = {
    "dem": LayerSpec("m", "continuous", False),
    "ecosystem": LayerSpec("code", "categorical", True, "uint16", 0),
    "precip_mm": LayerSpec("mm/yr", "continuous", True),
    "storm_precip_mm": LayerSpec("mm/yr", "continuous", True),
    "erosivity": LayerSpec("MJ·mm·ha⁻¹·h⁻¹·yr⁻¹", "continuous", True),
    "temp_c": LayerSpec("°C", "continuous", True),
    "aet_mm": LayerSpec("mm/yr", "continuous", True),
    "et0_mm": LayerSpec("mm/yr", "continuous", True),
    "ndvi": LayerSpec("1", "continuous", True),
    "fvc": LayerSpec("1", "continuous", True),
    "npp_gc_m2": LayerSpec("gC·m⁻²·yr⁻¹", "continuous", True),
    "sand_pct": LayerSpec("%", "continuous", False),
    "silt_pct": LayerSpec("%", "continuous", False),
    "clay_pct": LayerSpec("%", "continuous", False),
    "soc_pct": LayerSpec("%", "continuous", False),
    "soil_depth_mm": LayerSpec("mm", "continuous", False),
    "pawc": LayerSpec("1", "continuous", False),
}

#: Statistical tables of the contract (name → required columns, units in the names).
TABLES: dict[str, tuple[str, ...]] = {
    "products": (
        "region_code", "year", "category", "product", "quantity", "unit",
        "price_yuan_per_unit", "output_value_10k_yuan",
    ),
    "water_use": ("region_code", "year", "use", "volume_10k_m3"),
    "hydropower": ("region_code", "year", "generation_10k_kwh"),
    "emissions": ("region_code", "year", "pollutant", "emission_t"),
    "tourism": ("region_code", "year", "visitors_10k", "tourism_revenue_10k_yuan"),
    "socioeconomic": ("region_code", "year", "gdp_10k_yuan", "population_10k", "area_km2"),
    "reservoirs": ("region_code", "name", "total_capacity_10k_m3", "flood_capacity_10k_m3"),
}

#: Columns read as text so that codes keep their leading digits.
_TEXT_COLUMNS = ("region_code", "category", "product", "unit", "use", "pollutant", "name")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyInfo(_Model):
    name: str
    crs: str
    resolution_m: float | None = Field(default=None, gt=0)
    years: list[int] = Field(min_length=1)
    sample_data: bool = False
    seed: int | None = None


class ZonesEntry(_Model):
    file: str
    layer: str = "zones"
    code_field: str = "region_code"
    name_field: str = "name"
    source: str | None = None


class RasterEntry(_Model):
    name: str
    file: str
    units: str
    kind: Literal["continuous", "categorical"]
    year: int | None = None
    source: str

    @field_validator("name")
    @classmethod
    def _known_layer(cls, v: str) -> str:
        if v not in LAYERS:
            raise ValueError(f"unknown raster layer {v!r}; known layers: {', '.join(LAYERS)}")
        return v


class TableEntry(_Model):
    name: str
    file: str
    source: str

    @field_validator("name")
    @classmethod
    def _known_table(cls, v: str) -> str:
        if v not in TABLES:
            raise ValueError(f"unknown table {v!r}; known tables: {', '.join(TABLES)}")
        return v


class Manifest(_Model):
    study: StudyInfo
    # parameters of a generated sample (cache key of `liangshan sample-data`)
    generator: dict[str, Any] | None = None
    zones: ZonesEntry
    rasters: list[RasterEntry] = Field(default_factory=list)
    tables: list[TableEntry] = Field(default_factory=list)


def _format_validation(err: ValidationError, path: Path) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    return f"{path}: invalid manifest — " + "; ".join(parts)


class StudyArea:
    """An opened, checked study area. Construct with :meth:`open`."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> StudyArea:
        """Read ``study.toml`` in folder ``path`` (or the manifest file itself) and check it.

        Checks: the manifest parses and matches the schema; every named file exists;
        raster layer names are known and their units match the contract; a layer is
        listed once per year; the zones layer exists with its code field.
        """
        p = Path(path)
        root = p.parent if p.is_file() else p
        mpath = root / MANIFEST
        if not mpath.is_file():
            raise InvalidInput(
                f"{root}: no {MANIFEST} manifest found",
                hint="a study area is a folder with a study.toml (docs/study-area.md); "
                "write a sample one with `liangshan sample-data OUT`",
            )
        try:
            data = tomllib.loads(mpath.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{mpath}: not valid TOML ({exc})",
                               hint="fix the syntax (docs/study-area.md)") from exc
        try:
            manifest = Manifest.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(_format_validation(exc, mpath),
                               hint="see docs/study-area.md for the manifest format") from exc
        area = cls(root, manifest)
        area._check()
        return area

    def _check(self) -> None:
        mpath = self.root / MANIFEST
        self._require_file(self.manifest.zones.file, "zones")
        seen: set[tuple[str, int | None]] = set()
        years = set(self.manifest.study.years)
        for r in self.manifest.rasters:
            spec = LAYERS[r.name]
            where = f"{mpath}: raster {r.name!r}" + (f" (year {r.year})" if r.year else "")
            if r.units != spec.units:
                raise InvalidInput(
                    f"{where}: units {r.units!r}, expected {spec.units!r}",
                    hint="convert the data to the contract's units and state them exactly "
                    "as in docs/study-area.md",
                )
            if r.kind != spec.kind:
                raise InvalidInput(f"{where}: kind {r.kind!r}, expected {spec.kind!r}")
            if r.year is not None and r.year not in years:
                raise InvalidInput(f"{where}: year {r.year} is not in study.years "
                                   f"{sorted(years)}", hint="add the year or fix the entry")
            key = (r.name, r.year)
            if key in seen:
                raise InvalidInput(f"{where}: listed twice", hint="keep one entry per layer/year")
            seen.add(key)
            self._require_file(r.file, f"raster {r.name!r}")
        names = set()
        for t in self.manifest.tables:
            if t.name in names:
                raise InvalidInput(f"{mpath}: table {t.name!r} listed twice")
            names.add(t.name)
            self._require_file(t.file, f"table {t.name!r}")

    def _require_file(self, rel: str, what: str) -> Path:
        f = self.root / rel
        if not f.is_file():
            raise InvalidInput(
                f"{self.root / MANIFEST}: {what} file {rel!r} not found (looked for {f})",
                hint="fix the path in study.toml or add the file",
            )
        return f

    # -- accessors -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.study.name

    @property
    def crs(self) -> str:
        return self.manifest.study.crs

    @property
    def years(self) -> list[int]:
        return list(self.manifest.study.years)

    @property
    def is_sample(self) -> bool:
        return self.manifest.study.sample_data

    @property
    def raster_names(self) -> list[str]:
        """Names of the raster layers present (each once)."""
        return list(dict.fromkeys(r.name for r in self.manifest.rasters))

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.manifest.tables]

    @cached_property
    def zones(self) -> gpd.GeoDataFrame:
        """The zones as a GeoDataFrame with columns ``region_code``, ``name``, geometry.

        The manifest's code and name fields are renamed to these canonical names.
        Codes are text. Raises InvalidInput if the layer or the code field is missing.
        """
        z = self.manifest.zones
        f = self.root / z.file
        try:
            gdf = gpd.read_file(f, layer=z.layer)
        except Exception as exc:  # pyogrio raises DataLayerError and friends
            raise InvalidInput(f"{f}: cannot read layer {z.layer!r} ({exc})",
                               hint="check zones.layer in study.toml") from exc
        if z.code_field not in gdf.columns:
            raise InvalidInput(
                f"{f} layer {z.layer!r}: zone code field {z.code_field!r} missing; "
                f"columns are {[c for c in gdf.columns if c != 'geometry']}",
                hint="set zones.code_field in study.toml to the column holding GB/T 2260 codes",
            )
        gdf = gdf.rename(columns={z.code_field: "region_code"})
        if z.name_field in gdf.columns and z.name_field != "name":
            gdf = gdf.rename(columns={z.name_field: "name"})
        gdf["region_code"] = gdf["region_code"].astype(str)
        if gdf["region_code"].duplicated().any():
            dup = gdf.loc[gdf["region_code"].duplicated(), "region_code"].iloc[0]
            raise InvalidInput(f"{f}: zone code {dup!r} appears more than once",
                               hint="one polygon (or multipolygon) per zone")
        if gdf.crs is None:
            raise InvalidInput(f"{f}: zones have no CRS", hint="write the file with a CRS")
        return gdf

    def raster_entry(self, name: str, year: int | None = None) -> RasterEntry:
        """The manifest entry of layer ``name`` (for per-year layers, ``year`` is required)."""
        if name not in LAYERS:
            raise InvalidInput(f"unknown raster layer {name!r}",
                               hint=f"known layers: {', '.join(LAYERS)}")
        entries = [r for r in self.manifest.rasters if r.name == name]
        if not entries:
            raise InvalidInput(
                f"{self.root / MANIFEST}: layer {name!r} not in this study area "
                f"(present: {', '.join(self.raster_names) or 'none'})",
                hint="add it to study.toml [[rasters]]",
            )
        static = [r for r in entries if r.year is None]
        if year is None:
            if static:
                return static[0]
            raise InvalidInput(f"layer {name!r} is per year; give year= one of "
                               f"{sorted(r.year for r in entries if r.year is not None)}")
        dated = [r for r in entries if r.year == year]
        if dated:
            return dated[0]
        if static:
            return static[0]  # a static layer serves every year
        raise InvalidInput(
            f"{self.root / MANIFEST}: layer {name!r} has no entry for year {year} "
            f"(years present: {sorted(r.year for r in entries if r.year is not None)})",
            hint="add the year's GeoTIFF to study.toml",
        )

    def raster_path(self, name: str, year: int | None = None) -> Path:
        """Path of the GeoTIFF for layer ``name`` (and ``year`` for per-year layers)."""
        return self.root / self.raster_entry(name, year).file

    def table(self, name: str) -> pd.DataFrame:
        """Read table ``name`` as a DataFrame, checking its required columns (TABLES).

        ``region_code`` and other text columns are read as str; ``year`` as int.
        """
        if name not in TABLES:
            raise InvalidInput(f"unknown table {name!r}", hint=f"known tables: {', '.join(TABLES)}")
        entry = next((t for t in self.manifest.tables if t.name == name), None)
        if entry is None:
            raise InvalidInput(
                f"{self.root / MANIFEST}: table {name!r} not in this study area "
                f"(present: {', '.join(self.table_names) or 'none'})",
                hint="add it to study.toml [[tables]]",
            )
        f = self.root / entry.file
        try:
            df = pd.read_csv(f, dtype={c: str for c in _TEXT_COLUMNS}, encoding="utf-8")
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InvalidInput(f"{f}: cannot read table {name!r} ({exc})",
                               hint="write UTF-8 CSV with a header row") from exc
        missing = [c for c in TABLES[name] if c not in df.columns]
        if missing:
            raise InvalidInput(
                f"{f}: table {name!r} lacks column(s) {missing}; found {list(df.columns)}",
                hint=f"expected columns: {', '.join(TABLES[name])} (docs/study-area.md)",
            )
        if "year" in df.columns:
            if df["year"].isna().any():
                row = int(df.index[df["year"].isna()][0]) + 2
                raise InvalidInput(f"{f}: empty year at line {row}", hint="fill the year")
            df["year"] = df["year"].astype(int)
        return df

    def validate(self) -> None:
        """Deep check of every file (slower than :meth:`open`): raises InvalidInput.

        Zones readable with unique codes and a CRS; every raster a single-band GeoTIFF
        with a CRS, integer-typed if categorical; every table readable with its columns,
        each ``region_code`` one of the zones' codes.
        """
        import rasterio

        codes = set(self.zones["region_code"])
        for r in self.manifest.rasters:
            f = self.root / r.file
            try:
                with rasterio.open(f) as ds:
                    count, crs, dtype = ds.count, ds.crs, ds.dtypes[0]
            except rasterio.errors.RasterioIOError as exc:
                raise InvalidInput(f"{f}: raster {r.name!r} cannot be read ({exc})",
                                   hint="write a GeoTIFF") from exc
            if count != 1:
                raise InvalidInput(f"{f}: raster {r.name!r} has {count} bands, expected 1",
                                   hint="write one layer per file")
            if crs is None:
                raise InvalidInput(f"{f}: raster {r.name!r} has no CRS",
                                   hint="write the file with its CRS")
            if r.kind == "categorical" and not dtype.startswith(("uint", "int")):
                raise InvalidInput(f"{f}: categorical raster {r.name!r} has type {dtype}, "
                                   "expected an integer type", hint="write codes as uint16")
        for t in self.manifest.tables:
            df = self.table(t.name)
            unknown = ~df["region_code"].isin(codes)
            if unknown.any():
                i = int(df.index[unknown][0])
                raise InvalidInput(
                    f"{self.root / t.file}: line {i + 2}: region_code "
                    f"{df.loc[i, 'region_code']!r} is not a zone of {self.manifest.zones.file}",
                    hint="fix the code or add the zone",
                )
