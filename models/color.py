"""sRGB <-> CIE Lab (D65, 2 degree observer), the conversion skimage's rgb2lab makes.

Colorization models (pix2pix L -> ab, DESIGN §3) see L/50 - 1 and predict ab/110.
"""
from __future__ import annotations

import numpy as np
import torch

_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS, _KAPPA = 216 / 24389, 24389 / 27             # CIE constants: where the cube root ends


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3), uint8 or float in [0, 1] -> Lab float64 (L in [0, 100])."""
    c = np.asarray(rgb)
    c = c / 255.0 if c.dtype == np.uint8 else c.astype(np.float64)
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    t = (linear @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(t > _EPS, np.cbrt(t), (_KAPPA * t + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Lab (..., 3) -> sRGB float64 in [0, 1] (out-of-gamut colours clipped)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    t = np.where(f ** 3 > _EPS, f ** 3, (116 * f - 16) / _KAPPA)
    linear = np.clip((t * _WHITE) @ _XYZ_TO_RGB.T, 0, None)
    c = np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)
    return np.clip(c, 0.0, 1.0)


def lab_to_rgb(L: torch.Tensor | np.ndarray, ab: torch.Tensor | np.ndarray) -> np.ndarray:
    """Colorization input and output, scaled as the dataset scales them (L/50-1, ab/110), back to
    RGB uint8: (1, H, W) + (2, H, W) -> (H, W, 3), or batches (N, 1, H, W) -> (N, H, W, 3)."""
    L, ab = (np.asarray(x.detach().float().cpu() if isinstance(x, torch.Tensor) else x,
                        dtype=np.float64) for x in (L, ab))
    if L.ndim == ab.ndim - 1:
        L = L[..., None, :, :]
    if L.shape[-3] != 1 or ab.shape[-3] != 2 or L.shape[-2:] != ab.shape[-2:]:
        raise ValueError(f"lab_to_rgb needs L (..., 1, H, W) and ab (..., 2, H, W), got "
                         f"{L.shape} and {ab.shape}")
    lab = np.moveaxis(np.concatenate([(L + 1.0) * 50.0, ab * 110.0], axis=-3), -3, -1)
    return np.round(lab_to_srgb(lab) * 255).astype(np.uint8)
