"""InVEST 3.20.2-compatible Carbon storage and sequestration, vectorised and in memory.

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
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.accounting.invest import check_args
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


@numba.njit(parallel=True, cache=True, nogil=True)
def _valid_sum(values, nd):
    """Σ of values not close to nd (numpy.isclose tolerances), float64, chunked in parallel."""
    nchunks = 16
    step = (values.size + nchunks - 1) // nchunks
    partial = np.zeros(nchunks)
    tol = 1e-8 + 1e-5 * abs(nd)
    for c in numba.prange(nchunks):
        acc = 0.0
        for i in range(c * step, min((c + 1) * step, values.size)):
            v = np.float64(values[i])
            if abs(v - nd) > tol:
                acc += v
        partial[c] = acc
    return partial.sum()


@numba.njit(parallel=True, cache=True, nogil=True)
def _change_kernel(bas, alt, nd, change):
    """C_alt − C_bas in float32 where both are valid, else nd (raster_map's rule)."""
    tol = 1e-8 + 1e-5 * abs(nd)
    for i in numba.prange(bas.size):
        if abs(np.float64(bas[i]) - nd) > tol and abs(np.float64(alt[i]) - nd) > tol:
            change[i] = alt[i] - bas[i]
        else:
            change[i] = nd


def _summary_total(array: np.ndarray, nodata: float, pixel_area: float) -> float:
    """Σ valid pixels (Mg C/ha) · pixel area (m²) / 10 000 = Mg C."""
    return float(_valid_sum(array.ravel(), float(nodata))) * pixel_area / 10_000.0


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
    density = carbon_density_lookup(pools)
    paths = {"bas": args["lulc_bas_path"]}
    if calc_seq and args.get("lulc_alt_path"):
        paths["alt"] = args["lulc_alt_path"]
    lulc = iio.read_rasters_parallel({k: v for k, v in paths.items()})
    if "alt" in lulc:
        b, a = lulc["bas"], lulc["alt"]
        if b.shape != a.shape or tuple(map(abs, b.pixel_size)) != tuple(map(abs, a.pixel_size)):
            raise InvalidInput(
                f"lulc_bas_path and lulc_alt_path differ: raster size {b.shape[::-1]} vs "
                f"{a.shape[::-1]}, pixel size {b.pixel_size} vs {a.pixel_size}",
                hint="resample the alternate LULC onto the baseline grid")

    storage: dict[str, np.ndarray] = {}
    for scen, r in lulc.items():
        storage[scen] = iio.reclassify(
            r.array, r.nodata, density, CARBON_NODATA, label=f"lulc_{scen}_path",
            table_label="carbon_pools_path")
    grid = lulc["bas"]
    jobs = [(iio.output_path(ws, f"c_storage_{s}.tif", suffix), arr, lulc[s], CARBON_NODATA)
            for s, arr in storage.items()]
    rows = [("Baseline Carbon Storage", "c_storage_bas", storage["bas"], CARBON_NODATA,
             "metric_ton")]
    if "alt" in storage:
        change = np.empty(grid.shape, dtype=np.float32)
        _change_kernel(storage["bas"].ravel(), storage["alt"].ravel(), CARBON_NODATA,
                       change.ravel())
        jobs.append((iio.output_path(ws, "c_change_bas_alt.tif", suffix), change, grid,
                     CARBON_NODATA))
        rows += [("Alternate Carbon Storage", "c_storage_alt", storage["alt"], CARBON_NODATA,
                  "metric_ton"),
                 ("Change in Carbon Storage", "c_change_bas_alt", change, CARBON_NODATA,
                  "metric_ton")]
        if const is not None:
            npv = np.full(grid.shape, NPV_NODATA, dtype=np.float32)
            ok_c = ~iio.nodata_mask(change, CARBON_NODATA)
            np.multiply(change, np.float32(const), out=npv, where=ok_c)
            jobs.append((iio.output_path(ws, "npv_alt.tif", suffix), npv, grid, NPV_NODATA))
            rows.append(("Net Present Value of Carbon Change", "npv_alt", npv, NPV_NODATA,
                         "currency"))
    iio.write_rasters_parallel(jobs)

    summary = pd.DataFrame(
        [{"Raster": label,
          "Total": _summary_total(arr, nd, grid.pixel_area),
          "Units": units,
          "Filename": f"{stem}{suffix}.tif"} for label, stem, arr, nd, units in rows])
    iio.write_csv(iio.output_path(ws, "raster_values_summary.csv", suffix), summary)
