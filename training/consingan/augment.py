"""Stage-0 inputs for harmonization and editing training, as the official ``functions.py``.

Images are ``H x W x 3`` float arrays in [0, 255] (the official ``convert_image_np(x) * 255``);
every random draw comes from the ``torch.Generator`` passed in, so a seed (and a checkpointed
generator state) gives the same augmentations.

``harmonization_augment`` is ``functions.Augment``: with p 0.25 one of four groups (weights 0.5,
0.5, 0.5, 0.1): noise (multiplicative 0.5-1.5 / additive Gaussian sigma 1-5 % / Gaussian var
10-50, weights 0.2, 0.5, 0.5), invert or sepia, channel dropout or channel shuffle, HSV shift
(hue ±20 in OpenCV's 0-180 units, saturation ±30, value ±20); then with p 0.9 a cutout of 1 hole
of 30-60 px or 2 holes of 15-30 px (a side each, drawn once per call) filled with one random
colour (0..256 per channel). ``shuffle_grid`` is the editing augmentation: 1-5 random rectangles
copied to shifted places.
"""
from __future__ import annotations

import numpy as np
import torch

from models.consingan.imresize import uint8_to_tensor

_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


# ----- draws ----------------------------------------------------------------------------------
def randint(gen: torch.Generator, low: int, high: int) -> int:
    """Python's ``random.randint``: ``low..high`` inclusive."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def uniform(gen: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _normal(gen: torch.Generator, shape, sigma: float) -> np.ndarray:
    return sigma * torch.randn(shape, generator=gen, dtype=torch.float64).numpy()


def _choice(gen: torch.Generator, weights) -> int:
    u = uniform(gen) * sum(weights)
    for i, w in enumerate(weights):
        u -= w
        if u < 0:
            return i
    return len(weights) - 1


# ----- the four groups ------------------------------------------------------------------------
def _noise(img: np.ndarray, gen: torch.Generator) -> np.ndarray:
    kind = _choice(gen, (0.2, 0.5, 0.5))
    if kind == 0:  # multiplicative, per pixel and channel
        mult = 0.5 + torch.rand(img.shape, generator=gen, dtype=torch.float64).numpy()
        out = img * mult
    elif kind == 1:  # imgaug additive Gaussian, sigma 1-5 % of 255
        out = img + _normal(gen, img.shape, uniform(gen, 0.01 * 255, 0.05 * 255))
    else:  # Gaussian with variance 10-50
        out = img + _normal(gen, img.shape, uniform(gen, 10.0, 50.0) ** 0.5)
    return np.clip(out, 0, 255)


def _invert_or_sepia(img: np.ndarray, gen: torch.Generator) -> np.ndarray:
    if _choice(gen, (0.5, 0.5)) == 0:
        return 255.0 - img
    return np.clip(img @ _SEPIA.T, 0, 255)


def _channels(img: np.ndarray, gen: torch.Generator) -> np.ndarray:
    out = img.copy()
    if _choice(gen, (0.5, 0.5)) == 0:
        out[:, :, randint(gen, 0, 2)] = 0.0
        return out
    return out[:, :, torch.randperm(3, generator=gen).numpy()]


def rgb_to_hsv(img: np.ndarray) -> np.ndarray:
    """[0, 255] RGB -> hue in degrees [0, 360), saturation [0, 1], value [0, 255]."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    v = img.max(axis=2)
    c = v - img.min(axis=2)
    s = np.where(v > 0, c / np.where(v > 0, v, 1), 0.0)
    safe = np.where(c > 0, c, 1)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = np.where(c > 0, (60 * h) % 360, 0.0)
    return np.stack([h, s, v], axis=2)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0] / 60.0, hsv[..., 1], hsv[..., 2]
    c = v * s
    x = c * (1 - np.abs(h % 2 - 1))
    zero = np.zeros_like(c)
    sector = np.floor(h).astype(int) % 6
    parts = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
    rgb = np.zeros(hsv.shape)
    for k, (a, b, d) in enumerate(parts):
        sel = sector == k
        for ch, val in enumerate((a, b, d)):
            rgb[..., ch] = np.where(sel, val, rgb[..., ch])
    return rgb + (v - c)[..., None]


def _hsv_shift(img: np.ndarray, gen: torch.Generator) -> np.ndarray:
    hue, sat, val = uniform(gen, -20, 20), uniform(gen, -30, 30), uniform(gen, -20, 20)
    hsv = rgb_to_hsv(img)
    hsv[..., 0] = (hsv[..., 0] + 2 * hue) % 360  # OpenCV hue units are 2 degrees
    hsv[..., 1] = np.clip(hsv[..., 1] * 255 + sat, 0, 255) / 255
    hsv[..., 2] = np.clip(hsv[..., 2] + val, 0, 255)
    return np.clip(hsv_to_rgb(hsv), 0, 255)


_GROUPS = (_noise, _invert_or_sepia, _channels, _hsv_shift)
_GROUP_WEIGHTS = (0.5, 0.5, 0.5, 0.1)


def cutout(img: np.ndarray, gen: torch.Generator, num_holes: int, hole_h: int, hole_w: int,
           color) -> np.ndarray:
    """albumentations ``Cutout``: holes of ``hole_h x hole_w`` centred on random pixels, clipped
    at the borders."""
    out = img.copy()
    height, width = img.shape[:2]
    for _ in range(num_holes):
        y, x = randint(gen, 0, height), randint(gen, 0, width)
        y1 = int(np.clip(y - hole_h // 2, 0, height))
        y2 = int(np.clip(y1 + hole_h, 0, height))
        x1 = int(np.clip(x - hole_w // 2, 0, width))
        x2 = int(np.clip(x1 + hole_w, 0, width))
        out[y1:y2, x1:x2, :] = color
    return out


def harmonization_augment(img: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """One draw of the official ``Augment().transform(image=img)["image"]``."""
    color = np.array([randint(gen, 0, 256) for _ in range(3)], dtype=np.float64)
    num_holes = randint(gen, 1, 2)
    low, high = (15, 30) if num_holes == 2 else (30, 60)
    hole_h, hole_w = randint(gen, low, high), randint(gen, low, high)
    out = np.asarray(img)
    if uniform(gen) < 0.25:
        out = _GROUPS[_choice(gen, _GROUP_WEIGHTS)](out, gen)
    if uniform(gen) < 0.9:
        out = cutout(out, gen, num_holes, hole_h, hole_w, color)
    return out


def shuffle_grid(img: np.ndarray, gen: torch.Generator, max_tiles: int = 5) -> np.ndarray:
    """The official editing augmentation: 1..max_tiles rectangles copied to shifted places
    (sizes and shifts as fractions of the image, fewer tiles -> bigger tiles)."""
    rows, cols = img.shape[0], img.shape[1]
    tiles = randint(gen, 1, max_tiles)
    size, shift = {1: ((0.2, 0.5), (0.05, 0.15)), 2: ((0.15, 0.3), (0.05, 0.1)),
                   3: ((0.1, 0.2), (0.05, 0.1))}.get(tiles, ((0.1, 0.15), (0.05, 0.1)))
    moves = []
    for _ in range(tiles):
        x, y = randint(gen, 0, rows), randint(gen, 0, cols)
        w = randint(gen, int(rows * size[0]), int(rows * size[1]))
        h = randint(gen, int(cols * size[0]), int(cols * size[1]))
        w = rows - x if x + w >= rows else w
        h = cols - y if y + h >= cols else h
        x_t = randint(gen, int(rows * shift[0]), int(rows * shift[1]))
        y_t = randint(gen, int(cols * shift[0]), int(cols * shift[1]))
        if uniform(gen) < 0.5:
            x_t, y_t = -x_t, -y_t
            x_t = -x if x + x_t < 0 else x_t
            y_t = -y if y + y_t < 0 else y_t
        else:
            x_t = rows - w - x if x + x_t + w >= rows else x_t
            y_t = cols - h - y if y + y_t + h >= cols else y_t
        moves.append((x, y, w, h, x + x_t, y + y_t))
    out = np.array(img, copy=True)
    for x, y, w, h, x_new, y_new in moves:
        out[x_new:x_new + w, y_new:y_new + h, :] = img[x:x + w, y:y + h, :]
    return out


def image_for_augmentation(real0: torch.Tensor) -> np.ndarray:
    """The official ``convert_image_np(reals[0]) * 255``: ``H x W x 3`` float32 in [0, 255]."""
    x = ((real0[0].detach().to("cpu", torch.float32) + 1) / 2).clamp(0, 1)
    return np.ascontiguousarray(x.permute(1, 2, 0).numpy()) * np.float32(255.0)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """The official ``np2torch``: /255, float32, ``(x - 0.5) * 2`` clamped."""
    return uint8_to_tensor(img)
