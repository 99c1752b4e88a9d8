"""Layer objects: a label layer (class ids) and an image layer (RGBA pixels at an offset).

Layers are plain mutable objects; only the Document (through Change objects) mutates them, so
that every edit can be undone. Each layer has a uid that is unique for the process lifetime, so
changes can refer to a layer by uid even after it was removed and re-inserted by undo.
"""
from __future__ import annotations

import itertools
from typing import Any, ClassVar, Iterable

import numpy as np

from .errors import DocumentError

Region = tuple[int, int, int, int]  # (y0, x0, y1, x1) in canvas pixels, end exclusive

TRANSPARENT = -1          # label value of a pixel that shows the layers below it
LABEL_DTYPE = np.int16    # label ids are 0..32767 (TRANSPARENT = -1)
MAX_LABEL_ID = int(np.iinfo(LABEL_DTYPE).max)

_uids = itertools.count(1)


def new_uid() -> int:
    """A layer uid never handed out before in this process (thread-safe under the GIL)."""
    return next(_uids)


class LabelLayer:
    """One class id per canvas pixel, or TRANSPARENT; always exactly the canvas size."""

    kind: ClassVar[str] = "labels"

    def __init__(self, uid: int, name: str, data: np.ndarray, visible: bool = True,
                 locked: bool = False) -> None:
        data = np.asarray(data)
        if data.ndim != 2 or data.dtype != LABEL_DTYPE:
            raise DocumentError(f"label layer data must be a 2-D int16 array, not "
                                f"{data.dtype} {data.shape}")
        self.uid = int(uid)
        self.name = str(name)
        self.data = data
        self.visible = bool(visible)
        self.locked = bool(locked)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def copy(self, uid: int, name: str | None = None) -> "LabelLayer":
        return LabelLayer(uid, self.name if name is None else name, self.data.copy(),
                          self.visible, self.locked)

    def __repr__(self) -> str:
        h, w = self.data.shape
        return f"LabelLayer(uid={self.uid}, name={self.name!r}, {w}x{h}, visible={self.visible})"


class ImageLayer:
    """RGBA pixels (straight alpha) whose top-left corner sits at canvas pixel ``(x, y)``.

    The layer may be larger than the canvas or lie partly outside it; composites clip it.
    """

    kind: ClassVar[str] = "image"

    def __init__(self, uid: int, name: str, rgba: np.ndarray, x: int = 0, y: int = 0,
                 opacity: float = 1.0, visible: bool = True, locked: bool = False,
                 role: str = "") -> None:
        rgba = np.asarray(rgba)
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise DocumentError(f"image layer pixels must be a (h, w, 4) uint8 array, not "
                                f"{rgba.dtype} {rgba.shape}")
        if rgba.shape[0] < 1 or rgba.shape[1] < 1:
            raise DocumentError("image layer must be at least 1x1 pixel")
        self.uid = int(uid)
        self.name = str(name)
        self.rgba = rgba
        self.x = int(x)
        self.y = int(y)
        self.opacity = check_opacity(opacity)
        self.visible = bool(visible)
        self.locked = bool(locked)
        self.role = str(role)  # "" or what the layer is for: "sketch" (black lines on white)

    @property
    def nbytes(self) -> int:
        return int(self.rgba.nbytes)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)`` in canvas pixels, end exclusive, not clipped."""
        h, w = self.rgba.shape[:2]
        return self.y, self.x, self.y + h, self.x + w

    def copy(self, uid: int, name: str | None = None) -> "ImageLayer":
        return ImageLayer(uid, self.name if name is None else name, self.rgba.copy(), self.x,
                          self.y, self.opacity, self.visible, self.locked, self.role)

    def __repr__(self) -> str:
        h, w = self.rgba.shape[:2]
        return (f"ImageLayer(uid={self.uid}, name={self.name!r}, {w}x{h} at ({self.x}, "
                f"{self.y}), opacity={self.opacity}, visible={self.visible})")


Layer = LabelLayer | ImageLayer


def check_opacity(value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DocumentError(f"opacity must be a number in 0..1, not {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise DocumentError(f"opacity must be in 0..1, not {v}")
    return v


# --- alpha compositing (straight-alpha uint8 in, premultiplied float32 accumulators) ---

def new_accumulator(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Transparent premultiplied accumulators: colour (h, w, 3) and alpha (h, w), float32."""
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def composite_over(acc_rgb: np.ndarray, acc_a: np.ndarray, rgba: np.ndarray,
                   opacity: float = 1.0) -> None:
    """Porter-Duff "over" of straight-alpha ``rgba`` onto the accumulators, in place.

    The colour accumulator is premultiplied in 0..255 units, the alpha one in 0..1.

    All three arrays must already be cropped to the same (h, w) window.
    """
    a = rgba[..., 3].astype(np.float32) * np.float32(opacity / 255.0)
    inv = 1.0 - a
    acc_rgb *= inv[..., None]
    acc_rgb += rgba[..., :3].astype(np.float32) * a[..., None]
    acc_a *= inv
    acc_a += a


def finish_accumulator(acc_rgb: np.ndarray, acc_a: np.ndarray) -> np.ndarray:
    """Premultiplied accumulators -> straight-alpha (h, w, 4) uint8."""
    out = np.zeros(acc_a.shape + (4,), np.uint8)
    nz = acc_a > 0
    rgb = np.zeros_like(acc_rgb)
    np.divide(acc_rgb, acc_a[..., None], out=rgb, where=nz[..., None])
    out[..., :3] = np.clip(np.rint(rgb), 0, 255)
    out[..., 3] = np.clip(np.rint(acc_a * 255.0), 0, 255)
    return out


def intersect(a: Region, b: Region) -> Region | None:
    """Intersection of two ``(y0, x0, y1, x1)`` boxes, or None when empty."""
    y0, x0, y1, x1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (y0, x0, y1, x1) if y0 < y1 and x0 < x1 else None


def clip_window(bounds: Region, height: int, width: int) -> Region | None:
    """Intersection of ``(y0, x0, y1, x1)`` with the canvas, or None when empty."""
    return intersect(bounds, (0, 0, height, width))


def as_rgba(pixels: Any) -> np.ndarray:
    """(h, w, 4) uint8 from (h, w, 4) or opaque (h, w, 3) uint8; anything else is refused."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or \
            arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DocumentError(f"image pixels must be a (h, w, 4) or (h, w, 3) uint8 array, not "
                            f"{arr.dtype} {arr.shape}")
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return arr


def pseudo_colors(n: int) -> np.ndarray:
    """(n, 3) uint8 fixed, well-spread colours for label ids when there is no label set."""
    i = np.arange(n, dtype=np.int64)
    return np.stack([(i * 97 + 31) % 256, (i * 57 + 151) % 256, (i * 193 + 71) % 256],
                    axis=1).astype(np.uint8)


def composite_images(layers: Iterable[Layer], height: int, width: int,
                     box: Region | None = None) -> np.ndarray:
    """The given image layers (bottom first, each with its opacity) over transparent, as
    (h, w, 4) uint8 covering ``box`` (default: the canvas). Float work covers only the part
    the layers touch."""
    box = box or (0, 0, height, width)
    out = np.zeros((box[2] - box[0], box[3] - box[1], 4), np.uint8)
    parts = [(layer, win) for layer in layers if layer.opacity > 0
             for win in [intersect(layer.bounds, box)] if win is not None]
    if not parts:
        return out
    uy0, ux0 = min(w[0] for _, w in parts), min(w[1] for _, w in parts)
    uy1, ux1 = max(w[2] for _, w in parts), max(w[3] for _, w in parts)
    acc_rgb, acc_a = new_accumulator(uy1 - uy0, ux1 - ux0)
    for layer, (y0, x0, y1, x1) in parts:
        sub = (slice(y0 - uy0, y1 - uy0), slice(x0 - ux0, x1 - ux0))
        composite_over(acc_rgb[sub], acc_a[sub],
                       layer.rgba[y0 - layer.y:y1 - layer.y, x0 - layer.x:x1 - layer.x],
                       layer.opacity)
    out[uy0 - box[0]:uy1 - box[0], ux0 - box[1]:ux1 - box[1]] = \
        finish_accumulator(acc_rgb, acc_a)
    return out


class LabelIds:
    """The label values a document accepts: the classes of its label set (any id 0..32767
    without one), and TRANSPARENT inside layers. Checks whole arrays with one table lookup."""

    def __init__(self, labelset: Any | None) -> None:
        self.labelset = labelset
        self._valid = np.zeros(MAX_LABEL_ID + 2, bool)   # index id + 1; [0] is TRANSPARENT
        if labelset is None:
            self._valid[:] = True
            return
        self._valid[0] = True
        for c in labelset.classes:
            if not 0 <= c.id <= MAX_LABEL_ID:
                raise DocumentError(f"label set {labelset.name!r}: class id {c.id} does not "
                                    f"fit 0..{MAX_LABEL_ID}")
            self._valid[c.id + 1] = True

    def describe(self) -> str:
        ls = self.labelset
        return (f"label set {ls.name!r} ({ls.describe_range()})" if ls is not None
                else f"the ids 0..{MAX_LABEL_ID}")

    def check(self, value: Any, allow_transparent: bool = True) -> int:
        """``value`` as an int if it is a class id (or TRANSPARENT when allowed)."""
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DocumentError(f"label value must be an integer class id, not {value!r}")
        v = int(value)
        if v == TRANSPARENT and allow_transparent:
            return v
        if not 0 <= v <= MAX_LABEL_ID or not self._valid[v + 1]:
            raise DocumentError(f"label id {v} is not a class of {self.describe()}")
        return v

    def check_array(self, values: Any) -> np.ndarray:
        """An integer array of class ids / TRANSPARENT as int16; raises naming bad ids."""
        arr = np.asarray(values)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise DocumentError(f"label arrays must hold integers, not {arr.dtype}")
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < TRANSPARENT or hi > MAX_LABEL_ID:
                bad = arr[(arr < TRANSPARENT) | (arr > MAX_LABEL_ID)]
            else:
                good = self._valid[arr.astype(np.int32) + 1]
                bad = None if good.all() else arr[~good]
            if bad is not None:
                raise DocumentError(f"label id(s) {np.unique(bad)[:10].tolist()} are not "
                                    f"classes of {self.describe()}")
        return arr.astype(LABEL_DTYPE, copy=False)
