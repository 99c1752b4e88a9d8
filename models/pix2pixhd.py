"""pix2pixHD generators (NVIDIA/pix2pixHD) with the official state-dict layout.

``GlobalGenerator`` (``--netG global``) and ``LocalEnhancer`` (``--netG local``). The input is a
one-hot label map (``label_nc`` channels) followed by the instance-edge channel unless
``no_instance``; pix2pixHD has no dontcare channel. Every conv has a bias; norm is InstanceNorm
without affine or running stats (no keys) or BatchNorm.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .errors import InputError
from .pix2pix import ResnetBlock, clean_official_state, norm_factory
from .registry import Architecture

# Official test-time sizes (H, W): the 512p global model is trained on 1024x512 Cityscapes
# (loadSize 1024, scale_width); each local enhancer doubles it.
_GLOBAL_NATIVE = (512, 1024)


def _check_norm(norm: str) -> str:
    if norm not in ("instance", "batch"):
        raise InputError(f"pix2pixHD supports norm 'instance' or 'batch', not {norm!r}")
    return norm


def global_layers(input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int,
                  norm: str, padding_type: str = "reflect") -> list[nn.Module]:
    """The official GlobalGenerator layer list: its indices are the ``model.N`` keys."""
    make_norm = norm_factory(_check_norm(norm))
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), make_norm(ngf), nn.ReLU()]
    for i in range(n_downsampling):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1), make_norm(c * 2), nn.ReLU()]
    c = ngf * 2 ** n_downsampling
    layers += [ResnetBlock(c, make_norm, True, False, padding_type) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        c = ngf * 2 ** (n_downsampling - i)
        layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                   make_norm(c // 2), nn.ReLU()]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    return layers


class GlobalGenerator(nn.Module):
    """7×7 conv, ``n_downsampling`` stride-2 convs, ``n_blocks`` residual blocks, as many ConvT,
    7×7 conv, tanh. Input sides must be multiples of ``2 ** n_downsampling``."""

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 64, n_downsampling: int = 4,
                 n_blocks: int = 9, norm: str = "instance", padding_type: str = "reflect"):
        super().__init__()
        self.model = nn.Sequential(*global_layers(input_nc, output_nc, ngf, n_downsampling,
                                                  n_blocks, norm, padding_type))
        self.grid = 2 ** n_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """A global generator with ``ngf * 2**n_local_enhancers`` filters (its last pad/conv/tanh
    removed) run on the input average-pooled ``n_local_enhancers`` times, then one
    ``model{n}_1`` (down) / ``model{n}_2`` (residual blocks, up) pair per finer scale."""

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 32,
                 n_downsample_global: int = 3, n_blocks_global: int = 9,
                 n_local_enhancers: int = 1, n_blocks_local: int = 3, norm: str = "instance",
                 padding_type: str = "reflect"):
        super().__init__()
        self.n_local_enhancers = n_local_enhancers
        glob = global_layers(input_nc, output_nc, ngf * 2 ** n_local_enhancers,
                             n_downsample_global, n_blocks_global, norm, padding_type)
        self.model = nn.Sequential(*glob[:-3])
        make_norm = norm_factory(norm)
        for n in range(1, n_local_enhancers + 1):
            c = ngf * 2 ** (n_local_enhancers - n)
            down = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, c, 7), make_norm(c), nn.ReLU(),
                    nn.Conv2d(c, c * 2, 3, stride=2, padding=1), make_norm(c * 2), nn.ReLU()]
            up = [ResnetBlock(c * 2, make_norm, True, False, padding_type)
                  for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(c * 2, c, 3, stride=2, padding=1, output_padding=1),
                   make_norm(c), nn.ReLU()]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*down))
            setattr(self, f"model{n}_2", nn.Sequential(*up))
        # Not count_include_pad: border pixels average only the real neighbours, as official.
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.grid = 2 ** (n_downsample_global + n_local_enhancers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            finer = pyramid[self.n_local_enhancers - n]
            out = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(finer) + out)
        return out


# --------------------------------------------------------------------------- options, building
def normalize_options(options: dict, netG: str) -> dict:
    """Defaults of the official options; ``input_nc`` follows from label_nc and no_instance."""
    o = dict(options)
    o["netG"] = netG
    o.setdefault("label_nc", 35)
    o.setdefault("no_instance", False)
    o.setdefault("contain_dontcare_label", False)  # pix2pixHD never adds one
    o.setdefault("feat_num", 0)  # > 0 only with --instance_feat / --label_feat (needs netE)
    o.setdefault("output_nc", 3)
    o.setdefault("ngf", 64 if netG == "global" else 32)
    o.setdefault("n_downsample_global", 4)  # the official option default (define_G's 3 is unused)
    o.setdefault("n_blocks_global", 9)
    o.setdefault("n_local_enhancers", 0 if netG == "global" else 1)
    o.setdefault("n_blocks_local", 3)
    o.setdefault("norm", "instance")
    if int(o["label_nc"]) > 0:
        o["input_nc"] = (int(o["label_nc"]) + int(bool(o["contain_dontcare_label"]))
                         + int(not o["no_instance"]) + int(o["feat_num"]))
    else:  # --label_nc 0: the input is an RGB image
        o.setdefault("input_nc", 3)
    scale = 2 ** int(o["n_local_enhancers"])
    o.setdefault("native_size", (_GLOBAL_NATIVE[0] * scale, _GLOBAL_NATIVE[1] * scale))
    return o


def build_global(options: dict) -> dict[str, nn.Module]:
    o = normalize_options(options, "global")
    return {"G": GlobalGenerator(int(o["input_nc"]), int(o["output_nc"]), int(o["ngf"]),
                                 int(o["n_downsample_global"]), int(o["n_blocks_global"]),
                                 o["norm"])}


def build_local(options: dict) -> dict[str, nn.Module]:
    o = normalize_options(options, "local")
    return {"G": LocalEnhancer(int(o["input_nc"]), int(o["output_nc"]), int(o["ngf"]),
                               int(o["n_downsample_global"]), int(o["n_blocks_global"]),
                               int(o["n_local_enhancers"]), int(o["n_blocks_local"]),
                               o["norm"])}


# --------------------------------------------------------------------------- official files
def _read_global_part(state, prefix: str = "model") -> dict | None:
    """(ngf, input_nc, n_downsampling, n_blocks, norm) of a global generator's ``model.N`` keys."""
    first = state.get(f"{prefix}.1.weight")
    if first is None or first.dim() != 4 or tuple(first.shape[2:]) != (7, 7):
        return None
    n_down = 0
    while True:
        w = state.get(f"{prefix}.{4 + 3 * n_down}.weight")
        if w is None or w.dim() != 4 or tuple(w.shape[2:]) != (3, 3):
            break
        n_down += 1
    start = 4 + 3 * n_down
    blocks = {int(k.split(".")[1]) for k in state
              if k.startswith(prefix + ".") and ".conv_block." in k}
    if n_down == 0 or not blocks or sorted(blocks) != list(range(start, start + len(blocks))):
        return None
    norm = "batch" if f"{prefix}.2.running_mean" in state else "instance"
    return dict(ngf=int(first.shape[0]), input_nc=int(first.shape[1]), n_down=n_down,
                n_blocks=len(blocks), norm=norm, end=start + len(blocks) + 3 * n_down)


def _label_options(input_nc: int) -> dict:
    """What the channel count suggests; the keys cannot tell. Official default: instance maps on."""
    if input_nc == 36:
        return dict(label_nc=35, no_instance=False, labelset="cityscapes")
    return dict(label_nc=input_nc - 1, no_instance=False)


def detect_global(state) -> dict | None:
    state = clean_official_state(state)
    if not state or not all(k.startswith("model.") for k in state):
        return None
    part = _read_global_part(state)
    if part is None:
        return None
    # With 2 downsamplings the net is exactly a pix2pix/CycleGAN ResNet; a 1-4 channel input is an
    # image, so leave such files to pix2pix.
    if part["n_down"] == 2 and part["input_nc"] <= 4:
        return None
    last = state.get(f"model.{part['end'] + 1}.weight")
    if last is None or set(state) - _global_keys(part["end"] + 1, state):
        return None
    opts = dict(netG="global", ngf=part["ngf"], n_downsample_global=part["n_down"],
                n_blocks_global=part["n_blocks"], norm=part["norm"],
                output_nc=int(last.shape[0]), contain_dontcare_label=False, n_local_enhancers=0,
                **_label_options(part["input_nc"]))
    opts["native_size"] = _GLOBAL_NATIVE
    return opts


def _global_keys(last_index: int, state) -> set:
    # Every key must be inside model.0 .. model.<last conv>: rejects other nets sharing a prefix.
    return {k for k in state if int(k.split(".")[1]) <= last_index}


def detect_local(state) -> dict | None:
    state = clean_official_state(state)
    n_local = 0
    while f"model{n_local + 1}_1.1.weight" in state:
        n_local += 1
    if n_local == 0:
        return None
    part = _read_global_part(state)
    if part is None:
        return None
    ngf = int(state[f"model{n_local}_1.1.weight"].shape[0])
    n_blocks_local = len({k.split(".")[1] for k in state
                          if k.startswith("model1_2.") and ".conv_block." in k})
    last = state.get(f"model{n_local}_2.{n_blocks_local + 4}.weight")
    if last is None or part["ngf"] != ngf * 2 ** n_local:
        return None
    opts = dict(netG="local", ngf=ngf, n_downsample_global=part["n_down"],
                n_blocks_global=part["n_blocks"], n_local_enhancers=n_local,
                n_blocks_local=n_blocks_local, norm=part["norm"], output_nc=int(last.shape[0]),
                contain_dontcare_label=False, **_label_options(part["input_nc"]))
    scale = 2 ** n_local
    opts["native_size"] = (_GLOBAL_NATIVE[0] * scale, _GLOBAL_NATIVE[1] * scale)
    return opts


def from_official(state, options: dict) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict(("G." + k, v) for k, v in clean_official_state(state).items())


GLOBAL_ARCHITECTURE = Architecture(
    name="pix2pixhd_global", kind="label2image",
    description="pix2pixHD global generator (NVIDIA/pix2pixHD, --netG global)",
    build=build_global, detect=detect_global, from_official=from_official)

LOCAL_ARCHITECTURE = Architecture(
    name="pix2pixhd_local", kind="label2image",
    description="pix2pixHD local enhancer generator (NVIDIA/pix2pixHD, --netG local)",
    build=build_local, detect=detect_local, from_official=from_official)
