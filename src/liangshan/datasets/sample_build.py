"""The build of a generated sample study area (called by sample.write_sample_study_area).

Stages: zones → county targets → grid and smooth county fields → calibration on
a sparse sample of each county (relief normalisation, urban centre, reservoirs,
class thresholds) → rasters block by block (only blocks touching a county) →
tables → manifest and README. All randomness derives from the seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.windows import Window

from liangshan.datasets.boundaries import STUDY_CRS, load_counties
from liangshan.datasets.sample_climate import climate, soil
from liangshan.datasets.sample_landcover import Targets, Thresholds, calibrate, classify, scores
from liangshan.datasets.sample_params import CountyParams, county_params
from liangshan.datasets.sample_terrain import (
    CountyFields,
    Grid,
    relief,
    smooth_county_grids,
    terrain,
)
from liangshan.datasets.study import LAYERS


def from_origin(west: float, north: float, xres: float, yres: float) -> Affine:
    """North-up affine transform (rasterio's from_origin without its deprecated `*`)."""
    return Affine(xres, 0.0, west, 0.0, -yres, north)

BLOCK = 512  # pixels per processing block side (a multiple of the 256-pixel TIFF tile)
TILE = 256
SAMPLE_POINTS = 40000  # calibration sample size per county (approximate)
STATIC = [n for n, s in LAYERS.items() if not s.per_year]
PER_YEAR = [n for n, s in LAYERS.items() if s.per_year]
# quantisation steps (binary fractions compress well) per layer, in the layer's units
_QUANT = {"ndvi": 1 / 1024, "fvc": 1 / 1024, "pawc": 1 / 1024, "temp_c": 1 / 64,
          "soc_pct": 1 / 256, "sand_pct": 1 / 64, "silt_pct": 1 / 64, "clay_pct": 1 / 64}
_QUANT_DEFAULT = 1 / 8


@dataclass
class Reservoir:
    county: int
    x: float
    y: float
    a: float  # semi-axes (m)
    b: float
    angle: float  # radians
    depth_m: float

    @property
    def area_km2(self) -> float:
        return math.pi * self.a * self.b / 1e6


@dataclass
class Calibrated:
    cf: CountyFields
    th: Thresholds  # per-county arrays
    centre: NDArray[np.float64]  # (n, 2) x, y of urban centres (m)
    radius: NDArray[np.float64]  # equivalent radius (m) per county
    reservoirs: list[Reservoir]
    sample_shares: list[dict[int, float]]  # per county, first-year class shares on the sample


def _grid(zones: gpd.GeoDataFrame, res: float) -> Grid:
    minx, miny, maxx, maxy = zones.total_bounds
    x0 = math.floor(minx / res) * res
    y1 = math.ceil(maxy / res) * res
    width = math.ceil((maxx - x0) / res)
    height = math.ceil((y1 - miny) / res)
    return Grid(x0=x0, y1=y1, res=res, width=width, height=height)


def _coarse(zones: gpd.GeoDataFrame, grid: Grid) -> tuple[float, float, float, NDArray[np.int64],
                                                          NDArray[np.float64]]:
    """A coarse grid (≥ 1 km) over the study extent: its zone indices and latitudes."""
    sp = max(1000.0, grid.res)
    margin = 5 * sp
    gx0 = grid.x0 - margin
    gy0 = grid.y1 - grid.height * grid.res - margin
    nx = math.ceil((grid.width * grid.res + 2 * margin) / sp) + 1
    ny = math.ceil((grid.height * grid.res + 2 * margin) / sp) + 1
    # rasterio rows go north→south; our coarse grid j goes south→north, so flip
    transform = from_origin(gx0 - sp / 2, gy0 + (ny - 0.5) * sp, sp, sp)
    z = rasterize(
        [(g, i + 1) for i, g in enumerate(zones.geometry)],
        out_shape=(ny, nx), transform=transform, fill=0, dtype="int32", all_touched=True,
    )[::-1].astype(np.int64) - 1
    xs = gx0 + np.arange(nx) * sp
    ys = gy0 + np.arange(ny) * sp
    tr = Transformer.from_crs(STUDY_CRS, "EPSG:4326", always_xy=True)
    _, lat = tr.transform(*np.meshgrid(xs, ys))
    return gx0, gy0, sp, z, np.asarray(lat, dtype=np.float64)


def _sample_rc(geom: shapely.Geometry, grid: Grid) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                                            NDArray[np.bool_]]:
    minx, miny, maxx, maxy = geom.bounds
    c0 = max(int((minx - grid.x0) // grid.res), 0)
    c1 = min(math.ceil((maxx - grid.x0) / grid.res), grid.width)
    r0 = max(int((grid.y1 - maxy) // grid.res), 0)
    r1 = min(math.ceil((grid.y1 - miny) / grid.res), grid.height)
    n = (r1 - r0) * (c1 - c0)
    k = max(1, math.ceil(math.sqrt(n / SAMPLE_POINTS)))
    rows = np.arange(r0 + k // 2, r1, k, dtype=np.int64)
    cols = np.arange(c0 + k // 2, c1, k, dtype=np.int64)
    X, Y = np.meshgrid(grid.xs(cols), grid.ys(rows))
    shapely.prepare(geom)
    return rows, cols, shapely.contains_xy(geom, X, Y)


def _reservoir_mask(res_list: list[Reservoir], xs: NDArray[np.float64], ys: NDArray[np.float64],
                    zone: NDArray[np.int64]) -> NDArray[np.bool_]:
    mask = np.zeros(zone.shape, dtype=bool)
    xmin, xmax, ymin, ymax = xs.min(), xs.max(), ys.min(), ys.max()
    for r in res_list:
        if r.x + r.a < xmin or r.x - r.a > xmax or r.y + r.a < ymin or r.y - r.a > ymax:
            continue
        dx = xs[None, :] - r.x
        dy = ys[:, None] - r.y
        ca, sa = math.cos(r.angle), math.sin(r.angle)
        inside = ((dx * ca + dy * sa) / r.a) ** 2 + ((-dx * sa + dy * ca) / r.b) ** 2 <= 1.0
        mask |= inside & (zone == r.county)
    return mask


def _place_reservoirs(ci: int, p: CountyParams, t: dict[str, NDArray[np.float64]],
                      X: NDArray[np.float64], Y: NDArray[np.float64], m: NDArray[np.bool_],
                      centre: NDArray[np.float64], seed: int) -> list[Reservoir]:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, int(p.region_code), 5])
    n_res = int(np.clip(round(p.area_km2 / 500.0), 1, 6))
    cand = m & (t["valley"] > 0.8) & (t["u"] > 0.12) & (t["u"] < 0.6) & (t["slope_deg"] < 30)
    if cand.sum() < n_res:
        cand = m & (t["valley"] > 0.5)
    cx, cy = X[cand], Y[cand]
    order = rng.permutation(cx.size)
    placed: list[Reservoir] = []
    for i in order:
        x, y = float(cx[i]), float(cy[i])
        if math.hypot(x - centre[0], y - centre[1]) < 2500.0:
            continue
        if any(math.hypot(x - r.x, y - r.y) < 6000.0 for r in placed):
            continue
        a = float(rng.uniform(500.0, 1400.0))
        placed.append(Reservoir(ci, x, y, a, a * float(rng.uniform(0.25, 0.5)),
                                float(rng.uniform(0, math.pi)), float(rng.uniform(12.0, 30.0))))
        if len(placed) == n_res:
            break
    return placed


def _dist_rel(xs: NDArray[np.float64], ys: NDArray[np.float64], zone: NDArray[np.int64],
              centre: NDArray[np.float64], radius: NDArray[np.float64]) -> NDArray[np.float64]:
    z = np.maximum(zone, 0)
    return np.hypot(xs[None, :] - centre[z, 0], ys[:, None] - centre[z, 1]) / radius[z]


def calibrate_all(zones: gpd.GeoDataFrame, cps: list[CountyParams], grid: Grid, seed: int,
                  n_years: int, progress: Callable[[float], None]) -> Calibrated:
    """County fields, urban centres, reservoirs and class thresholds from per-county samples."""
    n = len(zones)
    samples = [_sample_rc(g, grid) for g in zones.geometry]
    h_lo, h_hi = np.zeros(n), np.zeros(n)
    for i, (rows, cols, m) in enumerate(samples):
        h = relief(grid.xs(cols), grid.ys(rows), seed, grid.res)["h"][m]
        if h.size == 0:  # county smaller than a sample cell: evaluate its centre
            h = np.array([-0.2, 0.2])
        h_lo[i], h_hi[i] = np.quantile(h, [0.003, 0.997])
    gx0, gy0, sp, zc, lat = _coarse(zones, grid)
    values = {
        "h_lo": h_lo, "h_hi": h_hi,
        "elev_min_m": np.array([p.elev_min_m for p in cps]),
        "elev_max_m": np.array([p.elev_max_m for p in cps]),
        "precip_mm": np.array([p.precip_mm for p in cps]),
    }
    values["elev_mid_m"] = values["elev_min_m"] + 0.4 * (values["elev_max_m"]
                                                         - values["elev_min_m"])
    grids = smooth_county_grids(zc, values, sp)
    grids["lat"] = lat
    cf = CountyFields(gx0=gx0, gy0=gy0, spacing=sp, grids=grids)
    centre = np.zeros((n, 2))
    radius = np.array([math.sqrt(p.area_km2 * 1e6 / math.pi) for p in cps])
    reservoirs: list[Reservoir] = []
    ths: list[Thresholds] = []
    shares: list[dict[int, float]] = []
    for i, ((rows, cols, m), p) in enumerate(zip(samples, cps, strict=True)):
        xs, ys = grid.xs(cols), grid.ys(rows)
        t = terrain(grid, rows, cols, seed, cf)
        X, Y = np.meshgrid(xs, ys)
        geom = zones.geometry.iloc[i]
        c = geom.centroid
        near = m & (np.hypot(X - c.x, Y - c.y) < 0.5 * radius[i])
        if not near.any():
            near = m if m.any() else np.ones_like(m)
        score = np.where(near, t["u"] + t["slope_deg"] / 40.0 - 0.3 * t["valley"], np.inf)
        j = int(np.argmin(score))
        centre[i] = (X.flat[j], Y.flat[j])
        res_i = _place_reservoirs(i, p, t, X, Y, m, centre[i], seed)
        reservoirs += res_i
        zone = np.where(m, i, -1)
        sc = scores(t, xs, ys, _dist_rel(xs, ys, zone, centre, radius), seed, grid.res)
        resv = _reservoir_mask(res_i, xs, ys, zone)
        water = (t["river"] | resv)[m]
        tg = Targets(forest=p.forest, urban=p.urban, tea=p.tea, crop=p.crop)
        th = calibrate({k: v[m] for k, v in sc.items()}, water, tg, n_years)
        ths.append(th)
        codes = classify({k: v[m] for k, v in sc.items()}, (t["river"] & ~resv)[m], resv[m], th, 0)
        u, cnt = np.unique(codes, return_counts=True)
        shares.append({int(a): float(b) / max(codes.size, 1) for a, b in zip(u, cnt, strict=True)})
        progress((i + 1) / n)
    return Calibrated(cf=cf, th=Thresholds.stack(ths), centre=centre, radius=radius,
                      reservoirs=reservoirs, sample_shares=shares)


def _blocks(zones: gpd.GeoDataFrame, grid: Grid) -> list[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for minx, miny, maxx, maxy in zones.geometry.bounds.to_numpy():
        c0 = int((minx - grid.x0) // grid.res) // BLOCK
        c1 = int((maxx - grid.x0) // grid.res) // BLOCK
        r0 = int((grid.y1 - maxy) // grid.res) // BLOCK
        r1 = int((grid.y1 - miny) // grid.res) // BLOCK
        for br in range(max(r0, 0), r1 + 1):
            for bc in range(max(c0, 0), c1 + 1):
                found.add((br, bc))
    return sorted(found)


def _quantise(name: str, a: NDArray[np.float64]) -> NDArray[np.float32]:
    q = _QUANT.get(name, _QUANT_DEFAULT)
    return (np.round(a / q) * q).astype(np.float32)


def write_rasters(root: Path, zones: gpd.GeoDataFrame, grid: Grid, cal: Calibrated,
                  years: list[int], seed: int, progress: Callable[[float], None]
                  ) -> dict[tuple[str, int | None], str]:
    """Write every layer, block by block; returns {(layer, year|None): relative path}."""
    files: dict[tuple[str, int | None], str] = {}
    for name in STATIC:
        files[(name, None)] = f"rasters/{name}.tif"
    for y in years:
        for name in PER_YEAR:
            files[(name, y)] = f"rasters/{y}/{name}.tif"
    transform = from_origin(grid.x0, grid.y1, grid.res, grid.res)
    dsets = {}
    try:
        for key, rel in files.items():
            spec = LAYERS[key[0]]
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            dsets[key] = rasterio.open(
                root / rel, "w", driver="GTiff", width=grid.width, height=grid.height, count=1,
                dtype=spec.dtype, crs=STUDY_CRS, transform=transform, nodata=spec.nodata,
                tiled=True, blockxsize=TILE, blockysize=TILE, compress="deflate",
                predictor=2 if spec.dtype == "uint16" else 3, zlevel=6,
                sparse_ok=True, bigtiff="IF_SAFER",
            )
        geoms = list(zones.geometry)
        bounds = zones.geometry.bounds.to_numpy()
        blocks = _blocks(zones, grid)
        for bi, (br, bc) in enumerate(blocks):
            r0, c0 = br * BLOCK, bc * BLOCK
            h, w = min(BLOCK, grid.height - r0), min(BLOCK, grid.width - c0)
            if h <= 0 or w <= 0:
                continue
            rows = np.arange(r0, r0 + h, dtype=np.int64)
            cols = np.arange(c0, c0 + w, dtype=np.int64)
            xs, ys = grid.xs(cols), grid.ys(rows)
            bx0, bx1 = grid.x0 + c0 * grid.res, grid.x0 + (c0 + w) * grid.res
            by1, by0 = grid.y1 - r0 * grid.res, grid.y1 - (r0 + h) * grid.res
            shapes = [(geoms[i], i + 1) for i in range(len(geoms))
                      if bounds[i, 0] < bx1 and bounds[i, 2] > bx0
                      and bounds[i, 1] < by1 and bounds[i, 3] > by0]
            if not shapes:
                continue
            zone = rasterize(shapes, out_shape=(h, w), transform=from_origin(bx0, by1, grid.res,
                             grid.res), fill=0, dtype="int32").astype(np.int64) - 1
            inside = zone >= 0
            if not inside.any():
                continue
            _write_block(dsets, Window(c0, r0, w, h), rows, cols, xs, ys, zone, inside, grid,
                         cal, years, seed)
            progress((bi + 1) / len(blocks))
    finally:
        for d in dsets.values():
            d.close()
    return files


def _write_block(dsets: dict, win: Window, rows: NDArray[np.int64], cols: NDArray[np.int64],
                 xs: NDArray[np.float64], ys: NDArray[np.float64], zone: NDArray[np.int64],
                 inside: NDArray[np.bool_], grid: Grid, cal: Calibrated, years: list[int],
                 seed: int) -> None:
    t = terrain(grid, rows, cols, seed, cal.cf)
    sc = scores(t, xs, ys, _dist_rel(xs, ys, zone, cal.centre, cal.radius), seed, grid.res)
    resv = _reservoir_mask(cal.reservoirs, xs, ys, zone) & inside
    river = t["river"] & inside & ~resv
    thp = cal.th.broadcast(zone)
    lat = cal.cf.at("lat", xs, ys)
    p_base = cal.cf.at("precip_mm", xs, ys)
    e_mid = cal.cf.at("elev_mid_m", xs, ys)

    def put(name: str, year: int | None, a: NDArray) -> None:
        spec = LAYERS[name]
        if spec.dtype == "uint16":
            arr = np.where(inside, a, 0).astype(np.uint16)
        else:
            arr = np.where(inside, _quantise(name, a), np.float32(spec.nodata)).astype(np.float32)
        dsets[(name, year)].write(arr, 1, window=win)

    put("dem", None, t["dem"])
    code0 = None
    for yi, year in enumerate(years):
        code = classify(sc, river, resv, thp, yi)
        code[~inside] = 0
        if code0 is None:
            code0 = code
        put("ecosystem", year, code)
        for name, a in climate(t["dem"], lat, p_base, e_mid, code, xs, ys, seed, year,
                               grid.res).items():
            put(name, year, a)
    assert code0 is not None
    for name, a in soil(code0, t["u"], t["slope_deg"], t["karst"], xs, ys, seed,
                        grid.res).items():
        put(name, None, a)


def zones_frame(codes: list[str]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(WGS84, projected) county frames for the codes."""
    wgs = load_counties(codes)
    proj = wgs.to_crs(STUDY_CRS)
    proj["area_km2"] = proj.geometry.area / 1e6
    return wgs, proj


def build_sample(root: Path, params: dict, progress: Callable[[str, float], None] | None) -> None:
    """Write the whole sample study area into the (empty) folder ``root``."""
    with warnings.catch_warnings():
        # rasterio ≤ 1.4 multiplies Affine objects with `*` internally (not our code)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _build(root, params, progress)


def _build(root: Path, params: dict, progress: Callable[[str, float], None] | None) -> None:
    from liangshan.datasets import sample_tables as st
    from liangshan.datasets.sample_docs import write_manifest, write_readme

    # overall fraction of the work at the start and end of each stage
    spans = {"boundaries": (0.0, 0.02), "calibration": (0.02, 0.1), "rasters": (0.1, 0.97),
             "tables": (0.97, 1.0)}

    def report(stage: str) -> Callable[[float], None]:
        lo, hi = spans[stage]
        if progress is None:
            return lambda f: None
        return lambda f: progress(stage, lo + (hi - lo) * min(max(f, 0.0), 1.0))

    codes: list[str] = list(params["counties"])
    years: list[int] = list(params["years"])
    seed = int(params["seed"])
    res = float(params["resolution_m"])
    report("boundaries")(0.0)
    wgs, zones = zones_frame(codes)
    zones[["region_code", "name", "prefecture", "area_km2", "geometry"]].to_file(
        root / "zones.gpkg", layer="zones", driver="GPKG")
    cps = county_params(wgs, list(zones["area_km2"]))
    grid = _grid(zones, res)
    cal = calibrate_all(zones, cps, grid, seed, len(years), report("calibration"))
    files = write_rasters(root, zones, grid, cal, years, seed, report("rasters"))
    report("tables")(0.0)
    socio = st.socioeconomic(cps, years)
    tables = {
        "products": st.products(cps, cal.sample_shares, years, socio, seed),
        "water_use": st.water_use(cps, cal.sample_shares, years, socio, seed),
        "hydropower": st.hydropower(cps, years, seed),
        "emissions": st.emissions(cps, cal.sample_shares, years, socio, seed),
        "tourism": st.tourism(cps, years, socio, seed),
        "socioeconomic": socio,
        "reservoirs": st.reservoirs(cps, cal.reservoirs),
    }
    (root / "tables").mkdir()
    for name, df in tables.items():
        df.to_csv(root / "tables" / f"{name}.csv", index=False, encoding="utf-8",
                  lineterminator="\n")
    calib_rows = []
    for p, sh in zip(cps, cal.sample_shares, strict=True):
        for k, v in [("forest_share", p.forest), ("urban_share", p.urban), ("tea_share", p.tea),
                     ("crop_share", p.crop), ("elev_min_m", p.elev_min_m),
                     ("elev_max_m", p.elev_max_m), ("precip_mm", p.precip_mm)]:
            calib_rows.append({"region_code": p.region_code, "parameter": k,
                               "value": round(v, 4), "kind": "target"})
        for code, share in sorted(sh.items()):
            calib_rows.append({"region_code": p.region_code, "parameter": f"share_{code}",
                               "value": round(share, 4), "kind": "calibration sample"})
        for k, s in sorted(p.sources.items()):
            calib_rows.append({"region_code": p.region_code, "parameter": f"source:{k}",
                               "value": s, "kind": "provenance"})
    import pandas as pd

    pd.DataFrame(calib_rows).to_csv(root / "calibration.csv", index=False, lineterminator="\n")
    write_manifest(root, params, grid, files, list(tables))
    write_readme(root, params, zones, cps)
    report("tables")(1.0)
