"""ConSinGAN's growing generator and its discriminator, with the official state-dict layout.

Generator keys: ``head.conv.*`` [``head.norm.*``], ``body.<stage>.block<j>.conv.*``
[``...norm.*``], ``tail.0.*``. Discriminator keys: ``head.conv.*``, ``body.block<j>.conv.*``,
``tail.*``. The activation module is named as the official option (``lrelu``, ``elu``, ``prelu``,
``selu``), so a PReLU's weight lands at ``<block>.prelu.weight`` as officially.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

# Modes whose generator upsamples the head output by 2 px and feeds stages > 0 with noise that is
# 2*num_layer larger than the image (more diversity at the edges); the others zero-pad inside.
EDGE_MODES = ("generation", "animation")
ACTIVATIONS = ("lrelu", "elu", "prelu", "selu")


def upsample(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bicubic with align_corners=True, as the official ``models.upsample``."""
    return F.interpolate(x, size=[int(size[0]), int(size[1])], mode="bicubic", align_corners=True)


def make_activation(name: str, lrelu_alpha: float) -> nn.Module:
    if name == "lrelu":
        return nn.LeakyReLU(lrelu_alpha)
    if name == "elu":
        return nn.ELU(alpha=1.0)
    if name == "prelu":
        return nn.PReLU(num_parameters=1, init=0.25)
    if name == "selu":
        return nn.SELU()
    raise InputError(f"unknown activation {name!r}; ConSinGAN knows {', '.join(ACTIVATIONS)}")


def check_geometry(ker_size: int, padd_size: int) -> None:
    # The official padding (1 px around head/tail, num_layer px around a body) assumes each conv
    # trims exactly one pixel per side.
    if ker_size - 2 * padd_size != 3:
        raise InputError(f"ker_size {ker_size} with padd_size {padd_size} is not supported: "
                         "each conv must trim one pixel per side (e.g. 3 and 0), as officially")


class ConvBlock(nn.Module):
    """conv -> [BatchNorm2d] -> activation."""

    def __init__(self, in_ch: int, out_ch: int, ker_size: int, padd: int, activation: str,
                 lrelu_alpha: float, batch_norm: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=ker_size, stride=1, padding=padd)
        self.norm = nn.BatchNorm2d(out_ch) if batch_norm else None
        self.act_name = activation
        self.add_module(activation, make_activation(activation, lrelu_alpha))

    def forward(self, x: torch.Tensor, batch_stats: bool = False) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            if batch_stats and not self.training:
                # Normalise with this batch's statistics without touching the running ones
                # (the official evaluation runs the pickled generator in train mode).
                n = self.norm
                x = F.batch_norm(x, None, None, n.weight, n.bias, True, 0.0, n.eps)
            else:
                x = self.norm(x)
        return getattr(self, self.act_name)(x)


class Stage(nn.Module):
    """One body stage: ``block0 .. block{num_layer-1}``."""

    def __init__(self, nfc: int, num_layer: int, ker_size: int, padd: int, activation: str,
                 lrelu_alpha: float, batch_norm: bool):
        super().__init__()
        self.num_layer = num_layer
        for j in range(num_layer):
            self.add_module(f"block{j}", ConvBlock(nfc, nfc, ker_size, padd, activation,
                                                   lrelu_alpha, batch_norm))

    def forward(self, x: torch.Tensor, batch_stats: bool = False) -> torch.Tensor:
        for j in range(self.num_layer):
            x = getattr(self, f"block{j}")(x, batch_stats)
        return x


class GrowingGenerator(nn.Module):
    """Head conv (3 -> nfc), one body stage per pyramid level, tail conv (nfc -> 3) + tanh."""

    def __init__(self, nfc: int = 64, num_layer: int = 3, ker_size: int = 3, padd_size: int = 0,
                 nc_im: int = 3, activation: str = "lrelu", lrelu_alpha: float = 0.05,
                 batch_norm: bool = False, train_mode: str = "generation", num_stages: int = 1):
        super().__init__()
        check_geometry(ker_size, padd_size)
        if num_stages < 1:
            raise InputError("a ConSinGAN generator has at least one stage")
        self.nfc, self.num_layer, self.nc_im = nfc, num_layer, nc_im
        self.train_mode = train_mode
        self.edge_mode = train_mode in EDGE_MODES
        self._block_pad = num_layer - 1 if self.edge_mode else num_layer
        args = (ker_size, padd_size, activation, lrelu_alpha, batch_norm)
        self.head = ConvBlock(nc_im, nfc, *args)
        self.body = nn.ModuleList([Stage(nfc, num_layer, *args) for _ in range(num_stages)])
        self.tail = nn.Sequential(
            nn.Conv2d(nfc, nc_im, kernel_size=ker_size, padding=padd_size), nn.Tanh())

    @property
    def num_stages(self) -> int:
        return len(self.body)

    def grow(self) -> None:
        """Add a stage that starts as a copy of the newest one (official ``init_next_stage``)."""
        self.body.append(copy.deepcopy(self.body[-1]))

    def noise_shape(self, stage: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Shape of the noise a stage takes for an output level of ``height x width``."""
        if stage == 0:
            return (1, self.nc_im, height, width)
        extra = 2 * self.num_layer if self.edge_mode else 0
        return (1, self.nfc, height + extra, width + extra)

    def forward_stage(self, idx: int, x: torch.Tensor | None, noise: torch.Tensor,
                      shape: Sequence[int], noise_amp=1.0, batch_stats: bool = False,
                      resize=upsample) -> torch.Tensor:
        """Features after stage ``idx``: stage 0 reads ``noise`` (the stage-0 input image) through
        the head; stage ``idx > 0`` upsamples ``x`` (the previous stage's features) to ``shape``
        (ends with H, W), adds ``noise * noise_amp`` and adds its block's output residually.
        ``forward`` is these steps in turn, then ``forward_tail`` (the trainer runs the frozen
        stages and the trained ones separately, with its own bicubic ``resize``)."""
        p = self._block_pad
        if idx == 0:
            x = self.head(F.pad(noise, [1, 1, 1, 1]), batch_stats)
            if self.edge_mode:
                x = resize(x, [x.shape[2] + 2, x.shape[3] + 2])
            return self.body[0](F.pad(x, [p, p, p, p]), batch_stats)
        h, w = int(shape[-2]), int(shape[-1])
        residual = resize(x, [h, w])
        if self.edge_mode:
            bigger = resize(x, [h + 2 * self.num_layer, w + 2 * self.num_layer])
            out = self.body[idx](bigger + noise * noise_amp, batch_stats)
        else:
            out = self.body[idx](F.pad(residual + noise * noise_amp, [p, p, p, p]), batch_stats)
        return out + residual

    def forward_tail(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(F.pad(x, [1, 1, 1, 1]))

    def forward(self, noise: Sequence[torch.Tensor], shapes: Sequence[Sequence[int]],
                noise_amp: Sequence, batch_stats: bool = False) -> torch.Tensor:
        """``noise[0]`` is the stage-0 input image (``1x3xH0xW0``); ``shapes[k]`` ends with the
        (H, W) of level k; ``noise_amp[k]`` scales the noise of stage k > 0."""
        x = None
        for idx in range(len(self.body)):
            x = self.forward_stage(idx, x, noise[idx], shapes[idx],
                                   noise_amp[idx] if idx else 1.0, batch_stats)
        return self.forward_tail(x)


class Discriminator(nn.Module):
    """Patch critic: head conv, num_layer body convs, tail conv to 1 channel; no norm."""

    def __init__(self, nfc: int = 64, num_layer: int = 3, ker_size: int = 3, padd_size: int = 0,
                 nc_im: int = 3, activation: str = "lrelu", lrelu_alpha: float = 0.05):
        super().__init__()
        args = (ker_size, padd_size, activation, lrelu_alpha, False)
        self.head = ConvBlock(nc_im, nfc, *args)
        self.body = nn.Sequential()
        for j in range(num_layer):
            self.body.add_module(f"block{j}", ConvBlock(nfc, nfc, *args))
        self.tail = nn.Conv2d(nfc, 1, kernel_size=ker_size, padding=padd_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))
