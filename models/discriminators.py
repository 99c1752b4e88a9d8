"""PatchGAN discriminators for training (pix2pix, pix2pixHD, SPADE), with the official key names.

- ``NLayerDiscriminator``: pix2pix's PatchGAN (k4, padding 1), one ``model`` Sequential
  (keys ``model.N``); conv biases only with instance norm, as official.
- ``MultiscaleDiscriminator``: ``num_D`` PatchGANs on the input average-pooled 0, 1, 2... times,
  padding 2 (``ceil((4-1)/2)``). Returns, per scale, the list of intermediate features (the last
  one is the prediction) for the feature-matching loss.

  * ``style="pix2pixhd"``: keys ``scale{i}_layer{j}.*`` (``layer{i}.N`` without intermediate
    features); every conv has a bias; n_layers + 2 groups, the last two with stride 1. As in the
    official code, the full-resolution input goes to the discriminator with the HIGHEST index.
  * ``style="spade"``: keys ``discriminator_{i}.model{j}.*``; norm given as "spectralinstance"
    etc. (spectral norm on the middle convs, which then lose their bias); n_layers + 1 groups,
    the last middle conv with stride 1; ``discriminator_0`` sees the full resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError

_KERNEL = 4


def _norm_layer(norm: str, nc: int) -> nn.Module | None:
    if norm == "batch":
        return nn.BatchNorm2d(nc)
    if norm == "instance":
        return nn.InstanceNorm2d(nc, affine=False, track_running_stats=False)
    if norm in ("none", ""):
        return None
    raise InputError(f"unknown discriminator norm {norm!r}; use batch, instance or none")


class NLayerDiscriminator(nn.Module):
    """pix2pix PatchGAN: ``n_layers`` stride-2 convs, one stride-1 conv, a 1-channel conv."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 use_sigmoid: bool = False):
        super().__init__()
        use_bias = norm == "instance"  # official: the norm's shift makes a bias redundant

        def block(cin, cout, stride):
            layers = [nn.Conv2d(cin, cout, _KERNEL, stride=stride, padding=1, bias=use_bias)]
            # Identity keeps the official indices when there is no norm
            layers.append(_norm_layer(norm, cout) or nn.Identity())
            return layers + [nn.LeakyReLU(0.2)]

        layers = [nn.Conv2d(input_nc, ndf, _KERNEL, stride=2, padding=1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += block(ndf * prev, ndf * mult, 2)
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += block(ndf * prev, ndf * mult, 1)
        layers.append(nn.Conv2d(ndf * mult, 1, _KERNEL, stride=1, padding=1))
        if use_sigmoid:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _pix2pixhd_groups(input_nc, ndf, n_layers, norm, use_sigmoid) -> list[nn.Sequential]:
    pad = 2  # ceil((kernel - 1) / 2)

    def group(cin, cout, stride, with_norm=True, act=True):
        layers = [nn.Conv2d(cin, cout, _KERNEL, stride=stride, padding=pad)]
        norm_layer = _norm_layer(norm, cout) if with_norm else None
        if norm_layer is not None:
            layers.append(norm_layer)
        if act:
            layers.append(nn.LeakyReLU(0.2))
        return nn.Sequential(*layers)

    groups = [group(input_nc, ndf, 2, with_norm=False)]
    nf = ndf
    for _ in range(1, n_layers):
        prev, nf = nf, min(nf * 2, 512)
        groups.append(group(prev, nf, 2))
    prev, nf = nf, min(nf * 2, 512)
    groups.append(group(prev, nf, 1))
    last = group(nf, 1, 1, with_norm=False, act=False)
    if use_sigmoid:
        last.append(nn.Sigmoid())
    groups.append(last)
    return groups


def _spade_groups(input_nc, ndf, n_layers, norm) -> list[nn.Sequential]:
    pad = 2
    spectral = norm.startswith("spectral")
    sub = norm[len("spectral"):] if spectral else norm

    def normed_conv(cin, cout, stride) -> nn.Module:
        conv = nn.Conv2d(cin, cout, _KERNEL, stride=stride, padding=pad)
        if spectral:
            conv = nn.utils.spectral_norm(conv)
        norm_layer = _norm_layer(sub, cout)
        if norm_layer is None:
            return conv
        # A bias before a norm is meaningless: the official code deletes it.
        conv.register_parameter("bias", None)
        return nn.Sequential(conv, norm_layer)

    groups = [nn.Sequential(nn.Conv2d(input_nc, ndf, _KERNEL, stride=2, padding=pad),
                            nn.LeakyReLU(0.2))]
    nf = ndf
    for n in range(1, n_layers):
        prev, nf = nf, min(nf * 2, 512)
        stride = 1 if n == n_layers - 1 else 2
        groups.append(nn.Sequential(normed_conv(prev, nf, stride), nn.LeakyReLU(0.2)))
    groups.append(nn.Sequential(nn.Conv2d(nf, 1, _KERNEL, stride=1, padding=pad)))
    return groups


class _GroupedPatchGAN(nn.Module):
    """One SPADE-style discriminator: ``model0``, ``model1``... groups, returns all features."""

    def __init__(self, groups: list[nn.Sequential]):
        super().__init__()
        for j, g in enumerate(groups):
            self.add_module(f"model{j}", g)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for g in self.children():
            x = g(x)
            feats.append(x)
        return feats


def _first_layer(layer: nn.Module, x: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """``layer`` (a Sequential starting with its input conv) on x, which holds only ``channels``
    of the conv's input channels."""
    conv, *rest = layer.children()
    x = F.conv2d(x, conv.weight.index_select(1, channels), conv.bias, conv.stride, conv.padding)
    for module in rest:
        x = module(x)
    return x


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs at successively halved resolutions; forward returns
    ``[[features of scale 0 (full res)...], [scale 1...], ...]``, the prediction last in each."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 num_D: int = 3, get_interm_feat: bool = True, use_sigmoid: bool = False,
                 style: str = "pix2pixhd"):
        super().__init__()
        if style not in ("pix2pixhd", "spade"):
            raise InputError(f"unknown discriminator style {style!r}; use pix2pixhd or spade")
        self.num_D, self.style, self.get_interm_feat = num_D, style, get_interm_feat
        self.n_groups = n_layers + 2 if style == "pix2pixhd" else n_layers + 1
        for i in range(num_D):
            if style == "spade":
                self.add_module(f"discriminator_{i}",
                                _GroupedPatchGAN(_spade_groups(input_nc, ndf, n_layers, norm)))
                continue
            groups = _pix2pixhd_groups(input_nc, ndf, n_layers, norm, use_sigmoid)
            if get_interm_feat:
                for j, g in enumerate(groups):
                    self.add_module(f"scale{i}_layer{j}", g)
            else:  # one flat Sequential, as the official getIntermFeat=False layout
                self.add_module(f"layer{i}", nn.Sequential(*[m for g in groups for m in g]))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)

    def _scale_layers(self, scale: int) -> list[nn.Module]:
        if self.style == "spade":
            return list(getattr(self, f"discriminator_{scale}").children())
        index = self.num_D - 1 - scale  # official pix2pixHD: highest index at full resolution
        if self.get_interm_feat:
            return [getattr(self, f"scale{index}_layer{j}") for j in range(self.n_groups)]
        return [getattr(self, f"layer{index}")]

    def forward(self, x: torch.Tensor, channels: torch.Tensor | None = None
                ) -> list[list[torch.Tensor]]:
        """``channels``: x holds only these input channels, in this order (the others are all
        zero, e.g. the absent classes of a one-hot label map); the first conv uses the matching
        weight columns, which gives the same result for less work."""
        result = []
        for scale in range(self.num_D):
            feats, h = [], x
            for i, layer in enumerate(self._scale_layers(scale)):
                h = layer(h) if i or channels is None else _first_layer(layer, h, channels)
                feats.append(h)
            result.append(feats if self.get_interm_feat else feats[-1:])
            if scale != self.num_D - 1:
                x = self.downsample(x)
        return result
