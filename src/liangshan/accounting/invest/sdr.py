"""InVEST 3.20.2-compatible Sediment Delivery Ratio (SDR) model.

``execute(args)`` takes InVEST's SDR argument names and writes its main outputs under its
file names (``avoided_erosion.tif``, ``avoided_export.tif``, ``rkls.tif``, ``usle.tif``,
``sed_export.tif``, ``sed_deposition.tif``, ``stream.tif``, ``watershed_results_sdr.shp``
plus ``intermediate_outputs/``). Formulas and quirks follow INVEST_NOTES §3.3 [V]
(natcap.invest 3.20.2 ``sdr/sdr.py`` and ``sediment_deposition.h``), routing follows
pygeoprocessing 2.4.11 (§2). All arrays are processed whole-basin in memory with numba
kernels (:mod:`liangshan.accounting.kernels.routing`).

Units: DEM [m], R [MJ·mm/(ha·h·yr)], K [t·ha·h/(ha·MJ·mm)], C and P [–]; RKLS, USLE,
export, deposition, avoided_* rasters [t/ha/yr per pixel]; watershed totals [t/yr]
(Σ pixel × pixel_area/10⁴). D_up [m] but D_dn in **pixel units** — InVEST's IC is
therefore ≈ log10(cell size) above the User's Guide definition [V] (INVEST_NOTES §3.4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, prange

from liangshan.accounting.invest import io
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW
from liangshan.errors import InvalidInput

LOGGER = logging.getLogger(__name__)

TARGET_NODATA = -1.0  # sdr.py _TARGET_NODATA [V]
IC_NODATA = float(np.finfo(np.float32).min)
MAP_NODATA = float(np.finfo(np.float32).max)  # pygeoprocessing raster_map default [V]
BYTE_NODATA = 255


@dataclass
class Routed:
    """Grid, mask and routing products shared by SDR and NDR (all whole-grid arrays)."""

    grid: io.Raster  # reference grid (aligned DEM)
    valid: np.ndarray  # bool: inside the watersheds and every input valid
    filled: np.ndarray  # pit-filled DEM [m]
    slope: np.ndarray  # percent slope, nodata rt.SLOPE_NODATA
    fd: np.ndarray  # MFD int32 (D8 converted to one nibble)
    fd_raw: np.ndarray  # as computed (MFD int32 or D8 uint8)
    fa: np.ndarray  # flow accumulation [px], rt.FA_NODATA
    algorithm: str  # 'mfd' or 'd8'


class RasterWriter:
    """Writes GeoTIFFs on two background threads while the model keeps computing.

    The numba kernels release the GIL (``nogil=True``), so compression and disk I/O
    overlap with routing. Each file is still written atomically (temp file, rename);
    ``close`` waits for every write and re-raises the first error.
    """

    def __init__(self, grid: io.Raster, workers: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.grid = grid
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: list[Any] = []

    def put(self, path: Path, array: np.ndarray, nodata: float | None, dtype=None) -> None:
        self.futures.append(
            self.pool.submit(io.write_raster, path, array, self.grid, nodata, dtype))

    def close(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True)


def intermediate_level(args: dict[str, Any]) -> str:
    """Which intermediate rasters to write: 'none' (default), 'key' or 'all'."""
    level = str(args.get("intermediate_outputs") or "none").strip().lower()
    if level not in {"none", "key", "all"}:
        raise InvalidInput(
            f"intermediate_outputs={args.get('intermediate_outputs')!r} is not supported",
            hint="use 'none', 'key' or 'all'",
        )
    return level


def parse_algorithm(args: dict[str, Any]) -> str:
    algo = str(args.get("flow_dir_algorithm") or "MFD").strip().lower()
    if algo not in {"mfd", "d8"}:
        raise InvalidInput(
            f"flow_dir_algorithm={args.get('flow_dir_algorithm')!r} is not supported",
            hint="use 'MFD' or 'D8'",
        )
    return algo


def require(args: dict[str, Any], keys: list[str], model: str) -> None:
    missing = [k for k in keys if args.get(k) in (None, "")]
    if missing:
        raise InvalidInput(
            f"{model}: required argument(s) {missing} are missing",
            hint="pass them with InVEST's argument names",
        )


def watershed_mask(vector_path: str, grid: io.Raster) -> tuple[Any, np.ndarray]:
    """Read the watersheds and rasterise their union (pixel-centre rule)."""
    gdf = io.read_vector(vector_path, label="watersheds_path")
    inside = np.zeros(grid.shape, dtype=bool)
    for rs, cs, m in io.zone_masks(list(gdf.geometry), grid):
        inside[rs, cs] |= m
    return gdf, inside


def route(dem: io.Raster, valid: np.ndarray, algorithm: str) -> Routed:
    """Fill pits, slope and flow direction on the masked DEM; FA is added by
    :func:`accumulate` (together with any weighted accumulations)."""
    z = np.where(valid, dem.array.astype(np.float64), 0.0)
    filled = rt.fill_pits(z, valid)
    slope = rt.calculate_slope(filled, valid, dem.transform[1], dem.transform[5])
    # InVEST's slope raster is float32: round like it so class breaks (1, 3.5, 5, 9 %) fall
    # on the same side for every pixel
    slope = slope.astype(np.float32).astype(np.float64)
    if algorithm == "mfd":
        fd_raw = rt.flow_dir_mfd(filled, valid)
        fd = fd_raw
    else:
        fd_raw = rt.flow_dir_d8(filled, valid)
        fd = rt.d8_to_mfd(fd_raw)
    return Routed(dem, valid, filled, slope, fd, fd_raw, np.empty((0, 0)), algorithm)


def accumulate(r: Routed, weights: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """Set ``r.fa`` [px] and return the weighted accumulations (one sweep for all).

    ``weights`` is a (k, rows, cols) array or a list of k arrays (nodata already 0).
    """
    if isinstance(weights, list):
        weights = np.stack(weights) if weights else np.zeros((0, *r.fd.shape))
    out = rt.flow_accumulation_many(r.fd, weights)
    r.fa = out[0]
    return [out[i + 1] for i in range(weights.shape[0])]


def lookup(codes: np.ndarray, valid: np.ndarray, mapping: dict[Any, float], what: str,
           table_label: str = "biophysical_table_path") -> np.ndarray:
    """Map integer LULC codes to values [float64] where ``valid`` (0 elsewhere).

    A valid code missing from ``mapping`` raises InvalidInput naming the codes, as
    InVEST's ``utils.reclassify_raster`` does (there as ValueError) [V].
    """
    if not valid.any():
        return np.zeros(codes.shape)
    c64 = codes.astype(np.int64, copy=False)
    lo, hi = _valid_range(c64, valid)
    present = _presence(c64, valid, lo, hi)
    keys = {int(k) for k in mapping}
    missing = [int(lo + i) for i in np.flatnonzero(present) if int(lo + i) not in keys]
    if missing:
        raise InvalidInput(
            f"values {missing[:20]} in the LULC raster (lulc_path) are not represented in "
            f"{table_label} column {what!r}",
            hint="add a row for each code, or set those pixels to the raster's nodata value",
        )
    lut = np.zeros(hi - lo + 1)
    for k, v in mapping.items():
        if lo <= int(k) <= hi:
            lut[int(k) - lo] = float(v)
    return _apply_lut(c64, valid, lo, lut)


@njit(cache=True, nogil=True)
def _valid_range(codes, valid):
    lo = np.iinfo(np.int64).max
    hi = np.iinfo(np.int64).min
    for i in range(codes.size):
        if valid.flat[i]:
            v = codes.flat[i]
            lo = min(lo, v)
            hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _presence(codes, valid, lo, hi):
    out = np.zeros(hi - lo + 1, dtype=np.bool_)
    for i in range(codes.size):
        if valid.flat[i]:
            out[codes.flat[i] - lo] = True
    return out


@njit(cache=True, nogil=True)
def _apply_lut(codes, valid, lo, lut):
    out = np.zeros(codes.shape)
    for i in range(codes.size):
        if valid.flat[i]:
            out.flat[i] = lut[codes.flat[i] - lo]
    return out


def streams(r: Routed, threshold: float, trace: float) -> np.ndarray:
    """Stream raster (uint8 1/0, 255 nodata): MFD with ``trace`` proportion, D8 strict."""
    if r.algorithm == "mfd":
        return rt.extract_streams_mfd(r.fa, r.fd, float(threshold), float(trace))
    return rt.extract_streams_d8(r.fa, float(threshold))


def distance_to_channel(r: Routed, stream: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    if r.algorithm == "mfd":
        return rt.distance_to_channel_mfd(r.fd, stream, weight)
    return rt.distance_to_channel_d8(r.fd_raw, stream, weight)


def ls_factor(slope_pct: np.ndarray, fa: np.ndarray, cell: float, l_max: float) -> np.ndarray:
    """LS factor by Desmet & Govers (1996) as coded in InVEST 3.14+ (ADR-0001) [V].

    ``slope_pct`` [%], ``fa`` [px, incl. the pixel]; contributing area is
    sqrt((FA−1)·cell²) [m] and cell² is added to it as coded (INVEST_NOTES §3.3);
    m by slope class 0.2/0.3/0.4/0.5 (≤1, ≤3.5, ≤5, ≤9 %) else β/(1+β). Returns LS [–].
    """
    s = np.asarray(slope_pct, dtype=np.float64).ravel()
    f = np.asarray(fa, dtype=np.float64).ravel()
    out = np.array([_ls_pixel(a, b, float(cell), float(l_max)) for a, b in zip(s, f,
                                                                               strict=True)])
    return out.reshape(np.shape(slope_pct))


@njit(cache=True, nogil=True)
def sediment_deposition(fd, e_prime, sdr, block):
    """Sediment deposition T and flux F (InVEST ``run_sediment_deposition`` semantics [V]).

    ``fd`` packed MFD int32 (D8 as one nibble); ``e_prime`` and ``sdr`` float32 with −1
    nodata. Pixels are visited like InVEST: ``block``×``block`` tiles in row-major order,
    local high points seed a LIFO stack, and a downslope neighbour is pushed once all its
    other upslope neighbours have a deposition value, so nodata propagates downslope
    exactly as in natcap/invest#1715 (tracked with a per-pixel count of upslope
    neighbours still without a value). Per pixel (INVEST_NOTES §3.3):
    s̄ = max(Σ SDR_k q_k/Σ q_k, SDR_i), dT = (s̄ − SDR_i)/(1 − SDR_i) (1 if SDR_i = 1),
    T = max(dT·inflow, 0), F = max((1 − dT)·inflow + E', 0). Returns (T, F) float32
    [t/ha/yr], nodata −1.
    """
    nr, nc = fd.shape
    dep = np.full((nr, nc), -1.0, dtype=np.float32)
    flux = np.full((nr, nc), -1.0, dtype=np.float32)
    qsum = np.zeros((nr, nc), dtype=np.int32)
    pending = np.zeros((nr, nc), dtype=np.int8)  # upslope neighbours without a deposition
    for r in range(nr):
        for c in range(nc):
            v = fd[r, c]
            if v == 0:
                continue
            t = 0
            for k in range(8):
                q = (v >> (4 * k)) & 0xF
                t += q
                if q:
                    rr = r + ROW[k]
                    cc = c + COL[k]
                    if 0 <= rr < nr and 0 <= cc < nc:
                        pending[rr, cc] += 1
            qsum[r, c] = t
    stack = np.empty(max(nr * nc, 1), dtype=np.int64)
    top = 0
    for br in range(0, nr, block):
        for bc in range(0, nc, block):
            for r0 in range(br, min(br + block, nr)):
                for c0 in range(bc, min(bc + block, nc)):
                    if fd[r0, c0] == 0:
                        continue
                    high = True
                    for k in range(8):
                        rr = r0 + ROW[k]
                        cc = c0 + COL[k]
                        if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                            continue
                        if (fd[rr, cc] >> (4 * ((k + 4) % 8))) & 0xF:
                            high = False
                            break
                    if high and dep[r0, c0] == -1.0:
                        stack[top] = r0 * nc + c0
                        top += 1
                    while top > 0:
                        top -= 1
                        i = stack[top]
                        r = i // nc
                        c = i % nc
                        inflow = 0.0
                        for k in range(8):
                            rr = r + ROW[k]
                            cc = c + COL[k]
                            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                                continue
                            q = (fd[rr, cc] >> (4 * ((k + 4) % 8))) & 0xF
                            if q == 0:
                                continue
                            fj = flux[rr, cc]
                            if fj == -1.0:
                                continue
                            inflow += np.float32(np.float32(q) / np.float32(qsum[rr, cc])) * fj
                        v = fd[r, c]
                        self_pending = 1 if dep[r, c] == -1.0 else 0
                        dsum = 0.0
                        fsum = 0.0
                        for k in range(8):
                            q = (v >> (4 * k)) & 0xF
                            if q == 0:
                                continue
                            rr = r + ROW[k]
                            cc = c + COL[k]
                            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                                continue
                            fsum += q
                            sj = sdr[rr, cc]
                            if sj == -1.0:
                                continue
                            if sj == 0:
                                sj = 1.0
                            dsum += sj * q
                            # ready when every other upslope neighbour has a deposition
                            if pending[rr, cc] - self_pending == 0:
                                stack[top] = rr * nc + cc
                                top += 1
                        si = sdr[r, c]
                        if si == -1.0:
                            continue
                        ei = e_prime[r, c]
                        if ei == -1.0:
                            continue
                        if fsum:
                            dsum /= fsum
                        if dsum < si:
                            dsum = si
                        dr = 1.0 if si == 1 else (dsum - si) / (1 - si)
                        deposit = dr * inflow
                        f = (1 - dr) * inflow + ei
                        dep[r, c] = max(deposit, 0.0)
                        flux[r, c] = max(f, 0.0)
                        if self_pending:
                            for k in range(8):
                                if (v >> (4 * k)) & 0xF:
                                    rr = r + ROW[k]
                                    cc = c + COL[k]
                                    if 0 <= rr < nr and 0 <= cc < nc:
                                        pending[rr, cc] -= 1
    return dep, flux


def _load_inputs(args: dict[str, Any]):
    keys = ["dem_path", "lulc_path", "erosivity_path", "erodibility_path"]
    methods = ["bilinear", "mode", "bilinear", "bilinear"]
    if args.get("drainage_path"):
        keys.append("drainage_path")
        methods.append("near")
    # GeoTIFF decoding releases the GIL: read the inputs on two threads
    read = io.read_rasters_parallel({k: args[k] for k in keys})
    rasters = [read[k] for k in keys]
    gdf = io.read_vector(args["watersheds_path"], label="watersheds_path")
    dem = rasters[0]
    if abs(abs(dem.transform[1]) - abs(dem.transform[5])) > 1e-9 * abs(dem.transform[1]):
        raise InvalidInput(
            f"dem_path ({args['dem_path']}) has non-square pixels {dem.pixel_size}",
            hint="resample the DEM to square pixels (InVEST resamples to the smaller size)",
        )
    aligned = io.align_to_intersection(
        rasters, 0, methods, extra_bboxes=[tuple(gdf.total_bounds)]
    )
    return dict(zip([k[:-5] for k in keys], aligned, strict=True)), gdf


def execute(args: dict[str, Any]) -> None:
    """Run the SDR model with InVEST 3.20.2 argument names and output file names.

    Required: ``workspace_dir``, ``dem_path``, ``erosivity_path``, ``erodibility_path``,
    ``lulc_path``, ``watersheds_path``, ``biophysical_table_path`` (``lucode``, ``usle_c``,
    ``usle_p``), ``threshold_flow_accumulation`` [px], ``k_param``, ``sdr_max``,
    ``ic_0_param``, ``l_max``. Optional: ``results_suffix``, ``drainage_path``,
    ``flow_dir_algorithm`` ('MFD' default or 'D8'), ``intermediate_outputs`` ('none'
    default: main outputs and stream.tif only; 'key': also sdr_factor, e_prime, ic, d_dn
    under ``intermediate_outputs/``; 'all': also f, ls, d_up, flow accumulation and
    direction); ``n_workers`` is accepted and ignored.
    Raises InvalidInput on bad input; every output is written atomically.
    """
    require(
        args,
        ["workspace_dir", "dem_path", "erosivity_path", "erodibility_path", "lulc_path",
         "watersheds_path", "biophysical_table_path", "threshold_flow_accumulation",
         "k_param", "sdr_max", "ic_0_param", "l_max"],
        "SDR",
    )
    algorithm = parse_algorithm(args)
    intermediate_level(args)
    suffix = io.normalize_suffix(args.get("results_suffix"))
    ws = Path(args["workspace_dir"])
    tfa = io.as_float(args["threshold_flow_accumulation"], "threshold_flow_accumulation")
    k_param = io.as_float(args["k_param"], "k_param")
    sdr_max = io.as_float(args["sdr_max"], "sdr_max")
    ic_0 = io.as_float(args["ic_0_param"], "ic_0_param")
    l_max = io.as_float(args["l_max"], "l_max")
    table = io.read_table(
        args["biophysical_table_path"], "lucode", ["usle_c", "usle_p"],
        label="biophysical_table_path",
    )
    inp, gdf = _load_inputs(args)
    dem = inp["dem"]
    _, inside = watershed_mask(args["watersheds_path"], dem)
    valid = inside.copy()
    for ras in inp.values():
        valid &= ras.valid_mask()
    c_map = table["usle_c"].astype(float).to_dict()
    cp_map = (table["usle_c"].astype(float) * table["usle_p"].astype(float)).to_dict()
    cp = lookup(inp["lulc"].array, valid, cp_map, "usle_c·usle_p").astype(np.float32)
    writer = RasterWriter(dem)
    try:
        out32 = _compute(args, inp, valid, lookup(inp["lulc"].array, valid, c_map, "usle_c"),
                         cp, algorithm, tfa, k_param, sdr_max, ic_0, l_max, ws, suffix, writer)
    finally:
        writer.close()
    totals = watershed_totals(
        gdf, dem, {k: out32[v] for k, v in [
            ("usle_tot", "usle"), ("sed_export", "sed_export"), ("sed_dep", "sed_deposition"),
            ("avoid_exp", "avoided_export"), ("avoid_eros", "avoided_erosion")]},
    )
    io.write_vector(totals, io.output_path(ws, "watershed_results_sdr.shp", suffix))


def _compute(args, inp, valid, w, cp, algorithm, tfa, k_param, sdr_max, ic_0, l_max, ws,
             suffix, writer):
    """The SDR chain on aligned arrays; rasters are handed to ``writer`` as they are final."""
    dem = inp["dem"]
    r = route(dem, valid, algorithm)
    r.filled = np.empty((0, 0))  # not needed past flow direction; frees 8 B/px
    cell = abs(dem.transform[1])
    ws_stack = _weights(valid, r.slope, w)
    fa_w, fa_s = accumulate(r, ws_stack)
    w_th, s_th = ws_stack[0], ws_stack[1]
    stream = streams(r, tfa, 0.7)  # sdr.py calls extract_streams_mfd with trace 0.7 [V]
    if "drainage" in inp:
        drain = inp["drainage"].array
        stream = np.where((drain == 1) & (stream != BYTE_NODATA), 1, stream).astype(np.uint8)
    ls, rkls, usle, d_up, ws_inv = _local_factors(
        valid, r.slope, r.fa, fa_w, fa_s, w_th, s_th, stream,
        inp["erosivity"].array, inp["erodibility"].array, cp, cell, l_max)
    del fa_w, fa_s, w_th, s_th, ws_stack
    d_dn = distance_to_channel(r, stream, ws_inv)
    del ws_inv
    ic, sdr, e_prime = _delivery(r.fa, d_up, d_dn, stream, usle, sdr_max, ic_0, k_param)
    dep, flux = sediment_deposition(r.fd, e_prime, sdr, 256)
    sed_export, avoided_erosion, avoided_export = _retention(rkls, usle, sdr, dep)

    writer.put(io.output_path(ws, "rkls.tif", suffix), rkls, TARGET_NODATA, np.float32)
    writer.put(io.output_path(ws, "usle.tif", suffix), usle, MAP_NODATA, np.float32)
    writer.put(io.output_path(ws, "stream.tif", suffix), stream, BYTE_NODATA, np.uint8)
    out32 = {
        "rkls": (rkls, TARGET_NODATA),
        "usle": (usle, MAP_NODATA),
        "sed_export": (sed_export, MAP_NODATA),
        "sed_deposition": (dep, -1.0),
        "avoided_erosion": (avoided_erosion, MAP_NODATA),
        "avoided_export": (avoided_export, MAP_NODATA),
    }
    fd_nd = 0 if algorithm == "mfd" else rt.D8_NODATA
    for k, (a, nd) in out32.items():
        if k not in ("rkls", "usle"):
            writer.put(io.output_path(ws, f"{k}.tif", suffix), a, nd, np.float32)
    level = intermediate_level(args)
    inter: list[tuple[str, Any, float, Any]] = [] if level == "none" else [
        ("sdr_factor", sdr, TARGET_NODATA, np.float32),
        ("e_prime", e_prime, TARGET_NODATA, np.float32),
        ("ic", ic, IC_NODATA, np.float32),
        ("d_dn", d_dn, rt.DIST_NODATA, np.float32),
    ]
    if level == "all":
        inter += [
            ("f", flux, -1.0, np.float32),
            ("ls", ls, MAP_NODATA, np.float32),
            ("d_up", d_up, MAP_NODATA, np.float32),
            ("flow_accumulation", r.fa, rt.FA_NODATA, np.float64),
            ("flow_direction", r.fd_raw, fd_nd, None),
        ]
    for name, arr, nd, dt in inter:
        writer.put(io.output_path(ws, f"intermediate_outputs/{name}.tif", suffix), arr, nd, dt)
    return out32


@njit(cache=True, nogil=True)
def _weights(valid, slope, w):
    """[W_th, S_th]: max(C, 0.001) and clip(slope/100, 0.005, 1) (0 outside ``valid``)."""
    nr, nc = valid.shape
    out = np.zeros((2, nr, nc))
    for r in range(nr):
        for c in range(nc):
            if valid[r, c]:
                out[0, r, c] = max(w[r, c], 0.001)
                out[1, r, c] = min(max(slope[r, c] / 100.0, 0.005), 1.0)
    return out


@njit(cache=True, nogil=True)
def _ls_pixel(slope_pct, fa, cell, l_max):
    cell_area = cell * cell
    a = np.sqrt((fa - 1.0) * cell_area)
    # θ = atan(slope/100): sin and cos from the tangent, without trigonometric calls
    tan_t = slope_pct / 100.0
    inv = 1.0 / np.sqrt(1.0 + tan_t * tan_t)
    sin_t = tan_t * inv
    x = abs(sin_t) + inv
    s = 10.8 * sin_t + 0.03 if slope_pct < 9 else 16.8 * sin_t - 0.5
    if slope_pct <= 1.0:
        m = 0.2
    elif slope_pct <= 3.5:
        m = 0.3
    elif slope_pct <= 5.0:
        m = 0.4
    elif slope_pct <= 9.0:
        m = 0.5
    else:
        beta = (sin_t / 0.0896) / (3 * sin_t**0.8 + 0.56)
        m = beta / (1 + beta)
    m = np.float64(np.float32(m))  # InVEST stores m in float32
    # denominator cell^(m+2)·(x·22.13)^m as one exp of logs (saves two pow calls)
    lf = ((a + cell_area) ** (m + 1) - a ** (m + 1)) / np.exp(
        (m + 2) * np.log(cell) + m * np.log(x * 22.13))
    return min(lf, l_max) * s


@njit(cache=True, nogil=True, parallel=True)
def _local_factors(valid, slope, fa, fa_w, fa_s, w_th, s_th, stream, erosivity,
                   erodibility, cp, cell, l_max):
    """LS, RKLS, USLE (float32; RKLS/USLE nodata on streams), D_up [m], 1/(W·S)."""
    nr, nc = valid.shape
    ls = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    rkls = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    usle = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    d_up = np.full((nr, nc), MAP_NODATA)
    ws_inv = np.zeros((nr, nc))
    for r in prange(nr):
        for c in range(nc):
            if not valid[r, c] or fa[r, c] == rt.FA_NODATA:
                continue
            f = fa[r, c]
            lsv = _ls_pixel(slope[r, c], f, cell, l_max)
            ls[r, c] = lsv
            d_up[r, c] = (fa_w[r, c] / f) * (fa_s[r, c] / f) * np.sqrt(f * cell * cell)
            ws_inv[r, c] = 1.0 / (w_th[r, c] * s_th[r, c])
            if stream[r, c] == 0:
                rk = np.float32(lsv * erosivity[r, c] * erodibility[r, c])
                rkls[r, c] = rk
                usle[r, c] = rk * cp[r, c]
    return ls, rkls, usle, d_up, ws_inv


@njit(cache=True, nogil=True)
def _delivery(fa, d_up, d_dn, stream, usle, sdr_max, ic_0, k):
    """IC = log10(D_up/D_dn), SDR = SDRmax/(1+exp((IC0−IC)/k)) (1 on streams), E'."""
    nr, nc = fa.shape
    ic = np.full((nr, nc), IC_NODATA, dtype=np.float32)
    sdr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    e_prime = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            if stream[r, c] == 1:
                sdr[r, c] = 1.0
                e_prime[r, c] = 0.0
            dd = d_dn[r, c]
            du = d_up[r, c]
            if fa[r, c] == rt.FA_NODATA or dd == rt.DIST_NODATA or dd == 0 or du == 0:
                continue
            icv = np.float32(np.log10(du / dd))
            ic[r, c] = icv
            if stream[r, c] == 1:
                continue
            sv = np.float32(sdr_max / (1 + np.exp((ic_0 - icv) / k)))
            sdr[r, c] = sv
            if usle[r, c] != MAP_NODATA:
                e_prime[r, c] = usle[r, c] * (1 - sv)
    return ic, sdr, e_prime


@njit(cache=True, nogil=True)
def _retention(rkls, usle, sdr, dep):
    """sed_export = USLE·SDR, avoided_erosion = RKLS − USLE, avoided_export =
    (RKLS − USLE)·SDR + T (raster_map rule: nodata where any input is)."""
    nr, nc = rkls.shape
    exp_ = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    av_er = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    av_ex = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            if rkls[r, c] == TARGET_NODATA:
                continue
            ae = rkls[r, c] - usle[r, c]
            av_er[r, c] = ae
            s = sdr[r, c]
            if s == TARGET_NODATA:
                continue
            exp_[r, c] = usle[r, c] * s
            if dep[r, c] != -1.0:
                av_ex[r, c] = ae * s + dep[r, c]
    return exp_, av_er, av_ex


def watershed_totals(gdf, grid: io.Raster, fields: dict[str, tuple[np.ndarray, float]]):
    """Copy of ``gdf`` with Σ valid pixel × pixel_area/10⁴ per field (t/yr or kg/yr) [V].

    Pixel-centre rasterisation per polygon, as pygeoprocessing ``zonal_statistics``.
    """
    out = gdf.copy()
    ha_per_px = grid.pixel_area / 10_000.0
    valids = {k: arr != nd for k, (arr, nd) in fields.items()}
    sums: dict[str, list[float]] = {k: [] for k in fields}
    for rs, cs, m in io.zone_masks(list(gdf.geometry), grid):
        for k, (arr, _) in fields.items():
            sel = m & valids[k][rs, cs]
            sums[k].append(float(arr[rs, cs][sel].astype(np.float64).sum()) * ha_per_px)
    for k, vals in sums.items():
        out[k] = vals
    return out
