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
    accumulate,
    distance_to_channel,
    lookup,
    parse_algorithm,
    require,
    route,
    streams,
    watershed_mask,
)
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW
from liangshan.errors import InvalidInput

LOGGER = logging.getLogger(__name__)

TARGET_NODATA = -1.0  # ndr.py _TARGET_NODATA [V]
IC_NODATA = float(np.finfo(np.float32).min)
MAP_NODATA = float(np.finfo(np.float32).max)
# intermediate rasters written by default; ``write_all_intermediates`` adds InVEST's others
KEY_INTERMEDIATES = {"effective_retention_n", "effective_retention_p", "ndr_n", "ndr_p",
                     "ic_factor"}


@njit(cache=True)
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


def _lookup(table, col: str, codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Column ``col`` of the biophysical table mapped onto LULC codes (0 off ``valid``)."""
    return lookup(codes, valid, table[col].astype(float).to_dict(), col)


def execute(args: dict[str, Any]) -> None:
    """Run the NDR model with InVEST 3.20.2 argument names and output file names.

    Required: ``workspace_dir``, ``dem_path``, ``lulc_path``, ``runoff_proxy_path``,
    ``watersheds_path``, ``biophysical_table_path`` (``lucode``, ``load_[n|p]``,
    ``eff_[n|p]``, ``crit_len_[n|p]``, ``load_type_[n|p]``, ``proportion_subsurface_n``),
    ``threshold_flow_accumulation`` [px], ``k_param``, ``calc_n`` and/or ``calc_p``, and
    for N ``subsurface_critical_length_n`` [m] and ``subsurface_eff_n``. Optional:
    ``results_suffix``, ``runoff_proxy_av``, ``flow_dir_algorithm`` ('MFD'/'D8'),
    ``write_all_intermediates`` (default False: only ``KEY_INTERMEDIATES`` and the stream
    raster go to ``intermediate_outputs/``; True adds d_dn, d_up, dist_to_channel,
    runoff_proxy_index, loads, sub_ndr_n, flow accumulation and direction).
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
    rasters = [io.read_raster(args[k], label=k) for k in keys]
    gdf = io.read_vector(args["watersheds_path"], label="watersheds_path")
    dem, lulc, proxy = io.align_to_intersection(
        rasters, 0, ["near"] * 3, extra_bboxes=[tuple(gdf.total_bounds)])
    _, inside = watershed_mask(args["watersheds_path"], dem)
    dem_ok = inside & dem.valid_mask()
    lulc_ok = inside & lulc.valid_mask()
    proxy_ok = inside & proxy.valid_mask()
    r = route(dem, dem_ok, algorithm)
    cell = abs(dem.transform[1])
    slope_ok = r.slope != rt.SLOPE_NODATA
    s_th = np.clip(r.slope / 100.0, 0.005, 1.0)
    (fa_s,) = accumulate(r, [np.where(slope_ok & dem_ok, s_th, 0.0)])
    stream = streams(r, tfa, 1.0)  # ndr.py uses the default trace proportion 1.0 [V]
    fa_ok = r.fa != rt.FA_NODATA
    with np.errstate(divide="ignore", invalid="ignore"):
        d_up = (fa_s / r.fa) * np.sqrt(r.fa * cell * cell)
        s_inv = np.where(slope_ok & dem_ok, 1.0 / s_th, 0.0)
    if r.algorithm == "mfd":
        d_dn, dist_ch = rt.distance_to_channel_mfd_pair(r.fd, stream, s_inv)
    else:
        d_dn = distance_to_channel(r, stream, s_inv)
        dist_ch = distance_to_channel(r, stream, None)
    ic_ok = fa_ok & (d_dn != rt.DIST_NODATA) & (d_dn != 0) & (d_up != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = np.where(ic_ok, np.log10(np.where(ic_ok, d_up / d_dn, 1.0)), 0.0)
    ic32 = ic.astype(np.float32)
    if not ic_ok.any():
        raise InvalidInput(
            "NDR: no pixel drains to a stream, so the connectivity index is undefined",
            hint="lower threshold_flow_accumulation or check the DEM and watersheds")
    ic_0 = (float(ic32[ic_ok].min()) + float(ic32[ic_ok].max())) / 2.0

    proxy_arr = proxy.array.astype(np.float64)
    av = args.get("runoff_proxy_av")
    mean = float(av) if av not in (None, "") else (
        float(proxy_arr[proxy_ok].astype(np.float32).sum(dtype=np.float64) / proxy_ok.sum())
        if proxy_ok.any() else 0.0)
    rpi = proxy_arr if mean == 0 else proxy_arr / mean
    codes = lulc.array
    stream_ok = stream != rt.STREAM_NODATA
    stream01 = np.where(stream == 1, 1.0, 0.0)
    out: dict[str, tuple[np.ndarray, float]] = {}
    inter: dict[str, tuple[np.ndarray, float]] = {
        "ic_factor": (np.where(ic_ok, ic32, IC_NODATA), IC_NODATA),
        "d_dn": (d_dn, rt.DIST_NODATA),
        "dist_to_channel": (dist_ch, rt.DIST_NODATA),
        "d_up": (np.where(fa_ok, d_up, TARGET_NODATA), TARGET_NODATA),
        "runoff_proxy_index": (np.where(proxy_ok, rpi, MAP_NODATA), MAP_NODATA),
    }
    fields: dict[str, tuple[np.ndarray, float]] = {}
    load_ok = lulc_ok & proxy_ok
    for x in nutrients:
        load = _lookup(table, f"load_{x}", codes, lulc_ok)
        eff_tab = _lookup(table, f"eff_{x}", codes, lulc_ok)
        app = table[f"load_type_{x}"].astype(str).str.lower() == "application-rate"
        if app.any():  # application-rate loads are reduced by (1 − eff) [V]
            factor = (1 - table[f"eff_{x}"].astype(float)).where(app, 1.0)
            load = load * _lookup(factor.to_frame("f"), "f", codes, lulc_ok)
        mod_load = load * rpi
        if x == "n":
            prop = _lookup(table, "proportion_subsurface_n", codes, lulc_ok)
            surface_load = mod_load * (1 - prop)
            sub_load = mod_load * prop
        else:
            surface_load = mod_load
        er_ok = lulc_ok & stream_ok
        eff = np.where(er_ok, eff_tab * (1 - stream01), 0.0)
        crit = np.where(er_ok, _lookup(table, f"crit_len_{x}", codes, lulc_ok)
                        * (1 - stream01), 0.0)
        eff_r = effective_retention(r.fd, stream, eff.astype(np.float32),
                                    crit.astype(np.float32), er_ok, cell, 256)
        eff_r_ok = eff_r != -1.0
        ndr_ok = eff_r_ok & ic_ok
        ndr = np.where(ndr_ok, (1 - eff_r) / (1 + np.exp((ic_0 - ic32) / k_param)), 0.0)
        exp_ok = ndr_ok & load_ok
        surface_export = np.where(exp_ok, surface_load * ndr, 0.0)
        out[f"{x}_surface_export"] = (np.where(exp_ok, surface_export, TARGET_NODATA),
                                      TARGET_NODATA)
        inter[f"effective_retention_{x}"] = (eff_r, -1.0)
        inter[f"ndr_{x}"] = (np.where(ndr_ok, ndr, TARGET_NODATA), TARGET_NODATA)
        inter[f"surface_load_{x}"] = (np.where(load_ok, surface_load, TARGET_NODATA),
                                      TARGET_NODATA)
        fields[f"{x}_surface_load"] = inter[f"surface_load_{x}"]
        fields[f"{x}_surface_export"] = out[f"{x}_surface_export"]
        if x == "n":
            eff_sub = io.as_float(args["subsurface_eff_n"], "subsurface_eff_n")
            crit_sub = io.as_float(args["subsurface_critical_length_n"],
                                   "subsurface_critical_length_n")
            dist_ok = dist_ch != rt.DIST_NODATA
            sub_ndr = 1 - eff_sub * (1 - np.exp(-5 * dist_ch / crit_sub))
            sub_ok = dist_ok & load_ok
            sub_exp = np.where(sub_ok, sub_load * sub_ndr, 0.0)
            tot_ok = sub_ok & exp_ok
            out["n_subsurface_export"] = (np.where(sub_ok, sub_exp, TARGET_NODATA),
                                          TARGET_NODATA)
            out["n_total_export"] = (np.where(tot_ok, surface_export + sub_exp,
                                              TARGET_NODATA), TARGET_NODATA)
            inter["sub_ndr_n"] = (np.where(dist_ok, sub_ndr, TARGET_NODATA), TARGET_NODATA)
            inter["sub_load_n"] = (np.where(load_ok, sub_load, TARGET_NODATA), TARGET_NODATA)
            fields["n_subsurface_export"] = out["n_subsurface_export"]
            fields["n_total_export"] = out["n_total_export"]
            fields["n_subsurface_load"] = inter["sub_load_n"]

    fd_nd = 0 if algorithm == "mfd" else rt.D8_NODATA
    jobs = [(io.output_path(ws, f"{k}.tif", suffix), a, dem, nd, np.float32)
            for k, (a, nd) in out.items()]
    keep_all = io.as_bool(args.get("write_all_intermediates", False))
    jobs += [(io.output_path(ws, f"intermediate_outputs/{k}.tif", suffix), a, dem, nd,
              np.float32) for k, (a, nd) in inter.items()
             if keep_all or k in KEY_INTERMEDIATES]
    jobs += [] if not keep_all else [
        (io.output_path(ws, "intermediate_outputs/flow_accumulation.tif", suffix), r.fa, dem,
         rt.FA_NODATA, np.float64),
        (io.output_path(ws, "intermediate_outputs/flow_direction.tif", suffix), r.fd_raw, dem,
         fd_nd, None),
    ]
    jobs.append((io.output_path(ws, "intermediate_outputs/stream.tif", suffix), stream, dem,
                 rt.STREAM_NODATA, np.uint8))
    io.write_rasters_parallel(jobs)
    from liangshan.accounting.invest.sdr import watershed_totals

    io.write_vector(watershed_totals(gdf, dem, fields),
                    io.output_path(ws, "watershed_results_ndr.gpkg", suffix))
