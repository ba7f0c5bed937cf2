"""Tile kernels for whole-grid MFD routing in bounded memory (numba).

:mod:`liangshan.accounting.tiling` runs these on the blocks of a grid and stitches the
blocks together so that the result is the whole-grid result of
:func:`~liangshan.accounting.kernels.flats.fill_pits`,
:func:`~liangshan.accounting.kernels.flats.flow_dir_mfd` and
:func:`~liangshan.accounting.kernels.routing.flow_accumulation_mfd`:

- pit filling: a labelled priority-flood per tile whose perimeter cells are seeds, then a
  graph of spill heights between the labels, solved once for the whole grid (Barnes 2016,
  "Parallel priority-flood depression filling for trillion cell digital elevation models on
  desktops or clusters", Computers & Geosciences 96:56-68). With the exact filled height of
  every tile-perimeter cell known, a priority-flood of one tile seeded from its perimeter
  gives the exact filled heights inside it (:func:`fill_seeded`);
- flats that cross a tile edge: :func:`equal_across` finds them, :func:`flat_region` gathers
  each whole region so its plateau directions can be recomputed on a window around it;
- accumulation: :func:`upslope_area_into`, one topological sweep over the stitched
  directions with lean buffers (13 B/cell at the peak, the result as float32).

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
def _push(keys, vals, size, key, val):
    if size == keys.size:
        k2 = np.empty(keys.size * 2, dtype=keys.dtype)
        v2 = np.empty(vals.size * 2, dtype=vals.dtype)
        k2[:size] = keys
        v2[:size] = vals
        keys, vals = k2, v2
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= keys[i]:
            break
        keys[p], keys[i] = keys[i], keys[p]
        vals[p], vals[i] = vals[i], vals[p]
        i = p
    return keys, vals, size + 1


@njit(cache=True, nogil=True)
def _pop(keys, vals, size):
    val = vals[0]
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        lft = 2 * i + 1
        if lft >= size:
            break
        m = lft
        if lft + 1 < size and keys[lft + 1] < keys[lft]:
            m = lft + 1
        if keys[i] <= keys[m]:
            break
        keys[m], keys[i] = keys[i], keys[m]
        vals[m], vals[i] = vals[i], vals[m]
        i = m
    return val, size


@njit(cache=True, nogil=True)
def _grow(buf, n):
    if n < buf.size:
        return buf
    new = np.empty(buf.size * 2, dtype=buf.dtype)
    new[:n] = buf[:n]
    return new


@njit(cache=True, nogil=True)
def _grow_edges(ea, eb, ew):
    n = ea.size
    a2 = np.empty(2 * n, dtype=ea.dtype)
    b2 = np.empty(2 * n, dtype=eb.dtype)
    w2 = np.empty(2 * n, dtype=ew.dtype)
    a2[:n] = ea
    b2[:n] = eb
    w2[:n] = ew
    return a2, b2, w2


@njit(cache=True, nogil=True)
def _flood(dem, valid, seeds_z, labelled):
    """Priority-flood of one tile (Barnes et al. 2014, with a pit queue, and a first
    breadth-first pass over everything that never descends from a seed, as ``fill_pits``).

    Seeds: cells with a finite ``seeds_z`` (their level), and cells next to an invalid cell
    inside the tile (level = elevation, label 0 = "drains out"). With ``labelled`` each
    finite seed that is not such an outlet gets its own label 1, 2, …, every other cell the
    label of the seed it was flooded from, and each meeting of two labels is recorded as a
    spill edge (label a, label b, max of the two levels). Returns (level, label, edges a, b,
    weights, number of edges, number of labels).
    """
    nr, nc = dem.shape
    n = nr * nc
    level = np.empty((nr, nc), dtype=np.float64)
    label = np.full((nr, nc), -1, dtype=np.int32)
    closed = np.zeros(n, dtype=np.bool_)
    keys = np.empty(1024, dtype=np.float64)
    vals = np.empty(1024, dtype=np.int64)
    size = 0
    nlab = 1
    for r in range(nr):
        for c in range(nc):
            i = r * nc + c
            if not valid[r, c]:
                closed[i] = True
                continue
            outlet = False
            for k in range(8):
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if 0 <= rr < nr and 0 <= cc < nc and not valid[rr, cc]:
                    outlet = True
                    break
            z = seeds_z[r, c]
            if outlet:
                z = dem[r, c]
                label[r, c] = 0
            elif np.isfinite(z):
                label[r, c] = nlab
                nlab += 1
            else:
                continue
            closed[i] = True
            level[r, c] = z
            if size == keys.size:
                keys, vals = _heap_grow(keys, vals)
            size = _heap_push(keys, vals, size, z, i)
    ea = np.empty(256, dtype=np.int32)
    eb = np.empty(256, dtype=np.int32)
    ew = np.empty(256, dtype=np.float64)
    ne = 0
    # pass 1: from the seeds, every cell reached by never-descending steps keeps its own
    # height (as in fill_pits); cells that see a lower, unreached neighbour seed pass 2
    fifo = np.empty(n, dtype=np.int64)
    qt = 0
    while size > 0:
        i, size = _heap_pop(keys, vals, size)
        fifo[qt] = i
        qt += 1
    qh = 0
    while qh < qt:
        i = fifo[qh]
        qh += 1
        r = i // nc
        c = i % nc
        lc = level[r, c]
        lab = label[r, c]
        spill = False
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                continue
            j = rr * nc + cc
            if closed[j]:
                if labelled and label[rr, cc] != lab:
                    if ne == ea.size:
                        ea, eb, ew = _grow_edges(ea, eb, ew)
                    ea[ne] = lab
                    eb[ne] = label[rr, cc]
                    ew[ne] = max(lc, level[rr, cc])
                    ne += 1
                continue
            z = dem[rr, cc]
            if z < lc:
                spill = True
                continue
            closed[j] = True
            label[rr, cc] = lab
            level[rr, cc] = z
            fifo[qt] = j
            qt += 1
        if spill:
            if size == keys.size:
                keys, vals = _heap_grow(keys, vals)
            size = _heap_push(keys, vals, size, lc, i)
    # pass 2: priority-flood the depressions from the cells bordering them
    pit = fifo  # reused as the pit queue
    ph = 0
    pt = 0
    while size > 0 or ph < pt:
        if ph < pt:
            i = pit[ph]
            ph += 1
            if ph == pt:
                ph = 0
                pt = 0
        else:
            i, size = _heap_pop(keys, vals, size)
        r = i // nc
        c = i % nc
        lc = level[r, c]
        lab = label[r, c]
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                continue
            j = rr * nc + cc
            if closed[j]:
                if labelled and label[rr, cc] != lab:
                    if ne == ea.size:
                        ea, eb, ew = _grow_edges(ea, eb, ew)
                    ea[ne] = lab
                    eb[ne] = label[rr, cc]
                    ew[ne] = max(lc, level[rr, cc])
                    ne += 1
                continue
            closed[j] = True
            label[rr, cc] = lab
            z = dem[rr, cc]
            if z <= lc:
                level[rr, cc] = lc
                pit[pt] = j
                pt += 1
            else:
                level[rr, cc] = z
                if size == keys.size:
                    keys, vals = _heap_grow(keys, vals)
                size = _heap_push(keys, vals, size, z, j)
    return level, label, ea, eb, ew, ne, nlab


def flood_labels(dem: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray, np.ndarray, int]:
    """Labelled priority-flood of one tile whose perimeter cells are all seeds.

    ``dem`` elevation [m] of the tile, ``valid`` its mask. Returns (label int32 — 0 for
    cells that drain through an invalid cell inside the tile, 1 … n−1 the watershed of one
    perimeter cell, −1 invalid —, spill edges a, b, weight [m] (label pairs, each reduced to
    its lowest spill height), n = number of labels).
    """
    seeds = np.full(dem.shape, np.inf)
    seeds[[0, -1], :] = dem[[0, -1], :]
    seeds[:, [0, -1]] = dem[:, [0, -1]]
    _, label, ea, eb, ew, ne, nlab = _flood(dem, valid, seeds, True)
    a, b, w = ea[:ne], eb[:ne], ew[:ne]
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    key = lo * nlab + hi
    order = np.lexsort((w, key))
    key, w = key[order], w[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, w = key[first], w[first]
    return label, (key // nlab).astype(np.int64), (key % nlab).astype(np.int64), w, nlab


def fill_seeded(dem: np.ndarray, valid: np.ndarray, perimeter_z: np.ndarray) -> np.ndarray:
    """Exact filled heights [m] of a tile given the filled heights of its perimeter cells.

    ``perimeter_z`` is a tile-shaped array holding the final filled height of each valid
    perimeter cell (anything elsewhere is ignored). A cell's filled height is the lowest,
    over the paths to an outlet, of the highest point of the path; a path leaving the tile
    crosses its perimeter, where the rest of the path is worth the perimeter cell's filled
    height. So this is ``fill_pits`` of the tile with its perimeter raised to those heights:
    the perimeter is the array's edge, hence the outlets. Float64 output; NaN where invalid.
    """
    raised = np.where(valid, dem, 0).astype(np.float64)
    for rows, cols in ((0, slice(None)), (-1, slice(None)), (slice(None), 0), (slice(None), -1)):
        raised[rows, cols] = np.where(valid[rows, cols], perimeter_z[rows, cols], 0.0)
    level = fill_pits(raised, valid)
    level[~valid] = np.nan
    return level


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
    keys, vals, size = _push(keys, vals, size, -np.inf, 0)
    while size > 0:
        u, size = _pop(keys, vals, size)
        if done[u]:
            continue
        done[u] = True
        lu = level[u]
        for p in range(deg[u], deg[u + 1]):
            v = adj[p]
            lv = max(lu, wt[p])
            if lv < level[v]:
                level[v] = lv
                keys, vals, size = _push(keys, vals, size, lv, v)
    return level


@njit(cache=True, nogil=True)
def upslope_area_into(fd, area):
    """Upslope area at the cell inlet [m²] = (MFD accumulation − 1) × ``area`` [m² per cell],
    0 where ``fd`` is 0, written as float32 over ``fd``'s own buffer (returned as a float32
    view; ``fd`` is consumed).

    The accumulation is the whole-grid rule of ``routing.flow_accumulation_mfd``
    (FA_i = 1 + Σ_{j→i} FA_j·q_ji/Σ q_j, Kahn's topological order) with lean buffers: a
    float64 accumulator, int8 in-degrees, and a stack that grows only as deep as the
    branching (sources are taken as the scan meets them, not all pushed at once).
    """
    nr, nc = fd.shape
    n = nr * nc
    acc = np.zeros((nr, nc), dtype=np.float64)
    indeg = np.zeros(n, dtype=np.int8)
    for r in range(nr):
        for c in range(nc):
            v = fd[r, c]
            if v == 0:
                continue
            for k in range(8):
                if (v >> (4 * k)) & 0xF == 0:
                    continue
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if 0 <= rr < nr and 0 <= cc < nc and fd[rr, cc] != 0:
                    indeg[rr * nc + cc] += 1
    stack = np.empty(4096, dtype=np.int64)
    for i0 in range(n):
        if indeg[i0] != 0 or fd[i0 // nc, i0 % nc] == 0:
            continue
        stack[0] = i0
        top = 1
        while top > 0:
            top -= 1
            i = stack[top]
            indeg[i] = -1  # done: the scan skips it
            r = i // nc
            c = i % nc
            acc[r, c] += 1.0
            a = acc[r, c]
            v = fd[r, c]
            s = 0
            for k in range(8):
                s += (v >> (4 * k)) & 0xF
            for k in range(8):
                q = (v >> (4 * k)) & 0xF
                if q == 0:
                    continue
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if 0 <= rr < nr and 0 <= cc < nc and fd[rr, cc] != 0:
                    acc[rr, cc] += a * q / s
                    j = rr * nc + cc
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        stack = _grow(stack, top)
                        stack[top] = j
                        top += 1
    out = fd.view(np.float32)
    for r in range(nr):
        for c in range(nc):
            x = acc[r, c] - 1.0 if indeg[r * nc + c] == -1 else 0.0
            out[r, c] = np.float32(x * area) if x > 0.0 else np.float32(0.0)
    return out


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
