"""InVEST 3.20.2-compatible Sediment Delivery Ratio (SDR) model.

``execute(args)`` takes InVEST's SDR argument names and writes its main outputs under its
file names (``avoided_erosion.tif``, ``avoided_export.tif``, ``rkls.tif``, ``usle.tif``,
``sed_export.tif``, ``sed_deposition.tif``, ``stream.tif``, ``watershed_results_sdr.shp``
plus ``intermediate_outputs/``). Formulas and quirks follow INVEST_NOTES §3.3 [V]
(natcap.invest 3.20.2 ``sdr/sdr.py`` and ``sediment_deposition.h``), routing follows
pygeoprocessing 2.4.11 (§2). All arrays are processed whole-basin in memory with numba
kernels (:mod:`liangshan.accounting.kernels.routing`); what SDR shares with NDR (routing,
watersheds, LULC tables, the writer) is in :mod:`._routing_common`. Each whole-grid array
lives only while a later step needs it.

Units: DEM [m], R [MJ·mm/(ha·h·yr)], K [t·ha·h/(ha·MJ·mm)], C and P [–]; RKLS, USLE,
export, deposition, avoided_* rasters [t/ha/yr per pixel]; watershed totals [t/yr]
(Σ pixel × pixel_area/10⁴). D_up [m] but D_dn in **pixel units** — InVEST's IC is
therefore ≈ log10(cell size) above the User's Guide definition [V] (INVEST_NOTES §3.4).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, prange

from liangshan.accounting.invest import _routing_common as rc
from liangshan.accounting.invest import io
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW

LOGGER = logging.getLogger(__name__)

TARGET_NODATA = -1.0  # sdr.py _TARGET_NODATA [V]
IC_NODATA = float(np.finfo(np.float32).min)
MAP_NODATA = float(np.finfo(np.float32).max)  # pygeoprocessing raster_map default [V]
BYTE_NODATA = 255
# watershed_results_sdr fields: (field, output raster)
FIELDS = [("usle_tot", "usle"), ("sed_export", "sed_export"), ("sed_dep", "sed_deposition"),
          ("avoid_exp", "avoided_export"), ("avoid_eros", "avoided_erosion")]
C, CP = 0, 1  # rows of the LULC table: usle_c and usle_c·usle_p


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
    return _sediment_deposition(fd, e_prime, sdr, int(block), rc.index_stack(fd.size))


@njit(cache=True, nogil=True)
def _sediment_deposition(fd, e_prime, sdr, block, stack):
    nr, nc = fd.shape
    dep = np.full((nr, nc), -1.0, dtype=np.float32)
    flux = np.full((nr, nc), -1.0, dtype=np.float32)
    qsum = np.zeros((nr, nc), dtype=np.uint8)  # Σ of 8 nibbles ≤ 120
    pending = np.zeros((nr, nc), dtype=np.int8)  # upslope neighbours without a deposition
    for r in range(nr):
        for c in range(nc):
            v = fd[r, c]
            if v == 0:
                continue
            qsum[r, c] = rc.weight_sum(v)
            for k in range(8):
                if rc.weight_to(fd, r, c, k):
                    rr = r + ROW[k]
                    cc = c + COL[k]
                    if rc.on_grid(rr, cc, nr, nc):
                        pending[rr, cc] += 1
    top = 0
    for br in range(0, nr, block):
        for bc in range(0, nc, block):
            for r0 in range(br, min(br + block, nr)):
                for c0 in range(bc, min(bc + block, nc)):
                    if fd[r0, c0] == 0:
                        continue
                    high = True
                    for k in range(8):
                        if rc.weight_from(fd, r0, c0, k):
                            high = False
                            break
                    if high and dep[r0, c0] == -1.0:
                        stack[top] = r0 * nc + c0
                        top += 1
                    while top > 0:
                        top -= 1
                        i = np.int64(stack[top])
                        r = i // nc
                        c = i % nc
                        inflow = 0.0
                        for k in range(8):
                            q = rc.weight_from(fd, r, c, k)
                            if q == 0:
                                continue
                            rr = r + ROW[k]
                            cc = c + COL[k]
                            fj = flux[rr, cc]
                            if fj == -1.0:
                                continue
                            inflow += np.float32(np.float32(q) / np.float32(qsum[rr, cc])) * fj
                        self_pending = 1 if dep[r, c] == -1.0 else 0
                        dsum = 0.0
                        fsum = 0.0
                        for k in range(8):
                            q = rc.weight_to(fd, r, c, k)
                            if q == 0:
                                continue
                            rr = r + ROW[k]
                            cc = c + COL[k]
                            if not rc.on_grid(rr, cc, nr, nc):
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
                                if rc.weight_to(fd, r, c, k):
                                    rr = r + ROW[k]
                                    cc = c + COL[k]
                                    if rc.on_grid(rr, cc, nr, nc):
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
    gdf = io.read_vector(args["watersheds_path"], label="watersheds_path")
    rc.check_square_pixels(read["dem_path"], args["dem_path"])
    aligned = io.align_to_intersection(
        [read.pop(k) for k in keys], 0, methods, extra_bboxes=[tuple(gdf.total_bounds)])
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
    rc.require(
        args,
        ["workspace_dir", "dem_path", "erosivity_path", "erodibility_path", "lulc_path",
         "watersheds_path", "biophysical_table_path", "threshold_flow_accumulation",
         "k_param", "sdr_max", "ic_0_param", "l_max"],
        "SDR",
    )
    algorithm = rc.parse_algorithm(args)
    level = rc.intermediate_level(args)
    suffix = io.normalize_suffix(args.get("results_suffix"))
    ws = Path(args["workspace_dir"])
    p = {k: io.as_float(args[k], k) for k in (
        "threshold_flow_accumulation", "k_param", "sdr_max", "ic_0_param", "l_max")}
    table = io.read_table(
        args["biophysical_table_path"], "lucode", ["usle_c", "usle_p"],
        label="biophysical_table_path",
    )
    inp, gdf = _load_inputs(args)
    grid = rc.grid_of(inp["dem"])
    sheds = rc.Watersheds(gdf, grid)
    valid = sheds.union()
    for ras in inp.values():
        valid &= ras.valid_mask()
    c = table["usle_c"].astype(float)
    lo, lut = rc.lulc_table(inp["lulc"].array, valid, {
        "usle_c": c.to_dict(), "usle_c·usle_p": (c * table["usle_p"].astype(float)).to_dict()})
    writer = rc.RasterWriter(grid)
    try:
        _compute(inp, valid, lo, lut, algorithm, p,
                 rc.Outputs(writer, sheds, ws, suffix, level))
    finally:
        writer.close()
    io.write_vector(sheds.frame([f for f, _ in FIELDS]),
                    io.output_path(ws, "watershed_results_sdr.shp", suffix))


def _compute(inp, valid, lo, lut, algorithm, p, out):
    """The SDR chain on aligned arrays; each raster is handed to the writer and summed per
    watershed as soon as it is final, then dropped."""
    field_of = {raster: field for field, raster in FIELDS}

    def emit(name, array, nodata=MAP_NODATA, needs="none", dtype=np.float32):
        if name in field_of:
            out.field(field_of[name], array, nodata)
        out.raster(name, array, nodata, needs, dtype)

    r = rc.route(inp.pop("dem"), valid, algorithm)
    codes = inp.pop("lulc").array
    w = _weights(valid, r.slope, codes, lut, lo)
    acc = rc.accumulate(r, w)  # FA, ΣW, ΣS
    stream = rc.streams(r, acc[0], p["threshold_flow_accumulation"], 0.7)  # trace 0.7 [V]
    if "drainage" in inp:
        drain = inp.pop("drainage").array
        stream = np.where((drain == 1) & (stream != BYTE_NODATA), 1, stream).astype(np.uint8)
    ls, rkls, usle, d_up, ws_inv = _local_factors(
        valid, r.slope, acc[0], acc[1], acc[2], w[0], w[1], stream, inp.pop("erosivity").array,
        inp.pop("erodibility").array, codes, lut, lo, r.cell, p["l_max"])
    del w, codes
    if out.wants("all"):
        rc.write_routing(out, r, acc[0].copy())
    del acc
    emit("rkls", rkls, TARGET_NODATA)
    emit("usle", usle)
    emit("stream", stream, BYTE_NODATA, dtype=np.uint8)
    emit("intermediate_outputs/ls", ls, needs="all")
    del ls
    d_dn = rc.distance_to_channel(r, stream, ws_inv)
    del ws_inv
    ic, sdr, e_prime = _delivery(r.fd, d_up, d_dn, stream, usle, p["sdr_max"],
                                 p["ic_0_param"], p["k_param"])
    emit("intermediate_outputs/ic", ic, IC_NODATA, needs="key")
    emit("intermediate_outputs/d_dn", d_dn, rt.DIST_NODATA, needs="key")
    emit("intermediate_outputs/d_up", d_up, needs="all")
    del ic, d_dn, d_up
    # written while the deposition walk runs
    sed_export, avoided_erosion = _export(rkls, usle, sdr)
    del rkls, usle
    emit("sed_export", sed_export)
    emit("avoided_erosion", avoided_erosion)
    del sed_export
    dep, flux = sediment_deposition(r.fd, e_prime, sdr, 256)
    emit("intermediate_outputs/f", flux, -1.0, needs="all")
    emit("intermediate_outputs/sdr_factor", sdr, TARGET_NODATA, needs="key")
    emit("intermediate_outputs/e_prime", e_prime, TARGET_NODATA, needs="key")
    del flux, e_prime, r
    emit("sed_deposition", dep, -1.0)
    emit("avoided_export", _avoided_export(avoided_erosion, sdr, dep))


@njit(cache=True, nogil=True, parallel=True)
def _weights(valid, slope, codes, lut, lo):
    """[W_th, S_th]: max(C, 0.001) and clip(slope/100, 0.005, 1) (0 outside ``valid``)."""
    nr, nc = valid.shape
    out = np.zeros((2, nr, nc))
    for r in prange(nr):
        for c in range(nc):
            if valid[r, c]:
                out[0, r, c] = max(rc.lut_at(lut, C, lo, codes[r, c]), 0.001)
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
                   erodibility, codes, lut, lo, cell, l_max):
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
                # usle_c·usle_p is stored as float32 by InVEST's reclassification
                usle[r, c] = rk * np.float32(rc.lut_at(lut, CP, lo, codes[r, c]))
    return ls, rkls, usle, d_up, ws_inv


@njit(cache=True, nogil=True, parallel=True)
def _delivery(fd, d_up, d_dn, stream, usle, sdr_max, ic_0, k):
    """IC = log10(D_up/D_dn), SDR = SDRmax/(1+exp((IC0−IC)/k)) (1 on streams), E'."""
    nr, nc = fd.shape
    ic = np.full((nr, nc), IC_NODATA, dtype=np.float32)
    sdr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    e_prime = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            if stream[r, c] == 1:
                sdr[r, c] = 1.0
                e_prime[r, c] = 0.0
            dd = d_dn[r, c]
            du = d_up[r, c]
            # fd = 0 exactly where the flow accumulation is nodata
            if fd[r, c] == 0 or dd == rt.DIST_NODATA or dd == 0 or du == 0:
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


@njit(cache=True, nogil=True, parallel=True)
def _export(rkls, usle, sdr):
    """sed_export = USLE·SDR and avoided_erosion = RKLS − USLE (float32; raster_map
    rule: nodata where any input is)."""
    nr, nc = rkls.shape
    exp_ = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    av_er = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            if rkls[r, c] == TARGET_NODATA:
                continue
            av_er[r, c] = rkls[r, c] - usle[r, c]
            if sdr[r, c] != TARGET_NODATA:
                exp_[r, c] = usle[r, c] * sdr[r, c]
    return exp_, av_er


@njit(cache=True, nogil=True, parallel=True)
def _avoided_export(av_er, sdr, dep):
    """avoided_export = (RKLS − USLE)·SDR + T (float32, nodata where any input is)."""
    nr, nc = av_er.shape
    out = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            if av_er[r, c] != MAP_NODATA and sdr[r, c] != TARGET_NODATA and dep[r, c] != -1.0:
                out[r, c] = av_er[r, c] * sdr[r, c] + dep[r, c]
    return out
