"""ConSinGAN's image pyramid: sizes, scale factor and the resized reals, as the official code.

- The training image is first scaled so that its longest side is at most ``max_size`` (never
  enlarged): ``scale1 = min(max_size / max(H, W), 1)``; new size ``ceil(size * scale1)``.
- ``scale_factor = (min_size / min(H, W)) ** (1 / (train_stages - 1))`` on that image.
- Level ``i < N-1`` is the image resized by ``scale_factor ** e_i`` (size ``ceil(size * s)``):
  harmonization uses the plain geometric ``e_i = N-1-i``; every other mode (generation, retarget,
  animation and, in the official code, editing too) uses
  ``e_i = (N-2) / ln(N-1) * ln(N-1-i) + 1``, which puts more levels at low resolution.
- Each level is made from the (max_size-scaled) image with the official ``imresize``.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from .imresize import imresize

GEOMETRIC_MODES = ("harmonization",)
TRAIN_MODES = ("generation", "retarget", "harmonization", "editing", "animation")


def max_size_scale(height: int, width: int, max_size: int) -> float:
    """``scale1``: the factor that brings the longest side down to ``max_size`` (at most 1)."""
    return min(max_size / max(height, width), 1)


def scaled_shape(height: int, width: int, scale: float) -> tuple[int, int]:
    """The official output size for a scale: ``ceil(size * scale)`` in float64."""
    return int(math.ceil(height * scale)), int(math.ceil(width * scale))


def compute_scale_factor(height: int, width: int, min_size: int, train_stages: int) -> float:
    """Per-level factor from the (already max_size-scaled) image size."""
    if train_stages < 2:
        raise InputError(f"ConSinGAN needs at least 2 stages, got {train_stages}")
    return math.pow(min_size / min(height, width), 1 / (train_stages - 1))


def level_scales(train_stages: int, scale_factor: float, train_mode: str = "generation",
                 rule: str | None = None) -> list[float]:
    """Scale of every level relative to the full-size image, coarsest first (last is 1).

    ``rule`` is "geometric" or "log"; by default it follows the official choice for the mode.
    """
    if rule is None:
        rule = "geometric" if train_mode in GEOMETRIC_MODES else "log"
    stop = train_stages - 1
    scales = []
    for i in range(stop):
        if rule == "geometric":
            scales.append(math.pow(scale_factor, stop - i))
        elif rule == "log":
            if stop == 1:
                exponent = 1.0  # (N-2)/ln(1) is 0/0 officially; one level below the top
            else:
                exponent = ((stop - 1) / math.log(stop)) * math.log(stop - i) + 1
            scales.append(math.pow(scale_factor, exponent))
        else:
            raise InputError(f"unknown pyramid rule {rule!r} (use 'geometric' or 'log')")
    scales.append(1.0)
    return scales


def pyramid_shapes(height: int, width: int, train_stages: int = 6, min_size: int = 25,
                   max_size: int = 250, train_mode: str = "generation",
                   rule: str | None = None) -> list[tuple[int, int]]:
    """(H, W) of every level, coarsest first, for a training image of ``height x width``."""
    if height < 1 or width < 1:
        raise InputError(f"image size {height}x{width} is empty")
    h, w = scaled_shape(height, width, max_size_scale(height, width, max_size))
    sf = compute_scale_factor(h, w, min_size, train_stages)
    shapes = [scaled_shape(h, w, s) for s in level_scales(train_stages, sf, train_mode, rule)[:-1]]
    return shapes + [(h, w)]


def build_pyramid(image: torch.Tensor, train_stages: int = 6, min_size: int = 25,
                  max_size: int = 250, train_mode: str = "generation",
                  rule: str | None = None) -> tuple[list[torch.Tensor], float]:
    """The reals (``1x3xHxW`` in [-1, 1], coarsest first) and the scale factor, made exactly as
    the official ``adjust_scales2image`` + ``create_reals_pyramid``."""
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise InputError(f"expected a 1x3xHxW image, got shape {tuple(image.shape)}")
    real = imresize(image, max_size_scale(image.shape[2], image.shape[3], max_size))
    sf = compute_scale_factor(real.shape[2], real.shape[3], min_size, train_stages)
    reals = [imresize(real, s) for s in level_scales(train_stages, sf, train_mode, rule)[:-1]]
    return reals + [real], sf
