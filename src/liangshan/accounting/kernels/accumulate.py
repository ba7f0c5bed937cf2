"""MFD flow accumulation of a whole grid on several cores (numba, threads).

The rule is that of :func:`~liangshan.accounting.kernels.routing.flow_accumulation_mfd`,
FA_i = 1 + Σ_{j→i} FA_j·q_ji/Σ_8 q_j (pygeoprocessing's MFD), evaluated in Kahn's
topological order (Kahn 1962, "Topological sorting of large networks", Comm. ACM
5(11):558-562). The rows are split into horizontal bands, one per worker, balanced by their
count of valid cells. Each band runs Kahn's sweep over its own cells in its own thread; the
threads write disjoint rows of the accumulator and of the in-degrees, so they need no locks.
A flow edge whose receiver lies in another band is not applied by the sender: it goes to the
sender band's outbox (receiver, amount). When no band has a free cell left, the outboxes are
applied in one thread (add the amount, decrement the in-degree, hand newly free cells to
their band) and the bands run again, until no band has work. Every cell is still processed
once, after all its donors, so the result is the whole-grid one up to the order of the
floating-point additions into a cell.

Buffers: int32 directions (the input, overwritten by the float32 result), a float64
accumulator and int8 in-degrees — 13 B/cell — plus the outboxes (a few
entries per column of each band edge) and the stacks (as deep as the branching).

Flow direction 0 means nodata / no outflow, as in :mod:`~liangshan.accounting.kernels.routing`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from liangshan.accounting.kernels.flats import COL_OFFSETS, ROW_OFFSETS
from liangshan.accounting.kernels.routing import _nib_sum
from liangshan.accounting.kernels.tiled import _grow

_NODATA = np.int8(-2)  # in-degree marker of a cell with fd == 0: never pushed, never output
_DONE = np.int8(-1)  # in-degree marker of a processed cell: the source scan skips it
_LOW = np.int64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _valid_per_row(fd):
    """Number of cells with fd != 0 in each row (to balance the bands)."""
    nr, nc = fd.shape
    out = np.zeros(nr, dtype=np.int64)
    for r in range(nr):
        n = 0
        for c in range(nc):
            if fd[r, c] != 0:
                n += 1
        out[r] = n
    return out


@njit(cache=True, nogil=True)
def _indegree_rows(fd, indeg, r0, r1):
    """In-degrees of rows [r0, r1) by pulling: a neighbour in direction k donates to the cell
    when its own nibble (k+4) mod 8 (pointing back) is non-zero. Each band writes only its own
    rows, so bands run this concurrently. Nodata cells get ``_NODATA``."""
    nr, nc = fd.shape
    for r in range(r0, r1):
        for c in range(nc):
            if fd[r, c] == 0:
                indeg[r, c] = _NODATA
                continue
            d = 0
            for k in range(8):
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if 0 <= rr < nr and 0 <= cc < nc and (fd[rr, cc] >> (4 * ((k + 4) & 7))) & 0xF:
                    d += 1
            indeg[r, c] = d


@njit(cache=True, nogil=True)
def _sweep(fd, acc, indeg, r0, r1, scan, stack, top, out_t, out_a, nout):
    """Kahn's sweep over band rows [r0, r1): pop free cells (and, when ``scan``, take the
    band's sources as the row-major scan meets them, so the stack stays shallow and the
    work stays near the scan front in memory). Edges into other bands go to the outbox
    (packed receiver, amount). Returns the grown buffers, the stack top (0) and outbox size.

    Stack and outbox entries are packed (row << 32 | col): no integer division per cell.
    """
    nr, nc = fd.shape
    c_scan = 0
    r_scan = r0
    while True:
        if top == 0:
            if not scan:
                break
            found = False
            while r_scan < r1:
                while c_scan < nc:
                    c = c_scan
                    c_scan += 1
                    if indeg[r_scan, c] == 0:
                        stack[0] = (np.int64(r_scan) << 32) | c
                        top = 1
                        found = True
                        break
                if found:
                    break
                r_scan += 1
                c_scan = 0
            if not found:
                break
        top -= 1
        p = stack[top]
        r = p >> 32
        c = p & _LOW
        indeg[r, c] = _DONE
        a = acc[r, c] + 1.0
        acc[r, c] = a
        v = fd[r, c]
        s = _nib_sum(v)
        for k in range(8):
            q = (v >> (4 * k)) & 0xF
            if q == 0:
                continue
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc or fd[rr, cc] == 0:
                continue
            amt = a * q / s
            if rr < r0 or rr >= r1:
                out_t = _grow(out_t, nout)
                out_a = _grow(out_a, nout)
                out_t[nout] = (rr << 32) | cc
                out_a[nout] = amt
                nout += 1
                continue
            acc[rr, cc] += amt
            d = indeg[rr, cc] - 1
            indeg[rr, cc] = d
            if d == 0:
                stack = _grow(stack, top)
                stack[top] = (rr << 32) | cc
                top += 1
    return stack, top, out_t, out_a, nout


@njit(cache=True, nogil=True)
def _deliver(acc, indeg, out_t, out_a, nout, freed, nfreed):
    """Apply an outbox: add each amount to its receiver and decrement its in-degree; the
    receivers that become free are appended to ``freed`` (packed). Returns ``freed`` (grown
    if needed) and its new length."""
    for e in range(nout):
        p = out_t[e]
        r = p >> 32
        c = p & _LOW
        acc[r, c] += out_a[e]
        d = indeg[r, c] - 1
        indeg[r, c] = d
        if d == 0:
            freed = _grow(freed, nfreed)
            freed[nfreed] = p
            nfreed += 1
    return freed, nfreed


@njit(cache=True, nogil=True)
def _finish_rows(acc, indeg, out, area, r0, r1):
    """Upslope area at the inlet [m²] of rows [r0, r1): (FA − 1) × ``area`` for processed
    cells, 0 elsewhere, as float32 into ``out`` (the directions' buffer)."""
    nc = acc.shape[1]
    for r in range(r0, r1):
        for c in range(nc):
            x = acc[r, c] - 1.0 if indeg[r, c] == _DONE else 0.0
            out[r, c] = np.float32(x * area) if x > 0.0 else np.float32(0.0)


def band_bounds(fd: np.ndarray, bands: int) -> np.ndarray:
    """Row bounds (bands + 1 of them, strictly increasing) that split ``fd`` into ``bands``
    horizontal bands of about equal numbers of valid cells (at most one band per row)."""
    nr = fd.shape[0]
    bands = max(1, min(int(bands), nr))
    cum = np.cumsum(_valid_per_row(fd))
    total = int(cum[-1]) if nr else 0
    bounds = [0]
    for b in range(1, bands):
        r = int(np.searchsorted(cum, total * b / bands, side="left")) + 1
        r = min(max(r, bounds[-1] + 1), nr - (bands - b))  # every band keeps ≥ 1 row
        bounds.append(r)
    bounds.append(nr)
    return np.asarray(bounds, dtype=np.int64)


def upslope_area_parallel(fd: np.ndarray, area: float, workers: int = 2, *,
                          bands: int | None = None, stats: dict | None = None) -> np.ndarray:
    """Upslope area at the cell inlet [m²] = (MFD accumulation − 1) × ``area`` [m² per cell],
    0 where ``fd`` is 0, written as float32 over ``fd``'s own buffer (returned as a float32
    view; ``fd`` is consumed) — the whole-grid
    :func:`~liangshan.accounting.kernels.routing.flow_accumulation_mfd` up to the order of the
    additions, computed on ``workers`` threads over ``bands`` horizontal bands (default: one
    per worker).

    ``fd`` must be a C-contiguous int32 array of packed MFD directions. ``stats``, if given,
    receives the number of bands and rounds, the cells processed in the first round (the
    rest waited for flow from another band) and the wall time [s] of the phases.
    """
    if fd.dtype != np.int32 or fd.ndim != 2 or not fd.flags.c_contiguous:
        raise ValueError("fd must be a C-contiguous 2-D int32 array")
    nr, nc = fd.shape
    if nr == 0 or nc == 0:
        return fd.view(np.float32)
    if max(nr, nc) >= 2**31:
        raise ValueError("grid too large for packed (row, col) indices")
    bounds = band_bounds(fd, workers if bands is None else bands)
    nb = bounds.size - 1
    acc = np.zeros((nr, nc), dtype=np.float64)
    indeg = np.empty((nr, nc), dtype=np.int8)
    spans = [(int(bounds[b]), int(bounds[b + 1])) for b in range(nb)]
    stacks = [np.empty(4096, dtype=np.int64) for _ in range(nb)]
    tops = [0] * nb
    outs_t = [np.empty(1024, dtype=np.int64) for _ in range(nb)]
    outs_a = [np.empty(1024, dtype=np.float64) for _ in range(nb)]
    nouts = [0] * nb
    freed = np.empty(1024, dtype=np.int64)
    pool = ThreadPoolExecutor(max(1, min(int(workers), nb))) if workers > 1 and nb > 1 \
        else None

    def run(fn, items):
        if pool is None:
            return [fn(x) for x in items]
        return list(pool.map(fn, items))

    def sweep(b: int, scan: bool):
        r0, r1 = spans[b]
        return _sweep(fd, acc, indeg, r0, r1, scan, stacks[b], tops[b], outs_t[b], outs_a[b],
                      0)

    try:
        t0 = time.perf_counter()
        run(lambda s: _indegree_rows(fd, indeg, s[0], s[1]), spans)
        t1 = time.perf_counter()
        rounds = 0
        busy = list(range(nb))
        scan = True
        while busy:
            rounds += 1
            res = run(lambda b, scan=scan: sweep(b, scan), busy)
            for b, (st, top, ot, oa, no) in zip(busy, res, strict=True):
                stacks[b], tops[b], outs_t[b], outs_a[b], nouts[b] = st, top, ot, oa, no
            if scan and stats is not None:
                t2 = time.perf_counter()
                stats["first_round_done"] = int(np.count_nonzero(indeg == _DONE))
                t2b = time.perf_counter()
            scan = False
            nfreed = 0
            for b in range(nb):
                if nouts[b]:
                    freed, nfreed = _deliver(acc, indeg, outs_t[b], outs_a[b], nouts[b], freed,
                                             nfreed)
                    nouts[b] = 0
            busy = []
            if nfreed:
                owner = np.searchsorted(bounds, freed[:nfreed] >> 32, side="right") - 1
                for b in range(nb):
                    cells = freed[:nfreed][owner == b]
                    if cells.size:
                        if stacks[b].size < cells.size:
                            stacks[b] = np.empty(2 * cells.size, dtype=np.int64)
                        stacks[b][: cells.size] = cells
                        tops[b] = cells.size
                        busy.append(b)
        if stats is not None:
            stats["rounds"] = rounds
            t3 = time.perf_counter()
            stats["s_indegree"] = t1 - t0
            stats["s_first_round"] = t2 - t1
            stats["s_later_rounds"] = t3 - t2b
            stats["bands"] = nb
        out = fd.view(np.float32)
        run(lambda s: _finish_rows(acc, indeg, out, float(area), s[0], s[1]), spans)
    finally:
        if pool is not None:
            pool.shutdown()
    return out
