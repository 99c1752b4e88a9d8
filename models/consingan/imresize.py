"""The MATLAB-style antialiased bicubic resize that ConSinGAN uses for its image pyramid.

Written to give the same numbers as the official ``ConSinGAN/imresize.py``:

- images go through uint8 first (``255 * (x + 1) / 2`` truncated), then are resized in float64,
  then mapped back with ``(x / 255 - 0.5) * 2`` clamped to [-1, 1] in float32;
- the resize is separable, smallest scale first; a dimension whose scale is exactly 1 is skipped;
- antialiasing (the kernel stretched by 1/scale) is on when the *height* is downscaled, for
  both dimensions, as in the official code;
- at the far end of a dimension the official code mirrors the image, but at the near end its
  negative tap positions are cast to unsigned integers, wrap around and get weight 0: taps
  before the first pixel are dropped and the rest renormalised. We reproduce that explicitly.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

_KERNEL_WIDTH = 4.0  # bicubic support


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``imresize`` default)."""
    ax = np.abs(x)
    ax2 = ax ** 2
    ax3 = ax ** 3
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2)))


def contributions(in_length: int, out_length: int, scale: float, antialiasing: bool):
    """(weights, indices), both ``out_length x taps``: output pixel i is
    ``sum_t weights[i, t] * input[indices[i, t]]``."""
    if antialiasing:
        def kernel(arg):
            return scale * cubic(scale * arg)
        width = _KERNEL_WIDTH / scale
    else:
        kernel = cubic
        width = _KERNEL_WIDTH
    out_coords = np.arange(1, out_length + 1)
    # 1-based pixel centres of the output, mapped onto the input's coordinates.
    match = 1.0 * out_coords / scale + 0.5 * (1 - 1.0 / scale)
    left = np.floor(match - width / 2)
    taps = int(np.ceil(width) + 2)
    positions = left[:, None] + np.arange(taps) - 1          # 0-based, may be < 0 or >= in_length
    weights = kernel(1.0 * match[:, None] - positions - 1)
    # The official code turns negative positions into huge unsigned numbers: weight 0.
    weights = np.where(positions < 0, 0.0, weights)
    sums = np.sum(weights, axis=1)
    sums[sums == 0] = 1.0
    weights = 1.0 * weights / sums[:, None]
    # Positions past the end are mirrored (edge pixel repeated, then going back).
    mirror = np.concatenate((np.arange(in_length), np.arange(in_length - 1, -1, -1)))
    indices = mirror[np.mod(np.maximum(positions, 0).astype(np.int64), mirror.shape[0])]
    return weights, indices


def _resize_along(im: np.ndarray, dim: int, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    moved = np.swapaxes(im, dim, 0)
    out = None
    # Accumulate tap by tap, in the same order as the official ``np.sum(..., axis=0)``.
    for t in range(weights.shape[1]):
        w = weights[:, t].reshape((-1,) + (1,) * (moved.ndim - 1))
        term = moved[indices[:, t]] * w
        out = term if out is None else out + term
    return np.swapaxes(out, dim, 0)


def _scale_and_shape(in_shape, scale_factor, output_shape):
    if output_shape is not None:
        out = [int(v) for v in output_shape] + list(in_shape[len(output_shape):])
        scales = [1.0 * o / i for o, i in zip(out, in_shape)]
        return scales, out
    if np.isscalar(scale_factor):
        scale_factor = [scale_factor, scale_factor]
    scales = [float(s) for s in scale_factor] + [1.0] * (len(in_shape) - len(scale_factor))
    out = [int(math.ceil(i * s)) for i, s in zip(in_shape, scales)]
    return scales, out


def resize_array(im: np.ndarray, scale_factor: float | Sequence[float] | None = None,
                 output_shape: Sequence[int] | None = None) -> np.ndarray:
    """Resize an ``H x W [x C]`` array (uint8 or float) to float64, as ``imresize_in`` does.

    Give either ``scale_factor`` (output = ceil(size * scale), the scale itself is used for the
    kernel) or ``output_shape`` (the scale is out/in per dimension).
    """
    if (scale_factor is None) == (output_shape is None):
        raise ValueError("give exactly one of scale_factor and output_shape")
    scales, out_shape = _scale_and_shape(im.shape, scale_factor, output_shape)
    antialiasing = scales[0] < 1  # decided by the height only, as officially
    out = np.array(im, copy=True)
    for dim in np.argsort(np.array(scales), kind="stable").tolist():
        if scales[dim] == 1.0:
            continue
        weights, indices = contributions(im.shape[dim], out_shape[dim], scales[dim], antialiasing)
        out = _resize_along(out, dim, weights, indices)
    return out


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """``1 x C x H x W`` in [-1, 1] -> ``H x W x C`` uint8, truncating (official ``torch2uint8``)."""
    x = x[0].detach().permute(1, 2, 0).to("cpu", torch.float32)
    x = 255 * ((x + 1) / 2).clamp(0, 1)
    return x.numpy().astype(np.uint8)


def uint8_to_tensor(im: np.ndarray) -> torch.Tensor:
    """``H x W x C`` values in 0..255 (any dtype) -> ``1 x C x H x W`` float32 in [-1, 1]
    (official ``np2torch`` for colour images: /255 in float64, then float32)."""
    x = np.ascontiguousarray(im[:, :, :, None].transpose((3, 2, 0, 1))) / 255
    x = torch.from_numpy(x).to(torch.float32)
    return ((x - 0.5) * 2).clamp(-1, 1)


def imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Official ``imresize(im, scale)`` for a ``1 x C x H x W`` tensor in [-1, 1]."""
    out = uint8_to_tensor(resize_array(tensor_to_uint8(x), scale_factor=scale))
    return out.to(x.device)


def imresize_to_shape(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Official ``imresize_to_shape(im, (H, W))`` for a ``1 x C x H x W`` tensor in [-1, 1]."""
    shape = [int(shape[0]), int(shape[1])]
    out = uint8_to_tensor(resize_array(tensor_to_uint8(x), output_shape=shape))
    return out.to(x.device)
