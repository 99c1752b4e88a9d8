"""Losses of the official SPADE, pix2pix and pix2pixHD training code, written anew.

What the official code does, and therefore what these functions do:

- **GAN loss** (``GANLoss``). Per prediction map:
  hinge (SPADE): D ``mean(relu(1 - real)) + mean(relu(1 + fake))``, G ``-mean(fake)``;
  lsgan (pix2pix, pix2pixHD, SPADE ``ls``): MSE to 1 (real) / 0 (fake), G aims at 1;
  vanilla (pix2pix, SPADE ``original``): BCE-with-logits to 1 / 0, G aims at 1.
  Over the scales of a multiscale discriminator SPADE takes the **mean** of the per-scale losses,
  pix2pixHD the **sum**. SPADE's D loss is ``D_real + D_fake``; pix2pix and pix2pixHD use
  ``0.5 * (D_real + D_fake)``. ``convention="spade"`` / ``"pix2pixhd"`` picks one of the two
  (default: ``spade`` for hinge, ``pix2pixhd`` otherwise); with a single tensor (PatchGAN) the
  pix2pixhd convention is pix2pix's.
- **Feature matching**: L1 between the discriminator's intermediate features (all but the last,
  which is the prediction) of fake and real (real detached), each term weighted
  ``lambda_feat / num_D``; pix2pixHD multiplies further by ``4 / (n_layers_D + 1)``
  (``layer_weight``; 1 for the default 3 layers).
- **KL** (SPADE ``KLDLoss``): ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))``, a sum, not a mean
  (the trainer weights it by ``lambda_kld`` = 0.05).
- **VGG** (SPADE and pix2pixHD ``VGGLoss``): torchvision VGG19 cut after relu1_1, relu2_1, relu3_1,
  relu4_1, relu5_1 (``features[0:2], [2:7], [7:12], [12:21], [21:30]``), L1 per slice weighted
  1/32, 1/16, 1/8, 1/4, 1, target features detached. The official code feeds the [-1, 1] images
  as they are, without ImageNet mean/std normalisation; ``normalize_input=True`` adds it.
  No pretrained weights are downloaded: the VGG19 weights come from a user file.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import compare_keys, read_tensors, strip_prefixes
from models.errors import ArchitectureMismatchError, ModelError

from .errors import TrainingError, WeightsFileError

log = logging.getLogger(__name__)

# A discriminator's output: a prediction tensor (PatchGAN), a list with one prediction per scale,
# or MultiscaleDiscriminator's list (per scale) of feature lists, the prediction last.
DOutputs = Union[torch.Tensor, Sequence[Union[torch.Tensor, Sequence[torch.Tensor]]]]

_MODES = {"hinge": "hinge", "lsgan": "lsgan", "ls": "lsgan", "vanilla": "vanilla",
          "original": "vanilla"}
_CONVENTIONS = ("spade", "pix2pixhd")


def _predictions(outputs: DOutputs) -> list[torch.Tensor] | None:
    """The prediction of every scale, or None when ``outputs`` is a single tensor."""
    if isinstance(outputs, torch.Tensor):
        return None
    if not isinstance(outputs, (list, tuple)) or not outputs:
        raise TrainingError("discriminator outputs must be a tensor or a non-empty list (one "
                            f"entry per scale), got {type(outputs).__name__}")
    preds = []
    for scale in outputs:
        if isinstance(scale, (list, tuple)):
            if not scale:
                raise TrainingError("a scale of the discriminator outputs is an empty list")
            scale = scale[-1]
        if not isinstance(scale, torch.Tensor):
            raise TrainingError(f"discriminator prediction is a {type(scale).__name__}, "
                                "not a tensor")
        preds.append(scale)
    return preds


class GANLoss:
    """Adversarial loss of the official code: ``mode`` hinge, lsgan or vanilla (aliases ``ls``,
    ``original`` as SPADE names them); see the module docstring for the scale conventions."""

    def __init__(self, mode: str = "hinge", convention: str | None = None,
                 real_label: float = 1.0, fake_label: float = 0.0):
        if mode not in _MODES:
            raise TrainingError(f"unknown GAN loss mode {mode!r}; use hinge, lsgan or vanilla")
        self.mode = _MODES[mode]
        convention = convention or ("spade" if self.mode == "hinge" else "pix2pixhd")
        if convention not in _CONVENTIONS:
            raise TrainingError(f"unknown GAN loss convention {convention!r}; "
                                "use spade or pix2pixhd")
        self.convention = convention
        self.real_label, self.fake_label = float(real_label), float(fake_label)

    def __repr__(self) -> str:
        return f"GANLoss(mode={self.mode!r}, convention={self.convention!r})"

    def _single(self, pred: torch.Tensor, target_is_real: bool,
                for_discriminator: bool) -> torch.Tensor:
        if self.mode == "hinge":
            if not for_discriminator:
                if not target_is_real:
                    raise TrainingError("the generator's hinge loss must aim for real")
                return -pred.mean()
            return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.mode == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def loss(self, outputs: DOutputs, target_is_real: bool,
             for_discriminator: bool = True) -> torch.Tensor:
        """The loss of one set of outputs against real or fake, reduced over the scales."""
        preds = _predictions(outputs)
        if preds is None:
            return self._single(outputs, target_is_real, for_discriminator)  # type: ignore[arg-type]
        total = sum(self._single(p, target_is_real, for_discriminator) for p in preds)
        return total / len(preds) if self.convention == "spade" else total

    def generator(self, fake_outputs: DOutputs) -> torch.Tensor:
        """G's adversarial loss on D's outputs for the fake images (aims for real)."""
        return self.loss(fake_outputs, True, for_discriminator=False)

    def discriminator_terms(self, real_outputs: DOutputs,
                            fake_outputs: DOutputs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D_real, D_fake)`` as the official code logs them (unweighted)."""
        return self.loss(real_outputs, True), self.loss(fake_outputs, False)

    def discriminator(self, real_outputs: DOutputs, fake_outputs: DOutputs) -> torch.Tensor:
        """D's total loss: ``D_real + D_fake`` (spade) or half of it (pix2pix/pix2pixhd)."""
        real, fake = self.discriminator_terms(real_outputs, fake_outputs)
        total = real + fake
        return total if self.convention == "spade" else 0.5 * total


def feature_matching(real_outputs: Sequence[Sequence[torch.Tensor]],
                     fake_outputs: Sequence[Sequence[torch.Tensor]],
                     lambda_feat: float = 10.0, layer_weight: float = 1.0) -> torch.Tensor:
    """SPADE/pix2pixHD discriminator feature matching: ``sum over scales and intermediate
    layers of L1(fake, real.detach()) * lambda_feat * layer_weight / num_D``."""
    if (not isinstance(real_outputs, (list, tuple)) or not isinstance(fake_outputs, (list, tuple))
            or not all(isinstance(s, (list, tuple)) for s in (*real_outputs, *fake_outputs))):
        raise TrainingError("feature matching needs the multiscale outputs (a list per scale of "
                            "feature lists, as MultiscaleDiscriminator returns)")
    if len(real_outputs) != len(fake_outputs) or not fake_outputs:
        raise TrainingError(f"feature matching: {len(real_outputs)} real scale(s) but "
                            f"{len(fake_outputs)} fake scale(s)")
    num_d = len(fake_outputs)
    total: torch.Tensor | None = None
    for real_scale, fake_scale in zip(real_outputs, fake_outputs):
        if len(real_scale) != len(fake_scale):
            raise TrainingError("feature matching: real and fake outputs have different depths")
        for real_f, fake_f in zip(real_scale[:-1], fake_scale[:-1]):
            term = F.l1_loss(fake_f, real_f.detach()) * (lambda_feat * layer_weight / num_d)
            total = term if total is None else total + term
    if total is None:  # only predictions: no intermediate features to match
        return fake_outputs[0][-1].new_zeros(())
    return total


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """SPADE's KLDLoss: KL(N(mu, exp(logvar)) || N(0, 1)) summed over every element."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


# torchvision VGG19 ``features`` indices of the official five slices (end exclusive).
VGG_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_feature_layers() -> nn.Sequential:
    """torchvision's VGG19 ``features`` (configuration E, no batch norm), randomly initialised."""
    import torchvision

    vgg = getattr(torchvision.models, "vgg", None)
    if vgg is not None and hasattr(vgg, "make_layers") and hasattr(vgg, "cfgs"):
        # The same layers vgg19(weights=None).features holds, without building the 120 M
        # parameter classifier that is thrown away.
        return vgg.make_layers(vgg.cfgs["E"], batch_norm=False)
    return torchvision.models.vgg19(weights=None).features


class VGG19Features(nn.Module):
    """VGG19 up to relu5_1 in the official five slices (``slice1.0.weight``... as the official
    module); frozen. ``forward`` returns the five relu outputs."""

    def __init__(self) -> None:
        super().__init__()
        layers = _vgg19_feature_layers()
        for k, (start, end) in enumerate(VGG_SLICES, 1):
            part = nn.Sequential()
            for i in range(start, end):
                part.add_module(str(i), layers[i])
            self.add_module(f"slice{k}", part)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def convert_keys(state: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
        """Our key names from torchvision's (``features.N.weight``, classifier ignored), the
        official SPADE/pix2pixHD module's (``sliceK.N.weight``) or bare ``N.weight``."""
        slice_of = {i: k for k, (s, e) in enumerate(VGG_SLICES, 1) for i in range(s, e)}
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for key, value in strip_prefixes(state).items():
            parts = key.split(".")
            if parts[0] == "classifier":
                continue
            while len(parts) > 2 and (parts[0] in ("features", "vgg")
                                      or parts[0].startswith("slice")):
                parts = parts[1:]
            if len(parts) != 2 or not parts[0].isdigit():
                out[key] = value  # left as is: reported as unexpected
                continue
            index = int(parts[0])
            if index >= VGG_SLICES[-1][1]:
                continue  # layers after relu5_1 (torchvision's full features) are not used
            out[f"slice{slice_of[index]}.{index}.{parts[1]}"] = value
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> "VGG19Features":
        """Build the network and load its weights from a ``.pth``/``.pt`` (read with
        ``weights_only=True``) or ``.safetensors`` file; raise WeightsFileError if unusable."""
        path = Path(path)
        what = f"VGG19 weights {path}"
        try:
            state = read_tensors(path)
        except ModelError as exc:
            raise WeightsFileError(f"cannot read the {what}: {exc}") from None
        net = cls()
        state = cls.convert_keys(state)
        missing, unexpected, shapes = compare_keys(net, state)
        if missing or unexpected or shapes:
            mismatch = ArchitectureMismatchError(
                f"the {what} (torchvision VGG19 key names such as features.0.weight)",
                missing, unexpected, shapes)
            raise WeightsFileError(str(mismatch))
        bad = [k for k, v in state.items() if not torch.isfinite(v.float()).all()]
        if bad:
            raise WeightsFileError(f"the {what} hold NaN or infinite values in {bad[:4]}")
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        return net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for part in (self.slice1, self.slice2, self.slice3, self.slice4, self.slice5):
            x = part(x)
            outs.append(x)
        return outs

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always frozen, whatever the trainer sets


class VGGLoss(nn.Module):
    """The official perceptual loss: ``sum_i w_i * L1(vgg_i(x), vgg_i(y).detach())`` with
    ``w = (1/32, 1/16, 1/8, 1/4, 1)``. ``x`` is the generated image, ``y`` the target, both
    (N, 3, H, W) in [-1, 1]."""

    def __init__(self, weights_path: str | Path, normalize_input: bool = False):
        super().__init__()
        if weights_path is None:
            raise WeightsFileError("VGGLoss needs a VGG19 weights file (torchvision layout); "
                                   "use VGGLoss.maybe(path) to go without the VGG loss")
        self.weights_path = Path(weights_path)
        self.vgg = VGG19Features.from_file(self.weights_path)
        self.normalize_input = normalize_input
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    @classmethod
    def maybe(cls, weights_path: str | Path | None, **kwargs) -> "VGGLoss | None":
        """A VGGLoss, or None with a logged warning when no weights file is given (the trainer
        then runs without the perceptual term, never with a random VGG)."""
        if weights_path is None:
            log.warning("no VGG19 weights file given: training without the VGG perceptual loss "
                        "(pass --vgg_weights with torchvision's vgg19 weights to enable it)")
            return None
        return cls(weights_path, **kwargs)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not self.normalize_input:
            return x  # official: the [-1, 1] image goes in as it is
        return ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise TrainingError(f"VGGLoss needs two (N, 3, H, W) batches of the same shape, got "
                                f"{tuple(x.shape)} and {tuple(y.shape)}")
        x_feats = self.vgg(self._prepare(x))
        with torch.no_grad():
            y_feats = self.vgg(self._prepare(y))
        total = x.new_zeros(())
        for w, fx, fy in zip(VGG_LAYER_WEIGHTS, x_feats, y_feats):
            total = total + w * F.l1_loss(fx, fy.detach())
        return total
