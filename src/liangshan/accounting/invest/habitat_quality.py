"""InVEST 3.20.2-compatible Habitat Quality (degradation, quality, rarity).

Method [V] (natcap.invest 3.20.2 ``habitat_quality.py``, INVEST_NOTES §3.5; distance decay
since 3.13, ADR-0003)::

    d_r   = Euclidean distance (pixels) to the nearest pixel where threat r ≠ 0 and ≠ nodata
    dmax  = max_dist_r [m] / pixel size [m]
    i_r   = (dmax − d)/dmax (linear) or exp(−2.99·d/dmax) (exponential); 0 where d > dmax
    D_x   = Σ_r i_r · S_{j,r} · (w_r / Σ_r w_r) · β_x          (β = access, 1 without a vector)
    Q_x   = H_j · (1 − D^2.5 / (D^2.5 + k^2.5))
    rarity_j = 1 − N_x,j·a_x / (N_b,j·a_b + N_x,j·a_x)  (0 for classes absent from the baseline)

Threat rasters must hold values within [0, 1]; only presence (≠ 0) matters. Everything is
float32 as in InVEST. Outputs (``results_suffix`` appended): ``deg_sum_c.tif``,
``quality_c.tif`` (float32, nodata float32 max) and with ``lulc_fut_path`` the ``_f``
versions; with ``lulc_bas_path``: ``new_cover_{c,f}.tif``, ``rarity_{c,f}.tif`` (nodata
float32 min) and ``rarity_{c,f}.csv``. InVEST's per-threat intermediates are not written.
Like InVEST, no degradation is computed for the baseline scenario.

Memory: the LULC codes and one float32 degradation sum stay whole (the distance transform
needs every row); per threat, the exact EDT (Felzenszwalb–Huttenlocher) keeps only its
column distances (int16 when max_dist allows) and adds the decay to the sum while it
computes each row, so no distance or sensitivity raster is built; quality is computed and
written strip by strip (``stream.run_strips``). Threat rasters are read one at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.accounting.invest import check_args, stream
from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

OUT_NODATA = float(np.finfo(np.float32).min)  # reclassified habitat/sensitivity, rarity
MAP_NODATA = float(np.finfo(np.float32).max)  # raster_map default for float32 [V]
SCALING_PARAM = 2.5
_SCENARIO_COLUMN = {"cur": "cur_path", "fut": "fut_path", "bas": "base_path"}

__all__ = ["decay", "execute", "quality", "threat_distance"]


@numba.njit(parallel=True, cache=True, nogil=True)
def _column_distances(present, cap, g):
    """Pass 1 of Felzenszwalb–Huttenlocher: per column, the vertical distance (pixels) to
    the nearest True pixel, capped at ``cap``, into ``g``. Rows are swept in order
    (contiguous memory) by chunks of columns in parallel."""
    rows, cols = present.shape
    big = cap
    nchunks = 64
    step = (cols + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        c0 = c * step
        c1 = min(c0 + step, cols)
        for j in range(c0, c1):
            g[0, j] = 0 if present[0, j] else big
        for i in range(1, rows):
            for j in range(c0, c1):
                g[i, j] = 0 if present[i, j] else min(g[i - 1, j] + 1, big)
        for i in range(rows - 2, -1, -1):
            for j in range(c0, c1):
                if g[i + 1, j] + 1 < g[i, j]:
                    g[i, j] = g[i + 1, j] + 1


@numba.njit(inline="always")
def _envelope(f2, far2, v, z):
    """Pass 2 set-up for one row: lower envelope of the parabolas (x − q)² + f2[q] over the
    columns with f2[q] < far2 (the others cannot be nearest within the cap). Returns the
    number of parabolas kept (0 when none)."""
    cols = f2.size
    k = -1
    for q in range(cols):
        if f2[q] >= far2:
            continue
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        while True:
            p = v[k]
            s = ((f2[q] + q * q) - (f2[p] + p * p)) / (2.0 * (q - p))
            if s <= z[k]:
                k -= 1  # z[0] = −inf, so k never drops below 0
                continue
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
            break
    return k + 1


@numba.njit(parallel=True, cache=True, nogil=True)
def _edt_pixels(present: np.ndarray, far: float) -> np.ndarray:
    """Exact Euclidean distance (pixels, float32) to the nearest True pixel
    (Felzenszwalb–Huttenlocher; equal to scipy's ``distance_transform_edt``)."""
    rows, cols = present.shape
    g = np.empty((rows, cols), dtype=np.int32)
    _column_distances(present, np.int32(far), g)
    out = np.empty((rows, cols), dtype=np.float32)
    for i in numba.prange(rows):
        f2 = np.empty(cols, dtype=np.int64)
        for q in range(cols):
            f2[q] = np.int64(g[i, q]) * np.int64(g[i, q])
        v = np.empty(cols, dtype=np.int64)
        z = np.empty(cols + 1, dtype=np.float64)
        _envelope(f2, np.int64(2) ** 62, v, z)
        k = 0
        for q in range(cols):
            while z[k + 1] < q:
                k += 1
            d = q - v[k]
            out[i, q] = np.float32(np.sqrt(np.float64(d * d + f2[v[k]])))
    return out


def threat_distance(threat: np.ndarray, nodata: float | None) -> np.ndarray:
    """Distance (pixels, float32) from each pixel to the nearest threat pixel.

    Threat pixels are those ≠ 0 and ≠ nodata (pygeoprocessing ``distance_transform_edt``).
    With no threat pixel at all, every distance is rows + cols, pygeoprocessing's 'infinity'.
    """
    present = (threat != 0) & ~iio.nodata_mask(threat, nodata)
    if not present.any():
        return np.full(threat.shape, float(sum(threat.shape)), dtype=np.float32)
    return _edt_pixels(present, float(4 * sum(threat.shape)))


@numba.njit(inline="always")
def _impact(d, maxd, exponential):
    """i_r(d) in float32, InVEST's operation order; 0 beyond max_dist."""
    if d > maxd:
        return np.float32(0.0)
    if exponential:
        return np.float32(np.exp((-d * np.float32(2.99)) / maxd))
    return (maxd - d) / maxd


@numba.njit(parallel=True, cache=True, nogil=True)
def _degrade(g, cap, none_present, codes, c_nd, c_has, lo, sens, maxd, exponential,
             weight, access, has_access, deg_sum):
    """deg_sum += i_r(d) · S_j,r · w_r/Σw · β for one threat (float32, InVEST's order).

    ``g`` holds pass 1's column distances capped at ``cap`` > max_dist (pixels,
    :func:`_column_distances`); pass 2 builds each row's envelope from the columns below
    the cap only and applies the decay at once, so no distance raster is materialised.
    Exact: a pixel within max_dist of a threat has its nearest threat's column below the
    cap, and every other pixel gets 0 either way. With no threat pixel every distance is
    rows + cols (pygeoprocessing's 'infinity'). LULC nodata pixels are skipped (they
    become nodata in the outputs)."""
    rows, cols = deg_sum.shape
    inf_d = np.float32(rows + cols)
    far2 = np.int64(cap) * np.int64(cap)
    # distances² beyond this give d > max_dist in float32 too: skip sqrt and decay
    skip2 = (np.float64(maxd) + 1.0) ** 2
    for i in numba.prange(rows):
        f2 = np.empty(cols, dtype=np.int64)
        v = np.empty(cols, dtype=np.int64)
        z = np.empty(cols + 1, dtype=np.float64)
        n = 0
        if not none_present:
            for q in range(cols):
                f2[q] = np.int64(g[i, q]) * np.int64(g[i, q])
            n = _envelope(f2, far2, v, z)
            if n == 0:
                continue  # no threat within the cap of this row: nothing to add
        k = 0
        for q in range(cols):
            c = codes[i, q]
            if c_has and c == c_nd:
                continue
            if none_present:
                d = inf_d
            else:
                while z[k + 1] < q:
                    k += 1
                dq = q - v[k]
                d2 = dq * dq + f2[v[k]]
                if d2 > skip2:
                    continue
                d = np.float32(np.sqrt(np.float64(d2)))
            imp = _impact(d, maxd, exponential)
            val = imp * sens[np.int64(c) - lo] * weight
            if has_access:
                val = val * access[i, q]
            deg_sum[i, q] += val


@numba.njit(parallel=True, cache=True, nogil=True)
def _threat_presence(threat, nd, has_nd, present):
    """present = threat ≠ 0 and ≠ nodata; returns (min, max, any) of the valid values."""
    lo = np.inf
    hi = -np.inf
    n = 0
    flat_t = threat.ravel()
    flat_p = present.ravel()
    tol = 1e-8 + 1e-5 * abs(nd)
    for i in numba.prange(flat_t.size):
        x = np.float64(flat_t[i])
        if (has_nd and abs(x - nd) <= tol) or x != x:
            flat_p[i] = False
            continue
        lo = min(lo, x)
        hi = max(hi, x)
        flat_p[i] = x != 0
        n += 1 if x != 0 else 0
    return lo, hi, n


@numba.njit(parallel=True, cache=True, nogil=True)
def _check_codes(codes, c_nd, c_has, lo, known):
    """Number of valid codes without a table row."""
    missing = 0
    flat = codes.ravel()
    for i in numba.prange(flat.size):
        c = flat[i]
        if c_has and c == c_nd:
            continue
        k = np.int64(c) - lo
        if k < 0 or k >= known.size or not known[k]:
            missing += 1
    return missing


@numba.njit(parallel=True, cache=True, nogil=True)
def _quality_kernel(deg_sum, codes, c_nd, c_has, lo, habitat, ksq, out_nodata, deg_out, q):
    """Q = H·(1 − D^z/(D^z + k^z)) in float32; LULC nodata → nodata in both outputs."""
    for i in numba.prange(deg_sum.size):
        c = codes[i]
        if c_has and c == c_nd:
            deg_out[i] = out_nodata
            q[i] = out_nodata
            continue
        d = deg_sum[i]
        deg_out[i] = d
        dz = d ** np.float32(SCALING_PARAM)
        q[i] = habitat[np.int64(c) - lo] * (np.float32(1.0) - dz / (dz + ksq))


def decay(dist: np.ndarray, max_dist_pixels: float, kind: str) -> np.ndarray:
    """Threat impact i_r in [0, 1] (float32) from a distance in pixels."""
    d = dist.astype(np.float32, copy=False)
    m = np.float32(max_dist_pixels)
    if kind == "linear":
        out = (m - d) / m
    elif kind == "exponential":
        out = np.exp((-d * np.float32(2.99)) / m)
    else:
        raise InvalidInput(f"threat decay {kind!r} must be 'linear' or 'exponential'")
    out[d > m] = 0
    return out.astype(np.float32, copy=False)


def quality(degradation: np.ndarray, habitat: np.ndarray, k: float) -> np.ndarray:
    """Habitat quality H·(1 − D^z/(D^z + k^z)), z = 2.5 (dimensionless, float32)."""
    ksq = k**SCALING_PARAM
    dz = degradation**SCALING_PARAM
    return habitat * (1 - dz / (dz + ksq))


def _read_threats(path: str, scenarios: list[str]) -> pd.DataFrame:
    need = ["max_dist", "weight", "decay", *[_SCENARIO_COLUMN[s] for s in scenarios
                                             if s != "bas"]]
    table = iio.read_table(path, "threat", need, label="threats_table_path")
    if "bas" in scenarios and "base_path" not in table.columns:
        raise InvalidInput(
            f"threats_table_path ({path}) lacks the column 'base_path'",
            hint="with lulc_bas_path, add base_path (it may be left blank per threat)")
    table.index = [str(t).strip().lower() for t in table.index]
    table["decay"] = table["decay"].astype(str).str.strip().str.lower()
    bad = table.index[(table["max_dist"] <= 0)].tolist()
    if bad:
        raise InvalidInput(f"threats_table_path: max_dist must be > 0 (metres) for {bad}")
    base = Path(path).parent
    for col in _SCENARIO_COLUMN.values():
        if col in table.columns:
            table[col] = [None if (v is None or (isinstance(v, float) and np.isnan(v))
                                   or str(v).strip() == "")
                          else str((base / str(v).strip()).resolve()
                                   if not Path(str(v).strip()).is_absolute()
                                   else Path(str(v).strip())) for v in table[col]]
    return table


def _rarity(base: iio.Raster, cover: iio.Raster) -> tuple[np.ndarray, dict[int, float], Any]:
    ok = ~iio.nodata_mask(base.array, base.nodata) & ~iio.nodata_mask(cover.array, cover.nodata)
    dtype = np.result_type(base.array.dtype, cover.array.dtype)
    new_nd = (float(np.finfo(dtype).max) if np.issubdtype(dtype, np.floating)
              else int(np.iinfo(dtype).max))
    new_cover = np.full(cover.shape, new_nd, dtype=dtype)
    new_cover[ok] = cover.array[ok]
    b_codes, b_counts = np.unique(base.array[~iio.nodata_mask(base.array, base.nodata)],
                                  return_counts=True)
    x_codes, x_counts = np.unique(new_cover[ok], return_counts=True)
    b_area, x_area = base.pixel_area, cover.pixel_area
    base_count = dict(zip(b_codes.tolist(), b_counts.tolist(), strict=True))
    index: dict[int, float] = {}
    for code, count in zip(x_codes.tolist(), x_counts.tolist(), strict=True):
        if code in base_count:
            num = count * x_area
            index[code] = 1.0 - num / (base_count[code] * b_area + num)
        else:
            index[code] = 0.0
    rarity = iio.reclassify(new_cover, new_nd, index, OUT_NODATA)
    return rarity, index, (new_cover, new_nd)


def _threat_present(path: str, grid: iio.Raster, key: str) -> np.ndarray:
    """Boolean raster on ``grid``: threat ≠ 0 and ≠ nodata; values outside [0, 1] are an
    error, as in InVEST."""
    tr = iio.warp_to_grid(iio.read_raster(path, label=key), grid)
    nd, has, _ = stream.nodata_args(tr.nodata, tr.array.dtype)
    present = np.empty(tr.shape, dtype=np.bool_)
    lo, hi, _n = _threat_presence(tr.array, nd, has, present)
    if lo < 0 or hi > 1:
        raise InvalidInput(
            f"Threat rasters should have values between 0 and 1: {path} "
            f"({key}) has values in [{lo}, {hi}]")
    return present


def _write_quality(ws: str, scenario: str, suffix: str, grid: stream.GridSpec,
                   deg_sum: np.ndarray, codes: np.ndarray, c_nd: float, c_has: bool,
                   table: stream.CodeTable, ksq: np.float32) -> None:
    """Write deg_sum_{c,f} and quality_{c,f} strip by strip (no whole quality raster)."""
    writers = [stream.GridWriter(iio.output_path(ws, f"{name}_{scenario[0]}.tif", suffix),
                                 grid, np.float32, MAP_NODATA)
               for name in ("deg_sum", "quality")]

    def compute(r0: int, r1: int, _arrays: list[np.ndarray]) -> list[np.ndarray]:
        deg = np.empty((r1 - r0, grid.shape[1]), dtype=np.float32)
        q = np.empty_like(deg)
        _quality_kernel(deg_sum[r0:r1].ravel(), np.ascontiguousarray(codes[r0:r1]).ravel(),
                        c_nd, c_has, table.lo, table.lut[0], ksq, np.float32(MAP_NODATA),
                        deg.ravel(), q.ravel())
        return [deg, q]

    with stream.small_gdal_cache():
        stream.run_strips([], writers, compute, grid.shape[0])


def execute(args: dict[str, Any]) -> None:
    """Run Habitat Quality with InVEST 3.20.2's ``args`` and outputs (see module docstring).

    Units: threat ``max_dist`` in metres, ``weight`` and sensitivities dimensionless,
    ``half_saturation_constant`` dimensionless; outputs dimensionless indices.
    """
    check_args("habitat_quality", args)
    ws = args["workspace_dir"]
    suffix = iio.normalize_suffix(args.get("results_suffix"))
    k = iio.as_float(args["half_saturation_constant"], "half_saturation_constant")
    if k <= 0:
        raise InvalidInput("half_saturation_constant must be > 0")

    scen_args = {"cur": "lulc_cur_path", "fut": "lulc_fut_path", "bas": "lulc_bas_path"}
    scenarios = [s for s, a in scen_args.items() if args.get(a)]
    threats = _read_threats(args["threats_table_path"], scenarios)
    sens = iio.read_table(args["sensitivity_table_path"], "lucode", ("habitat",),
                          label="sensitivity_table_path")
    missing = [t for t in threats.index if t not in sens.columns]
    if missing:
        raise InvalidInput(
            f"sensitivity_table_path lacks a column for threat(s) {missing}",
            hint="add one sensitivity column per threat, named like the threat")

    lulc_raw = iio.read_rasters_parallel({s: args[scen_args[s]] for s in scenarios})
    grid = lulc_raw["cur"]
    if abs(grid.pixel_size[0]) != abs(grid.pixel_size[1]):
        raise InvalidInput("lulc_cur_path must have square pixels")
    lulc = {s: iio.warp_to_grid(r, grid) for s, r in lulc_raw.items()}

    threat_paths: dict[str, dict[str, str]] = {s: {} for s in scenarios}
    seen: set[str] = set()
    for s in scenarios:
        for t, row in threats.iterrows():
            p = row.get(_SCENARIO_COLUMN[s])
            if not p:
                if s == "bas":
                    continue
                raise InvalidInput(
                    f"threats_table_path: no raster path in column {_SCENARIO_COLUMN[s]} "
                    f"for threat {t!r}", hint="give a threat raster for every scenario")
            if p in seen:
                raise InvalidInput(f"Threat paths must be unique. Duplicates: {Path(p).name}")
            seen.add(p)
            threat_paths[s][str(t)] = p
    # Threat rasters of the baseline are only validated (InVEST computes no degradation
    # for it); the others are read one at a time when their degradation is added.
    for t, path in threat_paths.get("bas", {}).items():
        _threat_present(path, grid, f"bas:{t}")

    access: np.ndarray = np.ones((1, 1), dtype=np.float32)
    has_access = bool(args.get("access_vector_path"))
    if has_access:
        from affine import Affine
        from rasterio.features import rasterize

        gdf = iio.read_vector(args["access_vector_path"], label="access_vector_path")
        if "access" not in gdf.columns:
            raise InvalidInput("access_vector_path lacks the field 'access'")
        if grid.crs and gdf.crs is not None:
            gdf = gdf.to_crs(grid.crs)
        shapes = [(g, float(a)) for g, a in zip(gdf.geometry, gdf["access"], strict=True)
                  if g is not None]
        access = rasterize(shapes, out_shape=grid.shape, fill=1.0, dtype="float32",
                           transform=Affine.from_gdal(*grid.transform))

    for t, row in threats.iterrows():
        if row["decay"] not in ("linear", "exponential"):
            raise InvalidInput(f"threat {t!r}: decay {row['decay']!r} must be "
                               "'linear' or 'exponential'")
    weight_sum = float(threats["weight"].sum())
    cell = abs(grid.pixel_size[0])
    table = stream.CodeTable([sens["habitat"].to_dict()]
                             + [sens[t].to_dict() for t in threats.index])
    spec = stream.GridSpec(grid.transform, grid.shape, grid.crs)
    for s in ("cur", "fut"):
        if s not in lulc:
            continue
        lc = lulc[s]
        codes, c_nd, c_has = table.kernel_codes(lc.array, lc.nodata)
        if _check_codes(codes, c_nd, c_has, table.lo, table.known):
            raise table.missing(lc.array, lc.nodata, scen_args[s], "sensitivity_table_path")
        deg_sum = np.zeros(grid.shape, dtype=np.float32)
        # column distances, capped just beyond the longest max_dist: exact for the decay,
        # which is 0 beyond it, and int16 when that fits (half the memory traffic)
        cap = int(np.ceil(float(threats["max_dist"].max()) / cell)) + 2
        g = np.empty(grid.shape, dtype=np.int16 if cap < 2**15 - 2 else np.int32)
        for j, (t, row) in enumerate(threats.iterrows(), start=1):
            present = _threat_present(threat_paths[s][str(t)], grid, f"{s}:{t}")
            any_present = bool(present.any())
            if any_present:
                _column_distances(present, cap, g)
            del present
            _degrade(g, cap, not any_present, codes, c_nd, c_has, table.lo,
                     table.lut[j], np.float32(float(row["max_dist"]) / cell),
                     row["decay"] == "exponential", np.float32(float(row["weight"]) / weight_sum),
                     access, has_access, deg_sum)
        del g
        _write_quality(ws, s, suffix, spec, deg_sum, codes, c_nd, c_has, table,
                       np.float32(k**SCALING_PARAM))
        del deg_sum

    jobs = []
    if "bas" in lulc:
        for s in ("cur", "fut"):
            if s not in lulc:
                continue
            rarity, index, (new_cover, new_nd) = _rarity(lulc["bas"], lulc[s])
            jobs += [
                (iio.output_path(ws, f"new_cover_{s[0]}.tif", suffix), new_cover, grid, new_nd),
                (iio.output_path(ws, f"rarity_{s[0]}.tif", suffix), rarity, grid, OUT_NODATA),
            ]
            table = pd.DataFrame({"lucode": sorted(index),
                                  "rarity_value": [index[c] for c in sorted(index)]})
            iio.write_csv(iio.output_path(ws, f"rarity_{s[0]}.csv", suffix), table)
    iio.write_rasters_parallel(jobs)
