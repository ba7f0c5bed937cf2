"""Whole-grid MFD upslope area computed tile by tile: same result, bounded memory, both cores.

:func:`upslope_area_tiled` gives what
:func:`liangshan.accounting.physical_terms.upslope_area_mfd` gives on the whole DEM
(pit filling, MFD flow direction with flat resolution, flow accumulation — the
pygeoprocessing semantics of :mod:`liangshan.accounting.kernels.routing`), working on the
blocks of the DEM's dask array:

1. **fill** — each tile is filled alone as if its edge were the raster's edge
   (``fill_pits``), and its cells labelled by the edge cell (or nodata outlet) they drain to;
   the spill heights between labels (inside tiles, and between facing perimeter cells of
   neighbouring tiles) form a small graph whose minimax solve gives each label's spill level
   (Barnes 2016, Computers & Geosciences 96:56-68). A cell's filled height is then the higher
   of its height filled inside the tile and its label's spill level. Pure comparisons:
   bit-identical to the whole-grid fill.
2. **flow direction** — each tile with a one-cell ring of its neighbours, leaving out the
   plateaus that reach into the ring; each of those is then resolved whole on a window around
   it (the plateau rule needs all of it). Bit-identical.
3. **accumulation** — a topological sweep over the stitched directions with lean buffers
   (float64 accumulator, int8 in-degrees), on horizontal bands in parallel
   (:mod:`liangshan.accounting.kernels.accumulate`), the upslope area written as float32 over
   the directions' buffer. Passing flow tile to tile instead was tried and dropped: flow
   running along a tile edge crosses it again and again, and each crossing re-walked the cone
   below it (1,599 tile visits for 3 × 3 tiles of a tilted DEM). Equal to the whole-grid
   accumulation up to the order of the floating-point additions and the float32 rounding of
   the result (relative 6e-8, far below the DEM's own precision).

Memory at the peak (the sweep): 4 B/cell directions + 8 B/cell accumulator + 1 B/cell
in-degrees = 13 B/cell, against ≈ 26 B/cell and more for the one-piece kernels
(``upslope_area_mfd``: float64 filled DEM, int64 queues, float64 plateau distances). Before
the sweep the DEM-then-filled heights (DEM dtype) and the directions are the only grid-sized
arrays. Compute: the tiles of steps 1–2 run on a thread pool (the kernels release the GIL).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from liangshan.accounting.kernels import accumulate, flats
from liangshan.accounting.kernels import tiled as tk

__all__ = ["Routing", "route", "upslope_area_tiled"]

Tile = tuple[int, int]


@dataclass
class Routing:
    """Tile layout of a grid (tiles = the DEM's dask blocks) and its flow directions."""

    fd: np.ndarray  # packed MFD directions, int32, grid-shaped
    row_edges: np.ndarray  # tile row offsets, with the grid height last
    col_edges: np.ndarray

    def bounds(self, t: Tile) -> tuple[int, int, int, int]:
        i, j = t
        return (int(self.row_edges[i]), int(self.row_edges[i + 1]), int(self.col_edges[j]),
                int(self.col_edges[j + 1]))


def _padded(a: np.ndarray, r0: int, r1: int, c0: int, c1: int, fill: Any) -> np.ndarray:
    """a[r0-1:r1+1, c0-1:c1+1] with ``fill`` beyond the array."""
    nr, nc = a.shape
    out = np.full((r1 - r0 + 2, c1 - c0 + 2), fill, dtype=a.dtype)
    rr0, rr1, cc0, cc1 = max(r0 - 1, 0), min(r1 + 1, nr), max(c0 - 1, 0), min(c1 + 1, nc)
    out[rr0 - r0 + 1: rr1 - r0 + 1, cc0 - c0 + 1: cc1 - c0 + 1] = a[rr0:rr1, cc0:cc1]
    return out


def _perimeter(a: np.ndarray) -> list[np.ndarray]:
    return [a[0, :].copy(), a[-1, :].copy(), a[:, 0].copy(), a[:, -1].copy()]


def _run(pool: ThreadPoolExecutor, fn: Callable[[Tile], Any], tiles: Iterable[Tile]
         ) -> dict[Tile, Any]:
    tiles = list(tiles)
    return dict(zip(tiles, pool.map(fn, tiles), strict=True))


def route(dem: da.Array, *, workers: int | None = None) -> Routing:
    """Exact MFD flow directions of a DEM [m] (NaN = nodata) on the pit-filled DEM, computed
    tile by tile (tile = dask block) on ``workers`` threads (default: all cores)."""
    H, W = dem.shape
    re = np.concatenate([[0], np.cumsum(dem.chunks[0])]).astype(np.int64)
    ce = np.concatenate([[0], np.cumsum(dem.chunks[1])]).astype(np.int64)
    tiles = [(i, j) for i in range(len(dem.chunks[0])) for j in range(len(dem.chunks[1]))]
    dtype = np.float32 if dem.dtype == np.float32 else np.float64
    z = np.empty((H, W), dtype=dtype)  # the DEM, then the filled DEM (NaN = nodata)
    out = Routing(np.zeros((H, W), dtype=np.int32), re, ce)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        _fill(dem, z, out, tiles, pool)
        release_freed_memory()
        _directions(z, out, tiles, pool)
    del z
    release_freed_memory()
    return out


def release_freed_memory() -> None:
    """Hand memory freed by the tile workers back to the operating system.

    The tiles' temporaries (a few MB each, allocated and freed on the pool's threads) stay in
    glibc's per-thread arenas after they are freed — 1.2 GB at the 30 m province grid, which
    then sat under the accumulation's peak. ``malloc_trim`` returns it; elsewhere (no glibc)
    this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _fill(dem: da.Array, z: np.ndarray, rt: Routing, tiles: list[Tile],
          pool: ThreadPoolExecutor) -> None:
    """Read the DEM into ``z`` and fill it in place: each tile flooded alone, then raised to
    the spill level of its labels (Barnes 2016: the filled height of a cell is the higher of
    its height filled inside the tile and the level of the watershed it was flooded from)."""
    labels: dict[Tile, np.ndarray] = {}

    def flood(t: Tile) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, int]:
        r0, r1, c0, c1 = rt.bounds(t)
        block = np.asarray(dem.blocks[t].compute(scheduler="sync"), dtype=z.dtype)
        valid = np.isfinite(block)
        if not valid.any():
            z[r0:r1, c0:c1] = block
            return _perimeter(np.full(block.shape, -1, np.int64)), *_no_edges(), 1
        level, label, a, b, w, n = tk.flood_tile(block, valid)
        z[r0:r1, c0:c1] = level  # filled heights are input heights: exact in z's dtype
        labels[t] = label
        return _perimeter(label.astype(np.int64)), a, b, w, n

    local = _run(pool, flood, tiles)
    offset, total = {}, 1
    for t in tiles:  # global label = offset + local label; 0 = drains out of the grid
        offset[t] = total - 1
        total += local[t][4] - 1
    per: dict[Tile, list[np.ndarray]] = {}
    ea, eb, ew = [], [], []
    for t in tiles:
        perimeter, a, b, w, _ = local[t]
        per[t] = [np.where(v > 0, v + offset[t], v) for v in perimeter]
        ea.append(np.where(a > 0, a + offset[t], a))
        eb.append(np.where(b > 0, b + offset[t], b))
        ew.append(w)
    del local
    for a, b, w in _boundary_edges(z, rt, per):
        ea.append(a)
        eb.append(b)
        ew.append(w)
    level = tk.solve_spill_levels(total, np.concatenate(ea), np.concatenate(eb),
                                  np.concatenate(ew))

    def finish(t: Tile) -> None:
        label = labels.pop(t, None)
        if label is not None:
            r0, r1, c0, c1 = rt.bounds(t)
            tk.raise_to_spill(z[r0:r1, c0:c1], label, offset[t], level)

    _run(pool, finish, tiles)


def _no_edges() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)


def _sides(shape: tuple[int, int]) -> list[tuple[Any, Any]]:
    h, w = shape
    return [(0, slice(None)), (h - 1, slice(None)), (slice(None), 0), (slice(None), w - 1)]


def _boundary_edges(z: np.ndarray, rt: Routing, per: dict[Tile, list[np.ndarray]]
                    ) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Spill edges between facing perimeter cells of neighbouring tiles, and to the outside
    (label 0, height −inf) for perimeter cells on the grid edge or facing nodata."""
    re, ce = rt.row_edges, rt.col_edges
    nti, ntj = len(re) - 1, len(ce) - 1

    def row_labels(i: int, side: int) -> np.ndarray:
        return np.concatenate([per[(i, j)][side] for j in range(ntj)])

    def col_labels(j: int, side: int) -> np.ndarray:
        return np.concatenate([per[(i, j)][side] for i in range(nti)])

    for i in range(1, nti):
        yield from _facing(row_labels(i - 1, 1), z[re[i] - 1], row_labels(i, 0), z[re[i]])
    for j in range(1, ntj):
        yield from _facing(col_labels(j - 1, 3), z[:, ce[j] - 1], col_labels(j, 2), z[:, ce[j]])
    for lab in (row_labels(0, 0), row_labels(nti - 1, 1), col_labels(0, 2),
                col_labels(ntj - 1, 3)):
        lab = lab[lab >= 0]
        yield lab, np.zeros_like(lab), np.full(lab.size, -np.inf)


def _facing(la: np.ndarray, za: np.ndarray, lb: np.ndarray, zb: np.ndarray
            ) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    n = la.size
    for s in (-1, 0, 1):
        ia = np.arange(max(0, -s), min(n, n - s))
        A, B = la[ia], lb[ia + s]
        both = (A >= 0) & (B >= 0)
        yield A[both], B[both], np.maximum(za[ia][both], zb[ia + s][both]).astype(np.float64)
        for x, y in ((A, B), (B, A)):
            lone = (x >= 0) & (y < 0)
            yield x[lone], np.zeros(int(lone.sum()), np.int64), np.full(int(lone.sum()), -np.inf)


def _directions(z: np.ndarray, rt: Routing, tiles: list[Tile], pool: ThreadPoolExecutor) -> None:
    """MFD directions of every tile from the filled DEM ``z``; a plateau that reaches across a
    tile edge is resolved whole, on a window around it."""
    def tile(t: Tile) -> None:
        r0, r1, c0, c1 = rt.bounds(t)
        win = _padded(z, r0, r1, c0, c1, np.nan).astype(np.float64)
        valid = np.isfinite(win)
        if not valid[1:-1, 1:-1].any():
            return
        fd = flats.flow_dir_mfd_inside(np.where(valid, win, 0.0), valid)
        rt.fd[r0:r1, c0:c1] = fd[1:-1, 1:-1]

    list(pool.map(tile, tiles))
    H, W = z.shape
    seen = np.zeros((H, W), dtype=bool)
    batch: list[np.ndarray] = []
    pending = 0

    def redo(cells: np.ndarray) -> None:
        rows, cols = cells // W, cells % W
        r0, r1 = int(rows.min()), int(rows.max()) + 1
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        win = _padded(z, r0, r1, c0, c1, np.nan).astype(np.float64)
        valid = np.isfinite(win)
        fd = flats.plateau_dir_mfd(np.where(valid, win, 0.0), valid, int(rows[0]) - r0 + 1,
                                   int(cols[0]) - c0 + 1)
        rt.fd[rows, cols] = fd[rows - r0 + 1, cols - c0 + 1]

    # Regions are gathered here in one thread (``seen`` is shared) and resolved on the pool,
    # a batch at a time so the pending cell lists stay small; each window writes only its own
    # plateau's cells, so windows may overlap.
    for r, c in _edge_flat_cells(z, rt):
        if seen[r, c]:
            continue
        cells, flat = tk.flat_region(z, r, c, seen)
        if flat:
            batch.append(cells)
            pending += cells.size
        if pending > _REDO_BATCH_CELLS:
            list(pool.map(redo, batch))
            batch, pending = [], 0
    list(pool.map(redo, batch))


_REDO_BATCH_CELLS = 4_000_000


def _edge_flat_cells(z: np.ndarray, rt: Routing) -> Iterable[tuple[int, int]]:
    """Cells whose equal-height neighbour lies across a tile edge."""
    for r in rt.row_edges[1:-1]:
        for s in (-1, 0, 1):
            for c in tk.equal_across(z[r - 1], z[r], s):
                yield int(r - 1), int(c)
    for c in rt.col_edges[1:-1]:
        for s in (-1, 0, 1):
            for r in tk.equal_across(z[:, c - 1], z[:, c], s):
                yield int(r), int(c - 1)


def upslope_area_tiled(dem: da.Array, cellsize: float, *, workers: int | None = None
                       ) -> np.ndarray:
    """Upslope contributing area at the cell inlet [m²], float32 — (MFD accumulation − 1) ×
    cell area on the pit-filled DEM, 0 where the DEM is nodata — of a DEM [m] given as a dask
    array (read block by block, never whole). Equals
    ``upslope_area_mfd(dem.compute(), cellsize)`` up to the order of the floating-point
    additions and the float32 rounding.
    """
    rt = route(dem, workers=workers)
    fd = rt.fd
    del rt
    return accumulate.upslope_area_parallel(fd, float(cellsize) * float(cellsize),
                                            workers=workers or os.cpu_count() or 1)
