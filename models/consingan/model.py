"""A trained ConSinGAN model as one module: generator + fixed noise + reals + noise amplitudes.

``ConSinGANModel.state_dict()`` is everything a trained model is::

    generator.head.conv.weight ... generator.body.<k>.block<j>... generator.tail.0.*
    fixed_noise.<k>   stage k's fixed input (k = 0: the coarsest real, 1x3xH0xW0)
    reals.<k>         the training image at level k (1x3xHkxWk, [-1, 1])
    noise_amp         1-D, noise_amp[0] = 1

so a model file round-trips through the registry's strict loading. The options dict (JSON) has
the network hyper-parameters and ``reals_shapes`` ([[H, W], ...], coarsest first), which fix every
tensor's shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import InputError
from .imresize import imresize_to_shape
from .masks import DILATION_RADIUS, image_to_tensor, soft_mask
from .network import GrowingGenerator
from .pyramid import TRAIN_MODES

# Official defaults (ConSinGAN/config.py, main_train.py) for what an options dict leaves out.
DEFAULT_OPTIONS: dict[str, Any] = {
    "nfc": 64, "num_layer": 3, "ker_size": 3, "padd_size": 0, "nc_im": 3,
    "activation": "lrelu", "lrelu_alpha": 0.05, "batch_norm": False,
    "train_mode": "generation", "noise_amp_init": 0.1, "min_size": 25, "max_size": 250,
    "train_depth": 3, "lr_scale": 0.1,
}
BN_MODES = ("train", "eval")


def normalize_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, types fixed, ``reals_shapes`` as [[H, W], ...]; raises InputError."""
    opt = dict(DEFAULT_OPTIONS)
    opt.update(options or {})
    shapes = opt.get("reals_shapes")
    if not shapes:
        raise InputError("ConSinGAN options need 'reals_shapes' (the pyramid, coarsest first)")
    try:
        opt["reals_shapes"] = [[int(s[-2]), int(s[-1])] for s in shapes]
    except (TypeError, ValueError, IndexError):
        raise InputError(f"reals_shapes must be a list of [H, W], got {shapes!r}") from None
    if any(h < 1 or w < 1 for h, w in opt["reals_shapes"]):
        raise InputError(f"reals_shapes has an empty level: {opt['reals_shapes']}")
    for key in ("nfc", "num_layer", "ker_size", "padd_size", "nc_im"):
        opt[key] = int(opt[key])
    opt["lrelu_alpha"] = float(opt["lrelu_alpha"])
    opt["batch_norm"] = _as_bool(opt["batch_norm"])
    if opt["train_mode"] not in TRAIN_MODES:
        raise InputError(f"unknown train_mode {opt['train_mode']!r}; known: {', '.join(TRAIN_MODES)}")
    if opt["nc_im"] != 3:
        raise InputError("only colour (nc_im = 3) ConSinGAN models are supported")
    opt["train_stages"] = len(opt["reals_shapes"])
    return opt


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _as_generator(generator) -> torch.Generator | None:
    """A ``torch.Generator`` from a Generator, an int seed or None (global RNG)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    raise InputError(f"generator must be a torch.Generator, an int seed or None, "
                     f"got {type(generator).__name__}")


class TensorList(nn.Module):
    """A list of tensors kept as buffers named ``0, 1, ...`` (state keys ``<name>.<k>``)."""

    def __init__(self, tensors: Sequence[torch.Tensor] = ()):
        super().__init__()
        for i, t in enumerate(tensors):
            self.register_buffer(str(i), t)

    def __len__(self) -> int:
        return len(self._buffers)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self._buffers[str(range(len(self))[i])]

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def append(self, t: torch.Tensor) -> None:
        self.register_buffer(str(len(self)), t)

    def set(self, i: int, t: torch.Tensor) -> None:
        self.register_buffer(str(i), t)


@dataclass
class EditResult:
    """Outputs of ``harmonize``/``edit``: ``raw`` is the generator output, ``composited`` the
    official ``(1 - mask) * real + mask * raw`` (None without a mask), ``mask`` the soft mask,
    ``stage0`` the level-0 input that was used. All ``1x3xHxW``."""

    raw: torch.Tensor
    composited: torch.Tensor | None
    mask: torch.Tensor | None
    stage0: torch.Tensor


class ConSinGANModel(nn.Module):
    def __init__(self, options: dict[str, Any]):
        super().__init__()
        opt = normalize_options(options)
        self.options = opt
        self.generator = GrowingGenerator(
            nfc=opt["nfc"], num_layer=opt["num_layer"], ker_size=opt["ker_size"],
            padd_size=opt["padd_size"], nc_im=opt["nc_im"], activation=opt["activation"],
            lrelu_alpha=opt["lrelu_alpha"], batch_norm=opt["batch_norm"],
            train_mode=opt["train_mode"], num_stages=len(opt["reals_shapes"]))
        shapes = opt["reals_shapes"]
        self.fixed_noise = TensorList(
            [torch.zeros(self.generator.noise_shape(k, h, w)) for k, (h, w) in enumerate(shapes)])
        self.reals = TensorList([torch.zeros(1, opt["nc_im"], h, w) for h, w in shapes])
        self.register_buffer("noise_amp", torch.ones(len(shapes)))

    # ----- structure -------------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return self.generator.num_stages

    @property
    def train_mode(self) -> str:
        return self.options["train_mode"]

    @property
    def reals_shapes(self) -> list[tuple[int, int]]:
        return [(int(r.shape[2]), int(r.shape[3])) for r in self.reals]

    def set_data(self, fixed_noise: Sequence[torch.Tensor], reals: Sequence[torch.Tensor],
                 noise_amp: Sequence) -> None:
        """Fill the buffers from official-style lists (``noise_amp`` may hold python numbers and
        0-dim tensors). Shapes must match the options."""
        n = self.num_stages
        if not (len(fixed_noise) == len(reals) == len(noise_amp) == n):
            raise InputError(f"expected {n} fixed noises, reals and noise amplitudes, got "
                             f"{len(fixed_noise)}, {len(reals)}, {len(noise_amp)}")
        for k in range(n):
            for name, buf, new in (("fixed_noise", self.fixed_noise, fixed_noise[k]),
                                   ("reals", self.reals, reals[k])):
                if tuple(new.shape) != tuple(buf[k].shape):
                    raise InputError(f"{name}[{k}] has shape {tuple(new.shape)}, expected "
                                     f"{tuple(buf[k].shape)}")
                buf[k].copy_(new.detach())
        amps = torch.tensor([float(a) for a in noise_amp], dtype=torch.float32)
        self.noise_amp.copy_(amps)

    def add_stage(self, real: torch.Tensor, fixed_noise: torch.Tensor, noise_amp: float) -> None:
        """Grow by one stage (a copy of the newest body stage) with its real and fixed noise:
        what the trainer does at the start of a stage."""
        self.generator.grow()
        dev = self.noise_amp.device
        self.reals.append(real.detach().to(dev))
        self.fixed_noise.append(fixed_noise.detach().to(dev))
        self.noise_amp = torch.cat([self.noise_amp, self.noise_amp.new_tensor([float(noise_amp)])])
        self.options["reals_shapes"].append([int(real.shape[2]), int(real.shape[3])])
        self.options["train_stages"] = self.num_stages

    # ----- running the generator -------------------------------------------------------------
    def forward(self, noise: Sequence[torch.Tensor] | None = None,
                shapes: Sequence[Sequence[int]] | None = None,
                bn_mode: str | None = None) -> torch.Tensor:
        """Generator output for ``noise`` (default: the fixed noise) at the pyramid ``shapes``
        (default: the reals'). ``bn_mode="train"`` normalises with batch statistics without
        updating the running ones; None follows the module's train/eval mode."""
        if bn_mode is not None and bn_mode not in BN_MODES:
            raise InputError(f"bn_mode must be 'train' or 'eval', got {bn_mode!r}")
        noise = list(self.fixed_noise) if noise is None else list(noise)
        shapes = self.reals_shapes if shapes is None else shapes
        if len(noise) != self.num_stages or len(shapes) != self.num_stages:
            raise InputError(f"expected {self.num_stages} noise tensors and shapes, got "
                             f"{len(noise)} and {len(shapes)}")
        return self.generator(noise, shapes, self.noise_amp, batch_stats=bn_mode == "train")

    def _run(self, noise, shapes=None, bn_mode: str = "train") -> torch.Tensor:
        # Inference: eval mode for the call (bn_mode then decides), no graph, mode restored.
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.forward(noise, shapes, bn_mode)
        finally:
            self.train(was_training)

    def reconstruct(self, bn_mode: str = "train") -> torch.Tensor:
        """G(fixed noise): the model's reconstruction of its training image. The official
        evaluation keeps batch norm in train mode, hence the default."""
        return self._run(None, None, bn_mode)

    def random_noise(self, shapes: Sequence[Sequence[int]], generator=None) -> list[torch.Tensor]:
        """Fresh noise for every stage, drawn in the official order (stage 0 first) on the CPU,
        so a seed gives the same sample on every device."""
        gen = _as_generator(generator)
        ref = self.noise_amp
        return [torch.randn(self.generator.noise_shape(k, int(s[-2]), int(s[-1])), generator=gen)
                .to(ref.device, ref.dtype) for k, s in enumerate(shapes)]

    def sample_shapes(self, scale_h: float = 1.0, scale_w: float = 1.0) -> list[tuple[int, int]]:
        """The pyramid for a sample ``scale_h x scale_w`` times the training size (official
        ``int(size * scale)`` at every level)."""
        if not (scale_h > 0 and scale_w > 0):
            raise InputError(f"scale_h and scale_w must be positive, got {scale_h}, {scale_w}")
        shapes = [(int(h * scale_h), int(w * scale_w)) for h, w in self.reals_shapes]
        if min(min(s) for s in shapes) < 1:
            raise InputError(f"scale {scale_h} x {scale_w} makes the coarsest level empty "
                             f"({shapes[0][0]}x{shapes[0][1]})")
        return shapes

    def sample(self, generator=None, scale_h: float = 1.0, scale_w: float = 1.0,
               bn_mode: str = "train") -> torch.Tensor:
        """A random sample (``1x3xHxW`` in [-1, 1]); ``generator`` is a ``torch.Generator``, an
        int seed or None. Other sizes/aspect ratios scale every pyramid level."""
        shapes = self.sample_shapes(scale_h, scale_w)
        return self._run(self.random_noise(shapes, generator), shapes, bn_mode)

    # ----- harmonization and editing ---------------------------------------------------------
    def stage0_from_image(self, image) -> torch.Tensor:
        """The naive image resized (official imresize) to the coarsest level."""
        x = image_to_tensor(image, "naive image")
        h0, w0 = self.reals_shapes[0]
        return imresize_to_shape(x, (h0, w0))

    def _edit(self, image, mask, mode: str, bn_mode: str, generator, noise_scaling: float):
        ref = self.noise_amp
        x = image_to_tensor(image, "naive image")
        naive_hw = (int(x.shape[2]), int(x.shape[3]))
        stage0 = imresize_to_shape(x, self.reals_shapes[0])
        if noise_scaling:
            gen = _as_generator(generator)
            stage0 = stage0 + noise_scaling * torch.randn(stage0.shape, generator=gen)
        stage0 = stage0.to(ref.device, ref.dtype)
        soft = None
        if mask is not None:
            soft = soft_mask(mask, self.reals_shapes[-1], naive_hw, DILATION_RADIUS[mode])
            soft = soft.to(ref.device, ref.dtype)
        noise = [stage0] + list(self.fixed_noise)[1:]
        raw = self._run(noise, None, bn_mode)
        composited = None if soft is None else (1 - soft) * self.reals[-1] + soft * raw
        return EditResult(raw=raw, composited=composited, mask=soft, stage0=stage0)

    def harmonize(self, naive_image, mask=None, bn_mode: str = "train") -> EditResult:
        """Official harmonization: the naive image (any size, resized to the coarsest level)
        replaces the stage-0 input, higher stages use the fixed noise; with a mask the output is
        blended into the training image (mask dilated by a disk of radius 7, blurred)."""
        return self._edit(naive_image, mask, "harmonization", bn_mode, None, 0.0)

    def edit(self, naive_image, mask=None, generator=None, noise_scaling: float = 0.1,
             bn_mode: str = "train") -> EditResult:
        """Official editing: as ``harmonize`` but the stage-0 input gets ``noise_scaling`` x
        Gaussian noise (``generator``: Generator, int seed or None) and the mask is dilated by a
        disk of radius 20."""
        return self._edit(naive_image, mask, "editing", bn_mode, generator, float(noise_scaling))
