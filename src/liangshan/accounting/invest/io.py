"""Raster, table and vector I/O with InVEST 3.20.2's conventions.

Shared by the InVEST-compatible models (water yield, carbon, habitat quality, SDR, NDR).
Reading and writing go through rasterio (GDAL); the nodata rule is pygeoprocessing's
``array_equals_nodata`` (``isclose``, NaN-aware) [V] (INVEST_NOTES §2); tables are read
case-insensitively like ``spec.get_validated_dataframe`` [V]; zonal statistics rasterise
each polygon by the pixel-centre rule (ALL_TOUCHED off) [V] (INVEST_NOTES §2).

Units are whatever the caller's rasters carry; the helpers never rescale values.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from liangshan.errors import InvalidInput

# pygeoprocessing's default GTiff options are TILED/LZW/256 blocks [V]. LZW costs about
# 0.2 s per 9 M float32 pixels on one core; ZSTD level 1 with two threads is several times
# faster and still lossless, and every GDAL >= 2.3 reads it.
GTIFF_OPTIONS: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "zstd",
    "zstd_level": 1,
    "num_threads": "2",
    "bigtiff": "IF_SAFER",
}

# InVEST's float outputs mostly use float32 and these nodata values [V].
FLOAT32_NODATA = float(np.finfo(np.float32).min)


@dataclass
class Raster:
    """One band of a raster held in memory.

    ``transform`` is the GDAL geotransform (x0, dx, 0, y0, 0, dy) in CRS units (metres for
    the projected CRSs InVEST requires); ``crs`` is a WKT string ('' if the file has none).
    """

    array: np.ndarray
    nodata: float | None
    transform: tuple[float, float, float, float, float, float]
    crs: str
    path: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[0]), int(self.array.shape[1]))

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(dx, dy) in CRS units; dy is negative for north-up rasters."""
        return (self.transform[1], self.transform[5])

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared (m² for a metric CRS)."""
        return abs(self.transform[1] * self.transform[5])

    def valid_mask(self) -> np.ndarray:
        """True where the pixel is not nodata (pygeoprocessing's rule)."""
        return ~nodata_mask(self.array, self.nodata)


def nodata_mask(array: np.ndarray, nodata: float | None) -> np.ndarray:
    """Boolean array, True where ``array`` equals ``nodata``.

    Mirrors pygeoprocessing's ``array_equals_nodata``: ``numpy.isclose`` for floats (so a
    float32 raster written with a float64 nodata still matches), NaN equals NaN, and
    nothing is nodata when ``nodata`` is None.
    """
    if nodata is None:
        return np.zeros(array.shape, dtype=bool)
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        if not np.isfinite(nodata) or not info.min <= nodata <= info.max:
            return np.zeros(array.shape, dtype=bool)
        if float(nodata) != int(nodata):
            return np.zeros(array.shape, dtype=bool)
        return array == array.dtype.type(nodata)
    if np.isnan(nodata):
        return np.isnan(array)
    # numpy.isclose's test (rtol 1e-5, atol 1e-8) written out: one subtraction instead of
    # isclose's broadcasting machinery, which matters at tens of millions of pixels.
    tol = 1e-8 + 1e-5 * abs(float(nodata))
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(array - array.dtype.type(nodata)) <= tol


def read_raster(path: str | os.PathLike[str], band: int = 1, *, label: str = "") -> Raster:
    """Read one band of a GDAL raster into memory.

    ``label`` names the input (an InVEST argument name, e.g. ``lulc_path``) in errors.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    where = f"{label} ({path})" if label else str(path)
    try:
        with rasterio.open(path) as src:
            if band > src.count:
                raise InvalidInput(
                    f"{where} has {src.count} band(s); band {band} was requested",
                    hint="point the argument at a single-band raster",
                )
            array = src.read(band)
            nodata = src.nodatavals[band - 1]
            transform = src.transform.to_gdal()
            crs = src.crs.to_wkt() if src.crs else ""
    except RasterioIOError as exc:
        raise InvalidInput(
            f"cannot open raster {where}: {exc}",
            hint="check that the path exists and is a GDAL-readable raster (e.g. GeoTIFF)",
        ) from exc
    return Raster(array=array, nodata=nodata, transform=tuple(transform), crs=crs, path=str(path))


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_raster(
    path: str | os.PathLike[str],
    array: np.ndarray,
    like: Raster,
    nodata: float | None,
    dtype: str | np.dtype[Any] | type | None = None,
) -> Path:
    """Write ``array`` as a single-band GeoTIFF on the grid of ``like``.

    Written to a temporary file in the same directory, then renamed, so a failure never
    leaves a half-written output. ``nodata`` is stored in the file header (InVEST uses −1
    for water yield and float32 min for most float outputs). Returns the path written.
    """
    import rasterio
    from affine import Affine

    target = Path(path)
    if array.shape != like.shape:
        raise InvalidInput(
            f"cannot write {target.name}: array shape {array.shape} differs from the "
            f"reference grid {like.shape}"
        )
    out = np.asarray(array, dtype=dtype) if dtype is not None else np.asarray(array)
    if out.dtype == np.bool_:
        out = out.astype(np.uint8)
    tmp = _atomic_target(target)
    profile = dict(GTIFF_OPTIONS)
    if out.shape[0] < 256 or out.shape[1] < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    profile.update(
        height=out.shape[0],
        width=out.shape[1],
        count=1,
        dtype=out.dtype,
        transform=Affine.from_gdal(*like.transform),
        crs=like.crs or None,
        nodata=nodata,
    )
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(out, 1)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return target


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame, *, index: bool = False) -> Path:
    """Write a CSV atomically (temp file then rename)."""
    target = Path(path)
    tmp = _atomic_target(target)
    try:
        frame.to_csv(tmp, index=index)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return target


def read_table(
    path: str | os.PathLike[str],
    index_col: str,
    required: Sequence[str] = (),
    *,
    label: str = "",
) -> pd.DataFrame:
    """Read an InVEST biophysical/threat table (CSV) case-insensitively.

    Column names are stripped and lower-cased, string cells stripped, and the table is
    indexed by ``index_col`` (lower-case). ``required`` columns must exist; rows whose
    index is blank are dropped (InVEST drops all-empty rows). Duplicated index values are
    an error, as in InVEST.
    """
    where = f"{label} ({path})" if label else str(path)
    try:
        frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InvalidInput(f"table {where} does not exist", hint="check the path") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"cannot parse table {where}: {exc}", hint="save it as UTF-8 CSV"
        ) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame = frame.dropna(how="all")
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype):
            frame[col] = frame[col].map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = [c for c in (index_col, *required) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"table {where} lacks column(s) {missing}; it has {list(frame.columns)}",
            hint="column names are case-insensitive; add the missing column(s)",
        )
    frame = frame[frame[index_col].notna()]
    if frame[index_col].duplicated().any():
        dups = sorted(frame.loc[frame[index_col].duplicated(), index_col].unique().tolist())
        raise InvalidInput(
            f"table {where} has duplicate values {dups} in column {index_col!r}",
            hint="each code must appear on exactly one row",
        )
    for col in required:
        if frame[col].isna().any():
            rows = frame.loc[frame[col].isna(), index_col].tolist()
            raise InvalidInput(
                f"table {where} has blank values in column {col!r} for {index_col} {rows}",
                hint="fill in every required value",
            )
    return frame.set_index(index_col)


@numba.njit(parallel=True, cache=True, nogil=True)
def _lut_kernel(codes, lo, known, lut, nd, has_nd, out_nodata, out, bad):
    m = known.size
    for i in numba.prange(codes.size):
        c = codes[i]
        if has_nd and c == nd:
            for j in range(lut.shape[0]):
                out[j, i] = out_nodata
            continue
        k = np.int64(c) - lo
        if k < 0 or k >= m or not known[k]:
            bad[0] = True
            for j in range(lut.shape[0]):
                out[j, i] = out_nodata
            continue
        for j in range(lut.shape[0]):
            out[j, i] = lut[j, k]


def _missing_codes_error(codes, codes_nodata, keys, label, table_label) -> InvalidInput:
    present = np.unique(codes[~nodata_mask(codes, codes_nodata)])
    missing = np.setdiff1d(present.astype(np.int64), keys)
    return InvalidInput(
        f"values {missing.tolist()} in {label or 'the LULC raster'} are not represented "
        f"in {table_label or 'the table'}",
        hint="add a row for each code, or set those pixels to the raster's nodata value",
    )


def reclassify_many(
    codes: np.ndarray,
    codes_nodata: float | None,
    mappings: Sequence[dict[Any, float]],
    out_nodata: float,
    *,
    dtype: type = np.float32,
    label: str = "",
    table_label: str = "",
) -> list[np.ndarray]:
    """Map integer codes through several mappings (one table column each) in one pass.

    Same rule as InVEST's ``utils.reclassify_raster``: pixels equal to ``codes_nodata``
    become ``out_nodata``; a valid code missing from the mapping raises InvalidInput naming
    the codes (InVEST raises ValueError). Every mapping must have the same keys.
    """
    keys = np.array(sorted(int(k) for k in mappings[0]), dtype=np.int64)
    integer = np.issubdtype(codes.dtype, np.integer)
    if not keys.size:
        if (~nodata_mask(codes, codes_nodata)).any():
            raise _missing_codes_error(codes, codes_nodata, keys, label, table_label)
        return [np.full(codes.shape, out_nodata, dtype=dtype) for _ in mappings]
    lo, hi = int(keys[0]), int(keys[-1])
    if integer and hi - lo <= 1 << 20:
        # A dense look-up table gathered by a parallel kernel: one pass for all columns.
        known = np.zeros(hi - lo + 1, dtype=np.bool_)
        known[keys - lo] = True
        lut: np.ndarray = np.zeros((len(mappings), hi - lo + 1), dtype=dtype)
        for j, mp in enumerate(mappings):
            lut[j, keys - lo] = [mp[k] for k in keys.tolist()]
        info = np.iinfo(codes.dtype)
        has_nd = (codes_nodata is not None and np.isfinite(codes_nodata)
                  and float(codes_nodata) == int(codes_nodata)
                  and info.min <= codes_nodata <= info.max)
        nd = codes.dtype.type(codes_nodata) if has_nd else codes.dtype.type(0)
        out: np.ndarray = np.empty((len(mappings), codes.size), dtype=dtype)
        bad = np.zeros(1, dtype=np.bool_)
        _lut_kernel(np.ascontiguousarray(codes).ravel(), lo, known, lut, nd, has_nd,
                    dtype(out_nodata), out, bad)
        if bad[0]:
            raise _missing_codes_error(codes, codes_nodata, keys, label, table_label)
        return [out[j].reshape(codes.shape) for j in range(len(mappings))]
    invalid = nodata_mask(codes, codes_nodata)
    valid_codes = codes[~invalid]
    if np.setdiff1d(np.unique(valid_codes).astype(np.int64), keys).size:
        raise _missing_codes_error(codes, codes_nodata, keys, label, table_label)
    idx = np.searchsorted(keys, valid_codes.astype(np.int64))
    outs = []
    for mp in mappings:
        values = np.array([mp[k] for k in keys.tolist()], dtype=np.float64)
        o: np.ndarray = np.full(codes.shape, out_nodata, dtype=dtype)
        o[~invalid] = values[idx]
        outs.append(o)
    return outs


def reclassify(
    codes: np.ndarray,
    codes_nodata: float | None,
    mapping: dict[Any, float],
    out_nodata: float,
    *,
    dtype: type = np.float32,
    label: str = "",
    table_label: str = "",
) -> np.ndarray:
    """Map integer codes to values through ``mapping`` (see :func:`reclassify_many`)."""
    return reclassify_many(codes, codes_nodata, [mapping], out_nodata, dtype=dtype,
                           label=label, table_label=table_label)[0]


def check_same_grid(reference: Raster, other: Raster, *, label: str = "") -> None:
    """Raise InvalidInput unless ``other`` has exactly the grid of ``reference``."""
    same = other.shape == reference.shape and np.allclose(
        other.transform, reference.transform, rtol=0, atol=1e-6 * abs(reference.transform[1])
    )
    if not same:
        raise InvalidInput(
            f"{label or other.path} is not on the grid of {reference.path}: "
            f"shape {other.shape} vs {reference.shape}, geotransform {other.transform} vs "
            f"{reference.transform}",
            hint="resample it to the same pixel size, extent and origin",
        )


def raster_bbox(r: Raster) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a raster in CRS units."""
    x0, dx, _, y0, _, dy = r.transform
    h, w = r.shape
    xs = (x0, x0 + dx * w)
    ys = (y0, y0 + dy * h)
    return (min(xs), min(ys), max(xs), max(ys))


def align_to_intersection(
    rasters: Sequence[Raster],
    align_index: int,
    resampling: Sequence[str],
    extra_bboxes: Sequence[tuple[float, float, float, float]] = (),
) -> list[Raster]:
    """Warp rasters onto the align raster's pixel grid over the common bounding box.

    Follows pygeoprocessing's ``align_and_resize_raster_stack`` in 'intersection' mode:
    the box is the intersection of all raster boxes and ``extra_bboxes`` (vectors), its
    lower-left corner snapped to the align raster's grid; every raster is warped with its
    own resampling (``'near'``, ``'bilinear'``, ``'mode'`` …) at the align raster's pixel
    size. Rasters already on that grid are returned unchanged (no copy).
    """
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    ref = rasters[align_index]
    boxes = [raster_bbox(r) for r in rasters] + list(extra_bboxes)
    minx = max(b[0] for b in boxes)
    miny = max(b[1] for b in boxes)
    maxx = min(b[2] for b in boxes)
    maxy = min(b[3] for b in boxes)
    if minx >= maxx or miny >= maxy:
        raise InvalidInput(
            "the input rasters (and vector) do not overlap: their common bounding box is empty",
            hint="check that every input covers the same area in the same projected CRS",
        )
    dx, dy = ref.transform[1], ref.transform[5]
    rb = raster_bbox(ref)
    # Snap the lower-left corner onto the align grid (int() truncation, as pygeoprocessing).
    minx = int((minx - rb[0]) / abs(dx)) * abs(dx) + rb[0]
    miny = int((miny - rb[1]) / abs(dy)) * abs(dy) + rb[1]
    width = round((maxx - minx) / abs(dx))
    height = round((maxy - miny) / abs(dy))
    x0, y0 = minx, (miny + height * abs(dy)) if dy < 0 else miny
    transform = (x0, dx, 0.0, y0, 0.0, dy)
    out: list[Raster] = []
    for r, method in zip(rasters, resampling, strict=True):
        if r.shape == (height, width) and np.allclose(
            r.transform, transform, rtol=0, atol=1e-6 * abs(dx)
        ):
            out.append(r)
            continue
        dest = np.full(
            (height, width), r.nodata if r.nodata is not None else 0, dtype=r.array.dtype
        )
        reproject(
            source=r.array,
            destination=dest,
            src_transform=Affine.from_gdal(*r.transform),
            src_crs=r.crs or ref.crs,
            src_nodata=r.nodata,
            dst_transform=Affine.from_gdal(*transform),
            dst_crs=ref.crs or r.crs,
            dst_nodata=r.nodata,
            resampling=getattr(Resampling, {"near": "nearest"}.get(method, method)),
        )
        out.append(Raster(dest, r.nodata, transform, ref.crs, r.path))
    return out


def read_vector(path: str | os.PathLike[str], *, label: str = "", lower: bool = True) -> Any:
    """Read a polygon vector (shapefile, GeoPackage …) into a GeoDataFrame.

    Field names are lower-cased unless ``lower`` is False (InVEST matches fields
    case-insensitively).
    """
    import geopandas as gpd

    where = f"{label} ({path})" if label else str(path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise InvalidInput(f"cannot open vector {where}: {exc}", hint="check the path") from exc
    if lower:
        gdf.columns = [c if c == gdf.geometry.name else str(c).lower() for c in gdf.columns]
    return gdf


def zone_masks(geometries: Sequence[Any], grid: Raster):
    """Yield (row_slice, col_slice, mask) per geometry by the pixel-centre rule.

    Each polygon is burnt into the window of its bounding box only, so overlapping
    polygons are handled independently (as pygeoprocessing's zonal_statistics does).
    """
    from affine import Affine
    from rasterio.features import rasterize

    x0, dx, _, y0, _, dy = grid.transform
    h, w = grid.shape
    for geom in geometries:
        if geom is None or geom.is_empty:
            yield slice(0, 0), slice(0, 0), np.zeros((0, 0), dtype=bool)
            continue
        gx0, gy0, gx1, gy1 = geom.bounds
        c0 = max(int(np.floor((gx0 - x0) / dx)) - 1, 0)
        c1 = min(int(np.ceil((gx1 - x0) / dx)) + 1, w)
        r0 = max(int(np.floor((gy1 - y0) / dy)) - 1, 0) if dy < 0 else 0
        r1 = min(int(np.ceil((gy0 - y0) / dy)) + 1, h) if dy < 0 else h
        if c0 >= c1 or r0 >= r1:
            yield slice(0, 0), slice(0, 0), np.zeros((0, 0), dtype=bool)
            continue
        win_t = Affine.from_gdal(x0 + c0 * dx, dx, 0.0, y0 + r0 * dy, 0.0, dy)
        mask = rasterize(
            [(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=win_t, fill=0,
            all_touched=False, dtype="uint8",
        ).astype(bool)
        yield slice(r0, r1), slice(c0, c1), mask


@numba.njit(parallel=True, cache=True, nogil=True)
def _zonal_kernel(labels, values, nd, has_nd, tol, sums, counts):
    # one row of partial sums per chunk, so the chunks can run in parallel
    nchunks = sums.shape[0]
    step = (labels.size + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        for i in range(c * step, min((c + 1) * step, labels.size)):
            zone = labels[i]
            if zone == 0:
                continue
            v = values[i]
            if has_nd and abs(v - nd) <= tol:
                continue
            sums[c, zone] += v
            counts[c, zone] += 1


def zone_labels(geometries: Sequence[Any], grid: Raster) -> np.ndarray | None:
    """int32 raster of 1-based geometry indices (0 = outside), or None if polygons overlap.

    Pixel-centre rule (ALL_TOUCHED off), as pygeoprocessing's zonal_statistics.
    """
    from affine import Affine
    from rasterio.features import rasterize

    shapes = [(g, i + 1) for i, g in enumerate(geometries) if g is not None and not g.is_empty]
    t = Affine.from_gdal(*grid.transform)
    if not shapes:
        return np.zeros(grid.shape, dtype=np.int32)
    from shapely import union_all
    from shapely.errors import GEOSException

    try:
        total = sum(g.area for g, _ in shapes)
        if total > union_all([g for g, _ in shapes]).area * (1 + 1e-9) + 1e-9:
            return None
    except GEOSException:  # invalid geometry: let the per-polygon path handle it
        return None
    return rasterize(shapes, out_shape=grid.shape, transform=t, fill=0, dtype="int32")


def zonal_stats(
    rasters: dict[str, Raster], geometries: Sequence[Any]
) -> list[dict[str, float]]:
    """Per geometry: for each named raster its valid-pixel ``<name>_sum`` and ``<name>_count``.

    All rasters must share one grid. Sums are float64 over pixels inside the polygon
    (pixel-centre rule) that are not nodata in that raster; units are the raster's.
    Non-overlapping polygons use one label raster and a single pass per raster;
    overlapping ones are burnt one by one.
    """
    first = next(iter(rasters.values()))
    geometries = list(geometries)
    labels = zone_labels(geometries, first)
    if labels is not None:
        flat_labels = labels.ravel()
        rows: list[dict[str, float]] = [{} for _ in geometries]
        for name, r in rasters.items():
            nchunks = 16
            sums = np.zeros((nchunks, len(geometries) + 1), dtype=np.float64)
            counts = np.zeros((nchunks, len(geometries) + 1), dtype=np.int64)
            has_nd = r.nodata is not None and not np.isnan(r.nodata)
            nd = float(r.nodata) if (has_nd and r.nodata is not None) else 0.0
            tol = 0.0 if np.issubdtype(r.array.dtype, np.integer) else 1e-08 + 1e-05 * abs(nd)
            values = np.ascontiguousarray(r.array).ravel()
            if r.nodata is not None and np.isnan(r.nodata):
                values = np.where(np.isnan(values), 0, values)
                flat = np.where(np.isnan(r.array.ravel()), 0, flat_labels)
                _zonal_kernel(flat, values, 0.0, False, 0.0, sums, counts)
            else:
                _zonal_kernel(flat_labels, values, nd, has_nd, tol, sums, counts)
            total_sums, total_counts = sums.sum(axis=0), counts.sum(axis=0)
            for i, zrow in enumerate(rows):
                zrow[f"{name}_sum"] = float(total_sums[i + 1])
                zrow[f"{name}_count"] = float(total_counts[i + 1])
        return rows
    valids = {k: r.valid_mask() for k, r in rasters.items()}
    rows = []
    for rs, cs, mask in zone_masks(geometries, first):
        row: dict[str, float] = {}
        for name, r in rasters.items():
            m = mask & valids[name][rs, cs]
            row[f"{name}_sum"] = float(r.array[rs, cs][m].sum(dtype=np.float64))
            row[f"{name}_count"] = float(np.count_nonzero(m))
        rows.append(row)
    return rows


def zonal_sum(
    raster: Raster, vector_path: str | os.PathLike[str], id_field: str
) -> pd.DataFrame:
    """Sum of valid pixel values per polygon, indexed by ``id_field``.

    Columns ``sum`` (raster units × pixels) and ``count`` (valid pixels). Multiply ``sum``
    by ``raster.pixel_area / 10_000`` for per-hectare rasters to get totals.
    """
    gdf = read_vector(vector_path)
    field = id_field.lower()
    if field not in gdf.columns:
        raise InvalidInput(
            f"vector {vector_path} lacks field {id_field!r}; it has {list(gdf.columns)}",
            hint="name the polygon id field correctly",
        )
    stats = zonal_stats({"v": raster}, list(gdf.geometry))
    return pd.DataFrame(
        {"sum": [s["v_sum"] for s in stats], "count": [s["v_count"] for s in stats]},
        index=pd.Index(gdf[field].tolist(), name=field),
    )


def normalize_suffix(results_suffix: str | None) -> str:
    """InVEST's rule: '' if empty, else prefixed with '_' unless it already starts with one."""
    if not results_suffix:
        return ""
    s = str(results_suffix)
    return s if s.startswith("_") else f"_{s}"


def output_path(workspace: str | os.PathLike[str], relpath: str, suffix: str) -> Path:
    """``workspace/relpath`` with the (normalised) suffix inserted before the extension."""
    rel = Path(relpath)
    target = Path(workspace) / rel.parent / f"{rel.stem}{suffix}{rel.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_vector(gdf: Any, path: str | os.PathLike[str]) -> Path:
    """Write a GeoDataFrame (Shapefile for .shp, GeoPackage for .gpkg) atomically.

    The files are written into a temporary sibling directory and then renamed into place,
    so a failure never leaves a half-written vector (a Shapefile is several files).
    """
    import shutil

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    driver = {".shp": "ESRI Shapefile", ".gpkg": "GPKG"}.get(target.suffix.lower())
    if driver is None:
        raise InvalidInput(f"cannot write vector {target}: use a .shp or .gpkg name")
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    try:
        gdf.to_file(tmpdir / target.name, driver=driver)
        for f in tmpdir.iterdir():
            os.replace(f, target.parent / f.name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return target


def read_rasters_parallel(
    paths: Mapping[str, str | os.PathLike[str]], *, max_workers: int = 2
) -> dict[str, Raster]:
    """Read several rasters concurrently (GDAL releases the GIL while decoding)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = {k: pool.submit(read_raster, p, label=k) for k, p in paths.items()}
        return {k: f.result() for k, f in futures.items()}


def write_rasters_parallel(
    jobs: Sequence[tuple[Any, ...]], *, max_workers: int = 2
) -> list[Path]:
    """Run several :func:`write_raster` calls concurrently; each job is its argument tuple."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return [f.result() for f in [pool.submit(write_raster, *job) for job in jobs]]


def as_float(value: Any, name: str) -> float:
    """An InVEST numeric argument (number or numeric string) as float, else InvalidInput."""
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"argument {name}={value!r} is not a number") from exc


def as_bool(value: Any) -> bool:
    """InVEST boolean arguments may arrive as bools or strings from a datastack."""
    if isinstance(value, str):
        return value.strip().lower() not in {"", "0", "false", "no", "off"}
    return bool(value)


def warp_to_grid(r: Raster, grid: Raster, method: str = "near") -> Raster:
    """``r`` resampled onto exactly ``grid``'s pixels (no copy if already there).

    Reprojects when the CRSs differ (GDAL warp); areas outside ``r`` become its nodata.
    """
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    if r.shape == grid.shape and np.allclose(
        r.transform, grid.transform, rtol=0, atol=1e-6 * abs(grid.transform[1])
    ):
        return r
    fill = r.nodata if r.nodata is not None else 0
    dest = np.full(grid.shape, fill, dtype=r.array.dtype)
    reproject(
        source=r.array, destination=dest,
        src_transform=Affine.from_gdal(*r.transform), src_crs=r.crs or grid.crs,
        src_nodata=r.nodata,
        dst_transform=Affine.from_gdal(*grid.transform), dst_crs=grid.crs or r.crs,
        dst_nodata=r.nodata,
        resampling=getattr(Resampling, {"near": "nearest"}.get(method, method)),
    )
    return Raster(dest, r.nodata, grid.transform, grid.crs, r.path)
