"""InVEST 3.20.2-compatible Nutrient Delivery Ratio (NDR) model.

``execute(args)`` takes InVEST's NDR argument names and writes its main outputs under its
file names (``n_surface_export.tif``, ``n_subsurface_export.tif``, ``n_total_export.tif``,
``p_surface_export.tif``, ``watershed_results_ndr.gpkg`` and ``intermediate_outputs/``:
``effective_retention_{n,p}.tif``, ``ndr_{n,p}.tif``, ``ic_factor.tif`` …). Formulas and
quirks follow INVEST_NOTES §3.4 [V]:

- every raster aligned with *nearest*, masked to the watershed polygons only;
- streams by ``extract_streams_mfd`` with trace proportion 1.0 (SDR uses 0.7);
- IC0 = (min + max)/2 of the IC raster — data dependent, not a user input;
- effective retention follows ``retention.h`` including its processing-order quirk near
  outlets (seeded pixels are computed before their downstream neighbours), reproduced by
  visiting 256×256 blocks in the same order with a LIFO stack;
- subsurface NDR uses the unweighted MFD distance to stream in **pixels** against a
  critical length in metres, as InVEST does;
- ``n_total_export`` is nodata wherever surface export is (stream pixels), so it differs
  from surface + subsurface totals.

Units: loads [kg/ha/yr], exports [kg/ha/yr per pixel], watershed totals [kg/yr]
(Σ pixel × pixel_area/10⁴), critical lengths [m], retention efficiencies [–].
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from liangshan.accounting.invest import io
from liangshan.accounting.invest.sdr import (
    RasterWriter,
    accumulate,
    distance_to_channel,
    intermediate_level,
    lookup,
    parse_algorithm,
    require,
    route,
    streams,
    watershed_mask,
    watershed_totals,
)
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW
from liangshan.errors import InvalidInput

LOGGER = logging.getLogger(__name__)

TARGET_NODATA = -1.0  # ndr.py _TARGET_NODATA [V]
IC_NODATA = float(np.finfo(np.float32).min)
MAP_NODATA = float(np.finfo(np.float32).max)
# intermediate rasters written with intermediate_outputs='key'; 'all' adds InVEST's others
KEY_INTERMEDIATES = {"effective_retention_n", "effective_retention_p", "ndr_n", "ndr_p",
                     "ic_factor"}


@njit(cache=True, nogil=True)
def effective_retention(fd, stream, eff, crit_len, valid, cell, block):
    """Effective retention eff' to the stream (InVEST ``retention.h`` semantics [V]).

    ``fd`` packed MFD int32 (D8 as one nibble), ``stream`` uint8, ``eff`` [–] and
    ``crit_len`` [m] float arrays already 0 on streams, ``valid`` bool (eff and crit_len
    defined), ``cell`` pixel size [m]. Per pixel i and downslope neighbour j
    (INVEST_NOTES §3.4): f = exp(−5·step/crit_len_i) with step = cell or cell·√2;
    r_ij = eff_i(1−f) if eff'_j = 0, eff'_j·f + eff_i(1−f) if eff_i > eff'_j, else eff'_j;
    eff'_i = Σ q_ij r_ij / Σ_all q_ij (off-raster and not-yet-computed neighbours add
    weight but no retention). Streams are 0. Returns float32, nodata −1.
    """
    nr, nc = fd.shape
    out = np.full((nr, nc), -1.0, dtype=np.float32)
    todo = np.zeros((nr, nc), dtype=np.uint8)
    for r in range(nr):
        for c in range(nc):
            v = fd[r, c]
            m = 0
            for k in range(8):
                if (v >> (4 * k)) & 0xF:
                    m |= 1 << k
            todo[r, c] = m
    stack = np.empty(max(nr * nc, 1), dtype=np.int64)
    top = 0
    sqrt2 = np.sqrt(2.0)
    for br in range(0, nr, block):
        for bc in range(0, nc, block):
            for r0 in range(br, min(br + block, nr)):
                for c0 in range(bc, min(bc + block, nc)):
                    dirs = np.int64(todo[r0, c0])
                    seed = False
                    for k in range(8):
                        bit = 1 << k
                        if dirs & bit:
                            rr = r0 + ROW[k]
                            cc = c0 + COL[k]
                            if rr < 0 or rr >= nr or cc < 0 or cc >= nc or todo[rr, cc] == 0:
                                seed = True
                                dirs &= ~bit
                    if seed:
                        todo[r0, c0] = dirs
                        stack[top] = r0 * nc + c0
                        top += 1
            while top > 0:
                top -= 1
                i = stack[top]
                r = i // nc
                c = i % nc
                v = fd[r, c]
                if stream[r, c] == 1:
                    out[r, c] = 0.0
                elif not valid[r, c] or v == 0:
                    out[r, c] = -1.0
                else:
                    cl = crit_len[r, c]
                    ei = eff[r, c]
                    acc = 0.0
                    qsum = 0
                    for k in range(8):
                        q = (v >> (4 * k)) & 0xF
                        if q == 0:
                            continue
                        qsum += q
                        rr = r + ROW[k]
                        cc = c + COL[k]
                        if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                            continue
                        rj = out[rr, cc]
                        if rj == -1.0:
                            continue
                        step = cell * sqrt2 if k & 1 else cell
                        f = np.exp(-5.0 * step / cl) if cl > 0 else 0.0
                        if rj == 0.0:
                            inter = ei * (1.0 - f)
                        elif ei > rj:
                            inter = rj * f + ei * (1.0 - f)
                        else:
                            inter = rj
                        acc += inter * q
                    out[r, c] = acc / qsum
                for k in range(8):
                    rr = r + ROW[k]
                    cc = c + COL[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                        continue
                    kk = (k + 4) % 8
                    if (fd[rr, cc] >> (4 * kk)) & 0xF == 0:
                        continue
                    d = np.int64(todo[rr, cc])
                    if d == 0 or d & (1 << kk) == 0:
                        continue
                    d &= ~(1 << kk)
                    todo[rr, cc] = d
                    if d == 0:
                        stack[top] = rr * nc + cc
                        top += 1
    return out


@njit(cache=True, nogil=True)
def _slope_weight(valid, slope):
    """S_th = clip(slope/100, 0.005, 1) where valid, else 0 (float64)."""
    nr, nc = valid.shape
    out = np.zeros((nr, nc))
    for r in range(nr):
        for c in range(nc):
            if valid[r, c]:
                out[r, c] = min(max(slope[r, c] / 100.0, 0.005), 1.0)
    return out


@njit(cache=True, nogil=True)
def _upslope(fa, fa_s, s_w, cell):
    """D_up = S̄·sqrt(FA·cell²) [m] (float32, nodata −1) and the d_dn weight 1/S_th."""
    nr, nc = fa.shape
    d_up = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    s_inv = np.zeros((nr, nc))
    for r in range(nr):
        for c in range(nc):
            f = fa[r, c]
            if f == rt.FA_NODATA:
                continue
            d_up[r, c] = (fa_s[r, c] / f) * np.sqrt(f * cell * cell)
            if s_w[r, c] != 0:
                s_inv[r, c] = 1.0 / s_w[r, c]
    return d_up, s_inv


@njit(cache=True, nogil=True)
def _ic(fa, d_up, d_dn):
    """IC = log10(D_up/D_dn) (float32, nodata float32 min) where both are defined and ≠ 0."""
    nr, nc = fa.shape
    ic = np.full((nr, nc), IC_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            du = d_up[r, c]
            dd = d_dn[r, c]
            if fa[r, c] == rt.FA_NODATA or du == TARGET_NODATA or du == 0:
                continue
            if dd == rt.DIST_NODATA or dd == 0:
                continue
            ic[r, c] = np.log10(du / dd)
    return ic


@njit(cache=True, nogil=True)
def _runoff_index(proxy, ok, mean):
    """Runoff proxy / its mean (float32, nodata float32 max)."""
    nr, nc = proxy.shape
    out = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            if ok[r, c]:
                out[r, c] = proxy[r, c] if mean == 0 else proxy[r, c] / mean
    return out


@njit(cache=True, nogil=True)
def _loads(lulc_ok, rpi, stream, load, eff, crit, prop):
    """Surface and subsurface load [kg/ha/yr] (float32, −1 nodata) and eff/crit_len set
    to 0 on streams, with the mask where both are defined."""
    nr, nc = lulc_ok.shape
    surf = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    sub = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    eff_o = np.zeros((nr, nc), dtype=np.float32)
    crit_o = np.zeros((nr, nc), dtype=np.float32)
    ok = np.zeros((nr, nc), dtype=np.bool_)
    for r in range(nr):
        for c in range(nc):
            if not lulc_ok[r, c]:
                continue
            if rpi[r, c] != MAP_NODATA:
                mod = np.float32(np.float32(load[r, c]) * rpi[r, c])
                surf[r, c] = mod * (1 - prop[r, c])
                sub[r, c] = mod * prop[r, c]
            st = stream[r, c]
            if st != rt.STREAM_NODATA:
                ok[r, c] = True
                if st != 1:
                    eff_o[r, c] = eff[r, c]
                    crit_o[r, c] = crit[r, c]
    return surf, sub, eff_o, crit_o, ok


@njit(cache=True, nogil=True)
def _surface_export(eff_r, ic, ic_0, k, surface_load):
    """NDR = (1 − eff')/(1 + exp((IC0 − IC)/k)) and surface export = load·NDR (float32)."""
    nr, nc = ic.shape
    ndr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    exp_ = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            e = eff_r[r, c]
            if e == -1.0 or ic[r, c] == IC_NODATA:
                continue
            v = np.float32((1 - e) / (1 + np.exp((ic_0 - ic[r, c]) / k)))
            ndr[r, c] = v
            if surface_load[r, c] != TARGET_NODATA:
                exp_[r, c] = surface_load[r, c] * v
    return ndr, exp_


@njit(cache=True, nogil=True)
def _subsurface(dist, sub_load, surface_export, eff_sub, crit_sub):
    """subNDR = 1 − eff_sub(1 − exp(−5·l/ℓ)) with l in **pixels** and ℓ in metres as coded
    [V]; subsurface export; total = surface + subsurface where both are defined."""
    nr, nc = dist.shape
    sub_ndr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    sub_exp = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    total = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in range(nr):
        for c in range(nc):
            d = dist[r, c]
            if d == rt.DIST_NODATA:
                continue
            v = np.float32(1 - eff_sub * (1 - np.exp(-5 * d / crit_sub)))
            sub_ndr[r, c] = v
            if sub_load[r, c] == TARGET_NODATA:
                continue
            se = sub_load[r, c] * v
            sub_exp[r, c] = se
            if surface_export[r, c] != TARGET_NODATA:
                total[r, c] = surface_export[r, c] + se
    return sub_ndr, sub_exp, total


def execute(args: dict[str, Any]) -> None:
    """Run the NDR model with InVEST 3.20.2 argument names and output file names.

    Required: ``workspace_dir``, ``dem_path``, ``lulc_path``, ``runoff_proxy_path``,
    ``watersheds_path``, ``biophysical_table_path`` (``lucode``, ``load_[n|p]``,
    ``eff_[n|p]``, ``crit_len_[n|p]``, ``load_type_[n|p]``, ``proportion_subsurface_n``),
    ``threshold_flow_accumulation`` [px], ``k_param``, ``calc_n`` and/or ``calc_p``, and
    for N ``subsurface_critical_length_n`` [m] and ``subsurface_eff_n``. Optional:
    ``results_suffix``, ``runoff_proxy_av``, ``flow_dir_algorithm`` ('MFD'/'D8'),
    ``intermediate_outputs`` ('none' default: main outputs only; 'key': also
    ``KEY_INTERMEDIATES`` and the stream raster under ``intermediate_outputs/``; 'all': also
    d_dn, d_up, dist_to_channel, runoff_proxy_index, loads, sub_ndr_n, flow accumulation
    and direction).
    """
    require(args, ["workspace_dir", "dem_path", "lulc_path", "runoff_proxy_path",
                   "watersheds_path", "biophysical_table_path",
                   "threshold_flow_accumulation", "k_param"], "NDR")
    nutrients = [x for x in ("n", "p") if io.as_bool(args.get(f"calc_{x}", False))]
    if not nutrients:
        raise InvalidInput("NDR: neither calc_n nor calc_p is set",
                           hint="set calc_n and/or calc_p to true")
    if "n" in nutrients:
        require(args, ["subsurface_critical_length_n", "subsurface_eff_n"], "NDR")
    algorithm = parse_algorithm(args)
    intermediate_level(args)
    suffix = io.normalize_suffix(args.get("results_suffix"))
    ws = Path(args["workspace_dir"])
    tfa = io.as_float(args["threshold_flow_accumulation"], "threshold_flow_accumulation")
    k_param = io.as_float(args["k_param"], "k_param")
    req_cols = []
    for x in nutrients:
        req_cols += [f"load_{x}", f"eff_{x}", f"crit_len_{x}", f"load_type_{x}"]
    if "n" in nutrients:
        req_cols.append("proportion_subsurface_n")
    table = io.read_table(args["biophysical_table_path"], "lucode", req_cols,
                          label="biophysical_table_path")
    for x in nutrients:
        bad = set(table[f"load_type_{x}"].astype(str).str.lower()) - {
            "measured-runoff", "application-rate"}
        if bad:
            raise InvalidInput(
                f"biophysical_table_path column load_type_{x} has values {sorted(bad)}",
                hint="use 'measured-runoff' or 'application-rate'")

    keys = ["dem_path", "lulc_path", "runoff_proxy_path"]
    read = io.read_rasters_parallel({k: args[k] for k in keys})
    rasters = [read[k] for k in keys]
    del read
    gdf = io.read_vector(args["watersheds_path"], label="watersheds_path")
    dem, lulc, proxy = io.align_to_intersection(
        rasters, 0, ["near"] * 3, extra_bboxes=[tuple(gdf.total_bounds)])
    _, inside = watershed_mask(args["watersheds_path"], dem)
    dem_ok = inside & dem.valid_mask()
    lulc_ok = inside & lulc.valid_mask()
    proxy_ok = inside & proxy.valid_mask()
    del inside
    del rasters
    r = route(dem, dem_ok, algorithm)
    r.filled = np.empty((0, 0))  # not needed past flow direction; frees 8 B/px
    cell = abs(dem.transform[1])
    s_w = _slope_weight(dem_ok, r.slope)
    (fa_s,) = accumulate(r, s_w[None])
    stream = streams(r, tfa, 1.0)  # ndr.py uses the default trace proportion 1.0 [V]
    d_up, s_inv = _upslope(r.fa, fa_s, s_w, cell)
    del fa_s, s_w
    if r.algorithm == "mfd":
        d_dn, dist_ch = rt.distance_to_channel_mfd_pair(r.fd, stream, s_inv)
    else:
        d_dn = distance_to_channel(r, stream, s_inv)
        dist_ch = distance_to_channel(r, stream, None)
    del s_inv
    ic = _ic(r.fa, d_up, d_dn)
    ic_ok = ic != IC_NODATA
    if not ic_ok.any():
        raise InvalidInput(
            "NDR: no pixel drains to a stream, so the connectivity index is undefined",
            hint="lower threshold_flow_accumulation or check the DEM and watersheds")
    ic_0 = (float(ic[ic_ok].min()) + float(ic[ic_ok].max())) / 2.0  # data-dependent IC0 [V]
    del ic_ok

    av = args.get("runoff_proxy_av")
    mean = float(av) if av not in (None, "") else (
        float(proxy.array[proxy_ok].astype(np.float32).sum(dtype=np.float64)
              / proxy_ok.sum()) if proxy_ok.any() else 0.0)
    rpi = _runoff_index(proxy.array, proxy_ok, mean)
    codes = lulc.array
    out: dict[str, tuple[np.ndarray, float]] = {}
    inter: dict[str, tuple[np.ndarray, float]] = {
        "ic_factor": (ic, IC_NODATA),
        "d_dn": (d_dn, rt.DIST_NODATA),
        "dist_to_channel": (dist_ch, rt.DIST_NODATA),
        "d_up": (d_up, TARGET_NODATA),
        "runoff_proxy_index": (rpi, MAP_NODATA),
    }
    fields: dict[str, tuple[np.ndarray, float]] = {}
    eff_sub = crit_sub = 0.0
    if "n" in nutrients:
        eff_sub = io.as_float(args["subsurface_eff_n"], "subsurface_eff_n")
        crit_sub = io.as_float(args["subsurface_critical_length_n"],
                               "subsurface_critical_length_n")
    writer = RasterWriter(dem)
    try:
        _nutrients(args, nutrients, table, r, stream, codes, lulc_ok, rpi, ic, ic_0, k_param,
                   dist_ch, cell, eff_sub, crit_sub, out, inter, fields, writer, ws, suffix)
        _write_rest(args, r, stream, out, inter, writer, ws, suffix)
    finally:
        writer.close()
    io.write_vector(watershed_totals(gdf, dem, fields),
                    io.output_path(ws, "watershed_results_ndr.gpkg", suffix))


def _nutrients(args, nutrients, table, r, stream, codes, lulc_ok, rpi, ic, ic_0, k_param,
               dist_ch, cell, eff_sub, crit_sub, out, inter, fields, writer, ws, suffix):
    """Per nutrient: loads, effective retention, NDR, exports (hands outputs to writer)."""
    level = intermediate_level(args)
    for x in nutrients:
        cols = {c: table[c].astype(float) for c in (f"load_{x}", f"eff_{x}", f"crit_len_{x}")}
        app = table[f"load_type_{x}"].astype(str).str.lower() == "application-rate"
        # application-rate loads are reduced by (1 − eff) [V]
        cols["load"] = cols[f"load_{x}"] * (1 - cols[f"eff_{x}"]).where(app, 1.0)
        cols["prop"] = (table["proportion_subsurface_n"].astype(float) if x == "n"
                        else cols["load"] * 0.0)
        maps = {k: lookup(codes, lulc_ok, v.to_dict(), k) for k, v in (
            ("load", cols["load"]), ("eff", cols[f"eff_{x}"]),
            ("crit", cols[f"crit_len_{x}"]), ("prop", cols["prop"]))}
        surface_load, sub_load, eff, crit, er_ok = _loads(
            lulc_ok, rpi, stream, maps["load"], maps["eff"], maps["crit"], maps["prop"])
        del maps
        eff_r = effective_retention(r.fd, stream, eff, crit, er_ok, cell, 256)
        del eff, crit, er_ok
        ndr, surface_export = _surface_export(eff_r, ic, ic_0, k_param, surface_load)
        out[f"{x}_surface_export"] = (surface_export, TARGET_NODATA)
        inter[f"effective_retention_{x}"] = (eff_r, -1.0)
        inter[f"ndr_{x}"] = (ndr, TARGET_NODATA)
        inter[f"surface_load_{x}"] = (surface_load, TARGET_NODATA)
        fields[f"{x}_surface_load"] = inter[f"surface_load_{x}"]
        fields[f"{x}_surface_export"] = out[f"{x}_surface_export"]
        writer.put(io.output_path(ws, f"{x}_surface_export.tif", suffix), surface_export,
                   TARGET_NODATA, np.float32)
        for k in (f"effective_retention_{x}", f"ndr_{x}") if level != "none" else ():
            writer.put(io.output_path(ws, f"intermediate_outputs/{k}.tif", suffix),
                       inter[k][0], inter[k][1], np.float32)
        if x == "n":
            sub_ndr, sub_exp, total = _subsurface(dist_ch, sub_load, surface_export,
                                                  eff_sub, crit_sub)
            out["n_subsurface_export"] = (sub_exp, TARGET_NODATA)
            out["n_total_export"] = (total, TARGET_NODATA)
            inter["sub_ndr_n"] = (sub_ndr, TARGET_NODATA)
            inter["sub_load_n"] = (sub_load, TARGET_NODATA)
            fields["n_subsurface_export"] = out["n_subsurface_export"]
            fields["n_total_export"] = out["n_total_export"]
            fields["n_subsurface_load"] = inter["sub_load_n"]
            for k in ("n_subsurface_export", "n_total_export"):
                writer.put(io.output_path(ws, f"{k}.tif", suffix), out[k][0], TARGET_NODATA,
                           np.float32)


def _write_rest(args, r, stream, out, inter, writer, ws, suffix):
    """The IC raster, the stream raster and, on request, every other intermediate."""

    fd_nd = 0 if r.algorithm == "mfd" else rt.D8_NODATA
    level = intermediate_level(args)
    if level == "none":
        return
    keep_all = level == "all"
    done = {"effective_retention_n", "effective_retention_p", "ndr_n", "ndr_p"}
    for k, (a, nd) in inter.items():
        if k not in done and (keep_all or k in KEY_INTERMEDIATES):
            writer.put(io.output_path(ws, f"intermediate_outputs/{k}.tif", suffix), a, nd,
                       np.float32)
    writer.put(io.output_path(ws, "intermediate_outputs/stream.tif", suffix), stream,
               rt.STREAM_NODATA, np.uint8)
    if keep_all:
        writer.put(io.output_path(ws, "intermediate_outputs/flow_accumulation.tif", suffix),
                   r.fa, rt.FA_NODATA, np.float64)
        writer.put(io.output_path(ws, "intermediate_outputs/flow_direction.tif", suffix),
                   r.fd_raw, fd_nd, None)
