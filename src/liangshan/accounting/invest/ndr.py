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

Memory: each whole-grid array lives only while a later step needs it (outputs are
summed per watershed, handed to the background writer and dropped); the nutrient maps
are read from the LULC code table per pixel instead of being stored.

Units: loads [kg/ha/yr], exports [kg/ha/yr per pixel], watershed totals [kg/yr]
(Σ pixel × pixel_area/10⁴), critical lengths [m], retention efficiencies [–].
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
from liangshan.errors import InvalidInput

LOGGER = logging.getLogger(__name__)

TARGET_NODATA = -1.0  # ndr.py _TARGET_NODATA [V]
IC_NODATA = float(np.finfo(np.float32).min)
MAP_NODATA = float(np.finfo(np.float32).max)
# intermediate rasters written with intermediate_outputs='key'; 'all' adds InVEST's others
KEY_INTERMEDIATES = {"effective_retention_n", "effective_retention_p", "ndr_n", "ndr_p",
                     "ic_factor"}
# watershed_results_ndr fields, in InVEST's order
FIELDS = {"n": ["n_surface_load", "n_surface_export", "n_subsurface_export", "n_total_export",
                "n_subsurface_load"],
          "p": ["p_surface_load", "p_surface_export"]}
# rows of the per-nutrient LULC table
LOAD, EFF, CRIT, PROP = range(4)


def effective_retention(fd, stream, eff, crit_len, valid, cell, block):
    """Effective retention eff' to the stream (InVEST ``retention.h`` semantics [V]).

    ``fd`` packed MFD int32 (D8 as one nibble), ``stream`` uint8, ``eff`` [–] and
    ``crit_len`` [m] per-pixel float arrays, ``valid`` bool (eff and crit_len defined),
    ``cell`` pixel size [m]. Per pixel i and downslope neighbour j (INVEST_NOTES §3.4):
    f = exp(−5·step/crit_len_i) with step = cell or cell·√2;
    r_ij = eff_i(1−f) if eff'_j = 0, eff'_j·f + eff_i(1−f) if eff_i > eff'_j, else eff'_j;
    eff'_i = Σ q_ij r_ij / Σ_all q_ij (off-raster and not-yet-computed neighbours add
    weight but no retention). Streams are 0. Returns float32, nodata −1.

    The model itself calls :func:`_retention` with LULC codes and the class table, so no
    per-pixel eff/crit_len arrays exist; here each pixel is its own class.
    """
    n = fd.size
    codes = np.arange(n, dtype=np.int64).reshape(fd.shape)
    lut = np.stack([np.zeros(n), np.ravel(eff), np.ravel(crit_len)]).astype(np.float64)
    return _retention(fd, stream, codes, valid, lut, 0, 1, 2, float(cell), int(block),
                      rc.index_stack(n))


@njit(cache=True, nogil=True)
def _retention(fd, stream, codes, ok, lut, lo, eff_row, crit_row, cell, block, stack):
    """Effective retention with eff_i = ``lut[eff_row, codes_i − lo]`` and crit_len_i
    likewise, defined where ``ok`` and the stream raster are.

    Pixels are visited like InVEST: ``block``×``block`` tiles in row-major order seed
    the pixels with a downslope neighbour off the grid or without flow; a pixel is pushed
    on the LIFO ``stack`` once all its downslope neighbours are done (``todo`` holds the
    bit mask of those still pending)."""
    nr, nc = fd.shape
    out = np.full((nr, nc), -1.0, dtype=np.float32)
    todo = np.zeros((nr, nc), dtype=np.uint8)
    for r in range(nr):
        for c in range(nc):
            m = 0
            for k in range(8):
                if rc.weight_to(fd, r, c, k):
                    m |= 1 << k
            todo[r, c] = m
    top = 0
    sqrt2 = np.sqrt(2.0)
    # the decay f = exp(−5·step/crit_len) depends only on the class and the step, so it is
    # evaluated once per class and step instead of once per downslope neighbour
    ncls = lut.shape[1]
    f_card = np.zeros(ncls)
    f_diag = np.zeros(ncls)
    for j in range(ncls):
        cl = np.float32(lut[crit_row, j])
        if cl > 0:
            f_card[j] = np.exp(-5.0 * cell / cl)
            f_diag[j] = np.exp(-5.0 * (cell * sqrt2) / cl)
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
                            if not rc.on_grid(rr, cc, nr, nc) or todo[rr, cc] == 0:
                                seed = True
                                dirs &= ~bit
                    if seed:
                        todo[r0, c0] = dirs
                        stack[top] = r0 * nc + c0
                        top += 1
            while top > 0:
                top -= 1
                i = np.int64(stack[top])
                r = i // nc
                c = i % nc
                v = fd[r, c]
                if stream[r, c] == 1:
                    out[r, c] = 0.0
                elif not ok[r, c] or stream[r, c] == rt.STREAM_NODATA or v == 0:
                    out[r, c] = -1.0
                else:
                    j_cls = np.int64(codes[r, c]) - lo
                    ei = np.float32(rc.lut_at(lut, eff_row, lo, codes[r, c]))
                    acc = 0.0
                    qsum = 0
                    for k in range(8):
                        q = rc.weight_to(fd, r, c, k)
                        if q == 0:
                            continue
                        qsum += q
                        rr = r + ROW[k]
                        cc = c + COL[k]
                        if not rc.on_grid(rr, cc, nr, nc):
                            continue
                        rj = out[rr, cc]
                        if rj == -1.0:
                            continue
                        f = f_diag[j_cls] if k & 1 else f_card[j_cls]
                        if rj == 0.0:
                            inter = ei * (1.0 - f)
                        elif ei > rj:
                            inter = rj * f + ei * (1.0 - f)
                        else:
                            inter = rj
                        acc += inter * q
                    out[r, c] = acc / qsum
                for k in range(8):
                    kk = (k + 4) % 8
                    if rc.weight_from(fd, r, c, k) == 0:
                        continue
                    rr = r + ROW[k]
                    cc = c + COL[k]
                    d = np.int64(todo[rr, cc])
                    if d == 0 or d & (1 << kk) == 0:
                        continue
                    d &= ~(1 << kk)
                    todo[rr, cc] = d
                    if d == 0:
                        stack[top] = rr * nc + cc
                        top += 1
    return out


@njit(cache=True, nogil=True, parallel=True)
def _slope_weight(valid, slope):
    """S_th = clip(slope/100, 0.005, 1) where valid, else 0, as a (1, rows, cols) float64
    accumulation weight."""
    nr, nc = valid.shape
    out = np.zeros((1, nr, nc))
    for r in prange(nr):
        for c in range(nc):
            if valid[r, c]:
                out[0, r, c] = min(max(slope[r, c] / 100.0, 0.005), 1.0)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _upslope(fa, fa_s, s_w, cell):
    """D_up = S̄·sqrt(FA·cell²) [m] (float32, nodata −1); turns ``s_w`` into the d_dn
    weight 1/S_th in place (0 stays 0)."""
    nr, nc = fa.shape
    d_up = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            f = fa[r, c]
            if f != rt.FA_NODATA:
                d_up[r, c] = (fa_s[r, c] / f) * np.sqrt(f * cell * cell)
            if s_w[r, c] != 0:
                s_w[r, c] = 1.0 / s_w[r, c]
    return d_up


@njit(cache=True, nogil=True, parallel=True)
def _ic(fd, d_up, d_dn):
    """IC = log10(D_up/D_dn) (float32, nodata float32 min) where both are defined and ≠ 0
    (and the pixel has a flow direction, i.e. a flow accumulation)."""
    nr, nc = fd.shape
    ic = np.full((nr, nc), IC_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            du = d_up[r, c]
            dd = d_dn[r, c]
            if fd[r, c] == 0 or du == TARGET_NODATA or du == 0:
                continue
            if dd == rt.DIST_NODATA or dd == 0:
                continue
            ic[r, c] = np.log10(du / dd)
    return ic


@njit(cache=True, nogil=True, parallel=True)
def _runoff_index(proxy, ok, mean):
    """Runoff proxy / its mean (float32, nodata float32 max)."""
    nr, nc = proxy.shape
    out = np.full((nr, nc), MAP_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            if ok[r, c]:
                out[r, c] = proxy[r, c] if mean == 0 else proxy[r, c] / mean
    return out


@njit(cache=True, nogil=True, parallel=True)
def _load(codes, lulc_ok, rpi, lut, lo, subsurface):
    """Surface (or subsurface) load [kg/ha/yr], float32, −1 nodata: the modified load
    load·RPI (float32) times 1 − proportion_subsurface (or the proportion)."""
    nr, nc = codes.shape
    out = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            if not lulc_ok[r, c] or rpi[r, c] == MAP_NODATA:
                continue
            code = codes[r, c]
            mod = np.float32(np.float32(rc.lut_at(lut, LOAD, lo, code)) * rpi[r, c])
            prop = rc.lut_at(lut, PROP, lo, code)
            out[r, c] = mod * prop if subsurface else mod * (1 - prop)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _surface_export(eff_r, ic, ic_0, k, surface_load):
    """NDR = (1 − eff')/(1 + exp((IC0 − IC)/k)) and surface export = load·NDR (float32)."""
    nr, nc = ic.shape
    ndr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    exp_ = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            e = eff_r[r, c]
            if e == -1.0 or ic[r, c] == IC_NODATA:
                continue
            v = np.float32((1 - e) / (1 + np.exp((ic_0 - ic[r, c]) / k)))
            ndr[r, c] = v
            if surface_load[r, c] != TARGET_NODATA:
                exp_[r, c] = surface_load[r, c] * v
    return ndr, exp_


@njit(cache=True, nogil=True, parallel=True)
def _subsurface_ndr(dist, eff_sub, crit_sub):
    """subNDR = 1 − eff_sub(1 − exp(−5·l/ℓ)) with l the flow distance to the stream in
    **pixels** and ℓ in metres, as coded [V] (float32, nodata −1)."""
    nr, nc = dist.shape
    sub_ndr = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            d = dist[r, c]
            if d != rt.DIST_NODATA:
                sub_ndr[r, c] = np.float32(1 - eff_sub * (1 - np.exp(-5 * d / crit_sub)))
    return sub_ndr


@njit(cache=True, nogil=True, parallel=True)
def _subsurface(sub_ndr, sub_load, surface_export):
    """Subsurface export = load·subNDR; total = surface + subsurface where both are
    defined (float32, nodata −1)."""
    nr, nc = sub_ndr.shape
    sub_exp = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    total = np.full((nr, nc), TARGET_NODATA, dtype=np.float32)
    for r in prange(nr):
        for c in range(nc):
            v = sub_ndr[r, c]
            if v == TARGET_NODATA or sub_load[r, c] == TARGET_NODATA:
                continue
            se = sub_load[r, c] * v
            sub_exp[r, c] = se
            if surface_export[r, c] != TARGET_NODATA:
                total[r, c] = surface_export[r, c] + se
    return sub_exp, total


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
    rc.require(args, ["workspace_dir", "dem_path", "lulc_path", "runoff_proxy_path",
                      "watersheds_path", "biophysical_table_path",
                      "threshold_flow_accumulation", "k_param"], "NDR")
    nutrients = [x for x in ("n", "p") if io.as_bool(args.get(f"calc_{x}", False))]
    if not nutrients:
        raise InvalidInput("NDR: neither calc_n nor calc_p is set",
                           hint="set calc_n and/or calc_p to true")
    if "n" in nutrients:
        rc.require(args, ["subsurface_critical_length_n", "subsurface_eff_n"], "NDR")
    algorithm = rc.parse_algorithm(args)
    level = rc.intermediate_level(args)
    ws = Path(args["workspace_dir"])
    suffix = io.normalize_suffix(args.get("results_suffix"))
    tfa = io.as_float(args["threshold_flow_accumulation"], "threshold_flow_accumulation")
    k_param = io.as_float(args["k_param"], "k_param")
    columns = _nutrient_columns(args, nutrients)

    keys = ["dem_path", "lulc_path", "runoff_proxy_path"]
    read = io.read_rasters_parallel({k: args[k] for k in keys})
    gdf = io.read_vector(args["watersheds_path"], label="watersheds_path")
    dem, lulc, proxy = io.align_to_intersection(
        [read.pop(k) for k in keys], 0, ["near"] * 3, extra_bboxes=[tuple(gdf.total_bounds)])
    grid = rc.grid_of(dem)
    sheds = rc.Watersheds(gdf, grid)
    inside = sheds.union()
    lulc_ok = inside & lulc.valid_mask()
    codes = lulc.array
    # the LULC codes are checked against the table before the (long) routing
    tables = {x: rc.lulc_table(codes, lulc_ok, columns[x]) for x in nutrients}
    proxy_ok = inside & proxy.valid_mask()
    av = args.get("runoff_proxy_av")
    mean = float(av) if av not in (None, "") else (
        float(proxy.array[proxy_ok].astype(np.float32).sum(dtype=np.float64)
              / proxy_ok.sum()) if proxy_ok.any() else 0.0)
    rpi = _runoff_index(proxy.array, proxy_ok, mean)
    del proxy, proxy_ok
    dem_ok = inside & dem.valid_mask()
    del inside

    writer = rc.RasterWriter(grid)
    try:
        out = rc.Outputs(writer, sheds, ws, suffix, level)
        sub = None
        if "n" in nutrients:
            sub = (io.as_float(args["subsurface_eff_n"], "subsurface_eff_n"),
                   io.as_float(args["subsurface_critical_length_n"],
                               "subsurface_critical_length_n"))
        stream, ic, ic_0, sub_ndr, fd = _connectivity(dem, dem_ok, algorithm, tfa, sub, out)
        del dem_ok
        out.raster("intermediate_outputs/runoff_proxy_index", rpi, MAP_NODATA, "all")
        cell = abs(grid.transform[1])
        for x in nutrients:
            lo, lut = tables[x]
            writer.wait()  # the previous nutrient's rasters leave memory before the next walk
            eff_r = _retention(fd, stream, codes, lulc_ok, lut, lo, EFF, CRIT, cell, 256,
                               rc.index_stack(fd.size))
            surface_load = _load(codes, lulc_ok, rpi, lut, lo, False)
            out.field(f"{x}_surface_load", surface_load, TARGET_NODATA)
            ndr, surface_export = _surface_export(eff_r, ic, ic_0, k_param, surface_load)
            del surface_load
            out.raster(f"intermediate_outputs/effective_retention_{x}", eff_r, -1.0, "key")
            out.raster(f"intermediate_outputs/ndr_{x}", ndr, TARGET_NODATA, "key")
            del eff_r, ndr
            out.field(f"{x}_surface_export", surface_export, TARGET_NODATA)
            out.raster(f"{x}_surface_export", surface_export, TARGET_NODATA)
            if x == "n":
                sub_load = _load(codes, lulc_ok, rpi, lut, lo, True)
                out.field("n_subsurface_load", sub_load, TARGET_NODATA)
                sub_exp, total = _subsurface(sub_ndr, sub_load, surface_export)
                out.raster("intermediate_outputs/sub_load_n", sub_load, TARGET_NODATA, "all")
                out.raster("intermediate_outputs/sub_ndr_n", sub_ndr, TARGET_NODATA, "all")
                del sub_load, sub_ndr
                out.field("n_subsurface_export", sub_exp, TARGET_NODATA)
                out.field("n_total_export", total, TARGET_NODATA)
                out.raster("n_subsurface_export", sub_exp, TARGET_NODATA)
                out.raster("n_total_export", total, TARGET_NODATA)
                del sub_exp, total
            if out.wants("all"):
                out.raster(f"intermediate_outputs/surface_load_{x}",
                           _load(codes, lulc_ok, rpi, lut, lo, False), TARGET_NODATA, "all")
            del surface_export
    finally:
        writer.close()
    fields = [f for x in nutrients for f in FIELDS[x]]
    io.write_vector(sheds.frame(fields), io.output_path(ws, "watershed_results_ndr.gpkg",
                                                        suffix))


def _nutrient_columns(args, nutrients) -> dict[str, dict[str, Any]]:
    """Per nutrient, the {code: value} maps of load (reduced by 1 − eff for
    application-rate loads [V]), eff, crit_len and proportion_subsurface (0 for P)."""
    req_cols = []
    for x in nutrients:
        req_cols += [f"load_{x}", f"eff_{x}", f"crit_len_{x}", f"load_type_{x}"]
    if "n" in nutrients:
        req_cols.append("proportion_subsurface_n")
    table = io.read_table(args["biophysical_table_path"], "lucode", req_cols,
                          label="biophysical_table_path")
    out = {}
    for x in nutrients:
        kind = table[f"load_type_{x}"].astype(str).str.lower()
        bad = set(kind) - {"measured-runoff", "application-rate"}
        if bad:
            raise InvalidInput(
                f"biophysical_table_path column load_type_{x} has values {sorted(bad)}",
                hint="use 'measured-runoff' or 'application-rate'")
        load = table[f"load_{x}"].astype(float)
        eff = table[f"eff_{x}"].astype(float)
        load = load * (1 - eff).where(kind == "application-rate", 1.0)
        prop = (table["proportion_subsurface_n"].astype(float) if x == "n" else load * 0.0)
        # order = LOAD, EFF, CRIT, PROP
        out[x] = {f"load_{x}": load.to_dict(), f"eff_{x}": eff.to_dict(),
                  f"crit_len_{x}": table[f"crit_len_{x}"].astype(float).to_dict(),
                  "proportion_subsurface_n": prop.to_dict()}
    return out


def _connectivity(dem, dem_ok, algorithm, tfa, sub, out):
    """Route the DEM; return the stream raster, IC (float32) and IC0, the subsurface NDR
    for ``sub`` = (eff_sub, crit_sub) (None without N) and the flow direction. Every other
    routing array is dropped (or written, for intermediate_outputs='all')."""
    r = rc.route(dem, dem_ok, algorithm)
    s_w = _slope_weight(dem_ok, r.slope)
    r.slope = np.empty((0, 0), dtype=np.float32)
    acc = rc.accumulate(r, s_w)
    stream = rc.streams(r, acc[0], tfa, 1.0)  # ndr.py uses the default trace 1.0 [V]
    s_inv = s_w[0]
    d_up = _upslope(acc[0], acc[1], s_inv, r.cell)
    if out.wants("all"):
        rc.write_routing(out, r, acc[0].copy())
    del acc, s_w
    # two sweeps rather than kernels.routing.distance_to_channel_mfd_pair: the weighted
    # distance, its 1/S weight and D_up are dropped before the unweighted sweep, which
    # lowers NDR's peak by ≈ 50 MiB at 3000² for one more sweep
    d_dn = rc.distance_to_channel(r, stream, s_inv)
    del s_inv
    ic = _ic(r.fd, d_up, d_dn)
    out.raster("intermediate_outputs/d_dn", d_dn, rt.DIST_NODATA, "all")
    out.raster("intermediate_outputs/d_up", d_up, TARGET_NODATA, "all")
    del d_dn, d_up
    sub_ndr = None
    if sub is not None or out.wants("all"):  # only subsurface N uses it
        dist_ch = rc.distance_to_channel(r, stream, None)
        sub_ndr = None if sub is None else _subsurface_ndr(dist_ch, *sub)
        out.raster("intermediate_outputs/dist_to_channel", dist_ch, rt.DIST_NODATA, "all")
        del dist_ch
    ic_min, ic_max = _min_max(ic, IC_NODATA)
    if ic_min > ic_max:
        raise InvalidInput(
            "NDR: no pixel drains to a stream, so the connectivity index is undefined",
            hint="lower threshold_flow_accumulation or check the DEM and watersheds")
    ic_0 = (ic_min + ic_max) / 2.0  # data-dependent IC0 [V]
    out.raster("intermediate_outputs/ic_factor", ic, IC_NODATA, "key")
    out.raster("intermediate_outputs/stream", stream, rt.STREAM_NODATA, "key", np.uint8)
    return stream, ic, ic_0, sub_ndr, r.fd


@njit(cache=True, nogil=True)
def _min_max(a, nodata):
    """(min, max) of ``a`` over values ≠ nodata, as float64; (inf, −inf) if none."""
    lo = np.inf
    hi = -np.inf
    for i in range(a.size):
        v = a.flat[i]
        if v != nodata:
            lo = min(lo, np.float64(v))
            hi = max(hi, np.float64(v))
    return lo, hi
