"""Input images and masks for harmonization/editing, as the official ``evaluate_model.py``.

The official mask path: read the mask as an image in [-1, 1]; resize it to the output if needed;
back to uint8 (truncating), channel 0; ``skimage.morphology.binary_dilation`` with a disk
(radius 7 for harmonization, 20 for editing); ``skimage.filters.gaussian(sigma=5)`` (scipy
``gaussian_filter``, ``truncate=4``, ``mode='nearest'``, float64); to float32; ``(x - 0.5) * 2``;
expanded to 3 channels; min-max normalised to [0, 1]. Dilation and blur are reimplemented here
with numpy (no scikit-image/scipy dependency).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .imresize import imresize_to_shape, tensor_to_uint8, uint8_to_tensor

DILATION_RADIUS = {"harmonization": 7, "editing": 20}
BLUR_SIGMA = 5.0
BLUR_TRUNCATE = 4.0


def disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk``: offsets with dx² + dy² <= r²."""
    r = np.arange(-radius, radius + 1)
    return (r[None, :] ** 2 + r[:, None] ** 2) <= radius ** 2


def binary_dilation_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a boolean ``H x W`` mask by a disk; pixels outside the image count as False."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=bool)
    padded = np.zeros((h + 2 * radius, w + 2 * radius + 1), dtype=np.int64)
    padded[radius:radius + h, radius + 1:radius + 1 + w] = mask
    # Row-wise prefix sums: a horizontal run [x-a, x+a] is non-empty iff its sum is > 0.
    csum = np.cumsum(padded, axis=1)
    for dy in range(-radius, radius + 1):
        a = int(np.floor(np.sqrt(radius * radius - dy * dy)))  # the disk's half-width at dy
        rows = csum[radius + dy:radius + dy + h]
        xs = np.arange(w) + radius + 1
        out |= (rows[:, xs + a] - rows[:, xs - a - 1]) > 0
    return out


def gaussian_kernel(sigma: float, truncate: float = BLUR_TRUNCATE) -> np.ndarray:
    """scipy's ``_gaussian_kernel1d`` (order 0)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    return phi / phi.sum()


def gaussian_blur(image: np.ndarray, sigma: float = BLUR_SIGMA,
                  truncate: float = BLUR_TRUNCATE) -> np.ndarray:
    """Separable Gaussian in float64 with edge replication (scipy ``mode='nearest'``)."""
    k = gaussian_kernel(sigma, truncate)
    r = len(k) // 2
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        moved = np.moveaxis(out, axis, 0)
        padded = np.pad(moved, [(r, r)] + [(0, 0)] * (moved.ndim - 1), mode="edge")
        n = moved.shape[0]
        acc = np.zeros_like(moved)
        for t in range(len(k)):
            acc += k[t] * padded[t:t + n]
        out = np.moveaxis(acc, 0, axis)
    return out


def image_to_tensor(image, what: str = "image") -> torch.Tensor:
    """A ``1x3xHxW`` float32 tensor in [-1, 1] from a uint8 ``HxWx3``/``HxWx4`` numpy array (alpha
    dropped, as officially) or a float tensor ``3xHxW``/``1x3xHxW`` in [-1, 1]."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise InputError(f"{what}: a numpy image must be uint8 HxWx3 (got {image.dtype}); "
                             "pass float images as torch tensors in [-1, 1]")
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise InputError(f"{what}: expected an HxWx3 (or HxWx4) colour image, got shape "
                             f"{image.shape}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise InputError(f"{what}: the image is empty ({image.shape})")
        return uint8_to_tensor(image[:, :, :3])
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise InputError(f"{what}: expected a float tensor in [-1, 1], got {image.dtype}")
        x = image.detach()
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise InputError(f"{what}: expected a 3xHxW or 1x3xHxW tensor (3 colour channels), "
                             f"got shape {tuple(image.shape)}")
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise InputError(f"{what}: the image is empty ({tuple(image.shape)})")
        x = x.to("cpu", torch.float32)
        if not torch.isfinite(x).all():
            raise InputError(f"{what}: the tensor contains NaN or infinite values")
        if x.min() < -1.001 or x.max() > 1.001:
            raise InputError(f"{what}: values must be in [-1, 1] (got {float(x.min()):.3g} .. "
                             f"{float(x.max()):.3g})")
        return x.clamp(-1, 1)
    raise InputError(f"{what}: expected a uint8 numpy array or a float tensor, got "
                     f"{type(image).__name__}")


def mask_to_tensor(mask) -> torch.Tensor:
    """The mask as the official code holds it: ``1x1xHxW`` float32 in [-1, 1].

    Accepts bool/uint8 numpy ``HxW`` or ``HxWxC`` (channel 0 is used; uint8 0..255, non-zero is
    inside) or a float tensor/array ``HxW``, ``CxHxW``, ``1xCxHxW`` in [0, 1]."""
    if isinstance(mask, np.ndarray) and mask.dtype in (np.bool_, np.uint8):
        m = mask
        if m.ndim == 3:
            m = m[:, :, 0]
        if m.ndim != 2:
            raise InputError(f"mask: expected HxW or HxWxC, got shape {mask.shape}")
        m = m.astype(np.uint8) * 255 if m.dtype == np.bool_ else m
        return uint8_to_tensor(m[:, :, None])
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if isinstance(mask, torch.Tensor) and mask.is_floating_point():
        m = mask.detach().to("cpu", torch.float32)
        if m.dim() == 4 and m.shape[0] == 1:
            m = m[0]
        if m.dim() == 3:
            m = m[0]
        if m.dim() != 2:
            raise InputError(f"mask: expected HxW, CxHxW or 1xCxHxW, got shape {tuple(mask.shape)}")
        if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
            raise InputError("mask: float masks must hold values in [0, 1]")
        return (m * 2 - 1)[None, None]
    raise InputError(f"mask: expected a bool/uint8 numpy array or a float tensor in [0, 1], got "
                     f"{type(mask).__name__} {getattr(mask, 'dtype', '')}")


def soft_mask(mask, out_hw: tuple[int, int], naive_hw: tuple[int, int] | None,
              radius: int) -> torch.Tensor:
    """The dilated, blurred, normalised ``1x3xHxW`` mask in [0, 1] for an output of ``out_hw``."""
    m = mask_to_tensor(mask)
    hw = (int(m.shape[2]), int(m.shape[3]))
    if hw != tuple(out_hw):
        if naive_hw is None or hw != tuple(naive_hw):
            raise InputError(f"mask is {hw[0]}x{hw[1]}; it must match the output "
                             f"({out_hw[0]}x{out_hw[1]})"
                             + (f" or the naive image ({naive_hw[0]}x{naive_hw[1]})"
                                if naive_hw else ""))
        m = imresize_to_shape(m, out_hw)  # official: a mask of the naive image's size is resized
    binary = tensor_to_uint8(m)[:, :, 0] != 0
    if not binary.any():
        raise InputError("mask is empty: mark the pasted region (non-zero pixels) to harmonize")
    blurred = gaussian_blur(binary_dilation_disk(binary, radius).astype(np.float64))
    x = torch.from_numpy(blurred[None, None]).to(torch.float32)
    x = ((x - 0.5) * 2).clamp(-1, 1).expand(1, 3, x.shape[2], x.shape[3])
    lo, hi = x.min(), x.max()
    if hi == lo:  # the mask covers everything: the official code would divide by zero
        return torch.ones_like(x)
    return (x - lo) / (hi - lo)
