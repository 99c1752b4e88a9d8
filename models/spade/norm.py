"""SPADE normalisation: a parameter-free norm modulated per pixel by the label map."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HIDDEN = 128  # width of the shared MLP; fixed in the official code, independent of ngf


class PresentLabels:
    """A one-hot label map cut to the channels it uses, resized once per resolution.

    A painted landscape uses ~15 of COCO-Stuff's 183 channels; convolving (and resizing) the
    all-zero ones was most of SPADE's training time. Convolving the present channels with the
    matching weight columns gives the same result: the others contribute exact zeros.
    """

    def __init__(self, seg: torch.Tensor):
        self.channels = (seg.detach().amax(dim=(0, 2, 3)) != 0).nonzero().flatten()
        self.shape = seg.shape
        self._sized = {tuple(seg.shape[2:]): seg.index_select(1, self.channels)}

    @property
    def device(self) -> torch.device:
        return self.channels.device

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self._sized.values())).dtype

    def at(self, size) -> torch.Tensor:
        size = tuple(size)
        if size not in self._sized:
            full = self._sized[tuple(self.shape[2:])]
            self._sized[size] = F.interpolate(full, size=size, mode="nearest")
        return self._sized[size]

    def conv(self, conv: nn.Conv2d, size) -> torch.Tensor:
        """``conv`` (whose input is the full one-hot map) applied to the map at ``size``."""
        weight = conv.weight.index_select(1, self.channels)
        return F.conv2d(self.at(size), weight, conv.bias, conv.stride, conv.padding)


class SPADE(nn.Module):
    """``norm(x) * (1 + gamma(seg)) + beta(seg)``.

    ``param_free`` is ``"batch"`` (the official ``spadesyncbatch``: affine-free batch norm, running
    statistics in eval) or ``"instance"``.
    """

    def __init__(self, channels: int, label_channels: int, kernel_size: int = 3,
                 param_free: str = "batch"):
        super().__init__()
        if param_free == "batch":
            self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        elif param_free == "instance":
            self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        else:
            raise ValueError(f"unknown SPADE parameter-free norm {param_free!r}")
        self.param_free = param_free
        self.kernel_size = kernel_size
        pad = kernel_size // 2
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_channels, HIDDEN, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(HIDDEN, channels, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(HIDDEN, channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor | PresentLabels) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        if isinstance(segmap, PresentLabels):
            actv = F.relu(segmap.conv(self.mlp_shared[0], x.shape[2:]))
        else:
            actv = self.mlp_shared(F.interpolate(segmap, size=x.shape[2:], mode="nearest"))
        gamma = self.mlp_gamma(actv)
        beta = self.mlp_beta(actv)
        return normalized * (1 + gamma) + beta


def fold_spectral_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each ``weight_orig``/``weight_u``/``weight_v`` triplet by the plain ``weight`` that
    torch's spectral norm uses in eval: ``weight_orig / (u . W v)`` with the stored u and v (no power
    iteration; recomputing the singular value would change the result)."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_u") or key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_orig"):
            base = key[: -len("_orig")]
            u, v = state[base + "_u"], state[base + "_v"]
            # Same float32 ops as torch's eval-mode spectral norm, so outputs stay bit-identical.
            sigma = torch.dot(u, torch.mv(value.reshape(value.shape[0], -1), v))
            out[base] = value / sigma
        else:
            out[key] = value
    return out
