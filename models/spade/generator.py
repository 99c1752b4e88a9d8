"""The SPADE generator: label map (one-hot) -> RGB image in [-1, 1]."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .norm import SPADE, PresentLabels

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}


@dataclass
class SPADEOptions:
    """The official options that shape the network (names as in NVlabs/SPADE)."""

    label_nc: int = 182
    contain_dontcare_label: bool = True
    no_instance: bool = False
    ngf: int = 64
    num_upsampling_layers: str = "normal"
    crop_size: int = 256
    aspect_ratio: float = 1.0
    use_vae: bool = False
    z_dim: int = 256
    norm_G: str = "spectralspadesyncbatch3x3"
    norm_E: str = "spectralinstance"

    @property
    def label_channels(self) -> int:
        """One-hot channels: classes plus the dontcare channel."""
        return self.label_nc + (1 if self.contain_dontcare_label else 0)

    @property
    def semantic_nc(self) -> int:
        """Generator input channels: one-hot plus the instance-edge channel."""
        return self.label_channels + (0 if self.no_instance else 1)

    @property
    def grid(self) -> int:
        """Output sides must be multiples of this."""
        return 2 ** UPSAMPLING_LAYERS[self.num_upsampling_layers]

    @property
    def native_size(self) -> tuple[int, int]:
        """(height, width) the model was trained at."""
        sw = self.crop_size // self.grid
        sh = round(sw / self.aspect_ratio)
        return sh * self.grid, sw * self.grid

    @property
    def spade_kernel(self) -> int:
        return int(self.norm_G.rsplit("x", 1)[-1]) if "x" in self.norm_G else 3

    @property
    def param_free_norm(self) -> str:
        return "instance" if "spadeinstance" in self.norm_G else "batch"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SPADEOptions":
        names = {f.name for f in fields(cls)}
        opts = cls(**{k: v for k, v in data.items() if k in names})
        if opts.num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(f"num_upsampling_layers must be one of {sorted(UPSAMPLING_LAYERS)}")
        return opts


class SPADEResnetBlock(nn.Module):
    """``shortcut(x) + conv_1(act(norm_1(conv_0(act(norm_0(x))))))``; learned 1x1 shortcut when
    the channel count changes."""

    def __init__(self, fin: int, fout: int, label_channels: int, kernel_size: int = 3,
                 param_free: str = "batch"):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, label_channels, kernel_size, param_free)
        self.norm_1 = SPADE(fmiddle, label_channels, kernel_size, param_free)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_channels, kernel_size, param_free)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """The official generator architecture (keys match ``latest_net_G.pth`` once spectral norm is
    folded). Fully convolutional: any output size that is a multiple of ``options.grid`` works
    (with a VAE, the latent grid is resized to fit)."""

    def __init__(self, options: SPADEOptions):
        super().__init__()
        self.options = opt = options
        nf = opt.ngf
        ks, pf, lc = opt.spade_kernel, opt.param_free_norm, opt.semantic_nc
        sh, sw = (s // opt.grid for s in opt.native_size)
        self.latent_hw = (sh, sw)
        if opt.use_vae:
            self.fc = nn.Linear(opt.z_dim, 16 * nf * sh * sw)
        else:
            self.fc = nn.Conv2d(lc, 16 * nf, 3, padding=1)

        def block(fin, fout):
            return SPADEResnetBlock(fin * nf, fout * nf, lc, ks, pf)

        self.head_0 = block(16, 16)
        self.G_middle_0 = block(16, 16)
        self.G_middle_1 = block(16, 16)
        self.up_0 = block(16, 8)
        self.up_1 = block(8, 4)
        self.up_2 = block(4, 2)
        self.up_3 = block(2, 1)
        final_nc = nf
        if opt.num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(nf, nf // 2, lc, ks, pf)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    def latent_grid(self, height: int, width: int) -> tuple[int, int]:
        g = self.options.grid
        if height % g or width % g or height <= 0 or width <= 0:
            raise InputError(f"output size {width}x{height} is not a multiple of this model's "
                             f"grid of {g} px (try {max(g, round(width / g) * g)}x"
                             f"{max(g, round(height / g) * g)})")
        return height // g, width // g

    def initial_features(self, seg: torch.Tensor | PresentLabels, z: torch.Tensor | None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The 16*ngf-channel feature map at the coarsest grid, from z (VAE) or the label map."""
        sh, sw = self.latent_grid(seg.shape[2], seg.shape[3])
        if not self.options.use_vae:
            if isinstance(seg, PresentLabels):
                return seg.conv(self.fc, (sh, sw))
            return self.fc(F.interpolate(seg, size=(sh, sw)))
        if z is None:
            z = torch.randn(seg.shape[0], self.options.z_dim, generator=generator,
                            device=seg.device, dtype=seg.dtype)
        x = self.fc(z).view(-1, 16 * self.options.ngf, *self.latent_hw)
        if (sh, sw) != self.latent_hw:
            x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False)
        return x

    def stages(self):
        """(upsample before?, block) in forward order; shared with the fast path."""
        more = self.options.num_upsampling_layers in ("more", "most")
        out = [(False, self.head_0), (True, self.G_middle_0), (more, self.G_middle_1),
               (True, self.up_0), (True, self.up_1), (True, self.up_2), (True, self.up_3)]
        if self.options.num_upsampling_layers == "most":
            out.append((True, self.up_4))
        return out

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if seg.dim() != 4 or seg.shape[1] != self.options.semantic_nc:
            raise InputError(f"SPADE input must be N x {self.options.semantic_nc} x H x W "
                             f"(one-hot labels{'' if self.options.no_instance else ' + edges'}), "
                             f"got {tuple(seg.shape)}")
        labels = PresentLabels(seg)
        x = self.initial_features(labels, z, generator)
        for upsample, block in self.stages():
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, labels)
        x = self.conv_img(F.leaky_relu(x, 2e-1))
        return torch.tanh(x)
