"""pix2pix generators (junyanz/pytorch-CycleGAN-and-pix2pix) with the official state-dict layout.

U-Net (``unet_128``, ``unet_256``, any depth) and ResNet (``resnet_6blocks``, ``resnet_9blocks``)
generators, norm ``batch`` / ``instance`` / ``none``. Keys are exactly the official ones, so
official ``*_net_G.pth`` files load strictly.

Test modes (DESIGN §3): the official ``test.py`` leaves the network in train mode, so BatchNorm
normalises with the single image's statistics and Dropout(0.5) is active. ``set_test_mode`` picks
``"official"`` (batch statistics, dropout on, seedable), ``"deterministic"`` (batch statistics,
dropout off) or ``"eval"`` (running statistics, no dropout). No mode ever changes the running
statistics; with no mode set, the layers behave as plain torch layers (for training).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import strip_prefixes
from .errors import InputError
from .registry import Architecture

TEST_MODES = ("official", "deterministic", "eval")
NORMS = ("batch", "instance", "none")
_RUNNING_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


# --------------------------------------------------------------------------- mode-aware layers
class ModeBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d (same keys) whose test behaviour is chosen by ``test_mode``."""

    test_mode: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.test_mode
        if mode is None:
            return super().forward(x)
        if mode == "eval":
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        # "official" / "deterministic": this batch's statistics; passing no running buffers
        # guarantees they are never updated (the official test.py would update them).
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class ModeDropout(nn.Dropout):
    """Dropout that is active only in the "official" test mode, optionally with its own RNG."""

    def __init__(self, p: float = 0.5):
        super().__init__(p)
        self.test_mode: str | None = None
        self.seed: int | None = None
        self.generator: torch.Generator | None = None
        self.index = 0  # position in the network, so that seeded layers get different masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.test_mode
        if mode is None:
            return super().forward(x)
        if mode != "official" or self.p == 0:
            return x
        gen = self.generator
        if gen is None and self.seed is not None:
            # A fresh CPU generator per call: the same seed gives the same masks on every call
            # and on every device.
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.index) % (2 ** 63))
        if gen is None:  # the global RNG, exactly as the official code draws it
            return F.dropout(x, self.p, True)
        keep = torch.empty(x.shape, dtype=torch.float32, device=gen.device)
        keep.bernoulli_(1.0 - self.p, generator=gen)
        return x * keep.to(x.device, x.dtype) / (1.0 - self.p)


def set_test_mode(net: nn.Module, mode: str | None, seed: int | None = None,
                  generator: torch.Generator | None = None) -> nn.Module:
    """Set "official", "deterministic", "eval" (or None / "train": plain torch behaviour).

    In "official" mode dropout draws from ``generator``, else from a generator seeded with
    ``seed`` anew at each call, else from torch's global RNG (as the official code does).
    """
    if mode == "train":
        mode = None
    if mode is not None and mode not in TEST_MODES:
        raise InputError(f"unknown test mode {mode!r}; use one of {', '.join(TEST_MODES)}")
    index = 0
    for m in net.modules():
        if isinstance(m, ModeBatchNorm2d):
            m.test_mode = mode
        elif isinstance(m, ModeDropout):
            m.test_mode, m.seed, m.generator, m.index = mode, seed, generator, index
            index += 1
    return net


def norm_factory(norm: str) -> Callable[[int], nn.Module]:
    """The official norm layers: BatchNorm (affine, running stats), InstanceNorm (no affine, no
    running stats, so no keys) or nothing (Identity keeps the layer indices)."""
    if norm == "batch":
        return lambda nc: ModeBatchNorm2d(nc)
    if norm == "instance":
        return lambda nc: nn.InstanceNorm2d(nc, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda nc: nn.Identity()
    raise InputError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")


def _official_bias(norm: str, use_bias: bool | None) -> bool:
    # Official rule: only InstanceNorm nets have conv biases (BatchNorm has its own shift; with
    # norm 'none' the official code also builds bias-free convs).
    return norm == "instance" if use_bias is None else bool(use_bias)


# --------------------------------------------------------------------------- U-Net
class UnetBlock(nn.Module):
    """One U-Net level; ``model`` holds the official layer list (indices are the keys)."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, role: str = "middle",
                 make_norm=None, use_bias: bool = False, use_dropout: bool = False):
        super().__init__()
        self.role = role
        input_nc = outer_nc if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        if role == "outermost":
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(), up, nn.Tanh()]
        elif role == "innermost":
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, make_norm(outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2), down, make_norm(inner_nc), submodule, nn.ReLU(), up,
                      make_norm(outer_nc)]
            if use_dropout:
                layers.append(ModeDropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "outermost":
            return self.model(x)
        # The official block starts with an in-place LeakyReLU, which also rewrites x: the skip
        # connection therefore carries leaky_relu(x), not x. Reproduce that explicitly.
        h = self.model[0](x)
        y = h
        for layer in list(self.model)[1:]:
            y = layer(y)
        return torch.cat([h, y], 1)


class UnetGenerator(nn.Module):
    """``num_downs`` stride-2 levels (7: unet_128, 8: unet_256); input sides must be multiples
    of ``2 ** num_downs``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True, use_bias: bool | None = None):
        super().__init__()
        if num_downs < 5:
            raise InputError(f"a U-Net needs at least 5 levels, got {num_downs}")
        make_norm, bias = norm_factory(norm), _official_bias(norm, use_bias)
        kw = dict(make_norm=make_norm, use_bias=bias)
        block = UnetBlock(ngf * 8, ngf * 8, role="innermost", **kw)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, **kw)
        block = UnetBlock(ngf * 4, ngf * 8, submodule=block, **kw)
        block = UnetBlock(ngf * 2, ngf * 4, submodule=block, **kw)
        block = UnetBlock(ngf, ngf * 2, submodule=block, **kw)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                               role="outermost", **kw)
        self.grid = 2 ** num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --------------------------------------------------------------------------- ResNet
_PADS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}


class ResnetBlock(nn.Module):
    """pad, conv3, norm, ReLU, [dropout], pad, conv3, norm; ``x + block(x)``. Shared with
    pix2pixHD (which always uses conv biases)."""

    def __init__(self, dim: int, make_norm, use_bias: bool, use_dropout: bool = False,
                 padding_type: str = "reflect"):
        super().__init__()
        if padding_type not in (*_PADS, "zero"):
            raise InputError(f"unknown padding type {padding_type!r}")

        def pad_conv():
            if padding_type == "zero":
                return [nn.Conv2d(dim, dim, 3, padding=1, bias=use_bias)]
            return [_PADS[padding_type](1), nn.Conv2d(dim, dim, 3, bias=use_bias)]

        layers = pad_conv() + [make_norm(dim), nn.ReLU()]
        if use_dropout:
            layers.append(ModeDropout(0.5))
        layers += pad_conv() + [make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7×7 conv, 2 stride-2 downsamplings, ``n_blocks`` residual blocks, 2 ConvT, 7×7 conv, tanh."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False, use_bias: bool | None = None,
                 padding_type: str = "reflect"):
        super().__init__()
        make_norm, bias = norm_factory(norm), _official_bias(norm, use_bias)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf),
                  nn.ReLU()]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), make_norm(c * 2),
                       nn.ReLU()]
        layers += [ResnetBlock(ngf * 4, make_norm, bias, use_dropout, padding_type)
                   for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias), make_norm(c // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.grid = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --------------------------------------------------------------------------- options, building
_NAMED_UNETS = {"unet_128": 7, "unet_256": 8}
_NAMED_RESNETS = {"resnet_6blocks": 6, "resnet_9blocks": 9}


def normalize_options(options: dict) -> dict:
    """Fill the defaults and the derived fields (num_downs / n_blocks, load_size)."""
    opts = dict(options)
    net = opts.setdefault("netG", "unet_256")
    opts.setdefault("input_nc", 3)
    opts.setdefault("output_nc", 3)
    opts.setdefault("ngf", 64)
    if net in _NAMED_UNETS or net == "unet":
        opts.setdefault("num_downs", _NAMED_UNETS.get(net, 8))
        opts.setdefault("norm", "batch")
        opts.setdefault("use_dropout", True)  # the official pix2pix default (no --no_dropout)
        opts.setdefault("load_size", 2 ** int(opts["num_downs"]))
    elif net in _NAMED_RESNETS or net == "resnet":
        opts.setdefault("n_blocks", _NAMED_RESNETS.get(net, 9))
        opts.setdefault("norm", "instance")
        opts.setdefault("use_dropout", False)
        opts.setdefault("load_size", 256)
    else:
        raise InputError(f"unknown pix2pix generator {net!r}; use unet_128, unet_256, unet, "
                         "resnet_6blocks, resnet_9blocks or resnet")
    return opts


def build_generator(options: dict) -> nn.Module:
    o = normalize_options(options)
    common = dict(input_nc=int(o["input_nc"]), output_nc=int(o["output_nc"]), ngf=int(o["ngf"]),
                  norm=o["norm"], use_dropout=bool(o["use_dropout"]), use_bias=o.get("use_bias"))
    if "num_downs" in o:
        return UnetGenerator(num_downs=int(o["num_downs"]), **common)
    return ResnetGenerator(n_blocks=int(o["n_blocks"]), **common)


def build(options: dict) -> dict[str, nn.Module]:
    return {"G": build_generator(options)}


# --------------------------------------------------------------------------- official files
def clean_official_state(state) -> "OrderedDict[str, torch.Tensor]":
    """Strip ``module.`` / ``_orig_mod.``, drop the running-stat keys of InstanceNorm layers that
    old files have (an affine-free norm: running stats without a ``weight``), and add the
    ``num_batches_tracked`` that files from torch < 0.4.1 lack (unused at inference)."""
    state = strip_prefixes(state)
    out = OrderedDict()
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _RUNNING_SUFFIXES and f"{prefix}.weight" not in state:
            continue
        out[key] = value
        if leaf == "running_var" and f"{prefix}.num_batches_tracked" not in state:
            out[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return out


def _norm_of(state, norm_prefix: str, conv_prefix: str) -> str:
    if f"{norm_prefix}.running_mean" in state and f"{norm_prefix}.weight" in state:
        return "batch"
    return "instance" if f"{conv_prefix}.bias" in state else "none"


def _unet_depth(state) -> int:
    prefix, depth = "model.model.1", 1
    while any(k.startswith(prefix + ".model.") for k in state):
        depth += 1
        prefix += ".model.3"
    return depth


def detect(state) -> dict | None:
    """Options read off an official pix2pix generator state dict, or None."""
    state = clean_official_state(state)
    if not state or not all(k.startswith("model.") for k in state):
        return None
    first = state.get("model.model.0.weight")
    if first is not None and first.dim() == 4 and tuple(first.shape[2:]) == (4, 4):
        last = state.get("model.model.3.weight")
        depth = _unet_depth(state)
        if last is None or last.dim() != 4 or depth < 5:
            return None
        net = {7: "unet_128", 8: "unet_256"}.get(depth, "unet")
        return dict(netG=net, num_downs=depth, ngf=int(first.shape[0]),
                    input_nc=int(first.shape[1]), output_nc=int(last.shape[1]),
                    norm=_norm_of(state, "model.model.1.model.2", "model.model.1.model.1"),
                    use_dropout=True,  # not visible in the keys; the official default
                    load_size=2 ** depth)
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4 or tuple(first.shape[2:]) != (7, 7):
        return None
    for idx in (4, 7):
        w = state.get(f"model.{idx}.weight")
        if w is None or w.dim() != 4 or tuple(w.shape[2:]) != (3, 3):
            return None
    blocks = {int(k.split(".")[1]) for k in state if ".conv_block." in k}
    if not blocks or sorted(blocks) != list(range(10, 10 + len(blocks))):
        return None
    n_blocks = len(blocks)
    last = state.get(f"model.{17 + n_blocks}.weight")
    if last is None:
        return None
    net = {6: "resnet_6blocks", 9: "resnet_9blocks"}.get(n_blocks, "resnet")
    return dict(netG=net, n_blocks=n_blocks, ngf=int(first.shape[0]),
                input_nc=int(first.shape[1]), output_nc=int(last.shape[0]),
                norm=_norm_of(state, "model.2", "model.1"),
                use_dropout="model.10.conv_block.6.weight" in state, load_size=256)


def from_official(state, options: dict) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict(("G." + k, v) for k, v in clean_official_state(state).items())


ARCHITECTURE = Architecture(
    name="pix2pix", kind="image2image",
    description="pix2pix image-to-image generator (junyanz/pytorch-CycleGAN-and-pix2pix): "
                "U-Net or ResNet, batch/instance/no norm",
    build=build, detect=detect, from_official=from_official)
