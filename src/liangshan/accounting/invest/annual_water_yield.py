"""InVEST 3.20.2-compatible Annual Water Yield (Budyko/Fu–Zhang), vectorised and in memory.

Method [V] (natcap.invest 3.20.2 ``annual_water_yield.py``, INVEST_NOTES §3.1)::

    PET  = Kc · ET0                                   mm/yr
    AWC  = min(root_depth, soil_depth) · PAWC         mm
    ω    = min(Z · AWC / P + 1.25, 5)
    veg (lulc_veg == 1):  AET/P = min(PET/P, 1 + PET/P − (1 + (PET/P)^ω)^(1/ω))
    otherwise:            AET/P = min(PET, P) / P
    fractp = AET/P ;  aet = fractp · P ;  wyield = (1 − fractp) · P      mm/yr

A pixel is valid when the LULC code is in the table, P ≠ 0 and ET0, P, depth and PAWC are
not nodata; outputs are −1 elsewhere. Per polygon, ``*_mn`` are means over each raster's
valid pixels (pixel-centre rule) and ``wyield_vol = wyield_mn · polygon area / 1000`` m³/yr:
InVEST extrapolates the mean to the whole polygon (INVEST_NOTES §3.1) and so do we.

Outputs (InVEST names, ``results_suffix`` appended): ``output/per_pixel/{fractp,aet,wyield}.tif``
(float32, nodata −1), ``output/watershed_results_wyield.{shp,csv}`` and, with
``sub_watersheds_path``, ``output/subwatershed_results_wyield.{shp,csv}``.
Intermediate rasters (aligned inputs, kc, pet …) are not written: they live only in memory.
Inputs must share one projected CRS (InVEST does not reproject either).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.accounting.invest import check_args
from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

OUT_NODATA = -1.0

__all__ = ["execute", "fractp_op"]


@numba.njit(inline="always")
def _is_nd(x, nd, has):
    return has and abs(np.float64(x) - nd) <= 1e-8 + 1e-5 * abs(nd)


@numba.njit(parallel=True, cache=True, nogil=True)
def _awy_kernel(kc, eto, eto_nd, eto_has, precip, p_nd, p_has, root, soil, s_nd, s_has,
                pawc, w_nd, w_has, veg, z, fractp, aet, wyield, pet):
    """One pass: validity (InVEST's fractp_op rules), fractp, aet, wyield and PET."""
    for i in numba.prange(kc.size):
        kc_ok = not _is_nd(kc[i], -1.0, True)
        eto_ok = not _is_nd(eto[i], eto_nd, eto_has)
        pet[i] = np.float32(eto[i]) * np.float32(kc[i]) if (kc_ok and eto_ok) else -1.0
        ok = (kc_ok and eto_ok and not _is_nd(root[i], -1.0, True)
              and not _is_nd(veg[i], -1.0, True) and abs(np.float64(precip[i])) > 1e-8
              and not _is_nd(precip[i], p_nd, p_has) and not _is_nd(soil[i], s_nd, s_has)
              and not _is_nd(pawc[i], w_nd, w_has))
        if not ok:
            fractp[i] = -1.0
            aet[i] = -1.0
            wyield[i] = -1.0
            continue
        # float32 maths throughout, like InVEST's fractp_op on float32 rasters
        p = np.float32(precip[i])
        pet_i = np.float32(kc[i]) * np.float32(eto[i])
        phi = pet_i / p
        if veg[i] == 1.0:
            r = np.float32(root[i])
            s = np.float32(soil[i])
            awc = (r if r < s else s) * np.float32(pawc[i])
            w = awc / p * np.float32(z) + np.float32(1.25)
            if w > 5.0:
                w = np.float32(5.0)
            aet_p = (np.float32(1.0) + phi) - (np.float32(1.0) + phi**w) ** (np.float32(1.0) / w)
            res = phi if phi < aet_p else aet_p
        else:
            res = (p if p < pet_i else pet_i) / p
        f32 = np.float32(res)
        fractp[i] = f32
        # InVEST computes these with raster_map on float32 rasters: keep float32 maths.
        aet[i] = f32 * np.float32(precip[i])
        wyield[i] = (np.float32(1.0) - f32) * np.float32(precip[i])


def fractp_op(
    kc: np.ndarray,
    eto: np.ndarray,
    precip: np.ndarray,
    root: np.ndarray,
    soil: np.ndarray,
    pawc: np.ndarray,
    veg: np.ndarray,
    seasonality_constant: float,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """AET/P (dimensionless, float32) per pixel; −1 where ``valid`` is False or P = 0.

    Units: ET0, P, root and soil depth in mm (per year for ET0/P); Kc, PAWC, veg (0/1) and
    Z (``seasonality_constant``) dimensionless.
    """
    shape = np.shape(precip)
    flat = [np.ascontiguousarray(a, dtype=np.float64).ravel()
            for a in (kc, eto, precip, root, soil, pawc, veg)]
    if valid is not None:
        flat[2] = np.where(np.asarray(valid).ravel(), flat[2], 0.0)
    out = [np.empty(flat[0].size, dtype=np.float32) for _ in range(4)]
    k, e, p, r, s, w, v = flat
    _awy_kernel(k, e, 0.0, False, p, 0.0, False, r, s, 0.0, False, w, 0.0, False, v,
                float(seasonality_constant), *out)
    return out[0].reshape(shape)


def _bio_lookups(table: pd.DataFrame) -> tuple[dict, dict, dict]:
    kc: dict[int, float] = {}
    root: dict[int, float] = {}
    veg: dict[int, float] = {}
    for code, row in table.iterrows():
        kc[int(code)] = float(row["kc"])
        veg[int(code)] = float(row["lulc_veg"])
        # InVEST substitutes 1 for non-vegetated classes (the value is never used).
        root[int(code)] = float(row["root_depth"]) if row["lulc_veg"] == 1 else 1.0
    return kc, root, veg


def _aggregate(
    ws_path: str,
    id_field: str,
    grid: iio.Raster,
    rasters: dict[str, iio.Raster],
    demand: iio.Raster | None,
    valuation: pd.DataFrame | None,
) -> Any:
    """Add InVEST's watershed fields to a copy of the (sub)watershed vector."""
    # Field names keep their case in the output, as InVEST's copy does; the id field is
    # matched case-insensitively like OGR's GetField.
    gdf = iio.read_vector(ws_path, label=id_field, lower=False)
    id_col = next((c for c in gdf.columns if str(c).lower() == id_field), None)
    if id_col is None:
        raise InvalidInput(
            f"vector {ws_path} lacks the field {id_field!r}; it has {list(gdf.columns)}",
            hint=f"add an integer {id_field} field identifying each polygon",
        )
    stats_src = dict(rasters)
    if demand is not None:
        stats_src["demand"] = demand
    stats = iio.zonal_stats(stats_src, list(gdf.geometry))
    area = gdf.geometry.area.to_numpy()

    def mean(key: str) -> list[float | None]:
        return [s[f"{key}_sum"] / s[f"{key}_count"] if s[f"{key}_count"] > 0 else None
                for s in stats]

    out = gdf.copy()
    for field, key in (("precip_mn", "precip"), ("PET_mn", "pet"), ("AET_mn", "aet"),
                       ("wyield_mn", "wyield")):
        out[field] = mean(key)
    out["wyield_vol"] = [None if m is None else m * a / 1000.0
                         for m, a in zip(out["wyield_mn"], area, strict=True)]
    if demand is not None:
        out["consum_vol"] = [s["demand_sum"] if s["demand_count"] > 0 else None for s in stats]
        out["consum_mn"] = mean("demand")
        ok = out["wyield_mn"].notna() & out["consum_mn"].notna()
        out["rsupply_vl"] = np.where(ok, out["wyield_vol"] - out["consum_vol"], np.nan)
        out["rsupply_mn"] = np.where(ok, out["wyield_mn"] - out["consum_mn"], np.nan)
    if valuation is not None and id_field == "ws_id":
        energy, npv = [], []
        for ws_id, rs in zip(out[id_col], out["rsupply_vl"], strict=True):
            if rs is None or (isinstance(rs, float) and math.isnan(rs)):
                energy.append(np.nan)
                npv.append(np.nan)
                continue
            v = valuation.loc[ws_id]
            e = v["efficiency"] * v["fraction"] * v["height"] * rs * 0.00272  # kWh/yr
            ratio = 1.0 / (1.0 + v["discount"] / 100.0)
            dsum = 0.0 if ratio == 1 else (1.0 - ratio ** v["time_span"]) / (1.0 - ratio)
            energy.append(e)
            npv.append((v["kw_price"] * e - v["cost"]) * dsum)
        out["hp_energy"] = energy
        out["hp_val"] = npv
    return out


def execute(args: dict[str, Any]) -> None:
    """Run Annual Water Yield with InVEST 3.20.2's ``args`` and outputs (see module docstring).

    Units: precipitation and ET0 rasters in mm/yr, depth in mm, PAWC a fraction, table
    ``root_depth`` in mm, ``kc`` and ``lulc_veg`` dimensionless; outputs in mm/yr and
    m³/yr (``wyield_vol``, ``consum_vol``, ``rsupply_vl``).
    """
    check_args("annual_water_yield", args)
    ws = args["workspace_dir"]
    suffix = iio.normalize_suffix(args.get("results_suffix"))
    z = iio.as_float(args["seasonality_constant"], "seasonality_constant")

    bio = iio.read_table(args["biophysical_table_path"], "lucode",
                         ("lulc_veg", "root_depth", "kc"), label="biophysical_table_path")
    demand_table = None
    if args.get("demand_table_path"):
        demand_table = iio.read_table(args["demand_table_path"], "lucode", ("demand",),
                                      label="demand_table_path")
    valuation = None
    if args.get("valuation_table_path"):
        valuation = iio.read_table(
            args["valuation_table_path"], "ws_id",
            ("efficiency", "fraction", "height", "kw_price", "cost", "time_span", "discount"),
            label="valuation_table_path")
        ws_vec = iio.read_vector(args["watersheds_path"], label="watersheds_path")
        if "ws_id" not in ws_vec.columns:
            raise InvalidInput(f"watersheds_path ({args['watersheds_path']}) lacks field ws_id")
        ws_ids = set(ws_vec["ws_id"].tolist())
        missing = sorted(set(ws_ids) - set(valuation.index))
        if missing:
            raise InvalidInput(
                f"ws_id(s) {missing} of watersheds_path are missing from valuation_table_path",
                hint="add a valuation row for every watershed",
            )

    names = ["eto_path", "precipitation_path", "depth_to_root_rest_layer_path", "pawc_path",
             "lulc_path"]
    raw = iio.read_rasters_parallel({k: args[k] for k in names})
    crs = {raw[k].crs for k in names if raw[k].crs}
    if len(crs) > 1:
        raise InvalidInput(
            "the input rasters of annual_water_yield are in different coordinate systems",
            hint="reproject them to one projected CRS (InVEST does not reproject either)",
        )
    import pyogrio

    ws_bbox = tuple(pyogrio.read_info(args["watersheds_path"])["total_bounds"])
    eto, precip, soil, pawc, lulc = iio.align_to_intersection(
        [raw[k] for k in names], 4, ["near"] * 5, [ws_bbox])

    kc_d, root_d, veg_d = _bio_lookups(bio)
    kc, root, veg = iio.reclassify_many(
        lulc.array, lulc.nodata, [kc_d, root_d, veg_d], OUT_NODATA, label="lulc_path",
        table_label="biophysical_table_path")

    def nd(r: iio.Raster) -> tuple[float, bool]:
        if r.nodata is None or np.isnan(r.nodata):
            return 0.0, False
        return float(r.nodata), True

    shape = lulc.shape
    fr, aet, wy, pet = (np.empty(shape, dtype=np.float32) for _ in range(4))
    _awy_kernel(kc.ravel(), eto.array.ravel(), *nd(eto), precip.array.ravel(), *nd(precip),
                root.ravel(), soil.array.ravel(), *nd(soil), pawc.array.ravel(), *nd(pawc),
                veg.ravel(), z, fr.ravel(), aet.ravel(), wy.ravel(), pet.ravel())

    grid = lulc
    jobs = [
        (iio.output_path(ws, "output/per_pixel/fractp.tif", suffix), fr, grid, OUT_NODATA),
        (iio.output_path(ws, "output/per_pixel/aet.tif", suffix), aet, grid, OUT_NODATA),
        (iio.output_path(ws, "output/per_pixel/wyield.tif", suffix), wy, grid, OUT_NODATA),
    ]
    demand_r = None
    if demand_table is not None:
        dmap = {int(k): float(v) for k, v in demand_table["demand"].items()}
        darr = iio.reclassify(lulc.array, lulc.nodata, dmap, OUT_NODATA, label="lulc_path",
                              table_label="demand_table_path")
        demand_r = iio.Raster(darr, OUT_NODATA, grid.transform, grid.crs)
        jobs.append((iio.output_path(ws, "intermediate/demand.tif", suffix), darr, grid,
                     OUT_NODATA))
    iio.write_rasters_parallel(jobs)

    stats_rasters = {
        "precip": precip,
        "pet": iio.Raster(pet, OUT_NODATA, grid.transform, grid.crs),
        "aet": iio.Raster(aet, OUT_NODATA, grid.transform, grid.crs),
        "wyield": iio.Raster(wy, OUT_NODATA, grid.transform, grid.crs),
    }
    sheds = [("watersheds_path", "ws_id", "watershed_results_wyield")]
    if args.get("sub_watersheds_path"):
        sheds.append(("sub_watersheds_path", "subws_id", "subwatershed_results_wyield"))
    for arg, id_field, stem in sheds:
        out = _aggregate(args[arg], id_field, grid, stats_rasters, demand_r, valuation)
        iio.write_vector(out, iio.output_path(ws, f"output/{stem}.shp", suffix))
        table = pd.DataFrame(out.drop(columns=out.geometry.name))
        iio.write_csv(iio.output_path(ws, f"output/{stem}.csv", suffix), table)
