"""The official preprocessing (SPADE / pix2pix ``get_params`` + ``get_transform``), made
reproducible, plus what every dataset shares: its error type, seeded randomness, file reading.

Randomness never touches the global RNGs: each sample draws from a ``numpy.random.Generator``
seeded with ``(seed, epoch, index)``, so any sample can be rebuilt on its own, in any worker
process, and a resumed run sees exactly the samples it would have seen.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image

from models.errors import InputError, ModelError
from models.imageio import read_index_png, to_rgb_array

from ..errors import TrainingError


class DatasetError(TrainingError, ModelError):
    """A dataset folder or file is unusable; the message names the file and what is wrong.
    Both a TrainingError (the CLI) and a ModelError (the app shows ``str(error)``)."""


# Modes of SPADE (`preprocess_mode`) and pix2pix (`preprocess`); words combine as there.
PREPROCESS_MODES = ("resize_and_crop", "crop", "resize", "scale_width", "scale_width_and_crop",
                    "scale_shortside", "scale_shortside_and_crop", "fixed", "none")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


@dataclass(frozen=True)
class Plan:
    """The geometry drawn for one sample; applied alike to its label, instance map and image."""
    size: tuple[int, int]               # (w, h) after resizing (and scale augmentation)
    box: tuple[int, int, int, int]      # crop box in the resized image
    flip: bool

    def apply(self, img: Image.Image, resample: int) -> Image.Image:
        if img.size != self.size:
            img = img.resize(self.size, resample)
        if self.box != (0, 0) + self.size:
            img = img.crop(self.box)
        if self.flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    @property
    def out_size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


@dataclass(frozen=True)
class Preprocess:
    """Official options: `mode` is SPADE's ``preprocess_mode`` / pix2pix's ``preprocess``.

    Two deliberate differences from the official code, both where it would produce wrong data:
    ``scale_shortside`` really scales the short side to ``load_size`` (SPADE keeps the old short
    side, a bug), and an image smaller than the crop is first enlarged (keeping its aspect) until
    the crop fits, instead of being padded with black pixels and label 0.
    The crop is ``crop_size`` x ``round(crop_size / aspect_ratio)``: square by default, as the
    official code, and the generator's own shape when ``aspect_ratio`` is set.
    """
    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    aspect_ratio: float = 1.0
    no_flip: bool = False
    grid: int = 32                                   # 'none': sizes become multiples of this
    scale_augment: tuple[float, float] | None = None  # random extra scale, then crop back

    def __post_init__(self) -> None:
        if self.mode not in PREPROCESS_MODES:
            raise DatasetError(f"unknown preprocess mode {self.mode!r} "
                               f"(one of {', '.join(PREPROCESS_MODES)})")
        for name in ("load_size", "crop_size", "grid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DatasetError(f"{name} must be a positive integer, not {value!r}")
        if not self.aspect_ratio > 0:
            raise DatasetError(f"aspect_ratio must be positive, not {self.aspect_ratio!r}")
        if self.scale_augment is not None:
            try:
                lo, hi = (float(v) for v in self.scale_augment)
            except (TypeError, ValueError):
                raise DatasetError(f"scale_augment must be (lo, hi), not {self.scale_augment!r}")
            if not 0 < lo <= hi:
                raise DatasetError(f"scale_augment needs 0 < lo <= hi, got ({lo}, {hi})")
            object.__setattr__(self, "scale_augment", (lo, hi))

    @property
    def crop_wh(self) -> tuple[int, int]:
        return self.crop_size, max(1, round(self.crop_size / self.aspect_ratio))

    def base_size(self, w: int, h: int) -> tuple[int, int]:
        """Size after the official resize step, before any crop."""
        m, load = self.mode, self.load_size
        if "resize" in m:
            return load, load
        if "scale_width" in m:
            return load, max(1, int(load * h / w))
        if "scale_shortside" in m:
            if w <= h:
                return load, max(1, int(load * h / w))
            return max(1, int(load * w / h)), load
        if m == "fixed":
            return self.crop_wh
        if m == "none":
            g = self.grid
            return max(g, round(w / g) * g), max(g, round(h / g) * g)
        return w, h                                   # 'crop'

    def plan(self, size: tuple[int, int], rng: np.random.Generator) -> Plan:
        """Draw one sample's geometry. The draws happen in a fixed order (scale, x, y, flip) so
        that a sample depends only on its generator."""
        bw, bh = self.base_size(*size)
        tw, th = self.crop_wh if "crop" in self.mode else (bw, bh)
        sw, sh = bw, bh
        if self.scale_augment is not None:
            s = rng.uniform(*self.scale_augment)
            sw, sh = max(1, round(bw * s)), max(1, round(bh * s))
        cover = max(tw / sw, th / sh)
        if cover > 1:                                 # enlarge until the crop fits
            sw, sh = max(tw, math.ceil(sw * cover)), max(th, math.ceil(sh * cover))
        x = int(rng.integers(0, sw - tw + 1))
        y = int(rng.integers(0, sh - th + 1))
        flip = bool(rng.random() < 0.5) and not self.no_flip
        return Plan((sw, sh), (x, y, x + tw, y + th), flip)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample: independent streams for every (seed, epoch, index)."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class Options:
    """Keyword options of one dataset kind: read with defaults, leftovers are an error (a typo in
    an option name would otherwise be silently ignored)."""

    def __init__(self, kind: str, options: dict[str, Any]):
        self.kind, self._left = kind, dict(options)

    def get(self, name: str, default: Any = None, *aliases: str) -> Any:
        value = default
        for key in (name, *aliases):
            if key in self._left:
                value = self._left.pop(key)
        return value

    def preprocess(self, **defaults: Any) -> Preprocess:
        d = dict(mode="resize_and_crop", load_size=286, crop_size=256, aspect_ratio=1.0,
                 no_flip=False, grid=32, scale_augment=None) | defaults
        return Preprocess(mode=self.get("preprocess_mode", d["mode"], "preprocess"),
                          load_size=self.get("load_size", d["load_size"]),
                          crop_size=self.get("crop_size", d["crop_size"]),
                          aspect_ratio=float(self.get("aspect_ratio", d["aspect_ratio"])),
                          no_flip=bool(self.get("no_flip", d["no_flip"])),
                          grid=self.get("grid", d["grid"]),
                          scale_augment=self.get("scale_augment", d["scale_augment"]))

    def finish(self) -> None:
        if self._left:
            raise DatasetError(f"dataset kind {self.kind!r}: unknown option(s) "
                               f"{', '.join(sorted(self._left))}")


class SeededDataset(torch.utils.data.Dataset):
    """Base of every dataset here: seed, epoch and the per-sample generator.

    ``set_epoch`` changes the augmentation of the next pass. Worker processes hold copies, so call
    it before iterating a DataLoader whose workers are not persistent -- or index with
    ``(epoch, index)`` pairs, which needs no shared state at all.
    """

    def __init__(self, preprocess: Preprocess, seed: int = 0, max_dataset_size: int | None = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DatasetError(f"seed must be a non-negative integer, not {seed!r}")
        self.preprocess, self.seed, self.epoch = preprocess, int(seed), 0
        self.max_dataset_size = max_dataset_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _locate(self, item: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample {index} of a dataset of {n}")
        index %= n
        return index, sample_rng(self.seed, epoch, index)

    def _limit(self, items: list) -> list:
        return items if self.max_dataset_size is None else items[: int(self.max_dataset_size)]


# --- files ---

def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{path}: missing folder ({what})")
    return path


def list_images(folder: Path, recursive: bool = False,
                extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files in a folder, sorted by relative path (hidden files skipped)."""
    exts = tuple(extensions)
    if recursive:
        found = [Path(d) / f for d, dirs, files in os.walk(folder, followlinks=True)
                 for f in files if not f.startswith(".")]
    else:
        found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted((p for p in found if p.suffix.lower() in exts),
                  key=lambda p: p.relative_to(folder).as_posix())


def image_size(path: Path) -> tuple[int, int]:
    """(w, h) from the file header only: cheap enough to check every file of a dataset."""
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from None


def read_rgb(path: Path) -> Image.Image:
    """An RGB PIL image (alpha over white, 16-bit scaled); errors name the file."""
    try:
        return Image.fromarray(to_rgb_array(str(path)))
    except InputError as exc:
        raise DatasetError(str(exc)) from None


def read_mode(path: Path) -> str:
    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from None


def read_index(path: Path) -> np.ndarray:
    """Stored values of an index PNG (label or instance map) as int64 (H, W)."""
    try:
        return read_index_png(str(path))
    except InputError as exc:
        raise DatasetError(str(exc)) from None


# --- tensors ---

def ids_to_image(ids: np.ndarray) -> Image.Image:
    """An int32 PIL image ('I'), so NEAREST resizing keeps every id exactly."""
    return Image.fromarray(np.ascontiguousarray(ids, dtype=np.int32))


def ids_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.int64).copy())


def image_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 PIL image (RGB or L) -> float (C, H, W) in [-1, 1], as ToTensor + Normalize(0.5)."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))) / 127.5 - 1.0


def describe(paths: list, limit: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
