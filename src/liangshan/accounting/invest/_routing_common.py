"""What the SDR and NDR models share: argument checks, watersheds, LULC lookup tables,
routing on the masked DEM, a background raster writer and the numba helpers of their
pixel-by-pixel walks along the MFD graph.

Routing follows pygeoprocessing 2.4.11 as used by InVEST 3.20.2 (INVEST_NOTES §2 [V]);
the kernels live in :mod:`liangshan.accounting.kernels.routing`. Memory discipline: each
whole-grid array lives only as long as a later step needs it. A 3000² grid is 9 M pixels,
so every float64 array costs 72 MB and every float32 array 36 MB; the callers compute an
output, hand it to :class:`RasterWriter`, add it to :class:`Watersheds` totals and drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numba import njit

from liangshan.accounting.invest import io
from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.fill import fill_float32
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW
from liangshan.errors import InvalidInput

# ---------------------------------------------------------------- arguments


def require(args: dict[str, Any], keys: list[str], model: str) -> None:
    missing = [k for k in keys if args.get(k) in (None, "")]
    if missing:
        raise InvalidInput(
            f"{model}: required argument(s) {missing} are missing",
            hint="pass them with InVEST's argument names",
        )


def parse_algorithm(args: dict[str, Any]) -> str:
    """'mfd' (default) or 'd8' from ``flow_dir_algorithm``."""
    algo = str(args.get("flow_dir_algorithm") or "MFD").strip().lower()
    if algo not in {"mfd", "d8"}:
        raise InvalidInput(
            f"flow_dir_algorithm={args.get('flow_dir_algorithm')!r} is not supported",
            hint="use 'MFD' or 'D8'",
        )
    return algo


def intermediate_level(args: dict[str, Any]) -> str:
    """Which intermediate rasters to write: 'none' (default), 'key' or 'all'."""
    level = str(args.get("intermediate_outputs") or "none").strip().lower()
    if level not in {"none", "key", "all"}:
        raise InvalidInput(
            f"intermediate_outputs={args.get('intermediate_outputs')!r} is not supported",
            hint="use 'none', 'key' or 'all'",
        )
    return level


def check_square_pixels(dem: io.Raster, path: str) -> None:
    if abs(abs(dem.transform[1]) - abs(dem.transform[5])) > 1e-9 * abs(dem.transform[1]):
        raise InvalidInput(
            f"dem_path ({path}) has non-square pixels {dem.pixel_size}",
            hint="resample the DEM to square pixels (InVEST resamples to the smaller size)",
        )


def grid_of(r: io.Raster) -> io.Raster:
    """The grid of ``r`` (shape, transform, CRS) without its pixels: a zero-stride view,
    so the reference grid for writing outputs costs no memory."""
    return io.Raster(np.broadcast_to(np.zeros((), np.uint8), r.shape), None, r.transform,
                     r.crs, r.path)


# ---------------------------------------------------------------- output


class RasterWriter:
    """Writes GeoTIFFs on two background threads while the model keeps computing.

    The numba kernels release the GIL (``nogil=True``), so compression and disk I/O
    overlap with routing. Each file is still written atomically (temp file, rename);
    ``close`` waits for every write and re-raises the first error. A finished write drops
    its array, so a caller that keeps no reference frees it as soon as it is on disk.
    """

    def __init__(self, grid: io.Raster, workers: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.grid = grid
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: list[Any] = []

    def put(self, path: Path, array: np.ndarray, nodata: float | None, dtype=None) -> None:
        self.futures.append(
            self.pool.submit(io.write_raster, path, array, self.grid, nodata, dtype))

    def wait(self) -> None:
        """Block until every queued raster is on disk (re-raising the first error)."""
        for f in self.futures:
            f.result()

    def close(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True)


class Outputs:
    """Routes a finished raster to the writer when ``level`` asks for it ('none' for the
    main outputs, 'key' or 'all' for intermediates), and a field to the watershed totals."""

    RANKS: ClassVar[dict[str, int]] = {"none": 0, "key": 1, "all": 2}

    def __init__(self, writer: RasterWriter, sheds: Watersheds, ws: Path, suffix: str,
                 level: str) -> None:
        self.writer, self.sheds, self.ws, self.suffix = writer, sheds, ws, suffix
        self.rank = self.RANKS[level]

    def wants(self, needs: str) -> bool:
        return self.rank >= self.RANKS[needs]

    def raster(self, name: str, array: np.ndarray, nodata: float, needs: str = "none",
               dtype: Any = np.float32) -> None:
        if self.wants(needs):
            self.writer.put(io.output_path(self.ws, f"{name}.tif", self.suffix), array,
                            nodata, dtype)

    def field(self, name: str, array: np.ndarray, nodata: float) -> None:
        self.sheds.add(name, array, nodata)


class Watersheds:
    """The watershed polygons rasterised once (pixel-centre rule, each polygon in its own
    window, as pygeoprocessing ``zonal_statistics``), and their per-field totals.

    ``add`` sums a field as soon as its raster exists, so the raster can be dropped;
    totals are Σ valid pixel × pixel_area/10⁴, i.e. t/yr (SDR) or kg/yr (NDR) for
    per-hectare pixel values [V].
    """

    def __init__(self, gdf: Any, grid: io.Raster) -> None:
        self.gdf = gdf
        self.masks = list(io.zone_masks(list(gdf.geometry), grid))
        self.shape = grid.shape
        self.ha_per_px = grid.pixel_area / 10_000.0
        self.sums: dict[str, list[float]] = {}

    def union(self) -> np.ndarray:
        """Bool raster: inside at least one polygon."""
        inside = np.zeros(self.shape, dtype=bool)
        for rs, cs, m in self.masks:
            inside[rs, cs] |= m
        return inside

    def add(self, field: str, array: np.ndarray, nodata: float) -> None:
        self.sums[field] = [
            _masked_sum(array[rs, cs], m, nodata) * self.ha_per_px for rs, cs, m in self.masks]

    def frame(self, fields: list[str]) -> Any:
        out = self.gdf.copy()
        for f in fields:
            out[f] = self.sums[f]
        return out


@njit(cache=True, nogil=True)
def _masked_sum(a, m, nodata):
    """Σ a where m and a ≠ nodata, in float64 (a float32 per pixel, as InVEST sums)."""
    s = 0.0
    for r in range(a.shape[0]):
        for c in range(a.shape[1]):
            if m[r, c] and a[r, c] != nodata:
                s += a[r, c]
    return s


# ---------------------------------------------------------------- LULC tables


def lulc_table(codes: np.ndarray, valid: np.ndarray, columns: dict[str, Any],
               table_label: str = "biophysical_table_path") -> tuple[int, np.ndarray]:
    """(lo, lut): ``lut[j, code − lo]`` is column j's value [float64] for each code.

    Only codes under ``valid`` are checked: one missing from the table raises
    InvalidInput naming the codes, as InVEST's ``utils.reclassify_raster`` does (there as
    ValueError) [V]. ``columns`` maps a column name to a {code: value} mapping; the
    kernels read the table with :func:`lut_at`.
    """
    names = list(columns)
    if not valid.any():
        return 0, np.zeros((len(names), 1))
    lo, hi = _valid_range(codes, valid)
    present = _presence(codes, valid, lo, hi)
    lut = np.zeros((len(names), hi - lo + 1))
    for j, name in enumerate(names):
        mapping = {int(k): float(v) for k, v in columns[name].items()}
        missing = [int(lo + i) for i in np.flatnonzero(present) if int(lo + i) not in mapping]
        if missing:
            raise InvalidInput(
                f"values {missing[:20]} in the LULC raster (lulc_path) are not represented "
                f"in {table_label} column {name!r}",
                hint="add a row for each code, or set those pixels to the raster's nodata "
                     "value",
            )
        for k, v in mapping.items():
            if lo <= k <= hi:
                lut[j, k - lo] = v
    return int(lo), lut


@njit(cache=True, nogil=True, inline="always")
def lut_at(lut, j, lo, code):
    return lut[j, np.int64(code) - lo]


@njit(cache=True, nogil=True)
def _valid_range(codes, valid):
    lo = np.int64(np.iinfo(np.int64).max)
    hi = np.int64(np.iinfo(np.int64).min)
    for i in range(codes.size):
        if valid.flat[i]:
            v = np.int64(codes.flat[i])
            lo = min(lo, v)
            hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _presence(codes, valid, lo, hi):
    out = np.zeros(hi - lo + 1, dtype=np.bool_)
    for i in range(codes.size):
        if valid.flat[i]:
            out[np.int64(codes.flat[i]) - lo] = True
    return out


# ---------------------------------------------------------------- routing


@dataclass
class Routed:
    """Flow direction and slope on the masked DEM (the filled DEM is not kept)."""

    fd: np.ndarray  # packed MFD int32 (a D8 direction as one nibble); 0 = nodata
    fd_d8: np.ndarray | None  # uint8 D8 directions when algorithm == 'd8'
    slope: np.ndarray  # percent slope, float32 as InVEST's slope raster, rt.SLOPE_NODATA
    algorithm: str  # 'mfd' or 'd8'
    cell: float  # pixel size [m]


def route(dem: io.Raster, valid: np.ndarray, algorithm: str) -> Routed:
    """Fill pits, slope and flow direction on the DEM masked to ``valid``.

    Consumes ``dem.array``: pixels outside ``valid`` are set to 0 in place (they never
    enter a stencil), and a float32 DEM is filled by
    :func:`liangshan.accounting.kernels.fill.fill_float32` (same result as ``fill_pits``, in
    float64, exact for float32 values). Callers keep only :func:`grid_of` ``dem``.
    """
    z = dem.array
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    z[~valid] = 0
    filled = fill_float32(z, valid)  # = rt.fill_pits(z, valid), faster for float32
    del z
    dem.array = np.empty((0, 0), dtype=np.float32)
    cell = abs(dem.transform[1])
    # InVEST's slope raster is float32: round like it so class breaks (1, 3.5, 5, 9 %) fall
    # on the same side for every pixel
    slope = rt.calculate_slope(filled, valid, dem.transform[1], dem.transform[5]).astype(
        np.float32)
    if algorithm == "mfd":
        return Routed(rt.flow_dir_mfd(filled, valid), None, slope, algorithm, cell)
    fd_d8 = rt.flow_dir_d8(filled, valid)
    del filled
    return Routed(rt.d8_to_mfd(fd_d8), fd_d8, slope, algorithm, cell)


def accumulate(r: Routed, weights: np.ndarray) -> np.ndarray:
    """[FA, FA_w1, …] (float64, rt.FA_NODATA where fd is 0) in one topological sweep;
    ``weights`` is (k, rows, cols) float64 with nodata already 0."""
    return rt.flow_accumulation_many(r.fd, weights)


def streams(r: Routed, fa: np.ndarray, threshold: float, trace: float) -> np.ndarray:
    """Stream raster (uint8 1/0, 255 nodata): MFD with ``trace`` proportion, D8 strict."""
    if r.algorithm == "mfd":
        return rt.extract_streams_mfd(fa, r.fd, float(threshold), float(trace))
    return rt.extract_streams_d8(fa, float(threshold))


def distance_to_channel(r: Routed, stream: np.ndarray, weight: np.ndarray | None
                        ) -> np.ndarray:
    """Flow distance to the stream [weighted units, or pixels without weight]."""
    if r.algorithm == "mfd":
        return rt.distance_to_channel_mfd(r.fd, stream, weight)
    assert r.fd_d8 is not None
    return rt.distance_to_channel_d8(r.fd_d8, stream, weight)


def write_routing(out: Outputs, r: Routed, fa: np.ndarray) -> None:
    """intermediate_outputs/flow_accumulation.tif and flow_direction.tif ('all')."""
    out.raster("intermediate_outputs/flow_accumulation", fa, rt.FA_NODATA, "all", np.float64)
    if r.algorithm == "mfd":
        out.raster("intermediate_outputs/flow_direction", r.fd, 0, "all", None)
    else:
        assert r.fd_d8 is not None
        out.raster("intermediate_outputs/flow_direction", r.fd_d8, rt.D8_NODATA, "all", None)


# ------------------------------------------------- helpers of the numba graph walks


@njit(cache=True, nogil=True, inline="always")
def on_grid(r, c, nr, nc):
    return 0 <= r < nr and 0 <= c < nc


@njit(cache=True, nogil=True, inline="always")
def weight_to(fd, r, c, k):
    """MFD weight (0–15) of pixel (r, c) towards its neighbour in direction k."""
    return (fd[r, c] >> (4 * k)) & 0xF


@njit(cache=True, nogil=True, inline="always")
def weight_from(fd, r, c, k):
    """MFD weight with which the neighbour of (r, c) in direction k drains into (r, c);
    0 if that neighbour is off the grid."""
    rr = r + ROW[k]
    cc = c + COL[k]
    if rr < 0 or rr >= fd.shape[0] or cc < 0 or cc >= fd.shape[1]:
        return 0
    return (fd[rr, cc] >> (4 * ((k + 4) % 8))) & 0xF


@njit(cache=True, nogil=True, inline="always")
def weight_sum(v):
    s = 0
    for k in range(8):
        s += (v >> (4 * k)) & 0xF
    return s


def index_stack(n: int) -> np.ndarray:
    """Work stack of flat pixel indices for a grid of ``n`` pixels: int32 while n < 2³¹.

    Allocated with ``np.empty``, so only the pages the walk actually reaches become
    resident memory (the walks rarely hold more than a few per cent of the pixels at
    once); a stack that could grow would cost a bounds check on every push.
    """
    return np.empty(max(n, 1), dtype=np.int32 if n < 2**31 else np.int64)
