"""A tiny hand-made study area (two zones, 100 m cells) for the accounting tests.

Written with rasterio in the format of docs/study-area.md so that
``liangshan.datasets.study.StudyArea.open`` reads it. Every layer is a simple pattern so that
expected values can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import tomli_w
from affine import Affine
from shapely.geometry import box

from liangshan.datasets.study import LAYERS

CRS = ("+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +datum=WGS84 "
       "+units=m +no_defs")
RES = 100.0
ROWS, COLS = 18, 24
X0, Y0 = 500_000.0, 2_900_000.0  # top-left corner of the rasters
YEAR = 2022
ZONES = {"520381": (2, 12), "520521": (12, 22)}  # column ranges; rows 2..16 for both
ZONE_ROWS = (2, 16)

# Ecosystem pattern: bands of columns, so every zone holds several types.
_ECO_COLUMNS = [111, 111, 113, 113, 121, 131, 143, 144, 145, 151, 161, 116]


def ecosystem_array() -> np.ndarray:
    eco = np.zeros((ROWS, COLS), dtype=np.uint16)
    for c in range(COLS):
        eco[:, c] = _ECO_COLUMNS[c % len(_ECO_COLUMNS)]
    return eco


def default_layers() -> dict[str, np.ndarray]:
    rows, cols = np.mgrid[0:ROWS, 0:COLS].astype(np.float64)
    full = np.ones((ROWS, COLS))
    return {
        "dem": 1000.0 + 5.0 * rows + 2.0 * cols,
        "ecosystem": ecosystem_array(),
        "precip_mm": 1200.0 * full,
        "storm_precip_mm": 250.0 * full,
        "erosivity": 4000.0 * full,
        "temp_c": 15.0 * full,
        "aet_mm": 700.0 * full,
        "et0_mm": 900.0 * full,
        "ndvi": 0.7 * full,
        "fvc": 0.2 + 0.02 * cols,
        "npp_gc_m2": 600.0 * full,
        "sand_pct": 30.0 * full,
        "silt_pct": 40.0 * full,
        "clay_pct": 30.0 * full,
        "soc_pct": 1.5 * full,
    }


def default_tables() -> dict[str, pd.DataFrame]:
    emissions = [
        {"region_code": code, "year": YEAR, "pollutant": p, "emission_t": t}
        for code in ZONES
        for p, t in (("SO2", 5.0), ("NOx", 3.0), ("PM", 1000.0), ("COD", 20.0), ("NH3N", 2.0),
                     ("TP", 0.5))
    ]
    reservoirs = [
        {"region_code": "520381", "name": "A", "total_capacity_10k_m3": 100.0,
         "flood_capacity_10k_m3": float("nan")},
        {"region_code": "520521", "name": "B", "total_capacity_10k_m3": 200.0,
         "flood_capacity_10k_m3": 50.0},
    ]
    return {"emissions": pd.DataFrame(emissions), "reservoirs": pd.DataFrame(reservoirs)}


def write_raster(path: Path, data: np.ndarray, *, crs: str | None = CRS,
                 transform: Affine | None = None, nodata: float | None = -9999.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = "uint16" if data.dtype == np.uint16 else "float32"
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
               "dtype": dtype, "transform": transform or Affine(RES, 0, X0, 0, -RES, Y0),
               "nodata": 0 if dtype == "uint16" else nodata}
    if profile["nodata"] is None:
        del profile["nodata"]
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype), 1)


def zones_frame() -> gpd.GeoDataFrame:
    r0, r1 = ZONE_ROWS
    geoms = [box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)
             for c0, c1 in ZONES.values()]
    return gpd.GeoDataFrame({"region_code": list(ZONES), "name": ["west", "east"]},
                            geometry=geoms, crs=CRS)


def make_study(
    root: Path,
    *,
    layers: Mapping[str, np.ndarray] | None = None,
    drop: tuple[str, ...] = (),
    drop_tables: tuple[str, ...] = (),
    tables: Mapping[str, pd.DataFrame] | None = None,
    raster_hook: Callable[[str, Path, np.ndarray], bool] | None = None,
) -> Path:
    """Write the study area under ``root``; return ``root``.

    ``layers`` replaces default arrays; ``drop`` leaves layers out of the manifest;
    ``raster_hook(name, path, data)`` may write a raster itself (return True) to make it bad.
    """
    arrays = default_layers()
    arrays.update(layers or {})
    all_tables = default_tables()
    all_tables.update(tables or {})
    root.mkdir(parents=True, exist_ok=True)
    zones_frame().to_file(root / "zones.gpkg", layer="zones", driver="GPKG")
    entries = []
    for name, data in arrays.items():
        if name in drop:
            continue
        spec = LAYERS[name]
        rel = f"rasters/{YEAR}/{name}.tif" if spec.per_year else f"rasters/{name}.tif"
        path = root / rel
        if not (raster_hook and raster_hook(name, path, data)):
            write_raster(path, data)
        entry = {"name": name, "file": rel, "units": spec.units, "kind": spec.kind,
                 "source": "test fixture"}
        if spec.per_year:
            entry["year"] = YEAR
        entries.append(entry)
    table_entries = []
    for name, frame in all_tables.items():
        if name in drop_tables:
            continue
        (root / "tables").mkdir(exist_ok=True)
        frame.to_csv(root / "tables" / f"{name}.csv", index=False)
        table_entries.append({"name": name, "file": f"tables/{name}.csv", "source": "test"})
    manifest = {
        "study": {"name": "fixture", "crs": CRS, "resolution_m": RES, "years": [YEAR],
                  "sample_data": True, "seed": 1},
        "zones": {"file": "zones.gpkg", "layer": "zones", "code_field": "region_code",
                  "name_field": "name"},
        "rasters": entries,
        "tables": table_entries,
    }
    (root / "study.toml").write_text(tomli_w.dumps(manifest), encoding="utf-8")
    return root
