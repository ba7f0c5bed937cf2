"""Indicator builders of the physical account: study layers → per-pixel model outputs.

Each builder takes a :class:`Context` (grid, year, coefficients) and returns
:class:`Term` objects: a per-pixel quantity (NaN where the method does not apply), or
region-level rows for table-based quantities, plus an optional post-step applied to the zonal
sums (caps by emissions, lake regressions). Missing inputs become gaps, never zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from liangshan.accounting import models as m
from liangshan.accounting.coefficients import CoefficientTable
from liangshan.accounting.grid import StudyGrid
from liangshan.accounting.kernels import terrain
from liangshan.errors import InvalidInput, ParameterNotFound

#: indicator → (unit, builder family); the order is the order of the account table.
INDICATORS: dict[str, tuple[str, str]] = {
    "water_conservation": ("m3/yr", "water"),
    "soil_retention": ("t/yr", "soil"),
    "sediment_avoided": ("m3/yr", "soil"),
    "nitrogen_retained": ("t/yr", "soil"),
    "phosphorus_retained": ("t/yr", "soil"),
    "flood_regulation": ("m3/yr", "flood"),
    "water_purification_cod": ("t/yr", "purification"),
    "water_purification_nh3n": ("t/yr", "purification"),
    "water_purification_tp": ("t/yr", "purification"),
    "air_purification_so2": ("t/yr", "purification"),
    "air_purification_nox": ("t/yr", "purification"),
    "air_purification_pm": ("t/yr", "purification"),
    "carbon_sequestration": ("t CO2/yr", "carbon"),
    "oxygen_release": ("t O2/yr", "carbon"),
    "climate_regulation_transpiration": ("kWh/yr", "climate"),
    "climate_regulation_evaporation": ("kWh/yr", "climate"),
}

VEGETATION_L1 = (11, 12, 13)  # forest, shrub, grass: transpiration and storm storage (§6.6, §6.11)
MARSH = (141, 142, 143)
LAKE = 144
RESERVOIR = 145
OPEN_WATER = (144, 145, 146, 147)
# pollutant → (indicator, capacity parameter, level-1 types that purify it)
PURIFICATION = {
    "COD": ("water_purification_cod", "cod_purification_capacity", (14,)),
    "NH3N": ("water_purification_nh3n", "nh3n_purification_capacity", (14,)),
    "TP": ("water_purification_tp", "tp_purification_capacity", (14,)),
    "SO2": ("air_purification_so2", "so2_purification_capacity", (11,)),
    "NOx": ("air_purification_nox", "nox_purification_capacity", (11,)),
    "PM": ("air_purification_pm", "dust_retention_capacity", (11,)),
}

Post = Callable[[pd.DataFrame], tuple[pd.DataFrame, np.ndarray | None]]


@dataclass
class Term:
    """One contribution to an indicator (several terms may share an indicator)."""

    indicator: str
    method: str
    pixel: xr.DataArray | None = None  # per-pixel quantity in the indicator's unit
    rows: pd.DataFrame | None = None  # region_code, ecosystem_code, quantity (table-based)
    post: Post | None = None  # applied to the zonal sums of ``pixel``
    region_scale: np.ndarray | None = None  # set by ``post``: per-region factor for the map


@dataclass
class Context:
    """What every builder needs, and where it records gaps and notes."""

    grid: StudyGrid
    year: int
    coef: CoefficientTable
    wanted: set[str]
    hot_days: float | None = None
    lake_region: str | None = None
    l_max: float | None = None
    family: str = ""
    used: dict[str, set[str]] = field(default_factory=dict)  # family → layers read
    gaps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _region_index: xr.DataArray | None = field(default=None, repr=False)

    @property
    def region_index(self) -> xr.DataArray:
        """The grid's region index, rasterised once for this account and held in memory (on
        the cluster under dask.distributed) at the smallest integer type that fits — 1 B per
        cell up to 255 zones — for every pass that needs it: the NDVI percentiles, the bin
        key and the choice of blocks with zone cells."""
        if self._region_index is None:
            n = len(self.grid.region_codes)
            dtype = np.uint8 if n < 2**8 else np.uint16 if n < 2**16 else np.int32
            self._region_index = self.grid.region_index.astype(dtype).persist()
        return self._region_index

    @property
    def eco(self) -> xr.DataArray:
        return self.grid.ecosystem(self.year)

    @property
    def codes(self) -> list[int]:
        return self.grid.codes_present(self.year)

    @property
    def area(self) -> float:
        return self.grid.spec.pixel_area_m2

    def gap(self, indicators: Iterable[str] | str, reason: str, *,
            region_code: str | None = None, ecosystem_code: int | None = None) -> None:
        for ind in [indicators] if isinstance(indicators, str) else indicators:
            if ind in self.wanted:
                self.gaps.append({"indicator": ind, "reason": reason,
                                  "region_code": region_code, "ecosystem_code": ecosystem_code})

    def need(self, indicators: Iterable[str], *layers: str) -> bool:
        """True if every layer exists; otherwise record one gap per indicator and layer."""
        missing = [n for n in layers if not self.grid.has_layer(n, self.year)]
        for n in missing:
            self.gap(indicators, f"not accounted: missing raster {n!r} for {self.year}")
        return not missing

    def layer(self, name: str) -> xr.DataArray:
        if self.family:
            self.used.setdefault(self.family, set()).add(name)
        return self.grid.layer(name, self.year)

    def table(self, name: str, indicators: Iterable[str], what: str) -> pd.DataFrame | None:
        names = getattr(self.grid.study, "table_names", None)
        try:
            if names is not None and name not in names:
                raise InvalidInput(f"table {name!r} not in this study area")
            return self.grid.study.table(name)
        except (InvalidInput, KeyError, LookupError):
            self.gap(indicators, f"not accounted: {what} — missing table {name!r}")
            return None

    def of_level1(self, level1: Iterable[int]) -> list[int]:
        return [c for c in self.codes if c // 10 in tuple(level1)]

    @property
    def lut_size(self) -> int:
        """Length of a code-indexed lookup array: codes present are checked, 0 is nodata.

        Kept small on purpose: the array travels with every task of the graph."""
        return max([0, *self.codes]) + 1

    def by_code(self, lut: np.ndarray, dtype: Any = np.float64) -> xr.DataArray:
        """Map the ecosystem raster through a lookup array indexed by code."""
        return xr.apply_ufunc(lambda e: lut[e], self.eco, dask="parallelized",
                              output_dtypes=[dtype])

    def mask(self, codes: Iterable[int]) -> xr.DataArray:
        lut = np.zeros(self.lut_size, dtype=bool)
        lut[list(codes)] = True
        return self.by_code(lut, bool)

    def coefficient(self, parameter: str, unit: str, codes: Iterable[int],
                    indicators: Iterable[str]) -> xr.DataArray:
        """Per-pixel coefficient (NaN elsewhere); a gap for each code that has no value."""
        codes = list(codes)
        values = self.coef.by_ecosystem(parameter, codes, unit)
        for c in codes:
            if c not in values:
                self.gap(indicators, f"not accounted for ecosystem {c}: no {parameter!r} in "
                         f"{self.coef.source}", ecosystem_code=c)
        lut = np.full(self.lut_size, np.nan)
        for c, v in values.items():
            lut[c] = v
        return self.by_code(lut)

    def scalar(self, parameter: str, unit: str) -> float:
        return self.coef.scalar(parameter, unit)


def water(ctx: Context) -> list[Term]:
    ind = ["water_conservation"]
    if not ctx.need(ind, "ecosystem", "precip_mm", "aet_mm"):
        return []
    alpha = ctx.coefficient("runoff_coefficient", "1", ctx.codes, ind)
    pixel = m.water_conservation_balance(ctx.layer("precip_mm"), ctx.layer("aet_mm"), alpha,
                                         ctx.area)
    return [Term("water_conservation", "water_conservation_balance [GEP_METHOD §6.2]", pixel)]


def upslope_area_mfd(dem: np.ndarray, cellsize: float) -> np.ndarray:
    """Upslope contributing area at the cell inlet [m²]: (MFD flow accumulation − 1) × cell
    area on the pit-filled DEM [m] (routing kernels of :mod:`.kernels.routing`); 0 where the
    DEM is nodata. The whole DEM in one piece (≈ 26 B/cell at the peak): the reference for
    :func:`liangshan.accounting.tiling.upslope_area_tiled`, which the engine uses."""
    from liangshan.accounting.kernels import routing

    dem = np.asarray(dem)
    if dem.dtype != np.float32:  # float32 is kept: the pit filling returns float64 anyway
        dem = dem.astype(np.float64, copy=False)
    valid = np.isfinite(dem)
    filled = routing.fill_pits(np.where(valid, dem, dem.dtype.type(0)), valid)
    del dem
    fd = routing.flow_dir_mfd(filled, valid)
    del filled  # each whole-grid intermediate is dropped as soon as it is used (peak memory)
    inlet = routing.flow_accumulation_mfd(fd)
    del fd
    inlet -= 1.0
    inlet[~valid | (inlet < 0.0)] = 0.0
    inlet *= cellsize * cellsize
    return inlet


def _float32_exact(ctx: Context, name: str) -> bool:
    """Whether layer ``name``'s source file holds values that float32 represents exactly."""
    import rasterio

    try:
        with rasterio.open(ctx.grid.study.raster_path(name, ctx.year)) as src:
            dtype = np.dtype(src.dtypes[0])
    except Exception:  # any doubt: keep float64
        return False
    return dtype == np.float32 or (dtype.kind in "iu" and dtype.itemsize <= 2)


#: Grids up to this many cells are routed in one piece (≈ 26 B/cell, 1.8 GB at 37.7 M cells
#: measured), which is faster there; larger ones tile by tile (13 B/cell at the peak).
WHOLE_GRID_ROUTING_MAX_CELLS = 64 * 2**20


def ls_raster(ctx: Context) -> xr.DataArray:
    """RUSLE LS on the grid: MFD upslope area, then Desmet & Govers L × Liu S block-wise with a
    one-cell overlap. The upslope area comes from :func:`upslope_area_mfd` on the whole DEM up
    to :data:`WHOLE_GRID_ROUTING_MAX_CELLS` cells (one task, on a cluster worker when a
    dask.distributed client is active), else tile by tile (tiles = the DEM's dask blocks,
    :func:`liangshan.accounting.tiling.upslope_area_tiled`: the same result in half the
    memory, float32). Either way it is computed before the block-wise pass (left inside the
    pass, the scheduler would hold every other layer's blocks while it waits). L is uncapped
    and grows with the cell size: on coarse grids (≥ 100 m) soil loss is inflated."""
    from liangshan.accounting.tiling import upslope_area_tiled

    dem = ctx.layer("dem")
    cs = float(ctx.grid.spec.resolution[0])
    # the DEM is routed as float32 when that is exact (a float32 or ≤ 16-bit integer source)
    data = dem.data.astype(np.float32) if _float32_exact(ctx, "dem") else dem.data
    if dem.size <= WHOLE_GRID_ROUTING_MAX_CELLS:
        up = da.from_delayed(dask.delayed(upslope_area_mfd)(data, cs), shape=dem.shape,
                             dtype=np.float64).rechunk(dem.data.chunks).persist()
    else:
        up = da.from_array(upslope_area_tiled(data, cs), chunks=dem.data.chunks)
    l_max = ctx.l_max
    if l_max is not None:
        ctx.notes.append(f"soil: RUSLE L capped at l_max = {l_max}")
    data = da.map_overlap(lambda d, a: terrain.ls_factor(d, a, cs, l_max=l_max), dem.data, up,
                          depth=1, boundary="none", dtype=np.float64,
                          meta=np.array((), np.float64))
    return dem.copy(data=data)


def ndvi_percentiles(ndvi: xr.DataArray, inside: xr.DataArray,
                     q: tuple[float, float] = (5.0, 95.0)) -> tuple[float, float]:
    """NDVI percentiles inside the zones from a block-wise histogram (bins of 0.001), so no
    pixel array is ever gathered in memory."""
    values = ndvi.where(inside).data
    hist, edges = da.histogram(values[da.isfinite(values)], bins=2000, range=(-1.0, 1.0))
    counts = np.asarray(hist.compute(), dtype=np.float64)
    if counts.sum() == 0:
        return (float("nan"), float("nan"))
    cum = np.cumsum(counts) / counts.sum()
    centres = (edges[:-1] + edges[1:]) / 2.0
    lo, hi = (float(centres[np.searchsorted(cum, p / 100.0)]) for p in q)
    return lo, hi


def vegetation_cover(ctx: Context, inds: list[str]) -> xr.DataArray | None:
    """The ``fvc`` layer, else FVC from ``ndvi`` with its 5/95 % percentiles (GEP_METHOD §6.3);
    None (and gaps) if neither exists."""
    if ctx.grid.has_layer("fvc", ctx.year):
        return ctx.layer("fvc")
    if not ctx.grid.has_layer("ndvi", ctx.year):
        ctx.gap(inds, f"not accounted: missing raster 'fvc' (or 'ndvi') for {ctx.year}")
        return None
    ndvi = ctx.layer("ndvi")
    lo, hi = ndvi_percentiles(ndvi, ctx.region_index > 0)
    if not hi > lo:
        ctx.gap(inds, "not accounted: NDVI has no spread inside the zones (5 % = 95 % "
                "percentile), so FVC cannot be derived; supply an 'fvc' layer")
        return None
    ctx.notes.append(f"soil: FVC from NDVI by the dimidiate pixel model, NDVI_soil = {lo:.3f} and "
                     f"NDVI_veg = {hi:.3f} (5 % and 95 % percentiles in the zones)")
    return m.fractional_vegetation_cover(ndvi, lo, hi)


def soil(ctx: Context) -> list[Term]:
    inds = ["soil_retention", "sediment_avoided", "nitrogen_retained", "phosphorus_retained"]
    if not ctx.need(inds, "ecosystem", "erosivity", "dem", "sand_pct", "silt_pct", "clay_pct",
                    "soc_pct"):
        return []
    fvc = vegetation_cover(ctx, inds)
    if fvc is None:
        return []
    excluded = set(ctx.coef.by_ecosystem("soil_retention_excluded", ctx.codes, "1"))
    applicable = [c for c in ctx.codes if c not in excluded]
    practice = ctx.coefficient("support_practice_factor", "1", applicable, inds)
    k = m.soil_erodibility_epic(ctx.layer("sand_pct"), ctx.layer("silt_pct"),
                                ctx.layer("clay_pct"), ctx.layer("soc_pct"))
    c = m.cover_management_cai(fvc, a=ctx.scalar("cover_management_cai_a", "1"),
                               b=ctx.scalar("cover_management_cai_b", "1"),
                               full_cover_pct=ctx.scalar("cover_management_cai_full_cover", "%"))
    res = m.soil_retention_rusle(ctx.layer("erosivity"), k, ls_raster(ctx), c, practice,
                                 ctx.area)
    kept = res.retained_t
    rusle = "soil_retention_rusle (K EPIC, C Cai, LS Desmet-Govers/Liu) [GEP_METHOD §6.3]"
    return [
        Term("soil_retention", rusle, kept),
        Term("sediment_avoided", "sediment_avoided (λ·Q/ρ) [GEP_METHOD §6.3]",
             m.sediment_avoided(kept, ctx.scalar("soil_bulk_density", "t/m3"),
                                ctx.scalar("sediment_deposition_ratio", "1"))),
        Term("nitrogen_retained", "soil_nutrient_retained (Q·C_N) [GEP_METHOD §6.3]",
             m.soil_nutrient_retained(kept, ctx.scalar("soil_nitrogen_content", "%"))),
        Term("phosphorus_retained", "soil_nutrient_retained (Q·C_P) [GEP_METHOD §6.3]",
             m.soil_nutrient_retained(kept, ctx.scalar("soil_phosphorus_content", "%"))),
    ]


def flood(ctx: Context) -> list[Term]:
    ind = "flood_regulation"
    if not ctx.need([ind], "ecosystem"):
        return []
    terms: list[Term] = []
    veg = ctx.of_level1(VEGETATION_L1)
    if veg and ctx.need([ind], "storm_precip_mm"):
        alpha = ctx.coefficient("storm_runoff_coefficient", "1", veg, [ind])
        terms.append(Term(ind, "flood_storage_vegetation [GEP_METHOD §6.6]",
                          m.flood_storage_vegetation(ctx.layer("storm_precip_mm"), alpha,
                                                     ctx.area)))
    marsh = [c for c in ctx.codes if c in MARSH]
    if marsh:
        depth = ctx.coefficient("marsh_storage_depth", "m", marsh, [ind])
        terms.append(Term(ind, "flood_storage_marsh [GEP_METHOD §6.6]",
                          m.flood_storage_marsh(ctx.area, depth)))
    if LAKE in ctx.codes:
        terms.extend(_lakes(ctx))
    reservoirs = ctx.table("reservoirs", [ind], "reservoir flood storage")
    if reservoirs is not None:
        terms.append(_reservoirs(ctx, reservoirs))
    return terms


def _lakes(ctx: Context) -> list[Term]:
    ind = "flood_regulation"
    if ctx.lake_region is None:
        ctx.gap(ind, "not accounted for lakes (144): no Rao et al. (2014) lake regression for "
                "the Yunnan–Guizhou Plateau (GEP_METHOD §6.6 [?]); pass lake_region to use "
                "another region's", ecosystem_code=LAKE)
        return []
    a = _at(ctx, f"lake_flood_ln_intercept_{ctx.lake_region}", LAKE, "1")
    b = _at(ctx, f"lake_flood_exponent_{ctx.lake_region}", LAKE, "1")
    t = _at(ctx, "lake_water_exchange_times", LAKE, "1/yr")
    ctx.notes.append(f"lakes: Rao et al. (2014) {ctx.lake_region} regression; the lake pixels of "
                     "a region are lumped into one lake")
    codes = ctx.grid.region_codes

    def post(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        out = frame.copy()
        km2 = out["quantity"].to_numpy() / 1e6
        storage = m.flood_storage_lake_rao(km2, a, b, t)
        scale = np.zeros(len(codes) + 1)
        for code, s, area in zip(out["region_code"], storage, out["quantity"], strict=True):
            scale[codes.index(code) + 1] = s / area if area > 0 else 0.0
        out["quantity"] = storage
        return out, scale

    area = xr.where(ctx.mask([LAKE]), ctx.area, np.nan)
    return [Term(ind, f"flood_storage_lake_rao ({ctx.lake_region}) [GEP_METHOD §6.6]", area,
                 post=post)]


def _at(ctx: Context, parameter: str, code: int, unit: str) -> float:
    """The value of ``parameter`` for one ecosystem code; ParameterNotFound if absent."""
    values = ctx.coef.by_ecosystem(parameter, [code], unit)
    if code not in values:
        ctx.coef.rows(parameter)  # raises ParameterNotFound when the parameter is absent
        raise ParameterNotFound(f"coefficient {parameter!r} has no row for ecosystem {code} "
                                f"in {ctx.coef.source}", hint="add the row")
    return values[code]


def _reservoirs(ctx: Context, table: pd.DataFrame) -> Term:
    ratio = _at(ctx, "reservoir_flood_capacity_ratio", RESERVOIR, "1")
    inside = table[table["region_code"].isin(ctx.grid.region_codes)]
    if len(inside) < len(table):
        ctx.notes.append(f"reservoirs: {len(table) - len(inside)} row(s) with a region_code "
                         "outside the zones were ignored")
    total = pd.to_numeric(inside["total_capacity_10k_m3"], errors="coerce").to_numpy() * 1e4
    flood = pd.to_numeric(inside["flood_capacity_10k_m3"], errors="coerce").to_numpy() * 1e4
    storage = m.flood_storage_reservoir(total, flood, ratio=ratio)
    rows = pd.DataFrame({"region_code": inside["region_code"].astype(str).to_numpy(),
                         "ecosystem_code": RESERVOIR, "quantity": storage})
    rows = rows[np.isfinite(rows["quantity"])].groupby(
        ["region_code", "ecosystem_code"], as_index=False)["quantity"].sum()
    return Term("flood_regulation", "flood_storage_reservoir [GEP_METHOD §6.6]", rows=rows)


def purification(ctx: Context) -> list[Term]:
    terms: list[Term] = []
    wanted = {p: spec for p, spec in PURIFICATION.items() if spec[0] in ctx.wanted}
    if not wanted or not ctx.need([s[0] for s in wanted.values()], "ecosystem"):
        return terms
    emissions = ctx.table("emissions", [s[0] for s in wanted.values()], "pollutant loads")
    for pollutant, (ind, parameter, level1) in wanted.items():
        if parameter not in ctx.coef:
            ctx.gap(ind, f"not accounted: no per-area purification capacity {parameter!r} in "
                    f"{ctx.coef.source} (GEP_METHOD §6.7–6.8 give no default for it; add local "
                    "rates)")
            continue
        if emissions is None:
            continue
        rows = emissions[(emissions["year"] == ctx.year)
                         & (emissions["pollutant"].str.upper() == pollutant.upper())]
        emitted = pd.to_numeric(rows["emission_t"], errors="coerce")
        load = emitted.groupby(rows["region_code"]).sum(min_count=1).dropna()
        for code in ctx.grid.region_codes:
            if code not in load.index:
                ctx.gap(ind, f"not accounted: no {pollutant} emission for {ctx.year} in table "
                        "'emissions'", region_code=code)
        codes = ctx.of_level1(level1)
        if not codes:
            continue
        rate = ctx.coefficient(parameter, "t/(ha·yr)", codes, [ind])
        capacity = m.purification_capacity(ctx.area, rate)
        terms.append(Term(ind, f"{'air' if level1 == (11,) else 'water'}_purification "
                          f"(min(emission, capacity)) [GEP_METHOD §6.{7 if level1 == (11,) else 8}]",
                          capacity, post=_capped(ctx, load)))
    return terms


def _capped(ctx: Context, load: pd.Series) -> Post:
    codes = ctx.grid.region_codes

    def post(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        out = frame[frame["region_code"].isin(load.index)].copy()
        total = out.groupby("region_code")["quantity"].transform("sum").to_numpy()
        emitted = load.reindex(out["region_code"]).to_numpy(dtype=np.float64)
        purified = m.air_purification(emitted, total)  # the same min() rule for water
        out["quantity"] = m.allocate_by_capacity(purified, out["quantity"].to_numpy(), total)
        scale = np.zeros(len(codes) + 1)
        for code, p, t in zip(out["region_code"], purified, total, strict=True):
            scale[codes.index(code) + 1] = p / t if t > 0 else 0.0
        return out, scale

    return post


def carbon(ctx: Context) -> list[Term]:
    inds = ["carbon_sequestration", "oxygen_release"]
    if not ctx.need(inds, "ecosystem", "npp_gc_m2", "temp_c", "precip_mm"):
        return []
    rh = m.heterotrophic_respiration_pei_annual(
        ctx.layer("temp_c"), ctx.layer("precip_mm"), a=ctx.scalar("rh_coef_a", "gC/m2 per day"),
        b=ctx.scalar("rh_coef_b", "1/degC"), c=ctx.scalar("rh_coef_c", "1/mm"),
        days=ctx.scalar("rh_days_per_month", "d"),
        carbon_fraction=ctx.scalar("rh_carbon_fraction", "1"))
    ctx.notes.append("carbon: Rh from annual mean temperature and precipitation (12 × the "
                     "monthly formula at P/12) [NF]; negative NEP (net sources) set to 0")
    inside = ctx.eco > 0
    co2 = m.carbon_sequestration_nep(ctx.layer("npp_gc_m2"), rh, ctx.area,
                                     clip_negative=True).where(inside)
    carbon_t = co2 / m.carbon.CO2_PER_C
    return [
        Term("carbon_sequestration", "carbon_sequestration_nep (NEP = NPP − Rh, Rh Pei 2010) "
             "[GEP_METHOD §6.9]", co2),
        Term("oxygen_release", "oxygen_release (32/12 × C of NEP) [GEP_METHOD §6.10]",
             m.oxygen_release(carbon_t)),
    ]


def climate(ctx: Context) -> list[Term]:
    terms: list[Term] = []
    q = ctx.scalar("latent_heat_vaporization", "kJ/kg")
    veg = ctx.of_level1(VEGETATION_L1)
    tind = "climate_regulation_transpiration"
    if tind in ctx.wanted and ctx.need([tind], "ecosystem", "aet_mm") and veg:
        if ctx.hot_days is None:
            ctx.gap(tind, "not accounted: needs hot_days, the days per year with Tmax > 26 °C "
                    "(GEP_METHOD §6.11)")
        else:
            share = float(ctx.hot_days) / 365.0
            et = ctx.layer("aet_mm").where(ctx.mask(veg)) * share
            ctx.notes.append("climate: transpiration = AET × hot_days/365 on forest, shrub and "
                             "grass (raster variant of GEP_METHOD §6.11) [NF]")
            terms.append(Term(tind, "climate_regulation_transpiration [GEP_METHOD §6.11]",
                              m.climate_regulation_transpiration(
                                  et, ctx.area, latent_heat_kj_per_kg=q,
                                  energy_efficiency_ratio=ctx.scalar(
                                      "ac_energy_efficiency_ratio", "1"))))
    eind = "climate_regulation_evaporation"
    water = [c for c in ctx.codes if c in OPEN_WATER]
    if eind in ctx.wanted and ctx.need([eind], "ecosystem", "et0_mm") and water:
        ctx.notes.append("climate: water-surface evaporation = ET0 on open water [NF]")
        ew = ctx.layer("et0_mm").where(ctx.mask(water))
        terms.append(Term(eind, "climate_regulation_evaporation [GEP_METHOD §6.11]",
                          m.climate_regulation_evaporation(
                              ew, ctx.area, latent_heat_kj_per_kg=q,
                              humidifier_kwh_per_m3=ctx.scalar("humidifier_energy", "kWh/m3"))))
    return terms


BUILDERS: dict[str, Callable[[Context], list[Term]]] = {
    "water": water, "soil": soil, "flood": flood, "purification": purification,
    "carbon": carbon, "climate": climate,
}
