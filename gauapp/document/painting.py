"""Pure numpy rasterizers for the painting tools.

Each returns a region ``(y0, x0, mask)``: a bool ``mask`` crop whose top-left pixel is canvas
pixel ``(y0, x0)``, clipped to the canvas and cropped to its set pixels -- or **None** when no
canvas pixel is covered. ``Document.paint_labels`` takes such a region.

Coordinates: ``x`` is the column, ``y`` the row. Brush strokes take continuous canvas positions
(pixel ``(i, j)`` spans ``[j, j+1) x [i, i+1)``, its centre is ``(j + 0.5, i + 0.5)``);
rectangles, ellipses and flood fills take pixel indices (floats are floored).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

Region = tuple[int, int, np.ndarray]

MIN_RADIUS = 0.5    # a 1-pixel brush
MAX_RADIUS = 256.0  # a 512-pixel brush


def _shape(shape: Sequence[int]) -> tuple[int, int]:
    h, w = (int(v) for v in tuple(shape)[:2])
    if h < 0 or w < 0:
        raise ValueError(f"bad canvas shape {shape}")
    return h, w


def _crop(y0: int, x0: int, mask: np.ndarray) -> Region | None:
    """Crops a mask to its set pixels; None when it has none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return y0 + r0, x0 + c0, mask[r0:r1, c0:c1]


def region_bounds(region: Region) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` of a region, end exclusive (the Document.changed convention)."""
    y0, x0, mask = region
    return y0, x0, y0 + mask.shape[0], x0 + mask.shape[1]


def stroke_mask(shape: Sequence[int], points: Iterable[Sequence[float]],
                radius: float) -> Region | None:
    """A round brush of ``radius`` (0.5..256, i.e. 1..512 px wide) dragged through ``points``
    (``(x, y)`` canvas positions): the union of the capsules between successive points, so a
    fast mouse leaves no gaps. A single point gives one dab.

    Positions are snapped so that dabs are symmetric: to the pixel centre when the diameter
    ``round(2 * radius)`` is odd (radius 0.5 paints exactly the pixel under the point), to the
    nearest pixel corner when it is even. A pixel is painted when its centre lies within
    ``radius`` of the stroke's path.
    """
    h, w = _shape(shape)
    r = float(radius)
    if not MIN_RADIUS <= r <= MAX_RADIUS:
        raise ValueError(f"brush radius must be in {MIN_RADIUS}..{MAX_RADIUS}, not {radius}")
    pts = np.asarray(list(points), np.float64).reshape(-1, 2)
    if len(pts) == 0 or h == 0 or w == 0:
        return None
    if not np.isfinite(pts).all():
        raise ValueError("stroke points must be finite numbers")
    pts = np.floor(pts) + 0.5 if round(2 * r) % 2 else np.round(pts)
    if len(pts) > 1:  # drop repeated positions (a mouse at rest)
        keep = np.ones(len(pts), bool)
        keep[1:] = (np.diff(pts, axis=0) != 0).any(axis=1)
        pts = pts[keep]
    lo, hi = pts.min(axis=0) - r, pts.max(axis=0) + r
    bx0, by0 = max(0, math.ceil(lo[0] - 0.5)), max(0, math.ceil(lo[1] - 0.5))
    bx1, by1 = min(w, math.floor(hi[0] - 0.5) + 1), min(h, math.floor(hi[1] - 0.5) + 1)
    if bx0 >= bx1 or by0 >= by1:
        return None
    mask = np.zeros((by1 - by0, bx1 - bx0), bool)
    r2 = r * r * (1 + 1e-9) + 1e-9
    piece = max(16.0, 2.0 * r)  # long segments are cut so that each box stays small
    segs = zip(pts[:-1], pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segs:
        n = max(1, math.ceil(math.hypot(*(b - a)) / piece))
        for k in range(n):
            _capsule(mask, by0, bx0, a + (b - a) * (k / n), a + (b - a) * ((k + 1) / n), r, r2)
    return _crop(by0, bx0, mask)


def _capsule(mask: np.ndarray, oy: int, ox: int, a: np.ndarray, b: np.ndarray, r: float,
             r2: float) -> None:
    """ORs into ``mask`` (origin ``(oy, ox)``) the pixels whose centre is within ``r`` of the
    segment a-b, working on the segment's own bounding box only."""
    x0 = max(ox, math.ceil(min(a[0], b[0]) - r - 0.5))
    x1 = min(ox + mask.shape[1], math.floor(max(a[0], b[0]) + r - 0.5) + 1)
    y0 = max(oy, math.ceil(min(a[1], b[1]) - r - 0.5))
    y1 = min(oy + mask.shape[0], math.floor(max(a[1], b[1]) + r - 0.5) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (np.arange(x0, x1) + 0.5 - a[0])[None, :]
    dy = (np.arange(y0, y1) + 0.5 - a[1])[:, None]
    vx, vy = b[0] - a[0], b[1] - a[1]
    length2 = vx * vx + vy * vy
    if length2 > 0:
        t = np.clip((dx * vx + dy * vy) / length2, 0.0, 1.0)
        dx = dx - t * vx
        dy = dy - t * vy
    mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox] |= dx * dx + dy * dy <= r2


def line_mask(shape: Sequence[int], x0: float, y0: float, x1: float, y1: float,
              radius: float = 0.5) -> Region | None:
    """A straight stroke from ``(x0, y0)`` to ``(x1, y1)`` with a round brush."""
    return stroke_mask(shape, [(x0, y0), (x1, y1)], radius)


def _box(shape: Sequence[int], x0: float, y0: float, x1: float,
         y1: float) -> tuple[int, int, int, int, int, int, int, int] | None:
    """Ordered inclusive pixel box and its canvas-clipped half-open window."""
    h, w = _shape(shape)
    xa, xb = sorted((math.floor(x0), math.floor(x1)))
    ya, yb = sorted((math.floor(y0), math.floor(y1)))
    cx0, cy0, cx1, cy1 = max(xa, 0), max(ya, 0), min(xb + 1, w), min(yb + 1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return xa, ya, xb, yb, cx0, cy0, cx1, cy1


def rect_mask(shape: Sequence[int], x0: float, y0: float, x1: float,
              y1: float) -> Region | None:
    """The filled rectangle between two corner pixels (inclusive, in any order)."""
    box = _box(shape, x0, y0, x1, y1)
    if box is None:
        return None
    *_, cx0, cy0, cx1, cy1 = box
    return cy0, cx0, np.ones((cy1 - cy0, cx1 - cx0), bool)


def ellipse_mask(shape: Sequence[int], x0: float, y0: float, x1: float,
                 y1: float) -> Region | None:
    """The filled ellipse inscribed in ``rect_mask``'s rectangle: the pixels whose centre lies
    inside it (a 1-pixel-thin box gives a line, a 1x1 box one pixel)."""
    box = _box(shape, x0, y0, x1, y1)
    if box is None:
        return None
    xa, ya, xb, yb, cx0, cy0, cx1, cy1 = box
    cx, cy = (xa + xb + 1) / 2.0, (ya + yb + 1) / 2.0
    ax, ay = (xb - xa + 1) / 2.0, (yb - ya + 1) / 2.0
    u = ((np.arange(cx0, cx1) + 0.5 - cx) / ax)[None, :]
    v = ((np.arange(cy0, cy1) + 0.5 - cy) / ay)[:, None]
    return _crop(cy0, cx0, u * u + v * v <= 1.0 + 1e-9)


def flood_fill_mask(values: np.ndarray, x: float, y: float) -> Region | None:
    """The 4-connected region of pixels equal to ``values[y, x]`` that contains ``(x, y)``;
    None when the seed lies outside the array.

    Scanline algorithm, vectorised: the equal-valued runs of every row are found with one diff,
    runs of adjacent rows that overlap are linked (searchsorted), and the links are joined by a
    union-find with pointer jumping, all in numpy -- no per-pixel Python. A full 2048x2048
    region takes a few tens of milliseconds.
    """
    v = np.asarray(values)
    if v.ndim != 2:
        raise ValueError(f"flood fill needs a 2-D array, not {v.shape}")
    h, w = v.shape
    xi, yi = math.floor(x), math.floor(y)
    if not (0 <= xi < w and 0 <= yi < h):
        return None
    pad = np.zeros((h, w + 2), np.int8)
    np.equal(v, v[yi, xi], out=pad[:, 1:-1].view(bool))
    edges = np.diff(pad, axis=1)                 # +1 where a run starts, -1 one past its end
    srow, start = np.nonzero(edges == 1)
    end = np.nonzero(edges == -1)[1]
    del pad, edges
    stride = w + 1
    key_start, key_end = srow * stride + start, srow * stride + end   # both ascending
    # Runs of the next row that overlap run k: end > start_k and start < end_k.
    lo = np.searchsorted(key_end, (srow + 1) * stride + start, side="right")
    hi = np.searchsorted(key_start, (srow + 1) * stride + end, side="left")
    count = np.maximum(hi - lo, 0)
    u = np.repeat(np.arange(len(srow)), count)
    first = np.repeat(lo - (np.cumsum(count) - count), count)
    other = first + np.arange(len(u))
    parent = _union_find(len(srow), u, other)
    seed = int(np.searchsorted(key_start, yi * stride + xi, side="right")) - 1
    sel = np.flatnonzero(parent == parent[seed])
    rows, starts, ends = srow[sel], start[sel], end[sel]
    y0, y1 = int(rows.min()), int(rows.max()) + 1
    x0, x1 = int(starts.min()), int(ends.max())
    marks = np.zeros((y1 - y0, x1 - x0 + 1), np.int8)
    marks[rows - y0, starts - x0] = 1           # runs of one row never touch: no overlaps
    marks[rows - y0, ends - x0] = -1
    mask = np.cumsum(marks, axis=1, dtype=np.int8)[:, :-1].astype(bool)
    return y0, x0, mask


def _union_find(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Component representative (its smallest member) of each of ``n`` nodes joined by the
    edges u-v: roots hook onto the smallest neighbouring root, then paths are compressed
    fully; each round at least halves the number of roots that still have a neighbour."""
    parent = np.arange(n)
    while u.size:
        pu, pv = parent[u], parent[v]
        keep = pu != pv
        if not keep.any():
            break
        u, v, pu, pv = u[keep], v[keep], pu[keep], pv[keep]
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        while True:
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
    return parent
