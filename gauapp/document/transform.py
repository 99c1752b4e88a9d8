"""Moving, scaling and flipping an image layer as one undoable step.

A transformed layer is a new ``ImageLayer`` object with the same uid (and name, opacity,
visibility, lock, role) swapped in by ``ReplaceLayer``; the old object is kept untouched for
undo, so undo and redo give back the exact pixels, however many previews a drag showed.
Resampling works on premultiplied alpha, so transparent pixels never bleed a dark fringe.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import DocumentError, LayerLockedError
from .history import Change, ReplaceLayer
from .layers import ImageLayer, as_rgba

RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
            "lanczos": Image.LANCZOS}


def resized_rgba(rgba: np.ndarray, width: int, height: int, quality: str = "bicubic") -> np.ndarray:
    """``rgba`` resampled to ``width`` x ``height`` (premultiplied, so edges stay clean)."""
    if quality not in RESAMPLE:
        raise DocumentError(f"unknown resampling {quality!r} (one of {', '.join(RESAMPLE)})")
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise DocumentError(f"a layer cannot be scaled to {width}x{height} pixels")
    rgba = as_rgba(rgba)
    if rgba.shape[:2] == (height, width):
        return rgba.copy()
    if quality == "nearest":
        rows = (np.arange(height) * rgba.shape[0] // height)
        cols = (np.arange(width) * rgba.shape[1] // width)
        return np.ascontiguousarray(rgba[rows][:, cols])
    img = Image.fromarray(np.ascontiguousarray(rgba), "RGBA").convert("RGBa")
    return np.asarray(img.resize((width, height), RESAMPLE[quality]).convert("RGBA")).copy()


def flipped_rgba(rgba: np.ndarray, horizontal: bool) -> np.ndarray:
    return np.ascontiguousarray(rgba[:, ::-1] if horizontal else rgba[::-1])


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """``(w, h)`` scaled down (never up), aspect kept, to fit ``max_width`` x ``max_height``."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def replaced_layer(layer: ImageLayer, rgba: np.ndarray, x: int, y: int) -> ImageLayer:
    """A copy of ``layer`` (same uid and properties) with new pixels and position."""
    return ImageLayer(layer.uid, layer.name, rgba, int(x), int(y), layer.opacity, layer.visible,
                      layer.locked, getattr(layer, "role", ""))


def transform_image_layer(doc, uid: int, rgba: np.ndarray, x: int, y: int,
                          description: str = "Transform layer") -> Change:
    """Replace an image layer's pixels and position in one already-applied, undoable step."""
    layer = doc.layer(uid)
    if not isinstance(layer, ImageLayer):
        raise DocumentError(f"layer {layer.name!r} is a {layer.kind} layer: only image layers "
                            "can be moved, scaled or flipped")
    if layer.locked:
        raise LayerLockedError(f"layer {layer.name!r} is locked")
    for what, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise DocumentError(f"{what} must be an integer pixel position, not {v!r}")
    rgba = as_rgba(rgba)
    doc._check_image_size(rgba)
    return doc.apply(ReplaceLayer(layer, replaced_layer(layer, rgba.copy(), x, y), description))


def flip_image_layer(doc, uid: int, horizontal: bool) -> Change:
    """Mirror a layer in place (its rectangle stays where it is)."""
    layer = doc.layer(uid)
    if not isinstance(layer, ImageLayer):
        raise DocumentError(f"layer {layer.name!r} is a {layer.kind} layer: only image layers "
                            "can be flipped")
    return transform_image_layer(doc, uid, flipped_rgba(layer.rgba, horizontal), layer.x, layer.y,
                                 "Flip horizontally" if horizontal else "Flip vertically")


def scale_image_layer(doc, uid: int, width: int, height: int, x: int | None = None,
                      y: int | None = None, quality: str = "bicubic") -> Change:
    """Resample a layer to ``width`` x ``height`` with its corner at (x, y) (default: kept)."""
    layer = doc.layer(uid)
    if not isinstance(layer, ImageLayer):
        raise DocumentError(f"layer {layer.name!r} is a {layer.kind} layer: only image layers "
                            "can be scaled")
    rgba = resized_rgba(layer.rgba, width, height, quality)
    return transform_image_layer(doc, uid, rgba, layer.x if x is None else x,
                                 layer.y if y is None else y, "Scale layer")
