"""SPADE's style encoder (``ConvEncoder``): an image -> (mu, logvar) of the style latent z."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError


class ConvEncoder(nn.Module):
    """Six stride-2 3x3 convs (spectral norm folded, no bias) with affine-free instance norm, then
    ``fc_mu`` / ``fc_var``. Inputs other than 256x256 are resized bilinearly, as officially."""

    def __init__(self, ngf: int = 64, z_dim: int = 256, crop_size: int = 256):
        super().__init__()
        ndf = ngf
        widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf]
        if crop_size >= 256:
            widths.append(8 * ndf)
        self.num_layers = len(widths) - 1
        for i in range(self.num_layers):
            layer = nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1,
                                            bias=False),
                                  nn.InstanceNorm2d(widths[i + 1], affine=False))
            setattr(self, f"layer{i + 1}", layer)
        self.fc_mu = nn.Linear(ndf * 8 * 4 * 4, z_dim)
        self.fc_var = nn.Linear(ndf * 8 * 4 * 4, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"style image must be N x 3 x H x W (RGB), got {tuple(image.shape)}")
        x = image
        if x.shape[2] != 256 or x.shape[3] != 256:
            x = F.interpolate(x, size=(256, 256), mode="bilinear")
        x = self.layer1(x)
        for i in range(2, self.num_layers + 1):
            x = getattr(self, f"layer{i}")(F.leaky_relu(x, 2e-1))
        x = F.leaky_relu(x, 2e-1).reshape(x.shape[0], -1)
        return self.fc_mu(x), self.fc_var(x)
