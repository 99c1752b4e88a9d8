"""Reading files the user brings into a painting (no Qt): label-map PNGs and images.

A label map is either an index PNG in a dataset's convention (COCO-Stuff, ADE20K, Cityscapes:
the label set's ``png_to_model``) or a colour-coded map whose colours are matched to the palette.
Everything is checked before the document is touched.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.errors import InputError
from models.imageio import open_image

from .document.errors import DocumentError

EXPORT_IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def read_label_map(path: str | Path, labelset, canvas_hw: tuple[int, int]) -> np.ndarray:
    """A label PNG -> (H, W) int16 model-space ids that are all classes of ``labelset``."""
    try:
        img = open_image(path)
    except InputError as exc:
        raise DocumentError(str(exc)) from None
    if (img.height, img.width) != tuple(canvas_hw):
        raise DocumentError(f"{Path(path).name}: the label map is {img.width}x{img.height}, the "
                            f"canvas {canvas_hw[1]}x{canvas_hw[0]} (resize the canvas or the map)")
    if img.mode in ("RGB", "RGBA") or (img.mode == "P" and _palette_is_colourful(img)
                                        and not _values_are_ids(img, labelset)):
        ids = _match_colours(np.asarray(img.convert("RGB")), labelset, path)
    elif img.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
        values = np.asarray(img).astype(np.int64)
        ids = labelset.png_to_model(values) if labelset is not None else values
    else:
        raise DocumentError(f"{Path(path).name}: a {img.mode} image is not a label map")
    if labelset is not None:
        bad = sorted(set(np.unique(ids).tolist()) - {c.id for c in labelset.classes})
        if bad:
            raise DocumentError(f"{Path(path).name}: ids {bad[:8]} are not classes of the "
                                f"{labelset.name} label set ({labelset.describe_range()})")
    return ids.astype(np.int16)


def _palette_is_colourful(img: Image.Image) -> bool:
    pal = np.asarray(img.getpalette() or [], np.uint8).reshape(-1, 3)
    return len(pal) > 0 and bool((pal.max(1) != pal.min(1)).any())


def _values_are_ids(img: Image.Image, labelset) -> bool:
    """A palette PNG written by gauapp or a dataset tool: its indices are the class ids and its
    palette the label-set colours."""
    if labelset is None:
        return True
    pal = np.asarray(img.getpalette() or [], np.uint8).reshape(-1, 3)
    used = np.unique(np.asarray(img))
    table = labelset.color_table()
    return all(i < len(table) and i < len(pal) and (pal[i] == table[i]).all()
               for i in used if i in labelset)


def _match_colours(rgb: np.ndarray, labelset, path) -> np.ndarray:
    if labelset is None:
        raise DocumentError(f"{Path(path).name}: a colour-coded map needs a label set")
    colours = {tuple(int(v) for v in c.color): c.id for c in labelset.classes}
    flat = rgb.reshape(-1, 3).astype(np.int64)
    keys = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse = np.unique(keys, return_inverse=True)
    ids = np.empty(len(uniq), np.int64)
    for i, key in enumerate(uniq):
        colour = (int(key) >> 16, (int(key) >> 8) & 255, int(key) & 255)
        if colour not in colours:
            raise DocumentError(f"{Path(path).name}: colour {colour} is not a class colour of the "
                                f"{labelset.name} label set (an index PNG avoids this)")
        ids[i] = colours[colour]
    return ids[inverse].reshape(rgb.shape[:2])


def read_image_rgba(path: str | Path, max_side: int = 4096) -> np.ndarray:
    """Any image -> (h, w, 4) uint8 RGBA (16-bit scaled down, palette and grey expanded)."""
    try:
        img = open_image(path)
    except InputError as exc:
        raise DocumentError(str(exc)) from None
    if max(img.size) > max_side:
        raise DocumentError(f"{Path(path).name}: {img.width}x{img.height} is larger than "
                            f"{max_side} px on a side")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float64)
        img = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8))
    return np.ascontiguousarray(np.asarray(img.convert("RGBA")))


def export_image(rgb: np.ndarray, path: str | Path) -> None:
    """The generated image as PNG, JPEG or WebP (by extension), written atomically."""
    path = Path(path)
    fmt = EXPORT_IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DocumentError(f"{path.name}: export as .png, .jpg or .webp")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    _atomic_save(Image.fromarray(np.ascontiguousarray(rgb)), path, fmt, **options)


def export_label_map(ids: np.ndarray, labelset, path: str | Path, colour: bool) -> None:
    """The composite label map as a dataset index PNG, or colour-coded with the palette."""
    path = Path(path)
    if colour:
        img = Image.fromarray(labelset.colorize(ids))
    else:
        values = labelset.model_to_png(ids) if labelset is not None else ids.astype(np.uint8)
        img = Image.fromarray(np.asarray(values, np.uint8), mode="L")
    _atomic_save(img, path, "PNG")


def _atomic_save(img: Image.Image, path: Path, fmt: str, **options) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        img.save(tmp, format=fmt, **options)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
