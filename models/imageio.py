"""Reading images and label PNGs with documented conversions for unusual modes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError

# Refuse decompression bombs with a clear error rather than PIL's warning (256 Mpx).
MAX_PIXELS = 1 << 28


def open_image(source) -> Image.Image:
    """A PIL image from a path, bytes-like file or PIL image; errors name the file."""
    if isinstance(source, Image.Image):
        return source
    try:
        img = Image.open(source)
        if img.width * img.height > MAX_PIXELS:
            raise InputError(f"{source}: {img.width}x{img.height} is too large to load")
        img.load()
        return img
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{source}: not a readable image ({exc})") from None


def to_rgb_array(source, background=(255, 255, 255)) -> np.ndarray:
    """Any image -> uint8 (H, W, 3) RGB.

    Conversions: grayscale is replicated to three channels; palette images are expanded through
    their palette; 16-bit and 32-bit images are scaled to 8 bits; alpha is composited over a white
    background (what a painting program shows for transparency).
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    img = open_image(source)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return np.clip(np.round(arr / top * 255), 0, 255).astype(np.uint8)[..., None].repeat(3, 2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return np.clip(np.round(arr * 255 if arr.max() <= 1 else arr), 0, 255).astype(
            np.uint8)[..., None].repeat(3, 2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        img = Image.alpha_composite(bg, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None].repeat(3, 2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"image array must be H x W, H x W x 3 or H x W x 4, got {arr.shape}")
    if arr.shape[2] == 1:
        arr = arr.repeat(3, 2)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 65535 * 255).round().astype(np.uint8)
    elif arr.dtype.kind == "f":
        if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise InputError("float image arrays must hold values in [0, 1]")
        arr = (arr * 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InputError(f"unsupported image dtype {arr.dtype}")
    if arr.shape[2] == 4:
        alpha = arr[..., 3:4].astype(np.float64) / 255
        arr = (arr[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def read_index_png(source) -> np.ndarray:
    """An index (label) PNG -> int64 (H, W) of the stored values.

    Accepted: palette PNGs (the index is the value, as dataset label PNGs and our layers store
    them), 8- and 16-bit grayscale. A colour image is not an index map: it is refused with a hint.
    """
    img = open_image(source)
    if img.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img).astype(np.int64)
    if img.mode in ("RGB", "RGBA"):
        arr = np.asarray(img.convert("RGB"))
        if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            return arr[..., 0].astype(np.int64)  # grey stored as RGB: the grey level is the id
        raise InputError(f"{_name(source)}: a colour image, not an index label map; convert it "
                         "with a palette (colour-coded maps are matched in the app's import)")
    raise InputError(f"{_name(source)}: unsupported label PNG mode {img.mode!r}")


def _name(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "image"
