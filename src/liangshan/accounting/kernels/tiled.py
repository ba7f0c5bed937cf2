"""Tile kernels for whole-grid MFD routing in bounded memory (numba).

:mod:`liangshan.accounting.tiling` runs these on the blocks of a grid and stitches the
blocks together so that the result is the whole-grid result of
:func:`~liangshan.accounting.kernels.flats.fill_pits`,
:func:`~liangshan.accounting.kernels.flats.flow_dir_mfd` and
:func:`~liangshan.accounting.kernels.routing.flow_accumulation_mfd`:

- pit filling: a labelled priority-flood per tile whose perimeter cells are seeds
  (:func:`liangshan.accounting.kernels.fill.flood_tile`), then a graph of spill heights
  between the labels, solved once for the whole grid (:func:`solve_spill_levels`; Barnes
  2016, "Parallel priority-flood depression filling for trillion cell digital elevation
  models on desktops or clusters", Computers & Geosciences 96:56-68), and each cell raised to
  the spill level of its label (:func:`raise_to_spill`);
- flats that cross a tile edge: :func:`equal_across` finds them, :func:`flat_region` gathers
  each whole region so its plateau directions can be recomputed on a window around it;
- accumulation: :func:`liangshan.accounting.kernels.accumulate.upslope_area_parallel` over
  the stitched directions.

Flow direction 0 means nodata / no outflow, as in :mod:`~liangshan.accounting.kernels.routing`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from liangshan.accounting.kernels.flats import (
    COL_OFFSETS,
    ROW_OFFSETS,
    _heap_grow,
    _heap_pop,
    _heap_push,
    fill_pits,
)


@njit(cache=True, nogil=True)
def _grow(buf, n):
    if n < buf.size:
        return buf
    new = np.empty(buf.size * 2, dtype=buf.dtype)
    new[:n] = buf[:n]
    return new


def flood_tile(dem: np.ndarray, valid: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Fill one tile as if its edge were the raster's edge, and label its watersheds.

    ``dem`` elevation [m] of the tile (anything where ``valid`` is False). Returns (level —
    filled height [m], float64, NaN where invalid; label — int32, 0 for cells that drain
    through a nodata cell inside the tile, 1 … n−1 the watershed of one edge cell, −1 invalid;
    spill edges a, b (int64 label pairs, a < b, each pair once) with weight [m], the lowest
    spill height between the two; n = number of labels).
    """
    level = fill_pits(np.where(valid, dem, 0.0), valid)
    level[~valid] = np.nan
    label = np.full(dem.shape, -1, dtype=np.int32)
    ea, eb, ew, ne, nlab = _label_watersheds(level, valid, label)
    a, b, w = ea[:ne].astype(np.int64), eb[:ne].astype(np.int64), ew[:ne]
    key = a * nlab + b
    order = np.lexsort((w, key))
    key, w = key[order], w[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return level, label, key[first] // nlab, key[first] % nlab, w[first], nlab


_CACHE = 4096  # slots of the spill-edge cache (a power of two)


@njit(cache=True, nogil=True)
def _label_watersheds(level, valid, label):
    """Labels and spill edges of a filled tile (see :func:`flood_tile`).

    On a filled surface every cell has a non-ascending path to an outlet, so a breadth-first
    walk from the outlets over non-descending steps reaches every cell; each cell takes its
    parent's label, so the path back to its outlet never rises above the cell's own level —
    the property the spill-graph solution needs (Barnes 2016, §2). Edges: every pair of
    neighbours with different labels, weighted by the higher of the two levels; a
    direct-mapped cache keeps the lowest weight of a pair while it repeats along a border,
    and evicted pairs go to the list the caller reduces exactly."""
    nr, nc = level.shape
    n = nr * nc
    fifo = np.empty(n, dtype=np.int64)
    qt = 0
    nlab = 1
    for r in range(nr):
        for c in range(nc):
            if not valid[r, c]:
                continue
            by_nodata = False
            for k in range(8):
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if 0 <= rr < nr and 0 <= cc < nc and not valid[rr, cc]:
                    by_nodata = True
                    break
            if by_nodata:
                label[r, c] = 0
            elif r == 0 or c == 0 or r == nr - 1 or c == nc - 1:
                label[r, c] = nlab
                nlab += 1
            else:
                continue
            fifo[qt] = r * nc + c
            qt += 1
    qh = 0
    while qh < qt:
        i = fifo[qh]
        qh += 1
        r = i // nc
        c = i % nc
        lc = level[r, c]
        lab = label[r, c]
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if (0 <= rr < nr and 0 <= cc < nc and label[rr, cc] < 0 and valid[rr, cc]
                    and level[rr, cc] >= lc):
                label[rr, cc] = lab
                fifo[qt] = rr * nc + cc
                qt += 1
    ca = np.full(_CACHE, -1, dtype=np.int64)
    cb = np.full(_CACHE, -1, dtype=np.int64)
    cw = np.zeros(_CACHE, dtype=np.float64)
    ea = np.empty(1024, dtype=np.int64)
    eb = np.empty(1024, dtype=np.int64)
    ew = np.empty(1024, dtype=np.float64)
    ne = 0
    for r in range(nr):
        for c in range(nc):
            la = label[r, c]
            if la < 0:
                continue
            for k in range(4, 8):  # W, SW, S, SE: each pair of neighbours once
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if rr >= nr or cc < 0 or cc >= nc:
                    continue
                lb = label[rr, cc]
                if lb < 0 or lb == la:
                    continue
                lo = min(la, lb)
                hi = max(la, lb)
                w = max(level[r, c], level[rr, cc])
                h = (lo * 7919 + hi) & (_CACHE - 1)
                if ca[h] == lo and cb[h] == hi:
                    cw[h] = min(cw[h], w)
                    continue
                if ca[h] >= 0:
                    ea, eb, ew = _append_edge(ea, eb, ew, ne, ca[h], cb[h], cw[h])
                    ne += 1
                ca[h] = lo
                cb[h] = hi
                cw[h] = w
    for h in range(_CACHE):
        if ca[h] >= 0:
            ea, eb, ew = _append_edge(ea, eb, ew, ne, ca[h], cb[h], cw[h])
            ne += 1
    return ea, eb, ew, ne, nlab


@njit(cache=True, nogil=True)
def _append_edge(ea, eb, ew, ne, a, b, w):
    if ne == ea.size:
        ea, eb, ew = _grow(ea, ne), _grow(eb, ne), _grow(ew, ne)
    ea[ne] = a
    eb[ne] = b
    ew[ne] = w
    return ea, eb, ew


@njit(cache=True, nogil=True)
def raise_to_spill(z, label, offset, level):
    """Raise each cell of a tile flooded alone (``z``, filled heights [m], modified in place)
    to the spill level [m] of its watershed: label l ≥ 1 is global label ``offset + l`` in
    ``level``; label 0 drains out of the grid and −1 is nodata (both left as they are)."""
    nr, nc = z.shape
    for r in range(nr):
        for c in range(nc):
            lab = label[r, c]
            if lab > 0:
                s = level[offset + lab]
                if s > z[r, c]:
                    z[r, c] = s


@njit(cache=True, nogil=True)
def solve_spill_levels(n, ea, eb, ew):
    """Level [m] of every label: the lowest, over paths in the spill graph to label 0 (the
    grid's outlets, level −inf), of the highest spill on the path (minimax Dijkstra).
    Labels with no path keep +inf."""
    deg = np.zeros(n + 1, dtype=np.int64)
    for e in range(ea.size):
        deg[ea[e] + 1] += 1
        deg[eb[e] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    adj = np.empty(deg[n], dtype=np.int64)
    wt = np.empty(deg[n], dtype=np.float64)
    pos = deg[:-1].copy()
    for e in range(ea.size):
        a = ea[e]
        b = eb[e]
        adj[pos[a]] = b
        wt[pos[a]] = ew[e]
        pos[a] += 1
        adj[pos[b]] = a
        wt[pos[b]] = ew[e]
        pos[b] += 1
    level = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    keys = np.empty(1024, dtype=np.float64)
    vals = np.empty(1024, dtype=np.int64)
    size = 0
    level[0] = -np.inf
    size = _heap_push(keys, vals, size, -np.inf, 0)
    while size > 0:
        u, size = _heap_pop(keys, vals, size)
        if done[u]:
            continue
        done[u] = True
        lu = level[u]
        for p in range(deg[u], deg[u + 1]):
            v = adj[p]
            lv = max(lu, wt[p])
            if lv < level[v]:
                level[v] = lv
                if size == keys.size:
                    keys, vals = _heap_grow(keys, vals)
                size = _heap_push(keys, vals, size, lv, v)
    return level


@njit(cache=True, nogil=True)
def flat_region(filled, r0, c0, seen):
    """Cells (flat indices) of the equal-height region of (r0, c0) in ``filled`` (NaN =
    invalid), marking them in ``seen``; and whether any of them has no lower neighbour (a
    plateau cell whose direction depends on the whole region)."""
    nr, nc = filled.shape
    h = filled[r0, c0]
    cells = np.empty(64, dtype=np.int64)
    cells[0] = r0 * nc + c0
    seen[r0, c0] = True
    n = 1
    head = 0
    flat = False
    while head < n:
        i = cells[head]
        head += 1
        r = i // nc
        c = i % nc
        lower = False
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                continue
            z = filled[rr, cc]
            if z < h:
                lower = True
            elif z == h and not seen[rr, cc]:
                seen[rr, cc] = True
                cells = _grow(cells, n)
                cells[n] = rr * nc + cc
                n += 1
        if not lower:
            flat = True
    return cells[:n], flat


@njit(cache=True, nogil=True)
def equal_across(a, b, shift):
    """Indices i where a[i] == b[i + shift] (both finite): equal heights facing each other
    across a tile boundary (shift −1, 0, 1 for the three neighbours)."""
    out = np.empty(a.size, dtype=np.int64)
    n = 0
    for i in range(a.size):
        j = i + shift
        if 0 <= j < b.size and np.isfinite(a[i]) and a[i] == b[j]:
            out[n] = i
            n += 1
    return out[:n]
