"""Generators of small InVEST input sets shared by the InVEST-compatibility tests.

``make_invest_inputs(directory, n=..., seed=...)`` writes a deterministic synthetic
"karst county" on an ``n × n`` grid of 30 m pixels in EPSG:32648 (UTM 48N): DEM with a
doline (pit), LULC (codes 1–8 as in INVEST_NOTES §5.1) and an alternative LULC,
precipitation, ET0, root-restricting depth, PAWC, rainfall erosivity, soil erodibility,
threat rasters, a 2×2 grid of watershed polygons (``ws_id``) and a 4×4 grid of
subwatersheds (``subws_id``), and every model's tables. Paths come back in an
``InvestInputs`` mapping keyed by InVEST argument names where one exists.

Fixtures: ``invest_inputs`` (40×40, function scope) and ``invest_inputs_factory``
(call with n/seed/holes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

CELL = 30.0  # m
ORIGIN = (600_000.0, 2_950_000.0)  # upper-left, EPSG:32648
EPSG = 32648

# lucode, name, lulc_veg, root_depth mm, kc, carbon pools Mg/ha (above, below, soil, dead),
# usle_c, usle_p, load_n, load_p kg/ha/yr, eff_n, eff_p, crit_len_n, crit_len_p m,
# proportion_subsurface_n, habitat, sensitivity to urban/crop/road
LULC_CLASSES = [
    (1, "forest", 1, 5000, 1.00, 90, 25, 110, 8, 0.003, 1.0, 2.0, 0.10, 0.80, 0.75, 150, 140, 0.1, 1.0, (0.8, 0.6, 0.7)),  # noqa: E501
    (2, "shrub", 1, 2500, 0.85, 30, 12, 90, 4, 0.02, 1.0, 3.0, 0.20, 0.60, 0.55, 80, 70, 0.1, 0.8, (0.6, 0.5, 0.5)),  # noqa: E501
    (3, "grassland", 1, 1500, 0.75, 8, 10, 80, 2, 0.05, 1.0, 4.0, 0.30, 0.45, 0.40, 60, 50, 0.15, 0.6, (0.5, 0.4, 0.4)),  # noqa: E501
    (4, "cropland", 1, 1000, 0.90, 10, 4, 70, 1, 0.25, 0.6, 18.0, 1.20, 0.25, 0.20, 30, 25, 0.3, 0.0, (0.0, 0.0, 0.0)),  # noqa: E501
    (5, "wetland", 1, 2000, 1.10, 20, 8, 200, 5, 0.001, 1.0, 1.0, 0.05, 0.85, 0.80, 200, 180, 0.1, 0.9, (0.9, 0.7, 0.6)),  # noqa: E501
    (6, "water", 0, 1, 1.05, 0, 0, 0, 0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 10, 10, 0.0, 0.5, (0.7, 0.5, 0.5)),
    (7, "urban", 0, 1, 0.30, 5, 1, 30, 0, 0.01, 1.0, 9.0, 1.50, 0.05, 0.05, 10, 10, 0.0, 0.0, (0.0, 0.0, 0.0)),  # noqa: E501
    (8, "bare_karst", 0, 1, 0.20, 0, 0, 15, 0, 0.15, 1.0, 0.5, 0.10, 0.10, 0.10, 20, 20, 0.0, 0.2, (0.3, 0.2, 0.2)),  # noqa: E501
]  # fmt: skip

# name, max_dist m (InVEST 3.20 reads metres, habitat_quality.py _decay_distance [V]),
# weight, decay, lucodes that carry it
THREATS = [
    ("urban", 300.0, 1.0, "exponential", (7,)),
    ("crop", 150.0, 0.7, "linear", (4,)),
    ("road", 90.0, 0.5, "linear", ()),
]


class InvestInputs(dict):
    """Paths (as str, which natcap.invest requires) of one generated input set.

    Attribute access for convenience: ``inputs.lulc_path``.
    """

    def __setitem__(self, key: str, value: object) -> None:
        super().__setitem__(key, str(value) if isinstance(value, Path) else value)

    def __getattr__(self, key: str) -> str:
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal((n, n)), sigma=sigma, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-12)


def _write(path: Path, array: np.ndarray, nodata: float | None) -> Path:
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    with rasterio.open(
        path, "w", driver="GTiff", height=array.shape[0], width=array.shape[1], count=1,
        dtype=array.dtype, crs=CRS.from_epsg(EPSG),
        transform=Affine(CELL, 0.0, ORIGIN[0], 0.0, -CELL, ORIGIN[1]), nodata=nodata,
    ) as dst:
        dst.write(array, 1)
    return path


def _grid_polygons(path: Path, n: int, parts: int, field: str) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    step = n // parts
    geoms, ids = [], []
    for i in range(parts):
        for j in range(parts):
            r1 = n if i == parts - 1 else (i + 1) * step
            c1 = n if j == parts - 1 else (j + 1) * step
            geoms.append(box(
                ORIGIN[0] + j * step * CELL, ORIGIN[1] - r1 * CELL,
                ORIGIN[0] + c1 * CELL, ORIGIN[1] - i * step * CELL,
            ))
            ids.append(i * parts + j + 1)
    gpd.GeoDataFrame({field: ids}, geometry=geoms, crs=f"EPSG:{EPSG}").to_file(path)
    return path


def make_invest_inputs(
    directory: Path, n: int = 40, seed: int = 0, *, holes: bool = False
) -> InvestInputs:
    """Write a synthetic input set of ``n × n`` 30 m pixels into ``directory``.

    ``holes=True`` punches nodata into precipitation, depth and LULC so nodata rules are
    exercised. Units: DEM m, precipitation/ET0 mm/yr, depth mm, PAWC fraction,
    erosivity MJ·mm/(ha·h·yr), erodibility t·ha·h/(ha·MJ·mm).
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    relief = _smooth_noise(rng, n, max(n / 10, 1.5))
    dem = 1200.0 + 2.5 * (n - yy) + 1.5 * (n - xx) + 40.0 * relief
    # a doline (closed depression) so pit filling is exercised
    cy, cx = n // 3, n // 2
    dem -= 25.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (n / 15) ** 2))
    dem = dem.astype(np.float32)

    slope_proxy = np.hypot(*np.gradient(dem.astype(np.float64), CELL))
    wet = _smooth_noise(rng, n, max(n / 12, 1.2))
    lulc = np.full((n, n), 1, dtype=np.uint8)
    q = np.quantile(wet, [0.2, 0.4, 0.5, 0.75, 0.8, 0.85, 0.9])
    lulc[wet < q[0]] = 2
    lulc[(wet >= q[1]) & (wet < q[2])] = 3
    lulc[(wet >= q[3]) & (slope_proxy < np.median(slope_proxy))] = 4
    lulc[(wet >= q[4]) & (wet < q[5])] = 5
    lulc[(wet >= q[5]) & (wet < q[6])] = 6
    lulc[wet >= q[6]] = 7
    lulc[(slope_proxy > np.quantile(slope_proxy, 0.93)) & (lulc != 6)] = 8
    lulc_alt = lulc.copy()
    lulc_alt[(lulc == 4) & (slope_proxy > np.quantile(slope_proxy, 0.3))] = 1
    lulc_alt[(lulc == 8) & (rng.random((n, n)) < 0.5)] = 2

    precip = (1000 + 0.45 * (dem - 1100) + 40 * _smooth_noise(rng, n, 3)).astype(np.float32)
    et0 = (1150 - 0.22 * (dem - 1100) + 30 * _smooth_noise(rng, n, 3)).astype(np.float32)
    depth = np.clip(1500 - 30 * slope_proxy * 100 / 50 + 300 * relief, 80, 2000).astype(np.float32)
    depth[lulc == 8] = np.minimum(depth[lulc == 8], 150)
    pawc = np.clip(0.16 + 0.06 * _smooth_noise(rng, n, 2), 0.02, 0.30).astype(np.float32)
    erosivity = (2800 + 2.2 * (precip - 1000)).astype(np.float32)
    erodibility = np.clip(0.033 + 0.005 * _smooth_noise(rng, n, 2), 0.022, 0.044).astype(
        np.float32
    )

    if holes:
        precip[: n // 8, : n // 8] = -9999.0
        depth[n // 2 : n // 2 + 3, :4] = -9999.0
        lulc[-3:, -5:] = 255
        lulc_alt[-3:, -5:] = 255
        precip[n // 2, n // 2] = 0.0  # P = 0 is invalid in water yield

    p = InvestInputs()
    p["dem_path"] = _write(directory / "dem.tif", dem, -9999.0)
    p["lulc_path"] = _write(directory / "lulc.tif", lulc, 255)
    p["lulc_alt_path"] = _write(directory / "lulc_alt.tif", lulc_alt, 255)
    p["precipitation_path"] = _write(directory / "precip.tif", precip, -9999.0)
    p["eto_path"] = _write(directory / "et0.tif", et0, -9999.0)
    p["depth_to_root_rest_layer_path"] = _write(directory / "depth.tif", depth, -9999.0)
    p["pawc_path"] = _write(directory / "pawc.tif", pawc, -1.0)
    p["erosivity_path"] = _write(directory / "erosivity.tif", erosivity, -1.0)
    p["erodibility_path"] = _write(directory / "erodibility.tif", erodibility, -1.0)
    p["runoff_proxy_path"] = p["precipitation_path"]
    p["watersheds_path"] = _grid_polygons(directory / "watersheds.gpkg", n, 2, "ws_id")
    p["sub_watersheds_path"] = _grid_polygons(directory / "subwatersheds.gpkg", n, 4, "subws_id")

    rows = LULC_CLASSES
    (directory / "awy_biophysical.csv").write_text(
        "LUCODE,Description,LULC_veg,root_depth,Kc\n"
        + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows)
    )
    p["biophysical_table_path"] = directory / "awy_biophysical.csv"
    (directory / "carbon_pools.csv").write_text(
        "lucode,LULC_Name,C_above,C_below,C_soil,C_dead\n"
        + "".join(f"{r[0]},{r[1]},{r[5]},{r[6]},{r[7]},{r[8]}\n" for r in rows)
    )
    p["carbon_pools_path"] = directory / "carbon_pools.csv"
    (directory / "sdr_biophysical.csv").write_text(
        "lucode,description,usle_c,usle_p\n"
        + "".join(f"{r[0]},{r[1]},{r[9]},{r[10]}\n" for r in rows)
    )
    p["sdr_biophysical_table_path"] = directory / "sdr_biophysical.csv"
    (directory / "ndr_biophysical.csv").write_text(
        "lucode,description,load_n,load_p,eff_n,eff_p,crit_len_n,crit_len_p,"
        "proportion_subsurface_n,load_type_n,load_type_p\n"
        + "".join(
            f"{r[0]},{r[1]},{r[11]},{r[12]},{r[13]},{r[14]},{r[15]},{r[16]},{r[17]},"
            "measured-runoff,measured-runoff\n"
            for r in rows
        )
    )
    p["ndr_biophysical_table_path"] = directory / "ndr_biophysical.csv"

    # Habitat quality: threat rasters are presence (1) / absence (0).
    road = np.zeros((n, n), dtype=np.uint8)
    road[n // 4, :] = 1
    road[:, (2 * n) // 3] = 1
    threat_lines = ["threat,max_dist,weight,decay,cur_path,fut_path,base_path\n"]
    for name, max_m, weight, decay, codes in THREATS:
        arr = road if name == "road" else np.isin(lulc, codes).astype(np.uint8)
        arr_fut = road if name == "road" else np.isin(lulc_alt, codes).astype(np.uint8)
        path = _write(directory / f"threat_{name}.tif", arr, 255)
        # InVEST requires distinct files per scenario; the future threats follow lulc_alt
        path_fut = _write(directory / f"threat_{name}_fut.tif", arr_fut, 255)
        p[f"threat_{name}"] = path
        p[f"threat_{name}_fut"] = path_fut
        threat_lines.append(  # base_path left blank: no baseline degradation
            f"{name},{max_m},{weight},{decay},{path.name},{path_fut.name},\n")
    (directory / "threats.csv").write_text("".join(threat_lines))
    p["threats_table_path"] = directory / "threats.csv"
    (directory / "sensitivity.csv").write_text(
        "lucode,name,habitat," + ",".join(t[0] for t in THREATS) + "\n"
        + "".join(f"{r[0]},{r[1]},{r[18]},{r[19][0]},{r[19][1]},{r[19][2]}\n" for r in rows)
    )
    p["sensitivity_table_path"] = directory / "sensitivity.csv"
    return p


@pytest.fixture
def invest_inputs(tmp_path: Path) -> InvestInputs:
    """A 40×40 input set in a fresh directory."""
    return make_invest_inputs(tmp_path / "inputs", n=40, seed=0)


@pytest.fixture
def invest_inputs_factory(tmp_path: Path) -> Callable[..., InvestInputs]:
    """Call with (n=..., seed=..., holes=...) to get a fresh input set."""
    counter = iter(range(1_000_000))

    def factory(n: int = 40, seed: int = 0, *, holes: bool = False) -> InvestInputs:
        return make_invest_inputs(tmp_path / f"inputs{next(counter)}", n=n, seed=seed, holes=holes)

    return factory


def read_band(path: str) -> tuple[np.ndarray, float | None]:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.nodata


def compare_rasters(ours: str, theirs: str) -> dict[str, float]:
    """Parity figures of two rasters on one grid: valid-mask agreement and relative errors."""
    a, na = read_band(ours)
    b, nb = read_band(theirs)
    assert a.shape == b.shape, f"{ours}: shape {a.shape} vs InVEST {b.shape}"
    va = ~np.isclose(a, na) if na is not None else np.ones(a.shape, bool)
    vb = ~np.isclose(b, nb) if nb is not None else np.ones(b.shape, bool)
    both = va & vb
    rel = np.abs(a[both].astype(np.float64) - b[both]) / np.maximum(np.abs(b[both]), 1e-9)
    return {
        "valid_mismatch": int((va != vb).sum()),
        "n_valid": int(vb.sum()),
        "frac_within_1pct": float((rel <= 0.01).mean()) if rel.size else 1.0,
        "max_rel": float(rel.max()) if rel.size else 0.0,
        "sum_ours": float(a[va].sum(dtype=np.float64)),
        "sum_invest": float(b[vb].sum(dtype=np.float64)),
    }


def assert_parity(ours: str, theirs: str, *, total_rtol: float = 0.005) -> dict[str, float]:
    """The team's parity rule: same valid pixels, ≥ 99 % of them within 1 %, totals within 0.5 %."""
    r = compare_rasters(ours, theirs)
    assert r["n_valid"] > 0, f"{theirs} has no valid pixels: the comparison would be empty"
    assert r["valid_mismatch"] == 0, f"{ours}: valid masks differ on {r['valid_mismatch']} px"
    assert r["frac_within_1pct"] >= 0.99, f"{ours}: only {r['frac_within_1pct']:.4f} within 1 %"
    assert r["sum_ours"] == pytest.approx(r["sum_invest"], rel=total_rtol), ours
    return r
