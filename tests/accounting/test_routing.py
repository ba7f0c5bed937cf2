"""Hand-computed small cases for the routing kernels.

Expected values are worked out by hand from the rules stated in INVEST_NOTES §2
(pygeoprocessing 2.4.11 semantics: neighbour order E, NE, N, NW, W, SW, S, SE; MFD
weights floor(0.5 + 15·s_k/Σs) with diagonal drops × 1/√2; accumulation counts the pixel
itself; distance to channel in pixel lengths, MFD uses the downstream neighbour's weight
and D8 the pixel's own weight) and from Barnes et al. (2014), "Priority-Flood", Computers &
Geosciences 62:117-127, for pit filling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from liangshan.accounting.kernels import routing as rt


def nib(v: int, k: int) -> int:
    return (int(v) >> (4 * k)) & 0xF


def test_fill_pits_raises_pit_flat_to_pour_point():
    """A 5×5 bowl: rim 10 except one rim pixel at 7 (the pour point); centre 3×3 at 2..5.

    Priority-flood fills every interior pixel below 7 to exactly 7 (flat, no epsilon);
    rim pixels and the raster edge are untouched.
    """
    dem = np.full((5, 5), 10.0)
    dem[1:4, 1:4] = [[5, 4, 5], [4, 2, 4], [5, 4, 5]]
    dem[0, 2] = 7.0
    valid = np.ones(dem.shape, bool)
    filled = rt.fill_pits(dem, valid)
    expected = dem.copy()
    expected[1:4, 1:4] = 7.0
    np.testing.assert_array_equal(filled, expected)


def test_fill_pits_treats_nodata_as_outlet():
    """A nodata pixel next to the pit is an outlet: nothing is filled (INVEST_NOTES §2)."""
    dem = np.full((5, 5), 10.0)
    dem[2, 2] = 1.0
    valid = np.ones(dem.shape, bool)
    valid[2, 3] = False
    filled = rt.fill_pits(dem, valid)
    assert filled[2, 2] == 1.0
    valid[2, 3] = True
    assert rt.fill_pits(dem, valid)[2, 2] == 10.0


def test_d8_on_tilted_planes():
    """z = −col: east (0) is steepest; z = −(col+row): SE drop 2/√2 > 1 so SE (7) wins."""
    r, c = np.mgrid[0:4, 0:5].astype(float)
    valid = np.ones(r.shape, bool)
    fd = rt.flow_dir_d8(-c, valid)
    assert (fd[:, :-1] == 0).all()
    fd2 = rt.flow_dir_d8(-(c + r), valid)
    assert (fd2[:-1, :-1] == 7).all()


def test_d8_tie_goes_to_first_direction():
    """Equal drops east and north: the first direction in 0..7 order (E) wins."""
    dem = np.array([[9.0, 0.0, 9.0], [9.0, 5.0, 0.0], [9.0, 9.0, 9.0]])
    fd = rt.flow_dir_d8(dem, np.ones(dem.shape, bool))
    assert fd[1, 1] == 0


def test_mfd_weights_hand_computed():
    """Centre 10; E 9 (drop 1), S 8 (drop 2), SE 7 (drop 3/√2 = 2.1213); others 11.

    Σs = 5.1213; q_E = ⌊0.5 + 15/5.1213⌋ = 3, q_S = ⌊0.5 + 5.858⌋ = 6, q_SE = ⌊0.5 + 6.213⌋ = 6.
    """
    dem = np.full((3, 3), 11.0)
    dem[1, 1], dem[1, 2], dem[2, 1], dem[2, 2] = 10.0, 9.0, 8.0, 7.0
    fd = rt.flow_dir_mfd(dem, np.ones(dem.shape, bool))
    v = int(fd[1, 1])
    assert [nib(v, k) for k in range(8)] == [3, 0, 0, 0, 0, 0, 6, 6]


def test_mfd_plateau_drains_along_bfs_distance():
    """Flat 3×5 at 5 with a lower pixel (1,4)=4. (1,3), (0,3), (2,3) are drains; (1,2) is one
    step from (1,3) and √2 from (0,3)/(2,3), all at distance 0, so it flows E weight 1,
    NE and SE 1/√2: q = ⌊0.5+15/2.414⌋ = 6 (E) and ⌊0.5+15·0.7071/2.414⌋ = 4 (NE, SE).
    """
    dem = np.full((3, 5), 5.0)
    dem[1, 4] = 4.0
    fd = rt.flow_dir_mfd(dem, np.ones(dem.shape, bool))
    assert [nib(fd[1, 3], k) for k in range(8)] == [15, 0, 0, 0, 0, 0, 0, 0]
    assert [nib(fd[1, 2], k) for k in range(8)] == [6, 4, 0, 0, 0, 0, 0, 4]
    assert (fd != 0).all()  # every pixel, including the lowest one, got a direction


def test_d8_plateau_points_back_along_bfs():
    """Same flat as above in D8. Drains: (0,3) SE, (1,3) E, (2,3) NE into (1,4); (0,4) S,
    (2,4) N. Every other flat pixel is nearest (in 1/√2 steps) to a drain straight east,
    so it points E (0). The lowest pixel (1,4) has no lower neighbour and no flat: it
    drains to its first off-raster neighbour, E (INVEST_NOTES §2)."""
    dem = np.full((3, 5), 5.0)
    dem[1, 4] = 4.0
    fd = rt.flow_dir_d8(dem, np.ones(dem.shape, bool))
    assert (fd[:, :3] == 0).all()
    assert [fd[0, 3], fd[1, 3], fd[2, 3]] == [7, 0, 1]
    assert [fd[0, 4], fd[1, 4], fd[2, 4]] == [6, 0, 2]


def test_accumulation_counts_on_a_line():
    """A 1×5 ramp draining east: FA counts the pixel and all upslope ones (1..5); with
    weights w the accumulation is the running sum."""
    dem = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    valid = np.ones(dem.shape, bool)
    fd = rt.flow_dir_mfd(dem, valid)
    np.testing.assert_allclose(rt.flow_accumulation_mfd(fd), [[1, 2, 3, 4, 5]])
    w = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    np.testing.assert_allclose(rt.flow_accumulation_mfd(fd, w), [[1, 3, 6, 10, 15]])
    np.testing.assert_allclose(rt.flow_accumulation_d8(rt.flow_dir_d8(dem, valid)),
                               [[1, 2, 3, 4, 5]])


def test_mfd_accumulation_split_hand_computed():
    """Top pixel (0,1)=10 (its row neighbours nodata) drains to (1,0)=9 SW (drop 1/√2),
    (1,1)=8 S (drop 2), (1,2)=9 SE (drop 1/√2): Σ = 3.414, q_S = ⌊0.5+8.787⌋ = 9,
    q_SW = q_SE = ⌊0.5+3.107⌋ = 3. FA(1,0) = 1 + 3/15 = 1.2 (it drains only east, into
    (1,1)); FA(1,1) = 1 + 9/15 + 1.2 + 1.2 = 4, the whole catchment.
    """
    dem = np.array([[12.0, 10.0, 12.0], [9.0, 8.0, 9.0]])
    valid = np.ones(dem.shape, bool)
    valid[0, 0] = valid[0, 2] = False
    fd = rt.flow_dir_mfd(dem, valid)
    assert [nib(fd[0, 1], k) for k in range(8)] == [0, 0, 0, 0, 0, 3, 9, 3]
    fa = rt.flow_accumulation_mfd(fd)
    assert fa[0, 1] == pytest.approx(1.0)
    assert fa[1, 0] == pytest.approx(1.2)
    assert fa[1, 2] == pytest.approx(1.2)
    assert fa[1, 1] == pytest.approx(4.0)
    assert fa[0, 0] == rt.FA_NODATA


def test_mfd_mass_balance_on_random_dem():
    """Property: with no nodata, the flow leaving the raster equals Σ weights."""
    rng = np.random.default_rng(3)
    dem = rng.random((30, 40)) * 5 + np.add.outer(np.arange(30), np.arange(40)) * 0.2
    valid = np.ones(dem.shape, bool)
    filled = rt.fill_pits(dem, valid)
    fd = rt.flow_dir_mfd(filled, valid)
    w = rng.random(dem.shape)
    fa = rt.flow_accumulation_mfd(fd, w)
    props = rt.mfd_proportions(fd)
    out = 0.0
    nr, nc = dem.shape
    for r in range(nr):
        for c in range(nc):
            for k in range(8):
                rr, cc = r + rt.ROW_OFFSETS[k], c + rt.COL_OFFSETS[k]
                if not (0 <= rr < nr and 0 <= cc < nc):
                    out += fa[r, c] * props[r, c, k]
    assert out == pytest.approx(w.sum(), rel=1e-9)


def test_extract_streams_thresholds():
    """1×6 ramp east (FA 1..6). MFD, TFA 4: the outlet (FA 6) seeds; FA ≥ 4 → stream.
    With trace 0.5 the FA 2..3 pixels are only tentative and are dropped because no
    full-threshold pixel lies upstream of them. D8 uses FA > TFA (strict)."""
    dem = np.array([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    valid = np.ones(dem.shape, bool)
    fd = rt.flow_dir_mfd(dem, valid)
    fa = rt.flow_accumulation_mfd(fd)
    np.testing.assert_array_equal(rt.extract_streams_mfd(fa, fd, 4.0, 0.5),
                                  [[0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(rt.extract_streams_d8(fa, 4.0), [[0, 0, 0, 0, 1, 1]])


def test_streams_not_connected_to_outlet_are_dropped():
    """A pixel draining into a nodata pixel is an outlet (INVEST_NOTES §2): with the last
    pixel nodata, the ramp's stream ends at (0,4) and the nodata pixel stays 255."""
    dem = np.array([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    valid = np.ones(dem.shape, bool)
    valid[0, 5] = False
    fd = rt.flow_dir_mfd(np.where(valid, dem, 0), valid)
    fa = rt.flow_accumulation_mfd(fd)
    assert fa[0, 5] == rt.FA_NODATA
    st = rt.extract_streams_mfd(fa, fd, 4.0, 1.0)
    np.testing.assert_array_equal(st, [[0, 0, 0, 1, 1, 255]])


def test_distance_to_channel_mfd_and_d8():
    """1×5 ramp east, stream at the last pixel. Unweighted: 4,3,2,1,0 pixel lengths.
    Weighted w = 1..5: MFD adds the downstream neighbour's weight (d3 = w4 = 5, d2 = 4+5 …),
    D8 the pixel's own weight (d3 = w3 = 4, d2 = 3+4 …)."""
    dem = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    valid = np.ones(dem.shape, bool)
    fd = rt.flow_dir_mfd(dem, valid)
    fd8 = rt.flow_dir_d8(dem, valid)
    stream = np.array([[0, 0, 0, 0, 1]], dtype=np.uint8)
    np.testing.assert_allclose(rt.distance_to_channel_mfd(fd, stream), [[4, 3, 2, 1, 0]])
    np.testing.assert_allclose(rt.distance_to_channel_d8(fd8, stream), [[4, 3, 2, 1, 0]])
    w = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    np.testing.assert_allclose(rt.distance_to_channel_mfd(fd, stream, w), [[14, 12, 9, 5, 0]])
    np.testing.assert_allclose(rt.distance_to_channel_d8(fd8, stream, w), [[10, 9, 7, 4, 0]])


def test_distance_undefined_when_no_stream_downstream():
    """Pixels whose flow leaves the raster before meeting a stream are nodata (−1)."""
    dem = np.array([[5.0, 4.0, 3.0]])
    valid = np.ones(dem.shape, bool)
    stream = np.zeros((1, 3), dtype=np.uint8)
    d = rt.distance_to_channel_mfd(rt.flow_dir_mfd(dem, valid), stream)
    assert (d == rt.DIST_NODATA).all()


def test_slope_on_plane():
    """z = 0.1·x (x in metres east): 10 % everywhere, including edges (one-sided pairs)."""
    cell = 30.0
    c = np.arange(6) * cell
    dem = np.tile(0.1 * c, (5, 1))
    s = rt.calculate_slope(dem, np.ones(dem.shape, bool), cell, -cell)
    np.testing.assert_allclose(s, 10.0, rtol=1e-12)
    assert math.isclose(s[2, 2], 10.0)
