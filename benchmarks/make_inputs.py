"""Generate the synthetic "karst county" benchmark input set (INVEST_NOTES §5.1).

Usage: python benchmarks/make_inputs.py OUT_DIR [--size 3000] [--seed 42]

Deterministic (seed 42) inputs on an N × N grid of 30 m pixels in EPSG:32648 (UTM 48N),
upper-left corner (600000, 2950000), tiled 256×256 DEFLATE GeoTIFFs:

* DEM (float32, nodata −9999, m): spectral-synthesis fractal (P(k) ∝ k^−3.8, flat beyond
  25 km), a 25 % south-east regional tilt, a 3 km "fengcong" hill field (±350 m) and
  ~1.5 karst dolines/km² (Gaussian depressions 5–40 m deep), rescaled to 600–2000 m.
* LULC / LULC_alt (uint8, nodata 255): 1 forest, 2 shrub, 3 grass, 4 crop, 5 wetland,
  6 water, 7 urban, 8 bare karst, by quantile rules on slope, elevation, relief and noise;
  the alternative is "Grain for Green" (crop on slopes > 10° → forest, half the bare rock →
  shrub).
* precipitation, ET0 (mm/yr), root-restricting depth (mm), PAWC (fraction), erosivity R
  (MJ·mm/(ha·h·yr)), erodibility K (t·ha·h/(ha·MJ·mm)), threat rasters (0/1).
* watersheds (``ws_id``, 2×2 grid) and subwatersheds (``subws_id``, 4×4 grid), pixel aligned.
* tables for AWY, carbon, SDR, NDR (N and P retention values differ, avoiding the
  InVEST parallel-mode crash of §5.5) and HQ (threat max_dist in metres).

This reimplements the published description, not the original script, so the anchor
numbers of INVEST_NOTES §5.6 are not reproduced exactly; both engines read the same files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

CELL = 30.0
ORIGIN = (600_000.0, 2_950_000.0)
EPSG = 32648

LULC_TABLE = [
    # lucode, name, veg, root mm, kc, c_above, c_below, c_soil, c_dead, usle_c, usle_p,
    # load_n, load_p, eff_n, eff_p, crit_len_n, crit_len_p, prop_sub_n, habitat, sens u/c/r
    (1, "forest", 1, 5000, 1.00, 90, 25, 110, 8, 0.003, 1.0, 2.0, 0.10, 0.80, 0.75, 150, 140,
     0.1, 1.0, (0.8, 0.6, 0.7)),
    (2, "shrub", 1, 2500, 0.85, 30, 12, 90, 4, 0.02, 1.0, 3.0, 0.20, 0.60, 0.55, 80, 70,
     0.1, 0.8, (0.6, 0.5, 0.5)),
    (3, "grassland", 1, 1500, 0.75, 8, 10, 80, 2, 0.05, 1.0, 4.0, 0.30, 0.45, 0.40, 60, 50,
     0.15, 0.6, (0.5, 0.4, 0.4)),
    (4, "cropland", 1, 1000, 0.90, 10, 4, 70, 1, 0.25, 0.6, 18.0, 1.20, 0.25, 0.20, 30, 25,
     0.3, 0.0, (0.0, 0.0, 0.0)),
    (5, "wetland", 1, 2000, 1.10, 20, 8, 200, 5, 0.001, 1.0, 1.0, 0.05, 0.85, 0.80, 200, 180,
     0.1, 0.9, (0.9, 0.7, 0.6)),
    (6, "water", 0, 1, 1.05, 0, 0, 0, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 10, 10,
     0.0, 0.5, (0.7, 0.5, 0.5)),
    (7, "urban", 0, 1, 0.30, 5, 1, 30, 0, 0.01, 1.0, 9.0, 1.50, 0.05, 0.04, 10, 10,
     0.0, 0.0, (0.0, 0.0, 0.0)),
    (8, "bare_karst", 0, 1, 0.20, 0, 0, 15, 0, 0.15, 1.0, 0.5, 0.10, 0.10, 0.09, 20, 20,
     0.0, 0.2, (0.3, 0.2, 0.2)),
]
THREATS = [("urban", 1000.0, 1.0, "exponential"), ("crop", 500.0, 0.7, "linear"),
           ("road", 300.0, 0.5, "linear")]


def _norm(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / (a.std() + 1e-12)


def _smooth(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return _norm(ndimage.gaussian_filter(rng.standard_normal((n, n)), sigma, mode="reflect"))


def make_dem(n: int, rng: np.random.Generator) -> np.ndarray:
    """DEM in metres (float64), 600–2000 m."""
    ky = np.fft.fftfreq(n, d=CELL)[:, None]
    kx = np.fft.rfftfreq(n, d=CELL)[None, :]
    k = np.hypot(kx, ky)
    k = np.maximum(k, 1.0 / 25_000.0)  # flatten the spectrum beyond 25 km
    amp = k ** (-3.8 / 2)
    amp[0, 0] = 0.0
    fractal = _norm(np.fft.irfft2(np.fft.rfft2(rng.standard_normal((n, n))) * amp, s=(n, n)))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    tilt = -(xx + yy) / (2 * n)  # down towards the south-east
    hills = ndimage.gaussian_filter(rng.standard_normal((n, n)), 3000 / CELL / 4, mode="wrap")
    hills = 350 * hills / (np.abs(hills).max() + 1e-12)
    z = 300 * fractal + hills
    z += 0.25 * (z.max() - z.min()) * _norm(tilt)
    # karst dolines: ~1.5 per km², Gaussian, 5–40 m deep, radius 1–3 px
    n_dol = round(1.5 * (n * CELL / 1000) ** 2)
    rows = rng.integers(4, n - 4, n_dol)
    cols = rng.integers(4, n - 4, n_dol)
    depth = rng.uniform(5, 40, n_dol)
    sig = rng.uniform(1.0, 3.0, n_dol)
    for r, c, d, s in zip(rows, cols, depth, sig, strict=True):
        h = int(np.ceil(3 * s))
        r0, r1, c0, c1 = max(r - h, 0), min(r + h + 1, n), max(c - h, 0), min(c + h + 1, n)
        gy, gx = np.mgrid[r0:r1, c0:c1]
        z[r0:r1, c0:c1] -= d * np.exp(-((gy - r) ** 2 + (gx - c) ** 2) / (2 * s * s))
    return 600 + (z - z.min()) / (z.max() - z.min()) * 1400


def make_lulc(dem: np.ndarray, slope_deg: np.ndarray, rng: np.random.Generator):
    n = dem.shape[0]
    relief = dem - ndimage.uniform_filter(dem, 15)
    smooth_slope = ndimage.uniform_filter(slope_deg, 5)
    noise1 = _smooth(rng, n, 8)
    noise2 = _smooth(rng, n, 20)
    lulc = np.zeros(dem.shape, dtype=np.uint8)

    def assign(code: int, score: np.ndarray, fraction: float) -> None:
        free = lulc == 0
        k = int(fraction * lulc.size)
        if k == 0:
            return
        s = np.where(free, score, np.inf)
        idx = np.argpartition(s.ravel(), k)[:k]
        lulc.ravel()[idx] = code

    assign(6, _norm(relief) + 0.5 * _norm(smooth_slope) + 0.2 * noise1, 0.015)
    assign(5, _norm(relief) + 0.6 * _norm(smooth_slope) + 0.5 * noise2, 0.01)
    assign(7, _norm(smooth_slope) + 0.5 * _norm(dem) - 1.2 * noise2, 0.03)
    assign(8, -_norm(smooth_slope) - 0.6 * noise1, 0.065)
    assign(4, _norm(smooth_slope) + 0.3 * _norm(dem) - 0.6 * noise1, 0.22)
    assign(3, -_norm(dem) + 0.7 * noise2, 0.08)
    assign(2, -0.5 * _norm(smooth_slope) + noise1 - 0.5 * noise2, 0.21)
    lulc[lulc == 0] = 1
    alt = lulc.copy()
    alt[(lulc == 4) & (slope_deg > 10)] = 1
    alt[(lulc == 8) & (rng.random(lulc.shape) < 0.5)] = 2
    return lulc, alt


def _write(path: Path, array: np.ndarray, nodata) -> None:
    import rasterio
    from affine import Affine

    tiled = min(array.shape) >= 256
    opts = dict(tiled=True, blockxsize=256, blockysize=256) if tiled else {}
    with rasterio.open(
        path, "w", driver="GTiff", height=array.shape[0], width=array.shape[1], count=1,
        dtype=array.dtype, crs=f"EPSG:{EPSG}", nodata=nodata, compress="deflate",
        transform=Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1]), **opts,
    ) as dst:
        dst.write(array, 1)


def _grid_vector(path: Path, n: int, parts: int, field: str) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    edges = [round(i * n / parts) for i in range(parts + 1)]
    geoms, ids = [], []
    for i in range(parts):
        for j in range(parts):
            geoms.append(box(ORIGIN[0] + edges[j] * CELL, ORIGIN[1] - edges[i + 1] * CELL,
                             ORIGIN[0] + edges[j + 1] * CELL, ORIGIN[1] - edges[i] * CELL))
            ids.append(i * parts + j + 1)
    gpd.GeoDataFrame({field: ids}, geometry=geoms, crs=f"EPSG:{EPSG}").to_file(path)


def generate(out: Path, n: int = 3000, seed: int = 42) -> dict[str, str]:
    """Write the input set into ``out`` and return a name → path mapping (also paths.json)."""
    from rasterio.features import rasterize
    from shapely.geometry import LineString

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dem = make_dem(n, rng)
    gy, gx = np.gradient(dem, CELL)
    slope_deg = np.degrees(np.arctan(np.hypot(gx, gy)))
    lulc, alt = make_lulc(dem, slope_deg, rng)
    z = dem - 600
    precip = 1000 + 0.45 * z + 25 * _smooth(rng, n, 30)
    et0 = 1150 - 0.22 * z + 20 * _smooth(rng, n, 30)
    depth = np.clip(2000 * np.exp(-slope_deg / 18) * (1 + 0.2 * _smooth(rng, n, 6)), 80, 2000)
    depth[lulc == 8] = np.minimum(depth[lulc == 8], 150)
    depth[lulc == 7] = 300
    pawc = np.clip(0.16 + 0.05 * _smooth(rng, n, 10), 0.02, 0.30)
    erosivity = 2800 + 2.2 * (precip - 1000)
    erodibility = np.clip(0.033 + 0.004 * _smooth(rng, n, 12), 0.022, 0.044)

    p: dict[str, str] = {}

    def put(name: str, array: np.ndarray, nodata) -> None:
        _write(out / f"{name}.tif", array, nodata)
        p[name] = str(out / f"{name}.tif")

    put("dem", dem.astype(np.float32), -9999.0)
    put("lulc", lulc, 255)
    put("lulc_alt", alt, 255)
    put("precip", precip.astype(np.float32), -9999.0)
    put("et0", et0.astype(np.float32), -9999.0)
    put("depth", depth.astype(np.float32), -9999.0)
    put("pawc", pawc.astype(np.float32), -1.0)
    put("erosivity", erosivity.astype(np.float32), -1.0)
    put("erodibility", erodibility.astype(np.float32), -1.0)
    put("threat_urban", (lulc == 7).astype(np.uint8), 255)
    put("threat_crop", (lulc == 4).astype(np.uint8), 255)
    n_roads = max(2, n // 150)
    lines = []
    for _ in range(n_roads):
        pts = np.cumsum(rng.normal(0, n / 12, (8, 2)), axis=0) + rng.uniform(0, n, 2)
        lines.append(LineString([(ORIGIN[0] + c * CELL, ORIGIN[1] - r * CELL) for r, c in pts]))
    from affine import Affine

    roads = rasterize([(g, 1) for g in lines], out_shape=(n, n), fill=0, all_touched=True,
                      transform=Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1]), dtype="uint8")
    put("threat_road", roads, 255)
    _grid_vector(out / "watersheds.gpkg", n, 2, "ws_id")
    _grid_vector(out / "subwatersheds.gpkg", n, 4, "subws_id")
    p["watersheds"] = str(out / "watersheds.gpkg")
    p["subwatersheds"] = str(out / "subwatersheds.gpkg")

    rows = LULC_TABLE
    tables = {
        "awy_biophysical.csv": "lucode,description,lulc_veg,root_depth,kc\n" + "".join(
            f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows),
        "carbon_pools.csv": "lucode,lulc_name,c_above,c_below,c_soil,c_dead\n" + "".join(
            f"{r[0]},{r[1]},{r[5]},{r[6]},{r[7]},{r[8]}\n" for r in rows),
        "sdr_biophysical.csv": "lucode,description,usle_c,usle_p\n" + "".join(
            f"{r[0]},{r[1]},{r[9]},{r[10]}\n" for r in rows),
        "ndr_biophysical.csv": (
            "lucode,description,load_n,load_p,eff_n,eff_p,crit_len_n,crit_len_p,"
            "proportion_subsurface_n,load_type_n,load_type_p\n" + "".join(
                f"{r[0]},{r[1]},{r[11]},{r[12]},{r[13]},{r[14]},{r[15]},{r[16]},{r[17]},"
                "measured-runoff,measured-runoff\n" for r in rows)),
        "hq_threats.csv": "threat,max_dist,weight,decay,cur_path\n" + "".join(
            f"{t},{d},{w},{k},threat_{t}.tif\n" for t, d, w, k in THREATS),
        "hq_sensitivity.csv": "lucode,name,habitat,urban,crop,road\n" + "".join(
            f"{r[0]},{r[1]},{r[18]},{r[19][0]},{r[19][1]},{r[19][2]}\n" for r in rows),
    }
    for name, text in tables.items():
        (out / name).write_text(text)
        p[name.removesuffix(".csv")] = str(out / name)
    (out / "paths.json").write_text(json.dumps(p, indent=1))
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    generate(a.out, a.size, a.seed)
    print(f"wrote {a.size}x{a.size} inputs to {a.out}")


if __name__ == "__main__":
    main()
