"""The painting rasterizers (gauapp/document/painting.py): exact pixels, no gaps, speed."""
from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import pytest

from gauapp.document.painting import (MAX_RADIUS, ellipse_mask, flood_fill_mask, line_mask,
                                      rect_mask, region_bounds, stroke_mask)


def full(shape, region):
    """Region -> full-canvas bool mask."""
    out = np.zeros(shape, bool)
    if region is not None:
        y0, x0, m = region
        out[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    return out


def reference_stroke(shape, points, r):
    """Per-pixel reference: centre within r of a segment between snapped points."""
    d = round(2 * r)
    snap = (lambda v: math.floor(v) + 0.5) if d % 2 else (lambda v: float(round(v)))
    pts = [(snap(x), snap(y)) for x, y in points]
    segs = list(zip(pts[:-1], pts[1:])) or [(pts[0], pts[0])]
    out = np.zeros(shape, bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            px, py = j + 0.5, i + 0.5
            for (ax, ay), (bx, by) in segs:
                vx, vy = bx - ax, by - ay
                L2 = vx * vx + vy * vy
                t = 0.0 if L2 == 0 else min(1.0, max(0.0, ((px - ax) * vx + (py - ay) * vy) / L2))
                if (px - ax - t * vx) ** 2 + (py - ay - t * vy) ** 2 <= r * r + 1e-9:
                    out[i, j] = True
                    break
    return out


def components(mask, diagonal=False):
    """Number of connected components of a small bool mask (reference BFS)."""
    seen = np.zeros_like(mask)
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if diagonal:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    n = 0
    for i, j in zip(*np.nonzero(mask)):
        if seen[i, j]:
            continue
        n += 1
        q = deque([(i, j)])
        seen[i, j] = True
        while q:
            a, b = q.popleft()
            for da, db in steps:
                c, d = a + da, b + db
                if 0 <= c < mask.shape[0] and 0 <= d < mask.shape[1] and mask[c, d] \
                        and not seen[c, d]:
                    seen[c, d] = True
                    q.append((c, d))
    return n


# --- brush strokes ---

@pytest.mark.parametrize("x, y", [(3.0, 4.0), (3.99, 4.01), (3.5, 4.5), (3.01, 4.99)])
def test_one_pixel_brush_paints_the_pixel_under_the_point(x, y):
    y0, x0, mask = stroke_mask((10, 10), [(x, y)], 0.5)
    assert (y0, x0) == (4, 3) and mask.shape == (1, 1) and mask.all()


@pytest.mark.parametrize("radius", [0.5, 1.0, 1.5, 2.0, 3.5, 4.0, 7.3])
def test_dab_matches_reference_and_is_symmetric(radius):
    shape = (40, 40)
    got = full(shape, stroke_mask(shape, [(20.3, 19.6)], radius))
    np.testing.assert_array_equal(got, reference_stroke(shape, [(20.3, 19.6)], radius))
    y0, x0, m = stroke_mask(shape, [(20.3, 19.6)], radius)
    np.testing.assert_array_equal(m, m[::-1])
    np.testing.assert_array_equal(m, m[:, ::-1])
    np.testing.assert_array_equal(m, m.T)
    assert m.shape[0] == round(2 * radius)  # an N-pixel brush is N pixels wide


@pytest.mark.parametrize("radius", [0.5, 1.0, 2.5, 6.0])
def test_stroke_changes_exactly_the_expected_pixels(radius):
    shape = (48, 64)
    pts = [(3.2, 5.7), (40.1, 9.9), (22.5, 44.4), (60.0, 30.0), (60.2, 30.1)]
    np.testing.assert_array_equal(full(shape, stroke_mask(shape, pts, radius)),
                                  reference_stroke(shape, pts, radius))


def test_fast_mouse_leaves_no_gaps():
    shape = (200, 200)
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 200, size=(12, 2))  # far-apart mouse positions
    thin = full(shape, stroke_mask(shape, pts, 0.5))
    assert components(thin, diagonal=True) == 1   # a 1-px line is 8-connected
    thick = full(shape, stroke_mask(shape, pts, 2.0))
    assert components(thick) == 1                 # wider brushes are 4-connected
    for x, y in pts:                              # and every mouse position is painted
        assert thick[int(y), int(x)]


def test_horizontal_and_diagonal_lines_have_one_pixel_per_step():
    y0, x0, m = line_mask((64, 64), 2, 3, 50, 3)
    assert (y0, x0, m.shape) == (3, 2, (1, 49)) and m.all()
    y0, x0, m = line_mask((64, 64), 0, 0, 20, 20)
    np.testing.assert_array_equal(m, np.eye(21, dtype=bool))


def test_stroke_is_clipped_to_the_canvas():
    y0, x0, m = stroke_mask((30, 30), [(-5, -5), (5, 5)], 3.0)
    assert y0 >= 0 and x0 >= 0 and y0 + m.shape[0] <= 30 and x0 + m.shape[1] <= 30
    assert m[0, 0]
    got = full((30, 30), (y0, x0, m))
    big = reference_stroke((40, 40), [(5, 5), (15, 15)], 3.0)  # same stroke shifted by 10
    np.testing.assert_array_equal(got[:20, :20], big[10:30, 10:30])
    assert stroke_mask((30, 30), [(-50, -50), (-40, -45)], 3.0) is None
    assert stroke_mask((30, 30), [], 3.0) is None


def test_region_is_cropped_to_its_pixels():
    y0, x0, m = stroke_mask((100, 100), [(50, 50), (70, 50)], 4.0)
    assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()
    assert region_bounds((y0, x0, m)) == (y0, x0, y0 + m.shape[0], x0 + m.shape[1])


def test_brush_size_limits():
    for bad in (0.4, 0.0, -1, MAX_RADIUS + 1):
        with pytest.raises(ValueError):
            stroke_mask((10, 10), [(1, 1)], bad)
    with pytest.raises(ValueError):
        stroke_mask((10, 10), [(math.nan, 1)], 1.0)
    y0, x0, m = stroke_mask((1024, 1024), [(512, 512)], 256.0)  # the 512-px brush
    assert m.shape == (512, 512)
    assert abs(m.sum() / (math.pi * 256 ** 2) - 1) < 0.01


def test_long_wide_stroke_is_fast():
    t = time.perf_counter()
    y0, x0, m = stroke_mask((2048, 2048), [(0, 0), (2047, 2047), (0, 2047)], 256.0)
    assert time.perf_counter() - t < 2.0
    assert m.shape == (2048, 2048)


# --- shapes ---

def test_rect_any_corner_order_inclusive_and_clipped():
    for corners in [(2, 3, 6, 8), (6, 8, 2, 3), (2, 8, 6, 3), (6.7, 3.2, 2.1, 8.9)]:
        y0, x0, m = rect_mask((20, 20), *corners)
        assert (y0, x0, m.shape) == (3, 2, (6, 5)) and m.all()
    y0, x0, m = rect_mask((20, 20), -5, -5, 3, 25)
    assert (y0, x0, m.shape) == (0, 0, (20, 4))
    assert rect_mask((20, 20), 25, 25, 30, 30) is None
    y0, x0, m = rect_mask((20, 20), 4, 4, 4, 4)
    assert (y0, x0, m.shape) == (4, 4, (1, 1))


def test_ellipse_is_inscribed_and_symmetric():
    y0, x0, m = ellipse_mask((100, 100), 10, 20, 60, 45)
    assert (y0, x0, m.shape) == (20, 10, (26, 51))        # touches all four sides
    assert not m[0, 0] and not m[-1, -1] and m[13, 25]
    np.testing.assert_array_equal(m, m[::-1])
    np.testing.assert_array_equal(m, m[:, ::-1])
    assert abs(m.sum() / (math.pi * 25.5 * 13) - 1) < 0.05
    assert ellipse_mask((100, 100), 7, 7, 7, 7)[2].shape == (1, 1)
    y0, x0, m = ellipse_mask((100, 100), 7, 5, 7, 30)      # 1 px wide: a line
    assert m.shape == (26, 1) and m.all()
    y0, x0, m = ellipse_mask((100, 100), 60, 60, 160, 160)  # clipped
    assert y0 + m.shape[0] == 100 and x0 + m.shape[1] == 100


# --- flood fill ---

def reference_fill(values, x, y):
    target = values[y, x]
    out = np.zeros(values.shape, bool)
    q = deque([(y, x)])
    out[y, x] = True
    while q:
        a, b = q.popleft()
        for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
            if 0 <= c < values.shape[0] and 0 <= d < values.shape[1] and not out[c, d] \
                    and values[c, d] == target:
                out[c, d] = True
                q.append((c, d))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_flood_fill_matches_reference(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 3 if seed % 2 else 2, size=(37, 53)).astype(np.int16)
    for _ in range(8):
        x, y = int(rng.integers(0, 53)), int(rng.integers(0, 37))
        np.testing.assert_array_equal(full(values.shape, flood_fill_mask(values, x, y)),
                                      reference_fill(values, x, y))


def test_flood_fill_is_four_connected_and_follows_spirals():
    values = np.zeros((5, 5), np.int16)
    values[1, 1] = values[2, 2] = 1   # diagonal neighbours are separate regions
    y0, x0, m = flood_fill_mask(values, 1, 1)
    assert (y0, x0, m.shape) == (1, 1, (1, 1))
    comb = np.zeros((64, 64), np.int16)
    comb[1:, 1::2] = 1                # teeth joined only along the top row
    np.testing.assert_array_equal(full(comb.shape, flood_fill_mask(comb, 0, 63)), comb == 0)
    spiral = np.ones((41, 41), np.int16)
    y, x, dy, dx = 20, 20, 0, 1
    for step in range(1, 40):         # a 1-px spiral path of zeros
        for _ in range(2):
            for _ in range(step):
                spiral[y, x] = 0
                y, x = y + dy, x + dx
            dy, dx = dx, -dy
    np.testing.assert_array_equal(full(spiral.shape, flood_fill_mask(spiral, 20, 20)),
                                  reference_fill(spiral, 20, 20))


def test_flood_fill_seed_outside_and_float_seed():
    values = np.zeros((8, 8), np.int16)
    assert flood_fill_mask(values, -1, 3) is None and flood_fill_mask(values, 3, 8) is None
    y0, x0, m = flood_fill_mask(values, 3.7, 2.2)
    assert (y0, x0) == (0, 0) and m.all() and m.shape == (8, 8)


def test_flood_fill_full_2048_canvas_is_fast():
    values = np.full((2048, 2048), 7, np.int16)
    values[100:300, 500] = 3          # a wall the fill must go around
    best = min(_timed(flood_fill_mask, values, 1000, 1000) for _ in range(3))
    y0, x0, m = flood_fill_mask(values, 1000, 1000)
    assert (y0, x0, m.shape) == (0, 0, (2048, 2048)) and m.sum() == 2048 * 2048 - 200
    assert best < 0.3, f"flood fill of a 2048x2048 region took {best:.3f} s"


def _timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t
