"""InVEST 3.20.2-compatible Carbon storage and sequestration, streamed strip by strip.

Method [V] (natcap.invest 3.20.2 ``carbon/carbon.py``, INVEST_NOTES §3.2)::

    C_pixel  = c_above + c_below + c_soil + c_dead          Mg C/ha, looked up by lucode
    c_change = C_alt − C_bas                                Mg C/ha
    total    = Σ valid pixels · pixel area / 10 000         Mg C
    npv      = c_change · (price / n) · Σ_{t=0}^{n−1} [1/((1 + r/100)(1 + c/100))]^t,
               n = lulc_alt_year − lulc_bas_year            currency/ha

Like InVEST, the four pools are rounded to float32 before being added in the order above,
so storage rasters match InVEST bit for bit. Outputs (``results_suffix`` appended):
``c_storage_bas.tif``, ``c_storage_alt.tif``, ``c_change_bas_alt.tif`` (float32, nodata −1),
``npv_alt.tif`` (float32, nodata float32 max) and ``raster_values_summary.csv``. The per-pool
intermediate rasters InVEST writes (``intermediate_outputs/c_*_bas.tif``) are not written.
Baseline and alternate LULC must share pixel size and raster size (InVEST's rule).
One fused kernel per 256-row strip looks up storage, takes the change and NPV and adds the
summary sums (float64); strips are read, computed and written in turn
(``stream.run_strips``), so memory does not grow with the raster.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.accounting.invest import check_args, stream
from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

CARBON_NODATA = -1.0
NPV_NODATA = float(np.finfo(np.float32).max)  # pygeoprocessing.choose_nodata(float32) [V]
POOLS = ("c_above", "c_below", "c_soil", "c_dead")

__all__ = ["carbon_density_lookup", "execute", "valuation_constant"]


def valuation_constant(
    lulc_bas_year: int, lulc_alt_year: int, discount_rate: float, rate_change: float,
    price_per_metric_ton_of_c: float,
) -> float:
    """NPV per Mg C of change (currency/Mg C); rates are percentages per year.

    (price/n)·Σ_{t=0}^{n−1} ratio^t with ratio = 1/((1+d/100)(1+c/100)), n the year span;
    the geometric sum is n when ratio is 1 (InVEST ``_calculate_valuation_constant`` [V]).
    """
    n = lulc_alt_year - lulc_bas_year
    if n <= 0:
        raise InvalidInput(
            f"lulc_alt_year ({lulc_alt_year}) must be greater than lulc_bas_year "
            f"({lulc_bas_year})", hint="the alternate scenario must come after the baseline")
    ratio = 1.0 / ((1.0 + discount_rate / 100.0) * (1.0 + rate_change / 100.0))
    geometric = float(n) if ratio == 1 else (1.0 - ratio**n) / (1.0 - ratio)
    return price_per_metric_ton_of_c / n * geometric


def carbon_density_lookup(pools: pd.DataFrame) -> dict[int, float]:
    """lucode → total carbon density (Mg C/ha), summed in float32 in InVEST's pool order."""
    total = np.zeros(len(pools), dtype=np.float32)
    for col in POOLS:
        total = total + pools[col].to_numpy(dtype=np.float64).astype(np.float32)
    return {int(k): float(v) for k, v in zip(pools.index, total, strict=True)}


@numba.njit(cache=True, nogil=True, inline="always")
def _storage_at(code, code_nd, has_nd, lo, known, density, nd):
    """(storage [Mg C/ha], 1 if the code is valid but not in the table else 0) of one pixel;
    ``nd`` for LULC nodata and for unknown codes."""
    if has_nd and code == code_nd:
        return nd, 0
    k = np.int64(code) - lo
    if k < 0 or k >= known.size or not known[k]:
        return nd, 1
    return density[k], 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _carbon_kernel(bas, b_nd, b_has, alt, a_nd, a_has, has_alt, lo, known, density, const,
                   has_npv, s_bas, s_alt, change, npv, totals):
    """One strip: storage by table look-up (Mg C/ha, −1 for LULC nodata), change where both
    are valid (raster_map's rule), NPV = change · constant, and the float64 sums of the valid
    pixels of each output added to ``totals`` [bas, alt, change, npv]. Returns the number of
    valid codes missing from the table."""
    missing = 0
    t_bas = 0.0
    t_alt = 0.0
    t_chg = 0.0
    t_npv = 0.0
    nd = np.float32(CARBON_NODATA)
    tol = 1e-8 + 1e-5 * abs(CARBON_NODATA)
    for i in numba.prange(bas.size):
        vb, miss = _storage_at(bas[i], b_nd, b_has, lo, known, density, nd)
        missing += miss
        s_bas[i] = vb
        ok_b = abs(np.float64(vb) - CARBON_NODATA) > tol
        if ok_b:
            t_bas += np.float64(vb)
        if not has_alt:
            continue
        va, miss = _storage_at(alt[i], a_nd, a_has, lo, known, density, nd)
        missing += miss
        s_alt[i] = va
        ok_a = abs(np.float64(va) - CARBON_NODATA) > tol
        if ok_a:
            t_alt += np.float64(va)
        if ok_a and ok_b:
            d = va - vb
            change[i] = d
            if abs(np.float64(d) - CARBON_NODATA) > tol:
                t_chg += np.float64(d)
                if has_npv:
                    p = d * const
                    npv[i] = p
                    t_npv += np.float64(p)
            elif has_npv:
                npv[i] = np.float32(NPV_NODATA)
        else:
            change[i] = nd
            if has_npv:
                npv[i] = np.float32(NPV_NODATA)
    totals[0] += t_bas
    totals[1] += t_alt
    totals[2] += t_chg
    totals[3] += t_npv
    return missing


def execute(args: dict[str, Any]) -> None:
    """Run Carbon with InVEST 3.20.2's ``args`` and outputs (see module docstring).

    Units: pools table in Mg C/ha; rasters in Mg C/ha; summary totals in Mg C (t);
    ``price_per_metric_ton_of_c`` in currency/Mg C; ``discount_rate``/``rate_change`` in %/yr.
    """
    check_args("carbon", args)
    ws = args["workspace_dir"]
    suffix = iio.normalize_suffix(args.get("results_suffix"))
    calc_seq = iio.as_bool(args.get("calc_sequestration"))
    do_val = iio.as_bool(args.get("do_valuation"))
    if do_val and not calc_seq:
        raise InvalidInput("carbon: do_valuation needs calc_sequestration and lulc_alt_path")

    const = None
    if do_val:
        const = valuation_constant(
            int(iio.as_float(args["lulc_bas_year"], "lulc_bas_year")),
            int(iio.as_float(args["lulc_alt_year"], "lulc_alt_year")),
            iio.as_float(args["discount_rate"], "discount_rate"),
            iio.as_float(args["rate_change"], "rate_change"),
            iio.as_float(args["price_per_metric_ton_of_c"], "price_per_metric_ton_of_c"),
        )

    pools = iio.read_table(args["carbon_pools_path"], "lucode", POOLS, label="carbon_pools_path")
    table = stream.CodeTable([carbon_density_lookup(pools)])
    paths = {"bas": args["lulc_bas_path"]}
    if calc_seq and args.get("lulc_alt_path"):
        paths["alt"] = args["lulc_alt_path"]
    specs = {k: stream.raster_spec(p, label=f"lulc_{k}_path") for k, p in paths.items()}
    grid = specs["bas"]
    if "alt" in specs:
        b, a = specs["bas"], specs["alt"]
        if b.shape != a.shape or tuple(map(abs, b.pixel_size)) != tuple(map(abs, a.pixel_size)):
            raise InvalidInput(
                f"lulc_bas_path and lulc_alt_path differ: raster size {b.shape[::-1]} vs "
                f"{a.shape[::-1]}, pixel size {b.pixel_size} vs {a.pixel_size}",
                hint="resample the alternate LULC onto the baseline grid")
    has_alt = "alt" in specs
    has_npv = has_alt and const is not None
    outputs = [("c_storage_bas", CARBON_NODATA)]
    if has_alt:
        outputs += [("c_storage_alt", CARBON_NODATA), ("c_change_bas_alt", CARBON_NODATA)]
    if has_npv:
        outputs.append(("npv_alt", NPV_NODATA))
    totals = np.zeros(4)

    with stream.small_gdal_cache():
        # InVEST stacks the two maps pixel by pixel (same size, no alignment): each is read
        # on its own grid
        readers = [stream.GridReader(paths[k], specs[k], label=f"lulc_{k}_path")
                   for k in paths]
        writers = [stream.GridWriter(iio.output_path(ws, f"{stem}.tif", suffix), specs["bas"]
                                     if stem != "c_storage_alt" else specs["alt"],
                                     np.float32, nd) for stem, nd in outputs]
        nodatas = [r.nodata for r in readers]

        def compute(r0: int, r1: int, arrays: list[np.ndarray]) -> list[np.ndarray]:
            codes = [table.kernel_codes(np.ascontiguousarray(a).ravel(), nd)
                     for a, nd in zip(arrays, nodatas, strict=True)]
            (bas, b_nd, b_has), (alt, a_nd, a_has) = codes[0], codes[-1]
            o = [np.empty(arrays[0].shape, dtype=np.float32) for _ in range(4)]
            missing = _carbon_kernel(
                bas, b_nd, b_has, alt, a_nd, a_has, has_alt, table.lo, table.known,
                table.lut[0], np.float32(const or 0.0), has_npv, o[0].ravel(), o[1].ravel(),
                o[2].ravel(), o[3].ravel(), totals)
            if missing:
                for key, arr, nd in zip(paths, arrays, nodatas, strict=True):
                    table.check(arr, nd, f"lulc_{key}_path", "carbon_pools_path")
            return o[:len(outputs)]

        stream.run_strips(readers, writers, compute, grid.shape[0])

    labels = {"c_storage_bas": ("Baseline Carbon Storage", 0, "metric_ton"),
              "c_storage_alt": ("Alternate Carbon Storage", 1, "metric_ton"),
              "c_change_bas_alt": ("Change in Carbon Storage", 2, "metric_ton"),
              "npv_alt": ("Net Present Value of Carbon Change", 3, "currency")}
    order = ["c_storage_bas", "c_storage_alt", "c_change_bas_alt", "npv_alt"]
    done = {stem for stem, _ in outputs}
    summary = pd.DataFrame(
        [{"Raster": labels[stem][0],
          # Σ valid pixels (Mg C/ha or currency/ha) · pixel area (m²) / 10 000
          "Total": float(totals[labels[stem][1]]) * grid.pixel_area / 10_000.0,
          "Units": labels[stem][2],
          "Filename": f"{stem}{suffix}.tif"} for stem in order if stem in done])
    iio.write_csv(iio.output_path(ws, "raster_values_summary.csv", suffix), summary)
