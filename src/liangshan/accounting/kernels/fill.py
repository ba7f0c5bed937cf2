"""Depression filling for float32 DEMs with a one-array priority queue (SDR/NDR routing).

Same result as :func:`liangshan.accounting.kernels.flats.fill_pits` (pygeoprocessing
``fill_pits`` without a fill limit, INVEST_NOTES §2 [V]): a pixel's filled height is the
lowest possible maximum elevation along any path to an outlet, outlets being valid pixels
on the raster edge or next to a nodata pixel. That height is unique, so it does not depend
on the order in which pixels of equal height leave the queue, and this module is free to
order them differently.

Why a second implementation: on the InVEST benchmark DEM (3000², karst-like) only 4 % of the
pixels drain to an outlet without climbing, so the priority-flood pass handles ~6 M heap
pushes and dominates the SDR/NDR routing time. Here the queue holds one int64 per entry —
the float32 height mapped to an order-preserving unsigned integer in the high 32 bits, the
flat pixel index in the low 32 bits — so each sift compares and moves one machine word
instead of a (float64, int64) pair in two arrays, and a 4-ary layout halves the depth.
Valid for float32 DEMs of < 2³² pixels; :func:`fill_float32` falls back to ``fill_pits``
otherwise. Where most pixels drain without climbing (the generated province DEM: 1024² tiles
fill in ≈ 150 ms with ``fill_pits`` against ≈ 300 ms here), ``fill_pits`` is the faster.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from liangshan.accounting.kernels import routing as rt
from liangshan.accounting.kernels.flats import seed_outlets
from liangshan.accounting.kernels.routing import COL_OFFSETS as COL
from liangshan.accounting.kernels.routing import ROW_OFFSETS as ROW


def fill_float32(dem: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Filled DEM [m] as float64 (invalid pixels keep their input value)."""
    if dem.dtype != np.float32 or dem.size >= 2**32 or dem.ndim != 2:
        return rt.fill_pits(dem, valid)
    return _fill(dem, dem.view(np.uint32), valid)


@njit(cache=True, nogil=True, inline="always")
def _key(bits, idx):
    """int64 ordered like (height, idx) for a finite float32 height given by its bits."""
    u = np.int64(bits)
    u = (u ^ 0xFFFFFFFF) if u & 0x80000000 else (u | 0x80000000)  # ordered uint32
    return (u - 2**31) * 2**32 + idx


@njit(cache=True, nogil=True)
def _push(heap, size, key):
    i = size
    while i > 0:
        p = (i - 1) >> 2
        if heap[p] <= key:
            break
        heap[i] = heap[p]
        i = p
    heap[i] = key
    return size + 1


@njit(cache=True, nogil=True)
def _pop(heap, size):
    top = heap[0]
    size -= 1
    last = heap[size]
    i = 0
    while True:
        c = 4 * i + 1
        if c >= size:
            break
        m = c
        mv = heap[c]
        for j in range(c + 1, min(c + 4, size)):
            if heap[j] < mv:
                m = j
                mv = heap[j]
        if last <= mv:
            break
        heap[i] = mv
        i = m
    heap[i] = last
    return top, size


@njit(cache=True, nogil=True)
def _grow(heap):
    out = np.empty(2 * heap.size, dtype=heap.dtype)
    out[: heap.size] = heap
    return out


@njit(cache=True, nogil=True)
def _fill(dem, bits, valid):
    """Pass 1: every pixel reachable from an outlet by non-descending steps is final
    (breadth-first). Pass 2: priority-flood the rest from the pixels of pass 1 that have a
    lower undrained neighbour; pixels not above the current level go through a FIFO
    (Barnes et al. 2014, Priority-Flood+). Heights enter the queue only while they are
    still the input heights, so ``bits`` (the DEM's float32 bit patterns) give the keys."""
    nr, nc = dem.shape
    n = nr * nc
    out = dem.astype(np.float64)
    closed = np.zeros(n, dtype=np.bool_)
    fifo = np.empty(n, dtype=np.int64)
    qh = 0
    qt = seed_outlets(valid, closed, fifo)
    heap = np.empty(1024, dtype=np.int64)
    size = 0
    while qh < qt:
        idx = fifo[qh]
        qh += 1
        r = idx // nc
        c = idx % nc
        zc = out[r, c]
        spill = False
        for k in range(8):
            rr = r + ROW[k]
            cc = c + COL[k]
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
            if size == heap.size:
                heap = _grow(heap)
            size = _push(heap, size, _key(bits[r, c], idx))
    if qt == n:
        return out
    ph = 0
    pt = 0
    mask = np.int64(0xFFFFFFFF)
    while size > 0 or ph < pt:
        if ph < pt:
            idx = fifo[ph]
            ph += 1
        else:
            key, size = _pop(heap, size)
            idx = key & mask
        r = idx // nc
        c = idx % nc
        zc = out[r, c]
        for k in range(8):
            rr = r + ROW[k]
            cc = c + COL[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc:
                continue
            j = rr * nc + cc
            if closed[j]:
                continue
            closed[j] = True
            if out[rr, cc] <= zc:
                out[rr, cc] = zc
                fifo[pt] = j
                pt += 1
            else:
                if size == heap.size:
                    heap = _grow(heap)
                # out[rr, cc] is still the input height here: its bits are the key
                size = _push(heap, size, _key(bits[rr, cc], j))
    return out
