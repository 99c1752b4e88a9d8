"""ConSinGAN in the registry, and the official-folder importer that makes a ModelBundle.

A ConSinGAN model is a folder, not a single file: ``import_folder`` reads it. The registry's
``detect``/``from_official`` work on the folder's data flattened into one state dict
(``folder_state``): the official generator keys (``head.*``, ``body.*``, ``tail.*``) plus
``fixed_noise.<k>``, ``reals.<k>`` and ``noise_amp``; our own layout (``generator.*``) is
recognised too.
"""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
from collections import OrderedDict
from pathlib import Path

import torch

from .. import __version__
from ..bundle import ModelBundle
from ..checkpoint import strip_prefixes
from ..registry import Architecture
from .model import ConSinGANModel, normalize_options
from .official import DATA_FILES, PARAMETERS, export_folder, model_from_folder, read_folder

_OFFICIAL_MARKER = "head.conv.weight"
_OURS_MARKER = "generator.head.conv.weight"


def build(options: dict) -> dict[str, torch.nn.Module]:
    return {"G": ConSinGANModel(options)}


def _ours(state) -> "OrderedDict[str, torch.Tensor]":
    """``state`` in our layout (``generator.*``, ``fixed_noise.*``...), from either layout and
    with or without a ``G.`` prefix; empty if it is not ConSinGAN."""
    state = strip_prefixes(state)
    if any(k.startswith("G.") for k in state):
        state = OrderedDict((k[2:], v) for k, v in state.items() if k.startswith("G."))
    if _OURS_MARKER in state:
        return OrderedDict(state)
    if _OFFICIAL_MARKER in state and "fixed_noise.0" in state and "reals.0" in state:
        out = OrderedDict()
        for k, v in state.items():
            if k.startswith(("head.", "body.", "tail.")):
                out["generator." + k] = v
            else:
                out[k] = v
        return out
    return OrderedDict()


def detect(state) -> dict | None:
    """Options read off a flattened folder state; None for anything else (including a lone
    official netG.pth: without the fixed noise and reals it is not a usable model).

    lrelu_alpha and the exact train_mode cannot be read off tensors: the defaults (0.05;
    generation when the noise is larger than the image, else harmonization) are guesses, so prefer
    ``import_folder``, which reads parameters.txt."""
    s = _ours(state)
    if not s or "noise_amp" not in s:
        return None
    head = s[_OURS_MARKER]
    n = sum(1 for k in s if k.startswith("reals."))
    num_layer = sum(1 for k in s if k.startswith("generator.body.0.block") and
                    k.endswith(".conv.weight"))
    reals = [s[f"reals.{k}"] for k in range(n)]
    mode = "harmonization"
    if n > 1 and s["fixed_noise.1"].shape[-1] == reals[1].shape[-1] + 2 * num_layer:
        mode = "generation"
    activation = "prelu" if "generator.head.prelu.weight" in s else "lrelu"
    return normalize_options(dict(
        nfc=int(head.shape[0]), ker_size=int(head.shape[-1]), num_layer=num_layer,
        batch_norm="generator.head.norm.weight" in s, activation=activation, train_mode=mode,
        reals_shapes=[[int(r.shape[2]), int(r.shape[3])] for r in reals]))


def from_official(state, options: dict) -> "OrderedDict[str, torch.Tensor]":
    """The bundle state (``G.``-prefixed ConSinGANModel keys) from a flattened folder state."""
    s = _ours(state)
    if not s:
        from ..errors import CheckpointError
        raise CheckpointError("not a ConSinGAN state: expected the generator keys plus "
                              "fixed_noise.<k>, reals.<k> and noise_amp (use import_folder)")
    if "noise_amp" in s and s["noise_amp"].dim() == 1:
        s["noise_amp"] = s["noise_amp"].to(torch.float32)
    return OrderedDict(("G." + k, v) for k, v in s.items())


def folder_state(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """An official folder flattened to one state dict (official generator keys + data)."""
    data = read_folder(path)
    out = OrderedDict(data.generator_state)
    for k, t in enumerate(data.fixed_noise):
        out[f"fixed_noise.{k}"] = t
    for k, t in enumerate(data.reals):
        out[f"reals.{k}"] = t
    out["noise_amp"] = torch.tensor(data.noise_amp, dtype=torch.float32)
    return out


def _folder_digest(folder: Path, last_stage: int) -> str:
    # sha256 over the files the import read, in a fixed order (a folder has no single hash).
    h = hashlib.sha256()
    for name in (PARAMETERS, f"{last_stage}/netG.pth") + DATA_FILES:
        h.update(name.encode() + b"\0")
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def bundle_from_model(model: ConSinGANModel, provenance: dict | None = None,
                      license: str = "") -> ModelBundle:
    state = OrderedDict(("G." + k, v.detach().cpu().clone())
                        for k, v in model.state_dict().items())
    return ModelBundle(architecture="consingan", options=copy.deepcopy(model.options),
                       state=state, labelset=None, provenance=dict(provenance or {}),
                       license=license)


def import_folder(path: str | Path) -> ModelBundle:
    """An official ConSinGAN model folder as a ModelBundle (never reads G.pth)."""
    folder = Path(path)
    data = read_folder(folder)
    model = model_from_folder(data)
    return bundle_from_model(model, provenance={
        "source": folder.name,
        "source_path": str(folder),
        "source_sha256": _folder_digest(folder, data.last_stage),
        "format": "official ConSinGAN folder",
        "train_mode": model.train_mode,
        "imported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "importer": f"gauapp {__version__}",
    }, license="")


def export_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    """Write a ConSinGAN bundle in the official folder layout (no G.pth)."""
    from ..registry import build_networks
    model = build_networks(bundle)["G"]
    return export_folder(model, path)


ARCHITECTURE = Architecture(
    name="consingan", kind="single_image",
    description="ConSinGAN single-image GAN (tohinz/ConSinGAN): growing generator with its fixed "
                "noise, pyramid of reals and noise amplitudes; generation, retargeting, "
                "harmonization and editing",
    build=build, detect=detect, from_official=from_official)
