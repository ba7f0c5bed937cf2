"""Terrain conditioning kernels: slope, pit filling, D8/MFD flow direction with flats.

Numba re-implementations of pygeoprocessing 2.4.11's ``calculate_slope``, ``fill_pits``,
``flow_dir_d8`` and ``flow_dir_mfd`` semantics as described in INVEST_NOTES §2 [V]
(written from the described behaviour; no code copied):

- neighbour k = 0..7 is E, NE, N, NW, W, SW, S, SE (row offsets 0,-1,-1,-1,0,1,1,1;
  column offsets 1,1,0,-1,-1,-1,0,1); odd k are diagonals;
- pits are filled *flat* to their pour point; the raster edge and nodata are outlets;
- MFD weights are 4-bit integers packed in an int32 (direction k in bits 4k..4k+3),
  ``floor(0.5 + 15·s_k/Σs)`` with s_k the drop (diagonals × 1/√2);
- D8 takes the steepest drop, first direction wins ties; nodata 128;
- plateaus drain towards their lowest-edge pixels by a breadth-first distance
  (steps 1 and √2) through equal-height pixels; only when a plateau has no lower
  neighbour anywhere do nodata / off-raster neighbours become its drains.

Memory: every kernel works on whole arrays with a boolean validity mask. Work buffers
are flat int64 index arrays (8 B/px) and one float64 plateau-distance array; there are
no per-pixel Python objects. Elevations are read as float64 (exact for float32 input).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ROW_OFFSETS = np.array([0, -1, -1, -1, 0, 1, 1, 1], dtype=np.int64)
COL_OFFSETS = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
SQRT2 = 1.4142135623730951
SQRT2_INV = 1.0 / SQRT2
D8_NODATA = 128
BLOCK = 256  # pygeoprocessing's GeoTIFF tile size, which sets its scan order
SLOPE_NODATA = float(np.finfo(np.float32).min)


@njit(cache=True, nogil=True, parallel=True)
def calculate_slope(dem, valid, cell_x, cell_y):
    """Percent slope by the 3×3 Zevenbergen–Thorne/Sobel stencil (pygeoprocessing rules).

    ``dem`` elevation [m], ``valid`` bool mask, ``cell_x``/``cell_y`` pixel size [m].
    Missing neighbours (nodata or off-raster) fall back to a half pair with the centre
    row/column value, then to the difference with the centre × √2, with the denominator
    weight reduced to match (INVEST_NOTES §2 [V]). Returns float64 slope [%], nodata
    ``SLOPE_NODATA`` where ``valid`` is False.
    """
    nr, nc = dem.shape
    out = np.empty((nr, nc), dtype=np.float64)
    cx = abs(cell_x)
    cy = abs(cell_y)
    r2 = 2.0**0.5
    for r in prange(nr):
        v = np.zeros(9, dtype=np.bool_)
        z = np.zeros(9, dtype=np.float64)
        for c in range(nc):
            if not valid[r, c]:
                out[r, c] = SLOPE_NODATA
                continue
            # a b c / d e f / g h i  stored 0..8
            k = 0
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr = r + dr
                    cc = c + dc
                    if 0 <= rr < nr and 0 <= cc < nc and valid[rr, cc]:
                        v[k] = True
                        z[k] = dem[rr, cc]
                    else:
                        v[k] = False
                        z[k] = 0.0
                    k += 1
            e = z[4]
            ax = 0.0
            dx = 0.0
            # rows (a,b,c), (g,h,i) with weight 1; (d,e,f) with weight 2
            for top in (0, 6):
                a_, b_, c_ = top, top + 1, top + 2
                if v[a_] and v[c_]:
                    ax += z[a_] - z[c_]
                    dx += 2
                elif v[a_] and v[b_]:
                    ax += z[a_] - z[b_]
                    dx += 1
                elif v[b_] and v[c_]:
                    ax += z[b_] - z[c_]
                    dx += 1
                elif v[a_]:
                    ax += (z[a_] - e) * r2
                    dx += 1
                elif v[c_]:
                    ax += (e - z[c_]) * r2
                    dx += 1
            if v[3] and v[5]:
                ax += 2 * (z[3] - z[5])
                dx += 4
            elif v[3]:
                ax += 2 * (z[3] - e)
                dx += 2
            elif v[5]:
                ax += 2 * (e - z[5])
                dx += 2
            ay = 0.0
            dy = 0.0
            for left in (0, 2):
                a_, d_, g_ = left, left + 3, left + 6
                if v[a_] and v[g_]:
                    ay += z[a_] - z[g_]
                    dy += 2
                elif v[a_] and v[d_]:
                    ay += z[a_] - z[d_]
                    dy += 1
                elif v[d_] and v[g_]:
                    ay += z[d_] - z[g_]
                    dy += 1
                elif v[a_]:
                    ay += (z[a_] - e) * r2
                    dy += 1
                elif v[g_]:
                    ay += (e - z[g_]) * r2
                    dy += 1
            if v[1] and v[7]:
                ay += 2 * (z[1] - z[7])
                dy += 4
            elif v[1]:
                ay += 2 * (z[1] - e)
                dy += 2
            elif v[7]:
                ay += 2 * (e - z[7])
                dy += 2
            gx = ax / (dx * cx) if dx != 0 else 0.0
            gy = ay / (dy * cy) if dy != 0 else 0.0
            out[r, c] = 100.0 * np.sqrt(gx * gx + gy * gy)
    return out


@njit(cache=True, nogil=True)
def _heap_push(keys, vals, size, key, val):
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
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(keys, vals, size):
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


@njit(cache=True, nogil=True, inline="always")
def seed_outlets(valid, closed, fifo):
    """Mark the outlets of a priority-flood — valid pixels on the raster edge or next to a
    nodata pixel — closed and queue them in ``fifo`` (invalid pixels are closed too, so the
    flood never enters them). Returns the number queued."""
    nr, nc = valid.shape
    qt = 0
    for r in range(nr):
        for c in range(nc):
            idx = r * nc + c
            if not valid[r, c]:
                closed[idx] = True
                continue
            edge = r == 0 or c == 0 or r == nr - 1 or c == nc - 1
            if not edge:
                for k in range(8):
                    if not valid[r + ROW_OFFSETS[k], c + COL_OFFSETS[k]]:
                        edge = True
                        break
            if edge:
                closed[idx] = True
                fifo[qt] = idx
                qt += 1
    return qt


@njit(cache=True, nogil=True)
def fill_pits(dem, valid):
    """Fill depressions flat to their pour point (priority-flood; Barnes et al. 2014).

    Equivalent to pygeoprocessing ``fill_pits`` with no fill limit: a pixel's filled
    height is the lowest possible maximum elevation along any path to an outlet, where
    outlets are valid pixels on the raster edge or next to a nodata pixel
    (INVEST_NOTES §2 [V]). No epsilon gradient. Returns a float64 copy [m]; invalid
    pixels keep their input value.

    Speed-up: a breadth-first pass first marks every pixel with a non-ascending path to
    an outlet (its height is final); the priority queue then only floods the remaining
    depression pixels, seeded from the marked pixels that border them. The result is the
    same because any path out of a depression first meets a marked pixel, from which the
    rest of the path never rises.
    """
    nr, nc = dem.shape
    n = nr * nc
    out = dem.astype(np.float64)
    closed = np.zeros(n, dtype=np.bool_)
    fifo = np.empty(n, dtype=np.int64)
    qh = 0
    qt = seed_outlets(valid, closed, fifo)
    # pass 1: everything reachable uphill (non-descending steps) from an outlet drains.
    # Pixels that see a lower, not yet drained neighbour may spill into a depression:
    # they seed pass 2 (a stale seed is harmless: popping it finds nothing to do).
    keys = np.empty(1024, dtype=np.float64)
    vals = np.empty(1024, dtype=np.int64)
    size = 0
    while qh < qt:
        idx = fifo[qh]
        qh += 1
        r = idx // nc
        c = idx % nc
        zc = out[r, c]
        spill = False
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                continue
            j = rr * nc + cc
            if closed[j]:
                continue
            if out[rr, cc] < zc:
                spill = True
                continue
            closed[j] = True
            fifo[qt] = j
            qt += 1
        if spill:
            if size == keys.size:
                keys, vals = _heap_grow(keys, vals)
            size = _heap_push(keys, vals, size, zc, idx)
    if qt == n:
        return out
    # pass 2: priority-flood the depressions from the drained pixels bordering them
    ph = 0
    pt = 0
    while size > 0 or ph < pt:
        if ph < pt:
            idx = fifo[ph]
            ph += 1
        else:
            idx, size = _heap_pop(keys, vals, size)
        r = idx // nc
        c = idx % nc
        zc = out[r, c]
        for k in range(8):
            rr = r + ROW_OFFSETS[k]
            cc = c + COL_OFFSETS[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                continue
            j = rr * nc + cc
            if closed[j]:
                continue
            closed[j] = True
            if out[rr, cc] <= zc:
                out[rr, cc] = zc
                fifo[pt] = j  # the FIFO is reused: pass 1 no longer needs it
                pt += 1
            else:
                if size == keys.size:
                    keys, vals = _heap_grow(keys, vals)
                size = _heap_push(keys, vals, size, out[rr, cc], j)
    return out


@njit(cache=True, nogil=True)
def _heap_grow(keys, vals):
    k2 = np.empty(keys.size * 2, dtype=keys.dtype)
    v2 = np.empty(vals.size * 2, dtype=vals.dtype)
    k2[: keys.size] = keys
    v2[: vals.size] = vals
    return k2, v2


@njit(cache=True, nogil=True)
def _pack_weights(slopes, total):
    packed = 0
    for k in range(8):
        q = int(0.5 + slopes[k] / total * 15.0)
        packed |= q << (4 * k)
    # int32 wrap-around: direction 7 occupies the sign bit, as in pygeoprocessing's int32
    if packed >= 2**31:
        packed -= 2**32
    return packed


@njit(cache=True, nogil=True)
def _grow(buf, head, tail):
    """Return a buffer twice as large holding buf[head:tail] at the front."""
    new = np.empty(max(2 * buf.size, 16), dtype=buf.dtype)
    cnt = tail - head
    new[:cnt] = buf[head:tail]
    return new, 0, cnt


@njit(cache=True, nogil=True)
def flow_dir_mfd(dem, valid):
    """Multiple-flow-direction weights (pygeoprocessing ``flow_dir_mfd`` semantics).

    ``dem`` a pit-filled DEM [m], ``valid`` bool mask. Returns int32 packed 4-bit weights
    (0 = nodata / no flow). Pixels with a lower valid neighbour get weights linear in the
    drop; plateau pixels drain along the breadth-first distance to the plateau's drains
    (INVEST_NOTES §2 [V]; the plateau rule reproduces pygeoprocessing's described logic).
    """
    return _flow_dir_mfd(dem, valid, PLATEAUS_ALL, -1, -1)


#: which plateaus :func:`_flow_dir_mfd` resolves
PLATEAUS_ALL = 0
PLATEAUS_INSIDE = 1  # not those touching the raster's outer ring (a tile's neighbours)
PLATEAUS_ONE = 2  # only the plateau holding the seed cell, and no slope directions


@njit(cache=True, nogil=True)
def flow_dir_mfd_inside(dem, valid):
    """:func:`flow_dir_mfd` of a tile window with a one-cell ring of its neighbours, except
    that a plateau reaching into the ring is left at 0: its directions depend on cells
    beyond the window, so the caller resolves it whole with :func:`plateau_dir_mfd`."""
    return _flow_dir_mfd(dem, valid, PLATEAUS_INSIDE, -1, -1)


@njit(cache=True, nogil=True)
def plateau_dir_mfd(dem, valid, r, c):
    """MFD weights of the plateau (equal-height region with a cell that has no lower
    neighbour) holding cell (r, c), exactly as :func:`flow_dir_mfd` gives them for the
    plateau's cells; 0 everywhere else. A plateau's directions depend only on its own
    cells and their neighbours, so a window holding it with a one-cell ring suffices."""
    return _flow_dir_mfd(dem, valid, PLATEAUS_ONE, r, c)


@njit(cache=True, nogil=True)
def _flow_dir_mfd(dem, valid, which, seed_r, seed_c):
    nr, nc = dem.shape
    n = nr * nc
    fd = np.zeros((nr, nc), dtype=np.int32)
    slopes = np.zeros(8, dtype=np.float64)
    nod = np.zeros(8, dtype=np.float64)
    # phase 1: pixels with a strictly lower valid neighbour
    for r in range(0 if which == PLATEAUS_ONE else nr):
        for c in range(nc):
            if not valid[r, c]:
                continue
            h = dem[r, c]
            tot = 0.0
            for k in range(8):
                slopes[k] = 0.0
                rr = r + ROW_OFFSETS[k]
                cc = c + COL_OFFSETS[k]
                if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                    continue
                s = h - dem[rr, cc]
                if s > 0.0:
                    if k & 1:
                        s *= SQRT2_INV
                    slopes[k] = s
                    tot += s
            if tot > 0.0:
                fd[r, c] = _pack_weights(slopes, tot)
    # phase 2: plateaus
    flat = np.zeros(n, dtype=np.bool_)
    drain_mask = np.zeros(n, dtype=np.bool_)
    dist = np.full(n, np.inf, dtype=np.float64)
    region = np.empty(1024, dtype=np.int64)
    drains = np.empty(1024, dtype=np.int64)
    nodata_drains = np.empty(1024, dtype=np.int64)
    nodata_fd = np.empty(1024, dtype=np.int64)
    q = np.empty(1024, dtype=np.int64)
    one = which == PLATEAUS_ONE
    for r0 in range(seed_r if one else 0, seed_r + 1 if one else nr):
        for c0 in range(seed_c if one else 0, seed_c + 1 if one else nc):
            if not valid[r0, c0] or fd[r0, c0] != 0 or flat[r0 * nc + c0]:
                continue
            h = dem[r0, c0]
            # breadth-first search of the equal-height region, collecting drains
            ring = False
            rh = 0
            rt = 0
            region[rt] = r0 * nc + c0
            rt += 1
            flat[r0 * nc + c0] = True
            nd = 0
            nnd = 0
            while rh < rt:
                idx = region[rh]
                rh += 1
                r = idx // nc
                c = idx % nc
                if r == 0 or c == 0 or r == nr - 1 or c == nc - 1:
                    ring = True
                tot = 0.0
                ntot = 0.0
                for k in range(8):
                    slopes[k] = 0.0
                    nod[k] = 0.0
                    rr = r + ROW_OFFSETS[k]
                    cc = c + COL_OFFSETS[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                        w = SQRT2_INV if k & 1 else 1.0
                        nod[k] = w
                        ntot += w
                        continue
                    s = h - dem[rr, cc]
                    if s < 0:
                        continue
                    if s == 0.0:
                        j = rr * nc + cc
                        if not flat[j]:
                            flat[j] = True
                            if rt == region.size:
                                region, rh, rt = _grow(region, rh, rt)
                                # keep already-processed entries irrelevant: only the tail
                                # of the queue is still needed
                            region[rt] = j
                            rt += 1
                        continue
                    if k & 1:
                        s *= SQRT2_INV
                    slopes[k] = s
                    tot += s
                if tot > 0.0:
                    fd[r, c] = _pack_weights(slopes, tot)
                    if nd == drains.size:
                        drains, _, nd = _grow(drains, 0, nd)
                    drains[nd] = idx
                    nd += 1
                elif ntot > 0.0:
                    if nnd == nodata_drains.size:
                        nodata_drains, _, _ = _grow(nodata_drains, 0, nnd)
                        nodata_fd, _, nnd = _grow(nodata_fd, 0, nnd)
                    nodata_drains[nnd] = idx
                    nodata_fd[nnd] = _pack_weights(nod, ntot)
                    nnd += 1
            if ring and which == PLATEAUS_INSIDE:
                continue
            if nd == 0:
                for i in range(nnd):
                    idx = nodata_drains[i]
                    fd[idx // nc, idx % nc] = nodata_fd[i]
                    if nd == drains.size:
                        drains, _, nd = _grow(drains, 0, nd)
                    drains[nd] = idx
                    nd += 1
            if nd == 0:
                continue
            # label-correcting breadth-first distance from the drains
            qh = 0
            qt = 0
            for i in range(nd):
                idx = drains[i]
                dist[idx] = 0.0
                drain_mask[idx] = True
                if qt == q.size:
                    q, qh, qt = _grow(q, qh, qt)
                q[qt] = idx
                qt += 1
            while qh < qt:
                idx = q[qh]
                qh += 1
                r = idx // nc
                c = idx % nc
                d0 = dist[idx]
                for k in range(8):
                    rr = r + ROW_OFFSETS[k]
                    cc = c + COL_OFFSETS[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                        continue
                    nd_ = d0 + (SQRT2 if k & 1 else 1.0)
                    j = rr * nc + cc
                    if dem[rr, cc] == h and dist[j] > nd_:
                        dist[j] = nd_
                        if qt == q.size:
                            q, qh, qt = _grow(q, qh, qt)
                        q[qt] = j
                        qt += 1
            # directions: every plateau pixel flows to equal-height neighbours nearer a drain
            qh = 0
            qt = 0
            for i in range(nd):
                if qt == q.size:
                    q, qh, qt = _grow(q, qh, qt)
                q[qt] = drains[i]
                qt += 1
            while qh < qt:
                idx = q[qh]
                qh += 1
                r = idx // nc
                c = idx % nc
                d0 = dist[idx]
                tot = 0.0
                for k in range(8):
                    slopes[k] = 0.0
                    rr = r + ROW_OFFSETS[k]
                    cc = c + COL_OFFSETS[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                        continue
                    if dem[rr, cc] != h:
                        continue
                    j = rr * nc + cc
                    dn = dist[j]
                    if dn == np.inf:
                        continue
                    if dn < d0:
                        w = SQRT2_INV if k & 1 else 1.0
                        slopes[k] = w
                        tot += w
                    elif not drain_mask[j]:
                        drain_mask[j] = True
                        if qt == q.size:
                            q, qh, qt = _grow(q, qh, qt)
                        q[qt] = j
                        qt += 1
                if tot > 0.0:
                    fd[r, c] = _pack_weights(slopes, tot)
    return fd


@njit(cache=True, nogil=True)
def flow_dir_d8(dem, valid):
    """D8 flow direction 0..7 (pygeoprocessing ``flow_dir_d8`` semantics), nodata 128.

    Steepest drop (diagonals × 1/√2), first direction wins ties. Plateaus: pixels with a
    lower neighbour are drains; if none, pixels next to nodata/off-raster (lateral
    preferred) drain there; the rest point back along a FIFO label-correcting
    breadth-first search from the drains (INVEST_NOTES §2 [V]). Returns uint8.
    """
    nr, nc = dem.shape
    n = nr * nc
    fd = np.full((nr, nc), D8_NODATA, dtype=np.uint8)
    flat = np.zeros(n, dtype=np.bool_)
    dist = np.full(n, np.inf, dtype=np.float64)
    region = np.empty(1024, dtype=np.int64)
    q = np.empty(1024, dtype=np.int64)
    nodata_drains = np.empty(1024, dtype=np.int64)
    nodata_dir = np.empty(1024, dtype=np.int64)
    # scan in pygeoprocessing's order (256×256 tiles, row-major inside each): the plateau
    # label-correcting search breaks ties by visiting order, so D8 flats depend on it
    nbr = (nr + BLOCK - 1) // BLOCK
    nbc = (nc + BLOCK - 1) // BLOCK
    for blk in range(nbr * nbc):
        br = (blk // nbc) * BLOCK
        bc = (blk % nbc) * BLOCK
        bw = min(BLOCK, nc - bc)
        for t in range(min(BLOCK, nr - br) * bw):
            r0 = br + t // bw
            c0 = bc + t % bw
            if not valid[r0, c0] or fd[r0, c0] != D8_NODATA:
                continue
            h = dem[r0, c0]
            best = -1
            bs = 0.0
            for k in range(8):
                rr = r0 + ROW_OFFSETS[k]
                cc = c0 + COL_OFFSETS[k]
                if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                    continue
                s = h - dem[rr, cc]
                if k & 1:
                    s *= SQRT2_INV
                if s > bs:
                    best = k
                    bs = s
            if best >= 0:
                fd[r0, c0] = best
                continue
            if flat[r0 * nc + c0]:
                continue
            rh = 0
            rt = 0
            region[rt] = r0 * nc + c0
            rt += 1
            flat[r0 * nc + c0] = True
            qt = 0
            nnd = 0
            while rh < rt:
                idx = region[rh]
                rh += 1
                r = idx // nc
                c = idx % nc
                best = -1
                bs = 0.0
                diag_nodata = True
                for k in range(8):
                    rr = r + ROW_OFFSETS[k]
                    cc = c + COL_OFFSETS[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                        if diag_nodata and bs == 0.0:
                            best = k
                            diag_nodata = (k & 1) == 1
                        continue
                    s = h - dem[rr, cc]
                    if s < 0:
                        continue
                    if s == 0.0:
                        j = rr * nc + cc
                        if not flat[j]:
                            flat[j] = True
                            if rt == region.size:
                                region, rh, rt = _grow(region, rh, rt)
                            region[rt] = j
                            rt += 1
                        continue
                    if k & 1:
                        s *= SQRT2_INV
                    if s > bs:
                        bs = s
                        best = k
                if best >= 0:
                    if bs > 0.0:
                        fd[r, c] = best
                        dist[idx] = 0.0
                        if qt == q.size:
                            q, _, qt = _grow(q, 0, qt)
                        q[qt] = idx
                        qt += 1
                    else:
                        if nnd == nodata_drains.size:
                            nodata_drains, _, _ = _grow(nodata_drains, 0, nnd)
                            nodata_dir, _, nnd = _grow(nodata_dir, 0, nnd)
                        nodata_drains[nnd] = idx
                        nodata_dir[nnd] = best
                        nnd += 1
            if qt == 0:
                for i in range(nnd):
                    idx = nodata_drains[i]
                    fd[idx // nc, idx % nc] = nodata_dir[i]
                    dist[idx] = 0.0
                    if qt == q.size:
                        q, _, qt = _grow(q, 0, qt)
                    q[qt] = idx
                    qt += 1
            qh = 0
            while qh < qt:
                idx = q[qh]
                qh += 1
                r = idx // nc
                c = idx % nc
                d0 = dist[idx]
                for k in range(8):
                    rr = r + ROW_OFFSETS[k]
                    cc = c + COL_OFFSETS[k]
                    if rr < 0 or rr >= nr or cc < 0 or cc >= nc or not valid[rr, cc]:
                        continue
                    nd_ = d0 + (SQRT2 if k & 1 else 1.0)
                    j = rr * nc + cc
                    if dem[rr, cc] == h and dist[j] > nd_:
                        fd[rr, cc] = (k + 4) % 8
                        dist[j] = nd_
                        if qt == q.size:
                            q, qh, qt = _grow(q, qh, qt)
                        q[qt] = j
                        qt += 1
    return fd
