"""The physical account (实物量核算): regulating services by region × ecosystem type.

:func:`physical_account` runs the GEP-method models of :mod:`liangshan.accounting.models`
per pixel on the study grid (:mod:`liangshan.accounting.grid`) and sums them by region ×
level-3 ecosystem type with one block-wise bincount, using whatever dask scheduler is
current (a ``dask.distributed`` client when one is active). Quantities that rest on a
statistical table (reservoir flood storage, purification capped by emissions) are joined at
region level. Anything that cannot be computed — a missing raster, table or coefficient — is
listed in ``attrs["gaps"]``, never reported as zero. The indicator builders live in
:mod:`liangshan.accounting.physical_terms`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from numba import njit

from liangshan.accounting.coefficients import CoefficientTable, load_coefficients
from liangshan.accounting.grid import StudyGrid, open_grid, write_cog, zonal_stats
from liangshan.accounting.physical_terms import BUILDERS, INDICATORS, Context, Term
from liangshan.errors import InvalidInput

COLUMNS = ("region_code", "ecosystem_code", "indicator", "quantity", "unit", "method")
GDAL_CACHE_BYTES = 256 * 2**20

Progress = Callable[[str, float], None]

__all__ = ["COLUMNS", "INDICATORS", "gaps_frame", "physical_account"]


def physical_account(
    study: Any,
    year: int,
    *,
    indicators: Sequence[str] | None = None,
    maps_dir: Path | None = None,
    progress: Progress | None = None,
    coefficients: CoefficientTable | str | Path | None = None,
    hot_days: float | None = None,
    lake_region: str | None = None,
    l_max: float | None = None,
    resolution_m: float | None = None,
    chunk: int = 1024,
    grid: StudyGrid | None = None,
) -> pd.DataFrame:
    """Physical account of the regulating services of a study area for one year.

    Parameters
    ----------
    study : a ``liangshan.datasets.study.StudyArea`` (or any object with ``zones``,
        ``raster_path(name, year=None)``, ``table(name)`` and ``crs``).
    year : accounting year (per-year layers and table rows of this year are used).
    indicators : subset of :data:`INDICATORS` (default: all).
    maps_dir : if given, one Cloud-Optimised GeoTIFF per indicator,
        ``<indicator>_<year>.tif``, with the per-pixel quantity in the indicator's unit
        (NaN outside the zones or where it does not apply). Reservoir flood storage has no
        pixels and is not on the flood map; capped purification is scaled per region.
    progress : ``progress(stage, fraction)`` callback, fraction in [0, 1].
    coefficients : coefficient table or CSV path (default: the shipped
        ``params/physical_coefficients.csv``).
    hot_days : days per year with Tmax > 26 °C (cooling season) for the transpiration term of
        climate regulation; without it that term is a gap (GEP_METHOD §6.11, §8.8).
    lake_region : ``"qinghai_tibet"`` or ``"eastern_plain"`` — which Rao et al. (2014) lake
        regression to use; without it lake flood storage is a gap (no Yunnan–Guizhou
        coefficients are known, GEP_METHOD §6.6 [?]).
    l_max : optional cap on the RUSLE L factor (InVEST SDR's ``l_max``); default None = no cap,
        as in the Desmet & Govers form of GEP_METHOD §6.3. L grows with upslope area, so
        channel cells dominate soil retention on steep terrain unless capped.
    resolution_m, chunk : grid cell size [m] (default the manifest's) and dask block side.
    grid : an already opened :class:`StudyGrid` (reuses its checks and rasterised zones).

    Returns
    -------
    pandas.DataFrame with columns ``region_code`` (str), ``ecosystem_code`` (int, level 3),
    ``indicator`` (str), ``quantity`` (float, per year), ``unit`` (str), ``method`` (str); one
    row per region × ecosystem type × indicator × method where the quantity was computed.
    ``attrs``: ``gaps`` (list of dicts: indicator, reason, region_code, ecosystem_code; every
    reason starts "not accounted" — a missing raster, table or coefficient, or cells of a
    region with nodata in an input or no ecosystem type, with their count),
    ``notes`` (approximations used), ``extent`` (records of region_code, ecosystem_code,
    area_km2), ``year``, ``pixel_area_m2``, ``crs``, ``coefficients`` (source and SHA-256 of
    the coefficient rows, for provenance), ``maps`` (indicator → path).
    """
    wanted = list(INDICATORS) if indicators is None else list(dict.fromkeys(indicators))
    unknown = [i for i in wanted if i not in INDICATORS]
    if unknown:
        raise InvalidInput(f"unknown indicator(s) {unknown}",
                           hint=f"choose from {', '.join(INDICATORS)}")
    if lake_region is not None and lake_region not in ("qinghai_tibet", "eastern_plain"):
        raise InvalidInput(f"lake_region {lake_region!r} is not known",
                           hint="use 'qinghai_tibet' or 'eastern_plain', or None")
    years = getattr(study, "years", None)
    if years and int(year) not in years:
        raise InvalidInput(f"year {year} is not a year of this study area ({sorted(years)})",
                           hint="choose one of the study's years or add the year's layers")
    report = progress or (lambda stage, fraction: None)
    coef = (coefficients if isinstance(coefficients, CoefficientTable)
            else load_coefficients(coefficients))
    # Every raster block is read once, so GDAL's block cache (default 5 % of RAM, 1.2 GB on a
    # 24 GB machine) only adds to the peak memory; it is capped while the account runs.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        return _account(study, year, wanted, report, coef, maps_dir=maps_dir,
                        hot_days=hot_days, lake_region=lake_region, l_max=l_max,
                        resolution_m=resolution_m, chunk=chunk, grid=grid)


def _account(study: Any, year: int, wanted: list[str], report: Progress,
             coef: CoefficientTable, *, maps_dir: Path | None, hot_days: float | None,
             lake_region: str | None, l_max: float | None, resolution_m: float | None,
             chunk: int, grid: StudyGrid | None) -> pd.DataFrame:
    report("opening the grid", 0.0)
    g = grid or open_grid(study, resolution_m=resolution_m, chunk=chunk)
    ctx = Context(grid=g, year=int(year), coef=coef, wanted=set(wanted), hot_days=hot_days,
                  lake_region=lake_region, l_max=l_max)
    terms: list[Term] = []
    families = list(dict.fromkeys(INDICATORS[i][1] for i in wanted))
    for n, family in enumerate(families):
        report(f"building {family}", 0.1 + 0.3 * n / max(1, len(families)))
        ctx.family = family
        terms.extend(t for t in BUILDERS[family](ctx) if t.indicator in ctx.wanted)
    ctx.family = ""  # reads below are the engine's own, not a family's

    codes = ctx.codes
    n_eco = max(1, len(codes))
    n_reg = len(g.region_codes)
    nbins = n_reg * n_eco
    key = _bin_key(g, ctx, n_eco)
    pixel_terms = [t for t in terms if t.pixel is not None]
    used = sorted({name for names in ctx.used.values() for name in names} - {"ecosystem"})
    report("computing zonal sums", 0.4)
    # bins [nbins, nbins + n_reg) hold the cells of each region without an ecosystem type
    stats = zonal_stats([_pixel(t) for t in pixel_terms], key, nbins + n_reg,
                        nan_of=[ctx.layer(name) for name in used], blocks=_zone_blocks(ctx))
    _coverage_gaps(ctx, stats.nan_counts[:, :nbins], used, stats.cells, n_eco)
    sums, counts = stats.sums[:, :nbins], stats.counts[:, :nbins]
    cells = stats.cells[:nbins]
    report("assembling the table", 0.85)

    region_of_bin = np.repeat(np.array(g.region_codes, dtype=object), n_eco)
    eco_of_bin = np.tile(np.array(codes or [0], dtype=np.int64), n_reg)
    frames = []
    for i, term in enumerate(pixel_terms):
        ok = counts[i] > 0
        frame = pd.DataFrame({"region_code": region_of_bin[ok], "ecosystem_code": eco_of_bin[ok],
                              "quantity": sums[i][ok]})
        if term.post is not None:
            frame, term.region_scale = term.post(frame)
        frames.append(_finish(frame, term))
    frames.extend(_finish(t.rows, t) for t in terms if t.pixel is None and t.rows is not None)
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame({c: [] for c in COLUMNS}))
    table = _tidy(table)

    pixel_area = g.spec.pixel_area_m2
    area = cells * pixel_area / 1e6
    ok = area > 0
    table.attrs.update({
        "year": int(year),
        "gaps": ctx.gaps,
        "notes": ctx.notes,
        "extent": pd.DataFrame({"region_code": region_of_bin[ok], "ecosystem_code":
                                eco_of_bin[ok], "area_km2": area[ok]}).to_dict("records"),
        "pixel_area_m2": pixel_area,
        "crs": g.spec.crs.to_string(),
        "coefficients": {"source": coef.source, "sha256": coef.digest()},
        "maps": {},
    })
    if maps_dir is not None:
        table.attrs["maps"] = _write_maps(g, pixel_terms, Path(maps_dir), int(year), report)
    report("done", 1.0)
    return table


def _bin_key(g: StudyGrid, ctx: Context, n_eco: int) -> xr.DataArray:
    """(region index − 1) × n_eco + ecosystem index inside the zones; cells of a region with
    no ecosystem type go to bin n_reg × n_eco + region index − 1; −1 outside the zones."""
    lut = np.full(ctx.lut_size, -1, dtype=np.int32)
    for i, code in enumerate(ctx.codes):
        lut[code] = i
    untyped = len(g.region_codes) * n_eco

    def block(reg: np.ndarray, eco: np.ndarray) -> np.ndarray:
        out = np.empty(reg.shape, dtype=np.int32)
        _key_block(reg, eco, lut, n_eco, untyped, out)
        return out

    data = da.map_blocks(block, ctx.region_index.data, ctx.eco.data.rechunk(g.chunks),
                         dtype=np.int32, meta=np.array((), dtype=np.int32))
    return g.region_index.copy(data=data)


def _zone_blocks(ctx: Context) -> np.ndarray:
    """Which blocks of the grid hold a zone cell: the others add nothing to any bin (their
    key is −1), so their layers are neither read nor modelled."""
    reg = ctx.region_index.data
    flags = da.map_blocks(lambda r: np.array([[bool(r.any())]]), reg, chunks=((1,) * reg.numblocks[0],
                          (1,) * reg.numblocks[1]), dtype=bool)
    return np.asarray(flags.compute(), dtype=bool)


@njit(cache=True, nogil=True)
def _key_block(reg, eco, lut, n_eco, untyped, out):  # pragma: no cover - compiled
    """The bin key of :func:`_bin_key` for one block, in one pass (no int64 temporaries)."""
    for i in range(reg.shape[0]):
        for j in range(reg.shape[1]):
            r = np.int64(reg[i, j])
            if r <= 0:
                out[i, j] = -1
                continue
            e = eco[i, j]
            t = lut[e] if 0 <= e < lut.size else -1
            out[i, j] = (r - 1) * n_eco + t if t >= 0 else untyped + r - 1


def _coverage_gaps(ctx: Context, nodata: np.ndarray, used: list[str], cells: np.ndarray,
                   n_eco: int) -> None:
    """Gaps for cells that are not accounted: no ecosystem type, or nodata in an input layer.

    ``nodata[j]`` counts, per (region, type) bin, the cells where layer ``used[j]`` is nodata;
    ``cells`` counts all cells per bin, the regions' untyped cells after the typed bins."""
    codes = ctx.grid.region_codes
    n_reg = len(codes)
    typed = cells[: n_reg * n_eco].reshape(n_reg, n_eco).sum(axis=1)
    untyped = cells[n_reg * n_eco:]
    for r, code in enumerate(codes):
        total = typed[r] + untyped[r]
        if untyped[r] > 0:
            ctx.gap(sorted(ctx.wanted), f"not accounted on {int(untyped[r])} cells "
                    f"({100 * untyped[r] / total:.2g} % of the region): no ecosystem type "
                    "(nodata in the ecosystem raster)", region_code=code)
        for j, name in enumerate(used):
            missing = nodata[j].reshape(n_reg, n_eco)[r].sum()
            if missing == 0:
                continue
            hit = [i for i in ctx.wanted
                   if name in ctx.used.get(INDICATORS[i][1], set())]
            ctx.gap(sorted(hit), f"not accounted on {int(missing)} cells "
                    f"({100 * missing / total:.2g} % of the region): nodata in raster {name!r}",
                    region_code=code)


def _pixel(term: Term) -> xr.DataArray:
    assert term.pixel is not None
    return term.pixel


def _finish(frame: pd.DataFrame, term: Term) -> pd.DataFrame:
    out = frame[["region_code", "ecosystem_code", "quantity"]].copy()
    out["indicator"] = term.indicator
    out["unit"] = INDICATORS[term.indicator][0]
    out["method"] = term.method
    return out


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    table = table.groupby(["region_code", "ecosystem_code", "indicator", "unit", "method"],
                          as_index=False, sort=False)["quantity"].sum()
    table["region_code"] = table["region_code"].astype(str)
    table["ecosystem_code"] = table["ecosystem_code"].astype(np.int64)
    table["quantity"] = table["quantity"].astype(np.float64)
    order = {name: i for i, name in enumerate(INDICATORS)}
    table = table.assign(_o=table["indicator"].map(order)).sort_values(
        ["_o", "region_code", "ecosystem_code", "method"], kind="stable")
    return table.drop(columns="_o").reset_index(drop=True)[list(COLUMNS)]


def _write_maps(g: StudyGrid, terms: list[Term], maps_dir: Path, year: int,
                report: Progress) -> dict[str, str]:
    by_indicator: dict[str, list[xr.DataArray]] = {}
    for term in terms:
        pixel = _pixel(term)
        if term.region_scale is not None:
            scale = np.asarray(term.region_scale, dtype=np.float64)
            factor = xr.apply_ufunc(lambda r, s=scale: s[r], g.region_index, dask="parallelized",
                                    output_dtypes=[np.float64])
            pixel = pixel * factor
        by_indicator.setdefault(term.indicator, []).append(pixel)
    written = {}
    inside = g.region_index > 0
    for n, (indicator, parts) in enumerate(by_indicator.items()):
        report(f"writing map {indicator}", 0.9 + 0.1 * n / max(1, len(by_indicator)))
        total = parts[0]
        for p in parts[1:]:  # NaN only where no part applies
            total = xr.where(total.isnull() & p.isnull(), np.nan, total.fillna(0) + p.fillna(0))
        total = total.where(inside)
        path = write_cog(total, g.spec, maps_dir / f"{indicator}_{year}.tif")
        written[indicator] = str(path)
    return written


def gaps_frame(account: pd.DataFrame) -> pd.DataFrame:
    """The ``attrs["gaps"]`` of an account as a DataFrame (indicator, reason, region, type)."""
    cols = ["indicator", "reason", "region_code", "ecosystem_code"]
    frame = pd.DataFrame(account.attrs.get("gaps", []), columns=cols)
    frame["ecosystem_code"] = frame["ecosystem_code"].astype("Int64")
    return frame
