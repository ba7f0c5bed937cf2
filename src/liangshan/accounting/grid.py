"""One common grid for a study area: checked, aligned, chunked layers and rasterised zones.

:func:`open_grid` takes a study area (``liangshan.datasets.study.StudyArea`` or anything with
``zones``, ``raster_path(name, year=None)`` and ``crs``), fixes one metric equal-area grid
covering the zones, and serves every raster layer on it as a dask-backed
:class:`xarray.DataArray` (float64, NaN = nodata; the ecosystem layer as int32 codes with
0 = nodata). Layers on another grid are warped lazily through a GDAL WarpedVRT, window by
window: categorical layers by nearest (finer or equal target) or mode (coarser target),
continuous layers by bilinear or average. Zones are rasterised once, block by block, into a
region index (0 = outside every zone, i + 1 = ``region_codes[i]``), by the pixel-centre rule.

Every layer is checked when first opened; a bad one raises
:class:`~liangshan.errors.InvalidInput` naming the file and layer, what was found, what was
expected and how to fix it: missing file, no CRS, extent not covering the zones, an all-nodata
band, values in the wrong units (precipitation in metres, NDVI scaled to 0–10000, texture in
g/kg, temperature in kelvin), and ecosystem codes missing from ``params/ecosystem_types.csv``.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rioxarray
import xarray as xr
from affine import Affine
from numba import njit
from pyproj import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.features import rasterize
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from liangshan.errors import InvalidInput

#: The contract's default CRS: Albers equal-area for China (docs/study-area.md).
DEFAULT_CRS = (
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 "
    "+datum=WGS84 +units=m +no_defs"
)
DEFAULT_CHUNK = 1024
CATEGORICAL = frozenset({"ecosystem"})
ECOSYSTEM_TABLE = Path(__file__).parent / "params" / "ecosystem_types.csv"
# pyproj method names of equal-area projections
_EQUAL_AREA = ("Equal Area", "Mollweide", "Sinusoidal", "Equal Earth", "Hammer")
_SAMPLE_SIDE = 512  # decimated read for the units checks: bounded memory whatever the size
_SAMPLE_BLOCKS = 64  # ... or this many of the file's blocks, for files of more blocks


class StudyLike(Protocol):
    """What the grid needs from a study area (``StudyArea`` satisfies it)."""

    @property
    def zones(self) -> gpd.GeoDataFrame: ...

    def raster_path(self, name: str, year: int | None = None) -> Path: ...


@functools.lru_cache(maxsize=1)
def ecosystem_codes() -> frozenset[int]:
    """Level-3 codes of ``params/ecosystem_types.csv``."""
    return frozenset(int(c) for c in pd.read_csv(ECOSYSTEM_TABLE)["code"])


@dataclass(frozen=True)
class GridSpec:
    """A north-up grid: CRS, affine transform (pixel corners) and shape."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def resolution(self) -> tuple[float, float]:
        """(cell width, cell height) [m]."""
        return (self.transform.a, -self.transform.e)

    @property
    def pixel_area_m2(self) -> float:
        """Area of one cell [m²] (constant on an equal-area grid)."""
        return abs(self.transform.a * self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return (left, top + self.transform.e * self.height, left + self.transform.a * self.width,
                top)

    def coords(self) -> dict[str, np.ndarray]:
        """Pixel-centre coordinates ``{"y": ..., "x": ...}`` [m]."""
        t = self.transform
        x = t.c + t.a * (np.arange(self.width) + 0.5)
        y = t.f + t.e * (np.arange(self.height) + 0.5)
        return {"y": y, "x": x}


def check_equal_area(crs: CRS, where: str) -> None:
    """Raise InvalidInput unless ``crs`` is projected, in metres and equal-area."""
    if not crs.is_projected:
        raise InvalidInput(
            f"{where}: CRS {crs.to_string()!r} is geographic; the grid must be metric",
            hint="use an equal-area projection in metres, e.g. " + DEFAULT_CRS,
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise InvalidInput(f"{where}: CRS units are {unit!r}, expected metres",
                           hint="use an equal-area projection in metres")
    op = crs.coordinate_operation
    method = op.method_name if op is not None else ""
    if not any(word in method for word in _EQUAL_AREA):
        raise InvalidInput(
            f"{where}: projection {method!r} is not equal-area, so pixel areas would vary",
            hint="use Albers (aea) or Lambert azimuthal (laea), e.g. " + DEFAULT_CRS,
        )


def grid_for_zones(zones: gpd.GeoDataFrame, crs: CRS, resolution_m: float) -> GridSpec:
    """The grid covering ``zones`` (in ``crs``), with edges snapped to multiples of the cell."""
    left, bottom, right, top = zones.to_crs(crs).total_bounds
    r = float(resolution_m)
    left, bottom = math.floor(left / r) * r, math.floor(bottom / r) * r
    right, top = math.ceil(right / r) * r, math.ceil(top / r) * r
    width, height = max(1, round((right - left) / r)), max(1, round((top - bottom) / r))
    return GridSpec(crs, Affine(r, 0.0, left, 0.0, -r, top), width, height)


def _layer_error(path: Path, name: str, found: str, expected: str, fix: str) -> InvalidInput:
    return InvalidInput(f"{path} (layer {name!r}): {found}; expected {expected}", hint=fix)


def _units_check(name: str, path: Path, sample: np.ndarray) -> None:
    """Catch the common unit mistakes from a decimated sample of valid values."""
    if sample.size == 0:
        return
    med, mx = float(np.median(sample)), float(np.max(sample))
    if name in ("precip_mm", "aet_mm", "et0_mm") and med < 10:
        raise _layer_error(path, name, f"median value {med:.4g}", "mm/yr (hundreds to thousands)",
                           "the values look like metres: multiply by 1000")
    if name in ("ndvi", "fvc") and mx > 1.5:
        raise _layer_error(path, name, f"maximum {mx:.6g}", "a fraction between 0 and 1",
                           "the values look scaled (e.g. 0–10000): divide by the scale factor")
    if name in ("sand_pct", "silt_pct", "clay_pct") and mx > 100.5:
        raise _layer_error(path, name, f"maximum {mx:.6g}", "percent (0–100)",
                           "the values look like g/kg (SoilGrids): divide by 10")
    if name == "temp_c" and med > 150:
        raise _layer_error(path, name, f"median {med:.4g}", "°C",
                           "the values look like kelvin: subtract 273.15")


def _valid(arr: np.ndarray, nodata: float | None) -> np.ndarray:
    a = arr.astype(np.float64, copy=False)
    mask = np.isfinite(a)
    if nodata is not None and not np.isnan(nodata):
        mask &= ~np.isclose(a, nodata)
    return a[mask]


def _any_valid_full_scan(src: rasterio.DatasetReader) -> bool:
    windows = (w for _, w in src.block_windows(1))
    return any(_valid(src.read(1, window=w), src.nodata).size for w in windows)


@dataclass
class StudyGrid:
    """A study area on one grid. Build with :func:`open_grid`."""

    study: Any
    spec: GridSpec
    zones: gpd.GeoDataFrame  # in the grid CRS, with region_code
    chunk: int = DEFAULT_CHUNK
    _layers: dict[tuple[str, int | None], xr.DataArray] = field(default_factory=dict, repr=False)
    _region_index: xr.DataArray | None = field(default=None, repr=False)
    _codes: dict[int | None, list[int]] = field(default_factory=dict, repr=False)

    # -- zones ---------------------------------------------------------------------------
    @property
    def region_codes(self) -> list[str]:
        """Zone codes; region index i + 1 is ``region_codes[i]``."""
        return [str(c) for c in self.zones["region_code"]]

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return da.core.normalize_chunks((self.chunk, self.chunk), self.spec.shape)

    def _wrap(self, data: da.Array, name: str) -> xr.DataArray:
        return xr.DataArray(data, dims=("y", "x"), coords=self.spec.coords(), name=name)

    @property
    def region_index(self) -> xr.DataArray:
        """int32 region index raster (0 outside the zones), rasterised block by block."""
        if self._region_index is None:
            shapes = [(g, i + 1) for i, g in enumerate(self.zones.geometry)]
            sindex = self.zones.sindex
            transform = self.spec.transform

            def block(block_info: dict | None = None) -> np.ndarray:
                assert block_info is not None  # dask passes it to map_blocks functions
                info = block_info[None]
                (r0, r1), (c0, c1) = info["array-location"]
                wt = transform @ Affine.translation(c0, r0)
                box = (wt.c, wt.f + wt.e * (r1 - r0), wt.c + wt.a * (c1 - c0), wt.f)
                hits = sindex.query(_box(box), predicate="intersects")
                out_shape = (r1 - r0, c1 - c0)
                if len(hits) == 0:
                    return np.zeros(out_shape, dtype=np.int32)
                return _rasterize_serial([shapes[i] for i in sorted(hits)], out_shape=out_shape,
                                         transform=wt, fill=0, dtype="int32")

            data = da.map_blocks(block, chunks=self.chunks, dtype=np.int32,
                                 meta=np.array((), dtype=np.int32))
            self._region_index = self._wrap(data, "region_index")
        return self._region_index

    # -- layers --------------------------------------------------------------------------
    def has_layer(self, name: str, year: int | None = None) -> bool:
        """Whether the study area names layer ``name`` (for ``year``)."""
        names = getattr(self.study, "raster_names", None)
        if names is not None and name not in names:
            return False
        try:
            self.study.raster_path(name, year)
        except (InvalidInput, KeyError, LookupError):
            return False
        return True

    def layer(self, name: str, year: int | None = None) -> xr.DataArray:
        """Layer ``name`` on the grid: float64 with NaN nodata (ecosystem: int32, 0 nodata)."""
        key = (name, year)
        if key not in self._layers:
            path = Path(self.study.raster_path(name, year))
            self._layers[key] = self._open_aligned(path, name)
            if name == "ecosystem":
                self._codes[year] = self._check_codes(path, self._layers[key])
        return self._layers[key]

    def ecosystem(self, year: int) -> xr.DataArray:
        """Ecosystem codes (int32, 0 = nodata) of ``year``."""
        return self.layer("ecosystem", year)

    def _open_aligned(self, path: Path, name: str) -> xr.DataArray:
        if not path.is_file():
            raise _layer_error(path, name, "file not found", "a GeoTIFF at this path",
                               "fix the path in study.toml or add the file")
        categorical = name in CATEGORICAL
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise _layer_error(path, name, f"unreadable ({exc})", "a GeoTIFF",
                               "re-export the layer as GeoTIFF") from exc
        with src:
            if src.crs is None:
                raise _layer_error(path, name, "no CRS", "a georeferenced raster",
                                   "assign the CRS (e.g. gdal_edit.py -a_srs EPSG:4326 FILE)")
            self._check_cover(path, name, src)
            sample = self._sample(src)
            if sample.size == 0 and not _any_valid_full_scan(src):
                raise _layer_error(path, name, "every pixel of band 1 is nodata",
                                   "valid values over the zones",
                                   "check the nodata value and the band written")
            if not categorical:
                _units_check(name, path, sample)
            same = (CRS.from_user_input(src.crs) == self.spec.crs
                    and src.transform.almost_equals(self.spec.transform)
                    and src.shape == self.spec.shape)
            chunks = {"band": 1, "y": self.chunk, "x": self.chunk}
            raw = same and not categorical and _nodata_is_float32_value(src)
            if same:
                arr = _open_da(path, chunks, masked=not categorical and not raw)
            else:
                coarser = abs(self.spec.transform.a) > 1.5 * self._src_res(src)
                resampling = ((Resampling.mode if coarser else Resampling.nearest) if categorical
                              else (Resampling.average if coarser else Resampling.bilinear))
                # cells the source does not reach must read as nodata, never as 0
                fill = src.nodata if src.nodata is not None else (0 if categorical else np.nan)
                vrt = WarpedVRT(src, crs=self.spec.crs, transform=self.spec.transform,
                                width=self.spec.width, height=self.spec.height,
                                resampling=resampling,
                                src_nodata=src.nodata, nodata=fill)
                arr = _open_da(vrt, chunks, masked=not categorical)
                vrt.close()
            nodata = src.nodata
        arr = arr.isel(band=0, drop=True)
        if categorical:
            data = arr.data
            if nodata is not None and nodata != 0:  # 0 is already nodata: no pass needed
                data = da.where(data == nodata, 0, data)
            data = data.astype(np.int32)
        elif raw:
            data = arr.data.map_blocks(_float32_to_nan64, np.float32(nodata), dtype=np.float64,
                                       meta=np.array((), dtype=np.float64))
        else:
            data = arr.data.astype(np.float64)
        data = data.rechunk(self.chunks)
        return self._wrap(data, name)

    def _src_res(self, src: rasterio.DatasetReader) -> float:
        left, bottom, right, top = transform_bounds(src.crs, self.spec.crs, *src.bounds)
        return max((right - left) / src.width, (top - bottom) / src.height)

    def _check_cover(self, path: Path, name: str, src: rasterio.DatasetReader) -> None:
        zl, zb, zr, zt = self.zones.total_bounds
        try:
            left, bottom, right, top = transform_bounds(src.crs, self.spec.crs, *src.bounds)
        except Exception as exc:  # a CRS pyproj cannot transform
            raise _layer_error(path, name, f"CRS {src.crs} cannot be transformed ({exc})",
                               "a standard CRS", "reproject the layer") from exc
        tol = max(self._src_res(src), abs(self.spec.transform.a))
        if left > zl + tol or bottom > zb + tol or right < zr - tol or top < zt - tol:
            raise _layer_error(
                path, name,
                f"extent ({left:.0f}, {bottom:.0f}, {right:.0f}, {top:.0f}) in the grid CRS",
                f"an extent covering the zones ({zl:.0f}, {zb:.0f}, {zr:.0f}, {zt:.0f})",
                "supply a raster that covers every zone (clip to a buffered zone extent)")

    @staticmethod
    def _sample(src: rasterio.DatasetReader) -> np.ndarray:
        """Valid values for the units checks, in bounded time and memory.

        A decimated read of the whole band decompresses every block of the file (0.2 s per
        layer at 90 m over Guizhou, 2 s at 30 m, one layer after another); a file of more than
        :data:`_SAMPLE_BLOCKS` blocks is sampled instead from that many of its own blocks, read
        whole, on a regular lattice over the extent (every other cell). If they hold no valid value the
        decimated read decides."""
        bh, bw = src.block_shapes[0]
        nby, nbx = -(-src.height // bh), -(-src.width // bw)
        if nby * nbx > _SAMPLE_BLOCKS:
            kx = min(nbx, math.isqrt(_SAMPLE_BLOCKS))
            ky = min(nby, _SAMPLE_BLOCKS // kx)
            parts = []
            for by in np.unique(np.linspace(0, nby - 1, ky).round().astype(int)):
                for bx in np.unique(np.linspace(0, nbx - 1, kx).round().astype(int)):
                    block = src.read(1, window=src.block_window(1, by, bx))
                    parts.append(_valid(block[::2, ::2], src.nodata))
            sample = np.concatenate(parts)
            if sample.size:
                return sample
        scale = max(1.0, max(src.width, src.height) / _SAMPLE_SIDE)
        shape = (max(1, int(src.height / scale)), max(1, int(src.width / scale)))
        return _valid(src.read(1, out_shape=shape, resampling=Resampling.nearest), src.nodata)

    def _check_codes(self, path: Path, eco: xr.DataArray) -> list[int]:
        parts = [dask.delayed(_codes_in_block)(b)
                 for b in eco.data.to_delayed(optimize_graph=False).ravel()]
        found = np.unique(np.concatenate(dask.compute(*parts)))
        unknown = sorted(int(c) for c in found if c != 0 and int(c) not in ecosystem_codes())
        if unknown:
            shown = ", ".join(str(c) for c in unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise _layer_error(
                path, "ecosystem", f"codes not in the ecosystem table: {shown}",
                f"level-3 codes of {ECOSYSTEM_TABLE.name} (e.g. 111 evergreen broadleaf forest)",
                "recode the raster with the crosswalk of your land-cover classes to these codes")
        return sorted(int(c) for c in found if c != 0)

    def codes_present(self, year: int) -> list[int]:
        """Ecosystem codes found in the year's raster (checked against the table)."""
        self.ecosystem(year)
        return list(self._codes[year])


def _nodata_is_float32_value(src: rasterio.DatasetReader) -> bool:
    """A float32 band whose only mask is a finite nodata value exact in float32: its blocks
    are read raw and converted by :func:`_float32_to_nan64` (GDAL's masked read computes a
    mask band, then the masked array is copied twice before the float64 cast)."""
    nodata = src.nodata
    return (src.dtypes[0] == "float32" and nodata is not None and bool(np.isfinite(nodata))
            and float(np.float32(nodata)) == nodata
            and list(src.mask_flag_enums[0]) == [MaskFlags.nodata])


#: GDAL's tolerance for a float32 value equal to the nodata value: 2 epsilons, relative
_F32_NODATA_TOL = np.float32(2.0 * np.finfo(np.float32).eps)


@njit(cache=True, nogil=True)
def _nodata_to_nan(values, nodata, out):  # pragma: no cover - compiled
    """out = float64(values), NaN where a float32 value equals ``nodata`` by GDAL's rule for
    a nodata mask band (equal, or |v − nodata| < 2 ε_float32 · |v + nodata|)."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if v == nodata or abs(v - nodata) < _F32_NODATA_TOL * abs(v + nodata):
                out[i, j] = np.nan
            else:
                out[i, j] = v


def _float32_to_nan64(block: np.ndarray, nodata: np.float32) -> np.ndarray:
    """One raw float32 block as float64 with NaN for nodata, in one pass."""
    out = np.empty(block.shape, dtype=np.float64)
    _nodata_to_nan(np.asarray(block, dtype=np.float32), nodata, out)
    return out


_RASTERIZE = threading.Lock()


def _rasterize_serial(*args: Any, **kwargs: Any) -> np.ndarray:
    """``rasterio.features.rasterize`` one call at a time per process: on two threads at once
    GDAL's in-memory datasets raise spurious "no geotransform" warnings (seen with rasterio
    1.4.4 / GDAL 3.10). Zones are rasterised once per account, so the lock costs little."""
    with _RASTERIZE:
        return rasterize(*args, **kwargs)


def _open_da(source: Any, chunks: dict[str, int], *, masked: bool) -> xr.DataArray:
    arr = rioxarray.open_rasterio(source, chunks=chunks, masked=masked, lock=False)
    if not isinstance(arr, xr.DataArray):  # a multi-subdataset file (HDF, netCDF)
        raise InvalidInput(f"{source}: holds several datasets",
                           hint="export the layer as a single-band GeoTIFF")
    return arr


def _box(bounds: tuple[float, float, float, float]) -> Any:
    from shapely.geometry import box

    return box(*bounds)


def open_grid(
    study: StudyLike,
    *,
    resolution_m: float | None = None,
    crs: str | CRS | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> StudyGrid:
    """Fix the common grid of a study area and check its zones.

    Parameters
    ----------
    study : a ``StudyArea`` (or any object with ``zones`` and ``raster_path``).
    resolution_m : cell size [m]; default the manifest's ``resolution_m``, else the native
        cell size of the DEM (or of the first raster) in the grid CRS.
    crs : grid CRS; default the study's ``crs``, else the contract's Albers. Must be a metric,
        equal-area projection.
    chunk : dask block side [cells].
    """
    target = CRS.from_user_input(crs or getattr(study, "crs", None) or DEFAULT_CRS)
    check_equal_area(target, "study CRS")
    zones = study.zones
    if zones is None or len(zones) == 0:
        raise InvalidInput("study area: the zones layer has no features",
                           hint="add at least one zone polygon with a region_code")
    if zones.crs is None:
        raise InvalidInput("study area: zones have no CRS", hint="write the zones with a CRS")
    if "region_code" not in zones.columns:
        raise InvalidInput(f"study area: zones lack a region_code column; found "
                           f"{list(zones.columns)}", hint="name the zone code column region_code")
    zones = zones.to_crs(target).reset_index(drop=True)
    zones["region_code"] = zones["region_code"].astype(str)
    if resolution_m is None:
        manifest = getattr(study, "manifest", None)
        resolution_m = getattr(getattr(manifest, "study", None), "resolution_m", None)
    if resolution_m is None:
        resolution_m = _native_resolution(study, target)
    return StudyGrid(study, grid_for_zones(zones, target, resolution_m), zones, chunk)


def _native_resolution(study: StudyLike, crs: CRS) -> float:
    names = ["dem", *getattr(study, "raster_names", [])]
    for name in names:
        path: Path | None
        try:
            path = Path(study.raster_path(name))
        except (InvalidInput, KeyError, LookupError):
            years = getattr(study, "years", [])
            try:
                path = Path(study.raster_path(name, years[0])) if years else None
            except (InvalidInput, KeyError, LookupError):
                path = None
        if path is not None and path.is_file():
            with rasterio.open(path) as src:
                if src.crs is None:
                    continue
                left, bottom, right, top = transform_bounds(src.crs, crs, *src.bounds)
                return float(max((right - left) / src.width, (top - bottom) / src.height))
    raise InvalidInput("study area: no resolution_m in study.toml and no raster to take it from",
                       hint="set [study] resolution_m in study.toml")


@njit(cache=True, nogil=True)
def _mark_codes(block, seen):  # pragma: no cover - compiled
    """seen[c] = True for each value c of ``block`` in [0, len(seen)); returns how many values
    fell outside that range."""
    other = 0
    for i in range(block.shape[0]):
        for j in range(block.shape[1]):
            c = block[i, j]
            if 0 <= c < seen.size:
                seen[c] = True
            else:
                other += 1
    return other


def _codes_in_block(block: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer block: one compiled pass marking a 16-bit
    presence table, ``np.unique`` only if some value falls outside it."""
    block = np.asarray(block)
    if block.ndim != 2 or block.dtype.kind not in "iu":
        return np.unique(block).astype(np.int64)
    seen = np.zeros(2**16, dtype=np.bool_)
    if _mark_codes(block, seen):
        return np.unique(block).astype(np.int64)
    return np.flatnonzero(seen).astype(np.int64)


@njit(cache=True, nogil=True)
def _bin_finite(key, values, sums, counts):  # pragma: no cover - compiled
    """sums[k] += v and counts[k] += 1 for each finite v whose key k is in [0, len(sums)).

    2-D blocks of any layout, visited in row-major order (the order of a raveled block)."""
    n = sums.size
    for i in range(key.shape[0]):
        for j in range(key.shape[1]):
            k = key[i, j]
            if 0 <= k < n:
                v = values[i, j]
                if np.isfinite(v):
                    sums[k] += v
                    counts[k] += 1.0


@njit(cache=True, nogil=True)
def _count_nan(key, values, counts):  # pragma: no cover - compiled
    """counts[k] += 1 for each NaN value whose key k is in [0, len(counts))."""
    n = counts.size
    for i in range(key.shape[0]):
        for j in range(key.shape[1]):
            k = key[i, j]
            if 0 <= k < n and np.isnan(values[i, j]):
                counts[k] += 1.0


@njit(cache=True, nogil=True)
def _count_keys(key, counts):  # pragma: no cover - compiled
    """counts[k] += 1 for each key k in [0, len(counts))."""
    n = counts.size
    for i in range(key.shape[0]):
        for j in range(key.shape[1]):
            k = key[i, j]
            if 0 <= k < n:
                counts[k] += 1.0


@dataclass(frozen=True)
class ZonalStats:
    """Per-bin results of :func:`zonal_stats` (float64; counts are whole numbers)."""

    sums: np.ndarray  # (len(values), nbins): sum of the finite values
    counts: np.ndarray  # (len(values), nbins): number of finite values
    nan_counts: np.ndarray  # (len(nan_of), nbins): number of NaN cells
    cells: np.ndarray  # (nbins,): number of cells


def _as_float(block: np.ndarray) -> np.ndarray:
    return block if block.dtype.kind == "f" else block.astype(np.float64)


def zonal_stats(
    values: list[xr.DataArray],
    key: xr.DataArray,
    nbins: int,
    *,
    nan_of: list[xr.DataArray] | None = None,
    blocks: np.ndarray | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ZonalStats:
    """Block-wise bincount of several value rasters by an integer key raster.

    Parameters
    ----------
    values : rasters on the same grid (NaN = not counted).
    key : int raster; bins 0 … nbins − 1; negative = not counted.
    nbins : number of bins.
    nan_of : rasters whose NaN cells are counted per bin (coverage of input layers).
    blocks : bool array of the key's block grid: only the blocks marked True are computed
        (default all). Leave out only blocks whose key is negative everywhere.

    Returns
    -------
    :class:`ZonalStats`. Computed with the current dask scheduler (a ``dask.distributed``
    client if one is active) as one task per block — every raster of the block is binned by
    compiled loops there, no intermediate raster is made — and a tree sum of the partials.
    """
    nan_of = list(nan_of or [])
    kdata = key.data
    nv, nn = len(values), len(nan_of)
    vdata = [v.data.rechunk(kdata.chunks) for v in [*values, *nan_of]]
    # No graph optimisation: blockwise fusion copies a shared intermediate (the LS factor of
    # the four soil terms, a layer read by several models) into every raster that uses it, so
    # it was computed once per raster instead of once per block.

    def part(k: np.ndarray, *vs: np.ndarray) -> np.ndarray:
        # rows: sums of values, counts of values, NaN counts, cell count
        out = np.zeros((2 * nv + nn + 1, nbins))
        k = np.asarray(k)
        if k.dtype.kind not in "iu":
            k = k.astype(np.int64)
        for i in range(nv):
            _bin_finite(k, _as_float(np.asarray(vs[i])), out[i], out[nv + i])
        for j in range(nn):
            v = np.asarray(vs[nv + j])
            if v.dtype.kind == "f":  # an integer raster has no NaN
                _count_nan(k, v, out[2 * nv + j])
        _count_keys(k, out[-1])
        return out

    keep = (np.ones(kdata.numblocks, dtype=bool) if blocks is None
            else np.asarray(blocks, dtype=bool)).ravel()
    parts = [dask.delayed(part)(kb, *vbs) for kb, *vbs, ok in
             zip(kdata.to_delayed(optimize_graph=False).ravel(),
                 *[v.to_delayed(optimize_graph=False).ravel() for v in vdata], keep, strict=True)
             if ok]
    while len(parts) > 1:  # tree sum keeps the reduction parallel and the graph shallow
        parts = [dask.delayed(np.add)(parts[i], parts[i + 1]) if i + 1 < len(parts)
                 else parts[i] for i in range(0, len(parts), 2)]
    if progress:
        progress("computing zonal sums", 0.0)
    if parts:
        (total,) = dask.compute(parts[0], optimize_graph=False)
    else:
        total = np.zeros((2 * nv + nn + 1, nbins))
    if progress:
        progress("computed zonal sums", 1.0)
    return ZonalStats(total[:nv], total[nv:2 * nv], total[2 * nv:2 * nv + nn], total[-1])


def zonal_sums(
    values: list[xr.DataArray],
    key: xr.DataArray,
    nbins: int,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) of :func:`zonal_stats`: float64 arrays of shape (len(values), nbins) — the
    sum of the finite values in each bin and the number of finite values."""
    stats = zonal_stats(values, key, nbins, progress=progress)
    return stats.sums, stats.counts


def write_cog(arr: xr.DataArray, spec: GridSpec, path: Path) -> Path:
    """Write a float raster on ``spec`` as a Cloud-Optimised GeoTIFF (NaN nodata).

    Blocks are computed one row of chunks at a time into a tiled temporary GeoTIFF, which is
    then copied to COG layout and renamed into place, so memory stays bounded and a failed
    write never leaves a half-written file at ``path``.
    """
    import os
    import tempfile

    from rasterio.shutil import copy as rio_copy

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = arr.data if isinstance(arr.data, da.Array) else da.from_array(np.asarray(arr.data))
    data = data.astype(np.float32)
    fd, tmp = tempfile.mkstemp(suffix=".tif", dir=path.parent)
    os.close(fd)
    fd2, tmp_cog = tempfile.mkstemp(suffix=".tif", dir=path.parent)
    os.close(fd2)
    try:
        profile = {"driver": "GTiff", "width": spec.width, "height": spec.height, "count": 1,
                   "dtype": "float32", "crs": spec.crs.to_wkt(), "transform": spec.transform,
                   "nodata": float("nan"), "tiled": True, "blockxsize": 256,
                   "blockysize": 256, "compress": "deflate"}
        with rasterio.open(tmp, "w", **profile) as dst:
            row0 = 0
            for i, height in enumerate(data.chunks[0]):
                band = data.blocks[i, :].compute()
                dst.write(np.asarray(band), 1,
                          window=rasterio.windows.Window(0, row0, spec.width, height))
                row0 += height
        rio_copy(tmp, tmp_cog, driver="COG", compress="deflate")
        os.replace(tmp_cog, path)
    finally:
        for f in (tmp, tmp_cog):
            if os.path.exists(f):
                os.remove(f)
    return path
