"""Selections (rectangle, lasso polygon, all) as boolean canvas masks, and copying a region.

Pixel rule, so that masks are exact and testable: a pixel ``(row, col)`` is selected when its
centre ``(col + 0.5, row + 0.5)`` lies inside the shape. A rectangle's corners are rounded to
the pixel grid first (a drag from (10.4, 3) to (20.6, 8) selects columns 10..20, rows 3..7); a
lasso polygon uses the even-odd rule, so a figure-eight selects both loops and a self-crossing
region is left out as in GIMP and Krita.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DocumentError
from .layers import TRANSPARENT, ImageLayer, LabelLayer, Region, clip_window, pseudo_colors

KINDS = ("rect", "lasso", "all")
MAX_LASSO_POINTS = 20000  # a long freehand drag sends a few thousand; more is not a lasso


@dataclass(frozen=True)
class Selection:
    """A selected region in canvas pixels: ``kind`` "rect" (two corners), "lasso" (a closed
    polygon, at least 3 points) or "all" (no points)."""

    kind: str
    points: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DocumentError(f"unknown selection kind {self.kind!r} (one of {', '.join(KINDS)})")
        pts = tuple((float(x), float(y)) for x, y in self.points)
        if not all(np.isfinite(v) for p in pts for v in p):
            raise DocumentError("selection points must be finite numbers")
        need = {"rect": (2, 2), "lasso": (3, MAX_LASSO_POINTS), "all": (0, 0)}[self.kind]
        if not need[0] <= len(pts) <= need[1]:
            raise DocumentError(f"a {self.kind} selection needs {need[0]}"
                                + (f"..{need[1]}" if need[1] != need[0] else "")
                                + f" points, not {len(pts)}")
        object.__setattr__(self, "points", pts)

    @classmethod
    def rect(cls, x0: float, y0: float, x1: float, y1: float) -> "Selection":
        return cls("rect", ((x0, y0), (x1, y1)))

    @classmethod
    def lasso(cls, points) -> "Selection":
        return cls("lasso", tuple(points))

    @classmethod
    def everything(cls) -> "Selection":
        return cls("all")

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool: the selected pixels of a canvas of ``shape``."""
        if self.kind == "all":
            return np.ones(shape, bool)
        if self.kind == "rect":
            (x0, y0), (x1, y1) = self.points
            return rect_mask(shape, x0, y0, x1, y1)
        return polygon_mask(shape, self.points)

    def bounds(self, shape: tuple[int, int]) -> Region | None:
        """``(y0, x0, y1, x1)`` of the selected pixels, or None when none are."""
        return mask_bounds(self.mask(shape))


def rect_mask(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = shape
    out = np.zeros((h, w), bool)
    c0, c1 = sorted((int(round(x0)), int(round(x1))))
    r0, r1 = sorted((int(round(y0)), int(round(y1))))
    win = clip_window((r0, c0, r1, c1), h, w)
    if win is not None:
        out[win[0]:win[2], win[1]:win[3]] = True
    return out


def polygon_mask(shape: tuple[int, int], points) -> np.ndarray:
    """Even-odd fill of the closed polygon ``points`` [(x, y), ...] by pixel centres.

    Each row's crossings with the edges are counted per column with one cumulative sum, so the
    cost is O(rows x edges) in numpy rather than a Python loop per pixel."""
    h, w = shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros((h, w), bool)
    if len(pts) < 3:
        return out
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    r_lo = max(0, int(np.floor(pts[:, 1].min())))
    r_hi = min(h, int(np.ceil(pts[:, 1].max())) + 1)
    if r_hi <= r_lo:
        return out
    yc = np.arange(r_lo, r_hi, dtype=np.float64)[:, None] + 0.5
    # Half-open rule (ya <= yc < yb or yb <= yc < ya): a vertex on a scan line counts once.
    crosses = (ya[None, :] <= yc) != (yb[None, :] <= yc)
    dy = np.where(yb == ya, 1.0, yb - ya)
    xs = xa[None, :] + (yc - ya[None, :]) * ((xb - xa) / dy)[None, :]
    rows, edges = np.nonzero(crosses)
    # Pixel c is inside when an odd number of crossings lie left of its centre c + 0.5,
    # i.e. crossings whose first covered column ceil(x - 0.5) is <= c.
    first = np.clip(np.ceil(xs[rows, edges] - 0.5), 0, w).astype(np.int64)
    toggles = np.zeros((r_hi - r_lo, w + 1), np.int64)
    np.add.at(toggles, (rows, first), 1)
    out[r_lo:r_hi] = (np.cumsum(toggles[:, :w], axis=1) & 1).astype(bool)
    return out


def mask_bounds(mask: np.ndarray) -> Region | None:
    """``(y0, x0, y1, x1)`` of the True pixels of a 2-D mask, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def layer_on_canvas(layer, shape: tuple[int, int], labelset=None) -> np.ndarray:
    """(H, W, 4) uint8: a layer's own pixels where they fall on the canvas (no opacity, no
    visibility): an image layer's RGBA, a label layer's class colours (transparent where
    TRANSPARENT)."""
    h, w = shape
    out = np.zeros((h, w, 4), np.uint8)
    if isinstance(layer, LabelLayer):
        ids = layer.data.astype(np.int64)
        table = labelset.color_table() if labelset is not None else \
            pseudo_colors(int(ids.max(initial=0)) + 1)
        table = np.concatenate([table, np.zeros((1, 3), np.uint8)])  # row -1: TRANSPARENT
        known = (ids >= 0) & (ids < len(table) - 1)
        out[..., :3] = table[np.where(known, ids, len(table) - 1)]
        out[..., 3] = np.where(known & (ids != TRANSPARENT), 255, 0)
        return out
    if not isinstance(layer, ImageLayer):
        raise DocumentError(f"cannot copy from {type(layer).__name__}")
    win = clip_window(layer.bounds, h, w)
    if win is not None:
        y0, x0, y1, x1 = win
        out[y0:y1, x0:x1] = layer.rgba[y0 - layer.y:y1 - layer.y, x0 - layer.x:x1 - layer.x]
    return out


@dataclass
class Clip:
    """Copied pixels and where they came from on the canvas (their top-left corner)."""

    rgba: np.ndarray
    x: int
    y: int


def copy_region(source: np.ndarray, mask: np.ndarray) -> Clip | None:
    """The pixels of canvas-sized RGBA ``source`` inside ``mask``, cropped to the mask's bounding
    box, alpha zeroed outside the mask (colours kept, so a later scale has no dark fringe);
    None when the mask selects nothing or only transparent pixels."""
    if source.shape[:2] != mask.shape:
        raise DocumentError(f"selection {mask.shape} and source {source.shape[:2]} differ in size")
    box = mask_bounds(mask)
    if box is None:
        return None
    y0, x0, y1, x1 = box
    rgba = np.array(source[y0:y1, x0:x1], np.uint8)
    rgba[..., 3] = np.where(mask[y0:y1, x0:x1], rgba[..., 3], 0)
    if not rgba[..., 3].any():
        return None
    return Clip(rgba, x0, y0)
