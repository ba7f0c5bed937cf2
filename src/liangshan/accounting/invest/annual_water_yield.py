"""InVEST 3.20.2-compatible Annual Water Yield (Budyko/Fu–Zhang), streamed strip by strip.

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
Intermediate rasters (aligned inputs, kc, pet …) are not written. The inputs are read, the
one fused kernel run, the outputs written and the watershed sums accumulated 256 rows at a
time (``stream.run_strips``), so memory does not grow with the raster; misaligned inputs
are warped per strip ('near', as InVEST). Inputs must share one projected CRS (InVEST does
not reproject either).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.accounting.invest import check_args, stream
from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

OUT_NODATA = -1.0

__all__ = ["execute", "fractp_op"]


@numba.njit(inline="always")
def _is_nd(x, nd, has):
    return has and abs(np.float64(x) - nd) <= 1e-8 + 1e-5 * abs(nd)


@numba.njit(parallel=True, cache=True, nogil=True)
def _awy_kernel(codes, c_nd, c_has, lo, known, lut, eto, eto_nd, eto_has, precip, p_nd,
                p_has, soil, s_nd, s_has, pawc, w_nd, w_has, z, fractp, aet, wyield, pet):
    """One pass: Kc, root depth and veg looked up by LULC code (``lut`` rows), validity
    (InVEST's fractp_op rules), fractp, aet, wyield and PET. Returns the number of valid
    codes missing from the table (their pixels are −1)."""
    missing = 0
    for i in numba.prange(codes.size):
        kc = root = veg = np.float32(-1.0)  # reclassify's nodata for LULC nodata
        if not _is_nd(codes[i], c_nd, c_has):
            k = np.int64(codes[i]) - lo
            if k < 0 or k >= known.size or not known[k]:
                missing += 1
            else:
                kc, root, veg = lut[0, k], lut[1, k], lut[2, k]
        kc_ok = not _is_nd(kc, -1.0, True)
        eto_ok = not _is_nd(eto[i], eto_nd, eto_has)
        pet[i] = np.float32(eto[i]) * kc if (kc_ok and eto_ok) else -1.0
        ok = (kc_ok and eto_ok and not _is_nd(root, -1.0, True)
              and not _is_nd(veg, -1.0, True) and abs(np.float64(precip[i])) > 1e-8
              and not _is_nd(precip[i], p_nd, p_has) and not _is_nd(soil[i], s_nd, s_has)
              and not _is_nd(pawc[i], w_nd, w_has))
        if not ok:
            fractp[i] = -1.0
            aet[i] = -1.0
            wyield[i] = -1.0
            continue
        # float32 maths throughout, like InVEST's fractp_op on float32 rasters
        p = np.float32(precip[i])
        pet_i = kc * np.float32(eto[i])
        phi = pet_i / p
        if veg == 1.0:
            s = np.float32(soil[i])
            awc = (root if root < s else s) * np.float32(pawc[i])
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
        aet[i] = f32 * p
        wyield[i] = (np.float32(1.0) - f32) * p
    return missing


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
    k, e, p, r, s, w, v = flat
    # every pixel is its own "class": code i looks up kc[i], root[i], veg[i]
    codes = np.arange(k.size)
    lut = np.stack([k, r, v]).astype(np.float32)
    out = [np.empty(k.size, dtype=np.float32) for _ in range(4)]
    _awy_kernel(codes, 0.0, False, 0, np.ones(k.size, np.bool_), lut, e, 0.0, False, p, 0.0,
                False, s, 0.0, False, w, 0.0, False, float(seasonality_constant), *out)
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


def _read_sheds(ws_path: str, id_field: str) -> tuple[Any, str]:
    """The (sub)watershed vector and its id column (matched case-insensitively like OGR's
    GetField; field names keep their case in the output, as InVEST's copy does)."""
    gdf = iio.read_vector(ws_path, label=id_field, lower=False)
    id_col = next((c for c in gdf.columns if str(c).lower() == id_field), None)
    if id_col is None:
        raise InvalidInput(
            f"vector {ws_path} lacks the field {id_field!r}; it has {list(gdf.columns)}",
            hint=f"add an integer {id_field} field identifying each polygon",
        )
    return gdf, id_col


def _aggregate(
    gdf: Any,
    id_col: str,
    stats: list[dict[str, float]],
    has_demand: bool,
    valuation: pd.DataFrame | None,
) -> Any:
    """InVEST's watershed fields added to a copy of the (sub)watershed vector, from the
    per-polygon sums and counts of precip, pet, aet, wyield (and demand)."""
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
    if has_demand:
        out["consum_vol"] = [s["demand_sum"] if s["demand_count"] > 0 else None for s in stats]
        out["consum_mn"] = mean("demand")
        ok = out["wyield_mn"].notna() & out["consum_mn"].notna()
        out["rsupply_vl"] = np.where(ok, out["wyield_vol"] - out["consum_vol"], np.nan)
        out["rsupply_mn"] = np.where(ok, out["wyield_mn"] - out["consum_mn"], np.nan)
    if valuation is not None and id_col.lower() == "ws_id":
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
    specs = [stream.raster_spec(args[k], label=k) for k in names]
    if len({sp.crs for sp in specs if sp.crs}) > 1:
        raise InvalidInput(
            "the input rasters of annual_water_yield are in different coordinate systems",
            hint="reproject them to one projected CRS (InVEST does not reproject either)",
        )
    import pyogrio

    ws_bbox = tuple(pyogrio.read_info(args["watersheds_path"])["total_bounds"])
    grid = stream.intersection_grid(specs, 4, [ws_bbox])

    kc_d, root_d, veg_d = _bio_lookups(bio)
    table = stream.CodeTable([kc_d, root_d, veg_d])
    demand_table_lut = None
    if demand_table is not None:
        demand_table_lut = {int(k): float(v) for k, v in demand_table["demand"].items()}

    sheds = [("watersheds_path", "ws_id", "watershed_results_wyield")]
    if args.get("sub_watersheds_path"):
        sheds.append(("sub_watersheds_path", "subws_id", "subwatershed_results_wyield"))
    stat_names = ["precip", "pet", "aet", "wyield"] + (["demand"] if demand_table is not None else [])
    vectors = [_read_sheds(args[arg], id_field) for arg, id_field, _ in sheds]
    zones = [stream.ZoneSums(list(gdf.geometry), grid, stat_names) for gdf, _ in vectors]

    with stream.small_gdal_cache():
        readers = [stream.GridReader(args[k], grid, label=k) for k in names]
        eto_r, precip_r, soil_r, pawc_r, lulc_r = readers
        outputs = ["output/per_pixel/fractp.tif", "output/per_pixel/aet.tif",
                   "output/per_pixel/wyield.tif"]
        if demand_table_lut is not None:
            outputs.append("intermediate/demand.tif")
        writers = [stream.GridWriter(iio.output_path(ws, rel, suffix), grid, np.float32,
                                     OUT_NODATA) for rel in outputs]
        eto_nd = stream.nodata_args(eto_r.nodata, eto_r.dtype)[:2]
        p_nd = stream.nodata_args(precip_r.nodata, precip_r.dtype)[:2]
        s_nd = stream.nodata_args(soil_r.nodata, soil_r.dtype)[:2]
        w_nd = stream.nodata_args(pawc_r.nodata, pawc_r.dtype)[:2]

        def compute(r0: int, r1: int, arrays: list[np.ndarray]) -> list[np.ndarray]:
            eto, precip, soil, pawc, lulc = (np.ascontiguousarray(a) for a in arrays)
            codes, c_nd, c_has = table.kernel_codes(lulc, lulc_r.nodata)
            fr, aet, wy, pet = (np.empty(precip.shape, dtype=np.float32) for _ in range(4))
            missing = _awy_kernel(
                codes.ravel(), c_nd, c_has, table.lo, table.known, table.lut, eto.ravel(),
                *eto_nd, precip.ravel(), *p_nd, soil.ravel(), *s_nd, pawc.ravel(), *w_nd, z,
                fr.ravel(), aet.ravel(), wy.ravel(), pet.ravel())
            if missing:
                raise table.missing(lulc, lulc_r.nodata, "lulc_path", "biophysical_table_path")
            values = {"precip": (precip, precip_r.nodata), "pet": (pet, OUT_NODATA),
                      "aet": (aet, OUT_NODATA), "wyield": (wy, OUT_NODATA)}
            outs = [fr, aet, wy]
            if demand_table_lut is not None:
                demand = iio.reclassify(lulc, lulc_r.nodata, demand_table_lut, OUT_NODATA,
                                        label="lulc_path", table_label="demand_table_path")
                values["demand"] = (demand, OUT_NODATA)
                outs.append(demand)
            for z_sums in zones:
                z_sums.add(r0, r1, values)
            return outs

        stream.run_strips(readers, writers, compute, grid.shape[0])

    for (gdf, id_col), z_sums, (_, _, stem) in zip(vectors, zones, sheds, strict=True):
        out = _aggregate(gdf, id_col, z_sums.rows(), demand_table is not None, valuation)
        iio.write_vector(out, iio.output_path(ws, f"output/{stem}.shp", suffix))
        table_out = pd.DataFrame(out.drop(columns=out.geometry.name))
        iio.write_csv(iio.output_path(ws, f"output/{stem}.csv", suffix), table_out)
