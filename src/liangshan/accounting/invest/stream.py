"""Strip-wise raster streaming for the per-pixel InVEST-compatible models.

The per-pixel models (water yield, carbon, habitat quality's last step) need no
neighbourhood, so they can read a strip of rows from every input, compute it and write it
before reading the next: memory stays at a few strips whatever the raster size, and
decoding, computing and encoding overlap. InVEST does the same through pygeoprocessing's
``raster_calculator`` with 256×256 blocks and GeoTIFF intermediates on disk [V].

* :class:`GridReader` reads row strips of one band as seen on a target grid: a plain
  window when the source already lies on that grid (same CRS and pixel size, whole-pixel
  offset, fully inside), otherwise a GDAL ``WarpedVRT`` with the requested resampling —
  the same warper ``io.align_to_intersection`` / ``io.warp_to_grid`` use on whole arrays.
* :class:`GridWriter` writes a GeoTIFF strip by strip with ``io.GTIFF_OPTIONS`` and renames
  it into place only when complete.
* :class:`ZoneSums` accumulates per-polygon sums and counts of valid pixels strip by strip
  (pixel-centre rule, nodata by pygeoprocessing's ``isclose`` rule), as ``io.zonal_stats``.
* :func:`run_strips` drives the loop: the next strip is read by worker threads while the
  caller computes the current one, and strips are written by one writer thread.

GDAL's block cache is capped at :data:`CACHE_BYTES` while streaming: with all inputs open,
GDAL would otherwise keep every decoded block (up to 5 % of RAM), which is exactly the
whole-raster memory streaming avoids. Units are whatever the rasters carry.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from liangshan.accounting.invest import io as iio
from liangshan.errors import InvalidInput

STRIP_ROWS = 256  # one row of the 256×256 output tiles: each strip completes its tiles
CACHE_BYTES = 32 * 2**20

__all__ = ["CACHE_BYTES", "CodeTable", "GridReader", "GridSpec", "GridWriter", "ZoneSums",
           "intersection_grid", "nodata_args", "raster_spec", "run_strips",
           "small_gdal_cache", "strips"]


@dataclass(frozen=True)
class GridSpec:
    """A north-up pixel grid: GDAL geotransform (CRS units, metres when projected),
    (rows, cols) and CRS as WKT ('' when unknown). ``nodata``/``dtype``/``path`` describe
    the raster it was read from, if any."""

    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]
    crs: str
    nodata: float | None = None
    dtype: str = "float32"
    path: str = ""

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(dx, dy) in CRS units; dy is negative for north-up rasters."""
        return (self.transform[1], self.transform[5])

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared (m² for a metric CRS)."""
        return abs(self.transform[1] * self.transform[5])

    def bbox(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in CRS units."""
        x0, dx, _, y0, _, dy = self.transform
        h, w = self.shape
        xs, ys = (x0, x0 + dx * w), (y0, y0 + dy * h)
        return (min(xs), min(ys), max(xs), max(ys))


def raster_spec(path: str | os.PathLike[str], *, label: str = "") -> GridSpec:
    """The grid, nodata and dtype of band 1 of a raster, without reading its pixels."""
    import rasterio
    from rasterio.errors import RasterioIOError

    where = f"{label} ({path})" if label else str(path)
    try:
        with rasterio.open(path) as src:
            return GridSpec(tuple(src.transform.to_gdal()), (src.height, src.width),
                            src.crs.to_wkt() if src.crs else "", src.nodatavals[0],
                            src.dtypes[0], str(path))
    except RasterioIOError as exc:
        raise InvalidInput(
            f"cannot open raster {where}: {exc}",
            hint="check that the path exists and is a GDAL-readable raster (e.g. GeoTIFF)",
        ) from exc


def intersection_grid(
    specs: Sequence[GridSpec], align_index: int,
    extra_bboxes: Sequence[tuple[float, float, float, float]] = (),
) -> GridSpec:
    """The grid pygeoprocessing's ``align_and_resize_raster_stack`` builds in 'intersection'
    mode (the rule of ``io.align_to_intersection``): the intersection of every raster box
    and ``extra_bboxes``, lower-left corner snapped (int() truncation) onto the align
    raster's grid, at its pixel size. CRS units."""
    ref = specs[align_index]
    boxes = [s.bbox() for s in specs] + list(extra_bboxes)
    minx, miny = max(b[0] for b in boxes), max(b[1] for b in boxes)
    maxx, maxy = min(b[2] for b in boxes), min(b[3] for b in boxes)
    if minx >= maxx or miny >= maxy:
        raise InvalidInput(
            "the input rasters (and vector) do not overlap: their common bounding box is empty",
            hint="check that every input covers the same area in the same projected CRS",
        )
    dx, dy = ref.transform[1], ref.transform[5]
    rb = ref.bbox()
    minx = int((minx - rb[0]) / abs(dx)) * abs(dx) + rb[0]
    miny = int((miny - rb[1]) / abs(dy)) * abs(dy) + rb[1]
    width = round((maxx - minx) / abs(dx))
    height = round((maxy - miny) / abs(dy))
    y0 = (miny + height * abs(dy)) if dy < 0 else miny
    return GridSpec((minx, dx, 0.0, y0, 0.0, dy), (height, width), ref.crs, ref.nodata,
                    ref.dtype, ref.path)


def strips(rows: int, height: int | None = None) -> list[tuple[int, int]]:
    """(first row, end row) of consecutive strips of ``height`` (default :data:`STRIP_ROWS`)
    rows covering ``rows`` rows."""
    h = height or STRIP_ROWS
    return [(r, min(r + h, rows)) for r in range(0, rows, h)]


class GridReader:
    """Row strips of band 1 of ``path`` on the pixels of ``grid``.

    Pixels of the grid outside the source become the source's nodata (0 if it has none),
    as with ``io.warp_to_grid``. ``resampling`` is a GDAL name ('near', 'bilinear', 'mode' …).
    """

    def __init__(self, path: str | os.PathLike[str], grid: GridSpec, *, label: str = "",
                 resampling: str = "near") -> None:
        import rasterio
        from affine import Affine
        from rasterio.enums import Resampling
        from rasterio.errors import RasterioIOError
        from rasterio.vrt import WarpedVRT

        where = f"{label} ({path})" if label else str(path)
        try:
            self._src = rasterio.open(path)
        except RasterioIOError as exc:
            raise InvalidInput(f"cannot open raster {where}: {exc}",
                               hint="check that the path exists and is a GDAL-readable "
                                    "raster (e.g. GeoTIFF)") from exc
        src = self._src
        self.nodata: float | None = src.nodatavals[0]
        self.dtype = np.dtype(src.dtypes[0])
        self.width = grid.shape[1]
        self._ds: Any = src
        self._row0 = self._col0 = 0
        st = src.transform.to_gdal()
        dx, dy = grid.transform[1], grid.transform[5]
        col_off = (grid.transform[0] - st[0]) / dx
        row_off = (grid.transform[3] - st[3]) / dy
        tol = 1e-6
        same_crs = not src.crs or not grid.crs or src.crs == rasterio.crs.CRS.from_user_input(grid.crs)
        on_grid = (same_crs and abs(st[1] - dx) <= tol * abs(dx)
                   and abs(st[5] - dy) <= tol * abs(dy) and st[2] == 0 and st[4] == 0
                   and abs(col_off - round(col_off)) <= tol
                   and abs(row_off - round(row_off)) <= tol)
        if on_grid:
            self._row0, self._col0 = round(row_off), round(col_off)
            on_grid = (self._row0 >= 0 and self._col0 >= 0
                       and self._row0 + grid.shape[0] <= src.height
                       and self._col0 + grid.shape[1] <= src.width)
        if not on_grid:
            self._row0 = self._col0 = 0
            crs = grid.crs or (src.crs.to_wkt() if src.crs else None)
            self._ds = WarpedVRT(
                src, src_crs=src.crs or crs, crs=crs,
                transform=Affine.from_gdal(*grid.transform),
                width=grid.shape[1], height=grid.shape[0], src_nodata=self.nodata,
                nodata=self.nodata,
                resampling=getattr(Resampling, {"near": "nearest"}.get(resampling,
                                                                       resampling)))

    def read(self, r0: int, r1: int) -> np.ndarray:
        """Rows r0..r1−1 of the grid (source dtype)."""
        from rasterio.windows import Window

        return self._ds.read(1, window=Window(self._col0, self._row0 + r0, self.width, r1 - r0))

    def close(self) -> None:
        if self._ds is not self._src:
            self._ds.close()
        self._src.close()


class GridWriter:
    """A single-band GeoTIFF on ``grid`` written strip by strip (``io.GTIFF_OPTIONS``).

    It is written under a temporary name and renamed into place by :meth:`commit`;
    :meth:`abort` removes it, so a failure never leaves a half-written output.
    """

    def __init__(self, path: str | os.PathLike[str], grid: GridSpec, dtype: Any,
                 nodata: float | None) -> None:
        import rasterio
        from affine import Affine

        self.target = Path(path)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.stem}.", suffix=self.target.suffix,
                                   dir=self.target.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self.dtype = np.dtype(dtype)
        profile = dict(iio.GTIFF_OPTIONS)
        h, w = grid.shape
        if h < 256 or w < 256:
            profile.update(tiled=False)
            profile.pop("blockxsize")
            profile.pop("blockysize")
        profile.update(height=h, width=w, count=1, dtype=self.dtype,
                       transform=Affine.from_gdal(*grid.transform), crs=grid.crs or None,
                       nodata=nodata)
        self._dst = rasterio.open(self._tmp, "w", **profile)

    def write(self, r0: int, array: np.ndarray) -> None:
        """Write ``array`` as rows r0.. of the raster."""
        from rasterio.windows import Window

        self._dst.write(np.asarray(array, dtype=self.dtype), 1,
                        window=Window(0, r0, array.shape[1], array.shape[0]))

    def commit(self) -> Path:
        self._dst.close()
        os.replace(self._tmp, self.target)
        return self.target

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._dst.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


@numba.njit(cache=True, nogil=True)
def _zone_sums_kernel(labels, values, nd, has_nd, nan_nd, sums, counts):
    # pygeoprocessing's nodata rule: isclose (rtol 1e-5, atol 1e-8), NaN equals NaN
    tol = 1e-8 + 1e-5 * abs(nd)
    for i in range(labels.size):
        zone = labels[i]
        if zone == 0:
            continue
        v = np.float64(values[i])
        if nan_nd and v != v:
            continue
        if has_nd and abs(v - nd) <= tol:
            continue
        sums[zone] += v
        counts[zone] += 1


def nodata_args(nodata: float | None, dtype: np.dtype[Any]) -> tuple[float, bool, bool]:
    """(nodata, has_nodata, nodata_is_nan) for the kernels, per ``io.nodata_mask``."""
    if nodata is None:
        return 0.0, False, False
    if np.isnan(nodata):
        return 0.0, False, True
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not (info.min <= nodata <= info.max and float(nodata) == int(nodata)):
            return 0.0, False, False
    return float(nodata), True, False


class ZoneSums:
    """Per-polygon Σ and count of valid pixels, accumulated strip by strip.

    Pixel-centre rule (ALL_TOUCHED off) and pygeoprocessing's nodata rule, like
    ``io.zonal_stats``; overlapping polygons are each summed in full. :meth:`rows` returns
    ``io.zonal_stats``'s format: per polygon ``{f"{name}_sum": …, f"{name}_count": …}``.
    """

    def __init__(self, geometries: Sequence[Any], grid: GridSpec, names: Sequence[str]):
        from shapely import union_all
        from shapely.errors import GEOSException

        self._grid = grid
        self._names = list(names)
        x0, dx, _, y0, _, dy = grid.transform
        h, w = grid.shape
        # (label, geometry, pixel window) per polygon; the window is the bounding box
        # widened by one pixel, clipped to the grid (as io.zone_masks)
        self._shapes: list[tuple[int, Any, tuple[int, int, int, int]]] = []
        for i, g in enumerate(geometries):
            if g is None or g.is_empty:
                continue
            gx0, gy0, gx1, gy1 = g.bounds
            cols = sorted(((gx0 - x0) / dx, (gx1 - x0) / dx))
            rows = sorted(((gy1 - y0) / dy, (gy0 - y0) / dy))
            win = (max(int(np.floor(rows[0])) - 1, 0), min(int(np.ceil(rows[1])) + 1, h),
                   max(int(np.floor(cols[0])) - 1, 0), min(int(np.ceil(cols[1])) + 1, w))
            if win[0] < win[1] and win[2] < win[3]:
                self._shapes.append((i + 1, g, win))
        n = len(geometries) + 1
        self._sums = {k: np.zeros(n) for k in names}
        self._counts = {k: np.zeros(n, dtype=np.int64) for k in names}
        self._n = len(geometries)
        try:
            total = sum(g.area for _, g, _ in self._shapes)
            self._overlap = bool(self._shapes) and (
                total > union_all([g for _, g, _ in self._shapes]).area * (1 + 1e-9) + 1e-9)
        except GEOSException:  # invalid geometry: burn polygons one by one
            self._overlap = True

    def _labels(self, rows: tuple[int, int], cols: tuple[int, int],
                shapes: list[tuple[Any, int]]) -> np.ndarray:
        """int32 labels of ``shapes`` burnt into the window rows × cols of the grid."""
        from affine import Affine
        from rasterio.features import rasterize

        x0, dx, _, y0, _, dy = self._grid.transform
        t = Affine.from_gdal(x0 + cols[0] * dx, dx, 0.0, y0 + rows[0] * dy, 0.0, dy)
        return rasterize(shapes, out_shape=(rows[1] - rows[0], cols[1] - cols[0]), transform=t,
                         fill=0, dtype="int32")

    def add(self, r0: int, r1: int,
            values: Mapping[str, tuple[np.ndarray, float | None]]) -> None:
        """Add rows r0..r1−1 of each named raster (array, nodata) to the sums."""
        touching = [(label, g, win) for label, g, win in self._shapes
                    if win[0] < r1 and win[1] > r0]
        if not touching:
            return
        if not self._overlap:
            labels = self._labels((r0, r1), (0, self._grid.shape[1]),
                                  [(g, label) for label, g, _ in touching])
            self._accumulate(labels, values)
            return
        for label, g, (wr0, wr1, c0, c1) in touching:
            rows = (max(r0, wr0), min(r1, wr1))
            labels = self._labels(rows, (c0, c1), [(g, label)])
            part = {k: (a[rows[0] - r0:rows[1] - r0, c0:c1], nd)
                    for k, (a, nd) in values.items()}
            self._accumulate(labels, part)

    def _accumulate(self, labels: np.ndarray,
                    values: Mapping[str, tuple[np.ndarray, float | None]]) -> None:
        flat = labels.ravel()
        for name, (array, nodata) in values.items():
            nd, has, nan_nd = nodata_args(nodata, array.dtype)
            _zone_sums_kernel(flat, np.ascontiguousarray(array).ravel(), nd, has, nan_nd,
                              self._sums[name], self._counts[name])

    def rows(self) -> list[dict[str, float]]:
        return [{k: v for name in self._names
                 for k, v in ((f"{name}_sum", float(self._sums[name][i + 1])),
                              (f"{name}_count", float(self._counts[name][i + 1])))}
                for i in range(self._n)]


@contextlib.contextmanager
def small_gdal_cache() -> Iterator[None]:
    """Cap GDAL's block cache at :data:`CACHE_BYTES` while streaming."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES):
        yield


def run_strips(
    readers: Sequence[GridReader],
    writers: Sequence[GridWriter],
    compute: Callable[[int, int, list[np.ndarray]], Sequence[np.ndarray]],
    rows: int,
    *,
    height: int | None = None,
) -> None:
    """For each strip: read every reader, ``compute(r0, r1, arrays)`` → one array per writer,
    write them. Reads of the next strip run in worker threads (one per reader at most two
    at a time, GDAL decodes without the GIL) while ``compute`` runs; writes run in one
    writer thread, in strip order. Writers are committed on success, aborted on failure;
    readers are closed either way."""
    spans = strips(rows, height or STRIP_ROWS)
    pending: list[Future[Any]] = []
    try:
        with ThreadPoolExecutor(2) as read_pool, ThreadPoolExecutor(1) as write_pool:
            def submit(span: tuple[int, int]) -> list[Future[np.ndarray]]:
                return [read_pool.submit(r.read, *span) for r in readers]

            nxt = submit(spans[0]) if spans else []
            for k, (r0, r1) in enumerate(spans):
                arrays = [f.result() for f in nxt]
                if k + 1 < len(spans):
                    nxt = submit(spans[k + 1])
                outs = compute(r0, r1, arrays)
                del arrays
                for f in pending:  # at most one strip queued for writing
                    f.result()
                pending = [write_pool.submit(w.write, r0, o)
                           for w, o in zip(writers, outs, strict=True)]
            for f in pending:
                f.result()
        for w in writers:
            w.commit()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        for r in readers:
            r.close()


class CodeTable:
    """Look-up columns of an InVEST table keyed by integer LULC code, for numba kernels.

    ``lut[j, code − lo]`` is column ``j`` of ``mappings`` (rounded to ``dtype``, as
    ``io.reclassify_many`` does) and ``known[code − lo]`` says whether the code has a row.
    Codes spanning more than 2²⁰ values are first renumbered by :meth:`dense`. Same rules as
    ``io.reclassify_many``: codes equal to the raster's nodata are skipped by the kernels,
    a valid code without a row is an error (:meth:`missing`).
    """

    def __init__(self, mappings: Sequence[Mapping[Any, float]], dtype: Any = np.float32):
        self.keys = np.array(sorted(int(k) for k in mappings[0]), dtype=np.int64)
        self.sparse = bool(self.keys.size) and int(self.keys[-1] - self.keys[0]) > 1 << 20
        self.lo = 0 if (self.sparse or not self.keys.size) else int(self.keys[0])
        span = (self.keys.size if self.sparse
                else (int(self.keys[-1]) - self.lo + 1 if self.keys.size else 0))
        self.known = np.zeros(span, dtype=np.bool_)
        self.lut = np.zeros((len(mappings), span), dtype=dtype)
        idx = np.arange(self.keys.size) if self.sparse else self.keys - self.lo
        self.known[idx] = True
        for j, mp in enumerate(mappings):
            self.lut[j, idx] = [mp[k] for k in self.keys.tolist()]

    def kernel_codes(self, codes: np.ndarray,
                     nodata: float | None) -> tuple[np.ndarray, float, bool]:
        """(codes, nodata, has_nodata) as the kernels take them: unchanged for a dense
        table; else renumbered 0.. with −1 for codes without a row and −2 for nodata."""
        nd, has, nan_nd = nodata_args(nodata, codes.dtype)
        if not (self.sparse or nan_nd):
            return codes, nd, has
        c = np.nan_to_num(codes.astype(np.float64), nan=np.inf)
        if self.sparse:
            pos = np.minimum(np.searchsorted(self.keys, c), max(self.keys.size - 1, 0))
            mapped = np.where(self.keys[pos] == c, pos, -1) if self.keys.size else np.full(
                c.shape, -1)
        else:
            mapped = np.where(np.isfinite(c), c, -1)
        mapped = mapped.astype(np.int64)
        if nan_nd:
            mapped[np.isnan(codes)] = -2
        elif has:
            mapped[iio.nodata_mask(codes, nodata)] = -2
        return mapped, -2.0, True

    def missing(self, codes: np.ndarray, nodata: float | None, label: str,
                table_label: str) -> InvalidInput:
        """The error naming the valid codes of ``codes`` that have no row."""
        return iio._missing_codes_error(codes, nodata, self.keys, label, table_label)

    def check(self, codes: np.ndarray, nodata: float | None, label: str,
              table_label: str) -> None:
        """Raise :meth:`missing`'s error if a valid code of ``codes`` has no row."""
        present = np.unique(codes[~iio.nodata_mask(codes, nodata)]).astype(np.int64)
        if np.setdiff1d(present, self.keys).size:
            raise self.missing(codes, nodata, label, table_label)
